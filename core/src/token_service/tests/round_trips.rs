//! Issue 17: KV round trips per request kind, counted by `crate::round_trips` (no timing): one
//! read round trip on a cold isolate, none on a warm one. A credential Tollgate mints names its
//! account (and a refresh token the API key it came from) in an untrusted hint, so every record
//! is read in that one round trip; one minted before hints existed (a Bearer API key, a refresh
//! token) names them only in its record and costs a second. And failing closed: a KV error in
//! any of the reads issued together is never a grant; a hint that disagrees with its record
//! (`tests/hints.rs`) neither.

use super::*;
use crate::credentials::{encode_credential, encode_secret, API_KEY_PREFIX, REFRESH_PREFIX};
use crate::federation::testkit::{FakeIssuer, AUD, ISS};
use crate::federation::{Fetch, NoFetch};
use crate::round_trips::{Rounds, Trips};
use crate::signin::credentials::PERSONAL_PREFIX;

const IP: &str = "192.0.2.44";

/// One request in a fresh context: (status, round trips).
fn trips<S: Store, F: Fetch>(
    app: &TokenService,
    s: &Rounds<S>,
    f: &F,
    req: &HttpRequest,
) -> (u16, Trips) {
    let rng = counter_rng();
    let ctx = RequestContext::new(s, f, NOW, &rng).with_client_ip(Some(IP));
    let ((resp, _), n) = s.run(app.handle(req, &ctx));
    (resp.status, n)
}

/// Read round trips of `req` on a new isolate, then again on the same (warm) isolate; it
/// writes nothing.
fn cold_warm<F: Fetch>(s: &Rounds<MemoryStore>, f: &F, req: &HttpRequest) -> (u64, u64) {
    let app = app();
    let (status, cold) = trips(&app, s, f, req);
    assert_eq!(status, 200, "cold");
    let (status, warm) = trips(&app, s, f, req);
    assert_eq!(status, 200, "warm");
    assert_eq!((cold.writes, warm.writes), (0, 0), "writes");
    (cold.reads, warm.reads)
}

/// A personal credential of alice in `s`, `hinted` as the sign-in page mints them since issue 17.
fn personal_secret(s: &MemoryStore, hinted: bool) -> String {
    let secret = if hinted {
        encode_credential(PERSONAL_PREFIX, &[5u8; 32], "alice", None)
    } else {
        encode_secret(PERSONAL_PREFIX, &[5u8; 32])
    };
    let record = json!({"account": "alice", "name": "laptop", "created": NOW - 10,
                        "expires": NOW + 3600, "provider": "corp", "groups": ["dev"]});
    s.data.borrow_mut().insert(
        format!("personal:{}", sha256_hex(&secret)),
        record.to_string(),
    );
    secret
}

/// A new API key of `account`, hinted as `tollgate apikey create` mints them, stored in `s`.
pub(super) fn hinted_api_key(s: &MemoryStore, account: &str) -> String {
    api_key_of(
        s,
        account,
        encode_credential(API_KEY_PREFIX, &[3u8; 32], account, None),
    )
}

/// An API key of `account` minted before hints (no account after the secret; `seed` its random
/// bytes), stored in `s`.
fn legacy_api_key(s: &MemoryStore, account: &str, seed: u8) -> String {
    api_key_of(s, account, encode_secret(API_KEY_PREFIX, &[seed; 32]))
}

fn api_key_of(s: &MemoryStore, account: &str, key: String) -> String {
    put(
        s,
        &api_key_key(&key),
        json!({"account": account, "name": "new", "created": 1, "expires": null}),
    );
    key
}

/// The refresh token `user` (password or API key) got from docker login, stored in `s`.
pub(super) fn refresh_token_of(s: &MemoryStore, user: &str, password: &str) -> String {
    let req = get_as(
        "service=registry.local&offline_token=true&client_id=docker",
        user,
        password,
    );
    let rng = counter_rng();
    let ctx = RequestContext::new(s, &NoFetch, NOW, &rng);
    let (r, _) = block_on(app().handle(&req, &ctx));
    body(&r)["refresh_token"].as_str().unwrap().to_string()
}

