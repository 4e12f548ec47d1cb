//! Sign-in end to end in the core: a fake provider (federation's test issuer plus a canned token
//! endpoint), MemoryStore for KV, a fixed clock. Every security item of issue 14 has a test that
//! fails if its check is removed.

use super::*;
use crate::config::Settings;
use crate::federation::testkit::{raw_token, FakeIssuer, DISCOVERY, ISS, JWKS_URI, NOW};
use crate::federation::{FetchError, Fetched};
use crate::store::MemoryStore;
use crate::token_service::throttle::fake::{FakeLimiter, Shared};
use crate::token_service::{RequestContext, TokenService};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;

use crate::test_support::block_on;

mod device;

const CLIENT: &str = "tollgate-web";
const AUTHZ: &str = "https://token.actions.githubusercontent.com/authorize";
const TOKEN_EP: &str = "https://token.actions.githubusercontent.com/token";
const BASE: &str = "https://auth.example.com";
const REG: &str = "registry.local";

/// The token endpoint: answers with whatever the test put in `answer`, recording each call.
#[derive(Default)]
struct FakeTokenEndpoint {
    answer: RefCell<Option<Fetched>>,
    calls: RefCell<Vec<(String, Option<String>, String)>>,
}

impl Post for FakeTokenEndpoint {
    async fn post_form(
        &self,
        url: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> Result<Fetched, FetchError> {
        self.calls
            .borrow_mut()
            .push((url.into(), authorization.map(String::from), body.into()));
        self.answer
            .borrow()
            .clone()
            .ok_or_else(|| FetchError::Failed("unreachable".into()))
    }
}

fn vars() -> HashMap<&'static str, String> {
    HashMap::from([
        ("ISSUER", "tollgate-test".to_string()),
        ("SERVICES", REG.to_string()),
        (
            "SIGNING_KEY",
            include_str!("../token_service/testdata/es256.pem").to_string(),
        ),
        (
            "SIGNING_CERT",
            include_str!("../token_service/testdata/es256.crt").to_string(),
        ),
        (
            "SIGNIN_PROVIDERS",
            json!([{"name": "corp", "label": "Corp SSO", "issuer": ISS, "client_id": CLIENT,
                    "account_claim": "preferred_username", "prefix": "corp-",
                    "groups_claim": "groups", "allow_groups": ["staff"]}])
            .to_string(),
        ),
        ("SIGNIN_SECRET_CORP", "s3cret".to_string()),
        ("SIGNIN_SESSION_KEY", "k".repeat(40)),
        ("SIGNIN_URL", BASE.to_string()),
        ("SIGNIN_REGISTRY", "registry.example.com".to_string()),
        ("CACHE_TTL", "0".to_string()),
    ])
}

fn settings(v: &HashMap<&'static str, String>) -> SignInSettings {
    SignInSettings::from_vars(|k| v.get(k).cloned(), &[REG.to_string()])
        .unwrap()
        .unwrap()
}

struct World {
    signin: SignIn,
    /// The token service whose throttle (with `limiter`) sign-in shares.
    app: TokenService,
    idp: FakeIssuer,
    token_ep: FakeTokenEndpoint,
    store: MemoryStore,
    counter: u8,
    now: u64,
    limiter: std::rc::Rc<FakeLimiter>,
}

impl World {
    fn new() -> World {
        Self::with(vars())
    }

