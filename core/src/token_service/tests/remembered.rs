//! Remembered API-key logins (`remembered.rs`): a header checked once is answered from memory,
//! and never longer, wider or for another credential than the check itself would answer.

use super::*;
use crate::federation::NoFetch;
use crate::round_trips::Rounds;
use std::rc::Rc;

const SCOPE: &str = "service=registry.local&scope=repository:org/app:pull,push";

fn remembered(app: &TokenService) -> usize {
    app.caches.borrow().remembered.len()
}

fn ci() -> HttpRequest {
    get_as(SCOPE, "ci-bot", CI_KEY)
}

/// The claims that say who and what: everything but the times and the jti.
fn who_and_what(r: &HttpResponse) -> (Value, Value, Value) {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let c = verify(body(r)["token"].as_str().unwrap());
    (c["sub"].clone(), c["aud"].clone(), c["access"].clone())
}

#[test]
fn a_remembered_header_gets_what_the_check_gave_and_reads_nothing() {
    let s = Rounds::new(store());
    let app = app();
    let rng = counter_rng();
    let mut answers = vec![];
    for expected_reads in [1, 0, 0] {
        let ctx = RequestContext::new(&s, &NoFetch, NOW, &rng);
        let ((r, ev), trips) = s.run(app.handle(&ci(), &ctx));
        assert_eq!(trips.reads, expected_reads);
        let ev = ev.unwrap();
        assert_eq!(ev.credential, Some("api_key"));
        assert_eq!(ev.credential_name.as_deref(), Some("ci"));
        assert_eq!(ev.account.as_deref(), Some("ci-bot"));
        answers.push(who_and_what(&r));
    }
    assert_eq!(remembered(&app), 1);
    assert!(answers.iter().all(|a| *a == answers[0]));
    assert_eq!(
        answers[0].2,
        json!([{"type": "repository", "name": "org/app", "actions": ["pull", "push"]}])
    );
}

#[test]
fn another_secret_username_or_scheme_is_checked_in_full() {
    let svc = Svc::new();
    assert_eq!(svc.run(ci()).0.status, 200);
    // A key one character off, the right key under another username: refused as before.
    let mut wrong = CI_KEY.to_string();
    wrong.replace_range(10..11, if &CI_KEY[10..11] == "A" { "B" } else { "A" });
    assert_eq!(svc.run(get_as(SCOPE, "ci-bot", &wrong)).0.status, 401);
    let (r, _) = svc.run(get_as(SCOPE, "alice", CI_KEY));
    assert_eq!(r.status, 401);
    body_says(
        &r,
        &["does not belong to account 'alice'"],
        "another username",
    );
    // Refusals are never remembered; the same key as Bearer is a header of its own.
    assert_eq!(remembered(&svc.app), 1);
    assert_eq!(svc.run(get_bearer(SCOPE, CI_KEY)).0.status, 200);
    assert_eq!(remembered(&svc.app), 2);
}

#[test]
fn a_remembered_key_stops_when_its_records_leave_the_cache() {
    // Revoked (record deleted) and owner disabled, each after being remembered: answered as
    // the record caches answer (for CACHE_TTL after the read), then refused.
    let revoke = |s: &MemoryStore| {
        s.data.borrow_mut().remove(&api_key_key(CI_KEY));
    };
    let disable = |s: &MemoryStore| {
        put(
            s,
            "user:ci-bot",
            json!({"groups": ["org-writers"], "disabled": true}),
        );
    };
    for (change, refusal) in [
        (
            &revoke as &dyn Fn(&MemoryStore),
            "unknown or revoked API key",
        ),
        (&disable, "account 'ci-bot' is disabled"),
    ] {
        let svc = Svc::new();
        assert_eq!(svc.run(ci()).0.status, 200);
        change(&svc.store);
        assert_eq!(svc.run_at(ci(), NOW + 29).0.status, 200);
        let (r, _) = svc.run_at(ci(), NOW + 30);
        assert_eq!(r.status, 401);
        body_says(&r, &[refusal], refusal);
    }
}

#[test]
fn a_remembered_key_stops_at_its_expiry() {
    let svc = Svc::new();
    put(
        &svc.store,
        &api_key_key(CI_KEY),
        json!({"account": "ci-bot", "name": "ci", "created": 1, "expires": NOW + 10}),
    );
    assert_eq!(svc.run(ci()).0.status, 200);
    assert_eq!(svc.run_at(ci(), NOW + 9).0.status, 200);
    let (r, _) = svc.run_at(ci(), NOW + 10);
    assert_eq!(r.status, 401);
    body_says(&r, &["has expired"], "expired key");
}

