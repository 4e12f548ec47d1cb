//! Who is asking, as the ACL sees it.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials. Matches only rules without account/group/labels conditions.
    Anonymous,
    /// A user of the `user:` records (password, API key or refresh token).
    Account {
        name: String,
        groups: Vec<String>,
        labels: BTreeMap<String, Vec<String>>,
    },
    /// A federated workload (OIDC identity token). Account/group/label rules never match it.
    Workload {
        issuer: String,
        subject: String,
        claims: BTreeMap<String, String>,
    },
}

impl Principal {
    pub fn anonymous() -> Self {
        Principal::Anonymous
    }

    pub fn user(name: &str, groups: &[String], labels: &BTreeMap<String, Vec<String>>) -> Self {
        Principal::Account {
            name: name.to_string(),
            groups: groups.to_vec(),
            labels: labels.clone(),
        }
    }

    pub(crate) fn is_anonymous(&self) -> bool {
        matches!(self, Principal::Anonymous)
    }
}
