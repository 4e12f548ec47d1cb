//! Evaluating the ACL. For each requested scope the first matching rule decides: granted =
//! requested ∩ rule actions (`*` in a rule grants whatever was asked); `actions: []` is an explicit
//! deny; when nothing matches nothing is granted.

use super::check;
use super::glob::{glob_match, has_glob_meta};
use super::principal::Principal;
use super::rule::{next_placeholder, Match, Rule};
use crate::reference::is_path_component;
use crate::scope::Scope;
use crate::token::Access;
use std::fmt;

/// Rules in one ACL; more is almost certainly a generated mistake and would slow every request.
pub(super) const MAX_RULES: usize = 1000;
/// Bytes of the `acl` record, checked before parsing.
pub(super) const MAX_ACL_BYTES: usize = 1024 * 1024;
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

fn validate_rule(index: usize, rule: &Rule) -> Result<(), PolicyError> {
    match check::refusal(rule) {
        Some(r) => Err(cold::rule(index, &r)),
        None => Ok(()),
    }
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
    while let Some(start) = next_placeholder(rest) {
        let lit = &rest[..start];
        out.iter_mut().for_each(|o| o.push_str(lit));
        let after = &rest[start..];
        let end = after.find('}')?;
        let ph = &after[..=end];
        let values: Vec<String> = match ph {
            "${account}" => match principal {
                Principal::Account { name, .. } => vec![name.to_string()],
                _ => return None,
            },
            "${service}" => vec![service.to_string()],
            "${type}" => vec![scope.resource_type.clone()],
            _ if ph.starts_with("${claims.") => {
                let key = ph.strip_prefix("${claims.")?.strip_suffix('}')?;
                match principal {
                    // A claim value becomes part of a repository name only if it is a valid
                    // repository path: anything else could not name a repository, or could
                    // smuggle structure into the name. ASCII case is folded first, as GHCR
                    // does, because GitHub's `repository`/`repository_owner` keep the owner's
                    // capitals (`MyOrg/App`) while repository names are lowercase; GitHub and
                    // Kubernetes names are case-insensitive, so no two workloads fold together.
                    Principal::Workload { claims, .. } => {
                        let v = claims.get(key)?.to_ascii_lowercase();
                        if !v.split('/').all(is_path_component) {
                            return None;
                        }
                        vec![v]
                    }
                    _ => return None,
                }
            }
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
    if let Some(anon) = m.anonymous {
        if anon != principal.is_anonymous() {
            return false;
        }
    }
    let for_users = m.account.is_some() || m.group.is_some() || !m.labels.is_empty();
    let for_workloads = m.issuer.is_some() || !m.claims.is_empty();
    match principal {
        // Rules without principal conditions apply to everyone they apply to today, workloads
        // included; account-oriented rules never reach a workload and claim rules never a user.
        Principal::Anonymous => !for_users && !for_workloads,
        Principal::Workload { issuer, claims, .. } => {
            !for_users
                && m.issuer.as_ref().is_none_or(|p| glob_match(p, issuer))
                && m.claims
                    .iter()
                    .all(|(k, p)| claims.get(k).is_some_and(|v| glob_match(p, v)))
        }
        Principal::Account {
            name,
            groups,
            labels,
        } => {
            if for_workloads {
                return false;
            }
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
    }
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
        // Most patterns name no placeholder, and expanding one of those gives the pattern back:
        // matched directly, without the expansion's vector and string (two allocations per
        // rule a token request passes).
        Some(p) if next_placeholder(p).is_none() => glob_match(p, &scope.name),
        Some(p) => match expand_name(p, principal, service, scope) {
            Some(alts) => alts.iter().any(|a| glob_match(a, &scope.name)),
            None => false,
        },
    }
}

/// Whether `rule`, having matched, grants `action` (`*` grants whatever was asked).
fn rule_grants(rule: &Rule, action: &str) -> bool {
    rule.actions.iter().any(|a| a == "*" || a == action)
}

impl Acl {
    /// Parses and validates the KV `acl` record. A malformed ACL is an error, never "allow".
    pub fn from_json(text: &str) -> Result<Acl, PolicyError> {
        if text.len() > MAX_ACL_BYTES {
            return Err(cold::json(format_args!(
                "the record is {} bytes; at most {MAX_ACL_BYTES} are allowed",
                text.len()
            )));
        }
        // A rule and its `match` must be JSON objects, never arrays read by field position
        // (`[[[], ["*"]]]` would be a rule matching everyone with actions ["*"]): see
        // crate::json_object.
        let rules: Vec<Rule> = crate::json_object::list_from_slice(text.as_bytes())
            .map_err(|e| cold::json(format_args!("{e}")))?;
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

    /// The first rule that matches this scope, with its index: the one evaluation `explain`
    /// and `authorize` share.
    fn deciding_rule(
        &self,
        principal: &Principal,
        service: &str,
        scope: &Scope,
    ) -> Option<(usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| rule_matches(&r.matcher, principal, service, scope))
    }

    fn decide(&self, principal: &Principal, service: &str, scope: &Scope) -> ScopeDecision {
        let Some((index, rule)) = self.deciding_rule(principal, service, scope) else {
            return ScopeDecision {
                scope: scope.clone(),
                rule: None,
                comment: None,
                granted: vec![],
                refused: scope.actions.clone(),
                reason: match principal {
                    Principal::Workload { .. } => {
                        "no rule matches this workload (issuer and claims), service and resource: nothing is granted"
                    }
                    _ => "no rule matches this account, service and resource: nothing is granted",
                }
                .into(),
            };
        };
        let (granted, refused): (Vec<String>, Vec<String>) = scope
            .actions
            .iter()
            .cloned()
            .partition(|a| rule_grants(rule, a));
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

    /// Rules that can apply to `principal` on `service` whatever the resource (their principal
    /// and service conditions hold), with their index: the sign-in page's "what you may do".
    pub fn rules_for(&self, principal: &Principal, service: &str) -> Vec<(usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                principal_matches(&r.matcher, principal)
                    && r.matcher
                        .service
                        .as_ref()
                        .is_none_or(|p| glob_match(p, service))
            })
            .collect()
    }

    /// The `access` claim: one entry per scope that got at least one action. The same decision
    /// as `explain`, without its reason strings, which only `tollgate explain` and the sign-in
    /// page show: every token request runs this, and a new isolate compiles what it runs.
    pub fn authorize(
        &self,
        principal: &Principal,
        service: &str,
        requested: &[Scope],
    ) -> Vec<Access> {
        requested
            .iter()
            .filter_map(|scope| {
                let (_, rule) = self.deciding_rule(principal, service, scope)?;
                let granted: Vec<String> = scope
                    .actions
                    .iter()
                    .filter(|a| rule_grants(rule, a))
                    .cloned()
                    .collect();
                (!granted.is_empty()).then(|| Access {
                    resource_type: scope.resource_type.clone(),
                    name: scope.name.clone(),
                    actions: granted,
                })
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
                .position(|e| check::covers_by_value(&e.matcher, &later.matcher))
            {
                out.push((j, i));
            }
        }
        out
    }
}

/// Refusals of a malformed ACL, out of line: every new isolate parses the ACL on its first
/// token request, and V8 compiles a wasm function whole (see `crate::out_of_line`).
mod cold {
    use super::PolicyError;

    #[cold]
    #[inline(never)]
    pub(super) fn json(message: std::fmt::Arguments<'_>) -> PolicyError {
        PolicyError::Json(std::fmt::format(message))
    }

    #[cold]
    #[inline(never)]
    pub(super) fn rule(index: usize, reason: &dyn std::fmt::Display) -> PolicyError {
        PolicyError::Rule {
            index,
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
