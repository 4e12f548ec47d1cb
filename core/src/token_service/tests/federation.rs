//! Workload identity federation through the whole token flow: issuer selection by username and
//! by `iss`, ACL rules on claims, the issued token's subject, the audit line, refusals in both
//! dialects, and failing closed.

use super::*;
use crate::federation::testkit::{FakeIssuer, AUD, ISS};
use crate::federation::{FetchError, MemoryFetch};

fn issuers_record() -> String {
    json!([{"name": "github", "issuer": ISS, "audiences": [AUD], "username": "github-actions",
            "subject": "github:${claims.repository}:${claims.ref}", "max_lifetime": 3600}])
    .to_string()
}

fn fed_store() -> MemoryStore {
    let s = store();
    s.data
        .borrow_mut()
        .insert("issuers".into(), issuers_record());
    let acl = json!([
        {"match": {"issuer": "github", "claims": {"repository_owner": "org", "ref": "refs/heads/main"},
                   "name": "ci/${claims.repository}"}, "actions": ["pull", "push"]},
        {"match": {"account": "*"}, "actions": ["*"]},
        {"match": {"type": "repository", "name": "public/*"}, "actions": ["pull"]}
    ]);
    s.data.borrow_mut().insert("acl".into(), acl.to_string());
    s
}

/// An identity token valid at the suite's NOW.
fn id_token(fi: &FakeIssuer, extra: Value) -> String {
    let mut c = json!({"iat": NOW - 5, "nbf": NOW - 5, "exp": NOW + 295});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    fi.rs(c)
}

fn send(
    app: &TokenService,
    s: &MemoryStore,
    f: &MemoryFetch,
    req: HttpRequest,
) -> (HttpResponse, AuditEvent) {
    let rng = counter_rng();
    let (r, ev) = handle_with(app, s, f, &req, NOW, &rng);
    (r, ev.unwrap())
}

#[test]
fn docker_login_with_an_identity_token() {
    let (app, s, fi) = (app(), fed_store(), FakeIssuer::new());
    let token = id_token(&fi, json!({}));
    let req = get_as("service=registry.local&account=github-actions&offline_token=true&client_id=docker&scope=repository:ci/org/app:pull,push,delete&scope=repository:public/x:pull&scope=repository:other/x:push", "github-actions", &token);
    let (r, ev) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let b = body(&r);
    assert!(
        b.get("refresh_token").is_none(),
        "workloads never get refresh tokens"
    );
    let claims = verify(b["token"].as_str().unwrap());
    assert_eq!(claims["sub"], "github:org/app:refs/heads/main");
    assert_eq!(actions(&claims, "ci/org/app"), vec!["pull", "push"]);
    assert_eq!(actions(&claims, "public/x"), vec!["pull"]);
    assert!(actions(&claims, "other/x").is_empty());
    assert_eq!(ev.credential, Some("oidc"));
    assert_eq!(ev.issuer.as_deref(), Some("github"));
    assert_eq!(ev.identity_jti.as_deref(), Some("id-jti-1"));
    assert_eq!(
        ev.account.as_deref(),
        Some("github:org/app:refs/heads/main")
    );
    assert!(!ev.refresh_token_issued);
    let line = ev.to_json_line();
    assert!(
        !line.contains(&token[..30]),
        "the identity token is never logged"
    );
    assert!(line.contains(r#""identity_jti":"id-jti-1""#));
}

#[test]
fn password_grant_with_oidc_selects_by_iss() {
    let (app, s, fi) = (app(), fed_store(), FakeIssuer::new());
    let token = id_token(&fi, json!({"ref": "refs/heads/dev"}));
    let req = post(
        "/token",
        &format!("grant_type=password&username=oidc&password={token}&service=registry.local&scope=repository:ci/org/app:push&access_type=offline"),
    );
    let (r, ev) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 200);
    let b = body(&r);
    assert!(b.get("refresh_token").is_none());
    // refs/heads/dev does not match the main-branch rule: a token without access.
    assert!(verify(b["access_token"].as_str().unwrap())["access"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(ev.issuer.as_deref(), Some("github"));
}

#[test]
fn refusals_name_the_failed_check_in_both_dialects() {
    let (app, s, fi) = (app(), fed_store(), FakeIssuer::new());
    let expired = id_token(
        &fi,
        json!({"iat": NOW - 400, "nbf": NOW - 400, "exp": NOW - 100}),
    );
    let req = get_as("service=registry.local", "github-actions", &expired);
    let (r, ev) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 401);
    let text = body_says(&r, &["UNAUTHORIZED", "expired"], "expired identity token");
    assert!(!text.contains(&expired[..30]));
    assert_eq!(ev.outcome, Outcome::Refused);
    assert_eq!(ev.issuer.as_deref(), Some("github"));
    assert!(!ev.to_json_line().contains(&expired[..30]));

    let wrong_aud = id_token(&fi, json!({"aud": "https://elsewhere"}));
    let req = post("/token", &format!("grant_type=password&username=github-actions&password={wrong_aud}&service=registry.local"));
    let (r, _) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 401);
    assert_eq!(body(&r)["error"], "invalid_grant");
    assert!(body(&r)["error_description"]
        .as_str()
        .unwrap()
        .contains("audience"));

    let huge = "a".repeat(13_000);
    let req = post(
        "/token",
        &format!("grant_type=password&username=oidc&password={huge}&service=registry.local"),
    );
    let (r, _) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 401);
    assert!(body(&r)["error_description"]
        .as_str()
        .unwrap()
        .contains("too large"));
}

