//! Authentication and the KV records behind it, through the isolate caches.
//!
//! - Basic user + password: `user:<account>`, bcrypt checked once and then remembered in the
//!   keyed verified-credential cache (bcrypt costs tens of milliseconds in wasm; a docker push asks
//!   for several tokens in a row). Unknown users and users without a password cost the same bcrypt
//!   time, so timing does not reveal which accounts exist.
//! - A password that looks like an API key (`tgk_...`): `apikey:<sha256>`, whose account must be
//!   the Basic username. Bearer API keys (ChartMuseum) carry no username.
//! - Refresh tokens: `refresh:<sha256>` (never cached, so deleting it revokes at once), bound to
//!   account and service; the user must still exist and be enabled.
//!
//! Every principal is a `user:` record: disabling it stops passwords, API keys and refresh tokens.
//! Storage errors are 503 and malformed records 500; neither ever authenticates anyone.

use super::App;
use crate::credentials::{
    burn_equal_time, encode_secret, looks_like_api_key, parse_basic_authorization,
    parse_bearer_authorization, secret_digest, verify_password, ApiKeyRecord, RefreshRecord,
    UserRecord, API_KEY_PREFIX, REFRESH_PREFIX,
};
use crate::limits::MAX_ACCOUNT_LEN;
use crate::policy::{Acl, Principal};
use crate::protocol::request::{Grant, TokenRequest};
use crate::protocol::{ErrorKind, TokenError};
use crate::store::{Store, StoreError};
use std::rc::Rc;

/// Who a request authenticated as.
#[derive(Debug, Clone)]
pub(super) struct Authenticated {
    pub account: String,
    pub user: Rc<UserRecord>,
    /// password, api_key or refresh_token (for the audit line).
    pub via: &'static str,
}

fn unavailable(e: StoreError) -> TokenError {
    TokenError::new(
        ErrorKind::Unavailable,
        format!("the credential store could not be read ({e}); nothing was granted, try again"),
    )
}

fn malformed(what: &str, e: impl std::fmt::Display) -> TokenError {
    TokenError::new(
        ErrorKind::ServerError,
        format!("the stored {what} is malformed ({e}); nothing was granted. Fix the record with the tollgate CLI"),
    )
}

/// The failure kind for bad credentials, which depends on the grant (RFC 6749 5.2 names).
fn refusal(grant: &Grant) -> ErrorKind {
    match grant {
        Grant::ClientCredentials => ErrorKind::InvalidClient,
        Grant::RefreshToken { .. } => ErrorKind::InvalidGrant,
        Grant::Header | Grant::Password { .. } => ErrorKind::InvalidCredentials,
    }
}

/// `user:<account>` through the cache. `None`: no such user.
async fn user(
    app: &App,
    store: &impl Store,
    account: &str,
    now: u64,
) -> Result<Option<Rc<UserRecord>>, TokenError> {
    let key = format!("user:{account}");
    if let Some(hit) = app.caches.borrow_mut().users.get(&key, now) {
        return Ok(Some(hit));
    }
    let Some(text) = store.get(&key).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let record =
        Rc::new(UserRecord::from_json(&text).map_err(|e| malformed(&format!("record {key}"), e))?);
    app.caches
        .borrow_mut()
        .users
        .insert(key, Rc::clone(&record), now);
    Ok(Some(record))
}

/// `apikey:<digest>` through the cache.
async fn api_key_record(
    app: &App,
    store: &impl Store,
    digest: &str,
    now: u64,
) -> Result<Option<Rc<ApiKeyRecord>>, TokenError> {
    let key = format!("apikey:{digest}");
    if let Some(hit) = app.caches.borrow_mut().apikeys.get(&key, now) {
        return Ok(Some(hit));
    }
    let Some(text) = store.get(&key).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let record =
        Rc::new(ApiKeyRecord::from_json(&text).map_err(|e| malformed("API key record", e))?);
    app.caches
        .borrow_mut()
        .apikeys
        .insert(key, Rc::clone(&record), now);
    Ok(Some(record))
}

