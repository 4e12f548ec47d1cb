use super::*;
use std::collections::HashMap;

/// The second review: with REALM unset the realm follows the Host header. Warn, except for
/// local development on a loopback address.
#[test]
fn realm_unset_warns_outside_local_development() {
    let unset = parse(&[]).unwrap();
    let w = unset.realm_warning("registry.example.com").unwrap();
    assert!(
        w.contains("REALM is not set") && w.contains("registry.example.com"),
        "{w}"
    );
    for local in ["127.0.0.1", "localhost", "[::1]", "127.0.0.2"] {
        assert_eq!(unset.realm_warning(local), None, "{local}");
    }
    let set = parse(&[("REALM", Some("https://auth.example.com/token"))]).unwrap();
    assert_eq!(set.realm_warning("registry.example.com"), None);
}

fn vars(overrides: &[(&str, Option<&str>)]) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = [
        ("ISSUER", "tollgate-dev"),
        ("SERVICES", "registry.local chartmuseum.local"),
        ("RS256_SERVICES", "chartmuseum.local"),
        (
            "SIGNING_KEY",
            "-----BEGIN PRIVATE KEY-----\nsecretstuff\n-----END PRIVATE KEY-----",
        ),
        (
            "RSA_SIGNING_KEY",
            "-----BEGIN PRIVATE KEY-----\nrsasecret\n-----END PRIVATE KEY-----",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        match v {
            Some(v) => m.insert(k.to_string(), v.to_string()),
            None => m.remove(*k),
        };
    }
    m
}

fn parse(overrides: &[(&str, Option<&str>)]) -> Result<Settings, ConfigError> {
    let m = vars(overrides);
    Settings::from_vars(|k| m.get(k).cloned())
}

#[test]
fn defaults_apply() {
    let s = parse(&[]).unwrap();
    assert_eq!(s.issuer, "tollgate-dev");
    assert_eq!(s.services, vec!["registry.local", "chartmuseum.local"]);
    assert_eq!(s.token_ttl, 300);
    assert_eq!(s.refresh_ttl, 30 * 86_400);
    assert_eq!(s.cache_ttl, 30);
    assert_eq!(s.mode, Mode::Issuer);
    assert_eq!(s.realm, None);
    assert!(s.is_rs256("chartmuseum.local"));
    assert!(!s.is_rs256("registry.local"));
    assert!(s.knows_service("registry.local"));
    assert!(!s.knows_service("other"));
}

#[test]
fn explicit_values() {
    let s = parse(&[
        ("TOKEN_TTL", Some(" 600 ")),
        ("REFRESH_TTL", Some("3600")),
        ("CACHE_TTL", Some("0")),
        ("MODE", Some("both")),
        ("REALM", Some("https://auth.example.com/token")),
        ("SIGNING_CERT", Some("cert")),
    ])
    .unwrap();
    assert_eq!((s.token_ttl, s.refresh_ttl, s.cache_ttl), (600, 3600, 0));
    assert_eq!(s.mode, Mode::Both);
    assert!(s.mode.issues_tokens() && s.mode.proxies());
    assert_eq!(s.realm.as_deref(), Some("https://auth.example.com/token"));
    assert_eq!(s.signing_cert_pem.as_deref(), Some("cert"));
}

#[test]
fn token_ttl_errors_name_the_setting_and_range() {
    for bad in ["abc", "59", "86401", "-5", "1.5"] {
        let e = parse(&[("TOKEN_TTL", Some(bad))]).unwrap_err();
        assert_eq!(e.setting, "TOKEN_TTL");
        let text = e.to_string();
        assert!(text.contains("TOKEN_TTL"), "{text}");
        assert!(text.contains("between 60 and 86400"), "{text}");
        assert!(text.contains(&format!("'{bad}'")), "{text}");
    }
}

/// Asserts that `name` set to `value` (None: unset) is refused, naming `name`.
#[track_caller]
fn refuses(name: &str, value: Option<&str>) -> ConfigError {
    let e = parse(&[(name, value)]).unwrap_err();
    assert_eq!(e.setting, name, "{name}={value:?}");
    e
}

#[test]
fn missing_required_settings() {
    for name in ["ISSUER", "SIGNING_KEY"] {
        refuses(name, None);
    }
    refuses("SERVICES", Some("  "));
    let e = refuses("RSA_SIGNING_KEY", None);
    assert!(e.message.contains("chartmuseum.local"));
    // Without RS256 services the RSA key is optional.
    assert!(parse(&[("RSA_SIGNING_KEY", None), ("RS256_SERVICES", None)]).is_ok());
}

#[test]
fn malformed_values() {
    for (name, value) in [
        ("MODE", "gateway"),
        ("REALM", "auth.example.com"),
        ("ISSUER", "a\"b"),
        ("SERVICES", "ok bad\"one"),
        ("CACHE_TTL", "999999"),
        ("REFRESH_TTL", "10"),
    ] {
        refuses(name, Some(value));
    }
    let e = refuses("RS256_SERVICES", Some("nope"));
    assert!(e.message.contains("registry.local"));
}

#[test]
fn duplicate_services_are_merged() {
    let s = parse(&[("SERVICES", Some("a b a")), ("RS256_SERVICES", None)]).unwrap();
    assert_eq!(s.services, vec!["a", "b"]);
}

#[test]
fn secrets_never_appear_in_debug_or_errors() {
    let s = parse(&[]).unwrap();
    let dbg = format!("{s:?}");
    assert!(
        !dbg.contains("secretstuff") && !dbg.contains("rsasecret"),
        "{dbg}"
    );
    let e = parse(&[("TOKEN_TTL", Some("x"))]).unwrap_err();
    assert!(!e.to_string().contains("secretstuff"));
}

#[test]
fn printable_bounds_and_cleans() {
    let long = "x".repeat(200);
    assert!(printable(&long).chars().count() <= 65);
    assert_eq!(printable("a\nb"), "a?b");
}
