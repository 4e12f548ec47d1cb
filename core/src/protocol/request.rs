//! Token requests as clients send them, parsed into one [`TokenRequest`].
//!
//! - GET /token (distribution token spec): `service`, repeated `scope`, `account`, `client_id`,
//!   `offline_token=true`; credentials in a Basic Authorization header, or none (anonymous).
//! - POST /token (distribution oauth.md): form body with `grant_type=password` (containerd) or
//!   `grant_type=refresh_token` (docker, skopeo, podman after login), `service`, `client_id`,
//!   `access_type=offline`, one space-separated `scope`.
//! - /oauth/token (ChartMuseum): `grant_type=client_credentials&scope=...` in the query string
//!   (a form body is accepted too) with `Authorization: Bearer <API key>`.
//!
//! Scopes arrive as repeated parameters (docker), one space-separated value (containerd, OAuth2)
//! or not at all (a login probe). They are split and bounded here and parsed by `crate::scope`.
//! Parameters are decoded with `form_urlencoded`; a value that is not UTF-8 is refused rather
//! than silently repaired, since a mangled scope or password would mean something else.

use super::{ErrorKind, Flavor, TokenError};
/// Passwords and refresh tokens travel as the credentials module's redacting [`Secret`].
pub(crate) use crate::credentials::Secret;
use crate::limits::{MAX_ACCOUNT_LEN, MAX_FORM_LEN, MAX_SCOPES, MAX_SCOPE_LEN};

/// Parameters one request may carry (query and body together); bounds the work on junk input.
pub(crate) const MAX_PARAMS: usize = 64 + MAX_SCOPES;
/// Bytes in `service` or `client_id`.
pub(crate) const MAX_PARAM_LEN: usize = 255;

/// How the client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// GET /token: Basic credentials from the Authorization header, or anonymous without one.
    Header,
    /// OAuth2 resource-owner password grant (containerd).
    Password { username: String, password: Secret },
    /// OAuth2 refresh grant with a token minted earlier by an offline request.
    RefreshToken { refresh_token: Secret },
    /// OAuth2 client credentials (ChartMuseum): an API key as a Bearer Authorization header.
    ClientCredentials,
}

impl Grant {
    /// The grant's name for audit lines.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Grant::Header => "header",
            Grant::Password { .. } => "password",
            Grant::RefreshToken { .. } => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
        }
    }
}

/// One token request, whichever endpoint and dialect it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub flavor: Flavor,
    pub grant: Grant,
    /// `service`: the audience. None when the client left it out.
    pub service: Option<String>,
    /// Scope strings, split on spaces, in request order, not yet parsed or merged.
    pub scopes: Vec<String>,
    /// `account` (GET only): must equal the authenticated user when present.
    pub account: Option<String>,
    /// `client_id`: recorded in audit lines and refresh-token records.
    pub client_id: Option<String>,
    /// `offline_token=true` (GET) or `access_type=offline` (POST): also mint a refresh token.
    pub offline: bool,
}

fn invalid(message: impl Into<String>) -> TokenError {
    TokenError::new(ErrorKind::InvalidRequest, message)
}

/// 413 for a form source (`what`: "request body", "query string") over `MAX_FORM_LEN`: the one
/// wording of that limit for the token endpoints and revocation.
pub(crate) fn too_large(what: &str) -> TokenError {
    TokenError::new(
        ErrorKind::PayloadTooLarge,
        format!("the {what} is longer than {MAX_FORM_LEN} bytes"),
    )
}

/// 400 for a form with more than `MAX_PARAMS` parameters.
fn too_many_params() -> TokenError {
    invalid(format!("too many parameters (more than {MAX_PARAMS})"))
}

/// Collected parameters, with single-valued ones checked for conflicting repeats.
#[derive(Default)]
struct Params {
    scopes: Vec<String>,
    single: Vec<(&'static str, String)>,
    count: usize,
}

/// The parameters that may appear once (repeats with the same value are tolerated, since some
/// clients send `service` both in the query and the body).
const SINGLE: [&str; 9] = [
    "service",
    "account",
    "client_id",
    "offline_token",
    "grant_type",
    "username",
    "password",
    "refresh_token",
    "access_type",
];

/// Parameters that carry a secret. They are read from a POST form body only: a URL ends up in
/// access logs, browser history and proxies (RFC 6749 3.2 requires POST for the token endpoint).
const SECRET_PARAMS: [&str; 3] = ["password", "refresh_token", "client_secret"];

/// Where a parameter came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Query,
    Body,
}

