//! The whole token flow natively: MemoryStore for KV, fixed clock, counter-based randomness.
//! JWT signatures are checked with jwt-compact directly against the fixture keys (the Miniflare
//! suite re-checks every token with an independent verifier, `jose`).

use super::*;
use crate::limits::CLOCK_LEEWAY_SECS;
use crate::store::{MemoryStore, StoreError};
use crate::token_service::audit::Outcome;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::AlgorithmExt as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

use crate::test_support::{
    basic, counter_rng, ES256_CERT, ES256_KEY, ES256_NEXT_CERT, NOW, RS256_KEY,
};

const REG: &str = "registry.local";
const CHARTS: &str = "chartmuseum.local";
const CI_KEY: &str = "tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk.Y2ktYm90";
const CHART_KEY: &str = "tgk_1TIk6LOvIEHkSqA1Zg0WOvI47ycEwjruD_m15CUvwW0.Y2hhcnQtdXNlcg";

fn sha256_hex(s: &str) -> String {
    crate::credentials::lower_hex(&Sha256::digest(s.as_bytes()))
}

fn vars() -> HashMap<&'static str, String> {
    HashMap::from([
        ("ISSUER", "tollgate-test".to_string()),
        ("SERVICES", format!("{REG} {CHARTS}")),
        ("RS256_SERVICES", CHARTS.to_string()),
        ("SIGNING_KEY", ES256_KEY.to_string()),
        ("SIGNING_CERT", ES256_CERT.to_string()),
        ("RSA_SIGNING_KEY", RS256_KEY.to_string()),
        ("PUBLISHED_KEYS", ES256_NEXT_CERT.to_string()),
    ])
}

fn app_with(vars: HashMap<&'static str, String>) -> TokenService {
    TokenService::new(
        Settings::from_vars(|k| vars.get(k).cloned()).unwrap(),
        [7u8; 32],
    )
    .unwrap()
}

fn app() -> TokenService {
    app_with(vars())
}

use crate::test_support::bcrypt_hash as hash;

fn acl() -> Value {
    json!([
        {"match": {"type": "repository", "name": "org/secret*"}, "actions": []},
        {"match": {"type": "repository", "name": "public/*"}, "actions": ["pull"]},
        {"match": {"group": "dev", "type": "repository", "name": "${account}/*"}, "actions": ["pull", "push"]},
        {"match": {"group": "org-writers", "type": "repository", "name": "org/*"}, "actions": ["pull", "push"]},
        {"match": {"group": "org-readers", "type": "repository", "name": "org/*"}, "actions": ["pull"]},
        {"match": {"group": "charts", "type": "artifact-repository", "name": "org1/*"}, "actions": ["pull", "push"]},
    ])
}

fn store() -> MemoryStore {
    let entries = [
        (
            "user:alice",
            json!({"password": hash("alice-pw"), "groups": ["dev", "org-writers"]}),
        ),
        (
            "user:bob",
            json!({"password": hash("bob-pw"), "groups": ["org-readers"]}),
        ),
        (
            "user:carol",
            json!({"password": hash("carol-pw"), "disabled": true, "groups": ["org-writers"]}),
        ),
        ("user:ci-bot", json!({"groups": ["org-writers"]})),
        ("user:chart-user", json!({"groups": ["charts"]})),
        (
            &*Box::leak(api_key_key(CI_KEY).into_boxed_str()),
            json!({"account": "ci-bot", "name": "ci", "created": 1, "expires": null}),
        ),
        (
            &*Box::leak(api_key_key(CHART_KEY).into_boxed_str()),
            json!({"account": "chart-user", "name": "charts", "created": 1, "expires": null}),
        ),
        ("acl", acl()),
    ];
    MemoryStore::with(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

/// Runs `req` as the worker does: the client address comes from `CF-Connecting-IP`.
fn handle_with<S: Store, F: crate::federation::Fetch>(
    app: &TokenService,
    store: &S,
    fetch: &F,
    req: &HttpRequest,
    now: u64,
    rng: Rng<'_>,
) -> (HttpResponse, Option<AuditEvent>) {
    let ctx =
        RequestContext::new(store, fetch, now, rng).with_client_ip(req.header("cf-connecting-ip"));
    block_on(app.handle(req, &ctx))
}

/// What most proxy checks ask for: pull on `repository:org/a`.
fn pull_org_a() -> [crate::token::Access; 1] {
    [crate::token::Access {
        resource_type: "repository".into(),
        name: "org/a".into(),
        actions: vec!["pull".into()],
    }]
}

/// A context without a client address, for the proxy's checks.
fn ctx_of<'a, S: Store>(
    store: &'a S,
    ip: Option<&'static str>,
) -> RequestContext<'a, S, crate::federation::NoFetch> {
    RequestContext::without_randomness(store, &crate::federation::NoFetch, NOW).with_client_ip(ip)
}

/// A token service over its KV, driven as the worker drives it: what most tests use.
struct Svc<S = MemoryStore> {
    app: TokenService,
    store: S,
}

impl Svc {
    /// The fixture service (`app()`) over the fixture store (`store()`).
    fn new() -> Self {
        Svc::with(app(), store())
    }
}

impl<S: Store> Svc<S> {
    fn with(app: TokenService, store: S) -> Self {
        Svc { app, store }
    }

    fn run(&self, req: HttpRequest) -> (HttpResponse, Option<AuditEvent>) {
        run(&self.app, &self.store, req)
    }

    fn run_at(&self, req: HttpRequest, now: u64) -> (HttpResponse, Option<AuditEvent>) {
        run_at(&self.app, &self.store, req, now)
    }
}

fn run(
    app: &TokenService,
    store: &impl Store,
    req: HttpRequest,
) -> (HttpResponse, Option<AuditEvent>) {
    run_at(app, store, req, NOW)
}

