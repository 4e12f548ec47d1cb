//! Turns a policy file into the KV records the worker reads (ARCHITECTURE.md, "KV records"): one
//! `user:<account>` per user, one `apikey:<digest>` per API key and the ordered `acl` array.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use serde::Serialize;

use super::{Loaded, Match, Rule};

/// One entry of `wrangler kv bulk put`'s JSON array. `value` is the record's JSON as a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KvEntry {
    pub key: String,
    pub value: String,
}

#[derive(Serialize)]
struct UserRecord<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    disabled: bool,
    groups: Vec<&'a str>,
    labels: BTreeMap<&'a str, Vec<&'a str>>,
}

#[derive(Serialize)]
struct ApiKeyRecord<'a> {
    account: &'a str,
    name: &'a str,
    created: u64,
    expires: Option<u64>,
}

#[derive(Serialize)]
struct RuleJson<'a> {
    #[serde(rename = "match")]
    matches: MatchJson<'a>,
    actions: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct MatchJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    anonymous: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    resource_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<BTreeMap<&'a str, &'a str>>,
}

fn match_json(m: &Match) -> MatchJson<'_> {
    MatchJson {
        account: m.account.as_ref().map(|v| v.get_ref().as_str()),
        group: m.group.as_ref().map(|v| v.get_ref().as_str()),
        anonymous: m.anonymous.as_ref().map(|v| *v.get_ref()),
        service: m.service.as_ref().map(|v| v.get_ref().as_str()),
        resource_type: m.resource_type.as_ref().map(|v| v.get_ref().as_str()),
        name: m.name.as_ref().map(|v| v.get_ref().as_str()),
        labels: m.labels.as_ref().map(|l| {
            l.iter()
                .map(|(k, v)| (k.as_str(), v.get_ref().as_str()))
                .collect()
        }),
    }
}

fn rule_json(rule: &Rule) -> RuleJson<'_> {
    RuleJson {
        matches: rule
            .matches
            .as_ref()
            .map(|m| match_json(m.get_ref()))
            .unwrap_or_default(),
        actions: rule
            .actions
            .get_ref()
            .iter()
            .map(|a| a.get_ref().as_str())
            .collect(),
        comment: rule.comment.as_deref(),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| anyhow!("encoding a KV record as JSON: {e}"))
}

/// The `acl` record's JSON: the rules array in file order.
pub fn acl_json(loaded: &Loaded) -> Result<String> {
    let rules: Vec<RuleJson> = loaded
        .policy
        .rules
        .iter()
        .map(|r| rule_json(r.get_ref()))
        .collect();
    to_json(&rules)
}

/// Every KV record of the file: users (by name), then API keys, then `acl`.
pub fn entries(loaded: &Loaded) -> Result<Vec<KvEntry>> {
    let mut out = Vec::new();
    let mut keys = Vec::new();
    for (name, user) in &loaded.policy.users {
        let user = user.get_ref();
        let record = UserRecord {
            password: user.password.as_ref().map(|p| p.get_ref().as_str()),
            disabled: user.disabled,
            groups: user.groups.iter().map(|g| g.get_ref().as_str()).collect(),
            labels: user
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.iter().map(|x| x.get_ref().as_str()).collect()))
                .collect(),
        };
        out.push(KvEntry {
            key: format!("user:{name}"),
            value: to_json(&record)?,
        });
        for key in &user.apikeys {
            let key = key.get_ref();
            let record = ApiKeyRecord {
                account: name,
                name: key.name.get_ref(),
                created: key.created,
                expires: key.expires.as_ref().map(|e| *e.get_ref()),
            };
            keys.push(KvEntry {
                key: format!("apikey:{}", key.digest.get_ref()),
                value: to_json(&record)?,
            });
        }
    }
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    out.extend(keys);
    out.push(KvEntry {
        key: "acl".to_owned(),
        value: acl_json(loaded)?,
    });
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
        assert_eq!(
            e[3].value,
            r#"[{"match":{"anonymous":false,"name":"${account}/*"},"actions":["pull","push"],"comment":"mine"}]"#
        );
    }
}
