//! Issue 17: the read-ahead hint of a credential Tollgate mints (`credentials::read_hint`) is
//! untrusted. It only chooses what is read ahead; the record is found by the digest of the whole
//! credential, and one whose record names another account than its hint is refused like an
//! unknown credential, even when the hint names an account that exists. Without that check,
//! each refusal below authenticated as the record's account.

use super::round_trips::{hinted_api_key, refresh_grant, refresh_token_of};
use super::*;
use crate::credentials::{encode_credential, API_KEY_PREFIX, REFRESH_PREFIX};
use crate::signin::credentials::PERSONAL_PREFIX;

const SCOPE: &str = "service=registry.local&scope=repository:org/a:pull";

fn bearer(key: &str) -> HttpRequest {
    get_bearer(SCOPE, key)
}

/// `req` is refused with 401 and a message containing `says`; nobody is named as authenticated.
fn refused(svc: &Svc, req: HttpRequest, says: &str) {
    let (r, ev) = svc.run(req);
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    body_says(&r, &[says], "refusal");
    let ev = ev.unwrap();
    assert!(ev.granted.is_empty());
}

/// An API key whose hint names `hinted`, stored as a key of `owner` (as if its digest had been
/// moved to another user in the policy file, or the record forged).
fn api_key_naming(s: &MemoryStore, hinted: &str, owner: &str) -> String {
    let key = encode_credential(API_KEY_PREFIX, &[11u8; 32], hinted, None);
    put(
        s,
        &api_key_key(&key),
        json!({"account": owner, "name": "moved", "created": 1, "expires": null}),
    );
    key
}

#[test]
fn an_api_key_whose_hint_names_another_account_than_its_record_is_unknown() {
    let svc = Svc::new();
    // alice exists (a user with her own rights), nobody does; the record says ci-bot.
    for hinted in ["alice", "nobody"] {
        let key = api_key_naming(&svc.store, hinted, "ci-bot");
        for req in [
            bearer(&key),
            get_as(SCOPE, "ci-bot", &key),
            get_as(SCOPE, hinted, &key),
            post(
                "/token",
                &format!("grant_type=password&username=ci-bot&password={key}&service={REG}"),
            ),
        ] {
            refused(&svc, req, "unknown or revoked API key");
        }
        // ChartMuseum's client_credentials (the OAuth 2 dialect) alike.
        let (r, _) = svc.run(client_credentials("repository:org/a:pull", &key));
        assert_eq!(r.status, 401);
    }
    // The control: a key whose hint names its record's account works, as Bearer and as Basic.
    let key = hinted_api_key(&svc.store, "ci-bot");
    assert_eq!(svc.run(bearer(&key)).0.status, 200);
    assert_eq!(svc.run(get_as(SCOPE, "ci-bot", &key)).0.status, 200);
    // The username must still be the key's account.
    refused(&svc, get_as(SCOPE, "alice", &key), "does not belong");
}

#[test]
fn an_altered_hint_finds_no_record() {
    let svc = Svc::new();
    let key = hinted_api_key(&svc.store, "ci-bot");
    let (secret, _) = key.split_once('.').unwrap();
    // The hint of alice (exists), of nobody, a malformed one, none at all: the digest of the
    // whole string names no record.
    for forged in [
        format!("{secret}.YWxpY2U"),
        format!("{secret}.bm9ib2R5"),
        format!("{secret}.!!"),
        format!("{secret}.Y2ktYm90.{}", "A".repeat(43)),
        secret.to_string(),
    ] {
        refused(&svc, bearer(&forged), "unknown or revoked API key");
        refused(&svc, get_as(SCOPE, "ci-bot", &forged), "unknown or revoked");
    }
}

#[test]
fn a_refresh_token_whose_hint_disagrees_with_its_record_is_unknown() {
    let svc = Svc::new();
    let bob: Value = serde_json::from_str(&svc.store.data.borrow()["user:bob"]).unwrap();
    let bob_pw = format!("password:{}", sha256_hex(bob["password"].as_str().unwrap()));
    let ci = format!("apikey:{}", sha256_hex(CI_KEY));
    let ci_digest = sha256_hex(CI_KEY);
    let other_digest = sha256_hex(CHART_KEY);
    // (hint account, hint API key, record account, record credential): each record is one that
    // works with a matching hint.
    let cases: [(&str, Option<&str>, &str, &str); 5] = [
        ("alice", None, "bob", &bob_pw),
        ("nobody", None, "bob", &bob_pw),
        ("ci-bot", Some(&other_digest), "ci-bot", &ci),
        ("ci-bot", None, "ci-bot", &ci),
        ("bob", Some(&ci_digest), "bob", &bob_pw),
    ];
    for (i, (account, api_key, owner, credential)) in cases.into_iter().enumerate() {
        let rt = encode_credential(REFRESH_PREFIX, &[20 + i as u8; 32], account, api_key);
        put(
            &svc.store,
            &format!("refresh:{}", sha256_hex(&rt)),
            json!({"account": owner, "service": REG, "client_id": "docker", "created": NOW - 5,
                   "expires": NOW + 3600, "credential": credential}),
        );
        let (r, _) = svc.run(refresh_grant(&rt));
        assert_eq!(r.status, 401, "case {i}");
        body_says(&r, &["unknown, expired or revoked"], "refresh refusal");
    }
    // The control: tokens minted by docker login (from a password, from an API key) work.
    for (user, password) in [("bob", "bob-pw"), ("ci-bot", CI_KEY)] {
        let rt = refresh_token_of(&svc.store, user, password);
        assert_eq!(svc.run(refresh_grant(&rt)).0.status, 200, "{user}");
    }
}

#[test]
fn a_personal_credential_whose_hint_names_another_account_is_unknown() {
    let svc = Svc::new();
    let secret = encode_credential(PERSONAL_PREFIX, &[12u8; 32], "bob", None);
    put(
        &svc.store,
        &format!("personal:{}", sha256_hex(&secret)),
        json!({"account": "alice", "name": "laptop", "created": NOW - 10,
               "expires": NOW + 3600, "provider": "corp", "groups": ["dev"]}),
    );
    for req in [
        bearer(&secret),
        get_as(SCOPE, "alice", &secret),
        get_as(SCOPE, "bob", &secret),
    ] {
        refused(&svc, req, "unknown, expired or revoked credential");
    }
}

#[test]
fn a_bogus_hint_reads_ahead_but_caches_nothing() {
    // SECURITY.md: a caller may choose which user: record is read ahead (as a Basic username
    // can), but a credential without a record never reaches the check that would cache it.
    let svc = Svc::new();
    let bogus = encode_credential(API_KEY_PREFIX, &[13u8; 32], "alice", None);
    let rt = encode_credential(
        REFRESH_PREFIX,
        &[14u8; 32],
        "bob",
        Some(&sha256_hex(CI_KEY)),
    );
    refused(&svc, bearer(&bogus), "unknown or revoked API key");
    let (r, _) = svc.run(refresh_grant(&rt));
    assert_eq!(r.status, 401);
    let caches = svc.app.caches.borrow();
    for key in ["user:alice", "user:bob", &api_key_key(CI_KEY)] {
        assert!(!caches.fresh(key, NOW), "{key} cached");
    }
}
