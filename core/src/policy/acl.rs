//! Evaluating the ACL. For each requested scope the first matching rule decides: granted =
//! requested ∩ rule actions (`*` in a rule grants whatever was asked); `actions: []` is an explicit
//! deny; when nothing matches nothing is granted.

use super::glob::{glob_match, has_glob_meta};
use super::principal::Principal;
use super::rule::{Match, Rule};
use crate::scope::{printable, Scope};
use crate::token::Access;
use std::fmt;

/// Rules in one ACL; more is almost certainly a generated mistake and would slow every request.
pub const MAX_RULES: usize = 1000;
/// Bytes of the `acl` record, checked before parsing.
pub const MAX_ACL_BYTES: usize = 1024 * 1024;
/// Alternatives one name pattern may expand to through multi-valued labels.
const MAX_EXPANSIONS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    Json(String),
    TooManyRules(usize),
    Rule { index: usize, reason: String },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(e) => write!(f, "the ACL is not a JSON array of rules: {e}"),
            Self::TooManyRules(n) => {
                write!(f, "the ACL has {n} rules; at most {MAX_RULES} are allowed")
            }
            Self::Rule { index, reason } => write!(f, "ACL rule #{index}: {reason}"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// How one requested scope was decided, for the audit line and `tollgate explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDecision {
    pub scope: Scope,
    /// Index (0-based) of the rule that decided, if any matched.
    pub rule: Option<usize>,
    pub comment: Option<String>,
    pub granted: Vec<String>,
    pub refused: Vec<String>,
    pub reason: String,
}

/// An ordered list of rules. The default (no `acl` record) is empty and grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    rules: Vec<Rule>,
}

const PLACEHOLDERS: [&str; 3] = ["${account}", "${service}", "${type}"];

fn validate_rule(index: usize, rule: &Rule) -> Result<(), PolicyError> {
    let err = |reason: String| PolicyError::Rule { index, reason };
    let m = &rule.matcher;
    if m.anonymous == Some(true)
        && (m.account.is_some() || m.group.is_some() || !m.labels.is_empty())
    {
        return Err(err(
            "anonymous: true cannot be combined with account, group or labels (anonymous requests have none), \
             so this rule could never match"
                .into(),
        ));
    }
    for a in &rule.actions {
        if !(a == "*"
            || (!a.is_empty() && a.len() <= 32 && a.bytes().all(|b| b.is_ascii_lowercase())))
        {
            return Err(err(format!(
                "action '{}' is invalid: use lowercase words like pull, push, delete, or '*'",
                printable(a)
            )));
        }
    }
    if let Some(name) = &rule.matcher.name {
        let mut rest = name.as_str();
        while let Some(start) = rest.find("${") {
            let after = &rest[start..];
            let end = after.find('}').ok_or_else(|| {
                err(format!(
                    "unclosed placeholder in name '{}'",
                    printable(name)
                ))
            })?;
            let ph = &after[..=end];
            let known = PLACEHOLDERS.contains(&ph)
                || (ph.starts_with("${labels:") && ph.len() > "${labels:}".len());
            if !known {
                return Err(err(format!(
                    "unknown placeholder {} in name; use ${{account}}, ${{service}}, ${{type}} or ${{labels:KEY}}",
                    printable(ph)
                )));
            }
            rest = &after[end + 1..];
        }
    }
    Ok(())
}

/// Expands the placeholders of a name pattern for this principal. `None`: a needed value is
/// missing or would itself act as a glob, so the rule cannot match (never widens a grant).
fn expand_name(
    pattern: &str,
    principal: &Principal,
    service: &str,
    scope: &Scope,
) -> Option<Vec<String>> {
    let mut out = vec![String::new()];
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        let lit = &rest[..start];
        out.iter_mut().for_each(|o| o.push_str(lit));
        let after = &rest[start..];
        let end = after.find('}')?;
        let ph = &after[..=end];
        let values: Vec<String> = match ph {
            "${account}" => match principal {
                Principal::Account { name, .. } => vec![name.clone()],
                _ => return None,
            },
            "${service}" => vec![service.to_string()],
            "${type}" => vec![scope.resource_type.clone()],
            _ => {
                let key = ph.strip_prefix("${labels:")?.strip_suffix('}')?;
                match principal {
                    Principal::Account { labels, .. } => labels.get(key)?.clone(),
                    _ => return None,
                }
            }
        };
        let values: Vec<String> = values
            .into_iter()
            .filter(|v| !v.is_empty() && !has_glob_meta(v))
            .collect();
        if values.is_empty() || out.len() * values.len() > MAX_EXPANSIONS {
            return None;
        }
        out = out
            .iter()
            .flat_map(|o| values.iter().map(move |v| format!("{o}{v}")))
            .collect();
        rest = &after[end + 1..];
    }
    out.iter_mut().for_each(|o| o.push_str(rest));
    Some(out)
}

