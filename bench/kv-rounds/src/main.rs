//! KV round trips per request kind, on a new isolate (cold) and on the same isolate again (warm),
//! counted by the core's `round_trips.rs` (included by path: it runs unchanged against an older
//! core). A round trip is one wait for KV; reads issued together share one; a round of writes
//! alone (a minted refresh token's put) is counted apart. Prints one line per kind:
//! `kind<TAB>cold reads<TAB>warm reads<TAB>cold writes<TAB>warm writes<TAB>status`. Run
//! through bench/kv-rounds.sh, which compares two commits.
//!
//! `ALLOCS=1` prints instead, per kind, the heap allocations (and reallocations) of a warm request:
//! the same code's largest cost the instruction profile shows beside the signature
//! (bench/README.md, "Steady state in instructions"), counted natively in a second, where the
//! worker's own count takes a callgrind run. `ALLOC_SITES=<part of a kind's name>` also lists
//! where those allocations are made (the three innermost core frames of each).
//!
//! Credentials come in both formats: as Tollgate mints them since issue 17 (with the account as
//! a read-ahead hint) and as before (without). The same strings go to both cores: the older one
//! reads a hinted key as an opaque one.

use base64::Engine as _;
use jwt_compact::{AlgorithmExt as _, Claims, Header};
use serde_json::{json, Value};
use std::collections::HashMap;
use tollgate_core::config::Settings;
use tollgate_core::credentials::{encode_secret, secret_digest};
use tollgate_core::federation::{Fetch, Fetched, MemoryFetch, NoFetch};
use tollgate_core::protocol::HttpRequest;
use tollgate_core::proxy::{Decision, Gate, ProxySettings, PublicHost, RequestMeta};
// The core's names before issue 19's renames (`--features base`, bench/kv-rounds.sh's BASE build).
use tollgate_core::store::MemoryStore;
use tollgate_core::token::alg::Es256;
use tollgate_core::token::SigningKey;
#[cfg(feature = "base")]
use tollgate_core::{
    proxy::AppAuthority as TokenServiceAuthority,
    service::{App as TokenService, RandomError, RequestContext},
};
#[cfg(not(feature = "base"))]
use tollgate_core::{
    proxy::TokenServiceAuthority,
    token_service::{RandomError, RequestContext, TokenService},
};

/// `crate::store` as the included file names it.
mod store {
    pub use tollgate_core::store::*;
}
#[path = "../../../core/src/round_trips.rs"]
#[allow(dead_code)]
mod round_trips;
use round_trips::{Rounds, Trips};

#[cfg(feature = "base")]
const KEY: &str = include_str!("../../../core/src/service/testdata/es256.pem");
#[cfg(not(feature = "base"))]
const KEY: &str = include_str!("../../../core/src/token_service/testdata/es256.pem");
const NOW: u64 = 1_800_000_000;
const REG: &str = "registry.local";
const CHARTS: &str = "chartmuseum.local";
const ISS: &str = "https://token.actions.example";
const JWKS_URI: &str = "https://token.actions.example/jwks";
/// ci-bot's key as the demo policy had it before issue 17 (no hint), and a personal credential of bob's.
const LEGACY_KEY: &str = "tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk";
const LEGACY_PERSONAL: &str = "tgp_BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU";

/// A credential as Tollgate mints it since issue 17: `prefix` + base64url(random) + `.` +
/// base64url(account). Written out here because BASE's core has no `encode_credential`;
/// core/src/credentials/hint.rs tests that it mints this format.
fn hinted(prefix: &str, random: u8, account: &str) -> String {
    let hint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(account);
    format!("{}.{hint}", encode_secret(prefix, &[random; 32]))
}

/// The credentials the bench presents.
struct Keys {
    ci: String,
    personal: String,
}

impl Keys {
    fn new() -> Self {
        Keys {
            ci: hinted("tgk_", 1, "ci-bot"),
            personal: hinted("tgp_", 2, "bob"),
        }
    }
}

fn vars() -> HashMap<&'static str, String> {
    HashMap::from([
        ("ISSUER", "tollgate-bench".to_string()),
        ("SERVICES", format!("{REG} {CHARTS}")),
        ("SIGNING_KEY", KEY.to_string()),
        ("ORIGIN", "http://127.0.0.1:5001".to_string()),
    ])
}

