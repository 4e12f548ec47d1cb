use super::*;
use std::collections::BTreeMap;

fn acl(json: &str) -> Acl {
    Acl::from_json(json).unwrap()
}

fn user(name: &str, groups: &[&str]) -> Principal<'static> {
    Principal::user(
        name,
        &groups.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
        &BTreeMap::new(),
    )
    .into_owned()
}

fn scopes(s: &[&str]) -> Vec<Scope> {
    crate::scope::parse_scopes(s.iter().copied()).unwrap()
}

/// What `acl` grants `who` for the one `scope` at `service`.
fn grant(acl: &Acl, who: &Principal, service: &str, scope: &str) -> Vec<Access> {
    acl.authorize(who, service, &scopes(&[scope]))
}

/// How `acl` decides the one `scope` for `who` at `service`.
fn decide(acl: &Acl, who: &Principal, service: &str, scope: &str) -> Vec<ScopeDecision> {
    acl.explain(who, service, &scopes(&[scope]))
}

const DEMO: &str = r#"[
        {"match": {"account": "admin"}, "actions": ["*"], "comment": "admins"},
        {"match": {"account": "mallory"}, "actions": [], "comment": "banned"},
        {"match": {"name": "${account}/*"}, "actions": ["*"], "comment": "personal"},
        {"match": {"group": "dev", "name": "org/*"}, "actions": ["pull", "push"]},
        {"match": {"anonymous": false, "name": "org/*"}, "actions": ["pull"]},
        {"match": {"name": "public/*", "type": "repository"}, "actions": ["pull"]}
    ]"#;

#[test]
fn first_match_wins_and_intersects() {
    let a = acl(DEMO);
    let g = grant(
        &a,
        &user("alice", &["dev"]),
        "reg",
        "repository:org/app:pull,push,delete",
    );
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].actions, vec!["pull", "push"]);
    let g = grant(&a, &user("bob", &[]), "reg", "repository:org/app:pull,push");
    assert_eq!(g[0].actions, vec!["pull"]);
}

#[test]
fn star_grants_what_was_asked_including_catalog() {
    let a = acl(DEMO);
    let g = a.authorize(
        &user("admin", &[]),
        "reg",
        &scopes(&["registry:catalog:*", "repository:x:pull,delete"]),
    );
    assert_eq!(g[0].actions, vec!["*"]);
    assert_eq!(g[1].actions, vec!["delete", "pull"]);
    let g = grant(&a, &user("bob", &[]), "reg", "registry:catalog:*");
    assert!(g.is_empty(), "a literal * request needs a * rule");
}

#[test]
fn duplicate_keys_in_a_rule_are_malformed_not_last_wins() {
    for text in [
        r#"[{"match":{"account":"nobody","account":"alice"},"actions":["*"]}]"#,
        r#"[{"match":{"labels":{"team":"x","team":"*"}},"actions":["pull"]}]"#,
        r#"[{"match":{"claims":{"repository":"org/app","repository":"*"}},"actions":["pull"]}]"#,
        r#"[{"match":{},"actions":[],"actions":["*"]}]"#,
    ] {
        assert!(Acl::from_json(text).is_err(), "{text}");
    }
}

#[test]
fn explicit_deny_stops_later_rules() {
    let a = acl(DEMO);
    let d = decide(
        &a,
        &user("mallory", &["dev"]),
        "reg",
        "repository:public/x:pull",
    );
    assert_eq!(d[0].rule, Some(1));
    assert!(d[0].granted.is_empty());
    assert!(d[0].reason.contains("denies"));
}

#[test]
fn personal_namespace_placeholder() {
    let a = acl(DEMO);
    let g = a.authorize(
        &user("carol", &[]),
        "reg",
        &scopes(&["repository:carol/app:push", "repository:dave/app:push"]),
    );
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].name, "carol/app");
    let g = grant(
        &a,
        &Principal::Anonymous,
        "reg",
        "repository:carol/app:pull",
    );
    assert!(g.is_empty(), "anonymous has no ${{account}}");
}

