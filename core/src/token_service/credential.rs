//! The credential a request presents, classified ONCE per request, from the credential itself
//! rather than from the endpoint or grant type it arrived with. Every later decision (which
//! check runs, whether the brute-force throttle counts it, whether a refresh token may be
//! minted) reads this one value, so an endpoint or grant type can never disagree with the
//! throttle about what was checked (issue 12, finding 2).
//!
//! | presented as | credential |
//! |---|---|
//! | nothing (GET /token) | anonymous |
//! | Basic or password grant, password `tgk_...` | API key (must belong to the username) |
//! | Basic or password grant, password `tgp_...` | personal credential from the sign-in page: an API key of its own record kind |
//! | Basic or password grant, username of a trusted issuer (or `oidc`) | workload identity token |
//! | Basic or password grant, anything else | password |
//! | `Authorization: Bearer <key>` | API key |
//! | `grant_type=refresh_token` | refresh token (an Authorization header beside it is ignored) |
//!
//! An Authorization header whose API key this isolate already checked is presented as that
//! check's answer ([`Presented::Remembered`], `remembered.rs`): the same header, so the same
//! credential, read the same way.

use super::auth_error::AuthError;
use super::authenticate::{
    api_key_key, issuers, read_ahead, refresh_key, user_key, ACL_KEY, ISSUERS_KEY,
};
use super::remembered::{HeaderTag, Remembered};
use super::throttle::Attempt;
use super::{RequestContext, TokenService};
use crate::credentials::{
    looks_like_api_key, parse_basic_authorization, parse_bearer_authorization, read_hint,
    secret_digest, valid_account, Hint, Secret, API_KEY_PREFIX, REFRESH_PREFIX,
};
use crate::federation::{Fetch, OIDC_USERNAME};
use crate::out_of_line::out_of_line;
use crate::protocol::request::Grant;
use crate::signin::credentials::{is_personal, record_key, PERSONAL_PREFIX};
use crate::store::Store;
use std::borrow::Cow;

/// What the caller presented.
#[derive(Debug, Clone)]
pub(crate) enum Presented {
    Anonymous,
    /// A user's password: the only guessable credential, so the only one throttled.
    Password {
        username: String,
        password: Secret,
    },
    /// `username`: the Basic / password-grant username (the key must belong to it); `None` for
    /// a Bearer API key. `bearer`: presented as `Authorization: Bearer`. `personal`: a personal
    /// credential made on the sign-in page (`tgp_`, a `personal:` record) rather than an
    /// operator's API key (`tgk_`, an `apikey:` record); it works wherever an API key does.
    /// `digest`: the key's SHA-256 (its record's name), computed once per request. `hint`: the
    /// account the key says it belongs to (`credentials::read_hint`; untrusted: it only chooses
    /// what is read ahead, and the record must agree).
    ApiKey {
        username: Option<String>,
        key: Secret,
        digest: String,
        bearer: bool,
        personal: bool,
        hint: Option<Hint>,
        /// The header's tag when the key came in the Authorization header (and the isolate has
        /// a key to tag with): a successful check of an operator's API key is remembered under
        /// it.
        header_tag: Option<HeaderTag>,
    },
    /// An Authorization header this isolate already checked an operator's API key from, with
    /// that check's answer (`remembered.rs`).
    Remembered(Remembered),
    /// `digest`: the token's SHA-256 (its record's name), computed once per request. `hint`: its
    /// account and the API key it was minted from, as the token says (untrusted, as above).
    RefreshToken {
        token: Secret,
        digest: String,
        hint: Option<Hint>,
    },
    /// An OIDC identity token of a trusted issuer, selected by the username.
    IdentityToken {
        username: String,
        token: Secret,
    },
}

impl Presented {
    /// An API key sent as `Authorization: Bearer` (refusals then carry the Bearer challenge).
    pub(crate) fn bearer(&self) -> bool {
        match self {
            Presented::ApiKey { bearer, .. } => *bearer,
            Presented::Remembered(r) => r.bearer,
            _ => false,
        }
    }

    /// The credential kind for audit lines and tests.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Presented::Anonymous => "anonymous",
            Presented::Password { .. } => "password",
            Presented::ApiKey { personal: true, .. } => "personal",
            Presented::ApiKey { .. } | Presented::Remembered(_) => "api_key",
            Presented::RefreshToken { .. } => "refresh_token",
            Presented::IdentityToken { .. } => "oidc",
        }
    }
}

