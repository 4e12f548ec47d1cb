//! Who is asking, as the ACL sees it.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// Borrowed from the credential check's answer on the token path (the ACL reads who is asking,
/// it does not keep it), owned where a principal is made up (the CLI's `explain`, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal<'a> {
    /// No credentials. Matches only rules without account/group/labels conditions.
    Anonymous,
    /// A user of the `user:` records (password, API key or refresh token).
    Account {
        name: Cow<'a, str>,
        groups: Cow<'a, [String]>,
        labels: Cow<'a, BTreeMap<String, Vec<String>>>,
    },
    /// A federated workload (OIDC identity token). Account/group/label rules never match it.
    Workload {
        issuer: Cow<'a, str>,
        subject: Cow<'a, str>,
        claims: Cow<'a, BTreeMap<String, String>>,
    },
}

impl<'a> Principal<'a> {
    pub fn anonymous() -> Self {
        Principal::Anonymous
    }

    pub fn user(
        name: &'a str,
        groups: &'a [String],
        labels: &'a BTreeMap<String, Vec<String>>,
    ) -> Self {
        Principal::Account {
            name: Cow::Borrowed(name),
            groups: Cow::Borrowed(groups),
            labels: Cow::Borrowed(labels),
        }
    }

    pub fn workload(
        issuer: &'a str,
        subject: &'a str,
        claims: &'a BTreeMap<String, String>,
    ) -> Self {
        Principal::Workload {
            issuer: Cow::Borrowed(issuer),
            subject: Cow::Borrowed(subject),
            claims: Cow::Borrowed(claims),
        }
    }

    /// A principal that borrows nothing, for one kept beyond what it was read from.
    pub fn into_owned(self) -> Principal<'static> {
        match self {
            Principal::Anonymous => Principal::Anonymous,
            Principal::Account {
                name,
                groups,
                labels,
            } => Principal::Account {
                name: Cow::Owned(name.into_owned()),
                groups: Cow::Owned(groups.into_owned()),
                labels: Cow::Owned(labels.into_owned()),
            },
            Principal::Workload {
                issuer,
                subject,
                claims,
            } => Principal::Workload {
                issuer: Cow::Owned(issuer.into_owned()),
                subject: Cow::Owned(subject.into_owned()),
                claims: Cow::Owned(claims.into_owned()),
            },
        }
    }

    pub(crate) fn is_anonymous(&self) -> bool {
        matches!(self, Principal::Anonymous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_borrowed_until_it_is_made_owned() {
        let (groups, labels) = (vec!["dev".to_string()], BTreeMap::new());
        let p = Principal::user("alice", &groups, &labels);
        assert!(matches!(
            &p,
            Principal::Account {
                name: Cow::Borrowed(_),
                groups: Cow::Borrowed(_),
                labels: Cow::Borrowed(_),
            }
        ));
        let owned = p.clone().into_owned();
        assert!(matches!(
            &owned,
            Principal::Account {
                name: Cow::Owned(_),
                groups: Cow::Owned(_),
                labels: Cow::Owned(_),
            }
        ));
        assert_eq!(owned, p);
    }
}