#[test]
fn anonymous_only_matches_rules_without_principal_conditions() {
    let a = acl(DEMO);
    let g = a.authorize(
        &Principal::Anonymous,
        "reg",
        &scopes(&["repository:public/x:pull,push", "repository:org/app:pull"]),
    );
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].actions, vec!["pull"]);
    let any = acl(r#"[{"match": {"account": "*"}, "actions": ["pull"]}]"#);
    assert!(grant(&any, &Principal::Anonymous, "s", "repository:a:pull").is_empty());
}

#[test]
fn labels_and_service_conditions() {
    let a = acl(
        r#"[{"match": {"labels": {"team": "blue*"}, "service": "reg", "name": "${labels:team}/*"}, "actions": ["pull"]}]"#,
    );
    let mut labels = BTreeMap::new();
    labels.insert(
        "team".to_string(),
        vec!["blue".to_string(), "bluer".to_string()],
    );
    let p = Principal::user("x", &[], &labels);
    assert_eq!(grant(&a, &p, "reg", "repository:bluer/app:pull").len(), 1);
    assert!(grant(&a, &p, "other", "repository:bluer/app:pull").is_empty());
    assert!(grant(&a, &p, "reg", "repository:red/app:pull").is_empty());
}

#[test]
fn glob_characters_in_values_never_widen() {
    let a = acl(r#"[{"match": {"name": "${account}/*"}, "actions": ["*"]}]"#);
    let p = user("*", &[]);
    assert!(grant(&a, &p, "s", "repository:org/app:pull").is_empty());
}

#[test]
fn empty_acl_grants_nothing() {
    let a = Acl::default();
    assert!(grant(&a, &user("admin", &[]), "s", "repository:a:pull").is_empty());
    assert!(grant(&a, &workload("github", &[]), "s", "repository:a:pull").is_empty());
}

fn workload(issuer: &str, claims: &[(&str, &str)]) -> Principal<'static> {
    let claims = claims
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Principal::workload(issuer, &format!("{issuer}:x"), &claims).into_owned()
}

const FEDERATED: &str = r#"[
        {"match": {"issuer": "github", "claims": {"repository_owner": "org", "ref": "refs/heads/main"},
                   "name": "ci/${claims.repository}"}, "actions": ["pull", "push"]},
        {"match": {"issuer": "github", "claims": {"repository_owner": "org"}, "name": "ci/${claims.repository}"},
         "actions": ["pull"]},
        {"match": {"issuer": "k8s*", "claims": {"kubernetes.io.namespace": "team-*"},
                   "name": "${claims.kubernetes.io.namespace}/*"}, "actions": ["pull"]},
        {"match": {"account": "*"}, "actions": ["*"], "comment": "users only"},
        {"match": {"anonymous": false, "name": "shared/*"}, "actions": ["pull"]},
        {"match": {"name": "public/*"}, "actions": ["pull"]}
    ]"#;

#[test]
fn workloads_match_issuer_claims_and_templates() {
    let a = acl(FEDERATED);
    // A GitHub Actions token of org/app, built from `git_ref`.
    let org_app_on = |git_ref: &str| {
        let claims = [
            ("repository_owner", "org"),
            ("repository", "org/app"),
            ("ref", git_ref),
        ];
        workload("github", &claims)
    };
    let main = org_app_on("refs/heads/main");
    let g = grant(&a, &main, "reg", "repository:ci/org/app:pull,push,delete");
    assert_eq!(g[0].actions, vec!["pull", "push"]);
    assert!(
        grant(&a, &main, "reg", "repository:ci/org/other:pull").is_empty(),
        "the template pins the workload to its own repository"
    );
    let branch = org_app_on("refs/heads/x");
    let d = decide(&a, &branch, "reg", "repository:ci/org/app:pull,push");
    assert_eq!(d[0].rule, Some(1));
    assert_eq!(d[0].granted, vec!["pull"]);
    // A claim glob that does not match, or the wrong issuer.
    for (issuer, owner) in [("github", "evil"), ("gitlab", "org")] {
        let w = workload(
            issuer,
            &[("repository_owner", owner), ("repository", "org/app")],
        );
        let g = grant(&a, &w, "reg", "repository:ci/org/app:pull");
        assert!(g.is_empty(), "{issuer} {owner}");
    }
    // Kubernetes claims with dots.
    let sa = workload("k8s-prod", &[("kubernetes.io.namespace", "team-a")]);
    assert_eq!(grant(&a, &sa, "reg", "repository:team-a/app:pull").len(), 1);
    assert!(grant(&a, &sa, "reg", "repository:team-b/app:pull").is_empty());
}

