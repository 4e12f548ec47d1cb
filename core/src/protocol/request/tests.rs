use super::*;

#[test]
fn get_with_repeated_scopes() {
    let r = TokenRequest::from_get(
        "service=registry.local&scope=repository%3Aa%2Fb%3Apull&scope=repository:c:pull,push\
         &account=alice&client_id=docker&offline_token=true",
    )
    .unwrap();
    assert_eq!(r.flavor, Flavor::Distribution);
    assert_eq!(r.grant, Grant::Header);
    assert_eq!(r.service.as_deref(), Some("registry.local"));
    assert_eq!(
        r.scopes,
        vec!["repository:a/b:pull", "repository:c:pull,push"]
    );
    assert_eq!(r.account.as_deref(), Some("alice"));
    assert_eq!(r.client_id.as_deref(), Some("docker"));
    assert!(r.offline);
}

#[test]
fn secrets_in_the_url_are_refused() {
    // Finding 7 of issue 12: GET /oauth/token?grant_type=password&... issued tokens.
    for q in [
        "grant_type=password&username=alice&password=pw",
        "grant_type=refresh_token&refresh_token=tgr_x",
        "grant_type=client_credentials&client_secret=s",
        "grant_type=password&username=alice&%70assword=pw",
    ] {
        let e = TokenRequest::from_oauth2(q, b"").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest, "{q}");
        assert!(
            e.message.contains("not accepted in the URL"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("pw") && !e.message.contains("tgr_x"));
        // Also when the body holds the rest: the query alone decides.
        let e = TokenRequest::from_oauth2(q, b"service=registry.local").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
    }
    let e = TokenRequest::from_get("service=r&password=pw").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    // The same parameters in the body are fine.
    let r = TokenRequest::from_oauth2(
        "service=registry.local",
        b"grant_type=password&username=alice&password=pw",
    )
    .unwrap();
    assert!(matches!(r.grant, Grant::Password { .. }));
}

#[test]
fn get_login_probe_has_no_scopes() {
    let r = TokenRequest::from_get("service=registry.local").unwrap();
    assert!(r.scopes.is_empty());
    assert!(!r.offline);
    let r = TokenRequest::from_get("").unwrap();
    assert_eq!(r.service, None);
}

#[test]
fn space_separated_scope_is_split() {
    let r =
        TokenRequest::from_get("scope=repository:a:pull+repository:b:push%20registry:catalog:*")
            .unwrap();
    assert_eq!(
        r.scopes,
        vec![
            "repository:a:pull",
            "repository:b:push",
            "registry:catalog:*"
        ]
    );
}

#[test]
fn password_grant_form() {
    let body = b"grant_type=password&username=alice&password=p%40ss+word&service=registry.local\
                 &client_id=containerd-client&scope=repository:a:pull+repository:a:push&access_type=offline";
    let r = TokenRequest::from_oauth2("", body).unwrap();
    assert_eq!(r.flavor, Flavor::OAuth2);
    match &r.grant {
        Grant::Password { username, password } => {
            assert_eq!(username, "alice");
            assert_eq!(password.expose(), "p@ss word");
        }
        g => panic!("{g:?}"),
    }
    assert!(r.offline);
    assert_eq!(r.scopes.len(), 2);
    assert_eq!(r.client_id.as_deref(), Some("containerd-client"));
    assert!(
        !format!("{r:?}").contains("p@ss"),
        "Debug must not show the password"
    );
}

#[test]
fn refresh_grant_and_missing_token() {
    let r = TokenRequest::from_oauth2(
        "",
        b"grant_type=refresh_token&refresh_token=tgr_abc&service=s",
    )
    .unwrap();
    assert!(
        matches!(&r.grant, Grant::RefreshToken { refresh_token } if refresh_token.expose() == "tgr_abc")
    );
    let e = TokenRequest::from_oauth2("", b"grant_type=refresh_token&service=s").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("refresh_token"));
}