    fn with(v: HashMap<&'static str, String>) -> World {
        let limiter = FakeLimiter::new(3);
        let app = TokenService::new(
            Settings::from_vars(|k| v.get(k).cloned()).unwrap(),
            [7u8; 32],
        )
        .unwrap()
        .with_limiter(Box::new(Shared(limiter.clone())));
        let idp = FakeIssuer::new();
        idp.fetch.set(
            DISCOVERY,
            Ok(Fetched::ok(
                json!({"issuer": ISS, "jwks_uri": JWKS_URI, "authorization_endpoint": AUTHZ,
                       "token_endpoint": TOKEN_EP})
                .to_string(),
                Some(600),
            )),
        );
        let store = MemoryStore::default();
        store.data.borrow_mut().insert(
            "acl".into(),
            json!([
                {"match": {"group": "staff", "type": "repository", "name": "team/*"}, "actions": ["pull", "push"], "comment": "staff build"},
                {"match": {"account": "corp-*", "type": "repository", "name": "${account}/*"}, "actions": ["*"]},
                {"match": {"group": "admins"}, "actions": ["*"]}
            ])
            .to_string(),
        );
        World {
            signin: SignIn::new(settings(&v)),
            app,
            idp,
            token_ep: FakeTokenEndpoint::default(),
            store,
            counter: 0,
            now: NOW,
            limiter,
        }
    }

    fn run(&mut self, req: HttpRequest) -> Answer {
        let counter = std::cell::Cell::new(self.counter);
        let rng = |b: &mut [u8]| {
            counter.set(counter.get().wrapping_add(1));
            b.fill(counter.get());
            Ok(())
        };
        let ctx = RequestContext::new(&self.store, &self.idp.fetch, self.now, &rng)
            .with_client_ip(req.header("cf-connecting-ip"));
        let io = Io {
            app: &self.app,
            ctx: &ctx,
            post: &self.token_ep,
        };
        // Routed as the worker routes: the device grant of POST /token is sign-in's.
        let out = if crate::signin::device::is_device_grant(&req) {
            block_on(self.signin.device_token(&req, &io))
        } else {
            block_on(self.signin.handle(&req, &io))
        };
        self.counter = counter.get();
        out
    }

    /// `GET /login`: the authorization URL's query and the login cookie.
    fn start(&mut self) -> (HashMap<String, String>, String) {
        let (r, _) = self.run(HttpRequest::new("GET", "/login", ""));
        assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
        let loc = url::Url::parse(r.header("location").unwrap()).unwrap();
        assert!(loc.as_str().starts_with(AUTHZ));
        let q = loc.query_pairs().into_owned().collect();
        (q, cookie_value(&r, "tg_login"))
    }

    /// The provider answers the code exchange with an ID token of `claims` (merged into a
    /// valid default), signed by its ES256 key.
    fn id_token(&self, nonce: &str, extra: Value) -> String {
        let mut c = json!({"aud": CLIENT, "nonce": nonce, "preferred_username": "alice",
                           "groups": ["staff", "dev"], "email": "alice@example.com"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        self.idp.es(c)
    }

    fn answer(&self, id_token: &str) {
        *self.token_ep.answer.borrow_mut() = Some(Fetched::ok(
            json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token}).to_string(),
            None,
        ));
    }

    /// The provider answers the code exchange with a valid ID token for `nonce`.
    fn answer_valid(&self, nonce: &str) {
        self.answer(&self.id_token(nonce, json!({})));
    }

    fn callback(&mut self, state: &str, login_cookie: &str) -> Answer {
        let q = format!("code=the-code&state={state}");
        self.run(
            HttpRequest::new("GET", "/login/callback", &q)
                .with_header("cookie", &format!("tg_login={login_cookie}"))
                .with_header("cf-connecting-ip", "192.0.2.7"),
        )
    }

    /// A full sign-in with `extra` claims; returns the callback's answer.
    fn sign_in_with(&mut self, extra: Value) -> Answer {
        let (q, c) = self.start();
        let t = self.id_token(&q["nonce"], extra);
        self.answer(&t);
        self.callback(&q["state"], &c)
    }

    /// Signs in and returns the session cookie value.
    fn session(&mut self) -> String {
        let (r, log) = self.sign_in_with(json!({}));
        assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
        assert!(log.unwrap().contains("signin ok"));
        cookie_value(&r, "__Host-tg_session")
    }

    fn page(&mut self, session: &str, query: &str) -> (u16, String) {
        let (r, _) = self.run(
            HttpRequest::new("GET", "/account", query)
                .with_header("cookie", &format!("__Host-tg_session={session}")),
        );
        (r.status, String::from_utf8(r.body).unwrap())
    }

