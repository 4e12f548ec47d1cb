//! An identity token's claims once its signature checked out: the registered claims (iss, aud,
//! exp, nbf, iat, lifetime) against the issuer's configuration, then flattening for the ACL and
//! the subject template.

use super::issuers::IssuerConfig;
use crate::limits::{MAX_ACCOUNT_LEN, MAX_CLAIMS, MAX_CLAIM_VALUE_LEN};
use crate::time_claims::{TimeClaims, TimeError};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Nesting followed when flattening (`kubernetes.io.serviceaccount.name` is depth 3).
const MAX_DEPTH: usize = 6;
/// Bytes in a flattened claim name.
pub(crate) const MAX_CLAIM_NAME_LEN: usize = 128;

/// Claim names usable in templates and rules: letters, digits, `_`, `-`, `:`, and `.` between parts.
pub fn valid_claim_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CLAIM_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
}

/// Splits `text` into literal runs and `${...}` placeholder bodies, refusing unclosed ones.
pub(crate) fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unclosed placeholder".to_string())?;
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// A subject template may only use `${claims.NAME}`.
pub(crate) fn validate_template(t: &str) -> Result<(), String> {
    for ph in placeholders(t)? {
        let ok = ph.strip_prefix("claims.").is_some_and(valid_claim_name);
        if !ok {
            return Err(format!(
                "unknown placeholder ${{{}}}: use ${{claims.NAME}} with a flattened claim name",
                ph.chars().take(64).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// Renders a subject template. A missing claim is an error naming it (the workload would
/// otherwise get a subject shared with others).
pub fn render_subject(template: &str, claims: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or("unclosed placeholder")?;
        let name = after[..end]
            .strip_prefix("claims.")
            .unwrap_or(&after[..end]);
        let v = claims
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the identity token has no '{name}' claim, which the issuer's subject template needs"))?;
        out.push_str(v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if out.is_empty() || out.len() > MAX_ACCOUNT_LEN || out.chars().any(char::is_control) {
        return Err(format!(
            "the rendered subject must be 1-{MAX_ACCOUNT_LEN} bytes without control characters"
        ));
    }
    Ok(out)
}

/// Flattens claims with dots: strings as they are, numbers and booleans as their JSON text.
/// Arrays and nulls are dropped (a glob cannot say "any of" safely), as are values longer than
/// `MAX_CLAIM_VALUE_LEN`. More than `MAX_CLAIMS` leaves is an error. Takes the claims by value:
/// their strings move into the flattened map rather than being copied (every identity token pays
/// this).
pub fn flatten(claims: Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
    fn walk(
        prefix: &str,
        obj: Map<String, Value>,
        depth: usize,
        out: &mut BTreeMap<String, String>,
        dropped: &mut BTreeSet<String>,
        leaves: &mut usize,
    ) -> Result<(), String> {
        for (k, v) in obj {
            let name = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            let text = match v {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Object(o) if depth < MAX_DEPTH => {
                    walk(&name, o, depth + 1, out, dropped, leaves)?;
                    None
                }
                _ => None,
            };
            if let Some(t) = text {
                *leaves += 1;
                if *leaves > MAX_CLAIMS {
                    return Err(format!(
                        "the identity token has more than {MAX_CLAIMS} claims"
                    ));
                }
                if !valid_claim_name(&name) {
                    continue;
                }
                // `{"a":{"b":x}}` and `{"a.b":y}` flatten to the same name: whichever came last
                // would decide what rules see, so the token is refused as ambiguous. The names of
                // values dropped for their length are kept too, so a dropped long value cannot
                // hide the other one.
                if out.contains_key(&name) || dropped.contains(&name) {
                    return Err(format!(
                        "the identity token carries claim '{name}' twice (nested and as a dotted name): refused as ambiguous"
                    ));
                }
                if t.len() <= MAX_CLAIM_VALUE_LEN {
                    out.insert(name, t);
                } else {
                    dropped.insert(name);
                }
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    let mut leaves = 0;
    walk("", claims, 0, &mut out, &mut BTreeSet::new(), &mut leaves)?;
    Ok(out)
}

/// Which registered-claim check failed. Display messages name the check and never hold the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    Malformed(String),
    Issuer { got: String, want: String },
    Audience { got: Vec<String>, issuer: String },
    Expired { exp: u64, now: u64 },
    NotYetValid { nbf: u64, now: u64 },
    IssuedInFuture { iat: u64, now: u64 },
    TooLongLived { lifetime: u64, max: u64 },
    Subject(String),
}

fn shown(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(128).collect()
}

impl std::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "the identity token is malformed: {why}"),
            Self::Issuer { got, want } => write!(
                f,
                "the identity token's issuer (iss) '{}' is not the selected issuer '{want}'",
                shown(got)
            ),
            Self::Audience { got, issuer } => write!(
                f,
                "the identity token's audience [{}] is not accepted by issuer '{issuer}': request a token for one of its configured audiences",
                got.iter().map(|a| shown(a)).collect::<Vec<_>>().join(", ")
            ),
            Self::Expired { exp, now } => write!(
                f,
                "the identity token expired {}s ago (exp): request a fresh one",
                now.saturating_sub(*exp)
            ),
            Self::NotYetValid { nbf, now } => write!(
                f,
                "the identity token is not yet valid (nbf is {}s in the future): check the clocks",
                nbf.saturating_sub(*now)
            ),
            Self::IssuedInFuture { iat, now } => write!(
                f,
                "the identity token was issued in the future (iat is {}s ahead): check the clocks",
                iat.saturating_sub(*now)
            ),
            Self::TooLongLived { lifetime, max } => write!(
                f,
                "the identity token is too long-lived: its lifetime (exp - iat) is {lifetime}s, at most {max}s is accepted"
            ),
            Self::Subject(why) => write!(f, "no subject could be named: {why}"),
        }
    }
}

/// A verified workload identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The trusted issuer's name.
    pub issuer: String,
    /// The rendered subject (the issued token's `sub`).
    pub subject: String,
    /// Flattened claims.
    pub claims: BTreeMap<String, String>,
    /// The identity token's `jti`, for the audit line.
    pub jti: Option<String>,
}

fn time_claim(m: &Map<String, Value>, name: &str) -> Result<Option<u64>, ClaimError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.is_finite())
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| ClaimError::Malformed(format!("'{name}' is not a time"))),
        Some(_) => Err(ClaimError::Malformed(format!("'{name}' is not a number"))),
    }
}