/// Whether a password may be an identity token: JWT-shaped (`eyJ...` with two dots).
pub(super) fn jwt_shaped(password: &str) -> bool {
    password.starts_with("eyJ") && password.bytes().filter(|b| *b == b'.').count() == 2
}

/// What the request presents before the `issuers` record says whether a username + secret is
/// an identity token or a password.
enum Shape {
    Known(Presented),
    Login { username: String, secret: Secret },
}

fn shape(grant: &Grant, authorization: Option<&str>) -> Result<Shape, AuthError> {
    let (username, secret) = match grant {
        Grant::Password { username, password } => (username.clone(), password.clone()),
        Grant::RefreshToken { refresh_token } => {
            return Ok(Shape::Known(refresh(refresh_token.clone())))
        }
        Grant::Header | Grant::ClientCredentials => {
            let Some(header) = authorization else {
                return Ok(Shape::Known(Presented::Anonymous));
            };
            let scheme = scheme(header);
            if scheme.eq_ignore_ascii_case("basic") {
                let basic = parse_basic_authorization(header)
                    .map_err(|e| AuthError::Malformed(e.to_string()))?;
                (basic.username, basic.password)
            } else if scheme.eq_ignore_ascii_case("bearer") {
                let key = parse_bearer_authorization(header)
                    .map_err(|e| AuthError::Malformed(e.to_string()))?;
                return Ok(Shape::Known(api_key(
                    None,
                    Secret::new(key.to_string()),
                    true,
                )));
            } else {
                return Err(AuthError::Malformed(
                    "the Authorization header must use the Basic scheme (or Bearer with an API key)"
                        .into(),
                ));
            }
        }
    };
    if looks_like_api_key(secret.expose()) {
        return Ok(Shape::Known(api_key(Some(username), secret, false)));
    }
    Ok(Shape::Login { username, secret })
}

/// The Authorization header's scheme: its first whitespace-separated word, as
/// `split_whitespace().next()` gives it, without compiling that iterator into every new
/// isolate's first credentialed request (bench/README.md, "What a first request compiles").
fn scheme(header: &str) -> &str {
    let trimmed = header.trim();
    trimmed
        .find(char::is_whitespace)
        .map_or(trimmed, |end| &trimmed[..end])
}

/// A refresh token, with its digest and hint.
fn refresh(token: Secret) -> Presented {
    Presented::RefreshToken {
        digest: secret_digest(token.expose()),
        hint: read_hint(REFRESH_PREFIX, token.expose()),
        token,
    }
}

/// A bare secret, read by the prefixes the token endpoint reads it by (`POST /oauth/revoke`): a
/// refresh token, an API key or personal credential, or `None` for none of Tollgate's.
pub(super) fn presented_secret(secret: Secret) -> Option<Presented> {
    let text = secret.expose();
    if text.starts_with(REFRESH_PREFIX) {
        Some(refresh(secret))
    } else if looks_like_api_key(text) {
        Some(api_key(None, secret, false))
    } else {
        None
    }
}

/// An API key or personal credential, with its digest and hint.
fn api_key(username: Option<String>, key: Secret, bearer: bool) -> Presented {
    let text = key.expose();
    let personal = is_personal(text);
    let prefix = if personal {
        PERSONAL_PREFIX
    } else {
        API_KEY_PREFIX
    };
    Presented::ApiKey {
        username,
        personal,
        digest: secret_digest(text),
        hint: read_hint(prefix, text),
        key,
        bearer,
        header_tag: None,
    }
}