/// A refresh token of bob in the format before issue 17 (no hint), bound to his password.
fn legacy_refresh_token(s: &MemoryStore) -> String {
    let rt = encode_secret(REFRESH_PREFIX, &[6u8; 32]);
    let hash: Value = serde_json::from_str(&s.data.borrow()["user:bob"]).unwrap();
    let bound = format!(
        "password:{}",
        sha256_hex(hash["password"].as_str().unwrap())
    );
    put(
        s,
        &format!("refresh:{}", sha256_hex(&rt)),
        json!({"account": "bob", "service": REG, "client_id": "docker", "created": NOW - 5,
               "expires": NOW + 3600, "credential": bound}),
    );
    rt
}

pub(super) fn refresh_grant(rt: &str) -> HttpRequest {
    post(
        "/token",
        &format!("grant_type=refresh_token&refresh_token={rt}&service=registry.local"),
    )
}

fn bearer(key: &str) -> HttpRequest {
    get_bearer("service=registry.local", key)
}

/// ChartMuseum's client_credentials: a Bearer API key.
fn chart(key: &str) -> HttpRequest {
    client_credentials("artifact-repository:org1/repo1:pull", key)
}

#[test]
fn one_round_trip_cold_and_none_warm_where_the_request_names_its_records() {
    let s = Rounds::new(store());
    let scope = "service=registry.local&scope=repository:org/a:pull";
    let cases = [
        ("anonymous", get(scope)),
        ("API key (Basic)", get_as(scope, "ci-bot", CI_KEY)),
        ("password (Basic)", get_as(scope, "bob", "bob-pw")),
        (
            "password grant",
            post(
                "/token",
                "grant_type=password&username=bob&password=bob-pw&service=registry.local",
            ),
        ),
    ];
    for (kind, req) in cases {
        assert_eq!(cold_warm(&s, &NoFetch, &req), (1, 0), "{kind}");
    }
    for hinted in [false, true] {
        let secret = personal_secret(&s.inner, hinted);
        let req = get_as(scope, "alice", &secret);
        assert_eq!(cold_warm(&s, &NoFetch, &req), (1, 0), "personal (Basic)");
    }
}

#[test]
fn a_hinted_credential_costs_one_round_trip_cold_whatever_its_kind() {
    let s = Rounds::new(store());
    let chart_key = hinted_api_key(&s.inner, "chart-user");
    let cases = [
        ("client_credentials", chart(&chart_key)),
        (
            "Bearer API key",
            bearer(&hinted_api_key(&s.inner, "ci-bot")),
        ),
        ("Bearer personal", bearer(&personal_secret(&s.inner, true))),
        (
            "refresh token from a password",
            refresh_grant(&refresh_token_of(&s.inner, "bob", "bob-pw")),
        ),
        (
            "refresh token from an API key",
            refresh_grant(&refresh_token_of(&s.inner, "chart-user", &chart_key)),
        ),
    ];
    for (kind, req) in cases {
        assert_eq!(cold_warm(&s, &NoFetch, &req), (1, 0), "{kind}");
    }
}

#[test]
fn a_credential_without_a_hint_costs_one_more_round_trip_cold() {
    // Minted before hints: its record alone names the account (and the API key behind a refresh
    // token), read together in a second round trip. It keeps working.
    let s = Rounds::new(store());
    let cases = [
        (
            "client_credentials",
            chart(&legacy_api_key(&s.inner, "chart-user", 4)),
        ),
        (
            "Bearer API key",
            bearer(&legacy_api_key(&s.inner, "ci-bot", 6)),
        ),
        ("Bearer personal", bearer(&personal_secret(&s.inner, false))),
        (
            "refresh token",
            refresh_grant(&legacy_refresh_token(&s.inner)),
        ),
    ];
    for (kind, req) in cases {
        assert_eq!(cold_warm(&s, &NoFetch, &req), (2, 0), "{kind}");
    }
}

#[test]
fn an_identity_token_costs_one_round_trip_cold_and_none_warm() {
    let fi = FakeIssuer::new();
    let s = Rounds::new(store());
    put(
        &s.inner,
        "issuers",
        json!([{"name": "github", "issuer": ISS, "audiences": [AUD], "username": "github-actions"}]),
    );
    let token = fi.rs(json!({"iat": NOW - 5, "nbf": NOW - 5, "exp": NOW + 295}));
    let req = get_as("service=registry.local", "github-actions", &token);
    assert_eq!(cold_warm(&s, &fi.fetch, &req), (1, 0));
}

