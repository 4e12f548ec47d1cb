//! The real token service behind the gate: tokens issued by GET /token pass, Basic
//! credentials go through the same bcrypt check and ACL.

use super::*;
use crate::config::Settings;
use crate::protocol::HttpRequest;
use crate::proxy::config::ProxySettings;
use crate::proxy::gate::{Decision, Gate, RequestMeta};
use crate::proxy::headers::PublicHost;
use crate::store::MemoryStore;
use crate::test_support::{basic, bcrypt_hash, block_on, counter_rng, ES256_KEY, NOW, RS256_KEY};
use crate::token_service::RandomError;
use serde_json::json;
use std::collections::HashMap;

const REG: &str = "registry.local";
const CHARTS: &str = "chartmuseum.local";

fn vars() -> HashMap<&'static str, String> {
    HashMap::from([
        ("ISSUER", "tollgate-test".to_string()),
        ("SERVICES", "registry.local chartmuseum.local".to_string()),
        ("RS256_SERVICES", "chartmuseum.local".to_string()),
        ("SIGNING_KEY", ES256_KEY.to_string()),
        ("RSA_SIGNING_KEY", RS256_KEY.to_string()),
        ("ORIGIN", "http://127.0.0.1:5001".to_string()),
        ("CHART_DEPTH", "1".to_string()),
    ])
}

fn public() -> PublicHost {
    PublicHost {
        scheme: "https".into(),
        host: "reg.example".into(),
    }
}

/// The real token service behind the gate, over one KV.
struct Stack {
    app: TokenService,
    gate: Gate,
    store: MemoryStore,
}

impl Stack {
    fn new() -> Self {
        let v = vars();
        let settings = Settings::from_vars(|k| v.get(k).cloned()).unwrap();
        let proxy = ProxySettings::from_vars(|k| v.get(k).cloned(), &settings).unwrap();
        let app = TokenService::new(settings, [7u8; 32]).unwrap();
        let store = MemoryStore::with([
            (
                "user:alice".to_string(),
                json!({"password": bcrypt_hash("alice-pw"), "groups": ["w"]})
                    .to_string(),
            ),
            (
                "user:bob".to_string(),
                json!({"password": bcrypt_hash("bob-pw"), "groups": ["r"]})
                    .to_string(),
            ),
            (
                "acl".to_string(),
                json!([
                    {"match": {"group": "w", "type": "repository", "name": "org/*"}, "actions": ["pull", "push"]},
                    {"match": {"group": "r", "type": "repository", "name": "org/*"}, "actions": ["pull"]},
                    {"match": {"group": "r", "type": "artifact-repository", "name": "org1"}, "actions": ["pull"]},
                ])
                .to_string(),
            ),
        ]);
        Stack {
            app,
            gate: Gate::new(proxy, None),
            store,
        }
    }

    /// The token GET /token issues to `user` for `scope` at `service` (asserting it does).
    fn issue(&self, user: &str, pw: &str, service: &str, scope: &str) -> String {
        let query = format!("service={service}&scope={scope}");
        let req = HttpRequest::new("GET", "/token", &query)
            .with_header("authorization", &basic(user, pw));
        let rng = counter_rng();
        let ctx = RequestContext::new(&self.store, &crate::federation::NoFetch, NOW, &rng);
        let (resp, _) = block_on(self.app.handle(&req, &ctx));
        assert_eq!(
            resp.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&resp.body)
        );
        resp.json_body().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The gate's decision five seconds after the fixture tokens were issued, for a client at `ip`.
    fn decide_from(&self, meta: &RequestMeta<'_>, ip: Option<&str>) -> Decision {
        let ctx =
            RequestContext::without_randomness(&self.store, &crate::federation::NoFetch, NOW + 5)
                .with_client_ip(ip);
        block_on(
            self.gate
                .decide(&TokenServiceAuthority::new(&self.app), meta, &ctx),
        )
    }

