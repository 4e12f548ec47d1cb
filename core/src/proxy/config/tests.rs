use super::*;
use std::collections::HashMap;

fn base() -> Settings {
    let vars: HashMap<&str, &str> = [
        ("ISSUER", "tollgate-dev"),
        ("SERVICES", "registry.local charts.local"),
        (
            "SIGNING_KEY",
            "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----",
        ),
    ]
    .into_iter()
    .collect();
    Settings::from_vars(|k| vars.get(k).map(|v| v.to_string())).expect("base settings")
}

fn parse(pairs: &[(&str, &str)]) -> Result<ProxySettings, ConfigError> {
    let vars: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ProxySettings::from_vars(|k| vars.get(k).cloned(), &base())
}

#[test]
fn minimal_and_defaults() {
    let p = parse(&[("ORIGIN", "http://127.0.0.1:5001")]).unwrap();
    assert_eq!(p.origin.as_str(), "http://127.0.0.1:5001/");
    assert_eq!(p.origin_auth, None);
    assert_eq!(p.origin_timeout, DEFAULT_ORIGIN_TIMEOUT);
    assert_eq!(p.chart.depth(), 0);
    assert_eq!(p.service, "registry.local");
    assert_eq!(
        p.origin_url("/v2/a/tags/list", "n=10"),
        "http://127.0.0.1:5001/v2/a/tags/list?n=10"
    );
    assert_eq!(p.origin_url("/v2/", ""), "http://127.0.0.1:5001/v2/");
}

#[test]
fn all_settings() {
    let p = parse(&[
        ("ORIGIN", "https://registry.internal:8443/"),
        ("ORIGIN_AUTH", "Basic dXNlcjpwdw=="),
        ("ORIGIN_TIMEOUT", "5"),
        ("CHART_DEPTH", "2"),
        ("PROXY_SERVICE", "charts.local"),
    ])
    .unwrap();
    assert_eq!(p.origin_auth.as_deref(), Some("Basic dXNlcjpwdw=="));
    assert_eq!(p.origin_timeout, 5);
    assert_eq!(p.chart.depth(), 2);
    assert_eq!(p.service, "charts.local");
    assert!(!format!("{p:?}").contains("dXNlcjpwdw"));
}

#[test]
fn origin_must_be_a_bare_http_origin() {
    for bad in [
        "",
        "127.0.0.1:5001",
        "ftp://x",
        "http://user:pw@x",
        "http://x/prefix",
        "http://x/?q=1",
        "http://x/#f",
        "file:///etc/passwd",
    ] {
        let e = parse(&[("ORIGIN", bad)]).unwrap_err();
        assert_eq!(e.setting, "ORIGIN", "{bad}");
    }
    assert!(parse(&[]).unwrap_err().message.contains("not set"));
}

#[test]
fn origin_auth_is_validated_and_never_echoed() {
    for bad in ["s3cr3t", "Digest abc", "Basic ", "Bearer a\r\nX: y"] {
        let e = parse(&[("ORIGIN", "http://x"), ("ORIGIN_AUTH", bad)]).unwrap_err();
        assert_eq!(e.setting, "ORIGIN_AUTH");
        assert!(!e.to_string().contains("s3cr3t"));
    }
    let p = parse(&[("ORIGIN", "http://x"), ("ORIGIN_AUTH", "Bearer abc.def")]).unwrap();
    assert_eq!(p.origin_auth.as_deref(), Some("Bearer abc.def"));
}

#[test]
fn numbers_are_bounded() {
    for (k, v) in [
        ("ORIGIN_TIMEOUT", "0"),
        ("ORIGIN_TIMEOUT", "601"),
        ("ORIGIN_TIMEOUT", "ten"),
        ("CHART_DEPTH", "9"),
        ("CHART_DEPTH", "-1"),
    ] {
        let e = parse(&[("ORIGIN", "http://x"), (k, v)]).unwrap_err();
        assert_eq!(e.setting, k);
    }
    let e = parse(&[("ORIGIN", "http://x"), ("PROXY_SERVICE", "a b")]).unwrap_err();
    assert_eq!(e.setting, "PROXY_SERVICE");
    let e = parse(&[("ORIGIN", "http://x"), ("PROXY_SERVICE", "unknown.local")]).unwrap_err();
    assert_eq!(e.setting, "PROXY_SERVICE");
    assert!(e.message.contains("SERVICES"));
}
