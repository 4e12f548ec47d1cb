//! `POST /oauth/revoke` (RFC 7009): a refresh token or personal credential ends at Tollgate when
//! its holder signs out, at once in the isolate that revoked it; API keys stay the operator's;
//! a KV failure is never reported as a revocation.

use super::round_trips::{refresh_grant, refresh_token_of};
use super::*;
use crate::credentials::{encode_credential, REFRESH_PREFIX};
use crate::signin::credentials::PERSONAL_PREFIX;

const SCOPE: &str = "service=registry.local&scope=repository:org/a:pull";

fn revoke_req(token: &str) -> HttpRequest {
    post(
        "/oauth/revoke",
        &format!("token={token}&token_type_hint=refresh_token"),
    )
}

/// A personal credential of alice (as a device approval makes it), with her index listing it
/// and another one.
fn personal_of_alice(s: &MemoryStore) -> String {
    let secret = encode_credential(PERSONAL_PREFIX, &[31u8; 32], "alice", None);
    let digest = sha256_hex(&secret);
    put(
        s,
        &format!("personal:{digest}"),
        json!({"account": "alice", "name": "laptop", "created": NOW - 10, "expires": NOW + 3600,
               "provider": "corp", "groups": ["org-writers"], "device": "docker-credential-tollgate"}),
    );
    put(
        s,
        "personal-index:alice",
        json!([
            {"id": digest, "name": "laptop", "created": NOW - 10, "expires": NOW + 3600},
            {"id": "f".repeat(64), "name": "desktop", "created": NOW - 5, "expires": NOW + 7200},
        ]),
    );
    secret
}