    fn decide(&self, method: &str, path: &str, auth: &str) -> Decision {
        let public = public();
        let meta = RequestMeta::new(method, path, "", vec![auth], &public);
        self.decide_from(&meta, None)
    }
}

fn status(d: &Decision) -> u16 {
    match d {
        Decision::Forward { .. } => 200,
        Decision::Refuse { response, .. } => response.status,
        Decision::FilteredCatalog { .. } => 299,
    }
}

#[test]
fn issued_tokens_open_exactly_their_scope() {
    let t = Stack::new();
    let push = t.issue("alice", "alice-pw", REG, "repository:org/app:pull,push");
    let pull = t.issue("bob", "bob-pw", REG, "repository:org/app:pull,push");
    let bearer = |t: &str| format!("Bearer {t}");
    // (method, path, token, status): 200 forwarded, 401 a challenge for more.
    let cases = [
        ("PUT", "/v2/org/app/manifests/v1", &push, 200),
        ("GET", "/v2/org/app/manifests/v1", &pull, 200),
        // bob asked for push but the ACL narrowed his token to pull.
        ("PUT", "/v2/org/app/manifests/v1", &pull, 401),
        ("GET", "/v2/org/other/tags/list", &push, 401),
        ("GET", "/v2/", &pull, 200),
    ];
    for (method, path, token, want) in cases {
        let d = t.decide(method, path, &bearer(token));
        assert_eq!(status(&d), want, "{method} {path}");
    }
    // A token for another audience is refused as invalid_token.
    let charts = t.issue("bob", "bob-pw", CHARTS, "artifact-repository:org1:pull");
    match t.decide("GET", "/v2/", &bearer(&charts)) {
        Decision::Refuse { response, reason } => {
            assert_eq!(reason, "wrong_audience");
            assert!(response
                .header("www-authenticate")
                .unwrap()
                .contains("invalid_token"));
        }
        d => panic!("forwarded {d:?}"),
    }
    // Tampered signature.
    let mut bad = push.clone();
    bad.pop();
    bad.push(if push.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(status(&t.decide("GET", "/v2/", &bearer(&bad))), 401);
}

#[test]
fn basic_credentials_use_the_token_endpoints_check() {
    let t = Stack::new();
    let d = t.decide("GET", "/org1/index.yaml", &basic("bob", "bob-pw"));
    match &d {
        Decision::Forward { url, principal, .. } => {
            assert_eq!(url, "http://127.0.0.1:5001/org1/index.yaml");
            assert_eq!(principal.name(), "bob");
        }
        d => panic!("refused {d:?}"),
    }
    // (method, path, user, password, status): 403 a refusal, 401 a challenge.
    let cases = [
        ("GET", "/org2/index.yaml", "bob", "bob-pw", 403),
        ("GET", "/org1/index.yaml", "bob", "nope", 401),
        ("GET", "/org1/index.yaml", "mallory", "x", 401),
        (
            "POST",
            "/v2/org/app/blobs/uploads/",
            "alice",
            "alice-pw",
            200,
        ),
        ("POST", "/v2/org/app/blobs/uploads/", "bob", "bob-pw", 403),
    ];
    for (method, path, user, pw, want) in cases {
        let d = t.decide(method, path, &basic(user, pw));
        assert_eq!(status(&d), want, "{user} {method} {path}");
    }
    t.store.fail.set(true);
    assert_eq!(
        status(&t.decide("GET", "/v2/org/app/tags/list", &basic("carol", "pw"))),
        503
    );
}

#[test]
fn a_network_bound_token_is_refused_off_its_network_even_when_cached() {
    // Issue 16: an API key bound to 127.0.0.1/32; its token carries the `net` claim.
    let t = Stack::new();
    let key = "tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk"; // no hint: its record is alice's
    t.store.data.borrow_mut().insert(
        format!("apikey:{}", crate::credentials::secret_digest(key)),
        json!({"account": "alice", "name": "ci", "net": {"cidrs": ["127.0.0.1/32"]}}).to_string(),
    );
    let req = HttpRequest::new(
        "GET",
        "/token",
        "service=registry.local&scope=repository:org/app:pull",
    )
    .with_header("authorization", &basic("alice", key))
    .with_header("cf-connecting-ip", "127.0.0.1");
    let rng = |buf: &mut [u8]| -> Result<(), RandomError> {
        buf.fill(9);
        Ok(())
    };
    let ctx = RequestContext::new(&t.store, &crate::federation::NoFetch, NOW, &rng)
        .with_client_ip(Some("127.0.0.1"));
    let (resp, _) = block_on(t.app.handle(&req, &ctx));
    assert_eq!(resp.status, 200);
    let token = resp.json_body().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let public = public();
    let auth = format!("Bearer {token}");
    let from = |ip: Option<&'static str>| {
        let meta = RequestMeta::new("GET", "/v2/org/app/manifests/v1", "", vec![&auth], &public);
        t.decide_from(&meta, ip)
    };
    // First from its network (verified and cached), then the copy from elsewhere.
    assert_eq!(status(&from(Some("127.0.0.1"))), 200);
    for ip in [Some("127.0.0.2"), Some("::1"), None] {
        match from(ip) {
            Decision::Refuse { response, reason } => {
                assert_eq!(response.status, 403, "{ip:?}");
                assert!(reason.starts_with("net_"), "{reason}");
            }
            d => panic!("forwarded from {ip:?}: {d:?}"),
        }
    }
    // The Basic path (API key as password) is checked the same way.
    let basic_from = |ip: &'static str| {
        let b = basic("alice", key);
        let meta = RequestMeta::new("GET", "/v2/org/app/manifests/v1", "", vec![&b], &public);
        t.decide_from(&meta, Some(ip))
    };
    assert_eq!(status(&basic_from("127.0.0.1")), 200);
    // The same AuthError as the token endpoint's, rendered by the proxy: 403 DENIED with
    // the refusal's code, not a challenge that would start a login loop.
    match basic_from("127.0.0.2") {
        Decision::Refuse { response, reason } => {
            assert_eq!((response.status, reason), (403, "net_network"));
            assert!(response.header("www-authenticate").is_none());
        }
        d => panic!("forwarded off its network: {d:?}"),
    }
}

