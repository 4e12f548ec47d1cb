//! Issue 17: KV round trips per request kind, counted by `crate::round_trips` (no timing): one
//! on a cold isolate, two where the credential's record alone names the account (a Bearer API
//! key, a refresh token), none on a warm isolate. And failing closed: a KV error in any of the
//! reads issued together is never a grant.

use super::*;
use crate::credentials::encode_secret;
use crate::federation::testkit::{FakeIssuer, AUD, ISS};
use crate::federation::{Fetch, NoFetch};
use crate::round_trips::Rounds;
use crate::signin::credentials::PERSONAL_PREFIX;

const IP: &str = "192.0.2.44";

/// One request in a fresh context: (status, round trips).
fn trips<S: Store, F: Fetch>(
    app: &TokenService,
    s: &Rounds<S>,
    f: &F,
    req: &HttpRequest,
) -> (u16, u64) {
    let rng = counter_rng();
    let ctx = RequestContext::new(s, f, NOW, &rng).with_client_ip(Some(IP));
    let ((resp, _), n) = s.run(app.handle(req, &ctx));
    (resp.status, n)
}

/// Round trips of `req` on a new isolate, then again on the same (warm) isolate.
fn cold_warm<F: Fetch>(s: &Rounds<MemoryStore>, f: &F, req: &HttpRequest) -> (u64, u64) {
    let app = app();
    let (status, cold) = trips(&app, s, f, req);
    assert_eq!(status, 200, "cold");
    let (status, warm) = trips(&app, s, f, req);
    assert_eq!(status, 200, "warm");
    (cold, warm)
}

fn personal_secret(s: &MemoryStore) -> String {
    let secret = encode_secret(PERSONAL_PREFIX, &[5u8; 32]);
    let record = json!({"account": "alice", "name": "laptop", "created": NOW - 10,
                        "expires": NOW + 3600, "provider": "corp", "groups": ["dev"]});
    s.data.borrow_mut().insert(
        format!("personal:{}", sha256_hex(&secret)),
        record.to_string(),
    );
    secret
}

/// A refresh token bob's docker login stored in `s`.
fn refresh_token_of(s: &MemoryStore) -> String {
    let req = get_as(
        "service=registry.local&offline_token=true&client_id=docker",
        "bob",
        "bob-pw",
    );
    let rng = counter_rng();
    let ctx = RequestContext::new(s, &NoFetch, NOW, &rng);
    let (r, _) = block_on(app().handle(&req, &ctx));
    body(&r)["refresh_token"].as_str().unwrap().to_string()
}

fn refresh_grant(rt: &str) -> HttpRequest {
    post(
        "/token",
        &format!("grant_type=refresh_token&refresh_token={rt}&service=registry.local"),
    )
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
    let secret = personal_secret(&s.inner);
    let req = get_as(scope, "alice", &secret);
    assert_eq!(cold_warm(&s, &NoFetch, &req), (1, 0), "personal (Basic)");
}

#[test]
fn a_record_that_alone_names_the_account_costs_one_more_round_trip_cold() {
    let s = Rounds::new(store());
    // ChartMuseum's client_credentials: a Bearer API key, whose record names its account.
    let req = HttpRequest::new(
        "POST",
        "/oauth/token",
        "grant_type=client_credentials&scope=artifact-repository:org1/repo1:pull",
    )
    .with_header("authorization", &format!("Bearer {CHART_KEY}"));
    assert_eq!(cold_warm(&s, &NoFetch, &req), (2, 0), "client_credentials");
    let bearer =
        get("service=registry.local").with_header("authorization", &format!("Bearer {CI_KEY}"));
    assert_eq!(cold_warm(&s, &NoFetch, &bearer), (2, 0), "Bearer API key");
    let secret = personal_secret(&s.inner);
    let bearer =
        get("service=registry.local").with_header("authorization", &format!("Bearer {secret}"));
    assert_eq!(cold_warm(&s, &NoFetch, &bearer), (2, 0), "Bearer personal");
    // A refresh token's record names the account (and the API key behind it): read together.
    let rt = refresh_token_of(&s.inner);
    assert_eq!(
        cold_warm(&s, &NoFetch, &refresh_grant(&rt)),
        (2, 0),
        "refresh"
    );
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
    assert_eq!(
        cold_warm(&s, &NoFetch, &req),
        (2, 1),
        "reads, then the write"
    );
}

#[test]
fn the_proxy_basic_path_reads_together_too() {
    let s = Rounds::new(store());
    let app = app();
    let want = [crate::token::Access {
        resource_type: "repository".into(),
        name: "org/a".into(),
        actions: vec!["pull".into()],
    }];
    for expected in [1, 0] {
        let ctx = RequestContext::without_randomness(&s, &NoFetch, NOW);
        let (granted, n) = s.run(app.grant_basic(&basic("bob", "bob-pw"), REG, &want, &ctx));
        assert_eq!(granted.unwrap().1[0].actions, ["pull"]);
        assert_eq!(n, expected);
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
    let secret = personal_secret(&base);
    let rt = refresh_token_of(&base);
    let refresh = format!("refresh:{}", sha256_hex(&rt));
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
        (refresh_grant(&rt), vec!["acl", &refresh, "user:bob"]),
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
