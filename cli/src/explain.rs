//! `tollgate explain`: which rule decides each requested scope for an account, what is granted
//! and why the rest is refused, computed by the core's `Acl::explain` (the worker's own code).

use std::fmt::Write as _;

use anyhow::{anyhow, bail, Result};
use tollgate_core::policy::Principal;
use tollgate_core::scope::parse_scopes;

use crate::policy_file::{render, Loaded};

pub struct Request<'a> {
    /// None: an anonymous request.
    pub account: Option<&'a str>,
    pub scopes: &'a [String],
    pub service: Option<&'a str>,
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

pub fn explain(loaded: &Loaded, req: &Request) -> Result<String> {
    let acl = render::acl(loaded).map_err(|e| anyhow!("{}: {e}", loaded.path.display()))?;
    let service = match req.service {
        Some(s) => s,
        None => {
            let constrained = loaded.policy.rules.iter().find(|r| {
                r.get_ref()
                    .matches
                    .as_ref()
                    .is_some_and(|m| m.get_ref().service.is_some())
            });
            if let Some(rule) = constrained {
                bail!(
                    "{}: rules match on `service`: pass --service with the service (token audience) to explain",
                    loaded.at(rule.span())
                );
            }
            ""
        }
    };
    let scopes = parse_scopes(req.scopes.iter().map(String::as_str)).map_err(|e| {
        anyhow!("--scope: {e} (expected type:name:actions, e.g. repository:org/app:pull,push or registry:catalog:*)")
    })?;
    if scopes.is_empty() {
        bail!("--scope: give at least one scope, e.g. --scope repository:org/app:pull,push");
    }
    let mut out = String::new();
    let principal = match req.account {
        None => {
            writeln!(out, "anonymous request")?;
            Principal::anonymous()
        }
        Some(name) => {
            let user = loaded.policy.users.get(name).ok_or_else(|| {
                anyhow!(
                    "--account {name:?}: no such user in {} (see `tollgate user list`)",
                    loaded.path.display()
                )
            })?;
            let record = render::user_record(user.get_ref());
            let labels: Vec<String> = record
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.join("|")))
                .collect();
            writeln!(
                out,
                "account {name} (groups: {}; labels: {})",
                list(&record.groups),
                list(&labels)
            )?;
            if record.disabled {
                writeln!(
                    out,
                    "  DISABLED: the worker refuses this account's credentials before any rule is checked; the rules below would apply once it is enabled"
                )?;
            }
            Principal::user(name, &record.groups, &record.labels)
        }
    };
    if !service.is_empty() {
        writeln!(out, "service {service}")?;
    }
    for d in acl.explain(&principal, service, &scopes) {
        let scope = &d.scope;
        writeln!(
            out,
            "\n{}:{}:{}",
            scope.resource_type,
            scope.name,
            scope.actions.join(",")
        )?;
        match d
            .rule
            .and_then(|i| loaded.policy.rules.get(i).map(|r| (i, r)))
        {
            Some((i, rule)) => {
                write!(out, "  rule:    #{i} at {}", loaded.at(rule.span()))?;
                match &d.comment {
                    Some(c) => writeln!(out, " ({c})")?,
                    None => writeln!(out)?,
                }
            }
            None => writeln!(out, "  rule:    none")?,
        }
        writeln!(out, "  granted: {}", list(&d.granted))?;
        writeln!(out, "  refused: {}", list(&d.refused))?;
        writeln!(out, "  why:     {}", d.reason)?;
    }
    let access = acl.authorize(&principal, service, &scopes);
    let access =
        serde_json::to_string(&access).map_err(|e| anyhow!("encoding the access claim: {e}"))?;
    let disabled = req.account.is_some_and(|a| {
        loaded
            .policy
            .users
            .get(a)
            .is_some_and(|u| u.get_ref().disabled)
    });
    if disabled {
        writeln!(
            out,
            "\naccess claim: none, the account is disabled (once enabled: {access})"
        )?;
    } else {
        writeln!(out, "\naccess claim: {access}")?;
    }
    Ok(out)
}