    /// Writes a user record that disables corp-alice (the IdP still vouches for her).
    fn disable_alice(&self) {
        self.store
            .data
            .borrow_mut()
            .insert("user:corp-alice".into(), r#"{"disabled":true}"#.into());
    }

    /// Signs in and opens the account page: the session and the page's CSRF token.
    fn account_session(&mut self) -> (String, String) {
        let s = self.session();
        let csrf = csrf_of(&self.page(&s, "").1);
        (s, csrf)
    }

    /// Creates a personal credential on the account page: `fields` are its name and days.
    fn add_credential(&mut self, session: &str, csrf: &str, fields: &str) -> (u16, String) {
        let body = format!("{fields}&csrf={csrf}");
        self.form("/account/credentials", session, &body)
    }

    /// Revokes the credential whose digest is `id` on the account page.
    fn revoke(&mut self, session: &str, csrf: &str, id: &str) -> (u16, String) {
        self.form(
            "/account/credentials/revoke",
            session,
            &format!("id={id}&csrf={csrf}"),
        )
    }

    fn form(&mut self, path: &str, session: &str, body: &str) -> (u16, String) {
        let (r, _) = self.run(
            HttpRequest::new("POST", path, "")
                .with_header("cookie", &format!("__Host-tg_session={session}"))
                .with_header("origin", BASE)
                .with_body(body.as_bytes().to_vec()),
        );
        (r.status, String::from_utf8(r.body).unwrap())
    }
}

fn set_cookies(r: &HttpResponse) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_ref())
        .collect()
}

fn cookie_value(r: &HttpResponse, name: &str) -> String {
    let c = set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", r.headers));
    c[name.len() + 1..].split(';').next().unwrap().to_string()
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[at..].split('"').next().unwrap().to_string()
}

fn secret_of(page: &str) -> String {
    let at = page.find("<pre id=\"secret\">").unwrap() + 17;
    page[at..].split('<').next().unwrap().to_string()
}

#[test]
fn the_authorization_request_uses_pkce_s256_state_and_nonce() {
    let mut w = World::new();
    let (q, cookie) = w.start();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(q["redirect_uri"], format!("{BASE}/login/callback"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "openid");
    assert_eq!(q["state"].len(), 43);
    assert_eq!(q["nonce"].len(), 43);
    assert_ne!(q["state"], q["nonce"]);
    // The challenge is S256 of the verifier that the exchange later sends.
    w.answer_valid(&q["nonce"]);
    let (r, _) = w.callback(&q["state"], &cookie);
    assert_eq!(r.status, 303);
    let calls = w.token_ep.calls.borrow();
    let (url, auth, body) = &calls[0];
    assert_eq!(url, TOKEN_EP);
    assert_eq!(
        auth.as_deref(),
        Some(format!("Basic {}", STANDARD.encode("tollgate-web:s3cret")).as_str())
    );
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "the-code");
    assert_eq!(
        oidc::code_challenge(&form["code_verifier"]),
        q["code_challenge"]
    );
    assert!(!body.contains("s3cret"), "secret only in the Basic header");
}

#[test]
fn sign_in_sets_a_hardened_session_cookie_and_lands_on_the_account_page() {
    let mut w = World::new();
    let (r, _) = w.sign_in_with(json!({}));
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/account"));
    let session = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("__Host-tg_session="))
        .unwrap();
    for flag in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=3600",
    ] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    let cleared = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("tg_login="))
        .unwrap();
    assert!(cleared.contains("Max-Age=0"), "the login cookie is spent");
    let s = cookie_value(&r, "__Host-tg_session");
    let (status, page) = w.page(&s, "");
    assert_eq!(status, 200);
    assert!(page.contains("corp-alice"), "account with the prefix");
    assert!(page.contains("dev, staff"), "IdP groups");
    assert!(page.contains("rule #0 grants [pull,push] on repository team/* (staff build)"));
    assert!(page.contains("rule #1 grants [*] on repository corp-alice/*"));
    assert!(!page.contains("rule #2"), "the admins rule does not apply");
}

