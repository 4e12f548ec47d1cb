//! Static checks of a policy file beyond its syntax: account names, bcrypt hashes, API-key digests,
//! globs and placeholders, scope types and actions, and rules that can never match because an
//! earlier rule catches every request they would (first match wins).
//!
//! Each problem is reported as `FILE:LINE:COLUMN: field: what is wrong; what would be valid`.

use std::collections::BTreeMap;

use toml::Spanned;

use super::{Loaded, Match, Rule};
use tollgate_core::limits::MAX_ACCOUNT_LEN;

/// Runs every check; an empty list means the file is good.
pub(crate) fn problems(loaded: &Loaded) -> Vec<String> {
    let mut out = Vec::new();
    check_users(loaded, &mut out);
    check_rules(loaded, &mut out);
    check_issuers(loaded, &mut out);
    check_with_core(loaded, &mut out);
    // Report in file order: every message starts with `FILE:LINE:COLUMN:`.
    let prefix = format!("{}:", loaded.path.display());
    out.sort_by_key(|m| {
        let mut nums = m
            .strip_prefix(&prefix)
            .unwrap_or("")
            .split(':')
            .map(|n| n.parse::<usize>().unwrap_or(usize::MAX));
        (
            nums.next().unwrap_or(usize::MAX),
            nums.next().unwrap_or(usize::MAX),
        )
    });
    out
}

/// `[[issuers]]` through the worker's own parser; every issuer named by a rule must exist (a
/// glob must match at least one), else that rule can never apply.
fn check_issuers(loaded: &Loaded, out: &mut Vec<String>) {
    let issuers = &loaded.policy.issuers;
    if let Some(first) = issuers.first() {
        match super::render::issuers(loaded) {
            Err(e) => out.push(format!(
                "{}: [[issuers]]: the worker would refuse this record: {}",
                loaded.at(first.span()),
                e.reason()
            )),
            // The worker's own check: a user federation would take over is a malformed record.
            Ok(parsed) => {
                for (name, user) in &loaded.policy.users {
                    if let Some(c) = tollgate_core::validate::login_conflict(name, &parsed) {
                        out.push(format!("{}: users.{name}: {c}", loaded.at(user.span())));
                    }
                }
            }
        }
    }
    for (n, rule) in loaded.policy.rules.iter().enumerate() {
        let Some(m) = &rule.get_ref().matches else {
            continue;
        };
        if let Some(p) = &m.get_ref().issuer {
            let known = issuers
                .iter()
                .any(|i| tollgate_core::policy::glob_match(p.get_ref(), &i.get_ref().name));
            if !known {
                out.push(format!(
                    "{}: rule #{n} match.issuer {:?} matches no [[issuers]] name in this file, so the rule never applies",
                    loaded.at(p.span()),
                    p.get_ref()
                ));
            }
        }
    }
}

/// The worker's own checks (tollgate-core): the ACL must load there exactly as it loads here, and
/// the core's shadowing analysis adds any unreachable rule the stricter one above did not flag.
fn check_with_core(loaded: &Loaded, out: &mut Vec<String>) {
    let rules = &loaded.policy.rules;
    match super::render::acl(loaded) {
        Err(tollgate_core::policy::PolicyError::Rule { index, reason }) => {
            // Already explained (with a column) by the checks above?
            let tag = format!(": rule #{}", index);
            if out.iter().any(|m| m.contains(&tag)) {
                return;
            }
            let at = rules.get(index).map_or_else(
                || loaded.path.display().to_string(),
                |r| loaded.at(r.span()),
            );
            out.push(format!(
                "{at}: rule #{}: the worker would refuse this ACL: {reason}",
                index
            ));
        }
        Err(e) => out.push(format!(
            "{}: the worker would refuse this ACL: {e}",
            loaded.path.display()
        )),
        Ok(acl) => {
            for (shadowed, by) in acl.shadowed_rules() {
                let (Some(rule), Some(earlier)) = (rules.get(shadowed), rules.get(by)) else {
                    continue;
                };
                let at = loaded.at(rule.span());
                let prefix = format!("{at}: rule #{} can never apply", shadowed);
                if !out.iter().any(|m| m.starts_with(&prefix)) {
                    out.push(format!(
                        "{prefix}: rule #{} ({}) matches every request it would, and the first match wins; move it above rule #{} or remove it",
                        by,
                        loaded.at(earlier.span()),
                        by
                    ));
                }
            }
        }
    }
}

