//! Who signed in: the account (a configured claim with the provider's prefix), the IdP groups,
//! and the provider's allow-list.

use super::settings::{valid_account, Provider};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Groups kept from an ID token (they travel in the session cookie and credential records).
pub(crate) const MAX_GROUPS: usize = 64;
/// Bytes of one group name.
pub(crate) const MAX_GROUP_LEN: usize = 128;

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Person {
    /// Provider name.
    pub provider: String,
    pub account: String,
    pub groups: Vec<String>,
}

fn verified_email(c: &Map<String, Value>) -> Option<&str> {
    // Providers that send email_verified=false must not let an unverified address through an
    // allow-list or become an account; providers that never send it (Entra) are trusted as is.
    if c.get("email_verified") == Some(&Value::Bool(false)) {
        return None;
    }
    c.get("email").and_then(Value::as_str)
}

fn group_list(v: Option<&Value>) -> Result<Vec<String>, String> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::String(_)) => vec![s],
        Some(_) => return Err("the groups claim is neither a string nor a list".into()),
    };
    if items.len() > MAX_GROUPS {
        return Err(format!(
            "the ID token lists {} groups; at most {MAX_GROUPS} are accepted (ask for fewer, e.g. a groups filter at the provider)",
            items.len()
        ));
    }
    let mut out: Vec<String> = items
        .into_iter()
        .filter_map(Value::as_str)
        .filter(|g| !g.is_empty() && g.len() <= MAX_GROUP_LEN && !g.chars().any(char::is_control))
        .map(String::from)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

impl Person {
    /// Reads the person from a verified ID token's claims and applies the allow-list.
    pub(crate) fn from_claims(p: &Provider, claims: &Map<String, Value>) -> Result<Person, String> {
        let raw = if p.account_claim == "email" {
            verified_email(claims).ok_or("the ID token has no verified email")?
        } else {
            claims
                .get(&p.account_claim)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the ID token has no '{}' claim", p.account_claim))?
        };
        let account = format!("{}{}", p.prefix, raw);
        if !valid_account(&account) {
            return Err(format!(
                "the '{}' claim cannot be an account (1-128 printable characters without spaces or ':')",
                p.account_claim
            ));
        }
        let groups = match &p.groups_claim {
            Some(name) => group_list(claims.get(name))?,
            None => vec![],
        };
        let domain_ok = p.allow_domains.is_empty()
            || verified_email(claims)
                .and_then(|e| e.rsplit_once('@'))
                .is_some_and(|(_, d)| p.allow_domains.iter().any(|a| a.eq_ignore_ascii_case(d)));
        let group_ok =
            p.allow_groups.is_empty() || groups.iter().any(|g| p.allow_groups.contains(g));
        if !domain_ok || !group_ok {
            return Err(format!(
                "{account} is not allowed to sign in here (the provider '{}' admits only some email domains or groups)",
                p.name
            ));
        }
        Ok(Person {
            provider: p.name.clone(),
            account,
            groups,
        })
    }
}