#[test]
fn local_http_drops_secure_only_on_loopback() {
    let mut v = vars();
    v.insert("SIGNIN_URL", "http://127.0.0.1:6487".into());
    let mut w = World::with(v);
    let (r, _) = w.sign_in_with(json!({}));
    let c = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("tg_session="))
        .unwrap();
    assert!(!c.contains("Secure") && c.contains("HttpOnly") && c.contains("SameSite=Lax"));
    let mut v = vars();
    v.insert("SIGNIN_URL", "http://auth.example.com".into());
    assert!(SignInSettings::from_vars(|k| v.get(k).cloned(), &[REG.into()]).is_err());
}

#[test]
fn every_page_has_the_security_headers() {
    let mut w = World::new();
    for (m, p) in [
        ("GET", "/login"),
        ("GET", "/account"),
        ("POST", "/logout"),
        ("GET", "/account/style.css"),
        ("GET", "/device"),
        ("POST", "/device"),
        ("POST", "/device/code"),
    ] {
        let (r, _) = w.run(HttpRequest::new(m, p, ""));
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{p}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("http"),
            "no third-party sources"
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

#[test]
fn a_state_mismatch_is_refused_before_the_code_is_exchanged() {
    let mut w = World::new();
    let (q, c) = w.start();
    w.answer_valid(&q["nonce"]);
    let (r, log) = w.callback("attacker-state", &c);
    assert_eq!(r.status, 401);
    assert!(log.unwrap().contains("state does not match"));
    assert!(w.token_ep.calls.borrow().is_empty(), "no exchange");
}

#[test]
fn a_callback_without_this_browsers_login_cookie_is_refused() {
    let mut w = World::new();
    let (q, c) = w.start();
    let (r, _) = w.run(HttpRequest::new(
        "GET",
        "/login/callback",
        &format!("code=x&state={}", q["state"]),
    ));
    assert_eq!(r.status, 401);
    // A login cookie altered in the browser (e.g. its nonce) does not open.
    let (body, tag) = c.split_once('.').unwrap();
    let mut p: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    p["nonce"] = json!("chosen");
    let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(p.to_string()));
    let (r, _) = w.callback(&q["state"], &forged);
    assert_eq!(r.status, 401);
    assert!(w.token_ep.calls.borrow().is_empty());
}

#[test]
fn a_replayed_callback_is_refused() {
    let mut w = World::new();
    let (q, c) = w.start();
    w.answer_valid(&q["nonce"]);
    assert_eq!(w.callback(&q["state"], &c).0.status, 303);
    let (r, log) = w.callback(&q["state"], &c);
    assert_eq!(r.status, 401);
    assert!(log.unwrap().contains("already used"));
    assert_eq!(w.token_ep.calls.borrow().len(), 1, "the code went out once");
}

#[test]
fn the_provider_refusing_the_code_is_a_failed_sign_in() {
    let mut w = World::new();
    let (q, c) = w.start();
    *w.token_ep.answer.borrow_mut() = Some(Fetched {
        status: 400,
        body: br#"{"error":"invalid_grant","error_description":"grant request is invalid <b>"}"#
            .to_vec(),
        truncated: false,
        max_age: None,
    });
    let (r, _) = w.callback(&q["state"], &c);
    assert_eq!(r.status, 401);
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains("invalid_grant") && !body.contains("<b>"));
}

#[test]
fn sign_in_ignores_any_return_url() {
    let mut w = World::new();
    for evil in ["https://evil.example/", "//evil.example", "/\\evil.example"] {
        let q = format!(
            "return={}",
            form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
        );
        let (r, _) = w.run(HttpRequest::new("GET", "/login", &q));
        let c = cookie_value(&r, "tg_login");
        let loc = url::Url::parse(r.header("location").unwrap()).unwrap();
        let p: HashMap<String, String> = loc.query_pairs().into_owned().collect();
        w.answer_valid(&p["nonce"]);
        let (r, _) = w.run(
            HttpRequest::new(
                "GET",
                "/login/callback",
                &format!("code=c&state={}&return={evil}", p["state"]),
            )
            .with_header("cookie", &format!("tg_login={c}")),
        );
        assert_eq!(r.header("location"), Some("/account"), "{evil}");
    }
}