/// Characters an account name may use: it travels in HTTP Basic (no ':'), in KV keys and in
/// `${account}` placeholders of repository names, so keep to a name-safe alphabet.
pub(crate) fn account_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_ACCOUNT_LEN {
        return Some(format!("must be 1-{MAX_ACCOUNT_LEN} bytes long"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Some("may only use A-Z a-z 0-9 - _ . @".to_owned());
    }
    None
}

/// A bcrypt hash as htpasswd -B and `tollgate user add` write it: the core's check (the one the
/// worker applies to `user:` records, plus the cost floor), so a hash that passes here is one the
/// worker will run.
pub(crate) fn bcrypt_problem(hash: &str) -> Option<String> {
    tollgate_core::validate::bcrypt_hash(hash)
        .err()
        .map(|e| e.to_string())
}

fn check_users(loaded: &Loaded, out: &mut Vec<String>) {
    let mut digests: BTreeMap<&str, String> = BTreeMap::new();
    for (name, user) in &loaded.policy.users {
        let user_at = loaded.at(user.span());
        if let Some(why) = account_name_problem(name) {
            out.push(format!("{user_at}: users.{name}: the account name {why}"));
        }
        let user = user.get_ref();
        if let Some(pw) = &user.password {
            if let Some(why) = bcrypt_problem(pw.get_ref()) {
                out.push(format!(
                    "{}: users.{name}.password {why}",
                    loaded.at(pw.span())
                ));
            }
        }
        for g in &user.groups {
            if let Some(why) = plain_value_problem(g.get_ref()) {
                out.push(format!(
                    "{}: users.{name}.groups: {why}",
                    loaded.at(g.span())
                ));
            }
        }
        for (key, values) in &user.labels {
            if let Some(why) = plain_value_problem(key) {
                out.push(format!("{user_at}: users.{name}.labels key {key:?}: {why}"));
            }
            for v in values {
                if let Some(why) = plain_value_problem(v.get_ref()) {
                    out.push(format!(
                        "{}: users.{name}.labels.{key}: {why}",
                        loaded.at(v.span())
                    ));
                }
            }
        }
        for key in &user.apikeys {
            let at = loaded.at(key.span());
            let key = key.get_ref();
            let digest = key.digest.get_ref();
            if digest.len() != 64
                || !digest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                out.push(format!(
                    "{}: users.{name}.apikeys.digest must be 64 lower-case hex characters (the SHA-256 of the key; `tollgate apikey create` writes it)",
                    loaded.at(key.digest.span())
                ));
            } else if let Some(other) = digests.insert(digest, name.clone()) {
                out.push(format!("{at}: users.{name}.apikeys: the same key digest is already listed for users.{other}"));
            }
            if plain_value_problem(key.name.get_ref()).is_some() {
                out.push(format!(
                    "{}: users.{name}.apikeys.name must be non-empty printable text",
                    loaded.at(key.name.span())
                ));
            }
            if let Err((span, why)) = key.binding() {
                out.push(format!(
                    "{}: users.{name}.apikeys.allow_net/allow_country: {why}",
                    loaded.at(span)
                ));
            }
            if let Some(exp) = &key.expires {
                if *exp.get_ref() <= key.created {
                    out.push(format!(
                        "{}: users.{name}.apikeys.expires must be after `created` ({})",
                        loaded.at(exp.span()),
                        key.created
                    ));
                }
            }
        }
    }
}