fn index_ids(s: &MemoryStore, account: &str) -> Vec<String> {
    let text = s.data.borrow()[&format!("personal-index:{account}")].clone();
    let v: Value = serde_json::from_str(&text).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_personal_credential_ends_at_once_and_leaves_the_owners_list() {
    let svc = Svc::new();
    let secret = personal_of_alice(&svc.store);
    // In use (and cached) before.
    assert_eq!(svc.run(get_as(SCOPE, "alice", &secret)).0.status, 200);

    let (r, ev) = svc.run(revoke_req(&secret));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let ev = ev.unwrap();
    assert_eq!(
        (ev.event, ev.outcome, ev.credential),
        ("revoke", Outcome::Revoked, Some("personal"))
    );
    assert_eq!(ev.account.as_deref(), Some("alice"));
    assert_eq!(ev.credential_name.as_deref(), Some("laptop"));
    assert!(
        !ev.to_json_line().contains(&secret),
        "the secret is never logged"
    );

    assert!(!svc.store.holds_any("personal:"));
    assert_eq!(index_ids(&svc.store, "alice"), vec!["f".repeat(64)]);
    // Refused at once in this isolate, although its record was cached.
    let (r, _) = svc.run(get_as(SCOPE, "alice", &secret));
    assert_eq!(r.status, 401);
}

#[test]
fn a_refresh_token_ends_at_once() {
    let svc = Svc::new();
    let rt = refresh_token_of(&svc.store, "bob", "bob-pw");
    assert_eq!(svc.run(refresh_grant(&rt)).0.status, 200, "cached now");

    let (r, ev) = svc.run(revoke_req(&rt));
    assert_eq!(r.status, 200);
    let ev = ev.unwrap();
    assert_eq!(ev.credential, Some("refresh_token"));
    assert_eq!(ev.account.as_deref(), Some("bob"));
    assert_eq!(ev.client_id.as_deref(), Some("docker"));
    assert!(!ev.to_json_line().contains(&rt));
    assert!(!svc.store.holds_any("refresh:"));

    let (r, _) = svc.run(refresh_grant(&rt));
    assert_eq!(r.status, 401);
    body_says(&r, &["unknown, expired or revoked"], "after revocation");
}

#[test]
fn unknown_and_foreign_tokens_are_200_and_touch_nothing() {
    let svc = Svc::new();
    let before = svc.store.data.borrow().clone();
    for token in [
        encode_credential(PERSONAL_PREFIX, &[32u8; 32], "alice", None),
        encode_credential(REFRESH_PREFIX, &[33u8; 32], "bob", None),
        "eyJhbGciOiJFUzI1NiJ9.e30.sig".to_string(),
        "not-a-credential".to_string(),
    ] {
        let (r, ev) = svc.run(revoke_req(&token));
        assert_eq!(r.status, 200, "{token}");
        assert_eq!(ev.unwrap().outcome, Outcome::Revoked);
        // No write at all: a store that refuses writes answers the same.
        let ro = Svc::with(app(), ReadOnly(store()));
        assert_eq!(
            ro.run(revoke_req(&token)).0.status,
            200,
            "{token}, read-only"
        );
    }
    assert_eq!(*svc.store.data.borrow(), before);
}

#[test]
fn api_keys_are_the_operators() {
    let svc = Svc::new();
    let (r, ev) = svc.run(revoke_req(CI_KEY));
    assert_eq!(r.status, 400);
    assert_eq!(body(&r)["error"], "unsupported_token_type");
    body_says(&r, &["tollgate apikey revoke"], "api key");
    assert_eq!(ev.unwrap().outcome, Outcome::Refused);
    assert_eq!(svc.run(get_as(SCOPE, "ci-bot", CI_KEY)).0.status, 200);
}

#[test]
fn a_store_failure_is_never_a_revocation() {
    let svc = Svc::new();
    let secret = personal_of_alice(&svc.store);
    let rt = refresh_token_of(&svc.store, "bob", "bob-pw");
    svc.store.fail.set(true);
    for token in [&secret, &rt] {
        let (r, ev) = svc.run(revoke_req(token));
        assert_eq!(r.status, 503, "{token}");
        assert_eq!(body(&r)["error"], "temporarily_unavailable");
        body_says(&r, &["nothing was revoked"], "store failure");
        assert_eq!(ev.unwrap().outcome, Outcome::Failed);
    }
    svc.store.fail.set(false);
    assert!(svc.store.holds_any("personal:") && svc.store.holds_any("refresh:"));
    // Reads work, the delete fails: still not revoked.
    let ro = Svc::with(
        app(),
        ReadOnly(MemoryStore::with(svc.store.data.borrow().clone())),
    );
    assert_eq!(ro.run(revoke_req(&secret)).0.status, 503);
}

/// Once the record is deleted the credential has ended: a broken index only costs the owner's
/// list its update (said in the audit line), never a 503 that would say "not revoked".
#[test]
fn an_index_that_cannot_be_updated_does_not_undo_the_revocation() {
    let svc = Svc::new();
    let secret = personal_of_alice(&svc.store);
    put(&svc.store, "personal-index:alice", json!({"not": "a list"}));
    let (r, ev) = svc.run(revoke_req(&secret));
    assert_eq!(r.status, 200);
    let ev = ev.unwrap();
    assert_eq!(ev.outcome, Outcome::Revoked);
    assert!(ev.reason.unwrap().contains("/account list stays"));
    assert!(!svc.store.holds_any("personal:"));
    assert_eq!(svc.run(get_as(SCOPE, "alice", &secret)).0.status, 401);
}

#[test]
fn malformed_requests_are_oauth2_errors() {
    let svc = Svc::new();
    let rt = refresh_token_of(&svc.store, "bob", "bob-pw");
    let cases: Vec<(HttpRequest, u16, &str)> = vec![
        (HttpRequest::new("GET", "/oauth/revoke", ""), 405, "POST"),
        (post("/oauth/revoke", ""), 400, "'token' is missing"),
        (post("/oauth/revoke", "token="), 400, "'token' is missing"),
        (
            post("/oauth/revoke", &format!("token={rt}&token=other")),
            400,
            "one 'token'",
        ),
        (
            HttpRequest::new("POST", "/oauth/revoke", &format!("token={rt}")),
            400,
            "not in the URL",
        ),
        (
            HttpRequest::new("POST", "/oauth/revoke", "")
                .with_header("content-type", "application/json")
                .with_body(format!("{{\"token\":\"{rt}\"}}").into_bytes()),
            400,
            "application/x-www-form-urlencoded",
        ),
    ];
    for (req, status, says) in cases {
        let (r, ev) = svc.run(req);
        assert_eq!(r.status, status, "{says}");
        body_says(&r, &[says], says);
        assert!(body(&r)["error"].is_string(), "OAuth2 error format");
        assert!(!ev.unwrap().to_json_line().contains(&rt));
    }
    // None of them ended the refresh token.
    assert_eq!(svc.run(refresh_grant(&rt)).0.status, 200);
}