impl Params {
    fn add_source(&mut self, source: &[u8], from: Source) -> Result<(), TokenError> {
        let what = match from {
            Source::Query => "query string",
            Source::Body => "request body",
        };
        if source.len() > MAX_FORM_LEN {
            return Err(too_large(what));
        }
        for (key, value) in form_urlencoded::parse(source) {
            self.count += 1;
            if self.count > MAX_PARAMS {
                return Err(too_many_params());
            }
            // By chars: `str::contains` of a non-ASCII char searches for its UTF-8 string, which
            // compiles core's two-way searcher (~1.9 KB of wasm) into every new isolate's first
            // token request (bench/README.md, "What a first request compiles").
            let lossy = |s: &str| s.chars().any(|c| c == char::REPLACEMENT_CHARACTER);
            if lossy(&key) || lossy(&value) {
                return Err(invalid(format!(
                    "a parameter in the {what} is not valid UTF-8 after percent-decoding"
                )));
            }
            if from == Source::Query && SECRET_PARAMS.contains(&key.as_ref()) {
                return Err(invalid(format!(
                    "parameter '{key}' is not accepted in the URL, where it would end up in logs: \
                     send it in a POST application/x-www-form-urlencoded body (or the password \
                     in an 'Authorization: Basic' header)"
                )));
            }
            if key == "scope" {
                self.add_scopes(&value)?;
                continue;
            }
            let Some(name) = SINGLE.iter().find(|n| **n == key) else {
                continue; // unknown parameters are ignored, as OAuth2 requires
            };
            match self.single.iter().find(|(n, _)| n == name) {
                Some((_, existing)) if *existing != value => {
                    return Err(invalid(format!(
                        "parameter '{name}' is given more than once with different values"
                    )))
                }
                Some(_) => {}
                None => self.single.push((name, value.into_owned())),
            }
        }
        Ok(())
    }

    fn add_scopes(&mut self, value: &str) -> Result<(), TokenError> {
        for s in value.split(' ').filter(|s| !s.is_empty()) {
            if s.len() > MAX_SCOPE_LEN {
                return Err(TokenError::new(
                    ErrorKind::InvalidScope,
                    format!("a scope is longer than {MAX_SCOPE_LEN} bytes"),
                ));
            }
            if self.scopes.len() >= MAX_SCOPES {
                return Err(TokenError::new(
                    ErrorKind::InvalidScope,
                    format!("too many scopes: at most {MAX_SCOPES} per request"),
                ));
            }
            self.scopes.push(s.to_string());
        }
        Ok(())
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.single.iter().position(|(n, _)| *n == name)?;
        Some(self.single.swap_remove(i).1)
    }

    /// A short printable parameter (service, client_id, account, grant_type).
    fn take_name(&mut self, name: &str, max: usize) -> Result<Option<String>, TokenError> {
        match self.take(name) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) if v.len() > max => Err(invalid(format!(
                "parameter '{name}' is longer than {max} bytes"
            ))),
            Some(v) if v.chars().any(char::is_control) => Err(invalid(format!(
                "parameter '{name}' contains control characters"
            ))),
            Some(v) => Ok(Some(v)),
        }
    }

    fn take_secret(&mut self, name: &str, max: usize) -> Result<Option<Secret>, TokenError> {
        match self.take(name) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) if v.len() > max => Err(invalid(format!(
                "parameter '{name}' is longer than {max} bytes"
            ))),
            Some(v) => Ok(Some(Secret::new(v))),
        }
    }
}

/// Checks a POST body's Content-Type: absent or form-encoded. Anything else (JSON, multipart)
/// would be misread as a form, so it is refused with a hint.
pub fn check_form_content_type(content_type: Option<&str>, body: &[u8]) -> Result<(), TokenError> {
    let Some(ct) = content_type else {
        return Ok(());
    };
    if body.is_empty() {
        return Ok(());
    }
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(())
    } else {
        let shown: String = media.chars().take(64).filter(|c| !c.is_control()).collect();
        Err(invalid(format!(
            "the body must be application/x-www-form-urlencoded, got Content-Type '{shown}'"
        )))
    }
}

impl TokenRequest {
    /// GET /token: everything in the query string; credentials (if any) in the header.
    pub fn from_get(query: &str) -> Result<TokenRequest, TokenError> {
        let mut p = Params::default();
        p.add_source(query.as_bytes(), Source::Query)?;
        let offline = match p.take("offline_token").as_deref() {
            None | Some("") | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => {
                return Err(invalid(
                    "parameter 'offline_token' must be 'true' or 'false'",
                ))
            }
        };
        let req = TokenRequest {
            flavor: Flavor::Distribution,
            grant: Grant::Header,
            service: p.take_name("service", MAX_PARAM_LEN)?,
            account: p.take_name("account", MAX_ACCOUNT_LEN)?,
            client_id: p.take_name("client_id", MAX_PARAM_LEN)?,
            scopes: std::mem::take(&mut p.scopes),
            offline,
        };
        Ok(req)
    }

