//! `tollgate explain`: which rule decides each requested scope for an account or a federated
//! workload, what is granted and why the rest is refused, computed by the core's `Acl::explain`
//! (the worker's own code). A workload is given by its issuer and claims (a JSON file, or an
//! identity token decoded without verification), flattened and named exactly as the worker does.

use std::fmt::Write as _;

use anyhow::{anyhow, bail, Result};
use tollgate_core::federation::{flatten, render_subject};
use tollgate_core::policy::Principal;
use tollgate_core::scope::parse_scopes;

use crate::policy_file::{render, Loaded};

pub(crate) struct Request<'a> {
    /// None (and no workload): an anonymous request.
    pub account: Option<&'a str>,
    pub workload: Option<Workload>,
    pub scopes: &'a [String],
    pub service: Option<&'a str>,
}

/// A federated workload to explain.
pub(crate) struct Workload {
    /// `--issuer`; None: chosen by the claims' `iss` among the file's [[issuers]].
    pub issuer: Option<String>,
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The claims came from an identity token decoded without verification.
    pub unverified_token: bool,
}

fn object(v: serde_json::Value, what: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    match v {
        serde_json::Value::Object(m) => Ok(m),
        _ => bail!("{what}: the claims must be a JSON object"),
    }
}

impl Workload {
    pub(crate) fn from_claims_file(issuer: Option<String>, file: &std::path::Path) -> Result<Self> {
        let what = format!("--claims {}", file.display());
        let text = std::fs::read_to_string(file).map_err(|e| anyhow!("{what}: {e}"))?;
        let v = serde_json::from_str(&text).map_err(|e| anyhow!("{what}: not JSON: {e}"))?;
        Ok(Self {
            issuer,
            claims: object(v, &what)?,
            unverified_token: false,
        })
    }

    pub(crate) fn from_token_file(issuer: Option<String>, file: &std::path::Path) -> Result<Self> {
        let what = format!("--identity-token {}", file.display());
        let text = std::fs::read_to_string(file).map_err(|e| anyhow!("{what}: {e}"))?;
        let token = text.trim();
        if token.len() > tollgate_core::limits::MAX_IDENTITY_TOKEN_LEN {
            bail!(
                "{what}: {} bytes; the worker accepts identity tokens of at most {} bytes",
                token.len(),
                tollgate_core::limits::MAX_IDENTITY_TOKEN_LEN
            );
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [_, payload, _] = parts.as_slice() else {
            bail!(
                "{what}: a JWT has three '.'-separated parts; this has {}",
                parts.len()
            );
        };
        let v =
            crate::inspect::decode_part(payload, "claims").map_err(|e| anyhow!("{what}: {e}"))?;
        Ok(Self {
            issuer,
            claims: object(v, &what)?,
            unverified_token: true,
        })
    }
}

/// The header lines and principal of a workload, as the worker would build it.
fn workload_principal(
    loaded: &Loaded,
    w: &Workload,
    out: &mut String,
) -> Result<Principal<'static>> {
    let issuers = render::issuers(loaded).map_err(|e| anyhow!("{}: {e}", loaded.path.display()))?;
    let iss = w.claims.get("iss").and_then(|v| v.as_str());
    let cfg = match (&w.issuer, iss) {
        (Some(name), _) => issuers.by_name(name).ok_or_else(|| {
            anyhow!(
                "--issuer {name:?}: no [[issuers]] entry with that name in {}",
                loaded.path.display()
            )
        })?,
        (None, Some(iss)) => issuers.by_iss(iss).ok_or_else(|| {
            anyhow!(
                "the token's iss {iss:?} is none of the [[issuers]] in {}: the worker would refuse it (unknown issuer)",
                loaded.path.display()
            )
        })?,
        (None, None) => bail!("the claims have no iss: pass --issuer NAME"),
    };
    if w.unverified_token {
        writeln!(
            out,
            "identity token decoded WITHOUT verification (signature, audience and times unchecked)"
        )?;
    }
    writeln!(out, "workload of issuer {} ({})", cfg.name, cfg.issuer)?;
    if iss.is_some_and(|i| i != cfg.issuer) {
        writeln!(
            out,
            "  WARNING: the claims' iss is not this issuer's URL: the worker would refuse the token"
        )?;
    }
    let claims = flatten(w.claims.clone()).map_err(|e| anyhow!("claims: {e}"))?;
    let subject = render_subject(&cfg.subject_template(), &claims);
    match &subject {
        Ok(s) => writeln!(out, "subject {s}")?,
        Err(e) => writeln!(out, "  REFUSED by the worker: {e}")?,
    }
    let shown: Vec<String> = claims
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "exp" | "iat" | "nbf" | "jti"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    writeln!(out, "claims: {}", list(&shown))?;
    let subject = subject.unwrap_or_default();
    Ok(Principal::workload(&cfg.name, &subject, &claims).into_owned())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

pub(crate) fn explain(loaded: &Loaded, req: &Request) -> Result<String> {
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
    let principal = match (req.account, &req.workload) {
        (None, Some(w)) => workload_principal(loaded, w, &mut out)?,
        (None, None) => {
            writeln!(out, "anonymous request")?;
            Principal::anonymous()
        }
        (Some(name), _) => {
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
            Principal::user(name, &record.groups, &record.labels).into_owned()
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
