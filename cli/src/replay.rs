//! `tollgate policy replay --log FILE --candidate policy.toml` (issue 16): re-decides every logged
//! token request and proxied request under a candidate policy, before `policy sync` makes it live,
//! and prints the decisions that would change (allow -> deny, deny -> allow) grouped by the
//! candidate rule that decides them. ACL ordering mistakes show up here instead of in production.
//!
//! What is replayed, per logged decision:
//! - token requests that were issued: each requested action, granted then (the `granted` field)
//!   against granted now (the candidate's users and rules, `Acl::explain`);
//! - proxied requests the policy decided (forwarded, or refused as `insufficient_scope` /
//!   `denied`): the access the path needs, all of it granted or not. The account is the line's
//!   `principal`, or for a refusal the account of the token whose `jti` it carried.
//!
//! Not replayable (counted, not guessed): failed logins, workloads (their claims are not logged),
//! refusals of credentials rather than policy, proxied refusals whose account is unknown.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::{anyhow, Result};
use tollgate_core::policy::{Acl, Principal};
use tollgate_core::proxy::route::{required_access, ChartLayout, Required};
use tollgate_core::scope::{parse_scopes, Scope};

use crate::logread::{Log, TokenLine};
use crate::policy_file::{render, Loaded};

/// Exit status when any decision would change (errors are 1, usage 2).
pub(crate) const CHANGED_EXIT: u8 = 3;

/// The report was printed and some decision would change: `main` exits with [`CHANGED_EXIT`].
#[derive(Debug)]
pub(crate) struct DecisionsChanged;

impl std::fmt::Display for DecisionsChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decisions would change under the candidate policy")
    }
}

impl std::error::Error for DecisionsChanged {}