/// Checks the registered claims of a signature-verified payload against `cfg` at `now`, then
/// flattens the claims and renders the subject.
pub fn check_claims(cfg: &IssuerConfig, payload: &[u8], now: u64) -> Result<Identity, ClaimError> {
    let v: Value = crate::json_object::value(payload)
        .map_err(|_| ClaimError::Malformed("the claims are not JSON".into()))?;
    let Value::Object(m) = v else {
        return Err(ClaimError::Malformed(
            "the claims are not a JSON object".into(),
        ));
    };
    let iss = m.get("iss").and_then(Value::as_str).unwrap_or_default();
    if iss != cfg.issuer {
        return Err(ClaimError::Issuer {
            got: iss.to_string(),
            want: cfg.issuer.clone(),
        });
    }
    let auds: Vec<String> = match m.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .take(16)
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    if !auds.iter().any(|a| cfg.audiences.contains(a)) {
        return Err(ClaimError::Audience {
            got: auds,
            issuer: cfg.name.clone(),
        });
    }
    let exp = time_claim(&m, "exp")?
        .ok_or_else(|| ClaimError::Malformed("it has no 'exp' (expiry) claim".into()))?;
    let iat = time_claim(&m, "iat")?
        .ok_or_else(|| ClaimError::Malformed("it has no 'iat' (issued at) claim".into()))?;
    let nbf = time_claim(&m, "nbf")?;
    let times = TimeClaims {
        exp,
        nbf,
        iat: Some(iat),
    };
    times.check_now(now).map_err(|e| match e {
        TimeError::Expired { exp, now } => ClaimError::Expired { exp, now },
        TimeError::NotYetValid { nbf, now } => ClaimError::NotYetValid { nbf, now },
        TimeError::IssuedInFuture { iat, now } => ClaimError::IssuedInFuture { iat, now },
    })?;
    let lifetime = exp.saturating_sub(iat);
    if lifetime > cfg.max_lifetime() {
        return Err(ClaimError::TooLongLived {
            lifetime,
            max: cfg.max_lifetime(),
        });
    }
    let jti = m
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| j.len() <= 128 && !j.chars().any(char::is_control))
        .map(String::from);
    let claims = flatten(m).map_err(ClaimError::Malformed)?;
    let subject = render_subject(&cfg.subject_template(), &claims).map_err(ClaimError::Subject)?;
    Ok(Identity {
        issuer: cfg.name.clone(),
        subject,
        claims,
        jti,
    })
}

#[cfg(test)]
mod tests;
