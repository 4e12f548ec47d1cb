//! Refusals in each protocol's format.
//!
//! Distribution endpoints answer `{"errors":[{"code","message","detail"}]}` (distribution's
//! errcode package; the Docker client prints `code: message`). OAuth2 endpoints answer
//! `{"error","error_description"}` (RFC 6749 5.2). OAuth2 bodies also carry the distribution
//! `errors` array: the Docker engine reads only that shape, so a revoked refresh token shows up as
//! "unauthorized: ..." instead of an opaque status line. OAuth2 clients ignore the extra member.

use super::{challenge, Flavor, HttpResponse};
use serde_json::json;
use std::fmt;

/// Why a token request was refused. Each kind fixes the HTTP status and the codes in both formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or missing parameter, unknown service, bad Authorization header syntax.
    InvalidRequest,
    /// A scope that does not follow the grammar, or too many of them.
    InvalidScope,
    /// A `grant_type` we do not implement.
    UnsupportedGrantType,
    /// A token the revocation endpoint does not revoke (RFC 7009 2.2.1): an API key.
    UnsupportedTokenType,
    /// Wrong, unknown or disabled credentials on GET /token or a password grant.
    InvalidCredentials,
    /// A refresh token that is unknown, expired, revoked or bound to another service.
    InvalidGrant,
    /// A missing or wrong API key on the client_credentials grant (ChartMuseum).
    InvalidClient,
    /// The request is well-formed and authenticated but refused (e.g. `account` is not the user).
    Denied,
    /// No such endpoint.
    NotFound,
    /// The endpoint exists but not with this method.
    MethodNotAllowed,
    /// Body or query over `limits::MAX_FORM_LEN`.
    PayloadTooLarge,
    /// More header fields than `limits::MAX_REQUEST_HEADERS`: 431.
    HeadersTooLarge,
    /// Too many failed logins for the account or client address (brute-force throttle): 429
    /// with `Retry-After`.
    TooManyRequests,
    /// A malformed stored record or a signing failure: our fault, nothing granted.
    ServerError,
    /// Storage unreachable: try again, nothing granted.
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status. Bad credentials are 401 in both dialects (RFC 6749 would say 400 for
    /// invalid_grant, but Docker and containerd treat 401 as "log in again", which is what it means).
    pub(crate) fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::InvalidScope
            | ErrorKind::UnsupportedGrantType
            | ErrorKind::UnsupportedTokenType => 400,
            ErrorKind::InvalidCredentials | ErrorKind::InvalidGrant | ErrorKind::InvalidClient => {
                401
            }
            ErrorKind::Denied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::HeadersTooLarge => 431,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::ServerError => 500,
            ErrorKind::Unavailable => 503,
        }
    }

    /// The distribution error code (errcode descriptors the Docker client knows).
    pub(crate) fn distribution_code(self) -> &'static str {
        match self {
            ErrorKind::InvalidCredentials | ErrorKind::InvalidGrant | ErrorKind::InvalidClient => {
                "UNAUTHORIZED"
            }
            ErrorKind::Denied => "DENIED",
            ErrorKind::ServerError => "UNKNOWN",
            ErrorKind::Unavailable => "UNAVAILABLE",
            // distribution's errcode.ErrorCodeTooManyRequests (HTTP 429).
            ErrorKind::TooManyRequests => "TOOMANYREQUESTS",
            ErrorKind::InvalidRequest
            | ErrorKind::InvalidScope
            | ErrorKind::UnsupportedGrantType
            | ErrorKind::UnsupportedTokenType
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::PayloadTooLarge
            | ErrorKind::HeadersTooLarge => "UNSUPPORTED",
        }
    }

    /// The OAuth2 `error` code (RFC 6749 5.2, plus server_error / temporarily_unavailable).
    pub(crate) fn oauth2_code(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::PayloadTooLarge
            | ErrorKind::HeadersTooLarge
            | ErrorKind::Denied => "invalid_request",
            ErrorKind::InvalidScope => "invalid_scope",
            ErrorKind::UnsupportedGrantType => "unsupported_grant_type",
            ErrorKind::UnsupportedTokenType => "unsupported_token_type",
            ErrorKind::InvalidCredentials | ErrorKind::InvalidGrant => "invalid_grant",
            ErrorKind::InvalidClient => "invalid_client",
            ErrorKind::ServerError => "server_error",
            // RFC 6749 registers no rate-limit code; temporarily_unavailable (4.1.2.1) is the
            // registered "retry later" one (RFC 8628's slow_down is for device-code polling).
            ErrorKind::Unavailable | ErrorKind::TooManyRequests => "temporarily_unavailable",
        }
    }

    /// A stable lower-case name for audit lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::InvalidScope => "invalid_scope",
            ErrorKind::UnsupportedGrantType => "unsupported_grant_type",
            ErrorKind::UnsupportedTokenType => "unsupported_token_type",
            ErrorKind::InvalidCredentials => "invalid_credentials",
            ErrorKind::InvalidGrant => "invalid_grant",
            ErrorKind::InvalidClient => "invalid_client",
            ErrorKind::Denied => "denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::HeadersTooLarge => "headers_too_large",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::TooManyRequests => "too_many_requests",
        }
    }
}

/// A refusal: the kind plus a message for the client. The message must never hold a secret
/// (no passwords, keys or tokens; account names and scopes are fine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub kind: ErrorKind,
    pub message: String,
    /// Methods to list in `Allow` (405 only).
    pub allow: Option<&'static str>,
    /// The challenge scheme the client used, so a 401 names it back (RFC 6749 5.2):
    /// `Some("Bearer")` for an API key presented as a bearer token, else Basic.
    pub bearer_challenge: bool,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after: Option<u64>,
}

impl TokenError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            allow: None,
            bearer_challenge: false,
            retry_after: None,
        }
    }

    pub(crate) fn method_not_allowed(method: &str, path: &str, allow: &'static str) -> Self {
        let method: String = method
            .chars()
            .take(16)
            .filter(|c| c.is_ascii_alphabetic())
            .collect();
        Self {
            allow: Some(allow),
            ..Self::new(
                ErrorKind::MethodNotAllowed,
                format!(
                    "{path} does not accept {method}; use {}",
                    allow.replace(", ", " or ")
                ),
            )
        }
    }

    /// Marks a 401 as answering a Bearer credential.
    pub(crate) fn with_bearer_challenge(mut self) -> Self {
        self.bearer_challenge = true;
        self
    }

    /// Sets the `Retry-After` seconds (at least 1).
    pub(crate) fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// Renders the refusal. `realm` names the token service in the 401 challenge.
    pub fn to_response(&self, flavor: Flavor, realm: &str) -> HttpResponse {
        let status = self.kind.status();
        let distribution =
            json!({"code": self.kind.distribution_code(), "message": self.message, "detail": null});
        let body = match flavor {
            Flavor::Distribution => json!({"errors": [distribution]}),
            Flavor::OAuth2 => json!({
                "error": self.kind.oauth2_code(),
                "error_description": self.message,
                "errors": [distribution],
            }),
        };
        let mut resp = HttpResponse::json(status, &body);
        if status == 401 {
            let value = if self.bearer_challenge {
                challenge::bearer_error(realm, "invalid_token", &self.message)
            } else {
                challenge::basic(realm)
            };
            resp = resp.with_header("www-authenticate", value);
        }
        if let Some(allow) = self.allow {
            resp = resp.with_header("allow", allow);
        }
        if let Some(seconds) = self.retry_after {
            resp = resp.with_header("retry-after", seconds.to_string());
        }
        resp
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for TokenError {}

#[cfg(test)]
mod tests;
