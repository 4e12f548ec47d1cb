//! JSON objects read into maps that refuse a key given twice.
//!
//! serde_json keeps the last of two equal keys in a map, silently. A stored record that two
//! readers could read two ways (`{"team":["blue"],"team":["admins"]}`: a reviewer or another tool
//! may see the first value, Tollgate the last) is malformed instead, and the caller fails closed.
//! Struct fields need nothing: serde's derive already refuses a duplicate field.

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// `#[serde(deserialize_with = "crate::unique_keys::map")]` for a `BTreeMap<String, V>` field.
pub(crate) fn map<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    deserializer.deserialize_map(UniqueMap(PhantomData))
}

struct UniqueMap<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueMap<V> {
    type Value = BTreeMap<String, V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object whose keys are all different")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((key, value)) = access.next_entry::<String, V>()? {
            if out.contains_key(&key) {
                return Err(A::Error::custom(cold::duplicate(&key)));
            }
            insert(&mut out, key, value);
        }
        Ok(out)
    }
}

/// The map's insert, out of line: inlined, it would be compiled with every reader of a record
/// that may have such a map (a user's `labels`), and a new isolate's first request compiles it
/// only when the record it reads has an entry (bench/README.md, "What a first request compiles").
#[inline(never)]
fn insert<V>(map: &mut BTreeMap<String, V>, key: String, value: V) {
    map.insert(key, value);
}

/// Out of line, in a module named `cold` (which wasm-opt keeps out of line, scripts/build.sh): a
/// new isolate's first request reads well-formed records and need not compile the refusal.
mod cold {
    #[cold]
    #[inline(never)]
    pub(super) fn duplicate(key: &str) -> String {
        // Keys are label names an operator chose, not secrets; bounded to keep logs short.
        let shown: String = key.chars().take(64).filter(|c| !c.is_control()).collect();
        format!("duplicate key '{shown}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "map")]
        labels: BTreeMap<String, Vec<String>>,
    }

    #[test]
    fn distinct_keys_are_read() {
        let h: Holder = serde_json::from_str(r#"{"labels":{"a":["1"],"b":[]}}"#).unwrap();
        assert_eq!(h.labels.len(), 2);
        let h: Holder = serde_json::from_str("{}").unwrap();
        assert!(h.labels.is_empty());
    }

    #[test]
    fn a_repeated_key_is_an_error_not_last_wins() {
        let e = serde_json::from_str::<Holder>(r#"{"labels":{"team":["blue"],"team":["admins"]}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("duplicate key 'team'"), "{e}");
    }

    #[test]
    fn not_an_object_is_still_an_error() {
        assert!(serde_json::from_str::<Holder>(r#"{"labels":["team"]}"#).is_err());
    }
}