fn run_at(
    app: &TokenService,
    store: &impl Store,
    req: HttpRequest,
    now: u64,
) -> (HttpResponse, Option<AuditEvent>) {
    let rng = counter_rng();
    handle_with(app, store, &crate::federation::NoFetch, &req, now, &rng)
}

use crate::test_support::block_on;

fn get(query: &str) -> HttpRequest {
    HttpRequest::new("GET", "/token", query)
}

/// `get(query)` with `user:password` as Basic credentials.
fn get_as(query: &str, user: &str, password: &str) -> HttpRequest {
    get(query).with_header("authorization", &basic(user, password))
}

/// `get(query)` with API key `key` as a Bearer token.
fn get_bearer(query: &str, key: &str) -> HttpRequest {
    get(query).with_header("authorization", &format!("Bearer {key}"))
}

/// ChartMuseum's `client_credentials` grant for `scope`, API key `key` as a Bearer token.
fn client_credentials(scope: &str, key: &str) -> HttpRequest {
    let query = format!("grant_type=client_credentials&scope={scope}");
    HttpRequest::new("POST", "/oauth/token", &query)
        .with_header("authorization", &format!("Bearer {key}"))
}

/// Writes `value` (as JSON) under `key` in the fixture store.
fn put(s: &MemoryStore, key: &str, value: Value) {
    s.data.borrow_mut().insert(key.into(), value.to_string());
}

/// The KV key of the API key record for `secret`.
fn api_key_key(secret: &str) -> String {
    format!("apikey:{}", sha256_hex(secret))
}

fn post(path: &str, body: &str) -> HttpRequest {
    HttpRequest::new("POST", path, "")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(body.as_bytes().to_vec())
}

fn segments(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let h = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let p = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&h).unwrap(),
        serde_json::from_slice(&p).unwrap(),
    )
}

/// Checks the signature with the fixture key and returns the claims.
fn verify(token: &str) -> Value {
    use p256::pkcs8::DecodePrivateKey;
    let (header, claims) = segments(token);
    let untrusted = jwt_compact::UntrustedToken::new(token).unwrap();
    match header["alg"].as_str().unwrap() {
        "ES256" => {
            let sk = p256::ecdsa::SigningKey::from_pkcs8_pem(ES256_KEY).unwrap();
            let vk = p256::ecdsa::VerifyingKey::from(&sk);
            crate::token::alg::Es256
                .validator::<Value>(&vk)
                .validate(&untrusted)
                .unwrap();
        }
        "RS256" => {
            // rsa 0.9 reads the fixture through its own (der 0.7) PKCS#8 decoder here, not
            // through Tollgate's key loading.
            use rsa::pkcs8::DecodePrivateKey as _;
            let pem = x509_cert::der::pem::decode_vec(RS256_KEY.trim().as_bytes())
                .unwrap()
                .1;
            let sk = rsa::RsaPrivateKey::from_pkcs8_der(&pem).unwrap();
            let pk = sk.to_public_key();
            crate::token::alg::Rs256
                .validator::<Value>(&pk)
                .validate(&untrusted)
                .unwrap();
        }
        other => panic!("unexpected alg {other}"),
    }
    claims
}

fn actions(claims: &Value, name: &str) -> Vec<String> {
    claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == name)
        .flat_map(|a| {
            a["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
        })
        .collect()
}

fn body(resp: &HttpResponse) -> Value {
    resp.json_body()
        .unwrap_or_else(|| panic!("not JSON: {}", String::from_utf8_lossy(&resp.body)))
}

/// The response body as text, after asserting that it holds every one of `needles` (`context`
/// leads the failure message).
#[track_caller]
fn body_says(resp: &HttpResponse, needles: &[&str], context: &str) -> String {
    let text = String::from_utf8_lossy(&resp.body).into_owned();
    for needle in needles {
        assert!(text.contains(needle), "{context}: {needle:?} not in {text}");
    }
    text
}

// ---------------------------------------------------------------- routes