#[test]
fn id_tokens_are_checked_nonce_expiry_audience_and_algorithm() {
    type Make = Box<dyn Fn(&World, &str) -> String>;
    let cases: Vec<(&str, Make)> = vec![
        (
            "nonce",
            Box::new(|w, n| w.id_token(&format!("{n}x"), json!({}))),
        ),
        ("nonce missing", Box::new(|w, _| w.id_token("", json!({})))),
        (
            "expired",
            Box::new(|w, n| {
                w.id_token(
                    n,
                    json!({"exp": NOW - 120, "iat": NOW - 400, "nbf": NOW - 400}),
                )
            }),
        ),
        (
            "audience",
            Box::new(|w, n| w.id_token(n, json!({"aud": "another-client"}))),
        ),
        (
            "issuer",
            Box::new(|w, n| w.id_token(n, json!({"iss": "https://evil.example"}))),
        ),
        (
            "azp",
            Box::new(|w, n| w.id_token(n, json!({"aud": [CLIENT, "other"], "azp": "other"}))),
        ),
        // alg confusion: HS256 keyed with the public key, and alg none.
        (
            "hs256",
            Box::new(|w, n| {
                let c = FakeIssuer::claims(
                    json!({"aud": CLIENT, "nonce": n, "preferred_username": "alice", "groups": ["staff"]}),
                );
                let _ = w;
                raw_token(json!({"alg": "HS256", "kid": "e1"}), &c, b"mac")
            }),
        ),
        (
            "none",
            Box::new(|_, n| {
                let c = FakeIssuer::claims(
                    json!({"aud": CLIENT, "nonce": n, "preferred_username": "alice", "groups": ["staff"]}),
                );
                raw_token(json!({"alg": "none", "kid": "e1"}), &c, b"")
            }),
        ),
        // An ES256 header on a token signed by the RSA key (kid of the EC key).
        (
            "alg/key mismatch",
            Box::new(|w, n| {
                let c = FakeIssuer::claims(
                    json!({"aud": CLIENT, "nonce": n, "preferred_username": "alice", "groups": ["staff"]}),
                );
                FakeIssuer::sign(&w.idp.rsa, "e1", &c)
            }),
        ),
        (
            "not allowed",
            Box::new(|w, n| w.id_token(n, json!({"groups": ["dev"]}))),
        ),
        (
            "no account claim",
            Box::new(|w, n| w.id_token(n, json!({"preferred_username": 5}))),
        ),
        (
            "colon account",
            Box::new(|w, n| w.id_token(n, json!({"preferred_username": "a:b"}))),
        ),
    ];
    for (what, make) in cases {
        let mut w = World::new();
        let (q, c) = w.start();
        let t = make(&w, &q["nonce"]);
        w.answer(&t);
        let (r, log) = w.callback(&q["state"], &c);
        assert_eq!(r.status, 401, "{what}: {log:?}");
        assert!(
            set_cookies(&r).iter().all(|c| !c.contains("tg_session=")),
            "{what}"
        );
        let log = log.unwrap();
        assert!(!log.contains(&t), "{what}: the token is not logged");
    }
}

#[test]
fn a_disabled_user_record_blocks_sign_in_and_the_page() {
    let mut w = World::new();
    let s = w.session();
    w.disable_alice();
    assert_eq!(w.page(&s, "").0, 403);
    let (r, log) = w.sign_in_with(json!({}));
    assert_eq!(r.status, 401);
    assert!(log.unwrap().contains("disabled"));
}

