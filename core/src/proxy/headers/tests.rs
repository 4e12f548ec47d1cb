use super::*;

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn public() -> PublicHost {
    PublicHost {
        scheme: "https".into(),
        host: "reg.example.com".into(),
    }
}

fn names(v: &[(String, String)]) -> Vec<String> {
    v.iter().map(|(n, _)| n.to_ascii_lowercase()).collect()
}

#[test]
fn request_drops_hop_by_hop_credentials_and_forged_forwarding() {
    let incoming = h(&[
        ("Host", "reg.example.com"),
        ("Connection", "keep-alive, X-Secret-Hop"),
        ("X-Secret-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "X"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "websocket"),
        ("Proxy-Authorization", "Basic eA=="),
        ("Proxy-Connection", "close"),
        ("Authorization", "Bearer client-token"),
        ("Cookie", "s=1"),
        ("Expect", "100-continue"),
        ("X-Forwarded-Host", "evil.example"),
        ("Forwarded", "host=evil"),
        ("CF-Connecting-IP", "1.2.3.4"),
        ("Accept", "application/vnd.oci.image.manifest.v1+json"),
        ("Range", "bytes=0-99"),
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", "100"),
    ]);
    let out = request_headers(&incoming, Some("Basic b3JpZ2luOnB3"), &public());
    assert_eq!(
        names(&out),
        vec![
            "accept",
            "range",
            "content-type",
            "content-length",
            "authorization",
            "x-forwarded-proto",
            "x-forwarded-host"
        ]
    );
    let auth: Vec<_> = out.iter().filter(|(n, _)| n == "authorization").collect();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].1, "Basic b3JpZ2luOnB3");
    assert!(out
        .iter()
        .any(|(n, v)| n == "x-forwarded-host" && v == "reg.example.com"));
}

#[test]
fn request_drops_every_override_and_client_address_claim() {
    // Finding 6 of issue 12: headers an origin or framework may act on instead of the method
    // and path the required access was computed from.
    let hostile = [
        ("X-HTTP-Method-Override", "DELETE"),
        ("X-HTTP-Method", "DELETE"),
        ("X-Method-Override", "PUT"),
        ("X-Original-URL", "/v2/org/secret/blobs/x"),
        ("X-Rewrite-URL", "/v2/org/secret/blobs/x"),
        ("X-Original-URI", "/v2/org/secret/"),
        ("X-Forwarded-Prefix", "/admin"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Server", "evil"),
        ("X-Forwarded-For", "127.0.0.1"),
        ("True-Client-IP", "127.0.0.1"),
        ("X-Client-IP", "127.0.0.1"),
        ("X-Real-IP", "127.0.0.1"),
        ("Connection", "close, X-Hop-Named, Accept-Language"),
        ("X-Hop-Named", "1"),
        ("accept-language", "en"),
        ("Accept", "*/*"),
    ];
    let out = request_headers(&h(&hostile), None, &public());
    assert_eq!(
        names(&out),
        vec!["accept", "x-forwarded-proto", "x-forwarded-host"]
    );
}

#[test]
fn no_origin_auth_means_no_authorization_at_all() {
    let out = request_headers(&h(&[("authorization", "Bearer t")]), None, &public());
    assert!(!names(&out).contains(&"authorization".to_string()));
}

#[test]
fn response_drops_hop_by_hop_and_rewrites_location() {
    let origin = Url::parse("http://127.0.0.1:5001").unwrap();
    let incoming = h(&[
        ("Connection", "X-Internal"),
        ("X-Internal", "1"),
        ("Transfer-Encoding", "chunked"),
        ("Docker-Content-Digest", "sha256:abc"),
        (
            "Location",
            "http://127.0.0.1:5001/v2/app/blobs/uploads/u1?_state=xyz",
        ),
    ]);
    let out = response_headers(&incoming, &origin, &public());
    assert_eq!(names(&out), vec!["docker-content-digest", "location"]);
    assert_eq!(
        out[1].1,
        "https://reg.example.com/v2/app/blobs/uploads/u1?_state=xyz"
    );
}

#[test]
fn location_rules() {
    let origin = Url::parse("https://origin.internal").unwrap();
    let p = public();
    let s3 = "https://bucket.s3.amazonaws.com/docker/blob?X-Amz-Signature=abc";
    for (location, want) in [
        // Same origin, default port spelled out or not, host case-insensitive.
        (
            "https://ORIGIN.internal:443/v2/a/blobs/x",
            "https://reg.example.com/v2/a/blobs/x",
        ),
        // Relative paths are kept (they already resolve against Tollgate).
        ("/v2/a/blobs/uploads/u?x=1", "/v2/a/blobs/uploads/u?x=1"),
        // Blob storage redirects elsewhere are untouched.
        (s3, s3),
        // Same host, other scheme or port: another origin, untouched.
        ("http://origin.internal/v2/", "http://origin.internal/v2/"),
        (
            "https://origin.internal:8443/v2/",
            "https://origin.internal:8443/v2/",
        ),
        // Scheme-relative to the origin is rewritten; fragments dropped.
        (
            "//origin.internal/v2/x#frag",
            "https://reg.example.com/v2/x",
        ),
        // Garbage is passed as is rather than guessed at.
        ("not a url", "not a url"),
    ] {
        assert_eq!(rewrite_location(location, &origin, &p), want, "{location}");
    }
}
