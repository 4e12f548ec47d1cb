use super::*;

fn rule(json: &str) -> Rule {
    serde_json::from_str(json).unwrap()
}

#[test]
fn glob_cover_cases() {
    assert!(glob_covers("org/*", "org/app"));
    assert!(glob_covers("org/*", "org/a*"));
    assert!(glob_covers("*", "${account}/*"));
    assert!(glob_covers("${account}/*", "${account}/x"));
    assert!(!glob_covers("org/app", "org/*"));
    assert!(!glob_covers("org/?", "org/*"));
    assert!(!glob_covers("alice/*", "${account}/*"));
    assert!(!glob_covers("org/secret*", "org/*"));
}

#[test]
fn findings_are_typed_rule_field_reason() {
    let rules = [
        rule(r#"{"match": {"type": "repository", "name": "org/*"}, "actions": ["pull"]}"#),
        rule(
            r#"{"match": {"type": "repository", "name": "org/app", "account": "a"}, "actions": ["pull", "pull", "fly"]}"#,
        ),
    ];
    let f = check_rules(&rules, &[]);
    assert_eq!(
        f,
        vec![
            Finding {
                rule: 1,
                field: Field::Action(1),
                reason: Reason::DuplicateAction("pull".into())
            },
            Finding {
                rule: 1,
                field: Field::Action(2),
                reason: Reason::NotAnActionOfType {
                    action: "fly".into(),
                    scope_type: "repository".into()
                }
            },
            Finding {
                rule: 1,
                field: Field::Rule,
                reason: Reason::ShadowedBy(0)
            },
        ]
    );
    assert_eq!(
        f[1].to_string(),
        "rule #1 actions: \"fly\" is not an action of type repository: use pull, push, delete, *"
    );
}

#[test]
fn placeholders_and_globs() {
    let f = check_rules(
        &[rule(
            r#"{"match": {"name": "${acount}/*", "account": "${account}"}, "actions": ["pull"]}"#,
        )],
        &[],
    );
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0].field, Field::Match(MatchField::Account));
    assert_eq!(
        f[0].reason,
        Reason::Value {
            value: "${account}".into(),
            problem: ValueProblem::PlaceholderOutsideName
        }
    );
    assert_eq!(f[1].field, Field::Match(MatchField::Name));
    assert!(matches!(
        &f[1].reason,
        Reason::Value { problem: ValueProblem::UnknownPlaceholder(p), .. } if p == "acount"
    ));
    // The worker refuses that name too; the finding above already explains the rule.
    assert!(refusal(&rule(
        r#"{"match": {"name": "${acount}/*"}, "actions": ["pull"]}"#
    ))
    .is_some());
}

#[test]
fn issuers_must_exist_and_refusals_are_reported_when_nothing_else_explains_them() {
    let claims: Vec<String> = (0..=MAX_RULE_CLAIMS)
        .map(|i| format!("\"c{i}\": \"x\""))
        .collect();
    let rules = [
        rule(r#"{"match": {"issuer": "gitlab"}, "actions": ["pull"]}"#),
        rule(&format!(
            r#"{{"match": {{"claims": {{{}}}}}, "actions": ["pull"]}}"#,
            claims.join(", ")
        )),
    ];
    let f = check_rules(&rules, &["github"]);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0].reason, Reason::UnknownIssuer("gitlab".into()));
    assert_eq!(f[1].reason, Reason::Refused(Refusal::TooManyClaims));
    assert_eq!(
        f[1].to_string(),
        format!(
            "rule #1: the worker would refuse this ACL: at most {MAX_RULE_CLAIMS} claims per rule"
        )
    );
    let glob = rule(r#"{"match": {"issuer": "git*"}, "actions": ["pull"]}"#);
    assert!(check_rules(&[glob], &["github"]).is_empty());
}