#[test]
fn failed_sign_ins_are_throttled_per_address() {
    let mut w = World::new();
    let mut last = 0;
    for _ in 0..5 {
        let (_, c) = w.start();
        last = w.callback("wrong", &c).0.status;
    }
    assert_eq!(last, 429);
    assert!(w.limiter.calls.get() >= 3);
    // Throttled before any check: even a correct answer is refused now.
    assert_eq!(w.sign_in_with(json!({})).0.status, 429);
}

/// Sign-in has no throttle of its own: wrong passwords at the token endpoint from an address
/// and failed sign-ins from it count against the same keys, so neither path resets the other.
#[test]
fn wrong_passwords_and_failed_sign_ins_share_one_throttle() {
    let mut w = World::new();
    let rng = |_: &mut [u8]| Ok(());
    for _ in 0..4 {
        let req = HttpRequest::new("GET", "/token", &format!("service={REG}"))
            .with_header(
                "authorization",
                &format!("Basic {}", STANDARD.encode("someone:wrong")),
            )
            .with_header("cf-connecting-ip", "192.0.2.7");
        let ctx = RequestContext::new(&w.store, &crate::federation::NoFetch, w.now, &rng)
            .with_client_ip(Some("192.0.2.7"));
        block_on(w.app.handle(&req, &ctx));
    }
    // The address is now throttled: a correct sign-in from it is refused before any check.
    let (r, log) = w.sign_in_with(json!({}));
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("retry-after").is_some());
    assert_eq!(log.as_deref(), Some("signin refused: throttled"));
}

#[test]
fn forms_need_the_sessions_csrf_token_and_origin() {
    let mut w = World::new();
    let s = w.session();
    let (_, page) = w.page(&s, "");
    let csrf = csrf_of(&page);
    assert_eq!(
        w.form("/account/credentials", &s, "name=laptop&days=7").0,
        403,
        "no token"
    );
    assert_eq!(
        w.form("/account/credentials", &s, "name=laptop&days=7&csrf=forged")
            .0,
        403
    );
    // Another session's token does not work for this one.
    let other = w.session();
    let other_csrf = csrf_of(&w.page(&other, "").1);
    assert_ne!(other_csrf, csrf);
    assert_eq!(w.add_credential(&s, &other_csrf, "name=l&days=7").0, 403);
    let (r, _) = w.run(
        HttpRequest::new("POST", "/logout", "")
            .with_header("cookie", &format!("__Host-tg_session={s}"))
            .with_header("origin", "https://evil.example")
            .with_body(format!("csrf={csrf}").into_bytes()),
    );
    assert_eq!(r.status, 403, "cross-origin post");
    assert!(!w.store.holds_any("personal:"), "nothing made");
    // Behind a proxy that rewrites Host and Origin alike (wrangler dev), the same site still posts;
    // another site with our Host does not.
    for (origin, host, want) in [
        ("http://127.0.0.1:40001", "127.0.0.1:40001", 200),
        ("https://evil.example", "127.0.0.1:40001", 403),
    ] {
        let (r, _) = w.run(
            HttpRequest::new("POST", "/account/credentials", "")
                .with_header("cookie", &format!("__Host-tg_session={s}"))
                .with_header("origin", origin)
                .with_header("host", host)
                .with_body(format!("name=p&days=1&csrf={csrf}").into_bytes()),
        );
        assert_eq!(r.status, want, "{origin}");
    }
    let (status, _) = w.form("/logout", &s, &format!("csrf={csrf}"));
    assert_eq!(status, 200);
}

#[test]
fn a_tampered_or_expired_session_is_signed_out() {
    let mut w = World::new();
    let s = w.session();
    let (body, tag) = s.split_once('.').unwrap();
    let mut v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    v["g"] = json!(["admins"]);
    let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(v.to_string()));
    let (r, _) = w.run(
        HttpRequest::new("GET", "/account", "")
            .with_header("cookie", &format!("__Host-tg_session={forged}")),
    );
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    w.now += 3601;
    assert_eq!(w.page(&s, "").0, 303);
}

