use super::*;
use crate::config::Settings;
use crate::federation::NoFetch;
use crate::store::MemoryStore;
use std::cell::Cell;
use std::collections::HashMap;

const D: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

/// A fake token service: tokens are "tok-<name>", Basic users are listed with their grants.
struct Fake {
    tokens: HashMap<&'static str, VerifiedToken>,
    users: HashMap<&'static str, Vec<Access>>,
    verifications: Cell<u32>,
    basic_calls: Cell<u32>,
    fail_store: bool,
    audience_seen: RefCell<Vec<String>>,
}

fn a(t: &str, n: &str, actions: &[&str]) -> Access {
    Access {
        resource_type: t.into(),
        name: n.into(),
        actions: actions.iter().map(|s| s.to_string()).collect(),
    }
}

impl Fake {
    fn new() -> Self {
        let mut tokens = HashMap::new();
        tokens.insert(
            "tok-pusher",
            VerifiedToken {
                subject: "pusher".into(),
                access: vec![a("repository", "org/app", &["pull", "push"])],
                exp: 2000,
                net: None,
            },
        );
        tokens.insert(
            "tok-puller",
            VerifiedToken {
                subject: "puller".into(),
                access: vec![a("repository", "org/app", &["pull"])],
                exp: 2000,
                net: None,
            },
        );
        let mut users = HashMap::new();
        // "Basic " + base64("helm:key") and a user with nothing.
        users.insert(
            "Basic aGVsbTprZXk=",
            vec![a("artifact-repository", "org1", &["pull"])],
        );
        users.insert("Basic bm9ib2R5OnB3", vec![]);
        Fake {
            tokens,
            users,
            verifications: Cell::new(0),
            basic_calls: Cell::new(0),
            fail_store: false,
            audience_seen: RefCell::new(vec![]),
        }
    }
}

impl Authority for Fake {
    fn verify_token(
        &self,
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<VerifiedToken, Rejected> {
        self.verifications.set(self.verifications.get() + 1);
        self.audience_seen.borrow_mut().push(audience.to_string());
        match self.tokens.get(token) {
            Some(v) if now < v.exp => Ok(v.clone()),
            Some(_) => Err(Rejected::Expired),
            None => Err(Rejected::BadSignature),
        }
    }

    async fn grant_basic<S: Store, F: Fetch>(
        &self,
        authorization: &str,
        _service: &str,
        requested: &[Access],
        _ctx: &RequestContext<'_, S, F>,
    ) -> Result<BasicGrant, AuthError> {
        self.basic_calls.set(self.basic_calls.get() + 1);
        if self.fail_store {
            return Err(AuthError::Unavailable("kv down".into()));
        }
        let allowed = self
            .users
            .get(authorization)
            .ok_or(AuthError::Rejected("wrong".into()))?;
        // Intersect requested with allowed, like the ACL would.
        let access = requested
            .iter()
            .filter_map(|r| {
                let acts: Vec<String> = allowed
                    .iter()
                    .filter(|g| g.resource_type == r.resource_type && g.name == r.name)
                    .flat_map(|g| g.actions.clone())
                    .filter(|x| r.actions.contains(x))
                    .collect();
                (!acts.is_empty()).then(|| Access {
                    actions: acts,
                    ..r.clone()
                })
            })
            .collect();
        Ok(BasicGrant {
            account: "helm".into(),
            access,
        })
    }
}

fn gate(depth: &str) -> Gate {
    let vars: HashMap<&str, &str> = [
        ("ISSUER", "tollgate-dev"),
        ("SERVICES", "registry.local"),
        ("SIGNING_KEY", "x"),
    ]
    .into_iter()
    .collect();
    let settings = Settings::from_vars(|k| vars.get(k).map(|v| v.to_string())).expect("settings");
    let pvars: HashMap<&str, &str> = [("ORIGIN", "http://127.0.0.1:5001"), ("CHART_DEPTH", depth)]
        .into_iter()
        .collect();
    let p = ProxySettings::from_vars(|k| pvars.get(k).map(|v| v.to_string()), &settings)
        .expect("proxy settings");
    Gate::new(p, None)
}

fn public() -> PublicHost {
    PublicHost {
        scheme: "http".into(),
        host: "127.0.0.1:8787".into(),
    }
}

/// The gate and its fake authority, as most tests drive them.
struct Proxy {
    gate: Gate,
    fake: Fake,
}

impl Proxy {
    fn new() -> Self {
        Proxy {
            gate: gate("1"),
            fake: Fake::new(),
        }
    }

