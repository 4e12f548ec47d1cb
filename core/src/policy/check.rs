//! The policy schema's checks, in one place, for the worker and the CLI alike:
//! - [`refusal`]: what makes the worker refuse an ACL (`Acl::from_rules`, a malformed `acl` record
//!   is an error, never "allow");
//! - [`check_rules`]: everything `tollgate policy validate` reports about rules besides, values the
//!   worker accepts but that can never match (a scope type or name no request has, a glob character
//!   that means nothing, an unknown placeholder, an action the type does not have), and rules an
//!   earlier rule shadows (first match wins).
//!
//! Findings are typed `{rule, field, reason}`; the CLI maps each to a line and column of its TOML
//! file, so there is no second set of constants there.

use super::glob::{glob_match, has_glob_meta};
use super::rule::{Match, Rule};
use crate::federation::valid_claim_name;
use crate::scope::{self, printable, Scope, ScopeError};
use std::fmt;

/// Placeholders a name pattern may use besides `${labels:KEY}` and `${claims.NAME}`.
pub const PLACEHOLDERS: [&str; 3] = ["account", "service", "type"];
/// Claim conditions in one rule.
pub const MAX_RULE_CLAIMS: usize = 16;
/// Bytes of a glob, a group name, a label key or value.
pub const MAX_VALUE_LEN: usize = 255;
/// Scope types a request can carry (the scope grammar's), with the actions each one has.
pub const SCOPE_TYPES: [(&str, &[&str]); 3] = [
    (scope::REPOSITORY, &["pull", "push", "delete", "*"]),
    (scope::REGISTRY, &["*"]),
    (scope::ARTIFACT_REPOSITORY, &["pull", "push", "*"]),
];

/// The actions of a scope type, `None` for a type no request has.
pub fn actions_of(scope_type: &str) -> Option<&'static [&'static str]> {
    SCOPE_TYPES
        .iter()
        .find(|(t, _)| *t == scope_type)
        .map(|(_, a)| *a)
}

/// `*`, or a lower-case word of at most 32 letters.
pub fn is_action(a: &str) -> bool {
    a == "*" || (!a.is_empty() && a.len() <= 32 && a.bytes().all(|b| b.is_ascii_lowercase()))
}

/// A condition of a rule's `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchField {
    Account,
    Group,
    Service,
    Type,
    Name,
    Issuer,
}

impl MatchField {
    /// The key in `match`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Group => "group",
            Self::Service => "service",
            Self::Type => "type",
            Self::Name => "name",
            Self::Issuer => "issuer",
        }
    }
}

/// Where in a rule a finding is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The rule as a whole (a combination of its conditions, or its place in the list).
    Rule,
    /// The `actions` list as a whole.
    Actions,
    /// `actions[i]`.
    Action(usize),
    Match(MatchField),
    /// The value of `match.labels.KEY`.
    Label(String),
    /// The key of `match.labels.KEY`.
    LabelKey(String),
    /// The value of `match.claims.NAME`.
    Claim(String),
    /// The name in `match.claims.NAME`.
    ClaimKey(String),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rule => Ok(()),
            Self::Actions | Self::Action(_) => f.write_str("actions"),
            Self::Match(m) => write!(f, "match.{}", m.key()),
            Self::Label(k) => write!(f, "match.labels.{k}"),
            Self::LabelKey(k) => write!(f, "match.labels key {k:?}"),
            Self::Claim(k) => write!(f, "match.claims.{k}"),
            Self::ClaimKey(k) => write!(f, "match.claims key {k:?}"),
        }
    }
}

