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
//! - Workload identity federation: when the Basic / password-grant username is a trusted issuer's
//!   `username` (or `oidc`), the password is an OIDC identity token, verified by
//!   [`crate::federation`] against the issuer's keys; no `user:` record is involved.
//!
//! Every user is a `user:` record: disabling it stops passwords, API keys and refresh tokens.
//! Storage errors are 503 and malformed records 500; neither ever authenticates anyone.

use super::App;
use crate::credentials::{
    burn_equal_time, encode_secret, looks_like_api_key, parse_basic_authorization,
    parse_bearer_authorization, secret_digest, verify_password, ApiKeyRecord, RefreshRecord,
    UserRecord, API_KEY_PREFIX, REFRESH_PREFIX,
};
use crate::federation::{self, FailureKind, Fetch, Identity, Issuers, OIDC_USERNAME};
use crate::limits::{MAX_ACCOUNT_LEN, MAX_PASSWORD_LEN};
use crate::policy::{Acl, Principal};
use crate::protocol::request::{Grant, TokenRequest};
use crate::protocol::{ErrorKind, TokenError};
use crate::store::{Store, StoreError};
use std::rc::Rc;

/// Who a request authenticated as.
#[derive(Debug, Clone)]
pub(super) struct Authenticated {
    /// The user's account, or a workload's rendered subject.
    pub account: String,
    /// `None` for a workload.
    pub user: Option<Rc<UserRecord>>,
    /// password, api_key, refresh_token or oidc (for the audit line).
    pub via: &'static str,
    /// A federated workload's verified identity.
    pub identity: Option<Identity>,
    /// The Basic / password-grant username a workload logged in with (`account=` may name it).
    pub login: Option<String>,
}