fn app() -> TokenService {
    let v = vars();
    TokenService::new(
        Settings::from_vars(|k| v.get(k).cloned()).unwrap(),
        [7u8; 32],
    )
    .unwrap()
}

/// The store, and a refresh token of bob's minted before issue 17 (no hint) that it holds.
fn store(keys: &Keys) -> (MemoryStore, String) {
    let hash = bcrypt::hash("bob-pw", 4).unwrap();
    let api_key = |key: &str| {
        (
            format!("apikey:{}", secret_digest(key)),
            json!({"account": "ci-bot", "name": "ci", "created": 1, "expires": null}),
        )
    };
    let personal = |key: &str| {
        (
            format!("personal:{}", secret_digest(key)),
            json!({"account": "bob", "name": "laptop", "created": NOW - 10,
                   "expires": NOW + 3600, "provider": "corp", "groups": ["dev"]}),
        )
    };
    let legacy_refresh = encode_secret("tgr_", &[3; 32]);
    let entries = [
        (
            format!("refresh:{}", secret_digest(&legacy_refresh)),
            json!({"account": "bob", "service": REG, "client_id": "docker", "created": NOW - 5,
                   "expires": NOW + 3600, "credential": format!("password:{}", secret_digest(&hash))}),
        ),
        (
            "user:bob".to_string(),
            json!({"password": hash, "groups": ["dev"]}),
        ),
        ("user:ci-bot".to_string(), json!({"groups": ["dev"]})),
        api_key(&keys.ci),
        api_key(LEGACY_KEY),
        personal(&keys.personal),
        personal(LEGACY_PERSONAL),
        (
            "issuers".to_string(),
            json!([{"name": "ci", "issuer": ISS, "audiences": ["tollgate"],
                    "username": "github-actions", "jwks_uri": JWKS_URI}]),
        ),
        (
            "acl".to_string(),
            json!([{"match": {"type": "repository", "name": "*"}, "actions": ["pull", "push"]},
                   {"match": {"type": "artifact-repository", "name": "*"}, "actions": ["pull"]}]),
        ),
    ];
    let store = MemoryStore::with(entries.into_iter().map(|(k, v)| (k, v.to_string())));
    (store, legacy_refresh)
}

fn basic(user: &str, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    format!("Basic {b64}")
}

fn rng(buf: &mut [u8]) -> Result<(), RandomError> {
    use std::cell::Cell;
    thread_local!(static N: Cell<u8> = const { Cell::new(0) });
    let n = N.with(|n| {
        n.set(n.get().wrapping_add(1));
        n.get()
    });
    buf.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = n ^ i as u8);
    Ok(())
}

/// The fake issuer's published keys and an identity token from it.
fn identity() -> (MemoryFetch, String) {
    let SigningKey::Es256(sk) = SigningKey::from_pkcs8_pem(KEY).unwrap() else {
        unreachable!("the fixture is an ES256 key")
    };
    let key = SigningKey::Es256(sk.clone());
    let mut jwk = tollgate_core::token::jwk(&key.public_key());
    jwk["kid"] = json!("k1");
    let fetch = MemoryFetch::default();
    fetch.set(
        JWKS_URI,
        Ok(Fetched::ok(json!({"keys": [jwk]}).to_string(), Some(600))),
    );
    let claims: Value = json!({"iss": ISS, "aud": "tollgate", "sub": "repo:org/app",
        "iat": NOW - 5, "nbf": NOW - 5, "exp": NOW + 295});
    let header = Header::empty().with_key_id("k1").with_token_type("JWT");
    let token = Es256.token(&header, &Claims::new(claims), &sk).unwrap();
    (fetch, token)
}

/// A token-endpoint request's round trips and status.
fn token<F: Fetch>(
    app: &TokenService,
    s: &Rounds<MemoryStore>,
    f: &F,
    req: &HttpRequest,
) -> (Trips, u16) {
    let ctx = RequestContext::new(s, f, NOW, &rng);
    let ((resp, _), n) = s.run(app.handle(req, &ctx));
    (n, resp.status)
}