/// What is wrong with a glob or a plain value (group, label key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueProblem {
    /// Empty or longer than [`MAX_VALUE_LEN`].
    Length,
    /// A character a value of this kind cannot hold.
    Character {
        ch: char,
        in_name: bool,
    },
    /// A `$` not followed by `{`.
    LoneDollar,
    Unclosed(String),
    UnknownPlaceholder(String),
    /// `${...}` outside `match.name`.
    PlaceholderOutsideName,
    /// Whitespace, a control character, `*`, `?` or `$` in a plain value.
    NotPlain,
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length => write!(f, "must be 1-{MAX_VALUE_LEN} bytes long"),
            Self::Character { ch, in_name: true } => write!(
                f,
                "contains {ch:?}; valid: letters, digits, . _ - / : plus the wildcards * (any run, including '/') and ? (one character)"
            ),
            Self::Character { ch, in_name: false } => write!(
                f,
                "contains {ch:?}; valid: printable characters without spaces, plus the wildcards * and ? ([...] classes are not supported)"
            ),
            Self::LoneDollar => f.write_str("a '$' must start a placeholder such as ${account}"),
            Self::Unclosed(inner) => write!(f, "the placeholder ${{{inner} is not closed with '}}'"),
            Self::UnknownPlaceholder(inner) => write!(
                f,
                "unknown placeholder ${{{inner}}}: use ${{account}}, ${{service}}, ${{type}}, ${{labels:KEY}} or ${{claims.NAME}}"
            ),
            Self::PlaceholderOutsideName => {
                f.write_str("placeholders (${...}) are only allowed in match.name")
            }
            Self::NotPlain => f.write_str(
                "may not contain whitespace, control characters, '*', '?' or '$'",
            ),
        }
    }
}

/// Why the worker refuses a rule (and with it the whole ACL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    AnonymousWithUserConditions,
    UsersWithWorkloads,
    AnonymousWithWorkloadConditions,
    TooManyClaims,
    ClaimName(String),
    Action(String),
    UnclosedPlaceholder(String),
    UnknownPlaceholder(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AnonymousWithUserConditions => f.write_str(
                "anonymous: true cannot be combined with account, group or labels (anonymous requests have none), \
                 so this rule could never match",
            ),
            Self::UsersWithWorkloads => f.write_str(
                "account, group or labels (users) cannot be combined with issuer or claims (workloads): \
                 no principal has both, so this rule could never match",
            ),
            Self::AnonymousWithWorkloadConditions => f.write_str(
                "anonymous: true cannot be combined with issuer or claims, so this rule could never match",
            ),
            Self::TooManyClaims => write!(f, "at most {MAX_RULE_CLAIMS} claims per rule"),
            Self::ClaimName(k) => write!(
                f,
                "claim name '{}' is invalid: use a flattened name like repository or kubernetes.io.namespace",
                printable(k)
            ),
            Self::Action(a) => write!(
                f,
                "action '{}' is invalid: use lowercase words like pull, push, delete, or '*'",
                printable(a)
            ),
            Self::UnclosedPlaceholder(name) => {
                write!(f, "unclosed placeholder in name '{}'", printable(name))
            }
            Self::UnknownPlaceholder(ph) => write!(
                f,
                "unknown placeholder {} in name; use ${{account}}, ${{service}}, ${{type}}, ${{labels:KEY}} or ${{claims.NAME}}",
                printable(ph)
            ),
        }
    }
}