/// Who the candidate policy says a logged account is.
enum Who {
    Principal(Principal<'static>),
    /// Not replayable, and why.
    Skip(&'static str),
    /// Refused before any rule: absent from the candidate, or disabled.
    Refused(&'static str),
}

fn who(loaded: &Loaded, account: Option<&str>, credential: Option<&str>) -> Who {
    match (account, credential) {
        (_, Some("oidc")) => Who::Skip("workload (claims are not logged)"),
        (None | Some(""), _) | (_, Some("anonymous")) => Who::Principal(Principal::anonymous()),
        (Some(a), _) => match loaded.policy.users.get(a) {
            None => Who::Refused("account not in the candidate policy"),
            Some(u) => {
                let r = render::user_record(u.get_ref());
                if r.disabled {
                    Who::Refused("account disabled in the candidate policy")
                } else {
                    Who::Principal(Principal::user(a, &r.groups, &r.labels).into_owned())
                }
            }
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    AllowToDeny,
    DenyToAllow,
}

/// One decision that would change.
struct Change {
    time: u64,
    source: &'static str,
    account: String,
    what: String,
}

/// Candidate rule label -> changes, per direction.
type Groups = BTreeMap<(Direction, String), Vec<Change>>;

fn rule_label(acl: &Acl, rule: Option<usize>) -> String {
    match rule {
        None => "no rule matches".into(),
        Some(i) => match acl.rules().get(i).and_then(|r| r.comment.as_deref()) {
            Some(c) => format!("rule #{i} ({c})"),
            None => format!("rule #{i}"),
        },
    }
}

/// `type:name` -> actions, from an audit line's `granted` strings.
fn granted_then(t: &TokenLine) -> HashMap<(String, String), Vec<String>> {
    let mut m: HashMap<(String, String), Vec<String>> = HashMap::new();
    for s in parse_scopes(t.granted.iter().map(String::as_str)).unwrap_or_default() {
        m.entry((s.resource_type, s.name))
            .or_default()
            .extend(s.actions);
    }
    m
}

struct Replay<'a> {
    loaded: &'a Loaded,
    acl: Acl,
    groups: Groups,
    replayed: usize,
    skipped: BTreeMap<&'static str, usize>,
}

impl Replay<'_> {
    fn skip(&mut self, why: &'static str) {
        *self.skipped.entry(why).or_default() += 1;
    }

    /// Records a decision that the candidate policy flips: allowed then (so denied now), or not.
    fn flipped(&mut self, allowed_then: bool, rule: String, c: Change) {
        let d = if allowed_then {
            Direction::AllowToDeny
        } else {
            Direction::DenyToAllow
        };
        self.groups.entry((d, rule)).or_default().push(c);
    }

    fn token(&mut self, t: &TokenLine) {
        if t.outcome != "issued" {
            return self.skip("token request refused before the policy (credentials, input)");
        }
        let Ok(scopes) = parse_scopes(t.requested.iter().map(String::as_str)) else {
            return self.skip("unparseable requested scopes");
        };
        let service = t.service.as_deref().unwrap_or("");
        let account = t.account.clone().unwrap_or_default();
        let then = granted_then(t);
        let now: Vec<(Scope, Vec<String>, String)> =
            match who(self.loaded, t.account.as_deref(), t.credential.as_deref()) {
                Who::Skip(why) => return self.skip(why),
                Who::Refused(why) => scopes
                    .into_iter()
                    .map(|s| (s, vec![], why.to_string()))
                    .collect(),
                Who::Principal(p) => self
                    .acl
                    .explain(&p, service, &scopes)
                    .into_iter()
                    .map(|d| (d.scope, d.granted, rule_label(&self.acl, d.rule)))
                    .collect(),
            };
        self.replayed += 1;
        for (scope, granted_now, rule) in now {
            let was = then
                .get(&(scope.resource_type.clone(), scope.name.clone()))
                .cloned()
                .unwrap_or_default();
            for action in &scope.actions {
                let allowed_then = was.contains(action);
                if allowed_then == granted_now.contains(action) {
                    continue;
                }
                let c = Change {
                    time: t.time,
                    source: "token",
                    account: account.clone(),
                    what: format!("{}:{}:{action}", scope.resource_type, scope.name),
                };
                self.flipped(allowed_then, rule.clone(), c);
            }
        }
    }

    fn proxied(
        &mut self,
        l: &tollgate_core::ledger::LedgerLine,
        accounts: &HashMap<&str, &TokenLine>,
        service: Option<&str>,
        chart: &ChartLayout,
    ) {
        let allowed_then = match (l.outcome.as_str(), l.reason.as_deref()) {
            ("forwarded", _) => true,
            ("refused", Some("insufficient_scope" | "denied")) => false,
            _ => return self.skip("proxied request not decided by the policy"),
        };
        let token = l.jti.as_deref().and_then(|j| accounts.get(j));
        let account = match (&l.principal, token) {
            (Some(p), _) => Some(p.as_str()),
            (None, Some(t)) => t.account.as_deref(),
            (None, None) => return self.skip("proxied refusal with an unknown account"),
        };
        let credential = token.and_then(|t| t.credential.as_deref());
        let Some(service) = service else {
            return self.skip("proxied request without a known service (pass --service)");
        };
        let Ok(Required::Access(needed)) = required_access(&l.method, &l.path, "", chart) else {
            return self.skip("proxied request that needs no scope (/v2/) or has no route");
        };
        let scopes: Vec<Scope> = needed
            .iter()
            .map(|a| Scope {
                resource_type: a.resource_type.clone(),
                resource_class: None,
                name: a.name.clone(),
                actions: a.actions.clone(),
            })
            .collect();
        let (allowed_now, rule) = match who(self.loaded, account, credential) {
            Who::Skip(why) => return self.skip(why),
            Who::Refused(why) => (false, why.to_string()),
            Who::Principal(p) => {
                let decisions = self.acl.explain(&p, service, &scopes);
                let refused = decisions.iter().find(|d| !d.refused.is_empty());
                let deciding = refused.or(decisions.first());
                (
                    refused.is_none(),
                    rule_label(&self.acl, deciding.and_then(|d| d.rule)),
                )
            }
        };
        self.replayed += 1;
        if allowed_then == allowed_now {
            return;
        }
        let c = Change {
            time: l.time,
            source: "proxy",
            account: account.unwrap_or("").to_string(),
            what: format!("{} {}", l.method, l.path),
        };
        self.flipped(allowed_then, rule, c);
    }
}

/// The replay report and whether any decision changed.
pub(crate) fn replay(
    log: &Log,
    candidate: &Loaded,
    service: Option<&str>,
    chart: &ChartLayout,
) -> Result<(String, bool)> {
    let acl = render::acl(candidate).map_err(|e| anyhow!("{}: {e}", candidate.path.display()))?;
    let mut r = Replay {
        loaded: candidate,
        acl,
        groups: Groups::new(),
        replayed: 0,
        skipped: BTreeMap::new(),
    };
    // The service of proxied requests: --service, else the only one the token lines name.
    let mut services: Vec<&str> = log.tokens().filter_map(|t| t.service.as_deref()).collect();
    services.sort_unstable();
    services.dedup();
    let service = service.or(match services.as_slice() {
        [one] => Some(*one),
        _ => None,
    });
    let accounts = log.issued_by_jti();
    for line in &log.lines {
        match line {
            crate::logread::Line::Token(t) => r.token(t),
            crate::logread::Line::Proxy(p) => r.proxied(p, &accounts, service, chart),
        }
    }
    let mut out = String::new();
    writeln!(
        out,
        "replayed {} logged decision(s) under {}",
        r.replayed,
        candidate.path.display()
    )?;
    for (why, n) in &r.skipped {
        writeln!(out, "  not replayed: {n} ({why})")?;
    }
    if r.groups.is_empty() {
        writeln!(out, "no decision would change")?;
        return Ok((out, false));
    }
    let mut last = None;
    for ((d, rule), changes) in &r.groups {
        if last != Some(*d) {
            let total: usize = r
                .groups
                .iter()
                .filter(|((x, _), _)| x == d)
                .map(|(_, c)| c.len())
                .sum();
            let title = match d {
                Direction::AllowToDeny => "allow -> deny",
                Direction::DenyToAllow => "deny -> allow",
            };
            writeln!(out, "\n{title}: {total} decision(s)")?;
            last = Some(*d);
        }
        writeln!(out, "  decided by {rule}: {}", changes.len())?;
        for c in changes {
            let account = if c.account.is_empty() {
                "(anonymous)"
            } else {
                &c.account
            };
            writeln!(
                out,
                "    {}  {:<5}  {account}  {}",
                c.time, c.source, c.what
            )?;
        }
    }
    Ok((out, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logread::parse;
    use std::path::Path;

    const LIVE: &str = r#"
[users.bob]
groups = ["readers"]
[users.alice]
groups = ["writers"]
[[rules]]
match = { group = "writers", name = "org/*" }
actions = ["pull", "push"]
[[rules]]
match = { group = "readers", name = "org/*" }
actions = ["pull"]
"#;

    fn log() -> Log {
        parse(&[
            r#"{"event":"token","outcome":"issued","status":200,"time":1,"grant":"header","account":"bob","credential":"password","service":"registry.local","requested":["repository:org/secret:pull"],"granted":["repository:org/secret:pull"],"jti":"b1"}"#,
            r#"{"event":"token","outcome":"issued","status":200,"time":2,"grant":"header","account":"alice","credential":"password","service":"registry.local","requested":["repository:org/app:pull,push"],"granted":["repository:org/app:pull,push"],"jti":"a1"}"#,
            r#"{"event":"token","outcome":"issued","status":200,"time":3,"grant":"header","account":"bob","credential":"password","service":"registry.local","requested":["repository:org/app:push"],"granted":[],"jti":"b2"}"#,
            r#"{"event":"token","outcome":"refused","status":401,"time":4,"grant":"header","account":"mallory","reason":"invalid_credentials: wrong"}"#,
            r#"{"event":"proxy","time":5,"outcome":"forwarded","status":200,"method":"GET","path":"/v2/org/secret/manifests/v1","principal":"bob","credential":"token","jti":"b1"}"#,
            r#"{"event":"proxy","time":6,"outcome":"refused","reason":"insufficient_scope","status":401,"method":"PUT","path":"/v2/org/app/manifests/v1","credential":"token","jti":"b2"}"#,
        ]
        .join("\n"))
    }

    fn candidate(text: &str) -> Loaded {
        Loaded::parse(Path::new("candidate.toml"), text.to_string()).unwrap()
    }

    #[test]
    fn the_live_policy_changes_nothing() {
        let (out, changed) =
            replay(&log(), &candidate(LIVE), None, &ChartLayout::default()).unwrap();
        assert!(!changed, "{out}");
        assert!(
            out.contains("replayed 5") && out.contains("not replayed: 1"),
            "{out}"
        );
    }

    #[test]
    fn a_deny_put_first_and_a_widened_rule_show_grouped_by_rule() {
        let text = LIVE.replace(
            "[[rules]]\nmatch = { group = \"writers\"",
            "[[rules]]\ncomment = \"secrets\"\nmatch = { name = \"org/secret*\" }\nactions = []\n[[rules]]\nmatch = { group = \"readers\", name = \"org/app\" }\nactions = [\"pull\", \"push\"]\n[[rules]]\nmatch = { group = \"writers\"",
        );
        let (out, changed) =
            replay(&log(), &candidate(&text), None, &ChartLayout::default()).unwrap();
        assert!(changed);
        let deny = out.find("allow -> deny: 2 decision(s)").expect(&out);
        let allow = out.find("deny -> allow: 2 decision(s)").expect(&out);
        assert!(deny < allow, "{out}");
        assert!(out.contains("decided by rule #0 (secrets): 2"), "{out}");
        assert!(
            out.contains("token  bob  repository:org/secret:pull"),
            "{out}"
        );
        assert!(
            out.contains("proxy  bob  GET /v2/org/secret/manifests/v1"),
            "{out}"
        );
        assert!(out.contains("decided by rule #1: 2"), "{out}");
        assert!(
            out.contains("proxy  bob  PUT /v2/org/app/manifests/v1"),
            "{out}"
        );
    }

    #[test]
    fn a_removed_user_loses_everything() {
        let text = LIVE.replace("[users.alice]\ngroups = [\"writers\"]\n", "");
        let (out, changed) =
            replay(&log(), &candidate(&text), None, &ChartLayout::default()).unwrap();
        assert!(changed);
        assert!(
            out.contains("decided by account not in the candidate policy: 2"),
            "{out}"
        );
    }
}