    /// The gate's decision on `meta` at `now`.
    fn decide(&self, meta: &RequestMeta<'_>, now: u64) -> Decision {
        block_on(
            self.gate
                .decide(&self.fake, meta, &ctx(&MemoryStore::new(), now)),
        )
    }

    fn run(&self, method: &str, path: &str, query: &str, auth: &[&str]) -> Decision {
        let p = public();
        self.decide(
            &RequestMeta::new(method, path, query, auth.to_vec(), &p),
            1000,
        )
    }

    /// `run` with no query and one Authorization value.
    fn run_as(&self, method: &str, path: &str, authorization: &str) -> Decision {
        self.run(method, path, "", &[authorization])
    }
}

use crate::test_support::block_on;

fn ctx(store: &MemoryStore, now: u64) -> RequestContext<'_, MemoryStore, NoFetch> {
    RequestContext::without_randomness(store, &NoFetch, now)
}

/// The start of every challenge the fixture gate sends (its realm and service).
const CHALLENGE: &str = r#"Bearer realm="http://127.0.0.1:8787/token",service="registry.local""#;

fn refused(d: &Decision) -> (u16, &'static str, Option<String>) {
    match d {
        Decision::Refuse { response, reason } => (
            response.status,
            *reason,
            response.header("www-authenticate").map(str::to_string),
        ),
        _ => panic!("expected a refusal, got {d:?}"),
    }
}

fn forwarded(d: &Decision) -> (&str, &Admitted, bool) {
    match d {
        Decision::Forward {
            url,
            principal,
            cache_key,
            ..
        } => (url, principal, cache_key.is_some()),
        _ => panic!("expected forwarding, got {d:?}"),
    }
}

