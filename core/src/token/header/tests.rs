use super::*;
use std::collections::HashMap;

fn services() -> Vec<String> {
    ["reg2", "reg3", "charts"].map(String::from).to_vec()
}

fn parse(vars: &[(&str, &str)], has_cert: bool) -> Result<HeaderSettings, ConfigError> {
    let m: HashMap<&str, &str> = vars.iter().copied().collect();
    HeaderSettings::from_vars(
        |k| m.get(k).map(|v| v.to_string()),
        &services(),
        &["charts".to_string()],
        has_cert,
    )
}

fn h(kid: KidFormat, x5c: bool) -> TokenHeader {
    TokenHeader { kid, x5c }
}

#[test]
fn defaults_are_the_behaviour_before_the_settings() {
    let s = parse(&[], true).unwrap();
    assert_eq!(s.header("reg2"), h(KidFormat::Libtrust, true));
    assert_eq!(s.header("charts"), h(KidFormat::Libtrust, false));
    assert_eq!(s.kid_formats(), [KidFormat::Libtrust]);
    let s = parse(&[], false).unwrap();
    assert_eq!(s.header("reg3"), h(KidFormat::Libtrust, false));
}

#[test]
fn per_service_values_override_the_default() {
    let s = parse(
        &[
            ("TOKEN_KID", "reg3=thumbprint"),
            ("TOKEN_X5C", " on reg3=off "),
        ],
        true,
    )
    .unwrap();
    assert_eq!(s.header("reg2"), h(KidFormat::Libtrust, true));
    assert_eq!(s.header("reg3"), h(KidFormat::Thumbprint, false));
    // A bare `on` means the ES256 services; the RS256 one keeps no x5c.
    assert_eq!(s.header("charts"), h(KidFormat::Libtrust, false));
    assert_eq!(
        s.kid_formats(),
        [KidFormat::Libtrust, KidFormat::Thumbprint]
    );
    let s = parse(&[("TOKEN_KID", "thumbprint"), ("TOKEN_X5C", "off")], true).unwrap();
    assert!(s
        .services()
        .all(|(_, x)| x == h(KidFormat::Thumbprint, false)));
    assert_eq!(s.kid_formats(), [KidFormat::Thumbprint]);
}

#[test]
fn wrong_values_and_combinations_are_refused_naming_the_setting() {
    // (setting, value, SIGNING_CERT set, the message says): the error names the setting.
    for (setting, value, cert, says) in [
        ("TOKEN_KID", "jwk", true, "'libtrust'"),
        ("TOKEN_KID", "reg9=thumbprint", true, "not in SERVICES"),
        ("TOKEN_KID", "reg2=libtrust reg2=thumbprint", true, "twice"),
        ("TOKEN_KID", "libtrust thumbprint", true, "two values"),
        ("TOKEN_X5C", "yes", true, "'on' or 'off'"),
        ("TOKEN_X5C", "on", false, "SIGNING_CERT is not set"),
        ("TOKEN_X5C", "reg3=on", false, "SIGNING_CERT is not set"),
        ("TOKEN_X5C", "charts=on", true, "RS256 service"),
    ] {
        let vars = [(setting, value)];
        let e = parse(&vars, cert).unwrap_err();
        assert_eq!(e.setting, setting, "{vars:?}: {e}");
        assert!(e.to_string().contains(says), "{vars:?}: {e}");
    }
    // Turning x5c off needs no certificate.
    assert!(parse(&[("TOKEN_X5C", "off")], false).is_ok());
}