fn token_app() -> TokenService {
    let v = vars();
    TokenService::new(
        Settings::from_vars(|k| v.get(k).cloned()).unwrap(),
        [7u8; 32],
    )
    .unwrap()
}

/// GET /token with Basic `user:secret`; returns status and body.
fn token(
    app: &TokenService,
    store: &MemoryStore,
    user: &str,
    secret: &str,
    scope: &str,
    now: u64,
) -> (u16, Value) {
    let q = format!("service={REG}&scope={scope}&offline_token=true&client_id=docker");
    let req = HttpRequest::new("GET", "/token", &q).with_header(
        "authorization",
        &format!("Basic {}", STANDARD.encode(format!("{user}:{secret}"))),
    );
    let n = std::cell::Cell::new(0u8);
    let rng = |b: &mut [u8]| {
        n.set(n.get() + 1);
        b.fill(n.get());
        Ok(())
    };
    let ctx = RequestContext::new(store, &crate::federation::NoFetch, now, &rng);
    let (r, _) = block_on(app.handle(&req, &ctx));
    (r.status, r.json_body().unwrap_or(Value::Null))
}

/// The status of corp-alice's GET /token with `secret` for `scope`, now.
impl World {
    /// The status of GET /token for corp-alice presenting `secret` for `scope`, now.
    fn alice_status(&self, app: &TokenService, secret: &str, scope: &str) -> u16 {
        token(app, &self.store, "corp-alice", secret, scope, NOW).0
    }
}

fn granted(body: &Value) -> Value {
    let t = body["token"].as_str().unwrap();
    let p = t.split('.').nth(1).unwrap();
    serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()["access"].clone()
}

#[test]
fn a_personal_credential_works_like_an_api_key_with_the_idp_groups_until_revoked() {
    let mut w = World::new();
    let (s, csrf) = w.account_session();
    let (status, page) = w.add_credential(&s, &csrf, "name=laptop&days=7");
    assert_eq!(status, 200, "{page}");
    let secret = secret_of(&page);
    // The random part, then the owner as an untrusted read-ahead hint (issue 17).
    assert!(
        secret.starts_with("tgp_") && secret.as_bytes()[47] == b'.',
        "{secret}"
    );
    let hint = crate::credentials::read_hint("tgp_", &secret).unwrap();
    assert_eq!((hint.account.as_str(), hint.api_key), ("corp-alice", None));
    assert!(page
        .contains("docker login &#39;registry.example.com&#39; --username &#39;corp-alice&#39;"));
    assert!(page.contains("podman login") && page.contains("helm registry login"));
    // Only the digest is stored.
    let data = w.store.data.borrow().clone();
    assert!(data.values().all(|v| !v.contains(&secret)));
    let rec_key = format!("personal:{}", secret_digest(&secret));
    assert!(data[&rec_key].contains("\"staff\""));

    let app = token_app();
    let (st, body) = token(
        &app,
        &w.store,
        "corp-alice",
        &secret,
        "repository:team/app:pull,push",
        NOW,
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        granted(&body),
        json!([{"type":"repository","name":"team/app","actions":["pull","push"]}]),
        "IdP group 'staff' reached the ACL"
    );
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token outlives a revoke"
    );
    // The proxy's Basic path uses the same check.
    let basic = format!("Basic {}", STANDARD.encode(format!("corp-alice:{secret}")));
    let req = [crate::token::Access {
        resource_type: "repository".into(),
        name: "team/app".into(),
        actions: vec!["pull".into()],
    }];
    let ctx = RequestContext::without_randomness(&w.store, &crate::federation::NoFetch, NOW);
    let g = block_on(app.grant_basic(&basic, REG, &req, &ctx)).unwrap();
    assert_eq!(g.0, "corp-alice");
    assert_eq!(g.1[0].actions, vec!["pull"]);
    // Another username with the credential is refused.
    assert_eq!(
        token(
            &app,
            &w.store,
            "corp-bob",
            &secret,
            "repository:team/app:pull",
            NOW
        )
        .0,
        401
    );
    // Expired on its own after 7 days (even if KV still had it).
    assert_eq!(
        token(
            &app,
            &w.store,
            "corp-alice",
            &secret,
            "repository:team/app:pull",
            NOW + 7 * 86_400
        )
        .0,
        401
    );

    // Revoke in the page.
    let page = w.page(&s, "").1;
    assert!(page.contains("laptop"));
    let id = secret_digest(&secret);
    let (st, page) = w.revoke(&s, &csrf, &id);
    assert_eq!(st, 200);
    assert!(page.contains("Revoked"));
    assert!(!w.store.data.borrow().contains_key(&rec_key));
    assert_eq!(
        w.alice_status(&app, &secret, "repository:team/app:pull"),
        401
    );
}