#[test]
fn anonymous_gets_the_registry_challenge() {
    let proxy = Proxy::new();
    let d = proxy.run("POST", "/v2/org/app/blobs/uploads/", "", &[]);
    let chal = format!(r#"{CHALLENGE},scope="repository:org/app:pull,push""#);
    assert_eq!(refused(&d), (401, "no_credentials", Some(chal)));
}

#[test]
fn push_token_forwards_to_the_origin_only() {
    let proxy = Proxy::new();
    let d = proxy.run_as("PUT", "/v2/org/app/manifests/v1", "Bearer tok-pusher");
    let (url, who, cacheable) = forwarded(&d);
    assert_eq!(url, "http://127.0.0.1:5001/v2/org/app/manifests/v1");
    assert_eq!(who.name(), "pusher");
    assert!(!cacheable);
    assert_eq!(proxy.fake.audience_seen.borrow()[0], "registry.local");
}

#[test]
fn pull_only_token_push_is_insufficient_scope() {
    let proxy = Proxy::new();
    let d = proxy.run_as("POST", "/v2/org/app/blobs/uploads/", "Bearer tok-puller");
    let (status, reason, chal) = refused(&d);
    assert_eq!((status, reason), (401, "insufficient_scope"));
    assert!(chal.unwrap().ends_with(r#"error="insufficient_scope""#));
    // But pulls of a blob go through, and are cacheable.
    let d = proxy.run_as(
        "GET",
        &format!("/v2/org/app/blobs/{D}"),
        "Bearer tok-puller",
    );
    assert!(forwarded(&d).2);
}

#[test]
fn cache_key_is_exactly_what_the_origin_is_asked_for() {
    // Finding 5 of issue 12: the key ignored the query the origin saw.
    let proxy = Proxy::new();
    let path = format!("/v2/org/app/blobs/{D}");
    let key = |query: &str| match proxy.run("GET", &path, query, &["Bearer tok-puller"]) {
        Decision::Forward { url, cache_key, .. } => {
            let key = cache_key.expect("a blob GET is cacheable");
            // Same path and query as the origin URL, on Tollgate's public host.
            let origin_part = url.strip_prefix("http://127.0.0.1:5001").unwrap();
            assert_eq!(key, format!("http://127.0.0.1:8787{origin_part}"));
            key
        }
        d => panic!("refused {d:?}"),
    };
    assert_ne!(key(""), key("ns=other"));
    assert_ne!(key("a=1"), key("a=2"));
    assert_eq!(key("a=1"), key("a=1"));
}

#[test]
fn bad_token_is_invalid_token() {
    let proxy = Proxy::new();
    let d = proxy.run_as("GET", "/v2/", "Bearer forged");
    let chal = format!(r#"{CHALLENGE},error="invalid_token""#);
    assert_eq!(refused(&d), (401, "bad_signature", Some(chal)));
    let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
    let d = proxy.run_as("GET", "/v2/", long.as_str());
    // Longer than any Authorization header we read: refused before any verification.
    assert_eq!(refused(&d).0, 400);
    assert_eq!(proxy.fake.verifications.get(), 1);
}

#[test]
fn verification_is_cached_until_exp() {
    let proxy = Proxy::new();
    for _ in 0..5 {
        let d = proxy.run_as("GET", "/v2/org/app/tags/list", "Bearer tok-puller");
        forwarded(&d);
    }
    assert_eq!(proxy.fake.verifications.get(), 1);
    // The cached grant is still checked per request.
    let d = proxy.run_as("DELETE", "/v2/org/app/manifests/v1", "Bearer tok-puller");
    assert_eq!(refused(&d).1, "insufficient_scope");
    assert_eq!(proxy.fake.verifications.get(), 1);
    // Past exp, the cache does not answer and the verifier refuses.
    let p = public();
    let meta = RequestMeta::new("GET", "/v2/", "", vec!["Bearer tok-puller"], &p);
    let d = proxy.decide(&meta, 2000);
    assert_eq!(refused(&d).1, "expired");
}

#[test]
fn mount_requires_pull_on_source() {
    let proxy = Proxy::new();
    let q = format!("mount={D}&from=other/base");
    let d = proxy.run(
        "POST",
        "/v2/org/app/blobs/uploads/",
        &q,
        &["Bearer tok-pusher"],
    );
    let (status, _, chal) = refused(&d);
    assert_eq!(status, 401);
    assert!(chal
        .unwrap()
        .contains(r#"scope="repository:org/app:pull,push repository:other/base:pull""#));
}

#[test]
fn basic_credentials_for_charts() {
    let proxy = Proxy::new();
    let helm = "Basic aGVsbTprZXk=";
    let d = proxy.run_as("GET", "/org1/index.yaml", helm);
    let (url, who, cacheable) = forwarded(&d);
    assert_eq!(url, "http://127.0.0.1:5001/org1/index.yaml");
    assert_eq!(
        who,
        &Admitted::Basic {
            account: "helm".into()
        }
    );
    assert!(!cacheable);
    let d = proxy.run_as("GET", "/org1/charts/app-1.0.0.tgz", helm);
    assert!(forwarded(&d).2);
    // Another namespace: authenticated but not allowed -> 403, no challenge.
    let d = proxy.run_as("GET", "/org2/index.yaml", helm);
    assert_eq!(refused(&d), (403, "denied", None));
    // A user the ACL gives nothing.
    let d = proxy.run_as("GET", "/org1/index.yaml", "Basic bm9ib2R5OnB3");
    assert_eq!(refused(&d).0, 403);
    // Wrong password.
    let d = proxy.run_as("GET", "/org1/index.yaml", "Basic d3Jvbmc6eA==");
    let (status, reason, chal) = refused(&d);
    assert_eq!((status, reason), (401, "invalid_credentials"));
    assert!(chal.unwrap().contains("artifact-repository:org1:pull"));
}

#[test]
fn store_failure_fails_closed() {
    let mut proxy = Proxy::new();
    proxy.fake.fail_store = true;
    let d = proxy.run_as("GET", "/org1/index.yaml", "Basic aGVsbTprZXk=");
    assert_eq!(refused(&d).0, 503);
}

#[test]
fn malformed_or_repeated_authorization() {
    let proxy = Proxy::new();
    for auth in [
        vec!["Digest x"],
        vec!["Bearer"],
        vec!["Bearer tok-pusher", "Bearer tok-pusher"],
    ] {
        let d = proxy.run("GET", "/v2/", "", &auth);
        assert_eq!(refused(&d).0, 400, "{auth:?}");
    }
    assert_eq!(proxy.fake.verifications.get(), 0);
}

#[test]
fn routes_are_checked_before_credentials() {
    let proxy = Proxy::new();
    let d = proxy.run_as("GET", "/v2/a%2F..%2Fb/tags/list", "Bearer tok-pusher");
    assert_eq!(refused(&d), (400, "route", None));
    let d = proxy.run("GET", "/etc/passwd", "", &[]);
    assert_eq!(refused(&d).0, 404);
    assert_eq!(proxy.fake.verifications.get(), 0);
    assert_eq!(proxy.fake.basic_calls.get(), 0);
}

#[test]
fn form_bodies_on_registry_endpoints_are_refused() {
    // Finding 1 of issue 12: `-F from=org/secret` (multipart) mounted a blob the caller
    // could not read, because the origin's r.FormValue read the body. Every spelling a form
    // parser accepts is refused, on every registry endpoint and method, before credentials.
    let proxy = Proxy::new();
    let p = public();
    let forms = [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "multipart/form-data; boundary=------------------------abc",
        "Multipart/Form-Data;boundary=x",
        "multipart/mixed; boundary=x",
        " multipart/form-data",
        "text/plain, multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded;;;",
        "form-data",
    ];
    let routes = [
        ("POST", "/v2/alice/w/blobs/uploads/", "mount=sha256:aa"),
        ("POST", "/v2/alice/w/blobs/uploads/", ""),
        ("PUT", "/v2/alice/w/blobs/uploads/u1", ""),
        ("PATCH", "/v2/alice/w/blobs/uploads/u1", ""),
        ("PUT", "/v2/alice/w/manifests/v1", ""),
        ("GET", "/v2/alice/w/tags/list", ""),
        ("DELETE", "/v2/alice/w/blobs/uploads/u1", ""),
    ];
    for ct in forms {
        for (method, path, query) in routes {
            let meta = RequestMeta {
                content_type: Some(ct),
                ..RequestMeta::new(method, path, query, vec!["Bearer tok-pusher"], &p)
            };
            let d = proxy.decide(&meta, 1000);
            assert_eq!(refused(&d).0, 415, "{method} {path} {ct}");
            assert_eq!(refused(&d).1, "form_body");
        }
    }
    assert_eq!(
        proxy.fake.verifications.get(),
        0,
        "refused before any credential work"
    );
    for ok in [
        None,
        Some("application/octet-stream"),
        Some("application/vnd.oci.image.manifest.v1+json"),
    ] {
        assert!(!form_body(ok), "{ok:?}");
    }
}

#[test]
fn oversized_header_sets_are_refused_whole() {
    // Finding 4 of issue 12: padding pushed CF-Connecting-IP out of a trimmed header set.
    let proxy = Proxy::new();
    let p = public();
    for (count, want) in [(100, None), (101, Some(431)), (10_000, Some(431))] {
        let meta = RequestMeta {
            header_count: count,
            ..RequestMeta::new("GET", "/v2/", "", vec!["Bearer tok-puller"], &p)
        };
        let d = proxy.decide(&meta, 1000);
        match want {
            None => assert!(matches!(d, Decision::Forward { .. }), "{count}"),
            Some(st) => assert_eq!(refused(&d), (st, "too_many_headers", None)),
        }
    }
}

#[test]
fn chart_uploads_may_be_multipart() {
    // ChartMuseum's upload API is a multipart form and its access comes from the path.
    let p = public();
    let meta = RequestMeta {
        content_type: Some("multipart/form-data; boundary=x"),
        ..RequestMeta::new("POST", "/api/org1/charts", "", vec![], &p)
    };
    let d = Proxy::new().decide(&meta, 1000);
    assert_ne!(refused(&d).1, "form_body");
}

#[test]
fn configured_realm_wins() {
    let proxy = Proxy {
        gate: Gate::new(
            gate("0").settings().clone(),
            Some("https://auth.example/token".into()),
        ),
        fake: Fake::new(),
    };
    assert_eq!(proxy.gate.realm(&public()), "https://auth.example/token");
    let d = proxy.run("GET", "/index.yaml", "", &[]);
    assert!(refused(&d)
        .2
        .unwrap()
        .contains(r#"realm="https://auth.example/token""#));
    assert!(refused(&d)
        .2
        .unwrap()
        .contains("artifact-repository:repo:pull"));
}