#[test]
fn workloads_and_users_never_cross() {
    let a = acl(FEDERATED);
    let w = workload("github", &[]);
    // `account: "*"` is for users only; rules without principal conditions apply to workloads.
    let d = a.explain(
        &w,
        "reg",
        &scopes(&[
            "repository:x:pull",
            "repository:shared/a:pull",
            "repository:public/a:pull",
        ]),
    );
    assert_eq!(d[0].rule, None);
    assert!(d[0].reason.contains("workload"));
    assert_eq!(d[1].rule, Some(4), "anonymous:false includes workloads");
    assert_eq!(d[2].rule, Some(5));
    // Claim rules never match users or anonymous.
    let u = user("org", &[]);
    let g = decide(&a, &u, "reg", "repository:ci/org/app:pull");
    assert_eq!(g[0].rule, Some(3));
    assert!(grant(&a, &Principal::Anonymous, "reg", "repository:ci/x:pull").is_empty());
    let claimless = acl(r#"[{"match": {"issuer": "*"}, "actions": ["pull"]}]"#);
    assert!(grant(&claimless, &u, "s", "repository:a:pull").is_empty());
    assert!(grant(&claimless, &Principal::Anonymous, "s", "repository:a:pull").is_empty());
    assert_eq!(grant(&claimless, &w, "s", "repository:a:pull").len(), 1);
}

#[test]
fn claim_placeholders_must_be_repository_paths() {
    let a = acl(
        r#"[{"match": {"issuer": "github", "name": "ci/${claims.repository}"}, "actions": ["pull"]}]"#,
    );
    for bad in ["org/*", "org/../x", "", "org//app", "org/app "] {
        let w = workload("github", &[("repository", bad)]);
        let name = format!("ci/{}", if bad.is_empty() { "x" } else { "org/app" });
        assert!(
            grant(&a, &w, "s", &format!("repository:{name}:pull")).is_empty(),
            "{bad}"
        );
    }
    let missing = workload("github", &[]);
    assert!(grant(&a, &missing, "s", "repository:ci/org/app:pull").is_empty());
}

#[test]
fn claim_placeholders_fold_ascii_case() {
    let a = acl(
        r#"[{"match": {"issuer": "github", "name": "ci/${claims.repository}"}, "actions": ["pull"]}]"#,
    );
    let w = workload("github", &[("repository", "MyOrg/App")]);
    assert_eq!(
        grant(&a, &w, "s", "repository:ci/myorg/app:pull")[0].actions,
        vec!["pull".to_string()]
    );
    // Folding happens after the claim is read, never to the claim globs: another owner's
    // repository stays out of reach.
    assert!(grant(&a, &w, "s", "repository:ci/otherorg/app:pull").is_empty());
}

#[test]
fn workload_rules_are_validated() {
    for bad in [
        r#"[{"match": {"issuer": "x", "account": "a"}, "actions": []}]"#,
        r#"[{"match": {"claims": {"a": "b"}, "group": "g"}, "actions": []}]"#,
        r#"[{"match": {"claims": {"a": "b"}, "anonymous": true}, "actions": []}]"#,
        r#"[{"match": {"claims": {"bad key": "b"}}, "actions": []}]"#,
        r#"[{"match": {"name": "${claims.}"}, "actions": []}]"#,
        r#"[{"match": {"name": "${claims}"}, "actions": []}]"#,
    ] {
        assert!(Acl::from_json(bad).is_err(), "{bad}");
    }
    let a = acl(r#"[
            {"match": {"issuer": "*"}, "actions": ["pull"]},
            {"match": {"issuer": "github", "claims": {"ref": "x"}}, "actions": ["push"]},
            {"match": {"claims": {"ref": "x"}}, "actions": ["push"]}
        ]"#);
    assert_eq!(a.shadowed_rules(), vec![(1, 0)]);
}

#[test]
fn malformed_acls_are_errors() {
    assert!(Acl::from_json("{}").is_err());
    assert!(
        Acl::from_json(r#"[[[], ["*"]]]"#).is_err(),
        "a rule written as an array (match-all, *) is refused"
    );
    assert!(Acl::from_json(r#"[{"match": ["alice"], "actions": ["*"]}]"#).is_err());
    assert!(Acl::from_json(r#"[{"actions": ["PULL"]}]"#).is_err());
    assert!(Acl::from_json(r#"[{"match": {"nmae": "x"}, "actions": []}]"#).is_err());
    assert!(Acl::from_json(r#"[{"match": {"name": "${user}/*"}, "actions": []}]"#).is_err());
    assert!(Acl::from_json(r#"[{"match": {"name": "${account"}, "actions": []}]"#).is_err());
    assert!(
        Acl::from_json(r#"[{"match": {}}]"#).is_err(),
        "actions required"
    );
}

#[test]
fn finds_shadowed_rules() {
    let a = acl(r#"[
            {"match": {"account": "*"}, "actions": ["pull"]},
            {"match": {"account": "alice", "name": "x"}, "actions": ["push"]},
            {"match": {"anonymous": true}, "actions": ["pull"]}
        ]"#);
    assert_eq!(a.shadowed_rules(), vec![(1, 0)]);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn action() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("pull".to_string()),
            Just("push".to_string()),
            Just("delete".to_string()),
            Just("*".to_string())
        ]
    }

    proptest! {
        #[test]
        fn grant_is_subset_of_request_and_rule(
            rule_actions in proptest::collection::vec(action(), 0..4),
            asked in proptest::collection::vec(action(), 1..4),
            account in "[a-c]{1,2}",
            name_pat in prop_oneof![Just("*".to_string()), Just("a/*".to_string()), Just("${account}/*".to_string())],
            name in prop_oneof![Just("a/x".to_string()), Just("b/x".to_string()), Just("ab/x".to_string())],
        ) {
            let rules = vec![Rule { matcher: Match { name: Some(name_pat), ..Match::default() }, actions: rule_actions.clone(), comment: None }];
            let a = Acl::from_rules(rules).unwrap();
            let scope = Scope::parse(&format!("repository:{name}:{}", asked.join(","))).unwrap();
            for p in [user(&account, &[]), Principal::Anonymous] {
                for g in a.authorize(&p, "s", std::slice::from_ref(&scope)) {
                    for act in &g.actions {
                        prop_assert!(scope.actions.contains(act));
                        prop_assert!(rule_actions.contains(act) || rule_actions.iter().any(|r| r == "*"));
                    }
                }
            }
            prop_assert!(Acl::default().authorize(&user(&account, &[]), "s", &[scope]).is_empty());
        }
    }

    // Multi-rule ACLs drawn from small alphabets that collide often: globs, placeholders and
    // glob characters in the principal's own values.
    fn pattern(list: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
        proptest::option::of(proptest::sample::select(list).prop_map(str::to_string))
    }

    fn rule() -> impl Strategy<Value = Rule> {
        (
            (
                pattern(&["alice", "bob", "*", "a*", "?lice"]),
                pattern(&["dev", "*", "d?v"]),
                proptest::option::of(any::<bool>()),
                pattern(&["reg", "*", "other"]),
            ),
            (
                pattern(&["repository", "*", "registry"]),
                pattern(&[
                    "*",
                    "org/*",
                    "${account}/*",
                    "${labels:team}/*",
                    "${service}",
                    "catalog",
                    "${type}/x",
                    "a*b?",
                    "${claims.repository}",
                    "ci/${claims.repository}",
                ]),
                pattern(&["blue*", "*", "red"]),
                proptest::collection::vec(action(), 0..3),
            ),
            (
                pattern(&["https://ci.example", "*", "https://other.example"]),
                pattern(&["org/*", "*", "myorg/app"]),
            ),
        )
            .prop_map(
                |(
                    (account, group, anonymous, service),
                    (typ, name, team, actions),
                    (issuer, repo),
                )| Rule {
                    matcher: Match {
                        account,
                        group,
                        anonymous,
                        service,
                        resource_type: typ,
                        name,
                        labels: team
                            .map(|t| BTreeMap::from([("team".to_string(), t)]))
                            .unwrap_or_default(),
                        issuer,
                        claims: repo
                            .map(|r| BTreeMap::from([("repository".to_string(), r)]))
                            .unwrap_or_default(),
                    },
                    actions,
                    comment: None,
                },
            )
    }

    fn principal() -> impl Strategy<Value = Principal<'static>> {
        prop_oneof![
            Just(Principal::Anonymous),
            (
                proptest::sample::select(&["alice", "bob", "*", "a?", "org"][..]),
                proptest::collection::vec(proptest::sample::select(&["dev", "ops", "*"][..]), 0..3),
                proptest::collection::vec(
                    proptest::sample::select(&["blue", "red", "*", "bl?e"][..]),
                    0..3
                ),
            )
                .prop_map(|(name, groups, team)| {
                    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
                    let mut labels = BTreeMap::new();
                    if !team.is_empty() {
                        labels.insert(
                            "team".to_string(),
                            team.iter().map(|t| t.to_string()).collect(),
                        );
                    }
                    Principal::user(name, &groups, &labels).into_owned()
                }),
            (
                proptest::sample::select(&["https://ci.example", "https://other.example"][..]),
                proptest::option::of(proptest::sample::select(
                    &["org/app", "MyOrg/App", "a*", "bad value"][..]
                )),
            )
                .prop_map(|(issuer, repo)| {
                    let claims = repo
                        .map(|r| BTreeMap::from([("repository".to_string(), r.to_string())]))
                        .unwrap_or_default();
                    Principal::workload(issuer, "alice", &claims).into_owned()
                }),
        ]
    }

    fn requested() -> impl Strategy<Value = Vec<Scope>> {
        let resource = proptest::sample::select(
            &[
                "repository:org/app",
                "repository:ci/myorg/app",
                "repository:myorg/app",
                "repository:alice/x",
                "repository:blue/x",
                "repository:repository/x",
                "repository:reg",
                "repository:ab/x",
                "registry:catalog",
                "repository(plugin):org/app",
            ][..],
        );
        proptest::collection::vec((resource, proptest::collection::vec(action(), 1..4)), 1..5)
            .prop_map(|v| {
                let texts: Vec<String> = v
                    .iter()
                    .map(|(r, a)| format!("{r}:{}", a.join(",")))
                    .collect();
                crate::scope::parse_scopes(texts.iter().map(String::as_str)).unwrap()
            })
    }

    fn valid_acl() -> impl Strategy<Value = Vec<Rule>> {
        proptest::collection::vec(rule(), 0..8)
            .prop_filter("validation refuses some combinations", |r| {
                Acl::from_rules(r.clone()).is_ok()
            })
    }

    proptest! {
        /// For every scope: granted + refused is exactly what was asked; the grant is within
        /// the deciding rule's actions; explain and authorize agree; no rule, no grant.
        #[test]
        fn grant_is_subset_of_request_and_deciding_rule(
            rules in valid_acl(), p in principal(), service in prop_oneof![Just("reg"), Just("other")],
            req in requested(),
        ) {
            let a = Acl::from_rules(rules.clone()).unwrap();
            let decisions = a.explain(&p, service, &req);
            for d in &decisions {
                let mut all: Vec<String> = d.granted.iter().chain(&d.refused).cloned().collect();
                all.sort();
                prop_assert_eq!(&all, &d.scope.actions);
                match d.rule {
                    None => prop_assert!(d.granted.is_empty()),
                    Some(i) => {
                        let allowed = &rules[i].actions;
                        let star = allowed.iter().any(|x| x == "*");
                        prop_assert!(d.granted.iter().all(|x| star || allowed.contains(x)));
                    }
                }
            }
            let granted = a.authorize(&p, service, &req);
            let expect: Vec<Access> = decisions.iter().filter(|d| !d.granted.is_empty()).map(|d| Access {
                resource_type: d.scope.resource_type.clone(),
                name: d.scope.name.clone(),
                actions: d.granted.clone(),
            }).collect();
            prop_assert_eq!(granted, expect);
        }

        /// First match wins: the deciding rule is the first one that, alone in an ACL, would
        /// decide this scope.
        #[test]
        fn first_matching_rule_decides(
            rules in valid_acl(), p in principal(), req in requested(),
        ) {
            let a = Acl::from_rules(rules.clone()).unwrap();
            for d in a.explain(&p, "reg", &req) {
                let first = rules.iter().position(|r| {
                    Acl::from_rules(vec![r.clone()]).unwrap().explain(&p, "reg", std::slice::from_ref(&d.scope))[0].rule.is_some()
                });
                prop_assert_eq!(d.rule, first);
            }
        }

        /// An empty ACL grants nothing. Account conditions and ${account}/${labels:} names only
        /// ever match accounts; issuer/claims conditions and ${claims.} names only workloads;
        /// anonymous requests only rules without any principal condition.
        #[test]
        fn who_can_match(rules in valid_acl(), p in principal(), req in requested()) {
            let a = Acl::from_rules(rules.clone()).unwrap();
            prop_assert!(Acl::default().authorize(&p, "reg", &req).is_empty());
            for d in a.explain(&p, "reg", &req) {
                let Some(i) = d.rule else { continue };
                let m = &rules[i].matcher;
                let name = m.name.as_deref().unwrap_or("");
                let for_users = m.account.is_some() || m.group.is_some() || !m.labels.is_empty()
                    || name.contains("${account}") || name.contains("${labels:");
                let for_workloads = m.issuer.is_some() || !m.claims.is_empty() || name.contains("${claims.");
                match &p {
                    Principal::Anonymous => {
                        prop_assert!(!for_users && !for_workloads, "anonymous matched rule #{}", i);
                        prop_assert!(m.anonymous != Some(false), "rule #{}", i);
                    }
                    Principal::Account { .. } => {
                        prop_assert!(!for_workloads, "an account matched workload rule #{}", i);
                        prop_assert!(m.anonymous != Some(true), "rule #{}", i);
                    }
                    Principal::Workload { .. } => {
                        prop_assert!(!for_users, "a workload matched account rule #{}", i);
                        prop_assert!(m.anonymous != Some(true), "rule #{}", i);
                    }
                }
            }
        }

        /// A rule `shadowed_rules` reports as dead never decides anything.
        #[test]
        fn shadowed_rules_never_decide(rules in valid_acl(), p in principal(), req in requested()) {
            let a = Acl::from_rules(rules).unwrap();
            let shadowed = a.shadowed_rules();
            for d in a.explain(&p, "reg", &req) {
                prop_assert!(!shadowed.iter().any(|(j, _)| Some(*j) == d.rule), "{:?} {:?}", d, shadowed);
            }
        }

        /// A deny-all rule first denies everything; rules appended at the end never change a
        /// decision an earlier rule made.
        #[test]
        fn deny_first_and_append_last(rules in valid_acl(), p in principal(), req in requested()) {
            let mut deny = vec![Rule { actions: vec![], ..Rule::default() }];
            deny.extend(rules.iter().cloned());
            prop_assert!(Acl::from_rules(deny).unwrap().authorize(&p, "reg", &req).is_empty());
            let before = Acl::from_rules(rules.clone()).unwrap().explain(&p, "reg", &req);
            let mut more = rules;
            more.push(Rule { actions: vec!["*".into()], ..Rule::default() });
            let after = Acl::from_rules(more).unwrap().explain(&p, "reg", &req);
            for (b, a) in before.iter().zip(&after) {
                if b.rule.is_some() {
                    prop_assert_eq!(b, a);
                }
            }
        }

        /// Glob characters in an account name or label value never act as a pattern when
        /// substituted into a rule's name.
        #[test]
        fn substituted_values_never_widen(
            name in "[a-c]{0,2}[*?][a-c*?]{0,2}", req in requested(),
        ) {
            let a = acl(r#"[{"match": {"name": "${account}/*"}, "actions": ["*"]},
                               {"match": {"name": "${labels:team}/*"}, "actions": ["*"]},
                               {"match": {"name": "${claims.repository}/*"}, "actions": ["*"]}]"#);
            let labels = BTreeMap::from([("team".to_string(), vec![name.clone()])]);
            let p = Principal::user(&name, &[], &labels);
            prop_assert!(a.authorize(&p, "reg", &req).is_empty());
            let claims = BTreeMap::from([("repository".to_string(), name.clone())]);
            let w = Principal::workload("https://ci.example", "s", &claims);
            prop_assert!(a.authorize(&w, "reg", &req).is_empty());
        }
    }
}
