//! The buffer serde_json writes Tollgate's JSON into: a token's claims, the response body, the
//! audit line, and every record and log line.
//!
//! serde_json writes its output as many short pieces (a `,`, a `"`, a key, a `:`), each through
//! `io::Write::write_all`, which for a `Vec<u8>` is `extend_from_slice`. Built for wasm32, whose
//! Rust target enables bulk memory, at opt-level "z", that is a `memory.copy` whose length the
//! code does not know, and V8 runs every such `memory.copy` as a call out of the wasm code into
//! C++ (`wasm::memory_copy_wrapper`): a warm token made ~378 of them against the protocol floor's
//! 106, at ~40 instructions in the wrapper alone, mostly to copy one to a few bytes
//! (bench/README.md, "Steady state in instructions"). [`JsonBytes`] pushes a short piece a byte
//! at a time, which stays in wasm, and copies longer ones (the JWT, the key's x5c) as before.

use std::io;

/// Pieces up to this many bytes are pushed a byte at a time; longer ones are one copy. Chosen,
/// not tuned: about where a byte loop (a few instructions a byte) costs what the call out of
/// wasm does (~40 in the wrapper, more around it).
const SHORT: usize = 16;

/// A `Vec<u8>` as serde_json's writer; [`JsonBytes::into_inner`] gives it back.
struct JsonBytes(Vec<u8>);

impl JsonBytes {
    /// An empty buffer with room for `capacity` bytes.
    fn with_capacity(capacity: usize) -> Self {
        JsonBytes(Vec::with_capacity(capacity))
    }

    fn into_inner(self) -> Vec<u8> {
        self.0
    }

    fn put(&mut self, piece: &[u8]) {
        if piece.len() <= SHORT {
            for &b in piece {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(piece);
        }
    }
}

impl io::Write for JsonBytes {
    fn write(&mut self, piece: &[u8]) -> io::Result<usize> {
        self.put(piece);
        Ok(piece.len())
    }

    fn write_all(&mut self, piece: &[u8]) -> io::Result<()> {
        self.put(piece);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `value` as JSON, into a buffer that starts with room for `capacity` bytes.
pub fn to_vec<T: serde::Serialize + ?Sized>(
    value: &T,
    capacity: usize,
) -> serde_json::Result<Vec<u8>> {
    let mut out = JsonBytes::with_capacity(capacity);
    serde_json::to_writer(&mut out, value)?;
    Ok(out.into_inner())
}

/// A JSON object written a field at a time: each key, a constant, as it is, each value through
/// serde_json.
///
/// For the objects written on every token (the audit line) where `#[derive(Serialize)]` would
/// run each constant key through serde_json's string escaper: ~670 instructions a call in a warm
/// token's profile, the most of any serde function, for keys that never need escaping
/// (bench/README.md, "Why own work costs more time than its instructions"). Keys are ASCII letters, digits and `_`
/// (`debug_assert`ed; a caller's test compares its object with the derived serializer's).
pub(crate) struct ObjectWriter {
    out: JsonBytes,
    empty: bool,
}

impl ObjectWriter {
    /// An object opened in a buffer with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut out = JsonBytes::with_capacity(capacity);
        out.put(b"{");
        ObjectWriter { out, empty: true }
    }

    /// Writes `"key":value`.
    pub(crate) fn field<T: serde::Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        self.out.put(if self.empty { b"\"" } else { b",\"" });
        self.empty = false;
        self.out.put(key.as_bytes());
        self.out.put(b"\":");
        serde_json::to_writer(&mut self.out, value)
    }

    /// Writes `"key":value` for `Some(value)`, nothing for `None` (serde's `skip_serializing_if =
    /// "Option::is_none"`).
    pub(crate) fn field_if_some<T: serde::Serialize>(
        &mut self,
        key: &'static str,
        value: &Option<T>,
    ) -> serde_json::Result<()> {
        match value {
            Some(v) => self.field(key, v),
            None => Ok(()),
        }
    }

    /// Closes the object: its JSON as a string.
    pub(crate) fn finish(mut self) -> serde_json::Result<String> {
        self.out.put(b"}");
        utf8(self.out.into_inner())
    }
}

/// serde_json writes UTF-8 (its own `to_string` relies on it); checked rather than assumed.
fn utf8(json: Vec<u8>) -> serde_json::Result<String> {
    String::from_utf8(json)
        .map_err(|_| <serde_json::Error as serde::ser::Error>::custom("the JSON was not UTF-8"))
}

/// `value` as a JSON string. Everything in the worker that writes JSON goes through this module,
/// so serde_json's serializer is compiled for one writer type: with the token path alone on it
/// and the rest on `Vec<u8>`, the worker was 1,296 bytes larger gzipped.
pub fn to_string<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    utf8(to_vec(value, 128)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_what_serde_json_writes() {
        // Pieces on both sides of SHORT: one-byte punctuation, short keys and values, a long
        // string value, and one of exactly SHORT bytes.
        let long = "x".repeat(1000);
        let value = json!({
            "a": 1, "short": "b", "exactly16bytes!!": "0123456789abcdef", "long": long,
            "nested": [true, null, {"k": "\"quoted\"\n"}], "n": -1.5
        });
        let ours = to_vec(&value, 0).unwrap();
        assert_eq!(ours, serde_json::to_vec(&value).unwrap());
        assert_eq!(String::from_utf8(ours).unwrap(), value.to_string());
    }

    #[test]
    fn an_object_written_by_field_is_what_serde_json_writes() {
        let mut o = ObjectWriter::with_capacity(0);
        o.field("a", &1).unwrap();
        o.field("quoted", "\"x\"\n").unwrap();
        o.field("none", &None::<String>).unwrap();
        o.field_if_some("skipped", &None::<String>).unwrap();
        o.field_if_some("kept", &Some(2)).unwrap();
        o.field("list", &["p", "q"]).unwrap();
        // In the order written (json! would sort the keys).
        let expected = r#"{"a":1,"quoted":"\"x\"\n","none":null,"kept":2,"list":["p","q"]}"#;
        assert_eq!(o.finish().unwrap(), expected);
        assert_eq!(ObjectWriter::with_capacity(0).finish().unwrap(), "{}");
    }

    #[test]
    fn keeps_the_capacity_it_was_given() {
        let out = JsonBytes::with_capacity(512).into_inner();
        assert!(out.is_empty() && out.capacity() >= 512);
    }
}