/// A proxied request's round trips and whether it was forwarded.
fn proxy(
    app: &TokenService,
    gate: &Gate,
    s: &Rounds<MemoryStore>,
    authorization: &str,
) -> (Trips, u16) {
    let public = PublicHost {
        scheme: "https".into(),
        host: "reg.example".into(),
    };
    // A struct literal, not the core's `RequestMeta::new`: BASE's core predates that helper.
    let meta = RequestMeta {
        method: "GET",
        path: "/v2/org/app/manifests/latest",
        query: "",
        authorization: vec![authorization],
        content_type: None,
        header_count: 3,
        public: &public,
    };
    let ctx = RequestContext::new(s, &NoFetch, NOW, &rng);
    let (d, n) = s.run(gate.decide(&TokenServiceAuthority::new(app), &meta, &ctx));
    (
        n,
        if matches!(d, Decision::Forward { .. }) {
            200
        } else {
            401
        },
    )
}

fn get(query: &str) -> HttpRequest {
    HttpRequest::new("GET", "/token", query)
}

fn post(path: &str, query: &str, body: &str) -> HttpRequest {
    HttpRequest::new("POST", path, query)
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(body.as_bytes().to_vec())
}

/// The refresh token a docker login with `authorization` got (minted by another isolate).
fn refresh_token(s: &Rounds<MemoryStore>, authorization: &str) -> String {
    let login = get("service=registry.local&offline_token=true&client_id=docker")
        .with_header("authorization", authorization);
    let ctx = RequestContext::new(&s.inner, &NoFetch, NOW, &rng);
    let ((r, _), _) = s.run(app().handle(&login, &ctx));
    r.json_body().unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn refresh_grant(rt: &str) -> HttpRequest {
    post(
        "/token",
        "",
        &format!("grant_type=refresh_token&refresh_token={rt}&service=registry.local"),
    )
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// Counts the heap allocations made while [`allocations::counting`] runs (this thread only).
mod allocations {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::{Cell, RefCell};

    pub struct Counting;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<usize> = const { Cell::new(0) };
        /// Set while a site is being recorded: recording allocates too.
        static BUSY: Cell<bool> = const { Cell::new(false) };
        static SITES: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }

    fn note() {
        if !ON.with(Cell::get) || BUSY.with(|b| b.replace(true)) {
            return;
        }
        COUNT.with(|c| c.set(c.get() + 1));
        SITES.with(|s| {
            if let Some(sites) = s.borrow_mut().as_mut() {
                let trace = std::backtrace::Backtrace::force_capture().to_string();
                let frames: Vec<&str> = trace
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.starts_with("at ") && l.contains("tollgate_core"))
                    .map(|l| l.split_once(": ").map_or(l, |(_, f)| f))
                    .take(3)
                    .collect();
                sites.push(frames.join(" <- "));
            }
        });
        BUSY.with(|b| b.set(false));
    }

    // SAFETY: every call is passed to the system allocator unchanged; counting touches only
    // thread-locals, and `BUSY` keeps the recording's own allocations out of it.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note();
            System.alloc(layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
            note();
            System.realloc(ptr, layout, size)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout)
        }
    }

    /// `f`'s result, the allocations it made, and with `sites` where each was made.
    pub fn counting<T>(sites: bool, f: impl FnOnce() -> T) -> (T, usize, Vec<String>) {
        COUNT.with(|c| c.set(0));
        SITES.with(|s| *s.borrow_mut() = sites.then(Vec::new));
        ON.with(|o| o.set(true));
        let out = f();
        ON.with(|o| o.set(false));
        let found = SITES.with(|s| s.borrow_mut().take()).unwrap_or_default();
        (out, COUNT.with(Cell::get), found)
    }
}

#[global_allocator]
static COUNTING: allocations::Counting = allocations::Counting;

/// `ALLOCS=1`: one line per kind, its warm request's allocations; with `ALLOC_SITES`, their sites
/// (counted and sorted) under the kinds it names.
fn report_allocations<T>(kind: &str, warm: impl FnOnce() -> T) {
    let sites = std::env::var("ALLOC_SITES").is_ok_and(|k| kind.contains(&k));
    let (_, n, found) = allocations::counting(sites, warm);
    println!("{kind}\t{n}");
    let mut by_site = std::collections::BTreeMap::new();
    for site in found {
        *by_site.entry(site).or_insert(0) += 1;
    }
    let mut by_site: Vec<_> = by_site.into_iter().collect();
    by_site.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (site, n) in by_site {
        println!("  {n:3}  {site}");
    }
}

/// One line: the kind, cold and warm reads, cold and warm writes, "ok" or the statuses.
fn report(kind: &str, (cold, st1): (Trips, u16), (warm, st2): (Trips, u16)) {
    println!(
        "{kind}\t{}\t{}\t{}\t{}\t{}",
        cold.reads,
        warm.reads,
        cold.writes,
        warm.writes,
        status(st1, st2)
    );
}