#[test]
fn nothing_is_remembered_without_a_cache_or_randomness() {
    let mut v = vars();
    v.insert("CACHE_TTL", "0".into());
    let svc = Svc::with(app_with(v), store());
    for _ in 0..2 {
        assert_eq!(svc.run(ci()).0.status, 200);
    }
    assert_eq!(remembered(&svc.app), 0);

    // The proxy's Basic path has no randomness: no isolate key, so no tag and nothing kept.
    let app = app();
    let s = store();
    let ctx = ctx_of(&s, None);
    let want = pull_org_a();
    let header = basic("ci-bot", CI_KEY);
    assert!(block_on(app.grant_basic(&header, REG, &want, &ctx)).is_ok());
    assert_eq!(remembered(&app), 0);
}

#[test]
fn the_proxy_basic_path_refuses_a_remembered_bearer_header() {
    // Remembered at the token endpoint as Bearer: the proxy's Basic path still refuses that
    // header, as it refuses any Bearer API key, and accepts the remembered Basic one.
    let svc = Svc::new();
    assert_eq!(svc.run(get_bearer(SCOPE, CI_KEY)).0.status, 200);
    assert_eq!(svc.run(ci()).0.status, 200);
    assert_eq!(remembered(&svc.app), 2);
    let want = pull_org_a();
    let ctx = ctx_of(&svc.store, None);
    let bearer = format!("Bearer {CI_KEY}");
    let refused = block_on(svc.app.grant_basic(&bearer, REG, &want, &ctx));
    assert!(
        matches!(refused, Err(AuthError::Malformed(_))),
        "{refused:?}"
    );
    let granted = block_on(
        svc.app
            .grant_basic(&basic("ci-bot", CI_KEY), REG, &want, &ctx),
    );
    assert_eq!(granted.unwrap().0, "ci-bot");
}

#[test]
fn a_revocation_in_the_isolate_forgets_every_remembered_header() {
    let svc = Svc::new();
    assert_eq!(svc.run(ci()).0.status, 200);
    assert_eq!(remembered(&svc.app), 1);
    svc.app.forget_refresh("refresh:0");
    assert_eq!(remembered(&svc.app), 0);
    assert_eq!(svc.run(ci()).0.status, 200);
    svc.app.forget_personal("0");
    assert_eq!(remembered(&svc.app), 0);
}

#[test]
fn the_network_binding_is_checked_on_every_remembered_request() {
    let svc = Svc::new();
    put(
        &svc.store,
        &api_key_key(CI_KEY),
        json!({"account": "ci-bot", "name": "ci", "created": 1, "net": {"cidrs": ["127.0.0.1/32"]}}),
    );
    let from = |ip: &str| svc.run(ci().with_header("cf-connecting-ip", ip)).0.status;
    assert_eq!(from("127.0.0.1"), 200);
    assert_eq!(remembered(&svc.app), 1);
    assert_eq!(from("127.0.0.2"), 403);
    assert_eq!(from("127.0.0.1"), 200);
}

#[test]
fn the_second_request_is_classified_as_remembered() {
    let svc = Svc::new();
    let rng = counter_rng();
    let header = basic("ci-bot", CI_KEY);
    let classify = || {
        let ctx = RequestContext::new(&svc.store, &NoFetch, NOW, &rng);
        block_on(credential::classify(
            &svc.app,
            &ctx,
            &Grant::Header,
            Some(&header),
        ))
        .unwrap()
    };
    assert!(matches!(
        classify(),
        Presented::ApiKey {
            header_tag: Some(_),
            ..
        }
    ));
    assert_eq!(svc.run(ci()).0.status, 200);
    match classify() {
        Presented::Remembered(r) => {
            assert_eq!(r.who.account, "ci-bot");
            assert!(!r.bearer);
        }
        other => panic!("not remembered: {other:?}"),
    }
}

#[test]
fn a_remembered_login_is_handed_out_shared_not_copied() {
    let svc = Svc::new();
    let rng = counter_rng();
    let header = basic("ci-bot", CI_KEY);
    let ctx = RequestContext::new(&svc.store, &NoFetch, NOW, &rng);
    let check = || {
        let presented = block_on(credential::classify(
            &svc.app,
            &ctx,
            &Grant::Header,
            Some(&header),
        ))
        .unwrap();
        block_on(authenticate::authenticate(
            &svc.app,
            &ctx,
            &presented,
            "registry.local",
            &mut None,
        ))
        .unwrap()
        .unwrap()
    };
    // The first check's answer is the one remembered; the next two are that same answer.
    let (first, second, third) = (check(), check(), check());
    assert!(Rc::ptr_eq(&first, &second) && Rc::ptr_eq(&second, &third));
    assert_eq!(first.key_name.as_deref(), Some("ci"));
}
