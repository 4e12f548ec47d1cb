//! The brute-force throttle through the whole flow (GET /token, POST /token, the proxy's Basic
//! check), the one-bcrypt-per-failure timing rule, and each isolate cache's stated bound
//! (SECURITY.md "Caches and their bounds").

use super::*;
use crate::credentials::bcrypt_runs;
use crate::token_service::throttle::fake::{FakeLimiter, Shared};
use std::rc::Rc;

/// Failures allowed per key and window by the fake limiter in these tests.
const LIMIT: u32 = 3;
const IP: &str = "198.51.100.7";

fn throttled_app(
    vars: HashMap<&'static str, String>,
    limit: u32,
) -> (TokenService, Rc<FakeLimiter>) {
    let fake = FakeLimiter::new(limit);
    let app = app_with(vars).with_limiter(Box::new(Shared(fake.clone())));
    (app, fake)
}

fn login_get(user: &str, pw: &str, ip: &str) -> HttpRequest {
    get_as(
        "service=registry.local&scope=repository:org/a:pull",
        user,
        pw,
    )
    .with_header("cf-connecting-ip", ip)
}

fn login_post(user: &str, pw: &str, ip: &str) -> HttpRequest {
    login_post_with(user, pw, ip, "")
}

fn login_post_with(user: &str, pw: &str, ip: &str, extra: &str) -> HttpRequest {
    post(
        "/token",
        &format!("grant_type=password&username={user}&password={pw}&service=registry.local{extra}"),
    )
    .with_header("cf-connecting-ip", ip)
}