/// Why a rule is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A glob or plain value that is malformed.
    Value {
        value: String,
        problem: ValueProblem,
    },
    /// `match.type` is not lower-case letters, digits and '-' (with wildcards).
    NotAResourceType(String),
    /// A literal `match.type` no request has.
    UnknownScopeType(String),
    /// A literal `match.name` no request of that type has.
    NameOutsideGrammar {
        name: String,
        scope_type: String,
        error: ScopeError,
    },
    NotAClaimName,
    /// `match.issuer` names none of the trusted issuers.
    UnknownIssuer(String),
    NotAnAction(String),
    NotAnActionOfType {
        action: String,
        scope_type: String,
    },
    DuplicateAction(String),
    /// `*` next to other actions.
    StarNotAlone,
    AnonymousWithConditions,
    UsersWithWorkloads,
    /// An earlier rule matches every request this one would.
    ShadowedBy(usize),
    /// The worker refuses the rule, for a reason none of the findings above explains.
    Refused(Refusal),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value {
                problem: ValueProblem::Length,
                ..
            } => write!(f, "{}", ValueProblem::Length),
            Self::Value { value, problem } => write!(f, "{value:?}: {problem}"),
            Self::NotAResourceType(t) => write!(
                f,
                "{t:?} is not a resource type: use lower-case letters, digits and '-' (e.g. repository, registry, artifact-repository), optionally with * or ?"
            ),
            Self::UnknownScopeType(t) => {
                let known: Vec<&str> = SCOPE_TYPES.iter().map(|(t, _)| *t).collect();
                write!(
                    f,
                    "{t:?} is not a scope type Tollgate accepts, so the rule never matches: use {}",
                    known.join(", ")
                )
            }
            Self::NameOutsideGrammar { name, scope_type, error } => write!(
                f,
                "{name:?} is not a name any valid {scope_type} scope has, so the rule never matches: {error}"
            ),
            Self::NotAClaimName => f.write_str(
                "is not a flattened claim name: use letters, digits, _ - : and dots between parts (e.g. repository, kubernetes.io.namespace)",
            ),
            Self::UnknownIssuer(i) => write!(
                f,
                "{i:?} matches no [[issuers]] name in this file, so the rule never applies"
            ),
            Self::NotAnAction(a) => write!(
                f,
                "{a:?} is not an action: use lower-case words such as pull, push, delete, or \"*\""
            ),
            Self::NotAnActionOfType { action, scope_type } => write!(
                f,
                "{action:?} is not an action of type {scope_type}: use {}",
                actions_of(scope_type).unwrap_or_default().join(", ")
            ),
            Self::DuplicateAction(a) => write!(f, "{a:?} is listed twice"),
            Self::StarNotAlone => f.write_str("\"*\" already grants every action; list it alone"),
            Self::AnonymousWithConditions => f.write_str(
                "`anonymous = true` with account/group/labels/issuer/claims can never match (those never match an anonymous request); drop one of them",
            ),
            Self::UsersWithWorkloads => f.write_str(
                "account/group/labels (users) with issuer/claims (workloads) can never match: no principal is both; split it into two rules",
            ),
            Self::ShadowedBy(by) => write!(
                f,
                "can never apply: rule #{by} matches every request it would, and the first match wins; move it above rule #{by} or remove it"
            ),
            Self::Refused(r) => write!(f, "the worker would refuse this ACL: {r}"),
        }
    }
}

/// One finding: rule `rule` (0-based), at `field`, for `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: usize,
    pub field: Field,
    pub reason: Reason,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.field, &self.reason) {
            (_, Reason::ShadowedBy(_)) | (Field::Rule, _) => {
                let sep = if matches!(self.reason, Reason::ShadowedBy(_)) {
                    " "
                } else {
                    ": "
                };
                write!(f, "rule #{}{sep}{}", self.rule, self.reason)
            }
            (field, reason) => write!(f, "rule #{} {field}: {reason}", self.rule),
        }
    }
}

/// The first reason the worker refuses `rule`, if any.
pub fn refusal(rule: &Rule) -> Option<Refusal> {
    let m = &rule.matcher;
    let for_users = m.account.is_some() || m.group.is_some() || !m.labels.is_empty();
    let for_workloads = m.issuer.is_some() || !m.claims.is_empty();
    if m.anonymous == Some(true) && for_users {
        return Some(Refusal::AnonymousWithUserConditions);
    }
    if for_users && for_workloads {
        return Some(Refusal::UsersWithWorkloads);
    }
    if m.anonymous == Some(true) && for_workloads {
        return Some(Refusal::AnonymousWithWorkloadConditions);
    }
    if m.claims.len() > MAX_RULE_CLAIMS {
        return Some(Refusal::TooManyClaims);
    }
    if let Some(k) = m.claims.keys().find(|k| !valid_claim_name(k)) {
        return Some(Refusal::ClaimName(k.clone()));
    }
    if let Some(a) = rule.actions.iter().find(|a| !is_action(a)) {
        return Some(Refusal::Action(a.clone()));
    }
    let name = rule.matcher.name.as_deref()?;
    let mut rest = name;
    while let Some(start) = super::rule::next_placeholder(rest) {
        let after = &rest[start..];
        let Some(end) = after.find('}') else {
            return Some(Refusal::UnclosedPlaceholder(name.to_owned()));
        };
        let ph = &after[..=end];
        let known = ph
            .strip_prefix("${")
            .and_then(|p| p.strip_suffix('}'))
            .is_some_and(|p| PLACEHOLDERS.contains(&p))
            || (ph.starts_with("${labels:") && ph.len() > "${labels:}".len())
            || ph
                .strip_prefix("${claims.")
                .and_then(|c| c.strip_suffix('}'))
                .is_some_and(valid_claim_name);
        if !known {
            return Some(Refusal::UnknownPlaceholder(ph.to_owned()));
        }
        rest = &after[end + 1..];
    }
    None
}