/// Group names, label keys/values, key names: printable, no wildcards or placeholders.
fn plain_value_problem(value: &str) -> Option<String> {
    if value.is_empty() || value.len() > 255 {
        return Some("must be 1-255 bytes long".to_owned());
    }
    if value
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '*' | '?' | '$'))
    {
        return Some(format!(
            "{value:?} may not contain whitespace, control characters, '*', '?' or '$'"
        ));
    }
    None
}

fn check_rules(loaded: &Loaded, out: &mut Vec<String>) {
    let rules = &loaded.policy.rules;
    for (index, rule) in rules.iter().enumerate() {
        let n = index;
        let rule_at = loaded.at(rule.span());
        let rule = rule.get_ref();
        if let Some(m) = &rule.matches {
            check_match(loaded, n, m.get_ref(), out);
        }
        check_actions(loaded, n, rule, out);
        if let Some(m) = &rule.matches {
            let m = m.get_ref();
            let authenticated_only = m.account.is_some() || m.group.is_some() || m.labels.is_some();
            let workload_only = m.issuer.is_some() || m.claims.is_some();
            if (authenticated_only || workload_only)
                && m.anonymous.as_ref().is_some_and(|a| *a.get_ref())
            {
                out.push(format!(
                    "{rule_at}: rule #{n}: `anonymous = true` with account/group/labels/issuer/claims can never match (those never match an anonymous request); drop one of them"
                ));
            }
            if authenticated_only && workload_only {
                out.push(format!(
                    "{rule_at}: rule #{n}: account/group/labels (users) with issuer/claims (workloads) can never match: no principal is both; split it into two rules"
                ));
            }
        }
        for (earlier_index, earlier) in rules.iter().enumerate().take(index) {
            if covers(
                earlier.get_ref().matches.as_ref().map(|m| m.get_ref()),
                rule.matches.as_ref().map(|m| m.get_ref()),
            ) {
                out.push(format!(
                    "{rule_at}: rule #{n} can never apply: rule #{} ({}) matches every request it would, and the first match wins; move it above rule #{} or remove it",
                    earlier_index,
                    loaded.at(earlier.span()),
                    earlier_index
                ));
                break;
            }
        }
    }
}

/// A rule whose literal type/name no valid scope can have never matches: check them with the
/// core's scope grammar (the one the worker parses requests with).
fn check_scope_shape(loaded: &Loaded, n: usize, m: &Match, out: &mut Vec<String>) {
    let literal = |v: &str| !v.contains(['*', '?', '$']);
    let Some(t) = m.resource_type.as_ref().filter(|t| literal(t.get_ref())) else {
        return;
    };
    let known = [
        tollgate_core::scope::REPOSITORY,
        tollgate_core::scope::REGISTRY,
        tollgate_core::scope::ARTIFACT_REPOSITORY,
    ];
    if !known.contains(&t.get_ref().as_str()) {
        out.push(format!(
            "{}: rule #{n} match.type {:?} is not a scope type Tollgate accepts, so the rule never matches: use {}",
            loaded.at(t.span()),
            t.get_ref(),
            known.join(", ")
        ));
        return;
    }
    if let Some(name) = m.name.as_ref().filter(|v| literal(v.get_ref())) {
        let scope = format!("{}:{}:pull", t.get_ref(), name.get_ref());
        if let Err(e) = tollgate_core::scope::Scope::parse(&scope) {
            out.push(format!(
                "{}: rule #{n} match.name {:?} is not a name any valid {} scope has, so the rule never matches: {e}",
                loaded.at(name.span()),
                name.get_ref(),
                t.get_ref()
            ));
        }
    }
}