impl Authenticated {
    fn user(account: String, user: Rc<UserRecord>, via: &'static str) -> Self {
        Authenticated {
            account,
            user: Some(user),
            via,
            identity: None,
            login: None,
        }
    }
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

/// The `issuers` record through the cache. No record: federation is off.
pub(super) async fn issuers(
    app: &App,
    store: &impl Store,
    now: u64,
) -> Result<Rc<Issuers>, TokenError> {
    if let Some(hit) = app.caches.borrow().issuers(now) {
        return Ok(hit);
    }
    let text = store.get("issuers").await.map_err(unavailable)?;
    let issuers = Rc::new(match text {
        Some(t) => {
            Issuers::from_json(&t).map_err(|e| malformed("issuers record (key 'issuers')", e))?
        }
        None => Issuers::default(),
    });
    app.caches
        .borrow_mut()
        .set_issuers(Rc::clone(&issuers), now);
    Ok(issuers)
}

/// The policy's view of who asked.
pub(super) fn principal(who: Option<&Authenticated>) -> Principal {
    match who {
        None => Principal::anonymous(),
        Some(Authenticated {
            identity: Some(id), ..
        }) => Principal::Workload {
            issuer: id.issuer.clone(),
            subject: id.subject.clone(),
            claims: id.claims.clone(),
        },
        Some(a) => match &a.user {
            Some(u) => Principal::user(&a.account, &u.groups, &u.labels),
            // Unreachable by construction (only workloads lack a user record); grant nothing.
            None => Principal::anonymous(),
        },
    }
}

/// Whether a password may be an identity token: JWT-shaped (`eyJ...` with two dots).
fn jwt_shaped(password: &str) -> bool {
    password.starts_with("eyJ") && password.bytes().filter(|b| *b == b'.').count() == 2
}

/// Whether this request presents an identity token to a trusted issuer (its username is an
/// issuer's `username` or `oidc`, and federation is on). The brute-force throttle skips those.
pub(super) async fn federated(
    app: &App,
    treq: &TokenRequest,
    authorization: Option<&str>,
    store: &impl Store,
    now: u64,
) -> bool {
    let basic;
    let (username, password) = match &treq.grant {
        Grant::Password { username, password } => (username.as_str(), password.expose()),
        Grant::Header => {
            let Some(b) = authorization.and_then(|h| parse_basic_authorization(h).ok()) else {
                return false;
            };
            basic = b;
            (basic.username.as_str(), basic.password.expose())
        }
        _ => return false,
    };
    if !jwt_shaped(password) && username != OIDC_USERNAME {
        return false;
    }
    issuers(app, store, now)
        .await
        .is_ok_and(|i| i.selects(username))
}

/// Username + password where the username may select a trusted issuer: then the password is an
/// identity token (workload federation), otherwise an ordinary password or API key.
#[allow(clippy::too_many_arguments)]
async fn login(
    app: &App,
    store: &impl Store,
    fetch: &impl Fetch,
    username: &str,
    password: &str,
    kind: ErrorKind,
    now: u64,
    ev_issuer: &mut Option<String>,
) -> Result<Authenticated, TokenError> {
    // An unreadable or malformed `issuers` record fails federated logins closed, but must not
    // break ordinary ones: only a JWT-shaped password or the reserved `oidc` can mean federation.
    let issuers = match issuers(app, store, now).await {
        Ok(i) => i,
        Err(_) if !jwt_shaped(password) && username != OIDC_USERNAME => {
            return password_login(app, store, username, password, kind, now).await
        }
        Err(e) => return Err(e),
    };
    if !issuers.selects(username) {
        if jwt_shaped(password) && password.len() > MAX_PASSWORD_LEN {
            // Say what is wrong rather than "password too long": this is a workload's token.
            return Err(TokenError::new(
                kind,
                format!(
                    "the password is an identity token, but no trusted issuer is configured for username '{}': \
                     use an issuer's username or 'oidc' (see the 'issuers' record)",
                    username.chars().filter(|c| !c.is_control()).take(64).collect::<String>()
                ),
            ));
        }
        return password_login(app, store, username, password, kind, now).await;
    }
    match federation::authenticate(&issuers, username, password, &app.jwks, fetch, now).await {
        Ok(id) => {
            *ev_issuer = Some(id.issuer.clone());
            Ok(Authenticated {
                account: id.subject.clone(),
                user: None,
                via: "oidc",
                identity: Some(id),
                login: Some(username.to_string()),
            })
        }
        Err(e) => {
            *ev_issuer = e.issuer.clone();
            Err(match e.kind {
                FailureKind::Unauthorized => TokenError::new(kind, e.message),
                FailureKind::Unavailable => TokenError::new(ErrorKind::Unavailable, e.message),
            })
        }
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
    if password.len() > MAX_PASSWORD_LEN {
        return Err(TokenError::new(
            ErrorKind::InvalidRequest,
            format!("the password is longer than {MAX_PASSWORD_LEN} bytes"),
        ));
    }
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
    Ok(Authenticated::user(account.to_string(), record, "password"))
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
    // ---- SIGN-IN HOOK (issue 14) ----: personal credentials from the sign-in page (`tgp_`).
    if crate::signin::credentials::is_personal(key) {
        return personal_login(app, store, key, expected, kind, now).await;
    }
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
    Ok(Authenticated::user(account, user, "api_key"))
}

/// ---- SIGN-IN HOOK (issue 14) ----
/// A personal credential made on the sign-in page: `personal:<digest>` (never cached, so a revoke
/// takes effect as soon as KV has propagated the delete), owned by `expected` when a username
/// came with it. Its account needs no `user:` record, but one that exists and is disabled blocks
/// it; the record's IdP groups (and the user record's groups and labels) reach the ACL.
async fn personal_login(
    app: &App,
    store: &impl Store,
    key: &str,
    expected: Option<&str>,
    kind: ErrorKind,
    now: u64,
) -> Result<Authenticated, TokenError> {
    use crate::signin::credentials::{login_user, parse_record, record_key};
    let Some(text) = store
        .get(&record_key(&secret_digest(key)))
        .await
        .map_err(unavailable)?
    else {
        return Err(TokenError::new(
            kind,
            "unknown, expired or revoked credential: make a new one on the sign-in page",
        ));
    };
    let record = parse_record(&text).map_err(|e| malformed("personal credential record", e))?;
    let local = user(app, store, &record.account, now).await?;
    let merged = login_user(&record, local.as_deref(), expected, now)
        .map_err(|m| TokenError::new(kind, m))?;
    Ok(Authenticated::user(
        record.account,
        Rc::new(merged),
        "personal",
    ))
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
    Ok(Authenticated::user(record.account, user, "refresh_token"))
}

/// Authenticates a token request. `Ok(None)`: anonymous (GET without credentials only).
/// `ev_issuer` receives the trusted issuer's name once a workload's token selected one.
#[allow(clippy::too_many_arguments)]
pub(super) async fn authenticate(
    app: &App,
    treq: &TokenRequest,
    authorization: Option<&str>,
    service: &str,
    store: &impl Store,
    fetch: &impl Fetch,
    now: u64,
    ev_issuer: &mut Option<String>,
) -> Result<Option<Authenticated>, TokenError> {
    let kind = refusal(&treq.grant);
    match &treq.grant {
        Grant::Password { username, password } => login(
            app,
            store,
            fetch,
            username,
            password.expose(),
            kind,
            now,
            ev_issuer,
        )
        .await
        .map(Some),
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
                login(
                    app,
                    store,
                    fetch,
                    &basic.username,
                    basic.password.expose(),
                    kind,
                    now,
                    ev_issuer,
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