/// The KV records this request will read whatever the outcome, so that they are read together:
/// the ACL (read after authentication), the credential's own record, `issuers` (which selects
/// identity tokens and validates every `user:` record) and the user record when the username or
/// the credential's hint names it (with the API key a refresh token's hint names). A Bearer API
/// key or a refresh token without a hint (minted before hints) names its account only in its
/// record: that user record is a second round trip (see `authenticate`). A throttled username is
/// not read ahead (the throttle refuses it before any read of its record).
fn wanted<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    shape: &Shape,
) -> Vec<Cow<'static, str>> {
    let mut keys = vec![Cow::Borrowed(ACL_KEY)];
    let mut minted_from = None;
    let (username, credential) = match shape {
        Shape::Known(Presented::ApiKey {
            username,
            key,
            digest,
            personal,
            hint,
            ..
        }) => {
            let record = if *personal {
                Some(record_key(digest))
            } else {
                key.expose()
                    .starts_with(API_KEY_PREFIX)
                    .then(|| api_key_key(digest))
            };
            let hinted = hint.as_ref().map(|h| h.account.as_str());
            (username.as_deref().or(hinted), record)
        }
        Shape::Known(Presented::RefreshToken {
            token,
            digest,
            hint,
        }) => {
            minted_from = hint.as_ref().and_then(|h| h.api_key.as_deref());
            (
                hint.as_ref().map(|h| h.account.as_str()),
                token
                    .expose()
                    .starts_with(REFRESH_PREFIX)
                    .then(|| refresh_key(digest)),
            )
        }
        Shape::Known(_) => return keys,
        Shape::Login { username, secret } => {
            let throttled = app
                .throttle
                .check(&Attempt::password(username, ctx.client_ip), ctx.now)
                .is_err();
            let reads_user = !jwt_shaped(secret.expose()) && !throttled;
            (reads_user.then_some(username.as_str()), None)
        }
    };
    keys.push(Cow::Borrowed(ISSUERS_KEY));
    let user = username.filter(|u| valid_account(u)).map(user_key);
    let minted_from = minted_from.map(api_key_key);
    keys.extend(
        [credential, user, minted_from]
            .into_iter()
            .flatten()
            .map(Cow::from),
    );
    keys
}

/// Classifies what a token request (or a proxied request, `grant` = [`Grant::Header`]) presents.
/// `authorization` is the single, bounded Authorization header. Reads the (cached) `issuers`
/// record for every username + secret login, together with every other record the request
/// needs ([`wanted`]): one KV round trip on a cold isolate, none on a warm one.
pub(super) async fn classify<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    grant: &Grant,
    authorization: Option<&str>,
) -> Result<Presented, AuthError> {
    let recalled = match (grant, authorization) {
        (Grant::Header | Grant::ClientCredentials, Some(header)) => recall(app, ctx, header),
        _ => Err(None),
    };
    // A remembered header is a known credential like any other: `wanted` reads the ACL ahead
    // for it, through the same await as every request's.
    let shape = match recalled {
        Ok(r) => Shape::Known(Presented::Remembered(r)),
        Err(header_tag) => {
            let mut shape = shape(grant, authorization)?;
            if let Shape::Known(Presented::ApiKey { header_tag: t, .. }) = &mut shape {
                *t = header_tag;
            }
            shape
        }
    };
    read_ahead(app, ctx, wanted(app, ctx, &shape)).await;
    match shape {
        Shape::Known(presented) => Ok(presented),
        // Out of line: an API-key or anonymous request does not compile a login's checks.
        Shape::Login { username, secret } => out_of_line(login(app, ctx, username, secret)).await,
    }
}

/// The remembered check of the Authorization header `header`, or else its tag to remember a
/// check under (`None` without an isolate key).
fn recall<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    header: &str,
) -> Result<Remembered, Option<HeaderTag>> {
    let remembered = &mut app.caches.borrow_mut().remembered;
    let tag = remembered.tag(header, || ctx.random::<16>()).ok_or(None)?;
    remembered.recall(tag, ctx.now).ok_or(Some(tag))
}

/// A username + secret pair that is not an API key: a workload's identity token or a password.
async fn login<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    username: String,
    secret: Secret,
) -> Result<Presented, AuthError> {
    let text = secret.expose();
    // A username that selects a trusted issuer means an identity token, whatever it looks like.
    // An unreadable `issuers` record fails closed only where federation is plausible (a
    // JWT-shaped secret or the reserved `oidc`), so it cannot break ordinary password logins.
    let plausible = jwt_shaped(text) || username == OIDC_USERNAME;
    match issuers(app, ctx).await {
        Ok(i) if i.selects(&username) => {
            return Ok(Presented::IdentityToken {
                username,
                token: secret,
            })
        }
        Err(e) if plausible => return Err(e),
        _ => {}
    }
    Ok(Presented::Password {
        username,
        password: secret,
    })
}

#[cfg(test)]
mod tests {
    use super::scheme;

    #[test]
    fn the_scheme_is_the_first_whitespace_separated_word() {
        for h in [
            "",
            " ",
            "Basic",
            "Basic abc",
            "  bAsIc   abc  ",
            "Basic\tabc",
            "Bearer\u{a0}k",
            "\u{2003}Bearer k",
            "a b c",
        ] {
            assert_eq!(
                scheme(h),
                h.split_whitespace().next().unwrap_or(""),
                "{h:?}"
            );
        }
    }
}
