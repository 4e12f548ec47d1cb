//! The ACL evaluator with structured input: rules, a principal and scopes drawn from small
//! alphabets that collide often (globs, placeholders, glob characters in account names).
//! Invariants: a grant is a subset of what was asked and of what the deciding rule allows; account
//! conditions never match workloads nor issuer/claims conditions accounts; anonymous requests are
//! decided only by rules without principal conditions; a rule `shadowed_rules` reports as dead
//! never decides; a deny-all rule first denies everything.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use tollgate_core::policy::{Acl, Match, Principal, Rule};
use tollgate_core::scope::{parse_scopes, Scope};
use tollgate_fuzz::check_grant_subset;

const ACCOUNTS: [&str; 6] = ["alice", "bob", "*", "a*", "?lice", "admin"];
const GROUPS: [&str; 4] = ["dev", "*", "d?v", "ops"];
const SERVICES: [&str; 3] = ["registry.local", "*", "other"];
const TYPES: [&str; 4] = ["repository", "*", "registry", "artifact-repository"];
const NAMES: [&str; 13] = [
    "*",
    "org/*",
    "${account}/*",
    "${labels:team}/*",
    "${service}",
    "public/*",
    "org/app",
    "${type}/x",
    "a*b?",
    "catalog",
    "${account}",
    "${claims.repository}",
    "ci/${claims.repository}",
];
const ISSUERS: [&str; 3] = ["https://ci.example", "*", "https://other.example"];
const CLAIM_PATTERNS: [&str; 3] = ["org/*", "*", "myorg/app"];
const CLAIM_VALUES: [&str; 4] = ["org/app", "MyOrg/App", "a*", "bad value"];
const LABEL_PATTERNS: [&str; 4] = ["blue*", "*", "red", "b?ue"];
const LABEL_VALUES: [&str; 5] = ["blue", "red", "*", "bl?e", "org"];
const ACTIONS: [&str; 4] = ["pull", "push", "delete", "*"];
const PRINCIPAL_NAMES: [&str; 6] = ["alice", "bob", "admin", "*", "a?", "org"];
const SCOPES: [&str; 14] = [
    "repository:org/app",
    "repository:ci/myorg/app",
    "repository:myorg/app",
    "repository:alice/x",
    "repository:bob/x",
    "repository:public/x",
    "repository:blue/x",
    "repository:repository/x",
    "repository:registry.local",
    "repository:ab/x",
    "repository:alice",
    "registry:catalog",
    "artifact-repository:org1/repo1",
    "repository(plugin):org/app",
];

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[usize::from(i) % list.len()]
}

fn opt<'a>(list: &[&'a str], i: Option<u8>) -> Option<String> {
    i.map(|i| pick(list, i).to_string())
}

/// A bit set over ACTIONS; `None` bits mean an empty list (an explicit deny).
fn actions(bits: u8) -> Vec<String> {
    (0..ACTIONS.len())
        .filter(|b| bits & (1 << b) != 0)
        .map(|b| ACTIONS[b].to_string())
        .collect()
}

#[derive(Debug, Arbitrary)]
struct InRule {
    account: Option<u8>,
    group: Option<u8>,
    anonymous: Option<bool>,
    service: Option<u8>,
    resource_type: Option<u8>,
    name: Option<u8>,
    team: Option<u8>,
    issuer: Option<u8>,
    claim: Option<u8>,
    actions: u8,
}

#[derive(Debug, Arbitrary)]
enum InPrincipal {
    Anonymous,
    Account { name: u8, groups: u8, team: u8 },
    Workload { issuer: u8, claim: Option<u8> },
}

#[derive(Debug, Arbitrary)]
struct Input {
    rules: Vec<InRule>,
    principal: InPrincipal,
    service: u8,
    scopes: Vec<(u8, u8)>,
}

fn rule(r: &InRule) -> Rule {
    let mut labels = BTreeMap::new();
    if let Some(t) = r.team {
        labels.insert("team".to_string(), pick(&LABEL_PATTERNS, t).to_string());
    }
    Rule {
        matcher: Match {
            account: opt(&ACCOUNTS, r.account),
            group: opt(&GROUPS, r.group),
            anonymous: r.anonymous,
            service: opt(&SERVICES, r.service),
            resource_type: opt(&TYPES, r.resource_type),
            name: opt(&NAMES, r.name),
            labels,
            issuer: opt(&ISSUERS, r.issuer),
            claims: r
                .claim
                .map(|c| {
                    BTreeMap::from([(
                        "repository".to_string(),
                        pick(&CLAIM_PATTERNS, c).to_string(),
                    )])
                })
                .unwrap_or_default(),
        },
        actions: actions(r.actions),
        comment: None,
    }
}