fn main() {
    let keys = Keys::new();
    let (store, legacy_refresh) = store(&keys);
    let s = Rounds::new(store);
    let scope = "service=registry.local&scope=repository:org/app:pull";
    // A token request for `scope` presenting `authorization`.
    let authed = |authorization: &str| get(scope).with_header("authorization", authorization);
    let (fetch, id_token) = identity();
    let login = get("service=registry.local&offline_token=true&client_id=docker")
        .with_header("authorization", &basic("bob", "bob-pw"));
    // Refresh tokens minted by another isolate (docker login with offline_token), from a password
    // and from an API key; the older core mints them without a hint.
    let rt = refresh_token(&s, &basic("bob", "bob-pw"));
    let key_rt = refresh_token(&s, &basic("ci-bot", &keys.ci));
    // A registry token for the proxy's Bearer path.
    let ctx = RequestContext::new(&s.inner, &NoFetch, NOW, &rng);
    let ((r, _), _) = s.run(app().handle(&authed(&basic("ci-bot", &keys.ci)), &ctx));
    let registry_token = r.json_body().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let chart = |key: &str| {
        post("/oauth/token", "", "grant_type=client_credentials&service=chartmuseum.local&scope=artifact-repository:org/c:pull")
            .with_header("authorization", &bearer(key))
    };

    let kinds: Vec<(&str, HttpRequest)> = vec![
        ("anonymous GET /token", get(scope)),
        ("API key, Basic", authed(&basic("ci-bot", &keys.ci))),
        ("API key, Bearer", authed(&bearer(&keys.ci))),
        (
            "API key, Bearer (minted before hints)",
            authed(&bearer(LEGACY_KEY)),
        ),
        ("ChartMuseum client_credentials", chart(&keys.ci)),
        (
            "ChartMuseum client_credentials (key before hints)",
            chart(LEGACY_KEY),
        ),
        ("password, Basic", authed(&basic("bob", "bob-pw"))),
        (
            "password grant (containerd)",
            post(
                "/token",
                "",
                "grant_type=password&username=bob&password=bob-pw&service=registry.local",
            ),
        ),
        ("docker login (password + offline_token)", login),
        ("refresh token grant (from a password)", refresh_grant(&rt)),
        (
            "refresh token grant (from an API key)",
            refresh_grant(&key_rt),
        ),
        (
            "refresh token grant (minted before hints)",
            refresh_grant(&legacy_refresh),
        ),
        (
            "identity token",
            authed(&basic("github-actions", &id_token)),
        ),
        (
            "personal credential (tgp_), Basic",
            authed(&basic("bob", &keys.personal)),
        ),
        (
            "personal credential (tgp_), Bearer",
            authed(&bearer(&keys.personal)),
        ),
        (
            "personal credential, Bearer (before hints)",
            authed(&bearer(LEGACY_PERSONAL)),
        ),
    ];
    let allocs = std::env::var_os("ALLOCS").is_some();
    for (kind, req) in &kinds {
        let app = app();
        let cold = token(&app, &s, &fetch, req);
        if allocs {
            report_allocations(kind, || token(&app, &s, &fetch, req));
        } else {
            report(kind, cold, token(&app, &s, &fetch, req));
        }
    }
    let v = vars();
    let proxied = [
        ("proxy: Bearer registry token", bearer(&registry_token)),
        ("proxy: Basic password", basic("bob", "bob-pw")),
        ("proxy: Basic API key", basic("ci-bot", &keys.ci)),
    ];
    for (kind, authorization) in &proxied {
        let app = app();
        let ps = ProxySettings::from_vars(|k| v.get(k).cloned(), app.settings()).unwrap();
        let gate = Gate::new(ps, None);
        let cold = proxy(&app, &gate, &s, authorization);
        if allocs {
            report_allocations(kind, || proxy(&app, &gate, &s, authorization));
        } else {
            report(kind, cold, proxy(&app, &gate, &s, authorization));
        }
    }
}

/// "ok" when both requests were answered 200 / forwarded (else the statuses: a broken bench).
fn status(a: u16, b: u16) -> String {
    if a == 200 && b == 200 {
        "ok".into()
    } else {
        format!("{a}/{b}")
    }
}