#[test]
fn issuer_unreachable_without_cached_keys_is_503() {
    let (app, s, fi) = (app(), fed_store(), FakeIssuer::new());
    fi.fetch.set(
        crate::federation::testkit::DISCOVERY,
        Err(FetchError::Timeout(5)),
    );
    let req = get("service=registry.local").with_header(
        "authorization",
        &basic("github-actions", &id_token(&fi, json!({}))),
    );
    let (r, ev) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 503);
    body_says(
        &r,
        &["issuer 'github'", "no answer within 5 s"],
        "issuer unreachable",
    );
    assert_eq!(ev.outcome, Outcome::Failed);
}

#[test]
fn without_an_issuers_record_federation_is_off() {
    let (app, s, fi) = (app(), store(), FakeIssuer::new());
    let req = get("service=registry.local")
        .with_header("authorization", &basic("oidc", &id_token(&fi, json!({}))));
    let (r, ev) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 401);
    assert!(String::from_utf8_lossy(&r.body)
        .contains("no trusted issuer is configured for username 'oidc'"));
    assert_eq!(ev.credential, None);
    assert!(fi.fetch.calls.borrow().is_empty(), "nothing fetched");
    // Users keep working next to federation.
    let (app, s) = (super::app(), fed_store());
    let req = get_as(
        "service=registry.local&scope=repository:x/y:pull",
        "alice",
        "alice-pw",
    );
    let (r, ev) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 200);
    assert_eq!(ev.credential, Some("password"));
    assert_eq!(ev.issuer, None);
}

#[test]
fn a_malformed_issuers_record_fails_closed() {
    let (app, s, fi) = (app(), fed_store(), FakeIssuer::new());
    s.data.borrow_mut().insert(
        "issuers".into(),
        r#"[{"name":"x","issuer":"http://evil.example","audiences":["a"]}]"#.into(),
    );
    let req = get("service=registry.local").with_header(
        "authorization",
        &basic("github-actions", &id_token(&fi, json!({}))),
    );
    let (r, _) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 500);
    assert!(String::from_utf8_lossy(&r.body).contains("issuers record"));
    // Ordinary logins do not depend on the record.
    let req = get_as("service=registry.local", "alice", "alice-pw");
    assert_eq!(send(&app, &s, &fi.fetch, req).0.status, 200);
}