fn principal(p: &InPrincipal) -> Principal<'static> {
    match p {
        InPrincipal::Anonymous => Principal::Anonymous,
        InPrincipal::Account { name, groups, team } => {
            let groups: Vec<String> = ["dev", "ops", "*"]
                .iter()
                .enumerate()
                .filter(|(i, _)| groups & (1 << i) != 0)
                .map(|(_, g)| g.to_string())
                .collect();
            let team: Vec<String> = LABEL_VALUES
                .iter()
                .enumerate()
                .filter(|(i, _)| team & (1 << i) != 0)
                .map(|(_, v)| v.to_string())
                .collect();
            let mut labels = BTreeMap::new();
            if !team.is_empty() {
                labels.insert("team".to_string(), team);
            }
            Principal::user(pick(&PRINCIPAL_NAMES, *name), &groups, &labels).into_owned()
        }
        InPrincipal::Workload { issuer, claim } => {
            let claims = claim
                .map(|c| {
                    BTreeMap::from([("repository".to_string(), pick(&CLAIM_VALUES, c).to_string())])
                })
                .unwrap_or_default();
            let issuer = pick(&["https://ci.example", "https://other.example"], *issuer);
            Principal::workload(issuer, "alice", &claims).into_owned()
        }
    }
}

fuzz_target!(|input: Input| {
    if input.rules.len() > 16 || input.scopes.len() > 8 {
        return;
    }
    let rules: Vec<Rule> = input.rules.iter().map(rule).collect();
    // Some combinations are refused by validation (anonymous: true with account conditions).
    let Ok(acl) = Acl::from_rules(rules.clone()) else {
        return;
    };
    let p = principal(&input.principal);
    let service = pick(&["registry.local", "other"], input.service);
    let texts: Vec<String> = input
        .scopes
        .iter()
        .map(|(s, a)| {
            let acts = actions(*a | 1 << (a % 4)); // never empty
            format!("{}:{}", pick(&SCOPES, *s), acts.join(","))
        })
        .collect();
    let requested: Vec<Scope> =
        parse_scopes(texts.iter().map(String::as_str)).expect("scopes parse");

    let granted = acl.authorize(&p, service, &requested);
    check_grant_subset(&requested, &granted);
    let decisions = acl.explain(&p, service, &requested);
    assert_eq!(
        granted.len(),
        decisions.iter().filter(|d| !d.granted.is_empty()).count(),
        "authorize and explain disagree"
    );
    let shadowed = acl.shadowed_rules();
    for d in &decisions {
        let Some(i) = d.rule else {
            assert!(d.granted.is_empty());
            continue;
        };
        let r = &rules[i];
        if !r.actions.iter().any(|a| a == "*") {
            assert!(
                d.granted.iter().all(|a| r.actions.contains(a)),
                "grant beyond rule #{i}"
            );
        }
        if r.actions.is_empty() {
            assert!(d.granted.is_empty(), "an explicit deny granted something");
        }
        let m = &r.matcher;
        let name = m.name.as_deref().unwrap_or("");
        let for_users = m.account.is_some()
            || m.group.is_some()
            || !m.labels.is_empty()
            || name.contains("${account}")
            || name.contains("${labels:");
        let for_workloads =
            m.issuer.is_some() || !m.claims.is_empty() || name.contains("${claims.");
        match &p {
            Principal::Anonymous => {
                assert!(!for_users && !for_workloads, "anonymous matched rule #{i}");
                assert_ne!(m.anonymous, Some(false));
            }
            Principal::Account { .. } => {
                assert!(!for_workloads, "an account matched workload rule #{i}");
                assert_ne!(m.anonymous, Some(true));
            }
            Principal::Workload { .. } => {
                assert!(!for_users, "a workload matched account rule #{i}");
                assert_ne!(m.anonymous, Some(true));
            }
        }
        if let Some((_, by)) = shadowed.iter().find(|(j, _)| *j == i) {
            panic!("rule #{i} decided although shadowed_rules says rule #{by} hides it");
        }
    }
    // Rules after a deny-all rule never matter; rules appended at the end never change a decision
    // that an earlier rule made.
    let mut deny_first = vec![Rule {
        actions: vec![],
        ..Rule::default()
    }];
    deny_first.extend(rules.iter().cloned());
    if let Ok(deny) = Acl::from_rules(deny_first) {
        assert!(deny.authorize(&p, service, &requested).is_empty());
    }
    let mut extended = rules.clone();
    extended.push(Rule {
        actions: vec!["*".into()],
        ..Rule::default()
    });
    if let Ok(ext) = Acl::from_rules(extended) {
        for (a, b) in decisions.iter().zip(ext.explain(&p, service, &requested)) {
            if a.rule.is_some() {
                assert_eq!(a, &b, "an appended rule changed an earlier decision");
            }
        }
    }
});