    /// POST /token or /oauth/token: parameters from the query string and the form body together
    /// (ChartMuseum puts them in the query, docker and containerd in the body).
    pub fn from_oauth2(query: &str, body: &[u8]) -> Result<TokenRequest, TokenError> {
        let mut p = Params::default();
        p.add_source(query.as_bytes(), Source::Query)?;
        p.add_source(body, Source::Body)?;
        let grant_type = p.take_name("grant_type", MAX_PARAM_LEN)?.ok_or_else(|| {
            TokenError::new(
                ErrorKind::InvalidRequest,
                "parameter 'grant_type' is missing: use password, refresh_token or client_credentials",
            )
        })?;
        let grant = match grant_type.as_str() {
            "password" => {
                let username = p
                    .take_name("username", MAX_ACCOUNT_LEN)?
                    .ok_or_else(|| invalid("grant_type=password needs a 'username' parameter"))?;
                // Bounded by the form; the password may be an identity token, whose own limit
                // (and the 512-byte limit of real passwords) is checked once the username says
                // which it is, so an oversized token gets a 401 naming the identity-token limit.
                let password = p
                    .take_secret("password", MAX_FORM_LEN)?
                    .ok_or_else(|| invalid("grant_type=password needs a 'password' parameter"))?;
                Grant::Password { username, password }
            }
            "refresh_token" => {
                let refresh_token =
                    p.take_secret("refresh_token", MAX_PARAM_LEN)?
                        .ok_or_else(|| {
                            invalid("grant_type=refresh_token needs a 'refresh_token' parameter")
                        })?;
                Grant::RefreshToken { refresh_token }
            }
            "client_credentials" => Grant::ClientCredentials,
            other => {
                let shown: String = other.chars().take(64).collect();
                return Err(TokenError::new(
                    ErrorKind::UnsupportedGrantType,
                    format!(
                        "grant_type '{shown}' is not supported: use password, refresh_token or client_credentials"
                    ),
                ));
            }
        };
        let offline = match p.take("access_type").as_deref() {
            None | Some("") | Some("online") => false,
            Some("offline") => true,
            Some(_) => {
                return Err(invalid(
                    "parameter 'access_type' must be 'offline' or 'online'",
                ))
            }
        };
        Ok(TokenRequest {
            flavor: Flavor::OAuth2,
            grant,
            service: p.take_name("service", MAX_PARAM_LEN)?,
            account: p.take_name("account", MAX_ACCOUNT_LEN)?,
            client_id: p.take_name("client_id", MAX_PARAM_LEN)?,
            scopes: std::mem::take(&mut p.scopes),
            offline,
        })
    }
}

/// POST /oauth/revoke (RFC 7009): the token to revoke, from the form body only.
#[derive(Debug)]
pub struct RevokeRequest {
    pub token: Secret,
}

impl RevokeRequest {
    /// `token` once, from an `application/x-www-form-urlencoded` body; `token_type_hint` and
    /// other parameters are ignored (RFC 7009 2.1: the server may look the token up by itself,
    /// which the prefix does). A query string is refused: the token would end up in logs.
    pub fn from_form(query: &str, body: &[u8]) -> Result<RevokeRequest, TokenError> {
        if !query.is_empty() {
            return Err(invalid(
                "send the token in a POST application/x-www-form-urlencoded body ('token=...'), \
                 not in the URL, where it would end up in logs",
            ));
        }
        if body.len() > MAX_FORM_LEN {
            return Err(too_large("request body"));
        }
        let mut token = None;
        for (i, (key, value)) in form_urlencoded::parse(body).enumerate() {
            if i >= MAX_PARAMS {
                return Err(too_many_params());
            }
            if key != "token" {
                continue;
            }
            if token.is_some() {
                return Err(invalid("send one 'token' parameter, not several"));
            }
            token = Some(value.into_owned());
        }
        match token {
            Some(t) if !t.is_empty() => Ok(RevokeRequest {
                token: Secret::new(t),
            }),
            _ => Err(invalid(
                "parameter 'token' is missing: POST token=<the refresh token or personal credential>",
            )),
        }
    }
}

#[cfg(test)]
mod tests;
