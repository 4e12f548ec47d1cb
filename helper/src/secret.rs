//! A secret string: the password of the personal credential Tollgate hands out. It goes to the
//! cache file, to Tollgate (Basic) and to docker as it is, but its `Debug` never shows it, so
//! whatever holds one (a grant, a cached credential) can derive `Debug` and a log line or a failed
//! assertion that prints it does not leak the credential.

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the places that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_it_and_serde_keeps_it_as_a_string() {
        let s = Secret::from("tgp_hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""tgp_hunter2""#);
        let back: Secret = serde_json::from_str(r#""tgp_hunter2""#).unwrap();
        assert_eq!(back.expose(), "tgp_hunter2");
    }
}
