use super::*;
use serde_json::json;

fn cfg() -> IssuerConfig {
    IssuerConfig {
        name: "github".into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
        audiences: vec!["https://registry.example".into()],
        username: Some("github-actions".into()),
        subject: Some("github:${claims.repository}:${claims.ref}".into()),
        max_lifetime: Some(3600),
        jwks_uri: None,
        services: None,
    }
}

const NOW: u64 = 1_800_000_000;

fn claims(extra: Value) -> Vec<u8> {
    let mut base = json!({
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "https://registry.example",
        "sub": "repo:org/app:ref:refs/heads/main",
        "repository": "org/app", "ref": "refs/heads/main", "jti": "j-1",
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 290,
        "run_attempt": 1, "ephemeral": true, "list": ["a"],
        "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder"}}
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base.to_string().into_bytes()
}

/// The reviewer's finding: a nested `kubernetes.io.namespace` of team-b and a top-level dotted
/// one of team-a matched rules as team-a. One flattened name twice is refused, in either order
/// and at any depth, also when one of the values is too long to keep.
#[test]
fn one_flattened_name_twice_is_refused() {
    let long = "x".repeat(MAX_CLAIM_VALUE_LEN + 1);
    for text in [
        r#"{"kubernetes.io":{"namespace":"team-b"},"kubernetes.io.namespace":"team-a"}"#
            .to_string(),
        r#"{"kubernetes.io.namespace":"team-a","kubernetes.io":{"namespace":"team-b"}}"#
            .to_string(),
        r#"{"a":{"b.c":"1","b":{"c":"2"}}}"#.to_string(),
        format!(r#"{{"a.b":"{long}","a":{{"b":"short"}}}}"#),
        // The nested value is the long, dropped one (walked first: keys are in order).
        format!(r#"{{"a":{{"b":"{long}"}},"a.b":"short"}}"#),
        format!(r#"{{"a":{{"b":"{long}"}},"a.b":"{long}"}}"#),
    ] {
        let m: Map<String, Value> = serde_json::from_str(&text).unwrap();
        let e = flatten(m).unwrap_err();
        assert!(
            e.contains("twice") && e.contains("ambiguous"),
            "{text}: {e}"
        );
    }
    // Distinct names that merely share a prefix are fine.
    let m: Map<String, Value> =
        serde_json::from_str(r#"{"a.b":"1","a":{"c":"2"},"a.b.c":"3"}"#).unwrap();
    assert_eq!(flatten(m).unwrap().len(), 3);
}

#[test]
fn numbers_and_booleans_flatten_to_their_json_text() {
    let m: Map<String, Value> = serde_json::from_str(
        r#"{"run_number": 42, "ratio": 1.5, "neg": -3, "ok": true, "list": [1], "n": null}"#,
    )
    .unwrap();
    let f = flatten(m).unwrap();
    assert_eq!(f["run_number"], "42");
    assert_eq!(f["ratio"], "1.5");
    assert_eq!(f["neg"], "-3");
    assert_eq!(f["ok"], "true");
    assert!(!f.contains_key("list") && !f.contains_key("n"));
}

#[test]
fn accepts_and_names_the_workload() {
    let id = check_claims(&cfg(), &claims(json!({})), NOW).unwrap();
    assert_eq!(id.subject, "github:org/app:refs/heads/main");
    assert_eq!(id.issuer, "github");
    assert_eq!(id.jti.as_deref(), Some("j-1"));
    assert_eq!(id.claims["kubernetes.io.namespace"], "ci");
    assert_eq!(id.claims["kubernetes.io.serviceaccount.name"], "builder");
    assert_eq!(id.claims["run_attempt"], "1");
    assert_eq!(id.claims["ephemeral"], "true");
    assert!(!id.claims.contains_key("list"), "arrays are not flattened");
    let arr = check_claims(
        &cfg(),
        &claims(json!({"aud": ["x", "https://registry.example"]})),
        NOW,
    );
    assert!(arr.is_ok());
}

#[test]
fn each_registered_claim_check_fails_on_its_own() {
    let c = cfg();
    let err = |extra: Value, now: u64| {
        check_claims(&c, &claims(extra), now)
            .unwrap_err()
            .to_string()
    };
    assert!(err(json!({"iss": "https://evil.example"}), NOW).contains("issuer (iss)"));
    assert!(err(json!({"aud": "other"}), NOW).contains("audience [other] is not accepted"));
    assert!(err(json!({"aud": ["a", "b"]}), NOW).contains("audience"));
    assert!(err(json!({}), NOW + 290 + 61).contains("expired"));
    assert!(
        check_claims(&c, &claims(json!({})), NOW + 290 + 60).is_ok(),
        "leeway"
    );
    assert!(err(json!({"nbf": NOW + 61}), NOW).contains("not yet valid"));
    assert!(err(json!({"iat": NOW + 61, "exp": NOW + 100}), NOW).contains("issued in the future"));
    assert!(err(json!({"iat": NOW - 10, "exp": NOW + 3600}), NOW).contains("too long-lived"));
    assert!(err(json!({"exp": "soon"}), NOW).contains("malformed"));
    assert!(err(json!({"exp": null}), NOW).contains("no 'exp'"));
    assert!(err(json!({"iat": null}), NOW).contains("no 'iat'"));
    assert!(err(json!({"ref": null}), NOW).contains("no 'ref' claim"));
    let many: Map<String, Value> = (0..=MAX_CLAIMS)
        .map(|i| (format!("c{i}"), json!(i)))
        .collect();
    assert!(err(Value::Object(many), NOW).contains("more than"));
}

#[test]
fn templates() {
    assert!(validate_template("ci:${claims.repository}:${claims.kubernetes.io.namespace}").is_ok());
    assert!(validate_template("${account}").is_err());
    assert!(validate_template("${claims.}").is_err());
    assert!(validate_template("${claims.a").is_err());
    let mut m = BTreeMap::new();
    m.insert(
        "sub".to_string(),
        "system:serviceaccount:ci:builder".to_string(),
    );
    assert_eq!(
        render_subject("k8s:${claims.sub}", &m).unwrap(),
        "k8s:system:serviceaccount:ci:builder"
    );
    m.insert("sub".to_string(), "x".repeat(MAX_ACCOUNT_LEN));
    assert!(render_subject("k8s:${claims.sub}", &m).is_err(), "too long");
}