fn principal_matches(m: &Match, principal: &Principal) -> bool {
    // Federated workloads get nothing from account-oriented rules until rules can name their
    // issuer and claims: granting them "any authenticated user" rules by accident would be a hole.
    if matches!(principal, Principal::Workload { .. }) {
        return false;
    }
    if let Some(anon) = m.anonymous {
        if anon != principal.is_anonymous() {
            return false;
        }
    }
    let needs_account = m.account.is_some() || m.group.is_some() || !m.labels.is_empty();
    if !needs_account {
        return true;
    }
    let Principal::Account {
        name,
        groups,
        labels,
    } = principal
    else {
        return false;
    };
    if let Some(p) = &m.account {
        if !glob_match(p, name) {
            return false;
        }
    }
    if let Some(p) = &m.group {
        if !groups.iter().any(|g| glob_match(p, g)) {
            return false;
        }
    }
    m.labels.iter().all(|(k, p)| {
        labels
            .get(k)
            .is_some_and(|vs| vs.iter().any(|v| glob_match(p, v)))
    })
}

fn rule_matches(m: &Match, principal: &Principal, service: &str, scope: &Scope) -> bool {
    if !principal_matches(m, principal) {
        return false;
    }
    if m.service.as_ref().is_some_and(|p| !glob_match(p, service)) {
        return false;
    }
    if m.resource_type
        .as_ref()
        .is_some_and(|p| !glob_match(p, &scope.resource_type))
    {
        return false;
    }
    match &m.name {
        None => true,
        Some(p) => match expand_name(p, principal, service, scope) {
            Some(alts) => alts.iter().any(|a| glob_match(a, &scope.name)),
            None => false,
        },
    }
}

/// Whether every request `later` matches is also matched by `earlier` (conservative: `false` when
/// unsure). Used by the CLI to report rules that can never take effect.
fn covers(earlier: &Match, later: &Match) -> bool {
    fn field(e: &Option<String>, l: &Option<String>) -> bool {
        match (e, l) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(e), Some(l)) => {
                e == l || (!l.contains("${") && !has_glob_meta(l) && glob_match(e, l)) || e == "*"
            }
        }
    }
    let anon = match (earlier.anonymous, later.anonymous) {
        (None, _) => true,
        (Some(e), Some(l)) => e == l,
        (Some(_), None) => false,
    };
    anon && field(&earlier.account, &later.account)
        && field(&earlier.group, &later.group)
        && field(&earlier.service, &later.service)
        && field(&earlier.resource_type, &later.resource_type)
        && (earlier.name.as_ref().is_none_or(|e| !e.contains("${"))
            && field(&earlier.name, &later.name))
        && earlier
            .labels
            .iter()
            .all(|(k, e)| later.labels.get(k).is_some_and(|l| e == l))
}

impl Acl {
    /// Parses and validates the KV `acl` record. A malformed ACL is an error, never "allow".
    pub fn from_json(text: &str) -> Result<Acl, PolicyError> {
        if text.len() > MAX_ACL_BYTES {
            return Err(PolicyError::Json(format!(
                "the record is {} bytes; at most {MAX_ACL_BYTES} are allowed",
                text.len()
            )));
        }
        let rules: Vec<Rule> =
            serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        // serde's derive also reads a struct from a JSON array by field position, so
        // `[[[], ["*"]]]` would be a rule matching everyone with actions ["*"]. A rule and its
        // `match` must be objects, as the operator wrote and reviewed them.
        let shape: Vec<serde_json::Value> =
            serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        for (i, rule) in shape.iter().enumerate() {
            if !rule.is_object() || rule.get("match").is_some_and(|m| !m.is_object()) {
                return Err(PolicyError::Json(format!(
                    "rule {} must be a JSON object whose 'match' is an object",
                    i + 1
                )));
            }
        }
        Acl::from_rules(rules)
    }

    pub fn from_rules(rules: Vec<Rule>) -> Result<Acl, PolicyError> {
        if rules.len() > MAX_RULES {
            return Err(PolicyError::TooManyRules(rules.len()));
        }
        for (i, r) in rules.iter().enumerate() {
            validate_rule(i, r)?;
        }
        Ok(Acl { rules })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decides every requested scope and says why.
    pub fn explain(
        &self,
        principal: &Principal,
        service: &str,
        requested: &[Scope],
    ) -> Vec<ScopeDecision> {
        requested
            .iter()
            .map(|s| self.decide(principal, service, s))
            .collect()
    }

    fn decide(&self, principal: &Principal, service: &str, scope: &Scope) -> ScopeDecision {
        let hit = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| rule_matches(&r.matcher, principal, service, scope));
        let Some((index, rule)) = hit else {
            return ScopeDecision {
                scope: scope.clone(),
                rule: None,
                comment: None,
                granted: vec![],
                refused: scope.actions.clone(),
                reason: "no rule matches this account, service and resource: nothing is granted"
                    .into(),
            };
        };
        let all = rule.actions.iter().any(|a| a == "*");
        let (granted, refused): (Vec<String>, Vec<String>) = scope
            .actions
            .iter()
            .cloned()
            .partition(|a| all || rule.actions.contains(a));
        let reason = if rule.actions.is_empty() {
            format!("rule #{index} explicitly denies this resource")
        } else if refused.is_empty() {
            format!("rule #{index} grants everything asked")
        } else {
            format!("rule #{index} grants only [{}]", rule.actions.join(","))
        };
        ScopeDecision {
            scope: scope.clone(),
            rule: Some(index),
            comment: rule.comment.clone(),
            granted,
            refused,
            reason,
        }
    }

