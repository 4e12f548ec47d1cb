use super::*;

fn a(t: &str, n: &str, actions: &[&str]) -> Access {
    Access {
        resource_type: t.into(),
        name: n.into(),
        actions: actions.iter().map(|s| s.to_string()).collect(),
    }
}

fn need(list: Vec<Access>) -> Required {
    Required::Access(list)
}

#[test]
fn exact_grant_covers() {
    let r = need(vec![a("repository", "app", &["pull", "push"])]);
    assert_eq!(
        check_access(&[a("repository", "app", &["push", "pull"])], &r),
        Ok(())
    );
}

#[test]
fn grants_for_the_same_resource_add_up() {
    let r = need(vec![a("repository", "app", &["pull", "push"])]);
    let g = [
        a("repository", "app", &["pull"]),
        a("repository", "app", &["push"]),
    ];
    assert_eq!(check_access(&g, &r), Ok(()));
}

#[test]
fn missing_action_is_reported() {
    let r = need(vec![a("repository", "app", &["pull", "push"])]);
    let err = check_access(&[a("repository", "app", &["pull"])], &r).unwrap_err();
    assert_eq!(err.missing, vec![a("repository", "app", &["push"])]);
}

#[test]
fn type_and_name_must_both_match() {
    let r = need(vec![a("repository", "app", &["pull"])]);
    assert!(check_access(&[a("repository", "app2", &["pull"])], &r).is_err());
    assert!(check_access(&[a("repository", "ap", &["pull"])], &r).is_err());
    assert!(check_access(&[a("artifact-repository", "app", &["pull"])], &r).is_err());
    // No glob semantics in tokens: a granted name is literal.
    assert!(check_access(&[a("repository", "*", &["pull"])], &r).is_err());
    assert!(check_access(&[], &r).is_err());
}

#[test]
fn star_grant_covers_any_action_but_star_need_needs_star() {
    let r = need(vec![a("repository", "app", &["delete"])]);
    assert_eq!(check_access(&[a("repository", "app", &["*"])], &r), Ok(()));
    let catalog = need(vec![a("registry", "catalog", &["*"])]);
    assert!(check_access(&[a("registry", "catalog", &["pull"])], &catalog).is_err());
    assert_eq!(
        check_access(&[a("registry", "catalog", &["*"])], &catalog),
        Ok(())
    );
}

#[test]
fn mount_needs_both_repositories() {
    let r = need(vec![
        a("repository", "app", &["pull", "push"]),
        a("repository", "base", &["pull"]),
    ]);
    let err = check_access(&[a("repository", "app", &["pull", "push"])], &r).unwrap_err();
    assert_eq!(err.missing, vec![a("repository", "base", &["pull"])]);
    assert_eq!(
        check_access(
            &[
                a("repository", "app", &["pull", "push"]),
                a("repository", "base", &["pull"])
            ],
            &r
        ),
        Ok(())
    );
}

#[test]
fn authenticated_needs_nothing() {
    assert_eq!(check_access(&[], &Required::Authenticated), Ok(()));
}

#[test]
fn unauthenticated_challenge_names_the_scope() {
    let r = need(vec![a("repository", "org/app", &["pull", "push"])]);
    let resp = refusal_response(Refusal::Unauthenticated, &r, "http://t/token", "reg");
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.header("www-authenticate"),
        Some(r#"Bearer realm="http://t/token",service="reg",scope="repository:org/app:pull,push""#)
    );
    assert_eq!(
        resp.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let body = resp.json_body().unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    assert_eq!(body["errors"][0]["detail"][1]["Action"], "push");
    assert_eq!(body["errors"][0]["detail"][1]["Name"], "org/app");
}

#[test]
fn insufficient_and_invalid_token_carry_the_error_param() {
    let r = need(vec![a("repository", "app", &["pull"])]);
    let resp = refusal_response(Refusal::InsufficientScope, &r, "r", "s");
    assert_eq!(
        resp.header("www-authenticate"),
        Some(
            r#"Bearer realm="r",service="s",scope="repository:app:pull",error="insufficient_scope""#
        )
    );
    let resp = refusal_response(Refusal::InvalidToken, &r, "r", "s");
    assert_eq!(resp.status, 401);
    assert!(resp
        .header("www-authenticate")
        .unwrap()
        .ends_with(r#"error="invalid_token""#));
}

#[test]
fn base_challenge_has_no_scope() {
    let resp = refusal_response(Refusal::Unauthenticated, &Required::Authenticated, "r", "s");
    assert_eq!(
        resp.header("www-authenticate"),
        Some(r#"Bearer realm="r",service="s""#)
    );
}

#[test]
fn basic_denied_is_403_without_challenge() {
    let r = need(vec![a("artifact-repository", "org1", &["pull"])]);
    let resp = refusal_response(Refusal::Denied, &r, "r", "s");
    assert_eq!(resp.status, 403);
    assert_eq!(resp.header("www-authenticate"), None);
    assert_eq!(resp.json_body().unwrap()["errors"][0]["code"], "DENIED");
}

#[test]
fn route_and_upstream_errors_are_distribution_bodies() {
    let resp = route_error_response(RouteError::NameInvalid);
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json_body().unwrap()["errors"][0]["code"],
        "NAME_INVALID"
    );
    assert_eq!(
        upstream_error_response(UpstreamFailure::Timeout).status,
        504
    );
    let resp = upstream_error_response(UpstreamFailure::Unreachable);
    assert_eq!(resp.status, 502);
    assert!(resp.json_body().unwrap()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("ORIGIN"));
}