#[test]
fn docker_login_adds_one_write_for_its_refresh_token() {
    let s = Rounds::new(store());
    let req = get_as(
        "service=registry.local&offline_token=true&client_id=docker",
        "bob",
        "bob-pw",
    );
    let app = app();
    for (isolate, reads) in [("cold", 1), ("warm", 0)] {
        let (status, n) = trips(&app, &s, &NoFetch, &req);
        assert_eq!(status, 200);
        assert_eq!(
            n,
            Trips { reads, writes: 1 },
            "{isolate}: reads, then the write"
        );
    }
}

#[test]
fn the_proxy_basic_path_reads_together_too() {
    let s = Rounds::new(store());
    let app = app();
    let want = pull_org_a();
    for expected in [1, 0] {
        let ctx = ctx_of(&s, None);
        let (granted, n) = s.run(app.grant_basic(&basic("bob", "bob-pw"), REG, &want, &ctx));
        assert_eq!(granted.unwrap().1[0].actions, ["pull"]);
        assert_eq!(
            n,
            Trips {
                reads: expected,
                writes: 0
            }
        );
    }
}

/// `inner`, except that reading `key` fails.
struct FailKey {
    inner: MemoryStore,
    key: String,
}

impl Store for FailKey {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        if key == self.key {
            return Err(StoreError::Runtime("injected failure".into()));
        }
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        self.inner.put(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}

#[test]
fn an_error_in_any_joined_read_is_never_a_grant() {
    let base = store();
    let secret = personal_secret(&base, true);
    let rt = refresh_token_of(&base, "bob", "bob-pw");
    let refresh = format!("refresh:{}", sha256_hex(&rt));
    let key = hinted_api_key(&base, "ci-bot");
    let hinted = api_key_key(&key);
    let key_rt = refresh_token_of(&base, "ci-bot", &key);
    let key_refresh = format!("refresh:{}", sha256_hex(&key_rt));
    let scope = "service=registry.local&scope=repository:org/a:pull";
    let ci = api_key_key(CI_KEY);
    let personal = format!("personal:{}", sha256_hex(&secret));
    let cases: Vec<(HttpRequest, Vec<&str>)> = vec![
        (
            get_as(scope, "ci-bot", CI_KEY),
            vec!["acl", &ci, "user:ci-bot"],
        ),
        (
            get(scope).with_header("authorization", &format!("Bearer {CI_KEY}")),
            vec!["acl", &ci, "user:ci-bot"],
        ),
        (get_as(scope, "bob", "bob-pw"), vec!["acl", "user:bob"]),
        (get_as(scope, "alice", &secret), vec!["acl", &personal]),
        (bearer(&secret), vec!["acl", &personal]),
        (bearer(&key), vec!["acl", &hinted, "user:ci-bot"]),
        (refresh_grant(&rt), vec!["acl", &refresh, "user:bob"]),
        (
            refresh_grant(&key_rt),
            vec!["acl", &key_refresh, "user:ci-bot", &hinted],
        ),
    ];
    for (req, keys) in cases {
        for key in keys {
            let s = Rounds::new(FailKey {
                inner: MemoryStore::with(base.data.borrow().clone()),
                key: key.to_string(),
            });
            let (status, _) = trips(&app(), &s, &NoFetch, &req);
            assert_eq!(status, 503, "{key} unreadable");
        }
        // `issuers` decides only whether a username is a workload's: an unreadable one never
        // breaks an ordinary credential, and grants nothing by itself.
        let s = Rounds::new(FailKey {
            inner: MemoryStore::with(base.data.borrow().clone()),
            key: "issuers".into(),
        });
        assert_eq!(trips(&app(), &s, &NoFetch, &req).0, 200);
    }
}

/// How [`BulkStore`] answers a bulk read.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Bulk {
    /// Each key's value, as Workers KV's bulk get does.
    Answers,
    /// The whole bulk read fails (KV unreachable): every key's outcome is that error.
    Fails,
    /// One outcome too few (never expected of KV): nothing can be matched to a key.
    Short,
}

/// `inner` with a bulk read of its own, as the worker's KV store has: counts the operations
/// (bulk reads and single reads) a request makes.
struct BulkStore {
    inner: MemoryStore,
    mode: Bulk,
    bulk_reads: std::cell::Cell<u64>,
    single_reads: std::cell::Cell<u64>,
    /// Keys asked for in bulk reads: the single KV gets (operations) they replace.
    bulk_keys: std::cell::Cell<u64>,
}

