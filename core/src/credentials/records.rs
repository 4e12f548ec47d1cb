//! The KV records behind authentication (ARCHITECTURE.md, "KV records"). Parsing is strict
//! (`deny_unknown_fields`): a record Tollgate does not fully understand is an error, never a grant.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A stored record could not be parsed. Holds serde's message (field and position), never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// A JSON array or scalar where an object belongs.
    NotAnObject,
    /// serde's message with any echoed value cut off, and where it stopped.
    Json {
        message: String,
        line: usize,
        column: usize,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::NotAnObject => f.write_str("the record must be a JSON object"),
            RecordError::Json {
                message,
                line,
                column,
            } => write!(f, "{message} (line {line}, column {column})"),
        }
    }
}

impl std::error::Error for RecordError {}

fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, RecordError> {
    // serde's derive also reads a struct from a JSON array, by field position (`[]` would be a
    // user with no password and no groups, `["ci"]` an API key of ci): every record is an object.
    // Said plainly here; `json_object` refuses it too, and keeps the by-position reader out of the
    // worker (crate::json_object).
    // ASCII whitespace only: JSON allows no other before the object (serde_json refuses it
    // anyway), and `trim_start`'s Unicode table is more code for a first request to compile.
    if !text.trim_ascii_start().starts_with('{') {
        return Err(RecordError::NotAnObject);
    }
    // Bytes rather than str, here and in every JSON parse of the core: jwt-compact parses
    // slices, so the wasm then holds one serde_json reader instead of two (1.4 KB gzip). The
    // result and errors are the same: a &str is valid UTF-8.
    crate::json_object::from_slice(text.as_bytes()).map_err(cold::json_error)
}

/// A malformed record's error, out of line (in a module named `cold`, which wasm-opt keeps out
/// of line too, scripts/build.sh): built once for every record type, and a new isolate's first
/// request, which reads well-formed records, does not compile it.
mod cold {
    use super::RecordError;

    #[cold]
    #[inline(never)]
    pub(super) fn json_error(e: serde_json::Error) -> RecordError {
        // serde_json's message names the field and position; strip any quoted value it echoes.
        let msg = e.to_string();
        let cut = msg.find(" `").map_or(msg.as_str(), |i| &msg[..i]);
        RecordError::Json {
            message: cut.to_owned(),
            line: e.line(),
            column: e.column(),
        }
    }
}

fn to_json<T: Serialize>(v: &T) -> String {
    // Serializing plain structs of strings and integers cannot fail.
    crate::json_bytes::to_string(v).unwrap_or_default()
}

/// `from_json` / `to_json` for a record type: the one strict parse every record goes through.
macro_rules! json_record {
    ($t:ty) => {
        impl $t {
            pub fn from_json(text: &str) -> Result<Self, RecordError> {
                parse(text)
            }

            pub fn to_json(&self) -> String {
                to_json(self)
            }
        }
    };
}

/// Whether `account` can name a `user:` record: what the token service reads for a username or
/// a credential's hint (the CLI and sign-in make stricter names).
pub(crate) fn valid_account(account: &str) -> bool {
    !account.is_empty()
        && account.len() <= crate::limits::MAX_ACCOUNT_LEN
        && !account.chars().any(char::is_control)
}

/// `user:<account>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// bcrypt hash; absent for machine users that only have API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, deserialize_with = "crate::unique_keys::map")]
    pub labels: BTreeMap<String, Vec<String>>,
    /// Refresh tokens of this account created before this time (Unix seconds) are refused:
    /// `tollgate user revoke-refresh` sets it, so an operator revokes them without knowing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_revoked_before: Option<u64>,
}

json_record!(UserRecord);

/// `apikey:<sha256 hex of the key>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRecord {
    pub account: String,
    /// The operator's name for the key ("ci", "laptop").
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub expires: Option<u64>,
    /// Client networks / countries the key may be used from (issue 16); absent: anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<crate::netbind::NetBinding>,
}

json_record!(ApiKeyRecord);

/// `refresh:<sha256 hex of the token>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRecord {
    pub account: String,
    pub service: String,
    #[serde(default)]
    pub client_id: Option<String>,
    pub created: u64,
    pub expires: u64,
    /// The credential that minted it: `password:<sha256 of the bcrypt hash>` or
    /// `apikey:<sha256 of the key>`. Each refresh re-checks it, so a changed password or a
    /// revoked or expired key ends the refresh token too. Absent in records minted before this
    /// binding existed, which are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// The network binding of the API key the refresh token was minted with (issue 16): it
    /// keeps applying to every token the refresh token obtains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<crate::netbind::NetBinding>,
}

json_record!(RefreshRecord);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_record_round_trip_and_defaults() {
        let u = UserRecord::from_json(r#"{"password":"$2y$10$x","groups":["dev"]}"#).unwrap();
        assert!(!u.disabled);
        assert_eq!(u.groups, vec!["dev"]);
        assert_eq!(UserRecord::from_json(&u.to_json()).unwrap(), u);
    }

    #[test]
    fn malformed_records_are_errors() {
        assert!(UserRecord::from_json("{").is_err());
        assert!(UserRecord::from_json(r#"{"disabled":"no"}"#).is_err());
        assert!(
            UserRecord::from_json(r#"{"admin":true}"#).is_err(),
            "unknown field"
        );
        assert!(
            ApiKeyRecord::from_json(r#"{"name":"x"}"#).is_err(),
            "account missing"
        );
        assert!(RefreshRecord::from_json(r#"{"account":"a","service":"s"}"#).is_err());
    }

    #[test]
    fn duplicate_keys_are_malformed_not_last_wins() {
        // Struct fields (serde derive) and label maps (unique_keys) alike.
        for text in [
            r#"{"password":"$2y$10$a","password":"$2y$10$b"}"#,
            r#"{"disabled":true,"disabled":false}"#,
            r#"{"labels":{"team":["blue"],"team":["admins"]}}"#,
        ] {
            assert!(UserRecord::from_json(text).is_err(), "{text}");
        }
        assert!(ApiKeyRecord::from_json(r#"{"account":"a","account":"b"}"#).is_err());
    }

    #[test]
    fn records_written_as_arrays_are_malformed() {
        assert!(UserRecord::from_json("[]").is_err());
        assert!(UserRecord::from_json(r#"[null,false,["admins"]]"#).is_err());
        assert!(ApiKeyRecord::from_json(r#"["ci"]"#).is_err());
        assert!(RefreshRecord::from_json(r#"["alice","registry",null,1,2]"#).is_err());
        assert!(UserRecord::from_json(r#"  {"groups":["dev"]}"#).is_ok());
        assert!(
            UserRecord::from_json(" \t\r\n{}").is_ok(),
            "JSON's whitespace"
        );
        for text in ["\u{a0}{}", "\u{2003}{}", "\u{c}{}", " [ ]"] {
            assert!(UserRecord::from_json(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn errors_do_not_echo_values() {
        let e = UserRecord::from_json(r#"{"password": 12345678}"#).unwrap_err();
        assert!(!e.to_string().contains("12345678"), "{e}");
    }
}
