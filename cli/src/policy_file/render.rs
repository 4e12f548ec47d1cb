//! Turns a policy file into the KV records the worker reads (ARCHITECTURE.md, "KV records"): one
//! `user:<account>` per user, one `apikey:<digest>` per API key and the ordered `acl` array.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use serde::Serialize;
use tollgate_core::credentials::{ApiKeyRecord, UserRecord};
use tollgate_core::federation::{Issuers, IssuersError};
use tollgate_core::policy::{Acl, Match as CoreMatch, Rule as CoreRule};

use super::{Loaded, Match, Rule};

/// One entry of `wrangler kv bulk put`'s JSON array. `value` is the record's JSON as a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct KvEntry {
    pub key: String,
    pub value: String,
}

fn core_match(m: &Match) -> CoreMatch {
    let s = |v: &Option<toml::Spanned<String>>| v.as_ref().map(|v| v.get_ref().clone());
    // `labels` and `claims`: a table of strings, absent meaning empty.
    let map = |m: &Option<BTreeMap<String, toml::Spanned<String>>>| {
        m.iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
            .collect()
    };
    CoreMatch {
        account: s(&m.account),
        group: s(&m.group),
        anonymous: m.anonymous.as_ref().map(|v| *v.get_ref()),
        service: s(&m.service),
        resource_type: s(&m.resource_type),
        name: s(&m.name),
        labels: map(&m.labels),
        issuer: s(&m.issuer),
        claims: map(&m.claims),
    }
}

/// The file's issuers as the core validates them (the worker's own parser).
pub(crate) fn issuers(loaded: &Loaded) -> Result<Issuers, IssuersError> {
    Issuers::from_list(
        loaded
            .policy
            .issuers
            .iter()
            .map(|i| i.get_ref().clone())
            .collect(),
    )
}

/// The file's rule as the core (and so the worker) sees it.
pub(crate) fn core_rule(rule: &Rule) -> CoreRule {
    CoreRule {
        matcher: rule
            .matches
            .as_ref()
            .map(|m| core_match(m.get_ref()))
            .unwrap_or_default(),
        actions: rule
            .actions
            .get_ref()
            .iter()
            .map(|a| a.get_ref().clone())
            .collect(),
        comment: rule.comment.clone(),
    }
}

/// The file's rules as the core's ACL; errors carry the core's message (rule index is 0-based).
pub(crate) fn acl(loaded: &Loaded) -> Result<Acl, tollgate_core::policy::PolicyError> {
    Acl::from_rules(
        loaded
            .policy
            .rules
            .iter()
            .map(|r| core_rule(r.get_ref()))
            .collect(),
    )
}

/// The `acl` record's JSON: the rules array in file order.
pub(crate) fn acl_json(loaded: &Loaded) -> Result<String> {
    let rules: Vec<CoreRule> = loaded
        .policy
        .rules
        .iter()
        .map(|r| core_rule(r.get_ref()))
        .collect();
    serde_json::to_string(&rules).map_err(|e| anyhow!("encoding the acl record: {e}"))
}

/// The `user:` record of one user, built with the core's type so the worker can read it.
pub(crate) fn user_record(user: &super::User) -> UserRecord {
    UserRecord {
        password: user.password.as_ref().map(|p| p.get_ref().clone()),
        disabled: user.disabled,
        groups: user.groups.iter().map(|g| g.get_ref().clone()).collect(),
        labels: user
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|x| x.get_ref().clone()).collect()))
            .collect(),
        refresh_revoked_before: user.refresh_revoked_before,
    }
}

/// Every KV record of the file: users (by name), then API keys, then `acl`, then `issuers` when
/// the file trusts any issuer.
pub(crate) fn entries(loaded: &Loaded) -> Result<Vec<KvEntry>> {
    let mut out = Vec::new();
    let mut keys = Vec::new();
    for (name, user) in &loaded.policy.users {
        let user = user.get_ref();
        out.push(KvEntry {
            key: format!("user:{name}"),
            value: user_record(user).to_json(),
        });
        for key in &user.apikeys {
            let key = key.get_ref();
            let record = ApiKeyRecord {
                account: name.clone(),
                name: key.name.get_ref().clone(),
                created: key.created,
                expires: key.expires.as_ref().map(|e| *e.get_ref()),
                net: key.binding().map_err(|(_, e)| {
                    anyhow::anyhow!("users.{name}.apikeys {:?}: {e}", key.name.get_ref())
                })?,
            };
            keys.push(KvEntry {
                key: format!("apikey:{}", key.digest.get_ref()),
                value: record.to_json(),
            });
        }
    }
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    out.extend(keys);
    out.push(KvEntry {
        key: "acl".to_owned(),
        value: acl_json(loaded)?,
    });
    if !loaded.policy.issuers.is_empty() {
        let list = issuers(loaded).map_err(|e| anyhow!("{e}"))?;
        out.push(KvEntry {
            key: "issuers".to_owned(),
            value: serde_json::to_string(list.list())
                .map_err(|e| anyhow!("encoding the issuers record: {e}"))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn renders_records_in_a_stable_order() {
        let text = r#"
[users.zed]
password = "$2y$10$abcdefghijklmnopqrstuuJv5Bd0cLQ1q2C8yXhGvYQy3Z4Z5a6b7"
groups = ["dev"]
labels = { team = ["a"] }

[users.bot]
apikeys = [{ name = "ci", digest = "00ff", created = 10, expires = 20 }]

[[rules]]
comment = "mine"
match = { name = "${account}/*", anonymous = false }
actions = ["pull", "push"]
"#;
        let loaded = Loaded::parse(Path::new("p.toml"), text.to_owned()).unwrap();
        let e = entries(&loaded).unwrap();
        let keys: Vec<&str> = e.iter().map(|x| x.key.as_str()).collect();
        assert_eq!(keys, ["user:bot", "user:zed", "apikey:00ff", "acl"]);
        assert_eq!(e[0].value, r#"{"disabled":false,"groups":[],"labels":{}}"#);
        assert!(e[1].value.starts_with(r#"{"password":"$2y$10$"#));
        assert!(e[1]
            .value
            .ends_with(r#","disabled":false,"groups":["dev"],"labels":{"team":["a"]}}"#));
        assert_eq!(
            e[2].value,
            r#"{"account":"bot","name":"ci","created":10,"expires":20}"#
        );
        // The records read back with the core's strict parsers, as the worker reads them.
        tollgate_core::credentials::UserRecord::from_json(&e[1].value).unwrap();
        tollgate_core::credentials::ApiKeyRecord::from_json(&e[2].value).unwrap();
        tollgate_core::policy::Acl::from_json(&e[3].value).unwrap();
        assert_eq!(
            e[3].value,
            r#"[{"match":{"anonymous":false,"name":"${account}/*"},"actions":["pull","push"],"comment":"mine"}]"#
        );
    }
}