/// Group names, label keys and values, key names: printable, no wildcards or placeholders.
pub fn plain_value_problem(value: &str) -> Option<ValueProblem> {
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return Some(ValueProblem::Length);
    }
    value
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '*' | '?' | '$'))
        .then_some(ValueProblem::NotPlain)
}

/// One piece of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(char),
    Star,
    One,
    Placeholder(String),
}

fn tokenize(glob: &str, placeholders: bool) -> Result<Vec<Token>, ValueProblem> {
    let mut tokens = Vec::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            '$' if placeholders => {
                if chars.next() != Some('{') {
                    return Err(ValueProblem::LoneDollar);
                }
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => inner.push(ch),
                        None => return Err(ValueProblem::Unclosed(inner)),
                    }
                }
                let label_ok = inner
                    .strip_prefix("labels:")
                    .is_some_and(|k| plain_value_problem(k).is_none());
                let claim_ok = inner.strip_prefix("claims.").is_some_and(valid_claim_name);
                if !PLACEHOLDERS.contains(&inner.as_str()) && !label_ok && !claim_ok {
                    return Err(ValueProblem::UnknownPlaceholder(inner));
                }
                tokens.push(Token::Placeholder(inner));
            }
            '$' => return Err(ValueProblem::PlaceholderOutsideName),
            c => tokens.push(Token::Lit(c)),
        }
    }
    Ok(tokens)
}

/// What is wrong with a glob, if anything. `name` globs may hold placeholders and must otherwise
/// use characters a repository name can contain.
pub fn glob_problem(glob: &str, is_name: bool) -> Option<ValueProblem> {
    if glob.is_empty() || glob.len() > MAX_VALUE_LEN {
        return Some(ValueProblem::Length);
    }
    let tokens = match tokenize(glob, is_name) {
        Ok(t) => t,
        Err(e) => return Some(e),
    };
    tokens.iter().find_map(|t| match t {
        Token::Lit(c) => {
            let bad = if is_name {
                !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'))
            } else {
                c.is_control() || c.is_whitespace() || matches!(c, '[' | ']' | '{' | '}' | '\\')
            };
            bad.then_some(ValueProblem::Character {
                ch: *c,
                in_name: is_name,
            })
        }
        _ => None,
    })
}

/// Does glob `a` match every string glob `b` can match? Conservative (may answer no when the
/// answer is yes) so it never flags a reachable rule.
fn glob_covers(a: &str, b: &str) -> bool {
    // Over-long globs are already reported; do not spend quadratic work on them.
    if a.len() > MAX_VALUE_LEN || b.len() > MAX_VALUE_LEN {
        return false;
    }
    let (Ok(a), Ok(b)) = (tokenize(a, true), tokenize(b, true)) else {
        return false;
    };
    // dp[i][j]: a[i..] covers b[j..]
    let (n, m) = (a.len(), b.len());
    let mut dp = vec![vec![false; m + 1]; n + 1];
    dp[n][m] = true;
    for i in (0..n).rev() {
        for j in (0..=m).rev() {
            dp[i][j] = match (&a[i], b.get(j)) {
                (Token::Star, _) => dp[i + 1][j] || (j < m && dp[i][j + 1]),
                (_, None) => false,
                (Token::One, Some(Token::Lit(_) | Token::One)) => dp[i + 1][j + 1],
                (Token::Lit(x), Some(Token::Lit(y))) => x == y && dp[i + 1][j + 1],
                (Token::Placeholder(x), Some(Token::Placeholder(y))) => x == y && dp[i + 1][j + 1],
                _ => false,
            };
        }
    }
    dp[0][0]
}

