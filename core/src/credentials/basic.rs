//! `Authorization` header parsing (RFC 7617 Basic, RFC 6750 Bearer).

use crate::limits::{
    MAX_ACCOUNT_LEN, MAX_AUTHORIZATION_LEN, MAX_IDENTITY_TOKEN_LEN, MAX_TOKEN_LEN,
};
use base64ct::{Base64, Encoding as _};
use std::fmt;

/// A secret string whose `Debug` never shows the value, so it cannot leak through a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the one place that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Username and password from a Basic header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub username: String,
    pub password: Secret,
}

/// Why an Authorization header was refused. Messages never contain the presented secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialError {
    TooLong,
    WrongScheme { expected: &'static str },
    BadBase64,
    NotUtf8,
    NoColon,
    EmptyUsername,
    UsernameTooLong,
    UsernameControl,
    PasswordTooLong,
    EmptyToken,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(
                f,
                "the Authorization header is longer than {MAX_AUTHORIZATION_LEN} bytes"
            ),
            Self::WrongScheme { expected } => {
                write!(f, "the Authorization header must use the {expected} scheme")
            }
            Self::BadBase64 => f.write_str("the Basic credentials are not valid base64"),
            Self::NotUtf8 => f.write_str("the Basic credentials are not valid UTF-8"),
            Self::NoColon => {
                f.write_str("the Basic credentials must be 'username:password' (no ':' found)")
            }
            Self::EmptyUsername => f.write_str("the Basic credentials have an empty username"),
            Self::UsernameTooLong => {
                write!(f, "the username is longer than {MAX_ACCOUNT_LEN} bytes")
            }
            Self::UsernameControl => f.write_str("the username contains control characters"),
            Self::PasswordTooLong => {
                write!(
                    f,
                    "the password is longer than {MAX_IDENTITY_TOKEN_LEN} bytes"
                )
            }
            Self::EmptyToken => f.write_str("the Bearer token is empty"),
        }
    }
}

impl std::error::Error for CredentialError {}

/// Splits `<scheme> <rest>` with a case-insensitive scheme (RFC 9110 11.1).
fn strip_scheme<'a>(header: &'a str, scheme: &'static str) -> Result<&'a str, CredentialError> {
    if header.len() > MAX_AUTHORIZATION_LEN {
        return Err(CredentialError::TooLong);
    }
    let header = header.trim();
    let (given, rest) = header
        .split_once(' ')
        .ok_or(CredentialError::WrongScheme { expected: scheme })?;
    if !given.eq_ignore_ascii_case(scheme) {
        return Err(CredentialError::WrongScheme { expected: scheme });
    }
    Ok(rest.trim())
}

/// Parses `Basic base64(username:password)`. The username ends at the first ':' (RFC 7617), so a
/// password may contain ':'.
pub fn parse_basic_authorization(header: &str) -> Result<BasicCredentials, CredentialError> {
    let encoded = strip_scheme(header, "Basic")?;
    let raw = Base64::decode_vec(encoded).map_err(|_| CredentialError::BadBase64)?;
    let text = String::from_utf8(raw).map_err(|_| CredentialError::NotUtf8)?;
    let (username, password) = text.split_once(':').ok_or(CredentialError::NoColon)?;
    if username.is_empty() {
        return Err(CredentialError::EmptyUsername);
    }
    if username.len() > MAX_ACCOUNT_LEN {
        return Err(CredentialError::UsernameTooLong);
    }
    // As for a form's `username`: no account name holds one, and it would end up in a KV key.
    if username.chars().any(char::is_control) {
        return Err(CredentialError::UsernameControl);
    }
    // The password may be an OIDC identity token (workload federation), so the bound here is the
    // identity token's; ordinary passwords are held to MAX_PASSWORD_LEN once the username shows
    // that no issuer is meant (service/records.rs).
    if password.len() > MAX_IDENTITY_TOKEN_LEN {
        return Err(CredentialError::PasswordTooLong);
    }
    Ok(BasicCredentials {
        username: username.to_string(),
        password: Secret::new(password),
    })
}