fn check_match(loaded: &Loaded, n: usize, m: &Match, out: &mut Vec<String>) {
    check_scope_shape(loaded, n, m, out);
    let plain = [
        ("account", &m.account),
        ("group", &m.group),
        ("service", &m.service),
    ];
    for (field, value) in plain {
        if let Some(v) = value {
            if let Some(why) = glob_problem(v.get_ref(), false) {
                out.push(format!(
                    "{}: rule #{n} match.{field}: {why}",
                    loaded.at(v.span())
                ));
            }
        }
    }
    if let Some(v) = &m.resource_type {
        let t = v.get_ref();
        let ok = !t.is_empty()
            && t.len() <= 64
            && t.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '*' | '?')
            });
        if !ok {
            out.push(format!(
                "{}: rule #{n} match.type {t:?} is not a resource type: use lower-case letters, digits and '-' (e.g. repository, registry, artifact-repository), optionally with * or ?",
                loaded.at(v.span())
            ));
        }
    }
    if let Some(v) = &m.name {
        if let Some(why) = glob_problem(v.get_ref(), true) {
            out.push(format!(
                "{}: rule #{n} match.name: {why}",
                loaded.at(v.span())
            ));
        }
    }
    if let Some(v) = &m.issuer {
        if let Some(why) = glob_problem(v.get_ref(), false) {
            out.push(format!(
                "{}: rule #{n} match.issuer: {why}",
                loaded.at(v.span())
            ));
        }
    }
    if let Some(claims) = &m.claims {
        for (key, v) in claims {
            if !tollgate_core::federation::valid_claim_name(key) {
                out.push(format!(
                    "{}: rule #{n} match.claims key {key:?} is not a flattened claim name: use letters, digits, _ - : and dots between parts (e.g. repository, kubernetes.io.namespace)",
                    loaded.at(v.span())
                ));
            }
            if let Some(why) = glob_problem(v.get_ref(), false) {
                out.push(format!(
                    "{}: rule #{n} match.claims.{key}: {why}",
                    loaded.at(v.span())
                ));
            }
        }
    }
    if let Some(labels) = &m.labels {
        for (key, v) in labels {
            if let Some(why) = plain_value_problem(key) {
                out.push(format!(
                    "{}: rule #{n} match.labels key {key:?}: {why}",
                    loaded.at(v.span())
                ));
            }
            if let Some(why) = glob_problem(v.get_ref(), false) {
                out.push(format!(
                    "{}: rule #{n} match.labels.{key}: {why}",
                    loaded.at(v.span())
                ));
            }
        }
    }
}

/// Actions a rule may grant for a resource type. `*` grants whatever was asked.
fn check_actions(loaded: &Loaded, n: usize, rule: &Rule, out: &mut Vec<String>) {
    let rtype = rule
        .matches
        .as_ref()
        .and_then(|m| m.get_ref().resource_type.as_ref())
        .map(|t| t.get_ref().as_str());
    let known: Option<&[&str]> = match rtype {
        Some("repository") => Some(&["pull", "push", "delete", "*"]),
        Some("artifact-repository") => Some(&["pull", "push", "*"]),
        Some("registry") => Some(&["*"]),
        _ => None,
    };
    let mut seen = Vec::new();
    for action in rule.actions.get_ref() {
        let a = action.get_ref().as_str();
        let at = loaded.at(action.span());
        let well_formed = a == "*"
            || (!a.is_empty() && a.len() <= 32 && a.chars().all(|c| c.is_ascii_lowercase()));
        if !well_formed {
            out.push(format!("{at}: rule #{n} actions: {a:?} is not an action: use lower-case words such as pull, push, delete, or \"*\""));
        } else if let (Some(list), Some(t)) = (known, rtype) {
            if !list.contains(&a) {
                out.push(format!(
                    "{at}: rule #{n} actions: {a:?} is not an action of type {t}: use {}",
                    list.join(", ")
                ));
            }
        }
        if seen.contains(&a) {
            out.push(format!("{at}: rule #{n} actions: {a:?} is listed twice"));
        }
        seen.push(a);
    }
    if seen.contains(&"*") && seen.len() > 1 {
        out.push(format!(
            "{}: rule #{n} actions: \"*\" already grants every action; list it alone",
            loaded.at(rule.actions.span())
        ));
    }
}