/// The ACL through the cache. No `acl` record: the empty ACL, which grants nothing.
pub(super) async fn acl(app: &App, store: &impl Store, now: u64) -> Result<Rc<Acl>, TokenError> {
    if let Some(hit) = app.caches.borrow().acl(now) {
        return Ok(hit);
    }
    let text = store.get("acl").await.map_err(unavailable)?;
    let acl = Rc::new(match text {
        Some(t) => Acl::from_json(&t).map_err(|e| malformed("ACL (key 'acl')", e))?,
        None => Acl::default(),
    });
    app.caches.borrow_mut().set_acl(Rc::clone(&acl), now);
    Ok(acl)
}

/// The policy's view of who asked.
pub(super) fn principal(who: Option<&Authenticated>) -> Principal {
    match who {
        None => Principal::anonymous(),
        Some(a) => Principal::user(&a.account, &a.user.groups, &a.user.labels),
    }
}

fn valid_account(account: &str) -> bool {
    !account.is_empty()
        && account.len() <= MAX_ACCOUNT_LEN
        && !account.chars().any(char::is_control)
}

/// Username + password (Basic header or password grant). An API key as the password is checked
/// as an API key that must belong to `account`.
pub(super) async fn password_login(
    app: &App,
    store: &impl Store,
    account: &str,
    password: &str,
    kind: ErrorKind,
    now: u64,
) -> Result<Authenticated, TokenError> {
    if looks_like_api_key(password) {
        return api_key_login(app, store, password, Some(account), kind, now).await;
    }
    let wrong = || TokenError::new(kind, "incorrect username or password");
    if !valid_account(account) {
        burn_equal_time(password);
        return Err(wrong());
    }
    let Some(record) = user(app, store, account, now).await? else {
        burn_equal_time(password);
        return Err(wrong());
    };
    let Some(hash) = record.password.as_deref() else {
        burn_equal_time(password);
        return Err(wrong());
    };
    let cached = app
        .caches
        .borrow_mut()
        .verified
        .contains(account, password, hash, now);
    if !cached {
        if !verify_password(password, hash) {
            return Err(wrong());
        }
        app.caches
            .borrow_mut()
            .verified
            .insert(account, password, hash, now);
    }
    // Only now, with the right password, say that the account is disabled.
    if record.disabled {
        return Err(TokenError::new(
            kind,
            format!("account '{account}' is disabled"),
        ));
    }
    Ok(Authenticated {
        account: account.to_string(),
        user: record,
        via: "password",
    })
}

/// An API key; `expected` is the Basic username when there is one.
async fn api_key_login(
    app: &App,
    store: &impl Store,
    key: &str,
    expected: Option<&str>,
    kind: ErrorKind,
    now: u64,
) -> Result<Authenticated, TokenError> {
    let unknown = || TokenError::new(kind, "unknown or revoked API key");
    if !key.starts_with(API_KEY_PREFIX) {
        return Err(unknown());
    }
    let digest = secret_digest(key);
    let Some(record) = api_key_record(app, store, &digest, now).await? else {
        return Err(unknown());
    };
    if record.expires.is_some_and(|t| t <= now) {
        return Err(TokenError::new(
            kind,
            format!("the API key '{}' has expired", record.name),
        ));
    }
    if let Some(expected) = expected {
        if expected != record.account {
            return Err(TokenError::new(
                kind,
                format!("the API key does not belong to account '{expected}'"),
            ));
        }
    }
    let account = record.account.clone();
    let Some(user) = user(app, store, &account, now).await? else {
        return Err(TokenError::new(
            kind,
            format!("the account '{account}' of this API key no longer exists"),
        ));
    };
    if user.disabled {
        return Err(TokenError::new(
            kind,
            format!("account '{account}' is disabled"),
        ));
    }
    Ok(Authenticated {
        account,
        user,
        via: "api_key",
    })
}

