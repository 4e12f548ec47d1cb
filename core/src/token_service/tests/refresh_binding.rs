//! Issue 12, finding 3: a refresh token lives only as long as the credential that minted it,
//! within `CACHE_TTL` (the user and API-key records are cached); the operator can revoke all of
//! an account's refresh tokens without knowing them. On the old code every refusal below was a
//! 200 for 30 days.

use super::*;

/// `CACHE_TTL` default: a change is still served at +29 s and refused at +30 s.
const TTL: u64 = 30;

fn offline_login(app: &TokenService, s: &MemoryStore, auth: &str) -> String {
    let req = get("service=registry.local&offline_token=true&client_id=docker")
        .with_header("authorization", auth);
    let (r, _) = run(app, s, req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    body(&r)["refresh_token"].as_str().unwrap().to_string()
}

fn refresh_at(app: &TokenService, s: &MemoryStore, rt: &str, at: u64) -> (u16, String) {
    let req = post(
        "/token",
        &format!("grant_type=refresh_token&refresh_token={rt}&service=registry.local"),
    );
    let (r, _) = run_at(app, s, req, at);
    (r.status, String::from_utf8_lossy(&r.body).to_string())
}

fn set(s: &MemoryStore, key: &str, value: Value) {
    s.data.borrow_mut().insert(key.into(), value.to_string());
}

/// The refresh token still works while the old record is cached (at +TTL-1), then is refused
/// with a message that says `why`.
fn refused_once_the_cache_expires(app: &TokenService, s: &MemoryStore, rt: &str, why: &str) {
    let cached = refresh_at(app, s, rt, NOW + TTL - 1).0;
    assert_eq!(cached, 200, "cached record");
    let (st, text) = refresh_at(app, s, rt, NOW + TTL);
    assert_eq!(st, 401);
    assert!(text.contains(why), "{text}");
}

#[test]
fn a_password_change_ends_the_refresh_tokens_it_minted() {
    let svc = Svc::new();
    let rt = offline_login(&svc.app, &svc.store, &basic("alice", "alice-pw"));
    assert_eq!(refresh_at(&svc.app, &svc.store, &rt, NOW + 1).0, 200);
    set(
        &svc.store,
        "user:alice",
        json!({"password": hash("new-pw"), "groups": ["dev", "org-writers"]}),
    );
    refused_once_the_cache_expires(&svc.app, &svc.store, &rt, "password that has changed");
    // A login with the new password mints a token that works.
    let fresh = offline_login(&svc.app, &svc.store, &basic("alice", "new-pw"));
    assert_eq!(refresh_at(&svc.app, &svc.store, &fresh, NOW + TTL).0, 200);
}

#[test]
fn revoking_or_expiring_the_api_key_ends_its_refresh_tokens() {
    let svc = Svc::new();
    let rt = offline_login(&svc.app, &svc.store, &basic("ci-bot", CI_KEY));
    assert_eq!(refresh_at(&svc.app, &svc.store, &rt, NOW + 1).0, 200);
    let key = api_key_key(CI_KEY);
    svc.store.data.borrow_mut().remove(&key);
    refused_once_the_cache_expires(
        &svc.app,
        &svc.store,
        &rt,
        "API key that was revoked or has expired",
    );

    // Expiry ends it at once: the cached record carries the expiry.
    let svc = Svc::new();
    set(
        &svc.store,
        &key,
        json!({"account": "ci-bot", "name": "ci", "created": 1, "expires": NOW + 10}),
    );
    let rt = offline_login(&svc.app, &svc.store, &basic("ci-bot", CI_KEY));
    assert_eq!(refresh_at(&svc.app, &svc.store, &rt, NOW + 9).0, 200);
    assert_eq!(refresh_at(&svc.app, &svc.store, &rt, NOW + 10).0, 401);
}

#[test]
fn the_operator_revokes_every_refresh_token_of_an_account() {
    let svc = Svc::new();
    let by_password = offline_login(&svc.app, &svc.store, &basic("alice", "alice-pw"));
    set(
        &svc.store,
        "user:alice",
        json!({"password": hash("alice-pw"), "groups": ["dev", "org-writers"],
               "refresh_revoked_before": NOW + 5}),
    );
    refused_once_the_cache_expires(&svc.app, &svc.store, &by_password, "operator revoked");
    // Logging in again afterwards works.
    let (r, _) = svc.run_at(
        get_as(
            "service=registry.local&offline_token=true",
            "alice",
            "alice-pw",
        ),
        NOW + TTL + 1,
    );
    let again = body(&r)["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        refresh_at(&svc.app, &svc.store, &again, NOW + TTL + 2).0,
        200
    );
}

#[test]
fn a_refresh_record_without_its_credential_is_refused() {
    let svc = Svc::new();
    let rt = offline_login(&svc.app, &svc.store, &basic("alice", "alice-pw"));
    let key = format!("refresh:{}", sha256_hex(&rt));
    let mut record: Value = serde_json::from_str(&svc.store.data.borrow()[&key]).unwrap();
    assert!(record["credential"]
        .as_str()
        .unwrap()
        .starts_with("password:"));
    assert!(
        !record["credential"].as_str().unwrap().contains("$2"),
        "only a digest of the hash is stored"
    );
    record.as_object_mut().unwrap().remove("credential");
    set(&svc.store, &key, record);
    // Another isolate, which reads the edited record (the minting one cached its own write).
    let (st, text) = refresh_at(&self::app(), &svc.store, &rt, NOW + 1);
    assert_eq!(st, 401);
    assert!(text.contains("log in again"), "{text}");
}

#[test]
fn more_header_fields_than_the_limit_is_431_never_a_trimmed_set() {
    // Issue 12, finding 4: the worker kept the first 100 headers in sorted order, so ~100 junk
    // headers pushed out cf-connecting-ip (the throttle's address and the audit line).
    let svc = Svc::new();
    let mut req = get_as("service=registry.local", "alice", "alice-pw")
        .with_header("cf-connecting-ip", "192.0.2.1");
    for i in 0..98 {
        req = req.with_header(&format!("a-pad-{i:03}"), "x");
    }
    assert_eq!(svc.run(req.clone()).0.status, 200, "100 fields pass");
    let req = req.with_header("a-pad-one-more", "x");
    let (r, ev) = svc.run(req);
    assert_eq!(r.status, 431);
    assert!(ev.is_none(), "refused before any credential is read");
    assert!(String::from_utf8_lossy(&r.body).contains("at most 100"));
}