#[test]
fn wrong_passwords_are_throttled_then_refused_before_bcrypt() {
    let (app, fake) = throttled_app(vars(), LIMIT);
    let s = store();
    // A refresh token and an API key obtained before the attack.
    let (r, _) = run(
        &app,
        &s,
        login_post_with("alice", "alice-pw", IP, "&access_type=offline"),
    );
    assert_eq!(r.status, 200);
    let rt = body(&r)["refresh_token"].as_str().unwrap().to_string();

    for i in 0..LIMIT {
        let (r, _) = run(&app, &s, login_get("alice", &format!("guess{i}"), IP));
        assert_eq!(r.status, 401, "failure {i} is still a plain 401");
    }
    let (r, ev) = run(&app, &s, login_get("alice", "guess-last", IP));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(r.header("www-authenticate").is_none());
    let b = body(&r);
    assert_eq!(b["errors"][0]["code"], "TOOMANYREQUESTS");
    assert!(b["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("try again in 60 s"));
    assert!(!b.to_string().contains("guess"), "no secret echoed");
    assert_eq!(
        ev.unwrap()
            .reason
            .as_deref()
            .map(|r| r.starts_with("too_many_requests")),
        Some(true)
    );

    // The correct password is now refused too, without any bcrypt check: a 200 here would let
    // the attacker keep testing guesses.
    let ((r, _), runs) =
        bcrypt_runs::during(|| run_at(&app, &s, login_get("alice", "alice-pw", IP), NOW + 20));
    assert_eq!((r.status, runs), (429, 0));
    assert_eq!(r.header("retry-after"), Some("40"));
    // POST /token answers in OAuth2 format (plus the distribution array).
    let (r, _) = run_at(&app, &s, login_post("alice", "alice-pw", IP), NOW + 20);
    assert_eq!(r.status, 429);
    let b = body(&r);
    assert_eq!(b["error"], "temporarily_unavailable");
    assert!(b["error_description"].as_str().unwrap().contains("40 s"));
    assert_eq!(b["errors"][0]["code"], "TOOMANYREQUESTS");
    for (user, pw, want) in [
        // From another address too (the account key is throttled).
        ("alice", "alice-pw", 429),
        // Not affected: another account from another address (and, below, the refresh token
        // and API keys).
        ("bob", "bob-pw", 200),
    ] {
        let req = login_get(user, pw, "203.0.113.5");
        assert_eq!(run_at(&app, &s, req, NOW + 20).0.status, want, "{user}");
    }
    let refresh = post(
        "/token",
        &format!("grant_type=refresh_token&refresh_token={rt}&service=registry.local"),
    )
    .with_header("cf-connecting-ip", IP);
    assert_eq!(run_at(&app, &s, refresh, NOW + 20).0.status, 200);
    let api =
        get_as("service=registry.local", "ci-bot", CI_KEY).with_header("cf-connecting-ip", IP);
    assert_eq!(run_at(&app, &s, api, NOW + 20).0.status, 200);

    // The period ends in this isolate (the limiter's own window has moved on as well).
    fake.counts.borrow_mut().clear();
    let (r, _) = run_at(&app, &s, login_get("alice", "alice-pw", IP), NOW + 60);
    assert_eq!(r.status, 200);
}

#[test]
fn one_address_spraying_accounts_is_throttled_by_address() {
    let (app, _) = throttled_app(vars(), LIMIT);
    let s = store();
    for i in 0..LIMIT {
        let (r, _) = run(&app, &s, login_get(&format!("user{i}"), "x", IP));
        assert_eq!(r.status, 401);
    }
    assert_eq!(run(&app, &s, login_get("user-next", "x", IP)).0.status, 429);
    // Every password login from that address now waits, even a correct one...
    assert_eq!(run(&app, &s, login_get("bob", "bob-pw", IP)).0.status, 429);
    // ...but not from elsewhere.
    assert_eq!(
        run(&app, &s, login_get("bob", "bob-pw", "192.0.2.1"))
            .0
            .status,
        200
    );
}

#[test]
fn a_burst_of_correct_logins_is_never_counted() {
    // Limit 0: any counted attempt would be over. CACHE_TTL=0 forces bcrypt on every request, so
    // this also holds for the uncached path.
    for cache_ttl in ["30", "0"] {
        let mut v = vars();
        v.insert("CACHE_TTL", cache_ttl.into());
        let (app, fake) = throttled_app(v, 0);
        let s = store();
        // Interleaved futures, as concurrent requests are in one isolate.
        let reqs: Vec<HttpRequest> = (0..50)
            .map(|i| {
                if i % 2 == 0 {
                    login_get("alice", "alice-pw", IP)
                } else {
                    login_post("bob", "bob-pw", IP)
                }
            })
            .collect();
        let futures: Vec<_> = reqs
            .iter()
            .map(|req| {
                Box::pin(async {
                    let rng = counter_rng();
                    let ctx = RequestContext::new(&s, &crate::federation::NoFetch, NOW, &rng)
                        .with_client_ip(req.header("cf-connecting-ip"));
                    app.handle(req, &ctx).await.0.status
                })
            })
            .collect();
        let statuses = block_on(join_all(futures));
        assert!(statuses.iter().all(|&st| st == 200), "{statuses:?}");
        assert_eq!(fake.calls.get(), 0, "CACHE_TTL={cache_ttl}");
        // And the proxy's Basic check.
        for _ in 0..20 {
            let r =
                block_on(app.grant_basic(&basic("bob", "bob-pw"), REG, &[], &ctx_of(&s, Some(IP))));
            assert!(r.is_ok());
        }
        assert_eq!(fake.calls.get(), 0);
    }
}

/// Polls every future in turn until all are done (a tiny join_all: the core has no futures crate).
async fn join_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Copy,
{
    use std::task::Poll;
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                if let Poll::Ready(v) = std::pin::Pin::new(f).poll(cx) {
                    *slot = Some(v);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[test]
fn proxy_basic_credentials_are_throttled_too() {
    let (app, _) = throttled_app(vars(), LIMIT);
    let s = store();
    let ctx = ctx_of(&s, Some(IP));
    for _ in 0..LIMIT {
        let e = block_on(app.grant_basic(&basic("bob", "nope"), REG, &[], &ctx)).unwrap_err();
        assert!(matches!(e, AuthError::Rejected(_)), "{e:?}");
    }
    let e = block_on(app.grant_basic(&basic("bob", "nope"), REG, &[], &ctx)).unwrap_err();
    assert_eq!(e, AuthError::Throttled { retry_after: 60 });
    // Shared with the token endpoint: the same isolate refuses bob's GET /token as well.
    let (r, _) = run(&app, &s, login_get("bob", "bob-pw", "192.0.2.1"));
    assert_eq!(r.status, 429);
    // The gate turns it into a 429 in distribution format.
    let authority = crate::proxy::TokenServiceAuthority::new(&app);
    let later = RequestContext::without_randomness(&s, &crate::federation::NoFetch, NOW + 1)
        .with_client_ip(Some(IP));
    let rejected = block_on(crate::proxy::Authority::grant_basic(
        &authority,
        &basic("bob", "bob-pw"),
        REG,
        &[],
        &later,
    ))
    .unwrap_err();
    assert_eq!(rejected, AuthError::Throttled { retry_after: 59 });
    let resp = crate::proxy::authorize::too_many_requests_response(59);
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("retry-after"), Some("59"));
    assert_eq!(
        resp.json_body().unwrap()["errors"][0]["code"],
        "TOOMANYREQUESTS"
    );
}

#[test]
fn limiter_failure_fails_closed_for_that_attempt_only() {
    let (app, fake) = throttled_app(vars(), 0);
    fake.fail.set(true);
    let s = store();
    for _ in 0..10 {
        assert_eq!(run(&app, &s, login_get("alice", "nope", IP)).0.status, 401);
    }
    assert_eq!(
        run(&app, &s, login_get("alice", "alice-pw", IP)).0.status,
        200
    );
}

#[test]
fn every_password_failure_costs_exactly_one_bcrypt_check() {
    let app = app();
    let s = store();
    let cases = [
        ("unknown user", "nobody", "pw"),
        ("user without a password", "ci-bot", "pw"),
        ("known user, wrong password", "bob", "nope"),
        ("disabled user, wrong password", "carol", "nope"),
        ("disabled user, right password", "carol", "carol-pw"),
    ];
    for (what, user, pw) in cases {
        let ((r, _), runs) = bcrypt_runs::during(|| run(&app, &s, login_get(user, pw, IP)));
        assert_eq!((r.status, runs), (401, 1), "{what}");
    }
    // An account name with control characters, or an over-long one, is malformed input, refused
    // by its syntax alone (400, no lookup): that says nothing about which accounts exist.
    let ((r, _), runs) = bcrypt_runs::during(|| run(&app, &s, login_get("bad\u{7}name", "pw", IP)));
    assert_eq!((r.status, runs), (400, 0));
    let long = "a".repeat(crate::limits::MAX_ACCOUNT_LEN + 1);
    let ((r, _), runs) = bcrypt_runs::during(|| run(&app, &s, login_get(&long, "pw", IP)));
    assert_eq!((r.status, runs), (400, 0));
    // The password grant too.
    let ((r, _), runs) = bcrypt_runs::during(|| run(&app, &s, login_post("nobody", "pw", IP)));
    assert_eq!((r.status, runs), (401, 1));
    // A correct password: one check, then none while the verified cache holds it.
    let ((r, _), runs) = bcrypt_runs::during(|| run(&app, &s, login_get("bob", "bob-pw", IP)));
    assert_eq!((r.status, runs), (200, 1));
    let ((r, _), runs) = bcrypt_runs::during(|| run(&app, &s, login_get("bob", "bob-pw", IP)));
    assert_eq!((r.status, runs), (200, 0));
    // The dummy hash has the CLI's default cost, so an unknown account costs what a known one does.
    assert!(crate::credentials::DUMMY_HASH.starts_with("$2y$10$"));
}

/// The second review's finding: a cost-17 hash cost 11.7 s of worker CPU per wrong password, and
/// a hash with a bad salt alphabet ran bcrypt and then always answered 401. Both are malformed
/// records now: a 500 naming the record, with no bcrypt run, for any password.
#[test]
fn hashes_the_validator_refuses_are_malformed_records_and_never_run_bcrypt() {
    let app = app();
    let s = store();
    let good = bcrypt::hash_with_salt("dave-pw", 10, [7u8; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    for (i, (what, hash, needle)) in [
        ("cost 17", format!("$2y$17{}", &good[6..]), "cost 17"),
        ("cost 31", format!("$2y$31{}", &good[6..]), "cost 31"),
        ("bad salt", format!("{}!{}", &good[..7], &good[8..]), "salt"),
    ]
    .into_iter()
    .enumerate()
    {
        let user = format!("dave{i}");
        put(
            &s,
            &format!("user:{user}"),
            json!({"password": hash, "groups": []}),
        );
        for pw in ["dave-pw", "wrong"] {
            let ((r, _), runs) = bcrypt_runs::during(|| run(&app, &s, login_get(&user, pw, IP)));
            assert_eq!((r.status, runs), (500, 0), "{what}");
            body_says(&r, &[&format!("user:{user}"), needle], what);
        }
    }
}

// ---- cache bounds: every record change takes effect within CACHE_TTL in an isolate ----

const TTL: u64 = 30;

/// `req` is accepted at NOW and until NOW + TTL - 1 from the isolate cache, refused from NOW + TTL.
fn refused_within_ttl(svc: &Svc, req: &HttpRequest, change: impl FnOnce()) {
    assert_eq!(svc.run_at(req.clone(), NOW).0.status, 200);
    change();
    assert_eq!(
        svc.run_at(req.clone(), NOW + TTL - 1).0.status,
        200,
        "served from the cache inside the bound"
    );
    let (r, _) = svc.run_at(req.clone(), NOW + TTL);
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn disabling_a_user_takes_effect_within_cache_ttl() {
    let svc = Svc::new();
    let req = login_get("bob", "bob-pw", IP);
    refused_within_ttl(&svc, &req, || {
        put(
            &svc.store,
            "user:bob",
            json!({"password": hash("bob-pw"), "disabled": true, "groups": []}),
        )
    });
}

#[test]
fn deleting_a_user_takes_effect_within_cache_ttl() {
    let svc = Svc::new();
    let req = login_get("bob", "bob-pw", IP);
    refused_within_ttl(&svc, &req, || {
        svc.store.data.borrow_mut().remove("user:bob");
    });
}

#[test]
fn a_password_change_takes_effect_within_cache_ttl() {
    let svc = Svc::new();
    let old = login_get("bob", "bob-pw", IP);
    let new = login_get("bob", "bob-new", IP);
    refused_within_ttl(&svc, &old, || {
        put(
            &svc.store,
            "user:bob",
            json!({"password": hash("bob-new"), "groups": ["org-readers"]}),
        )
    });
    assert_eq!(svc.run_at(new, NOW + TTL).0.status, 200);
    // The old password's verified-cache entry (keyed by the old hash) can never hit again.
    assert_eq!(svc.run_at(old, NOW + TTL + 1).0.status, 401);
}

#[test]
fn revoking_an_api_key_takes_effect_within_cache_ttl() {
    let svc = Svc::new();
    let req = get_as("service=registry.local", "ci-bot", CI_KEY);
    refused_within_ttl(&svc, &req, || {
        svc.store.data.borrow_mut().remove(&api_key_key(CI_KEY));
    });
}

#[test]
fn disabling_the_owner_of_an_api_key_takes_effect_within_cache_ttl() {
    let svc = Svc::new();
    let req = get_as("service=registry.local", "ci-bot", CI_KEY);
    refused_within_ttl(&svc, &req, || {
        put(&svc.store, "user:ci-bot", json!({"disabled": true}))
    });
}

#[test]
fn deleting_a_refresh_token_revokes_it_within_cache_ttl() {
    let svc = Svc::new();
    let (r, _) = svc.run(login_post_with("bob", "bob-pw", IP, "&access_type=offline"));
    let rt = body(&r)["refresh_token"].as_str().unwrap().to_string();
    let req = post(
        "/token",
        &format!("grant_type=refresh_token&refresh_token={rt}&service=registry.local"),
    );
    assert_eq!(svc.run_at(req.clone(), NOW).0.status, 200);
    svc.store
        .data
        .borrow_mut()
        .remove(&format!("refresh:{}", sha256_hex(&rt)));
    assert_eq!(
        svc.run_at(req.clone(), NOW + TTL - 1).0.status,
        200,
        "cached record"
    );
    assert_eq!(svc.run_at(req.clone(), NOW + TTL).0.status, 401);
    // An isolate that had not cached it refuses it at once.
    assert_eq!(run_at(&self::app(), &svc.store, req, NOW).0.status, 401);
}

#[test]
fn an_acl_change_takes_effect_within_cache_ttl() {
    let svc = Svc::new();
    let req = login_get("bob", "bob-pw", IP);
    let granted = |now| {
        let (r, _) = svc.run_at(req.clone(), now);
        let token = body(&r)["token"].as_str().unwrap().to_string();
        actions(&verify(&token), "org/a")
    };
    assert_eq!(granted(NOW), ["pull"]);
    put(&svc.store, "acl", json!([]));
    assert_eq!(granted(NOW + TTL - 1), ["pull"]);
    assert!(granted(NOW + TTL).is_empty());
}

#[test]
fn cache_ttl_zero_means_every_change_is_seen_at_once() {
    let mut v = vars();
    v.insert("CACHE_TTL", "0".into());
    let svc = Svc::with(app_with(v), store());
    let req = login_get("bob", "bob-pw", IP);
    assert_eq!(svc.run_at(req.clone(), NOW).0.status, 200);
    svc.store.data.borrow_mut().remove("user:bob");
    assert_eq!(svc.run_at(req, NOW).0.status, 401);
}