#[test]
fn failed_identity_tokens_are_not_counted_by_the_brute_force_throttle() {
    use crate::token_service::throttle::fake::{FakeLimiter, Shared};
    let fake = FakeLimiter::new(1);
    let app = super::app().with_limiter(Box::new(Shared(fake.clone())));
    let (s, fi) = (fed_store(), FakeIssuer::new());
    let expired = id_token(
        &fi,
        json!({"iat": NOW - 400, "nbf": NOW - 400, "exp": NOW - 100}),
    );
    for _ in 0..5 {
        let req = get_as("service=registry.local", "github-actions", &expired)
            .with_header("cf-connecting-ip", "198.51.100.7");
        assert_eq!(send(&app, &s, &fi.fetch, req).0.status, 401);
    }
    assert_eq!(
        fake.calls.get(),
        0,
        "identity tokens are not guessable: never counted"
    );
    // The shared username keeps working for the next job.
    let req = get("service=registry.local&scope=repository:ci/org/app:push")
        .with_header(
            "authorization",
            &basic("github-actions", &id_token(&fi, json!({}))),
        )
        .with_header("cf-connecting-ip", "198.51.100.7");
    assert_eq!(send(&app, &s, &fi.fetch, req).0.status, 200);
    // Ordinary wrong passwords still are.
    let req = get_as("service=registry.local", "alice", "wrong")
        .with_header("cf-connecting-ip", "198.51.100.7");
    assert_eq!(send(&app, &s, &fi.fetch, req).0.status, 401);
    assert!(fake.calls.get() > 0);
}

#[test]
fn an_issuer_obtains_tokens_only_for_its_services() {
    // Issue 12, finding 8: an identity token for registry.local got an RS256 token for
    // chartmuseum.local. With `services`, the issuer is limited; without, every service.
    let (app, s, fi) = (app(), fed_store(), FakeIssuer::new());
    let token = id_token(&fi, json!({}));
    let ask = |app: &TokenService, s: &MemoryStore, service: &str| {
        let req = get_as(&format!("service={service}"), "github-actions", &token);
        send(app, s, &fi.fetch, req)
    };
    assert_eq!(
        ask(&app, &s, CHARTS).0.status,
        200,
        "default: every service"
    );
    let limited = json!([{"name": "github", "issuer": ISS, "audiences": [AUD],
        "username": "github-actions", "services": [REG],
        "subject": "github:${claims.repository}:${claims.ref}", "max_lifetime": 3600}]);
    s.data
        .borrow_mut()
        .insert("issuers".into(), limited.to_string());
    let app = self::app();
    let (r, ev) = ask(&app, &s, CHARTS);
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("may not obtain tokens for service"));
    assert_eq!(ev.issuer.as_deref(), Some("github"));
    assert_eq!(ask(&app, &s, REG).0.status, 200);
    // A malformed list is a broken record: fail closed with 500.
    let bad = json!([{"name": "github", "issuer": ISS, "audiences": [AUD],
        "username": "github-actions", "services": []}]);
    s.data
        .borrow_mut()
        .insert("issuers".into(), bad.to_string());
    let app = self::app();
    assert_eq!(ask(&app, &s, REG).0.status, 500);
}

/// The second review's finding: a user named like an issuer's username (or `oidc`) validated,
/// and federation then silently took over every login under that name. The worker now reads
/// such a user record as malformed, naming the conflict, whatever the credential.
#[test]
fn a_user_named_like_an_issuers_username_is_a_named_conflict() {
    let (app, s, fi) = (app(), fed_store(), FakeIssuer::new());
    for name in ["github-actions", "oidc"] {
        s.data.borrow_mut().insert(
            format!("user:{name}"),
            json!({"password": hash("pw-of-the-user"), "groups": ["dev"]}).to_string(),
        );
        let req = get_as("service=registry.local", name, "pw-of-the-user");
        let (r, _) = send(&app, &s, &fi.fetch, req);
        assert_eq!(r.status, 500, "{name}");
        body_says(&r, &[&format!("user:{name}"), "could never log in"], name);
    }
    // The named user's API key is refused the same way (no silent split between credentials).
    let key = "tgk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    put(
        &s,
        &api_key_key(key),
        json!({"account": "github-actions", "name": "k", "created": 1}),
    );
    let req = get("service=registry.local").with_header("authorization", &format!("Bearer {key}"));
    let (r, _) = send(&app, &s, &fi.fetch, req);
    assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));
    // Identity tokens under the issuer's username still work.
    let req = get("service=registry.local").with_header(
        "authorization",
        &basic("github-actions", &id_token(&fi, json!({}))),
    );
    assert_eq!(send(&app, &s, &fi.fetch, req).0.status, 200);
}