#[test]
fn a_catalog_request_without_the_catalog_right_is_filtered_not_refused() {
    // Issue 16: bob's token for registry:catalog:* carries no access (the ACL denies it).
    let t = Stack::new();
    let tok = t.issue("bob", "bob-pw", REG, "registry:catalog:*");
    let public = public();
    let at = |query: &'static str, auth: Vec<String>| {
        let auth = auth.iter().map(String::as_str).collect();
        let meta = RequestMeta::new("GET", "/v2/_catalog", query, auth, &public);
        t.decide_from(&meta, None)
    };
    for auth in [format!("Bearer {tok}"), basic("bob", "bob-pw")] {
        match at("n=5&last=org%2Fa", vec![auth]) {
            Decision::FilteredCatalog { subject, query } => {
                assert_eq!(subject, "bob");
                assert_eq!((query.n, query.last.as_deref()), (5, Some("org/a")));
            }
            d => panic!("{d:?}"),
        }
    }
    assert_eq!(status(&at("n=abc", vec![format!("Bearer {tok}")])), 400);
    // No credentials: still the challenge, so clients fetch a token first.
    assert_eq!(status(&at("", vec![])), 401);
    let ctx = RequestContext::without_randomness(&t.store, &crate::federation::NoFetch, NOW);
    let v = block_on(t.app.pull_visibility("bob", "registry.local", &ctx)).unwrap();
    assert!(v.may_pull("org/app") && !v.may_pull("other/app"));
}