#[test]
fn healthz_jwks_certs() {
    let svc = Svc::new();
    let (r, ev) = svc.run(HttpRequest::new("GET", "/healthz", ""));
    assert_eq!(r.status, 200);
    assert!(ev.is_none());

    let (r, _) = svc.run(HttpRequest::new("GET", "/.well-known/jwks.json", ""));
    assert_eq!(r.status, 200);
    let jwks = body(&r);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(
        keys.len(),
        3,
        "signing ES256, RS256 and the published next key: {jwks}"
    );
    assert!(keys
        .iter()
        .all(|k| k["kid"].as_str().is_some_and(|kid| kid.len() == 59)));
    assert!(keys.iter().all(|k| k.get("d").is_none()));

    let (r, _) = svc.run(HttpRequest::new("GET", "/certs.pem", ""));
    assert_eq!(r.status, 200);
    let pem = String::from_utf8(r.body).unwrap();
    assert_eq!(
        pem.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "{pem}"
    );
    assert!(!pem.contains("PRIVATE"));

    let (r, _) = svc.run(HttpRequest::new("HEAD", "/healthz", ""));
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[test]
fn unknown_path_and_wrong_methods() {
    let svc = Svc::new();
    let (r, ev) = svc.run(HttpRequest::new("GET", "/v2/", ""));
    assert_eq!(r.status, 404);
    assert!(ev.is_none());
    assert_eq!(body(&r)["errors"][0]["code"], "UNSUPPORTED");

    let (r, _) = svc.run(HttpRequest::new("PUT", "/token", ""));
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, POST")));
    assert!(body(&r)["errors"].is_array());

    let (r, _) = svc.run(HttpRequest::new("DELETE", "/oauth/token", ""));
    assert_eq!(r.status, 405);
    assert_eq!(body(&r)["error"], "invalid_request");

    let (r, _) = svc.run(HttpRequest::new("POST", "/certs.pem", ""));
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
}

#[test]
fn oversize_body_is_413_in_the_endpoint_format() {
    let svc = Svc::new();
    let mut req = post("/token", "");
    req.body_too_large = true;
    let (r, _) = svc.run(req);
    assert_eq!(r.status, 413);
    assert_eq!(body(&r)["error"], "invalid_request");
}

// ---------------------------------------------------------------- the headers it reads

/// Headers that clients, proxies in front and Cloudflare send and that the token service has no
/// use for; some of them are ones an attacker would like it to act on.
const UNREAD_HEADERS: [(&str, &str); 8] = [
    ("accept", "application/json"),
    ("host", "auth.example"),
    ("x-forwarded-for", "10.9.9.9"),
    ("cookie", "tollgate_session=x"),
    ("origin", "https://elsewhere.example"),
    ("cf-ray", "8f00000000000000-AMS"),
    ("x-http-method-override", "DELETE"),
    ("x-real-ip", "10.8.8.8"),
];

/// The worker hands the token endpoints only `TOKEN_REQUEST_HEADERS` (src/http.rs). Every grant,
/// answered from every header and from only those, gives the same response and audit line, and
/// reads nothing outside them: a header read that the list missed fails here, not in production.
#[test]
fn token_endpoints_read_only_the_token_request_headers() {
    type Make = Box<dyn Fn(&Svc) -> HttpRequest>;
    let refresh_token = |svc: &Svc| {
        let login = get_as(
            "service=registry.local&offline_token=true",
            "alice",
            "alice-pw",
        );
        let (r, _) = svc.run(login);
        body(&r)["refresh_token"].as_str().unwrap().to_string()
    };
    let cases: Vec<(&str, Make)> = vec![
        (
            "API key over Basic",
            Box::new(|_: &Svc| {
                get_as(
                    "service=registry.local&scope=repository:org/a:pull,push",
                    "ci-bot",
                    CI_KEY,
                )
            }),
        ),
        (
            "API key as Bearer",
            Box::new(|_: &Svc| {
                get_bearer("service=registry.local&scope=repository:org/a:pull", CI_KEY)
            }),
        ),
        (
            "password",
            Box::new(|_: &Svc| {
                get_as(
                    "service=registry.local&scope=repository:org/a:push",
                    "alice",
                    "alice-pw",
                )
            }),
        ),
        (
            "wrong password",
            Box::new(|_: &Svc| {
                get_as(
                    "service=registry.local&scope=repository:org/a:pull",
                    "alice",
                    "nope",
                )
            }),
        ),
        (
            "anonymous",
            Box::new(|_: &Svc| get("service=registry.local&scope=repository:public/a:pull")),
        ),
        (
            "OAuth2 password grant",
            Box::new(|_: &Svc| {
                post("/token", "grant_type=password&username=bob&password=bob-pw&service=registry.local&scope=repository:org/a:pull&client_id=t")
            }),
        ),
        (
            "refresh grant",
            Box::new(move |svc: &Svc| {
                post("/token", &format!("grant_type=refresh_token&refresh_token={}&service=registry.local&scope=repository:org/a:pull", refresh_token(svc)))
            }),
        ),
        (
            "ChartMuseum client credentials",
            Box::new(|_: &Svc| {
                client_credentials("artifact-repository:org1/repo1:pull", CHART_KEY)
            }),
        ),
        (
            "revocation",
            Box::new(move |svc: &Svc| {
                post("/oauth/revoke", &format!("token={}", refresh_token(svc)))
            }),
        ),
        (
            "key set",
            Box::new(|_: &Svc| HttpRequest::new("GET", "/.well-known/jwks.json", "")),
        ),
    ];
    for (name, make) in cases {
        crate::protocol::http::HEADERS_READ.with(|read| read.borrow_mut().clear());
        let answer = |only_listed: bool| {
            let svc = Svc::new();
            let mut req = make(&svc)
                .with_header("user-agent", "docker/27.0")
                .with_header("cf-connecting-ip", "203.0.113.7");
            for (n, v) in UNREAD_HEADERS {
                req = req.with_header(n, v);
            }
            if only_listed {
                req.headers
                    .retain(|(n, _)| TOKEN_REQUEST_HEADERS.contains(&n.as_str()));
            }
            let (resp, event) = svc.run(req);
            (resp, event.map(|e| e.to_json_line()))
        };
        let (every, listed) = (answer(false), answer(true));
        assert_eq!(
            every, listed,
            "{name}: the answer depends on a header not listed"
        );
        assert!(every.0.status < 500, "{name}: {}", every.0.status);
        let read = crate::protocol::http::HEADERS_READ.with(|read| read.take());
        let unlisted: Vec<_> = read
            .iter()
            .filter(|n| !TOKEN_REQUEST_HEADERS.contains(&n.as_str()))
            .collect();
        assert!(unlisted.is_empty(), "{name} read {unlisted:?}");
        // The tracking itself works: every grant reads the credential.
        assert!(
            name == "key set" || read.contains("authorization"),
            "{name}: {read:?}"
        );
    }
}

// ---------------------------------------------------------------- GET /token

#[test]
fn get_with_basic_merges_scopes_and_signs_es256() {
    let svc = Svc::new();
    let q = "service=registry.local&scope=repository:org/app:pull&scope=repository:org/app:push\
             &scope=repository:alice/x:pull&account=alice&client_id=docker";
    let (r, ev) = svc.run(get_as(q, "alice", "alice-pw"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let b = body(&r);
    assert_eq!(b["token"], b["access_token"]);
    assert_eq!(b["expires_in"], 300);
    assert_eq!(b["issued_at"], "2025-11-28T08:00:00Z");
    assert!(b.get("refresh_token").is_none());

    let token = b["token"].as_str().unwrap();
    let (header, _) = segments(token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"].as_str().unwrap().len(), 59);
    assert!(
        header["x5c"].is_array(),
        "SIGNING_CERT configured: x5c sent"
    );
    let c = verify(token);
    assert_eq!(c["iss"], "tollgate-test");
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], REG);
    assert_eq!(
        (c["iat"].as_u64(), c["nbf"].as_u64(), c["exp"].as_u64()),
        (Some(NOW), Some(NOW), Some(NOW + 300))
    );
    assert_eq!(c["jti"].as_str().unwrap().len(), 32);
    let mut a = actions(&c, "org/app");
    a.sort();
    assert_eq!(a, ["pull", "push"]);
    assert_eq!(actions(&c, "alice/x"), ["pull"]);

    let ev = ev.unwrap();
    assert_eq!(ev.outcome, Outcome::Issued);
    assert_eq!(ev.account.as_deref(), Some("alice"));
    assert_eq!(ev.credential, Some("password"));
    assert_eq!(ev.jti.as_deref(), c["jti"].as_str());
    assert_eq!(ev.requested.len(), 3);
    let line = ev.to_json_line();
    assert!(
        !line.contains("alice-pw") && !line.contains(token),
        "{line}"
    );
}

#[test]
fn anonymous_public_pull_and_nothing_else() {
    let svc = Svc::new();
    let (r, ev) = svc.run(get(
        "service=registry.local&scope=repository:public/x:pull,push&scope=repository:org/a:pull",
    ));
    assert_eq!(r.status, 200);
    let c = verify(body(&r)["token"].as_str().unwrap());
    assert_eq!(c["sub"], "");
    assert_eq!(actions(&c, "public/x"), ["pull"]);
    assert!(actions(&c, "org/a").is_empty());
    assert_eq!(ev.unwrap().credential, Some("anonymous"));
}

#[test]
fn login_probe_gets_empty_access() {
    let svc = Svc::new();
    let (r, _) = svc.run(get_as("service=registry.local", "bob", "bob-pw"));
    assert_eq!(r.status, 200);
    assert_eq!(
        verify(body(&r)["token"].as_str().unwrap())["access"],
        json!([])
    );
}

#[test]
fn partial_grant_and_explicit_deny_are_200() {
    let svc = Svc::new();
    let auth = basic("bob", "bob-pw");
    let (r, _) = svc.run(
        get("service=registry.local&scope=repository:org/app:pull,push")
            .with_header("authorization", &auth),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        actions(&verify(body(&r)["token"].as_str().unwrap()), "org/app"),
        ["pull"]
    );
    let auth = basic("alice", "alice-pw");
    let (r, _) = svc.run(
        get("service=registry.local&scope=repository:org/secret:pull")
            .with_header("authorization", &auth),
    );
    assert_eq!(r.status, 200);
    assert!(actions(&verify(body(&r)["token"].as_str().unwrap()), "org/secret").is_empty());
}

#[test]
fn bad_credentials_are_401_with_basic_challenge() {
    let svc = Svc::new();
    for (user, pw, why) in [
        ("alice", "wrong", "incorrect"),
        ("nobody", "x", "incorrect"),
        ("ci-bot", "no-password-user", "incorrect"),
        ("carol", "wrong", "incorrect"),
        ("carol", "carol-pw", "disabled"),
    ] {
        let (r, ev) = svc.run(get_as("service=registry.local", user, pw));
        assert_eq!(r.status, 401, "{user}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"tollgate-test\"")
        );
        let b = body(&r);
        assert_eq!(b["errors"][0]["code"], "UNAUTHORIZED");
        assert!(
            b["errors"][0]["message"].as_str().unwrap().contains(why),
            "{user}: {b}"
        );
        let ev = ev.unwrap();
        assert_eq!(ev.outcome, Outcome::Refused);
        assert!(!ev.to_json_line().contains(pw));
    }
}

#[test]
fn verified_password_cache_never_accepts_another_password() {
    let svc = Svc::new();
    let ok = get_as("service=registry.local", "alice", "alice-pw");
    assert_eq!(svc.run(ok.clone()).0.status, 200);
    assert_eq!(svc.run(ok).0.status, 200);
    let bad = get_as("service=registry.local", "alice", "alice-pw2");
    assert_eq!(svc.run(bad).0.status, 401);
}

#[test]
fn a_service_built_at_startup_draws_its_isolate_key_on_the_first_password_check() {
    let settings = Settings::from_vars(|k| vars().get(k).cloned()).unwrap();
    let (app, s) = (TokenService::at_startup(settings).unwrap(), store());
    let ok = get_as("service=registry.local", "alice", "alice-pw");
    assert_eq!(run(&app, &s, ok.clone()).0.status, 200);
    assert_eq!(
        app.caches.borrow().verified.len(),
        1,
        "the check was remembered"
    );
    assert_eq!(run(&app, &s, ok).0.status, 200);
    let bad = get_as("service=registry.local", "alice", "alice-pw2");
    assert_eq!(run(&app, &s, bad).0.status, 401);
}

#[test]
fn account_must_match() {
    let svc = Svc::new();
    let (r, _) = svc.run(get_as(
        "service=registry.local&account=bob",
        "alice",
        "alice-pw",
    ));
    assert_eq!(r.status, 403);
    assert_eq!(body(&r)["errors"][0]["code"], "DENIED");
    let (r, _) = svc.run(get("service=registry.local&account=bob"));
    assert_eq!(r.status, 401);
}

#[test]
fn service_must_be_configured() {
    let svc = Svc::new();
    let (r, _) = svc.run(get("service=evil"));
    assert_eq!(r.status, 400);
    let msg = body(&r)["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("evil") && msg.contains(REG) && msg.contains(CHARTS),
        "{msg}"
    );
    let (r, _) = svc.run(get(""));
    assert_eq!(r.status, 400);
    // A single configured service is the default.
    let mut v = vars();
    v.insert("SERVICES", REG.into());
    v.remove("RS256_SERVICES");
    let single = app_with(v);
    let (r, _) = run(&single, &svc.store, get("scope=repository:public/a:pull"));
    assert_eq!(r.status, 200);
    assert_eq!(verify(body(&r)["token"].as_str().unwrap())["aud"], REG);
}

#[test]
fn malformed_input_is_4xx() {
    let svc = Svc::new();
    for (req, status) in [
        (
            get("service=registry.local").with_header("authorization", "Basic !!!"),
            400,
        ),
        (
            get("service=registry.local").with_header("authorization", "Digest x"),
            400,
        ),
        (
            get("service=registry.local").with_header("authorization", &"Basic ".repeat(2000)),
            400,
        ),
        (
            get_as("service=registry.local", "a", "b")
                .with_header("authorization", &basic("c", "d")),
            400,
        ),
        (get("service=registry.local&scope=repository:Bad:pull"), 400),
        (get("service=%FF"), 400),
        (post("/token", "grant_type=implicit"), 400),
        (post("/token", "grant_type=password&username=alice"), 400),
    ] {
        let (r, _) = svc.run(req.clone());
        assert_eq!(
            r.status,
            status,
            "{req:?}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let bad_utf8 = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(b"alice:\xff\xfe")
    );
    let (r, _) = svc.run(get("service=registry.local").with_header("authorization", &bad_utf8));
    assert_eq!(r.status, 400);
}

// ---------------------------------------------------------------- OAuth2 POST

#[test]
fn password_grant_space_separated_scope() {
    let svc = Svc::new();
    let (r, ev) = svc.run(post(
        "/token",
        "grant_type=password&username=alice&password=alice-pw&service=registry.local\
             &client_id=containerd-client&scope=repository:org/a:pull%20repository:org/a:push",
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let b = body(&r);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["scope"], "repository:org/a:pull,push");
    assert!(b.get("refresh_token").is_none());
    let c = verify(b["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], "alice");
    assert_eq!(ev.unwrap().client_id.as_deref(), Some("containerd-client"));

    let (r, _) = svc.run(post(
        "/token",
        "grant_type=password&username=alice&password=nope&service=registry.local",
    ));
    assert_eq!(r.status, 401);
    assert_eq!(body(&r)["error"], "invalid_grant");
}

#[test]
fn refresh_token_lifecycle() {
    let svc = Svc::new();
    let (r, ev) = svc.run(get_as(
        "service=registry.local&offline_token=true&client_id=docker",
        "alice",
        "alice-pw",
    ));
    assert_eq!(r.status, 200);
    let rt = body(&r)["refresh_token"].as_str().unwrap().to_string();
    assert!(rt.starts_with("tgr_") && rt.as_bytes()[47] == b'.', "{rt}");
    // The account as an untrusted read-ahead hint; bound to a password, so no API key in it.
    let hint = crate::credentials::read_hint("tgr_", &rt).unwrap();
    assert_eq!((hint.account.as_str(), hint.api_key), ("alice", None));
    let ev = ev.unwrap();
    assert!(ev.refresh_token_issued);
    assert!(!ev.to_json_line().contains(&rt));

    let key = format!("refresh:{}", sha256_hex(&rt));
    let record: Value = serde_json::from_str(&svc.store.data.borrow()[&key]).unwrap();
    assert_eq!(record["account"], "alice");
    assert_eq!(record["service"], REG);
    assert_eq!(record["client_id"], "docker");
    assert_eq!(record["expires"].as_u64(), Some(NOW + 30 * 86_400));
    assert!(!svc.store.data.borrow().values().any(|v| v.contains(&rt)));

    let refresh = |service: &str| {
        post("/token", &format!("grant_type=refresh_token&refresh_token={rt}&service={service}&scope=repository:org/a:push"))
    };
    let (r, ev) = svc.run(refresh(REG));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let b = body(&r);
    assert!(b.get("refresh_token").is_none(), "no rotation");
    assert_eq!(
        actions(&verify(b["access_token"].as_str().unwrap()), "org/a"),
        ["push"]
    );
    assert_eq!(ev.unwrap().credential, Some("refresh_token"));

    let (r, _) = svc.run(refresh(CHARTS));
    assert_eq!(r.status, 401);
    assert!(body(&r)["error_description"]
        .as_str()
        .unwrap()
        .contains(REG));

    // Expired by its record, even if KV still holds it.
    let (r, _) = svc.run_at(refresh(REG), NOW + 30 * 86_400);
    assert_eq!(r.status, 401);

    // Revoked by deleting the record.
    svc.store.data.borrow_mut().remove(&key);
    let (r, _) = svc.run(refresh(REG));
    assert_eq!(r.status, 401);
    let b = body(&r);
    assert_eq!(b["error"], "invalid_grant");
    assert!(!b.to_string().contains(&rt));

    // Not ours at all.
    let (r, _) = svc.run(post(
        "/token",
        "grant_type=refresh_token&refresh_token=abc&service=registry.local",
    ));
    assert_eq!(r.status, 401);
}

#[test]
fn refresh_token_stops_when_user_disabled() {
    let mut v = vars();
    v.insert("CACHE_TTL", "0".into());
    let svc = Svc::with(app_with(v), store());
    let (r, _) = svc.run(post("/token", "grant_type=password&username=bob&password=bob-pw&service=registry.local&access_type=offline"),
    );
    let rt = body(&r)["refresh_token"].as_str().unwrap().to_string();
    let req = post(
        "/token",
        &format!("grant_type=refresh_token&refresh_token={rt}&service=registry.local"),
    );
    assert_eq!(svc.run(req.clone()).0.status, 200);
    let disabled = json!({"password": hash("bob-pw"), "disabled": true, "groups": ["org-readers"]});
    svc.store
        .data
        .borrow_mut()
        .insert("user:bob".into(), disabled.to_string());
    let (r, _) = svc.run(req.clone());
    assert_eq!(r.status, 401);
    assert!(body(&r)["error_description"]
        .as_str()
        .unwrap()
        .contains("disabled"));
    svc.store.data.borrow_mut().remove("user:bob");
    assert_eq!(svc.run(req).0.status, 401);
}

#[test]
fn anonymous_offline_request_gets_no_refresh_token() {
    let svc = Svc::new();
    let (r, _) = svc.run(get("service=registry.local&offline_token=true"));
    assert_eq!(r.status, 200);
    assert!(body(&r).get("refresh_token").is_none());
    assert!(!svc.store.holds_any("refresh:"));
}

// ---------------------------------------------------------------- API keys / ChartMuseum

#[test]
fn chartmuseum_client_credentials_rs256() {
    let svc = Svc::new();
    let req = client_credentials("artifact-repository:org1/repo1:pull,push", CHART_KEY);
    let (r, ev) = svc.run(req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let b = body(&r);
    assert_eq!(b["scope"], "artifact-repository:org1/repo1:pull,push");
    let token = b["access_token"].as_str().unwrap();
    assert_eq!(segments(token).0["alg"], "RS256");
    let c = verify(token);
    assert_eq!(c["aud"], CHARTS);
    assert_eq!(c["sub"], "chart-user");
    assert_eq!(
        c["access"],
        json!([{"type": "artifact-repository", "name": "org1/repo1", "actions": ["pull", "push"]}])
    );
    assert_eq!(ev.unwrap().credential, Some("api_key"));
}

#[test]
fn client_credentials_refusals_use_bearer_challenge() {
    let svc = Svc::new();
    let base = "grant_type=client_credentials&service=chartmuseum.local";
    for auth in [
        None,
        Some("Bearer tgk_unknownunknownunknownunknownunknownunkno"),
        Some("Bearer notakey"),
    ] {
        let mut req = HttpRequest::new("POST", "/oauth/token", base);
        if let Some(a) = auth {
            req = req.with_header("authorization", a);
        }
        let (r, _) = svc.run(req);
        assert_eq!(r.status, 401, "{auth:?}");
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer realm="));
        assert_eq!(body(&r)["error"], "invalid_client");
    }
}

#[test]
fn api_key_as_basic_password_must_match_account() {
    let svc = Svc::new();
    let (r, ev) = svc.run(get_as(
        "service=registry.local&scope=repository:org/a:push",
        "ci-bot",
        CI_KEY,
    ));
    assert_eq!(r.status, 200);
    assert_eq!(
        actions(&verify(body(&r)["token"].as_str().unwrap()), "org/a"),
        ["push"]
    );
    assert!(!ev.unwrap().to_json_line().contains(CI_KEY));
    let (r, _) = svc.run(get_as("service=registry.local", "alice", CI_KEY));
    assert_eq!(r.status, 401);
}

#[test]
fn expired_api_key_and_disabled_owner() {
    let svc = Svc::new();
    put(
        &svc.store,
        &api_key_key(CI_KEY),
        json!({"account": "ci-bot", "name": "ci", "created": 1, "expires": NOW - 1}),
    );
    let (r, _) = svc.run(get_as("service=registry.local", "ci-bot", CI_KEY));
    assert_eq!(r.status, 401);
    assert!(body(&r)["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));

    let svc = Svc::new();
    put(&svc.store, "user:chart-user", json!({"disabled": true}));
    let req = HttpRequest::new("GET", "/oauth/token", "grant_type=client_credentials")
        .with_header("authorization", &format!("Bearer {CHART_KEY}"));
    assert_eq!(svc.run(req).0.status, 401);
}

// ---------------------------------------------------------------- fail closed

#[test]
fn store_failure_is_503_and_grants_nothing() {
    let svc = Svc::new();
    svc.store.fail.set(true);
    for req in [
        get("service=registry.local&scope=repository:public/a:pull"),
        get_as("service=registry.local", "alice", "alice-pw"),
    ] {
        let (r, ev) = svc.run(req);
        assert_eq!(r.status, 503);
        assert_eq!(body(&r)["errors"][0]["code"], "UNAVAILABLE");
        let ev = ev.unwrap();
        assert_eq!(ev.outcome, Outcome::Failed);
        assert!(ev.jti.is_none() && ev.granted.is_empty());
    }
}

#[test]
fn malformed_records_are_500_and_grant_nothing() {
    for (key, value, req) in [
        (
            "user:alice",
            "{not json",
            get_as("service=registry.local", "alice", "alice-pw"),
        ),
        (
            "acl",
            "[{\"match\": 5}]",
            get("service=registry.local&scope=repository:public/a:pull"),
        ),
        ("acl", "nonsense", get("service=registry.local")),
    ] {
        let svc = Svc::new();
        svc.store.data.borrow_mut().insert(key.into(), value.into());
        let (r, ev) = svc.run(req);
        assert_eq!(r.status, 500, "{key}: {}", String::from_utf8_lossy(&r.body));
        assert!(body(&r).get("token").is_none());
        assert_eq!(ev.unwrap().outcome, Outcome::Failed);
    }
    let svc = Svc::new();
    svc.store
        .data
        .borrow_mut()
        .insert(api_key_key(CI_KEY), "[]".into());
    let (r, _) = svc.run(get_as("service=registry.local", "ci-bot", CI_KEY));
    assert_eq!(r.status, 500);
}

#[test]
fn missing_acl_grants_nothing() {
    let svc = Svc::new();
    svc.store.data.borrow_mut().remove("acl");
    let (r, _) = svc.run(get("service=registry.local&scope=repository:public/a:pull"));
    assert_eq!(r.status, 200);
    assert_eq!(
        verify(body(&r)["token"].as_str().unwrap())["access"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["actions"].as_array().unwrap().clone())
            .count(),
        0
    );
}

/// Reads work, writes fail: a refresh token that cannot be stored must not be handed out.
struct ReadOnly(MemoryStore);

impl Store for ReadOnly {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.get(key).await
    }
    async fn put(&self, _: &str, _: &str, _: Option<u64>) -> Result<(), StoreError> {
        Err(StoreError::Runtime("read-only".into()))
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Runtime("read-only".into()))
    }
}

#[test]
fn unstorable_refresh_token_fails_the_request() {
    let svc = Svc::with(app(), ReadOnly(store()));
    let (r, _) = svc.run(get_as(
        "service=registry.local&offline_token=true",
        "bob",
        "bob-pw",
    ));
    assert_eq!(r.status, 503);
    assert!(body(&r).get("refresh_token").is_none());
}

#[test]
fn rng_failure_issues_nothing() {
    let svc = Svc::new();
    let broken = |_: &mut [u8]| Err(RandomError);
    let req = get("service=registry.local");
    let (r, ev) = handle_with(
        &svc.app,
        &svc.store,
        &crate::federation::NoFetch,
        &req,
        NOW,
        &broken,
    );
    assert_eq!(r.status, 500);
    assert_eq!(ev.unwrap().outcome, Outcome::Failed);
}

#[test]
fn jti_is_unique_per_token() {
    use crate::federation::NoFetch;
    let svc = Svc::new();
    let rng = counter_rng();
    let req = get("service=registry.local");
    // Two tokens from one randomness source, as one isolate issues them.
    let issue = || handle_with(&svc.app, &svc.store, &NoFetch, &req, NOW, &rng).0;
    let (a, b) = (issue(), issue());
    let ja = verify(body(&a)["token"].as_str().unwrap())["jti"].clone();
    let jb = verify(body(&b)["token"].as_str().unwrap())["jti"].clone();
    assert_ne!(ja, jb);
}

// ---------------------------------------------------------------- configuration

#[test]
fn bad_keys_are_config_errors_naming_the_secret() {
    for (name, value) in [
        (
            "SIGNING_KEY",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_string(),
        ),
        ("SIGNING_KEY", RS256_KEY.to_string()),
        ("RSA_SIGNING_KEY", ES256_KEY.to_string()),
        ("SIGNING_CERT", ES256_NEXT_CERT.to_string()),
        ("PUBLISHED_KEYS", "garbage".to_string()),
    ] {
        let mut v = vars();
        v.insert(name, value.clone());
        let settings = Settings::from_vars(|k| v.get(k).cloned()).unwrap();
        let e = TokenService::new(settings, [7u8; 32]).unwrap_err();
        assert_eq!(e.setting, name, "{e}");
        let shown = e.to_string();
        assert!(
            !shown.contains("AAAA") && !shown.contains("PRIVATE KEY-----\nM"),
            "{shown}"
        );
        let r = config_error_response(&e);
        assert_eq!(r.status, 500);
        assert!(body(&r)["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(name));
    }
}

#[test]
fn no_cert_no_x5c() {
    let mut v = vars();
    v.remove("SIGNING_CERT");
    let svc = Svc::with(app_with(v), store());
    let (r, _) = svc.run(get("service=registry.local"));
    let (h, _) = segments(body(&r)["token"].as_str().unwrap());
    assert!(h.get("x5c").is_none());
    assert!(h["kid"].is_string());
    // Without any certificate there is no bundle to publish: say what to configure.
    let mut v = vars();
    v.remove("SIGNING_CERT");
    v.remove("PUBLISHED_KEYS");
    let (r, _) = run(
        &app_with(v),
        &svc.store,
        HttpRequest::new("GET", "/certs.pem", ""),
    );
    assert_eq!(r.status, 404);
    assert!(body(&r)["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("SIGNING_CERT"));
}

/// One isolate serving docker-registry 2.8 (`registry.local`: libtrust kid + x5c, the default)
/// and registry 3.x in its key modes: rootcertbundle with a thumbprint kid only (`v3-kid`),
/// a `jwks` file (kid only, libtrust here), and x5c with a thumbprint kid (`v3-x5c`).
#[test]
fn per_service_token_headers() {
    let mut v = vars();
    v.insert("SERVICES", format!("{REG} {CHARTS} v3-kid v3-jwks v3-x5c"));
    v.insert("TOKEN_KID", "v3-kid=thumbprint v3-x5c=thumbprint".into());
    v.insert("TOKEN_X5C", "v3-kid=off v3-jwks=off".into());
    let svc = Svc::with(app_with(v), store());
    let es = crate::token::SigningKey::from_pkcs8_pem(ES256_KEY)
        .unwrap()
        .public_key();
    let (libtrust, thumbprint) = (es.kid(), crate::token::jwk_thumbprint(&es));
    for (service, kid, x5c) in [
        (REG, &libtrust, true),
        ("v3-kid", &thumbprint, false),
        ("v3-jwks", &libtrust, false),
        ("v3-x5c", &thumbprint, true),
    ] {
        let (r, _) = svc.run(get_as(
            &format!("service={service}&scope=repository:org/a:pull"),
            "bob",
            "bob-pw",
        ));
        let token = body(&r)["token"].as_str().unwrap().to_string();
        let (h, _) = segments(&token);
        assert_eq!(h["kid"].as_str(), Some(kid.as_str()), "{service}");
        assert_eq!(h.get("x5c").is_some(), x5c, "{service}");
        assert_eq!(verify(&token)["aud"], service);
        // The proxy's verifier finds the key under either kid form.
        assert_eq!(
            svc.app.verify_token(&token, service, NOW).unwrap().sub,
            "bob"
        );
    }
    // The JWKS lists every key under both kid forms now in use.
    let (r, _) = svc.run(HttpRequest::new("GET", "/.well-known/jwks.json", ""));
    let jwks = body(&r);
    let kids = crate::test_support::jwks_kids(&jwks);
    assert_eq!(kids.len(), 6, "3 keys x 2 kid forms: {jwks}");
    assert_eq!(&kids[..2], [libtrust.as_str(), thumbprint.as_str()]);
    // The RS256 service (ChartMuseum) keeps its own signer: libtrust kid, never x5c.
    let (r, _) = svc.run(client_credentials(
        "artifact-repository:org1/r:pull",
        CHART_KEY,
    ));
    let (h, _) = segments(body(&r)["access_token"].as_str().unwrap());
    assert_eq!((h["alg"].as_str(), h.get("x5c")), (Some("RS256"), None));
}

#[test]
fn token_header_settings_are_checked_at_startup() {
    let mut v = vars();
    v.remove("SIGNING_CERT");
    v.insert("TOKEN_X5C", "on".into());
    let e = Settings::from_vars(|k| v.get(k).cloned()).unwrap_err();
    assert_eq!(e.setting, "TOKEN_X5C");
    let r = config_error_response(&e);
    let msg = body(&r)["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("TOKEN_X5C") && msg.contains("SIGNING_CERT"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- proxy seams

#[test]
fn verify_token_accepts_own_tokens_and_rejects_the_rest() {
    let svc = Svc::new();
    let (r, _) = svc.run(get_as(
        "service=registry.local&scope=repository:org/a:pull",
        "bob",
        "bob-pw",
    ));
    let token = body(&r)["token"].as_str().unwrap().to_string();
    let claims = svc.app.verify_token(&token, REG, NOW + 10).unwrap();
    assert_eq!(claims.sub, "bob");
    assert_eq!(claims.exp, NOW + 300);
    assert_eq!(claims.access[0].actions, ["pull"]);

    assert_eq!(
        svc.app.verify_token(&token, CHARTS, NOW).unwrap_err(),
        Rejected::WrongAudience
    );
    assert_eq!(
        svc.app
            .verify_token(&token, REG, NOW + 300 + CLOCK_LEEWAY_SECS + 1)
            .unwrap_err(),
        Rejected::Expired
    );
    assert_eq!(
        svc.app
            .verify_token(&token, REG, NOW + 300 + CLOCK_LEEWAY_SECS)
            .map(|c| c.sub)
            .unwrap(),
        "bob"
    );
    assert_eq!(
        svc.app
            .verify_token(&token, REG, NOW - CLOCK_LEEWAY_SECS - 1)
            .unwrap_err(),
        Rejected::NotYetValid
    );
    assert_eq!(
        svc.app.verify_token("garbage", REG, NOW).unwrap_err(),
        Rejected::Malformed
    );

    // Tampered payload: signature fails.
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["access"][0]["actions"] = json!(["pull", "push"]);
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    assert_eq!(
        svc.app
            .verify_token(&parts.join("."), REG, NOW)
            .unwrap_err(),
        Rejected::BadSignature
    );

    // Another issuer's app (same keys) refuses it.
    let mut v = vars();
    v.insert("ISSUER", "someone-else".into());
    assert_eq!(
        app_with(v).verify_token(&token, REG, NOW).unwrap_err(),
        Rejected::WrongIssuer
    );

    // RS256 tokens verify too.
    let req = client_credentials("artifact-repository:org1/r:pull", CHART_KEY);
    let t = body(&svc.run(req).0)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        svc.app.verify_token(&t, CHARTS, NOW).unwrap().sub,
        "chart-user"
    );
}

#[test]
fn grant_basic_matches_the_token_endpoint() {
    let svc = Svc::new();
    let want = [crate::token::Access {
        resource_type: "repository".into(),
        name: "org/a".into(),
        actions: vec!["push".into(), "pull".into()],
    }];
    let ctx = ctx_of(&svc.store, None);
    let (account, access) =
        block_on(
            svc.app
                .grant_basic(&basic("bob", "bob-pw"), REG, &want, &ctx),
        )
        .unwrap();
    assert_eq!(account, "bob");
    assert_eq!(access[0].actions, ["pull"]);
    let e = block_on(svc.app.grant_basic(&basic("bob", "nope"), REG, &want, &ctx)).unwrap_err();
    assert!(matches!(e, AuthError::Rejected(_)), "{e:?}");
    let e = block_on(svc.app.grant_basic("Basic ###", REG, &want, &ctx)).unwrap_err();
    assert!(matches!(e, AuthError::Malformed(_)), "{e:?}");
    // A fresh isolate (nothing cached) with failing storage: fail closed.
    let fresh = app();
    svc.store.fail.set(true);
    let ctx = ctx_of(&svc.store, None);
    let e = block_on(fresh.grant_basic(&basic("bob", "bob-pw"), REG, &want, &ctx)).unwrap_err();
    assert!(matches!(e, AuthError::Unavailable(_)), "{e:?}");
}

/// Brute-force throttle and cache-bound tests (own file: other work edits this one).
mod authn_matrix;
mod bounds;
mod federation;
mod hints;
mod netbind;
mod refresh_binding;
mod remembered;
mod revoke;
mod round_trips;
