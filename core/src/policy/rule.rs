//! One ACL rule as stored in the KV `acl` record (a JSON array, first match wins).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `{"match": {...}, "actions": [...], "comment": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A JSON object (crate::json_object), never an array read by field position.
    #[serde(
        rename = "match",
        default,
        deserialize_with = "crate::json_object::object"
    )]
    pub matcher: Match,
    /// What the rule grants; `["*"]` everything asked, `[]` an explicit deny.
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Conditions, all of which must hold; an absent one does not constrain. Values are globs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `true`: only anonymous requests; `false`: only authenticated ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// May use `${account}`, `${service}`, `${type}`, `${labels:KEY}` and (workloads)
    /// `${claims.NAME}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Label name -> glob over the account's values of that label.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique_keys::map"
    )]
    pub labels: BTreeMap<String, String>,
    /// Glob over the name of the trusted issuer a workload authenticated through. Rules with
    /// `issuer` or `claims` match only workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Flattened claim name (`repository`, `kubernetes.io.namespace`) -> glob over its value.
    /// A claim named twice is malformed, as a label is: with serde's default the last would win,
    /// and `{"repository":"org/app","repository":"*"}` would match every repository.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique_keys::map"
    )]
    pub claims: BTreeMap<String, String>,
}

/// Where the next `${` placeholder of a name pattern starts. Byte pairs rather than
/// `str::find("${")`: a string pattern compiles core's two-way searcher (~1.9 KB of wasm) into a
/// new isolate's first token request, which validates and evaluates name patterns, for patterns
/// of a few dozen bytes (bench/README.md, "What a first request compiles").
pub(super) fn next_placeholder(pattern: &str) -> Option<usize> {
    pattern.as_bytes().windows(2).position(|w| w == b"${")
}

#[cfg(test)]
mod tests {
    use super::next_placeholder;

    #[test]
    fn finds_placeholders_as_str_find_does() {
        for s in [
            "", "$", "{", "${", "a${b}", "$a${", "$$${x}", "é${", "${a}${b}", "}{$", "a/b",
        ] {
            assert_eq!(next_placeholder(s), s.find("${"), "{s:?}");
        }
    }
}
