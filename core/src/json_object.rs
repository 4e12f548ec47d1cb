//! Structs read only from JSON objects.
//!
//! serde's derive also reads a struct from a JSON array, by field position: `[]` would be a user
//! with no password and no groups, `[[[], ["*"]]]` an ACL rule matching everyone with actions
//! `["*"]`. A stored record or rule must be an object, as the operator wrote and reviewed it.
//! [`Object`] reads `T` through `deserialize_map`, so the deserializer itself refuses an array (or
//! any other non-object), and `T`'s by-position reader is never compiled into the worker: a new
//! isolate's first request compiles every function it calls, whole (bench/README.md, "What a
//! first request compiles"), and it no longer needs a second parse of the text to check shapes.
//!
//! [`from_slice`] and [`list_from_slice`] are the core's one way to read a struct from JSON text,
//! wherever the text came from (KV records, settings, a token's claims, another service's
//! document): `core/clippy.toml` refuses serde_json's own readers (`from_slice`, `from_str`,
//! `from_value`, `from_reader`) elsewhere in the core, so a new reader cannot take the
//! by-position path by accident. [`value`] reads any JSON
//! into a `serde_json::Value` for readers that inspect its shape themselves.

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// A `T` that was a JSON object.
pub(crate) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        // The struct's own derive reads the object's fields (defaults, unknown fields, duplicate
        // fields, types), exactly as it would have directly.
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// A `T` from JSON text that must be an object.
#[allow(clippy::disallowed_methods)] // the one place that calls it, through `Object`
pub(crate) fn from_slice<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> serde_json::Result<T> {
    serde_json::from_slice::<Object<T>>(bytes).map(|Object(v)| v)
}

/// A JSON array of `T`s that must each be an object.
#[allow(clippy::disallowed_methods)] // as above
pub(crate) fn list_from_slice<'de, T: Deserialize<'de>>(
    bytes: &'de [u8],
) -> serde_json::Result<Vec<T>> {
    serde_json::from_slice::<Vec<Object<T>>>(bytes)
        .map(|l| l.into_iter().map(|Object(v)| v).collect())
}

/// Any JSON value; its reader checks the shape it needs.
#[allow(clippy::disallowed_methods)] // a `Value` is never read by field position
pub(crate) fn value(bytes: &[u8]) -> serde_json::Result<serde_json::Value> {
    serde_json::from_slice(bytes)
}

/// `#[serde(deserialize_with = "crate::json_object::object")]` for a struct field.
pub(crate) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    Object::deserialize(deserializer).map(|o| o.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        a: Option<String>,
        #[serde(default)]
        n: u64,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default, deserialize_with = "object")]
        inner: Inner,
        b: bool,
    }

    fn read(text: &str) -> Result<Outer, serde_json::Error> {
        from_slice(text.as_bytes())
    }

    #[test]
    fn objects_read_as_the_derive_reads_them() {
        let o = read(r#"{"b": true, "inner": {"a": "x", "n": 3}}"#).unwrap();
        assert_eq!(
            o.inner,
            Inner {
                a: Some("x".into()),
                n: 3
            }
        );
        assert_eq!(read(r#"{"b": false}"#).unwrap().inner, Inner::default());
        for bad in [
            r#"{"b": true, "c": 1}"#,
            r#"{"b": true, "b": true}"#,
            r#"{}"#,
            r#"{"b": 1}"#,
            r#"{"b": true, "inner": {"z": 1}}"#,
            r#"{"b": true, "inner": {"n": -1}}"#,
            r#"{"b": true} x"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arrays_and_other_values_are_refused_where_an_object_belongs() {
        for bad in [
            "[true]",
            "[]",
            r#"{"b": true, "inner": ["x", 3]}"#,
            r#"{"b": true, "inner": []}"#,
            r#"{"b": true, "inner": null}"#,
            r#"{"b": true, "inner": "x"}"#,
            "null",
            "1",
        ] {
            let e = read(bad).unwrap_err();
            assert!(
                e.to_string().contains("expected a JSON object"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn lists_hold_objects_only() {
        let l: Vec<Outer> = list_from_slice(br#"[{"b": true}, {"b": false}]"#).unwrap();
        assert_eq!(l.len(), 2);
        assert!(list_from_slice::<Outer>(b"[]").unwrap().is_empty());
        for bad in [r#"[{"b": true}, [true]]"#, r#"[[true]]"#, r#"{"b": true}"#] {
            assert!(list_from_slice::<Outer>(bad.as_bytes()).is_err(), "{bad}");
        }
        // A `Value` takes any shape; its reader checks.
        assert!(value(b"[1]").unwrap().is_array());
    }

    #[test]
    fn errors_keep_their_position() {
        let e = read("{\n\"b\": true,\n\"inner\": {\"zz\": 1}}").unwrap_err();
        assert_eq!(e.line(), 3, "{e}");
        assert!(e.to_string().contains("unknown field `zz`"), "{e}");
    }
}
