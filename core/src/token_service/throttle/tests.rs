use super::fake::{FakeLimiter, Shared};
use super::*;
use crate::test_support::block_on;

fn throttle(limit: u32) -> (Throttle, std::rc::Rc<FakeLimiter>) {
    let fake = FakeLimiter::new(limit);
    let mut t = Throttle::new(ThrottleSettings::default());
    t.set_limiter(Box::new(Shared(fake.clone())));
    (t, fake)
}

fn wrong() -> AuthError {
    AuthError::Rejected("incorrect username or password".into())
}

#[test]
fn settings_defaults_and_errors() {
    let s = ThrottleSettings::from_vars(|_| None).unwrap();
    assert_eq!(s, ThrottleSettings::default());
    assert!(s.enabled && s.period == 60);
    let off = ThrottleSettings::from_vars(|n| (n == "LOGIN_THROTTLE").then(|| "off".into()));
    assert!(!off.unwrap().enabled);
    let ten = ThrottleSettings::from_vars(|n| (n == "LOGIN_THROTTLE_PERIOD").then(|| "10".into()));
    assert_eq!(ten.unwrap().period, 10);
    for (name, v) in [("LOGIN_THROTTLE", "yes"), ("LOGIN_THROTTLE_PERIOD", "30")] {
        let e = ThrottleSettings::from_vars(|n| (n == name).then(|| v.into())).unwrap_err();
        assert_eq!(e.setting, name);
    }
}

#[test]
fn keys_are_bounded_and_group_ipv6_by_64() {
    let long = "a".repeat(10_000);
    assert_eq!(account_key(&long).len(), account_key("bob").len());
    assert_ne!(account_key("alice"), account_key("bob"));
    assert_eq!(ip_key("203.0.113.7"), "ip:203.0.113.7");
    assert_eq!(ip_key("::ffff:203.0.113.7"), "ip:203.0.113.7");
    assert_eq!(
        ip_key("2001:db8:1:2:aaaa::1"),
        ip_key("2001:db8:1:2:ffff:ffff:ffff:ffff")
    );
    assert_ne!(ip_key("2001:db8:1:2::1"), ip_key("2001:db8:1:3::1"));
    assert!(ip_key(&"x".repeat(5000)).len() < 64);
}

#[test]
fn failures_count_until_over_then_refused_before_the_check() {
    let (t, fake) = throttle(3);
    let a = Attempt::password("alice", Some("192.0.2.1"));
    for _ in 0..3 {
        let e = block_on(t.guard::<()>(&a, 1000, async { Err(wrong()) })).unwrap_err();
        assert_eq!(e, wrong());
    }
    let e = block_on(t.guard::<()>(&a, 1000, async { Err(wrong()) })).unwrap_err();
    assert_eq!(e, AuthError::Throttled { retry_after: 60 });
    // Now refused before the check runs, even a correct one.
    let ran = std::cell::Cell::new(false);
    let e = block_on(t.guard(&a, 1030, async {
        ran.set(true);
        Ok(())
    }))
    .unwrap_err();
    assert!(
        !ran.get(),
        "the credential check must not run while throttled"
    );
    assert_eq!(e, AuthError::Throttled { retry_after: 30 });
    // Another account from another address is unaffected.
    let b = Attempt::password("bob", Some("192.0.2.2"));
    assert!(block_on(t.guard(&b, 1030, async { Ok(()) })).is_ok());
    // The period ends.
    assert!(block_on(t.guard(&a, 1060, async { Ok(()) })).is_ok());
    assert_eq!(
        fake.calls.get(),
        8,
        "two keys per failure, none for successes"
    );
}

#[test]
fn successes_never_call_the_limiter() {
    let (t, fake) = throttle(0); // any counted hit would be over
    let a = Attempt::password("ci", Some("192.0.2.9"));
    for i in 0..200 {
        assert!(block_on(t.guard(&a, 1000 + i, async { Ok(()) })).is_ok());
    }
    assert_eq!(fake.calls.get(), 0);
    assert!(t.throttled_len() == 0);
}

#[test]
fn non_credential_failures_are_not_counted() {
    let (t, fake) = throttle(0);
    let a = Attempt::password("alice", None);
    for kind in [
        AuthError::Unavailable("kv".into()),
        AuthError::Broken("record".into()),
        AuthError::Malformed("header".into()),
    ] {
        let e = block_on(t.guard::<()>(&a, 1, {
            let kind = kind.clone();
            async move { Err(kind) }
        }))
        .unwrap_err();
        assert_eq!(e, kind);
    }
    assert_eq!(fake.calls.get(), 0);
}

#[test]
fn limiter_error_keeps_the_refusal_and_grants_nothing() {
    let (t, fake) = throttle(0);
    fake.fail.set(true);
    let a = Attempt::password("alice", Some("192.0.2.1"));
    let e = block_on(t.guard::<()>(&a, 1, async { Err(wrong()) })).unwrap_err();
    assert_eq!(e, wrong());
    assert_eq!(t.throttled_len(), 0);
}

#[test]
fn off_or_without_limiter_is_a_no_op() {
    let t = Throttle::new(ThrottleSettings::default());
    let a = Attempt::password("alice", None);
    for _ in 0..100 {
        let e = block_on(t.guard::<()>(&a, 1, async { Err(wrong()) })).unwrap_err();
        assert_eq!(e, wrong());
    }
    let fake = FakeLimiter::new(0);
    let mut off = Throttle::new(ThrottleSettings {
        enabled: false,
        period: 60,
    });
    off.set_limiter(Box::new(Shared(fake.clone())));
    let e = block_on(off.guard::<()>(&a, 1, async { Err(wrong()) })).unwrap_err();
    assert_eq!(e, wrong());
    assert_eq!(fake.calls.get(), 0);
}

#[test]
fn throttled_set_is_bounded() {
    let mut s = ThrottledSet::new(3);
    s.mark("a", 110, 100);
    s.mark("b", 200, 100);
    s.mark("c", 300, 100);
    // "a" expired at 110: it goes first.
    s.mark("d", 400, 120);
    assert_eq!(s.len(), 3);
    assert_eq!(s.retry_after(&["a".into()], 120), None);
    // Full of live keys: the soonest to expire ("b") goes.
    s.mark("e", 500, 120);
    assert_eq!(s.len(), 3);
    assert_eq!(s.retry_after(&["b".into()], 120), None);
    assert_eq!(s.retry_after(&["e".into()], 120), Some(380));
    for i in 0..10_000 {
        s.mark(&format!("k{i}"), 1000, 120);
    }
    assert_eq!(s.len(), 3);
    // Marking again extends, never shortens.
    s.mark("k9999", 900, 120);
    assert_eq!(s.retry_after(&["k9999".into()], 120), Some(880));
}
