//! Static checks of a policy file beyond its syntax: account names, bcrypt hashes, API-key digests
//! and issuers here; the rules through the core's one policy schema
//! (`tollgate_core::policy::check`: globs and placeholders, scope types and actions, rules an earlier
//! one shadows, what the worker would refuse), whose `{rule, field, reason}` findings are mapped
//! back to the file.
//!
//! Each problem is reported as `FILE:LINE:COLUMN: field: what is wrong; what would be valid`.

use std::collections::BTreeMap;
use std::ops::Range;

use tollgate_core::policy::check::{self, Field, MatchField, Reason, ValueProblem};

use super::{Loaded, Match, Rule};
use tollgate_core::limits::MAX_ACCOUNT_LEN;

/// Runs every check; an empty list means the file is good.
pub(crate) fn problems(loaded: &Loaded) -> Vec<String> {
    let mut out = Vec::new();
    check_users(loaded, &mut out);
    check_issuers(loaded, &mut out);
    check_rules(loaded, &mut out);
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
}

/// The rules through the core's checks (the worker's own), each finding at its place in the file.
fn check_rules(loaded: &Loaded, out: &mut Vec<String>) {
    let rules = &loaded.policy.rules;
    let core: Vec<_> = rules
        .iter()
        .map(|r| super::render::core_rule(r.get_ref()))
        .collect();
    let names: Vec<&str> = loaded
        .policy
        .issuers
        .iter()
        .map(|i| i.get_ref().name.as_str())
        .collect();
    for f in check::check_rules(&core, &names) {
        let Some(rule) = rules.get(f.rule) else {
            continue;
        };
        let at = loaded.at(span_of(rule, &f.field));
        out.push(match f.reason {
            // The earlier rule's place in the file too.
            Reason::ShadowedBy(by) => format!(
                "{at}: rule #{} can never apply: rule #{by} ({}) matches every request it would, and the first match wins; move it above rule #{by} or remove it",
                f.rule,
                rules.get(by).map_or_else(String::new, |r| loaded.at(r.span()))
            ),
            _ => format!("{at}: {f}"),
        });
    }
}