#[test]
fn a_disabled_user_record_blocks_personal_credentials() {
    let mut w = World::new();
    let (s, csrf) = w.account_session();
    let secret = secret_of(&w.add_credential(&s, &csrf, "name=ci&days=1").1);
    let app = token_app();
    assert_eq!(w.alice_status(&app, &secret, "repository:team/a:pull"), 200);
    w.disable_alice();
    assert_eq!(w.alice_status(&app, &secret, "repository:team/a:pull"), 401);
}

#[test]
fn credential_expiry_is_bounded_and_nobody_revokes_anothers() {
    let mut w = World::new();
    let (s, csrf) = w.account_session();
    let (st, page) = w.add_credential(&s, &csrf, "name=x&days=31");
    assert_eq!(st, 400);
    assert!(page.contains("1 to 30 days"));
    // Bob's credential, listed under his own index only.
    let bob = Person {
        provider: "corp".into(),
        account: "corp-bob".into(),
        groups: vec![],
    };
    let (bob_secret, _) = block_on(credentials::create(
        &w.store, &bob, "b", 1, 30, &[9; 32], NOW,
    ))
    .unwrap();
    let id = secret_digest(&bob_secret);
    let (st, _) = w.revoke(&s, &csrf, &id);
    assert_eq!(st, 400);
    assert!(w
        .store
        .data
        .borrow()
        .contains_key(&format!("personal:{id}")));
}

#[test]
fn the_explain_form_uses_tollgate_explains_words() {
    let mut w = World::new();
    let s = w.session();
    let (_, page) = w.page(&s, "scope=repository%3Ateam%2Fapp%3Apull%2Cpush%2Cdelete");
    assert!(page.contains("granted: pull, push"), "{page}");
    assert!(page.contains("refused: delete"));
    assert!(page.contains("why:     rule #0 grants only [pull,push]"));
}

#[test]
fn several_providers_offer_a_choice() {
    let mut v = vars();
    v.insert(
        "SIGNIN_PROVIDERS",
        json!([{"name": "corp", "issuer": ISS, "client_id": CLIENT},
               {"name": "lab", "label": "Lab <Keycloak>", "issuer": "https://kc.example/realms/lab", "client_id": "t"}])
        .to_string(),
    );
    v.insert("SIGNIN_SECRET_LAB", "x".into());
    let mut w = World::with(v.clone());
    let (r, _) = w.run(HttpRequest::new("GET", "/login", ""));
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains("/login?provider=lab") && body.contains("Lab &lt;Keycloak&gt;"));
    // A provider without its secret is a configuration error naming the secret.
    v.remove("SIGNIN_SECRET_LAB");
    let e = SignInSettings::from_vars(|k| v.get(k).cloned(), &[REG.into()]).unwrap_err();
    assert!(e.message.contains("SIGNIN_SECRET_LAB"));
    // A provider written as an array is not read by field position (crate::json_object).
    v.insert(
        "SIGNIN_PROVIDERS",
        json!([["corp", null, ISS, CLIENT]]).to_string(),
    );
    let e = SignInSettings::from_vars(|k| v.get(k).cloned(), &[REG.into()]).unwrap_err();
    assert!(
        e.message.contains("expected a JSON object"),
        "{}",
        e.message
    );
}