#[test]
fn chartmuseum_query_string() {
    let r = TokenRequest::from_oauth2(
        "grant_type=client_credentials&scope=artifact-repository:org1/repo1:pull,push&service=chartmuseum.local",
        b"",
    )
    .unwrap();
    assert_eq!(r.grant, Grant::ClientCredentials);
    assert_eq!(r.scopes, vec!["artifact-repository:org1/repo1:pull,push"]);
    // The same in a form body.
    let r2 = TokenRequest::from_oauth2(
        "",
        b"grant_type=client_credentials&scope=artifact-repository:org1/repo1:pull,push&service=chartmuseum.local",
    )
    .unwrap();
    assert_eq!(r, r2);
}

#[test]
fn grant_type_errors() {
    let e = TokenRequest::from_oauth2("", b"grant_type=implicit").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnsupportedGrantType);
    assert!(e.message.contains("implicit"));
    let e = TokenRequest::from_oauth2("", b"service=x").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("grant_type"));
    let e = TokenRequest::from_oauth2("", b"grant_type=password&password=x").unwrap_err();
    assert!(e.message.contains("username"));
    let e = TokenRequest::from_oauth2("", b"grant_type=password&username=x").unwrap_err();
    assert!(e.message.contains("password"));
}

#[test]
fn conflicting_repeats_refused_same_value_tolerated() {
    assert!(
        TokenRequest::from_oauth2("service=a", b"grant_type=client_credentials&service=a").is_ok()
    );
    let e = TokenRequest::from_oauth2("service=a", b"grant_type=client_credentials&service=b")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("service"));
}

#[test]
fn non_utf8_refused() {
    let e = TokenRequest::from_get("service=%FF%FE").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("UTF-8"));
    let e =
        TokenRequest::from_oauth2("", b"grant_type=password&username=a&password=\xff").unwrap_err();
    assert!(e.message.contains("UTF-8"));
}

#[test]
fn bounds() {
    let many: String = (0..=MAX_SCOPES)
        .map(|i| format!("scope=repository:r{i}:pull&"))
        .collect();
    let e = TokenRequest::from_get(&many).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidScope);
    let long = format!("scope=repository:{}:pull", "a".repeat(MAX_SCOPE_LEN));
    assert_eq!(
        TokenRequest::from_get(&long).unwrap_err().kind,
        ErrorKind::InvalidScope
    );
    let huge = "a=b&".repeat(MAX_FORM_LEN / 4 + 1);
    assert_eq!(
        TokenRequest::from_oauth2("", huge.as_bytes())
            .unwrap_err()
            .kind,
        ErrorKind::PayloadTooLarge
    );
    let params = "x=1&".repeat(MAX_PARAMS + 1);
    assert_eq!(
        TokenRequest::from_get(&params).unwrap_err().kind,
        ErrorKind::InvalidRequest
    );
    let e = TokenRequest::from_get(&format!("account={}", "a".repeat(MAX_ACCOUNT_LEN + 1)))
        .unwrap_err();
    assert!(e.message.contains("account"));
    let e = TokenRequest::from_get("service=a%0Ab").unwrap_err();
    assert!(e.message.contains("control"));
}

#[test]
fn offline_flags() {
    assert!(TokenRequest::from_get("offline_token=1").unwrap().offline);
    assert!(
        !TokenRequest::from_get("offline_token=false")
            .unwrap()
            .offline
    );
    assert!(TokenRequest::from_get("offline_token=maybe").is_err());
    assert!(
        TokenRequest::from_oauth2("", b"grant_type=client_credentials&access_type=weird").is_err()
    );
}

#[test]
fn content_type_check() {
    assert!(check_form_content_type(None, b"a=b").is_ok());
    assert!(check_form_content_type(
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        b"a=b"
    )
    .is_ok());
    assert!(check_form_content_type(Some("application/json"), b"").is_ok());
    let e = check_form_content_type(Some("application/json"), b"{}").unwrap_err();
    assert!(e.message.contains("application/json"));
}
