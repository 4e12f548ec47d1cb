use super::*;

#[test]
fn distribution_format() {
    let e = TokenError::new(ErrorKind::InvalidCredentials, "bad user or password");
    let r = e.to_response(Flavor::Distribution, "tollgate");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"tollgate\"")
    );
    let v = r.json_body().unwrap();
    assert_eq!(v["errors"][0]["code"], "UNAUTHORIZED");
    assert_eq!(v["errors"][0]["message"], "bad user or password");
    assert!(v["errors"][0].get("detail").is_some());
    assert!(v.get("error").is_none());
}

#[test]
fn oauth2_format_carries_both_shapes() {
    let e = TokenError::new(
        ErrorKind::UnsupportedGrantType,
        "grant_type 'x' is not supported",
    );
    let r = e.to_response(Flavor::OAuth2, "tollgate");
    assert_eq!(r.status, 400);
    assert!(r.header("www-authenticate").is_none());
    let v = r.json_body().unwrap();
    assert_eq!(v["error"], "unsupported_grant_type");
    assert_eq!(v["error_description"], "grant_type 'x' is not supported");
    assert_eq!(v["errors"][0]["code"], "UNSUPPORTED");
}

#[test]
fn bearer_client_gets_bearer_challenge() {
    let e = TokenError::new(ErrorKind::InvalidClient, "unknown API key").with_bearer_challenge();
    let r = e.to_response(Flavor::OAuth2, "https://a/token");
    assert_eq!(r.status, 401);
    let c = r.header("www-authenticate").unwrap();
    assert!(c.starts_with("Bearer realm=\"https://a/token\""), "{c}");
    assert!(c.contains("error=\"invalid_token\""), "{c}");
    assert_eq!(r.json_body().unwrap()["error"], "invalid_client");
}

#[test]
fn too_many_requests_in_both_formats_with_retry_after() {
    let e = TokenError::new(ErrorKind::TooManyRequests, "slow down").with_retry_after(42);
    let r = e.to_response(Flavor::Distribution, "t");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("42"));
    assert!(r.header("www-authenticate").is_none());
    assert_eq!(
        r.json_body().unwrap()["errors"][0]["code"],
        "TOOMANYREQUESTS"
    );
    let r = e.to_response(Flavor::OAuth2, "t");
    assert_eq!(r.header("retry-after"), Some("42"));
    let v = r.json_body().unwrap();
    assert_eq!(v["error"], "temporarily_unavailable");
    assert_eq!(v["error_description"], "slow down");
    assert_eq!(v["errors"][0]["code"], "TOOMANYREQUESTS");
    let zero = TokenError::new(ErrorKind::TooManyRequests, "x").with_retry_after(0);
    assert_eq!(
        zero.retry_after,
        Some(1),
        "Retry-After: 0 would invite a hot loop"
    );
}

#[test]
fn method_not_allowed_lists_allow() {
    let e = TokenError::method_not_allowed("DELETE", "/token", "GET, POST");
    let r = e.to_response(Flavor::Distribution, "t");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    assert!(e.message.contains("DELETE") && e.message.contains("GET or POST"));
}

#[test]
fn statuses_and_codes() {
    use ErrorKind::*;
    let cases = [
        (InvalidRequest, 400, "UNSUPPORTED", "invalid_request"),
        (InvalidScope, 400, "UNSUPPORTED", "invalid_scope"),
        (InvalidGrant, 401, "UNAUTHORIZED", "invalid_grant"),
        (Denied, 403, "DENIED", "invalid_request"),
        (NotFound, 404, "UNSUPPORTED", "invalid_request"),
        (PayloadTooLarge, 413, "UNSUPPORTED", "invalid_request"),
        (ServerError, 500, "UNKNOWN", "server_error"),
        (Unavailable, 503, "UNAVAILABLE", "temporarily_unavailable"),
        (
            TooManyRequests,
            429,
            "TOOMANYREQUESTS",
            "temporarily_unavailable",
        ),
    ];
    for (k, status, d, o) in cases {
        assert_eq!(
            (k.status(), k.distribution_code(), k.oauth2_code()),
            (status, d, o),
            "{k:?}"
        );
    }
}