fn field_covers(a: &Option<String>, b: &Option<String>, absent_is_everything: bool) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(a), Some(b)) => glob_covers(a, b),
        (Some(a), None) => absent_is_everything && a.chars().all(|c| c == '*'),
    }
}

fn map_covers(
    a: &std::collections::BTreeMap<String, String>,
    b: &std::collections::BTreeMap<String, String>,
) -> bool {
    a.iter()
        .all(|(k, av)| b.get(k).is_some_and(|bv| glob_covers(av, bv)))
}

/// Does every request matched by `b` also match `a`, glob by glob? (Conservative.)
fn covers_by_glob(a: &Match, b: &Match) -> bool {
    let b_authenticated_only = b.account.is_some()
        || b.group.is_some()
        || !b.labels.is_empty()
        || b.issuer.is_some()
        || !b.claims.is_empty()
        || b.anonymous == Some(false);
    let anonymous_ok = match a.anonymous {
        None => true,
        Some(false) => b_authenticated_only,
        Some(true) => b.anonymous == Some(true),
    };
    anonymous_ok
        && map_covers(&a.labels, &b.labels)
        && map_covers(&a.claims, &b.claims)
        && field_covers(&a.issuer, &b.issuer, false)
        && field_covers(&a.account, &b.account, false)
        && field_covers(&a.group, &b.group, false)
        && field_covers(&a.service, &b.service, true)
        && field_covers(&a.resource_type, &b.resource_type, true)
        && field_covers(&a.name, &b.name, true)
}

/// Whether every request `later` matches is also matched by `earlier`, by matching `later`'s
/// literal values against `earlier`'s globs (conservative: `false` when unsure).
pub(super) fn covers_by_value(earlier: &Match, later: &Match) -> bool {
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
        && field(&earlier.issuer, &later.issuer)
        && earlier
            .claims
            .iter()
            .all(|(k, e)| later.claims.get(k).is_some_and(|l| e == l))
        && (earlier.name.as_ref().is_none_or(|e| !e.contains("${"))
            && field(&earlier.name, &later.name))
        && earlier
            .labels
            .iter()
            .all(|(k, e)| later.labels.get(k).is_some_and(|l| e == l))
}

/// Every finding about `rules`, rule by rule. `issuers`: the names of the trusted issuers (a
/// `match.issuer` glob must match one).
pub fn check_rules(rules: &[Rule], issuers: &[&str]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let before = out.len();
        let mut push = |field: Field, reason: Reason| {
            out.push(Finding {
                rule: index,
                field,
                reason,
            })
        };
        let m = &rule.matcher;
        check_match(m, &mut push);
        if let Some(i) = m
            .issuer
            .as_ref()
            .filter(|i| !issuers.iter().any(|n| glob_match(i, n)))
        {
            push(
                Field::Match(MatchField::Issuer),
                Reason::UnknownIssuer(i.clone()),
            );
        }
        check_actions(rule, &mut push);
        let authenticated_only = m.account.is_some() || m.group.is_some() || !m.labels.is_empty();
        let workload_only = m.issuer.is_some() || !m.claims.is_empty();
        if (authenticated_only || workload_only) && m.anonymous == Some(true) {
            push(Field::Rule, Reason::AnonymousWithConditions);
        }
        if authenticated_only && workload_only {
            push(Field::Rule, Reason::UsersWithWorkloads);
        }
        let earlier = &rules[..index];
        let by = earlier
            .iter()
            .position(|e| covers_by_glob(&e.matcher, m))
            .or_else(|| earlier.iter().position(|e| covers_by_value(&e.matcher, m)));
        if let Some(by) = by {
            push(Field::Rule, Reason::ShadowedBy(by));
        }
        // The worker's refusal, unless a finding above already explains this rule.
        if out.len() == before {
            if let Some(r) = refusal(rule) {
                out.push(Finding {
                    rule: index,
                    field: Field::Rule,
                    reason: Reason::Refused(r),
                });
            }
        }
    }
    out
}