/// Where a finding's field is in the file: the value itself when the file has it.
fn span_of(rule: &toml::Spanned<Rule>, field: &Field) -> Range<usize> {
    let r = rule.get_ref();
    let m = r.matches.as_ref().map(|m| m.get_ref());
    let in_match = |m: &Match| match field {
        Field::Match(f) => match f {
            MatchField::Account => m.account.as_ref(),
            MatchField::Group => m.group.as_ref(),
            MatchField::Service => m.service.as_ref(),
            MatchField::Type => m.resource_type.as_ref(),
            MatchField::Name => m.name.as_ref(),
            MatchField::Issuer => m.issuer.as_ref(),
        }
        .map(|v| v.span()),
        Field::Label(k) | Field::LabelKey(k) => m.labels.as_ref()?.get(k).map(|v| v.span()),
        Field::Claim(k) | Field::ClaimKey(k) => m.claims.as_ref()?.get(k).map(|v| v.span()),
        _ => None,
    };
    match field {
        Field::Actions => Some(r.actions.span()),
        Field::Action(i) => r.actions.get_ref().get(*i).map(|a| a.span()),
        _ => m.and_then(in_match),
    }
    .unwrap_or_else(|| rule.span())
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

/// Group names, label keys/values, key names (the core's rule for them), worded for the file.
fn plain_value_problem(value: &str) -> Option<String> {
    check::plain_value_problem(value).map(|p| match p {
        ValueProblem::Length => p.to_string(),
        _ => format!("{value:?} {p}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Exactly one problem, starting with `start`.
    #[track_caller]
    fn only_problem_starts(p: &[String], start: &str) {
        problems_are(p, &[(start, "")]);
    }

    /// Exactly the problems `want`, in order: each `(start, needle)` starts with `start` and
    /// contains `needle`.
    #[track_caller]
    fn problems_are(p: &[String], want: &[(&str, &str)]) {
        assert_eq!(p.len(), want.len(), "{p:?}");
        for (problem, (start, needle)) in p.iter().zip(want) {
            assert!(
                problem.starts_with(start) && problem.contains(needle),
                "{p:?}"
            );
        }
    }

    fn check(text: &str) -> Vec<String> {
        let loaded = Loaded::parse(Path::new("p.toml"), text.to_owned()).unwrap();
        problems(&loaded)
    }

    /// One `[[rules]]` entry: `match = { MATCHER }`, `actions = [ACTIONS]`.
    fn rule(matcher: &str, actions: &str) -> String {
        format!("[[rules]]\nmatch = {{ {matcher} }}\nactions = [{actions}]\n")
    }

    #[track_caller]
    fn no_problems(text: &str) {
        let p = check(text);
        assert!(p.is_empty(), "{p:?}");
    }

    /// The first problem found in `text` starts with `start` and contains `needle`.
    #[track_caller]
    fn first_problem(text: &str, start: &str, needle: &str) {
        let p = check(text);
        assert!(
            p.first()
                .is_some_and(|f| f.starts_with(start) && f.contains(needle)),
            "{p:?}"
        );
    }

    #[test]
    fn shadowed_rule_is_reported_with_both_lines() {
        let p = check(&format!(
            "{}\n{}",
            rule(r#"name = "org/*""#, r#""pull""#),
            rule(r#"name = "org/app", account = "bob""#, r#""push""#)
        ));
        only_problem_starts(
            &p,
            "p.toml:5:1: rule #1 can never apply: rule #0 (p.toml:1:1)",
        );
    }

    #[test]
    fn narrower_rule_first_is_fine() {
        no_problems(&format!(
            "{}\n{}",
            rule(r#"name = "org/secret*""#, ""),
            rule(r#"name = "org/*""#, r#""pull""#)
        ));
    }

    #[test]
    fn anonymous_rules_do_not_shadow_authenticated_ones() {
        no_problems(&format!(
            "{}{}",
            rule(r#"anonymous = true, name = "public/*""#, r#""pull""#),
            rule(r#"account = "*", name = "public/*""#, r#""pull","push""#)
        ));
    }

    #[test]
    fn bad_globs_placeholders_and_actions() {
        let pull = r#""pull""#;
        first_problem(
            &rule(r#"name = "${acount}/*""#, pull),
            "p.toml:2:18: rule #0 match.name:",
            "unknown placeholder ${acount}",
        );
        first_problem(&rule(r#"name = "org/[ab]""#, pull), "", "contains '['");
        first_problem(
            &rule(r#"type = "repository""#, r#""pull", "pusj""#),
            "p.toml:3:20:",
            "use pull, push, delete, *",
        );
        first_problem(
            &rule(r#"account = "${account}""#, pull),
            "",
            "only allowed in match.name",
        );
    }

    #[test]
    fn names_and_types_must_fit_the_scope_grammar() {
        let pull = r#""pull""#;
        only_problem_starts(
            &check(&rule(r#"type = "repository", name = "Org/App""#, pull)),
            "p.toml:2:39: rule #0 match.name: \"Org/App\" is not a name",
        );
        first_problem(
            &rule(r#"type = "repo", name = "org/app""#, pull),
            "",
            "match.type: \"repo\" is not a scope type",
        );
        no_problems(&rule(r#"type = "registry", name = "catalog""#, r#""*""#));
    }

    #[test]
    fn users_are_checked() {
        problems_are(
            &check("[users.\"bad:name\"]\npassword = \"plain\"\n"),
            &[
                ("", "users.bad:name: the account name may only use"),
                (
                    "p.toml:2:12: users.bad:name.password is not a bcrypt hash",
                    "",
                ),
            ],
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
        only_problem_starts(&p, "p.toml:2:12: users.alice.password uses bcrypt cost 17");
    }

    /// The second review: a user named like an issuer's username (or `oidc`) validated, and
    /// federation then took over every login under that name in the worker.
    #[test]
    fn users_that_federation_would_take_over_are_refused() {
        let issuer = "[[issuers]]\nname = \"github\"\nissuer = \"https://token.actions.githubusercontent.com\"\naudiences = [\"https://r.example\"]\nusername = \"github-actions\"\n";
        problems_are(
            &check(&format!("[users.github-actions]\ngroups = [\"dev\"]\n\n[users.oidc]\n\n[users.alice]\n\n{issuer}")),
            &[
                ("p.toml:1:1: users.github-actions: user 'github-actions' has the name of issuer 'github''s username", ""),
                ("", "users.oidc: user 'oidc' has the username reserved"),
            ],
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
