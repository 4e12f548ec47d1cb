//! Why authentication failed, as a domain error. The token endpoint renders it as a
//! distribution or OAuth2 error (`into_token_error`), the proxy as a registry challenge
//! (`proxy::gate`): one failure, one type, each endpoint in its own protocol.

use crate::netbind::NetRefusal;
use crate::protocol::{ErrorKind, TokenError};
use crate::store::StoreError;
use std::fmt;

/// An authentication failure. Messages are for the client and never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The credential cannot be read (header syntax, over-long): the request must change.
    Malformed(String),
    /// Wrong, unknown, expired, revoked or disabled credentials. Only these are counted by the
    /// brute-force throttle when a password was checked.
    Rejected(String),
    /// Too many failed password checks for the account or the client address.
    Throttled { retry_after: u64 },
    /// Storage or a trusted issuer could not be reached: nothing granted, try again (503).
    Unavailable(String),
    /// A stored record is malformed: nothing granted, the operator must fix it (500).
    Broken(String),
    /// The credential is network-bound (issue 16, `crate::netbind`) and the client is outside
    /// its networks or countries. Forbidden, not unauthenticated: new credentials from the same
    /// place would be refused the same way, so a challenge would only start a login loop. The
    /// credential did check out, so its account, kind and API key name are carried for the
    /// audit line (`tollgate audit credential`).
    Network {
        refusal: NetRefusal,
        account: String,
        /// api_key or refresh_token.
        via: &'static str,
        key_name: Option<String>,
    },
}

impl AuthError {
    pub(crate) fn store(e: StoreError) -> Self {
        AuthError::Unavailable(format!(
            "the credential store could not be read ({e}); nothing was granted, try again"
        ))
    }

    pub(crate) fn broken(what: &str, e: impl fmt::Display) -> Self {
        AuthError::Broken(format!(
            "the stored {what} is malformed ({e}); nothing was granted. Fix the record with the tollgate CLI"
        ))
    }

    /// The token endpoint's rendering; `rejected` is the kind for bad credentials, which
    /// depends on the grant (RFC 6749 5.2 names).
    pub(crate) fn into_token_error(self, rejected: ErrorKind) -> TokenError {
        match self {
            AuthError::Malformed(m) => TokenError::new(ErrorKind::InvalidRequest, m),
            AuthError::Rejected(m) => TokenError::new(rejected, m),
            AuthError::Throttled { retry_after } => TokenError::new(
                ErrorKind::TooManyRequests,
                format!(
                    "too many failed logins for this account or from this address; try again in \
                     {retry_after} s (API keys and refresh tokens still work, and successful logins are never counted)"
                ),
            )
            .with_retry_after(retry_after),
            AuthError::Unavailable(m) => TokenError::new(ErrorKind::Unavailable, m),
            AuthError::Broken(m) => TokenError::new(ErrorKind::ServerError, m),
            AuthError::Network { refusal, .. } => {
                TokenError::new(ErrorKind::Denied, refusal.to_string())
            }
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Malformed(m)
            | AuthError::Rejected(m)
            | AuthError::Unavailable(m)
            | AuthError::Broken(m) => f.write_str(m),
            AuthError::Throttled { retry_after } => {
                write!(f, "throttled for {retry_after} s")
            }
            AuthError::Network { refusal, .. } => write!(f, "{refusal}"),
        }
    }
}

/// Storage and record failures outside authentication (the ACL) reach the token endpoint too.
impl From<AuthError> for TokenError {
    fn from(e: AuthError) -> Self {
        e.into_token_error(ErrorKind::InvalidCredentials)
    }
}