/// A refresh token, checked against its record (never cached) and the user.
async fn refresh_login(
    app: &App,
    store: &impl Store,
    token: &str,
    service: &str,
    now: u64,
) -> Result<Authenticated, TokenError> {
    let invalid = |why: &str| {
        TokenError::new(
            ErrorKind::InvalidGrant,
            format!("the refresh token {why}: log in again"),
        )
    };
    if !token.starts_with(REFRESH_PREFIX) {
        return Err(invalid("is not one Tollgate issued"));
    }
    let key = format!("refresh:{}", secret_digest(token));
    let Some(text) = store.get(&key).await.map_err(unavailable)? else {
        return Err(invalid("is unknown, expired or revoked"));
    };
    let record =
        RefreshRecord::from_json(&text).map_err(|e| malformed("refresh token record", e))?;
    if record.expires <= now {
        return Err(invalid("has expired"));
    }
    if record.service != service {
        return Err(invalid(&format!(
            "was issued for service '{}', not '{service}'",
            record.service
        )));
    }
    let Some(user) = user(app, store, &record.account, now).await? else {
        return Err(invalid("belongs to an account that no longer exists"));
    };
    if user.disabled {
        return Err(invalid(&format!(
            "belongs to account '{}', which is disabled",
            record.account
        )));
    }
    Ok(Authenticated {
        account: record.account,
        user,
        via: "refresh_token",
    })
}

/// Authenticates a token request. `Ok(None)`: anonymous (GET without credentials only).
pub(super) async fn authenticate(
    app: &App,
    treq: &TokenRequest,
    authorization: Option<&str>,
    service: &str,
    store: &impl Store,
    now: u64,
) -> Result<Option<Authenticated>, TokenError> {
    let kind = refusal(&treq.grant);
    match &treq.grant {
        Grant::Password { username, password } => {
            password_login(app, store, username, password.expose(), kind, now)
                .await
                .map(Some)
        }
        Grant::RefreshToken { refresh_token } => {
            refresh_login(app, store, refresh_token.expose(), service, now)
                .await
                .map(Some)
        }
        Grant::Header | Grant::ClientCredentials => {
            let bearer_client = treq.grant == Grant::ClientCredentials;
            let Some(header) = authorization else {
                if bearer_client {
                    return Err(TokenError::new(
                        kind,
                        "grant_type=client_credentials needs an API key: send 'Authorization: Bearer <API key>'",
                    )
                    .with_bearer_challenge());
                }
                return Ok(None);
            };
            let scheme = header.split_whitespace().next().unwrap_or("");
            if scheme.eq_ignore_ascii_case("basic") {
                let basic = parse_basic_authorization(header)
                    .map_err(|e| TokenError::new(ErrorKind::InvalidRequest, e.to_string()))?;
                password_login(
                    app,
                    store,
                    &basic.username,
                    basic.password.expose(),
                    kind,
                    now,
                )
                .await
                .map(Some)
            } else if scheme.eq_ignore_ascii_case("bearer") {
                let key = parse_bearer_authorization(header)
                    .map_err(|e| TokenError::new(ErrorKind::InvalidRequest, e.to_string()))?;
                api_key_login(app, store, key, None, kind, now)
                    .await
                    .map(Some)
                    .map_err(TokenError::with_bearer_challenge)
            } else {
                Err(TokenError::new(
                    ErrorKind::InvalidRequest,
                    "the Authorization header must use the Basic scheme (or Bearer with an API key)",
                ))
            }
        }
    }
}

/// Mints a refresh token for `who` on `service`: stores only its digest, with the record's
/// expiry also set as the KV expiry. A failed write fails the request (no unusable token).
pub(super) async fn mint_refresh(
    app: &App,
    store: &impl Store,
    who: &Authenticated,
    service: &str,
    client_id: Option<&str>,
    secret: &[u8; 32],
    now: u64,
) -> Result<String, TokenError> {
    let token = encode_secret(REFRESH_PREFIX, secret);
    let ttl = app.settings.refresh_ttl;
    let record = RefreshRecord {
        account: who.account.clone(),
        service: service.to_string(),
        client_id: client_id.map(String::from),
        created: now,
        expires: now.saturating_add(ttl),
    };
    let key = format!("refresh:{}", secret_digest(&token));
    store
        .put(&key, &record.to_json(), Some(ttl))
        .await
        .map_err(|e| {
            TokenError::new(
                ErrorKind::Unavailable,
                format!(
                    "the refresh token could not be stored ({e}); nothing was issued, try again"
                ),
            )
        })?;
    Ok(token)
}