/// Parses `Bearer <token>` and returns the token.
pub fn parse_bearer_authorization(header: &str) -> Result<&str, CredentialError> {
    let token = strip_scheme(header, "Bearer")?;
    if token.is_empty() {
        return Err(CredentialError::EmptyToken);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(CredentialError::TooLong);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    // Encoded with the base64 crate: an implementation independent of the code's base64ct.
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    fn basic(s: &str) -> String {
        format!("Basic {}", STANDARD.encode(s))
    }

    /// base64ct (the code's) accepts exactly what the base64 crate's STANDARD engine (the code's
    /// until issue 17) did: padding required and canonical, no whitespace, no URL alphabet.
    #[test]
    fn base64_accepts_what_it_accepted_before() {
        for s in [
            "",
            "=",
            "Ym9iOng=",
            "Ym9iOng",
            "Ym9iOnh=",
            "Ym9iOng==",
            "Ym9i Ong=",
            " Ym9iOng=",
            "Ym9iOnh4",
            "Ym9iOnh4====",
            "Ym9-Ong=",
            "Ym9_Ong=",
            "Ym9iOg==",
            "Ym9iOh==",
            "Y===",
        ] {
            assert_eq!(Base64::decode_vec(s).ok(), STANDARD.decode(s).ok(), "{s:?}");
        }
    }

    #[test]
    fn parses_basic_and_keeps_colons_in_password() {
        let c = parse_basic_authorization(&basic("alice:pa:ss")).unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.expose(), "pa:ss");
    }

    #[test]
    fn scheme_is_case_insensitive_and_spaces_tolerated() {
        let h = format!("  bAsIc   {}  ", STANDARD.encode("bob:x"));
        assert_eq!(parse_basic_authorization(&h).unwrap().username, "bob");
    }

    #[test]
    fn refuses_malformed_basic() {
        let long_user = format!("{}:x", "u".repeat(MAX_ACCOUNT_LEN + 1));
        let cases = [
            ("Basic !!!".to_string(), CredentialError::BadBase64),
            (basic("nocolon"), CredentialError::NoColon),
            (basic(":pw"), CredentialError::EmptyUsername),
            (
                format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', b'a'])),
                CredentialError::NotUtf8,
            ),
            (
                "a".repeat(MAX_AUTHORIZATION_LEN + 1),
                CredentialError::TooLong,
            ),
            (basic(&long_user), CredentialError::UsernameTooLong),
            (basic("ali\nce:pw"), CredentialError::UsernameControl),
            (basic("alice\u{0}:pw"), CredentialError::UsernameControl),
        ];
        for (header, refusal) in cases {
            assert_eq!(
                parse_basic_authorization(&header),
                Err(refusal),
                "{header:?}"
            );
        }
        assert!(matches!(
            parse_basic_authorization("Bearer abc"),
            Err(CredentialError::WrongScheme { .. })
        ));
        assert!(matches!(
            parse_basic_authorization("Basic"),
            Err(CredentialError::WrongScheme { .. })
        ));
        // Identity tokens (~1-1.5 KiB) fit; the Authorization bound stops anything larger.
        let token_pw = basic(&format!(
            "oidc:{}",
            "p".repeat(crate::limits::MAX_PASSWORD_LEN * 3)
        ));
        assert!(parse_basic_authorization(&token_pw).is_ok());
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let c = parse_basic_authorization(&basic("alice:hunter2")).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn parses_bearer() {
        assert_eq!(
            parse_bearer_authorization("Bearer tgk_abc").unwrap(),
            "tgk_abc"
        );
        assert_eq!(parse_bearer_authorization("bearer  t ").unwrap(), "t");
        assert!(parse_bearer_authorization("Basic abc").is_err());
        assert!(parse_bearer_authorization("Bearer ").is_err());
    }
}