fn value(value: &str, problem: ValueProblem) -> Reason {
    Reason::Value {
        value: value.to_owned(),
        problem,
    }
}

fn check_match(m: &Match, push: &mut impl FnMut(Field, Reason)) {
    check_scope_shape(m, push);
    let globs = [
        (MatchField::Account, &m.account),
        (MatchField::Group, &m.group),
        (MatchField::Service, &m.service),
    ];
    for (field, v) in globs {
        if let Some(v) = v {
            if let Some(p) = glob_problem(v, false) {
                push(Field::Match(field), value(v, p));
            }
        }
    }
    if let Some(t) = &m.resource_type {
        let ok = !t.is_empty()
            && t.len() <= 64
            && t.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '*' | '?')
            });
        if !ok {
            push(
                Field::Match(MatchField::Type),
                Reason::NotAResourceType(t.clone()),
            );
        }
    }
    for (field, v, is_name) in [
        (MatchField::Name, &m.name, true),
        (MatchField::Issuer, &m.issuer, false),
    ] {
        if let Some(v) = v {
            if let Some(p) = glob_problem(v, is_name) {
                push(Field::Match(field), value(v, p));
            }
        }
    }
    for (key, v) in &m.claims {
        if !valid_claim_name(key) {
            push(Field::ClaimKey(key.clone()), Reason::NotAClaimName);
        }
        if let Some(p) = glob_problem(v, false) {
            push(Field::Claim(key.clone()), value(v, p));
        }
    }
    for (key, v) in &m.labels {
        if let Some(p) = plain_value_problem(key) {
            push(Field::LabelKey(key.clone()), value(key, p));
        }
        if let Some(p) = glob_problem(v, false) {
            push(Field::Label(key.clone()), value(v, p));
        }
    }
}

/// A rule whose literal type/name no valid scope can have never matches: checked with the scope
/// grammar the worker parses requests with.
fn check_scope_shape(m: &Match, push: &mut impl FnMut(Field, Reason)) {
    let literal = |v: &str| !v.contains(['*', '?', '$']);
    let Some(t) = m.resource_type.as_deref().filter(|t| literal(t)) else {
        return;
    };
    if actions_of(t).is_none() {
        push(
            Field::Match(MatchField::Type),
            Reason::UnknownScopeType(t.to_owned()),
        );
        return;
    }
    if let Some(name) = m.name.as_deref().filter(|v| literal(v)) {
        if let Err(error) = Scope::parse(&format!("{t}:{name}:pull")) {
            push(
                Field::Match(MatchField::Name),
                Reason::NameOutsideGrammar {
                    name: name.to_owned(),
                    scope_type: t.to_owned(),
                    error,
                },
            );
        }
    }
}

/// Actions a rule may grant for its resource type. `*` grants whatever was asked.
fn check_actions(rule: &Rule, push: &mut impl FnMut(Field, Reason)) {
    let rtype = rule.matcher.resource_type.as_deref();
    let known = rtype.and_then(actions_of);
    let mut seen: Vec<&str> = Vec::new();
    for (i, a) in rule.actions.iter().enumerate() {
        let a = a.as_str();
        if !is_action(a) {
            push(Field::Action(i), Reason::NotAnAction(a.to_owned()));
        } else if let (Some(list), Some(t)) = (known, rtype) {
            if !list.contains(&a) {
                push(
                    Field::Action(i),
                    Reason::NotAnActionOfType {
                        action: a.to_owned(),
                        scope_type: t.to_owned(),
                    },
                );
            }
        }
        if seen.contains(&a) {
            push(Field::Action(i), Reason::DuplicateAction(a.to_owned()));
        }
        seen.push(a);
    }
    if seen.contains(&"*") && seen.len() > 1 {
        push(Field::Actions, Reason::StarNotAlone);
    }
}

#[cfg(test)]
mod tests;