/// One piece of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(char),
    Star,
    One,
    Placeholder(String),
}

const PLACEHOLDERS: [&str; 3] = ["account", "service", "type"];

fn tokenize(glob: &str, placeholders: bool) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            '$' if placeholders => {
                if chars.next() != Some('{') {
                    return Err("a '$' must start a placeholder such as ${account}".to_owned());
                }
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => inner.push(ch),
                        None => {
                            return Err(format!(
                                "the placeholder ${{{inner} is not closed with '}}'"
                            ))
                        }
                    }
                }
                let label_ok = inner
                    .strip_prefix("labels:")
                    .is_some_and(|k| plain_value_problem(k).is_none());
                let claim_ok = inner
                    .strip_prefix("claims.")
                    .is_some_and(tollgate_core::federation::valid_claim_name);
                if !PLACEHOLDERS.contains(&inner.as_str()) && !label_ok && !claim_ok {
                    return Err(format!(
                        "unknown placeholder ${{{inner}}}: use ${{account}}, ${{service}}, ${{type}}, ${{labels:KEY}} or ${{claims.NAME}}"
                    ));
                }
                tokens.push(Token::Placeholder(inner));
            }
            '$' => return Err("placeholders (${...}) are only allowed in match.name".to_owned()),
            c => tokens.push(Token::Lit(c)),
        }
    }
    Ok(tokens)
}

/// What is wrong with a glob, if anything. `name` globs may hold placeholders and must otherwise
/// use characters a repository name can contain.
fn glob_problem(glob: &str, is_name: bool) -> Option<String> {
    if glob.is_empty() || glob.len() > 255 {
        return Some("must be 1-255 bytes long".to_owned());
    }
    let tokens = match tokenize(glob, is_name) {
        Ok(t) => t,
        Err(e) => return Some(format!("{glob:?}: {e}")),
    };
    for t in &tokens {
        if let Token::Lit(c) = t {
            let bad = if is_name {
                !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'))
            } else {
                c.is_control() || c.is_whitespace() || matches!(c, '[' | ']' | '{' | '}' | '\\')
            };
            if bad {
                let valid = if is_name {
                    "letters, digits, . _ - / : plus the wildcards * (any run, including '/') and ? (one character)"
                } else {
                    "printable characters without spaces, plus the wildcards * and ? ([...] classes are not supported)"
                };
                return Some(format!("{glob:?} contains {c:?}; valid: {valid}"));
            }
        }
    }
    None
}

/// Does glob `a` match every string glob `b` can match? Conservative (may answer no when the
/// answer is yes) so it never flags a reachable rule.
fn glob_covers(a: &str, b: &str) -> bool {
    // Over-long globs are already reported; do not spend quadratic work on them.
    if a.len() > 255 || b.len() > 255 {
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

fn field_covers(
    a: &Option<Spanned<String>>,
    b: &Option<Spanned<String>>,
    absent_is_everything: bool,
) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(a), Some(b)) => glob_covers(a.get_ref(), b.get_ref()),
        (Some(a), None) => absent_is_everything && a.get_ref().chars().all(|c| c == '*'),
    }
}

