//! Whether what a principal holds covers what a request needs, and how the proxy refuses.
//!
//! Matching follows docker-registry 2.8's token access controller: grants are looked up by
//! (type, name), the actions of several grants for the same resource add up, and a granted `*`
//! covers any action. Refusals copy the registry's wire shape so every client reacts as it would to
//! the registry itself: a 401 with `WWW-Authenticate: Bearer realm,service,scope[,error]` and a
//! distribution `errors` body whose `detail` lists the access records that were needed.

use super::route::{Required, RouteError};
use crate::protocol::{challenge, HttpResponse};
use crate::token::Access;
use serde_json::{json, Value};

/// The header docker-registry puts on every response; the Docker client's API ping looks for it.
pub(crate) const API_VERSION_HEADER: (&str, &str) =
    ("docker-distribution-api-version", "registry/2.0");

/// The required access records that were not granted (what a client would need to ask for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insufficient {
    pub missing: Vec<Access>,
}

/// Checks that `granted` covers every action of every entry in `required`.
/// [`Required::Authenticated`] is always covered: the caller has already authenticated.
pub fn check_access(granted: &[Access], required: &Required) -> Result<(), Insufficient> {
    let needed = match required {
        Required::Authenticated => return Ok(()),
        Required::Access(list) => list,
    };
    let mut missing = Vec::new();
    for need in needed {
        let holds = |action: &str| {
            granted
                .iter()
                .filter(|g| g.resource_type == need.resource_type && g.name == need.name)
                .any(|g| g.actions.iter().any(|a| a == "*" || a == action))
        };
        let lacking: Vec<String> = need.actions.iter().filter(|a| !holds(a)).cloned().collect();
        if !lacking.is_empty() {
            missing.push(Access {
                resource_type: need.resource_type.clone(),
                name: need.name.clone(),
                actions: lacking,
            });
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Insufficient { missing })
    }
}

/// Why the proxy refuses to forward a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials: 401 with a plain challenge telling the client where to get a token.
    Unauthenticated,
    /// A Bearer token that failed verification (signature, key, iss, aud, exp, nbf, format):
    /// 401 with `error="invalid_token"`.
    InvalidToken,
    /// Basic credentials that are wrong, unknown or disabled: 401 with a plain challenge.
    InvalidCredentials,
    /// A valid token without the needed actions: 401 with `error="insufficient_scope"`, as
    /// docker-registry answers (not 403), so clients fetch a wider token.
    InsufficientScope,
    /// Valid Basic credentials whose ACL does not grant the needed actions: 403 DENIED. There is
    /// no token to widen, so a 401 would only make the client loop.
    Denied,
    /// An Authorization header we cannot read (unknown scheme, malformed, oversized, repeated).
    MalformedAuthorization,
}

impl Refusal {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Refusal::Denied => 403,
            Refusal::MalformedAuthorization => 400,
            _ => 401,
        }
    }

    /// The `error` auth-param of the challenge, if any.
    fn challenge_error(&self) -> Option<&'static str> {
        match self {
            Refusal::InvalidToken => Some("invalid_token"),
            Refusal::InsufficientScope => Some("insufficient_scope"),
            _ => None,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::Denied => "DENIED",
            Refusal::MalformedAuthorization => "UNSUPPORTED",
            _ => "UNAUTHORIZED",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Refusal::Unauthenticated => "authentication required",
            Refusal::InvalidToken => {
                "the bearer token is invalid or expired: request a new one from the realm"
            }
            Refusal::InvalidCredentials => "invalid username, password or API key",
            Refusal::InsufficientScope => {
                "the bearer token does not grant this access: request a token for the scope in \
                 the WWW-Authenticate header"
            }
            Refusal::Denied => "requested access to the resource is denied",
            Refusal::MalformedAuthorization => {
                "unreadable Authorization header: send one 'Bearer <token>' or 'Basic <base64>'"
            }
        }
    }
}

/// The access records in docker-registry's `detail` shape.
fn detail(records: &[Access]) -> Value {
    let flat: Vec<Value> = records
        .iter()
        .flat_map(|a| {
            a.actions.iter().map(move |action| {
                json!({"Type": a.resource_type, "Class": "", "Name": a.name, "Action": action})
            })
        })
        .collect();
    Value::Array(flat)
}

pub(crate) fn error_response(
    status: u16,
    code: &str,
    message: &str,
    detail: Value,
) -> HttpResponse {
    let body = json!({"errors": [{"code": code, "message": message, "detail": detail}]});
    HttpResponse::json(status, &body).with_header(API_VERSION_HEADER.0, API_VERSION_HEADER.1)
}

/// The refusal response. `realm` is the token endpoint URL, `service` the audience tokens must
/// carry; the challenge's `scope` is everything the request needs (what the registry sends).
pub(crate) fn refusal_response(
    refusal: Refusal,
    required: &Required,
    realm: &str,
    service: &str,
) -> HttpResponse {
    let records = match required {
        Required::Authenticated => &[][..],
        Required::Access(list) => list.as_slice(),
    };
    let detail = match refusal {
        Refusal::InsufficientScope | Refusal::Denied | Refusal::Unauthenticated => detail(records),
        _ => Value::Null,
    };
    let mut resp = error_response(refusal.status(), refusal.code(), refusal.message(), detail);
    if refusal.status() == 401 {
        let scope = required.scope_param();
        let value = challenge::bearer(realm, service, Some(&scope), refusal.challenge_error());
        resp = resp.with_header("www-authenticate", value);
    }
    resp
}

/// The response for a path that maps to no endpoint or a malformed parameter.
pub(crate) fn route_error_response(err: RouteError) -> HttpResponse {
    let mut resp = error_response(err.status(), err.code(), err.message(), Value::Null);
    if err == RouteError::MethodNotAllowed {
        // The exact list depends on the endpoint; the code names the problem.
        resp = resp.with_header("allow", "GET, HEAD, POST, PUT, PATCH, DELETE");
    }
    resp
}

/// Why the origin could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// No response within ORIGIN_TIMEOUT: 504.
    Timeout,
    /// Connection refused, DNS, TLS or any other fetch failure: 502.
    Unreachable,
}

/// A 502/504 in distribution format. The message names the setting to check, never the origin's
/// address (which may be private).
pub fn upstream_error_response(failure: UpstreamFailure) -> HttpResponse {
    match failure {
        UpstreamFailure::Timeout => error_response(
            504,
            "UNAVAILABLE",
            "the origin registry did not answer within ORIGIN_TIMEOUT; try again later",
            Value::Null,
        ),
        UpstreamFailure::Unreachable => error_response(
            502,
            "UNAVAILABLE",
            "the origin registry is unreachable; check that ORIGIN is up",
            Value::Null,
        ),
    }
}

/// A 5xx for our own failures (KV unreachable, malformed record): nothing forwarded.
pub fn server_error_response(status: u16, message: &str) -> HttpResponse {
    error_response(status, "UNAVAILABLE", message, Value::Null)
}

/// 429 for Basic credentials refused by the brute-force throttle, in distribution's format
/// (`TOOMANYREQUESTS`) with `Retry-After`.
pub(crate) fn too_many_requests_response(retry_after: u64) -> HttpResponse {
    let retry_after = retry_after.max(1);
    error_response(
        429,
        "TOOMANYREQUESTS",
        &format!(
            "too many failed logins for this account or from this address; try again in              {retry_after} s (tokens from /token still work)"
        ),
        Value::Null,
    )
    .with_header("retry-after", retry_after.to_string())
}

#[cfg(test)]
mod tests;