    /// The `access` claim: one entry per scope that got at least one action.
    pub fn authorize(
        &self,
        principal: &Principal,
        service: &str,
        requested: &[Scope],
    ) -> Vec<Access> {
        self.explain(principal, service, requested)
            .into_iter()
            .filter(|d| !d.granted.is_empty())
            .map(|d| Access {
                resource_type: d.scope.resource_type,
                name: d.scope.name,
                actions: d.granted,
            })
            .collect()
    }

    /// `(shadowed, by)` pairs: rule `shadowed` can never decide because rule `by` comes first and
    /// matches everything it would.
    pub fn shadowed_rules(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (j, later) in self.rules.iter().enumerate() {
            if let Some(i) = self.rules[..j]
                .iter()
                .position(|e| covers(&e.matcher, &later.matcher))
            {
                out.push((j, i));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn acl(json: &str) -> Acl {
        Acl::from_json(json).unwrap()
    }

    fn user(name: &str, groups: &[&str]) -> Principal {
        Principal::user(
            name,
            &groups.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
            &BTreeMap::new(),
        )
    }

    fn scopes(s: &[&str]) -> Vec<Scope> {
        crate::scope::parse_scopes(s.iter().copied()).unwrap()
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
        let g = a.authorize(
            &user("alice", &["dev"]),
            "reg",
            &scopes(&["repository:org/app:pull,push,delete"]),
        );
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].actions, vec!["pull", "push"]);
        let g = a.authorize(
            &user("bob", &[]),
            "reg",
            &scopes(&["repository:org/app:pull,push"]),
        );
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
        let g = a.authorize(&user("bob", &[]), "reg", &scopes(&["registry:catalog:*"]));
        assert!(g.is_empty(), "a literal * request needs a * rule");
    }

    #[test]
    fn duplicate_keys_in_a_rule_are_malformed_not_last_wins() {
        for text in [
            r#"[{"match":{"account":"nobody","account":"alice"},"actions":["*"]}]"#,
            r#"[{"match":{"labels":{"team":"x","team":"*"}},"actions":["pull"]}]"#,
            r#"[{"match":{},"actions":[],"actions":["*"]}]"#,
        ] {
            assert!(Acl::from_json(text).is_err(), "{text}");
        }
    }

    #[test]
    fn explicit_deny_stops_later_rules() {
        let a = acl(DEMO);
        let d = a.explain(
            &user("mallory", &["dev"]),
            "reg",
            &scopes(&["repository:public/x:pull"]),
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
        let g = a.authorize(
            &Principal::Anonymous,
            "reg",
            &scopes(&["repository:carol/app:pull"]),
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
        assert!(any
            .authorize(&Principal::Anonymous, "s", &scopes(&["repository:a:pull"]))
            .is_empty());
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
        assert_eq!(
            a.authorize(&p, "reg", &scopes(&["repository:bluer/app:pull"]))
                .len(),
            1
        );
        assert!(a
            .authorize(&p, "other", &scopes(&["repository:bluer/app:pull"]))
            .is_empty());
        assert!(a
            .authorize(&p, "reg", &scopes(&["repository:red/app:pull"]))
            .is_empty());
    }

    #[test]
    fn glob_characters_in_values_never_widen() {
        let a = acl(r#"[{"match": {"name": "${account}/*"}, "actions": ["*"]}]"#);
        let p = user("*", &[]);
        assert!(a
            .authorize(&p, "s", &scopes(&["repository:org/app:pull"]))
            .is_empty());
    }

    #[test]
    fn empty_acl_and_workloads_grant_nothing() {
        let a = Acl::default();
        assert!(a
            .authorize(&user("admin", &[]), "s", &scopes(&["repository:a:pull"]))
            .is_empty());
        let w = Principal::Workload {
            issuer: "i".into(),
            subject: "s".into(),
            claims: BTreeMap::new(),
        };
        assert!(acl(DEMO)
            .authorize(&w, "s", &scopes(&["repository:org/a:pull"]))
            .is_empty());
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
    }
}