impl Store for BulkStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.single_reads.set(self.single_reads.get() + 1);
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[String]) -> Vec<Result<Option<String>, StoreError>> {
        self.bulk_reads.set(self.bulk_reads.get() + 1);
        self.bulk_keys.set(self.bulk_keys.get() + keys.len() as u64);
        let failed = || Err(StoreError::Runtime("KV bulk get failed: injected".into()));
        match self.mode {
            Bulk::Answers => keys
                .iter()
                .map(|k| self.inner.data.borrow().get(k).cloned())
                .map(Ok)
                .collect(),
            Bulk::Fails => keys.iter().map(|_| failed()).collect(),
            Bulk::Short => keys.iter().skip(1).map(|_| Ok(None)).collect(),
        }
    }
    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        self.inner.put(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}

/// The request kinds whose records are all named by the request (one read round trip cold),
/// with the keys they read cold: the KV operations they took as single gets.
fn one_batch_requests(base: &MemoryStore) -> Vec<(&'static str, HttpRequest, u64)> {
    let scope = "service=registry.local&scope=repository:org/a:pull";
    let key = hinted_api_key(base, "chart-user");
    vec![
        ("anonymous", get(scope), 1),
        ("API key (Basic)", get_as(scope, "ci-bot", CI_KEY), 4),
        ("password (Basic)", get_as(scope, "bob", "bob-pw"), 3),
        ("Bearer API key", bearer(&key), 4),
        ("Bearer personal", bearer(&personal_secret(base, true)), 4),
        (
            "refresh token from a password",
            refresh_grant(&refresh_token_of(base, "bob", "bob-pw")),
            4,
        ),
        (
            "refresh token from an API key",
            refresh_grant(&refresh_token_of(base, "chart-user", &key)),
            5,
        ),
    ]
}

fn bulk_store(base: &MemoryStore, mode: Bulk) -> BulkStore {
    BulkStore {
        inner: MemoryStore::with(base.data.borrow().clone()),
        mode,
        bulk_reads: Default::default(),
        single_reads: Default::default(),
        bulk_keys: Default::default(),
    }
}

/// (status, bulk reads, single reads) of `req` on `app`'s isolate.
fn operations(app: &TokenService, s: &BulkStore, req: &HttpRequest) -> (u16, u64, u64) {
    let (b, g) = (s.bulk_reads.get(), s.single_reads.get());
    let rng = counter_rng();
    let ctx = RequestContext::new(s, &NoFetch, NOW, &rng).with_client_ip(Some(IP));
    let (resp, _) = block_on(app.handle(req, &ctx));
    (
        resp.status,
        s.bulk_reads.get() - b,
        s.single_reads.get() - g,
    )
}

#[test]
fn a_store_with_a_bulk_read_answers_a_cold_request_in_one_operation() {
    let base = store();
    for (kind, req, keys) in one_batch_requests(&base) {
        let s = bulk_store(&base, Bulk::Answers);
        let app = app();
        assert_eq!(operations(&app, &s, &req), (200, 1, 0), "{kind}: cold");
        assert_eq!(s.bulk_keys.get(), keys, "{kind}: keys in the one operation");
        assert_eq!(operations(&app, &s, &req), (200, 0, 0), "{kind}: warm");
    }
    // Without a hint the user record is known only from the credential's: a single get after
    // the bulk read (acl, issuers, the key's record).
    let legacy = bearer(&legacy_api_key(&base, "ci-bot", 6));
    let s = bulk_store(&base, Bulk::Answers);
    assert_eq!(operations(&app(), &s, &legacy), (200, 1, 1), "before hints");
    assert_eq!(s.bulk_keys.get(), 3, "before hints: keys in the bulk read");
}

#[test]
fn a_failed_or_garbled_bulk_read_is_never_a_grant() {
    let base = store();
    for mode in [Bulk::Fails, Bulk::Short] {
        for (kind, req, _) in one_batch_requests(&base) {
            let s = bulk_store(&base, mode);
            let (status, bulk, _) = operations(&app(), &s, &req);
            assert_eq!((status, bulk), (503, 1), "{kind}: {mode:?}");
        }
    }
}