/// Does every request matched by `b` also match `a`? (`None`: a rule without `match`.)
fn covers(a: Option<&Match>, b: Option<&Match>) -> bool {
    let empty = Match::default();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    let b_authenticated_only = b.account.is_some()
        || b.group.is_some()
        || b.labels.is_some()
        || b.issuer.is_some()
        || b.claims.is_some()
        || b.anonymous.as_ref().is_some_and(|x| !*x.get_ref());
    let anonymous_ok = match a.anonymous.as_ref().map(|x| *x.get_ref()) {
        None => true,
        Some(false) => b_authenticated_only,
        Some(true) => b.anonymous.as_ref().is_some_and(|x| *x.get_ref()),
    };
    let labels_ok = match (&a.labels, &b.labels) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(al), Some(bl)) => al.iter().all(|(k, av)| {
            bl.get(k)
                .is_some_and(|bv| glob_covers(av.get_ref(), bv.get_ref()))
        }),
    };
    let claims_ok = match (&a.claims, &b.claims) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(ac), Some(bc)) => ac.iter().all(|(k, av)| {
            bc.get(k)
                .is_some_and(|bv| glob_covers(av.get_ref(), bv.get_ref()))
        }),
    };
    anonymous_ok
        && labels_ok
        && claims_ok
        && field_covers(&a.issuer, &b.issuer, false)
        && field_covers(&a.account, &b.account, false)
        && field_covers(&a.group, &b.group, false)
        && field_covers(&a.service, &b.service, true)
        && field_covers(&a.resource_type, &b.resource_type, true)
        && field_covers(&a.name, &b.name, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check(text: &str) -> Vec<String> {
        let loaded = Loaded::parse(Path::new("p.toml"), text.to_owned()).unwrap();
        problems(&loaded)
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
    fn shadowed_rule_is_reported_with_both_lines() {
        let p = check(
            "[[rules]]\nmatch = { name = \"org/*\" }\nactions = [\"pull\"]\n\n[[rules]]\nmatch = { name = \"org/app\", account = \"bob\" }\nactions = [\"push\"]\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("p.toml:5:1: rule #1 can never apply: rule #0 (p.toml:1:1)"),
            "{p:?}"
        );
    }

    #[test]
    fn narrower_rule_first_is_fine() {
        let p = check(
            "[[rules]]\nmatch = { name = \"org/secret*\" }\nactions = []\n\n[[rules]]\nmatch = { name = \"org/*\" }\nactions = [\"pull\"]\n",
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn anonymous_rules_do_not_shadow_authenticated_ones() {
        let p = check(
            "[[rules]]\nmatch = { anonymous = true, name = \"public/*\" }\nactions = [\"pull\"]\n[[rules]]\nmatch = { account = \"*\", name = \"public/*\" }\nactions = [\"pull\",\"push\"]\n",
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn bad_globs_placeholders_and_actions() {
        let p = check("[[rules]]\nmatch = { name = \"${acount}/*\" }\nactions = [\"pull\"]\n");
        assert!(
            p[0].starts_with("p.toml:2:18: rule #0 match.name:")
                && p[0].contains("unknown placeholder ${acount}"),
            "{p:?}"
        );
        let p = check("[[rules]]\nmatch = { name = \"org/[ab]\" }\nactions = [\"pull\"]\n");
        assert!(p[0].contains("contains '['"), "{p:?}");
        let p =
            check("[[rules]]\nmatch = { type = \"repository\" }\nactions = [\"pull\", \"pusj\"]\n");
        assert!(
            p[0].starts_with("p.toml:3:20:") && p[0].contains("use pull, push, delete, *"),
            "{p:?}"
        );
        let p = check("[[rules]]\nmatch = { account = \"${account}\" }\nactions = [\"pull\"]\n");
        assert!(p[0].contains("only allowed in match.name"), "{p:?}");
    }

    #[test]
    fn names_and_types_must_fit_the_scope_grammar() {
        let p = check("[[rules]]\nmatch = { type = \"repository\", name = \"Org/App\" }\nactions = [\"pull\"]\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("p.toml:2:39: rule #0 match.name \"Org/App\" is not a name"),
            "{p:?}"
        );
        let p = check(
            "[[rules]]\nmatch = { type = \"repo\", name = \"org/app\" }\nactions = [\"pull\"]\n",
        );
        assert!(
            p[0].contains("match.type \"repo\" is not a scope type"),
            "{p:?}"
        );
        let p = check(
            "[[rules]]\nmatch = { type = \"registry\", name = \"catalog\" }\nactions = [\"*\"]\n",
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn users_are_checked() {
        let p = check("[users.\"bad:name\"]\npassword = \"plain\"\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("users.bad:name: the account name may only use"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("p.toml:2:12: users.bad:name.password is not a bcrypt hash"),
            "{p:?}"
        );
        let p = check("[users.ci]\napikeys = [{ name = \"ci\", digest = \"ABC\", created = 5 }]\n");
        assert!(p[0].contains("64 lower-case hex"), "{p:?}");
    }

    /// The second review: cost 17 and 31 validated, and so did a bad salt alphabet.
    #[test]
    fn bcrypt_cost_range_and_alphabet() {
        let ok = bcrypt::hash_with_salt("pw", 10, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        for cost in ["15", "17", "31"] {
            let over = format!("$2y${cost}{}", &ok[6..]);
            let why = bcrypt_problem(&over).unwrap();
            assert!(
                why.contains(&format!("cost {cost}, above the maximum of 14")),
                "{why}"
            );
        }
        let bad_salt = format!("{}!{}", &ok[..7], &ok[8..]);
        assert!(bcrypt_problem(&bad_salt).unwrap().contains("salt"));
        let p = check(&format!(
            "[users.alice]\npassword = \"$2y$17{}\"\n",
            &ok[6..]
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("p.toml:2:12: users.alice.password uses bcrypt cost 17"),
            "{p:?}"
        );
    }

    /// The second review: a user named like an issuer's username (or `oidc`) validated, and
    /// federation then took over every login under that name in the worker.
    #[test]
    fn users_that_federation_would_take_over_are_refused() {
        let issuer = "[[issuers]]\nname = \"github\"\nissuer = \"https://token.actions.githubusercontent.com\"\naudiences = [\"https://r.example\"]\nusername = \"github-actions\"\n";
        let p = check(&format!("[users.github-actions]\ngroups = [\"dev\"]\n\n[users.oidc]\n\n[users.alice]\n\n{issuer}"));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].starts_with("p.toml:1:1: users.github-actions: user 'github-actions' has the name of issuer 'github''s username"),
            "{p:?}"
        );
        assert!(
            p[1].contains("users.oidc: user 'oidc' has the username reserved"),
            "{p:?}"
        );
        // Without issuers, `oidc` is an ordinary account name.
        assert!(check("[users.oidc]\n").is_empty());
    }

    #[test]
    fn bcrypt_cost_floor() {
        let low = bcrypt::hash_with_salt("pw", 4, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        assert!(bcrypt_problem(&low).unwrap().contains("cost 4"));
        let ok = bcrypt::hash_with_salt("pw", 10, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        assert_eq!(bcrypt_problem(&ok), None);
    }

    /// Hostile or odd files give errors or problems, never a panic.
    #[test]
    fn odd_files_do_not_panic() {
        let long = "a".repeat(5000);
        let inputs = [
            String::new(),
            "users = 5".to_owned(),
            "rules = \"x\"".to_owned(),
            "[[rules]]\nactions = []\nmatch = {}".to_owned(),
            "[[rules]]\nactions = [\"\"]\nmatch = { name = \"${\" }".to_owned(),
            "[[rules]]\nactions = [\"pull\"]\nmatch = { name = \"é/ß*\", labels = { \"\" = \"\" } }".to_owned(),
            format!("[[rules]]\nactions = [\"pull\"]\nmatch = {{ name = \"{long}\" }}\n[[rules]]\nactions = [\"pull\"]\nmatch = {{ name = \"{long}*\" }}"),
            format!("[users.\"{long}\"]\npassword = \"$2y$99$\"\napikeys = [{{ name = \"\", digest = \"\", created = 0, expires = 0 }}]"),
            "[users.a]\nlabels = { team = [\"x\", \"\\u0000\"] }".to_owned(),
        ];
        for text in inputs {
            if let Ok(loaded) = Loaded::parse(Path::new("p.toml"), text.clone()) {
                let _ = problems(&loaded);
                let _ = super::super::render::entries(&loaded);
            }
        }
    }
}
