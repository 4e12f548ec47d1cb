//! Authentication: checks the credential [`super::credential::classify`] found, against the KV
//! records behind it, through the isolate caches.
//!
//! - Password: `user:<account>`, bcrypt checked once and then remembered in the keyed
//!   verified-credential cache (bcrypt costs tens of milliseconds in wasm; a docker push asks for
//!   several tokens in a row). Unknown users and users without a password cost the same bcrypt
//!   time, so timing does not reveal which accounts exist. [`check_password`] is the ONLY way to
//!   a password check, and it consults and feeds the brute-force throttle, whichever endpoint,
//!   grant type or proxy path presented the password.
//! - API key: `apikey:<sha256>`, whose account must be the username when there is one.
//! - Personal credential (an API key made on the sign-in page, issue 14): `personal:<sha256>`
//!   (cached for `CACHE_TTL` like API keys; a revoke on the sign-in page drops it from its
//!   isolate's cache at once), owned by the username when there is one. Its account needs no `user:` record, but a disabled one blocks
//!   it; the IdP groups kept in the record reach the ACL. It never mints a refresh token (no
//!   `credential` to bind one to), so revoking it ends every login made with it.
//! - Refresh token: `refresh:<sha256>` (cached for `CACHE_TTL`, so deleting it revokes it within
//!   that), bound to account, service and the credential that minted it (a fingerprint of the
//!   password hash, or the API key's digest): a changed password, a revoked or expired key, or the
//!   operator's `refresh_revoked_before` on the user ends it, within `CACHE_TTL`.
//!
//! KV round trips: `classify` reads every record it can name together (one round trip on a cold
//! isolate), from the username or from the untrusted hint a credential Tollgate mints carries
//! (its account, and the API key a refresh token came from; `credentials::read_hint`). A record
//! that names another account than its credential's hint is refused as unknown. A Bearer API
//! key's or a refresh token's account without a hint (minted before hints) is named only by its
//! record, so its `user:` record (with a refresh token's API key) is a second round trip. A warm
//! isolate reads nothing. `tests/round_trips.rs` counts them per kind, `tests/hints.rs` checks
//! that a hint grants nothing.
//! - Workload identity token: verified by [`crate::federation`] against the issuer's keys; no
//!   `user:` record is involved.
//!
//! - Network binding (issue 16): an API key's `net` binding, and the refresh tokens minted from
//!   it, admit only clients from its networks / countries; checked in [`authenticate`].
//!
//! Every user is a `user:` record: disabling it stops passwords, API keys and refresh tokens.
//! Storage errors are 503 and malformed records 500; neither ever authenticates anyone.

use super::auth_error::AuthError;
use super::cache::{Caches, Parsed, Records};
use super::credential::Presented;
use super::remembered::{HeaderTag, Remembered};
use super::throttle::Attempt;
use super::{RequestContext, TokenService};
use crate::credentials::{
    burn_equal_time, encode_credential, secret_digest, valid_account, verify_password,
    ApiKeyRecord, Hint, RefreshRecord, UserRecord, API_KEY_PREFIX, REFRESH_PREFIX,
};
use crate::federation::{self, FailureKind, Fetch, Identity, Issuers};
use crate::limits::MAX_PASSWORD_LEN;
use crate::netbind::NetBinding;
use crate::out_of_line::out_of_line;
use crate::policy::{Acl, Principal};
use crate::store::Store;
use std::borrow::Cow;
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
    /// The credential a refresh token minted now would be bound to (see
    /// [`password_fingerprint`]); `None`: no refresh token may be minted (workloads, personal
    /// credentials).
    pub credential: Option<String>,
    /// The network binding of the API key (or of the key a refresh token was minted with):
    /// checked in [`authenticate`], carried by refresh records and as the token's `net` claim.
    pub net: Option<NetBinding>,
    /// The API key's name, for the audit line (`tollgate audit` joins on it, issue 16).
    pub key_name: Option<String>,
}

impl Authenticated {
    fn user(account: String, user: Rc<UserRecord>, via: &'static str, credential: String) -> Self {
        Authenticated {
            account,
            user: Some(user),
            via,
            identity: None,
            login: None,
            credential: Some(credential),
            net: None,
            key_name: None,
        }
    }

    /// Carries a credential's network binding (an empty one binds nothing).
    fn bound(mut self, net: Option<NetBinding>) -> Self {
        self.net = net.filter(|n| !n.is_unbound());
        self
    }
}

/// What a refresh token is bound to: `password:<sha256 of the stored bcrypt hash>` (a new
/// password is a new hash) or `apikey:<sha256 of the key>` (the key's record must still exist).
fn password_fingerprint(hash: &str) -> String {
    ["password:", &secret_digest(hash)].concat()
}

fn api_key_fingerprint(digest: &str) -> String {
    ["apikey:", digest].concat()
}

/// Parses a record's stored text for [`cached`]: `None` text for no record. Its `Ok(None)` (no
/// such record) is not cached; a value it gives for a missing record (the empty ACL) is.
type Parse<'p> = &'p dyn Fn(Option<&str>) -> Result<Option<Parsed>, AuthError>;

/// The record under KV `key` through its isolate cache (`pick` selects it): a fresh cached copy,
/// else the request's read (read ahead with the others where possible), parsed and cached for
/// `CACHE_TTL`. Type-erased ([`Parsed`]), so that this state machine, the cache lookup and the
/// insert are compiled once for every record type: each reader's [`typed`] downcasts.
async fn cached<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    key: &str,
    pick: fn(&mut Caches) -> &mut Records,
    parse: Parse<'_>,
) -> Result<Option<Parsed>, AuthError> {
    let now = ctx.now;
    if let Some(hit) = pick(&mut app.caches.borrow_mut()).get(key, now) {
        return Ok(Some(Rc::clone(hit)));
    }
    let text = ctx.read(key).await.map_err(AuthError::store)?;
    let Some(record) = parse(text.as_deref())? else {
        return Ok(None);
    };
    let mut caches = app.caches.borrow_mut();
    let until = caches.until(now);
    pick(&mut caches).insert(key.to_string(), Rc::clone(&record), until, now);
    Ok(Some(record))
}

/// A record [`cached`] found, as the one type its cache holds. Every cache is filled only by
/// its reader here, with that type, so the downcast cannot fail; if it ever did, the record
/// counts as malformed (nothing is granted), never as missing.
fn typed<V: 'static>(found: Option<Parsed>) -> Result<Option<Rc<V>>, AuthError> {
    found
        .map(|r| {
            r.downcast::<V>()
                .map_err(|_| AuthError::Broken("an isolate cache held another record type".into()))
        })
        .transpose()
}

/// A parser for [`cached`] of a record that may be missing (`None`: not found, never cached).
fn record<V: 'static>(
    parse: impl Fn(&str) -> Result<V, AuthError>,
) -> impl Fn(Option<&str>) -> Result<Option<Parsed>, AuthError> {
    move |t| Ok(t.map(&parse).transpose()?.map(|v| Rc::new(v) as Parsed))
}

/// A parser for [`cached`] of a record whose absence means its default (the empty ACL, no
/// issuers): the default is cached like a stored value.
fn or_default<V: Default + 'static>(
    parse: impl Fn(&str) -> Result<V, AuthError>,
) -> impl Fn(Option<&str>) -> Result<Option<Parsed>, AuthError> {
    move |t| {
        Ok(Some(
            Rc::new(t.map_or_else(|| Ok(V::default()), &parse)?) as Parsed
        ))
    }
}

/// `user:<account>` through the cache and the shared validator (also sign-in's only way to read
/// one). `None`: no such user.
pub(crate) async fn user<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    account: &str,
) -> Result<Option<Rc<UserRecord>>, AuthError> {
    let key = user_key(account);
    // The message is built only for a malformed record (this runs on every request).
    let broken = |e: &dyn std::fmt::Display| AuthError::broken(&format!("record {key}"), e);
    let parse = record(|t| UserRecord::from_json(t).map_err(|e| broken(&e)));
    let found = cached(app, ctx, &key, |c| &mut c.users, &parse).await?;
    let Some(record) = typed::<UserRecord>(found)? else {
        return Ok(None);
    };
    // The CLI's own validator (crate::validate): a hash over the cost cap or with a bad alphabet,
    // or a name federation takes over, is a malformed record. An unreadable `issuers` record is
    // not this record's fault: federated logins fail on it, ordinary ones must not.
    let issuers = issuers(app, ctx).await.unwrap_or_default();
    crate::validate::stored_user(account, &record, &issuers).map_err(|e| broken(&e))?;
    Ok(Some(record))
}

// The record keys are joined with `concat`, not `format!`: every token request builds them, and
// the formatting machinery showed in a warm token's profile (bench/README.md, "Steady state").

pub(super) fn user_key(account: &str) -> String {
    ["user:", account].concat()
}

pub(super) fn api_key_key(digest: &str) -> String {
    ["apikey:", digest].concat()
}

/// `refresh:<digest>`, `digest` the token's SHA-256.
pub(super) fn refresh_key(digest: &str) -> String {
    ["refresh:", digest].concat()
}

/// `apikey:<digest>` through the cache.
async fn api_key_record<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    digest: &str,
) -> Result<Option<Rc<ApiKeyRecord>>, AuthError> {
    let parse =
        record(|t| ApiKeyRecord::from_json(t).map_err(|e| AuthError::broken("API key record", e)));
    typed(cached(app, ctx, &api_key_key(digest), |c| &mut c.apikeys, &parse).await?)
}

/// The ACL through the cache. No `acl` record: the empty ACL, which grants nothing.
pub(super) async fn acl<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
) -> Result<Rc<Acl>, AuthError> {
    let parse =
        or_default(|t| Acl::from_json(t).map_err(|e| AuthError::broken("ACL (key 'acl')", e)));
    let found = cached(app, ctx, ACL_KEY, |c| &mut c.acl, &parse).await?;
    Ok(typed(found)?.unwrap_or_default())
}

/// The `issuers` record through the cache. No record: federation is off.
pub(super) async fn issuers<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
) -> Result<Rc<Issuers>, AuthError> {
    let parse = or_default(|t| {
        Issuers::from_json(t).map_err(|e| AuthError::broken("issuers record (key 'issuers')", e))
    });
    let found = cached(app, ctx, ISSUERS_KEY, |c| &mut c.issuers, &parse).await?;
    Ok(typed(found)?.unwrap_or_default())
}

/// Reads together those of `keys` that are not fresh in the isolate caches (nothing at all on a
/// warm isolate): see [`RequestContext::read_together`]. Keys may be borrowed (`acl`,
/// `issuers`): a warm request then allocates none of them.
pub(super) async fn read_ahead<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    mut keys: Vec<Cow<'static, str>>,
) {
    {
        let caches = app.caches.borrow();
        keys.retain(|k| !caches.fresh(k, ctx.now));
    }
    ctx.read_together(keys.into_iter().map(Cow::into_owned).collect())
        .await;
}

pub(super) const ACL_KEY: &str = "acl";
pub(super) const ISSUERS_KEY: &str = "issuers";

/// The policy's view of who asked.
pub(super) fn principal(who: Option<&Authenticated>) -> Principal<'_> {
    match who {
        None => Principal::anonymous(),
        Some(Authenticated {
            identity: Some(id), ..
        }) => Principal::workload(&id.issuer, &id.subject, &id.claims),
        Some(a) => match &a.user {
            Some(u) => Principal::user(&a.account, &u.groups, &u.labels),
            // Unreachable by construction (only workloads lack a user record); grant nothing.
            None => Principal::anonymous(),
        },
    }
}

/// Checks what [`super::credential::classify`] found. `Ok(None)`: anonymous. `ev_issuer`
/// receives the trusted issuer's name once a workload's token selected one.
///
/// A network-bound credential (issue 16) used from outside its networks or countries
/// (`ctx.client_net()`) is refused here, after the credential itself checked out, so the token
/// endpoint and the proxy's Basic path enforce the binding in the same place.
pub(super) async fn authenticate<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    presented: &Presented,
    service: &str,
    ev_issuer: &mut Option<String>,
) -> Result<Option<Rc<Authenticated>>, AuthError> {
    let who = check(app, ctx, presented, service, ev_issuer).await?;
    if let Some(who) = &who {
        crate::netbind::admit(who.net.as_ref(), || ctx.client_net()).map_err(|refusal| {
            AuthError::Network {
                refusal,
                account: who.account.clone(),
                via: who.via,
                key_name: who.key_name.clone(),
            }
        })?;
    }
    Ok(who)
}

/// The check for each kind of credential, each out of line: a new isolate's first request
/// compiles only the branch it takes ([`crate::out_of_line`]). Shared (`Rc`): a remembered
/// login hands out the answer it keeps without copying its strings.
async fn check<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    presented: &Presented,
    service: &str,
    ev_issuer: &mut Option<String>,
) -> Result<Option<Rc<Authenticated>>, AuthError> {
    match presented {
        Presented::Anonymous => Ok(None),
        Presented::Password { username, password } => {
            out_of_line(check_password(app, ctx, username, password.expose()))
                .await
                .map(shared)
        }
        Presented::ApiKey {
            username,
            key,
            digest,
            personal: false,
            hint,
            bearer,
            header_tag,
        } => {
            let owner = Owner::new(username.as_deref(), hint.as_ref());
            let remember_as = header_tag.map(|tag| (tag, *bearer));
            out_of_line(api_key_login(
                app,
                ctx,
                key.expose(),
                digest,
                owner,
                remember_as,
            ))
            .await
            .map(Some)
        }
        Presented::Remembered(r) => Ok(Some(Rc::clone(&r.who))),
        Presented::ApiKey {
            username,
            digest,
            personal: true,
            hint,
            ..
        } => {
            let owner = Owner::new(username.as_deref(), hint.as_ref());
            out_of_line(personal_login(app, ctx, digest, owner))
                .await
                .map(shared)
        }
        Presented::RefreshToken {
            token,
            digest,
            hint,
        } => out_of_line(refresh_login(
            app,
            ctx,
            token.expose(),
            digest,
            hint.as_ref(),
            service,
        ))
        .await
        .map(shared),
        Presented::IdentityToken { username, token } => out_of_line(workload_login(
            app,
            ctx,
            username,
            token.expose(),
            service,
            ev_issuer,
        ))
        .await
        .map(shared),
    }
}

/// A check's answer as [`check`] hands it out.
fn shared(who: Authenticated) -> Option<Rc<Authenticated>> {
    Some(Rc::new(who))
}

/// THE password check: every password, from any endpoint, grant type or the proxy's Basic
/// path, is checked here and nowhere else. Refused with 429 before any KV read or bcrypt while
/// the account or client address is throttled; a failure is counted.
pub(super) async fn check_password<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    username: &str,
    password: &str,
) -> Result<Authenticated, AuthError> {
    let attempt = Attempt::password(username, ctx.client_ip);
    let check = password_login(app, ctx, username, password);
    app.throttle.guard(&attempt, ctx.now, check).await
}

/// The bcrypt check behind [`check_password`] (private: nothing else may call it).
async fn password_login<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    account: &str,
    password: &str,
) -> Result<Authenticated, AuthError> {
    if password.len() > MAX_PASSWORD_LEN {
        if super::credential::jwt_shaped(password) {
            // Say what is wrong rather than "password too long": this is a workload's token.
            return Err(AuthError::Rejected(format!(
                "the password is an identity token, but no trusted issuer is configured for username '{}': \
                 use an issuer's username or 'oidc' (see the 'issuers' record)",
                account.chars().filter(|c| !c.is_control()).take(64).collect::<String>()
            )));
        }
        return Err(AuthError::Malformed(format!(
            "the password is longer than {MAX_PASSWORD_LEN} bytes"
        )));
    }
    let wrong = || AuthError::Rejected("incorrect username or password".into());
    if !valid_account(account) {
        burn_equal_time(password);
        return Err(wrong());
    }
    let Some(record) = user(app, ctx, account).await? else {
        burn_equal_time(password);
        return Err(wrong());
    };
    let Some(hash) = record.password.as_deref() else {
        burn_equal_time(password);
        return Err(wrong());
    };
    let now = ctx.now;
    let cached = {
        let verified = &mut app.caches.borrow_mut().verified;
        verified.draw_key(|| ctx.random::<32>());
        verified.contains(account, password, hash, now)
    };
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
        return Err(AuthError::Rejected(format!(
            "account '{account}' is disabled"
        )));
    }
    let credential = password_fingerprint(hash);
    Ok(Authenticated::user(
        account.to_string(),
        record,
        "password",
        credential,
    ))
}

/// Who the request says an API key or personal credential belongs to.
#[derive(Clone, Copy)]
struct Owner<'a> {
    /// The Basic / password-grant username: a record of another account is "not yours".
    username: Option<&'a str>,
    /// The account the credential's hint names (`credentials::read_hint`). A credential Tollgate
    /// minted names its record's account; a record of any other is refused as unknown.
    hinted: Option<&'a str>,
}

impl<'a> Owner<'a> {
    fn new(username: Option<&'a str>, hint: Option<&'a Hint>) -> Self {
        Owner {
            username,
            hinted: hint.map(|h| h.account.as_str()),
        }
    }

    /// The owner a refresh token's record names, for the API key it was minted from.
    fn account(account: &'a str) -> Self {
        Owner {
            username: Some(account),
            hinted: None,
        }
    }

    /// Whether the hint names another account than the record: fail closed, as if unknown.
    fn hint_disagrees(&self, account: &str) -> bool {
        self.hinted.is_some_and(|h| h != account)
    }
}

/// The API key's record `found` (through [`api_key_record`]) if it is live and owned by
/// `owner`. Plain code rather than an async reader of its own: one state machine fewer for a
/// new isolate's first API-key request to compile.
fn live_api_key(
    found: Option<Rc<ApiKeyRecord>>,
    owner: Owner<'_>,
    now: u64,
) -> Result<Rc<ApiKeyRecord>, AuthError> {
    let unknown = || AuthError::Rejected("unknown or revoked API key".into());
    let Some(record) = found else {
        return Err(unknown());
    };
    // Before anything about the record is said (its name, expiry or account).
    if owner.hint_disagrees(&record.account) {
        return Err(unknown());
    }
    if record.expires.is_some_and(|t| t <= now) {
        return Err(AuthError::Rejected(format!(
            "the API key '{}' has expired",
            record.name
        )));
    }
    if let Some(expected) = owner.username {
        if expected != record.account {
            return Err(AuthError::Rejected(format!(
                "the API key does not belong to account '{expected}'"
            )));
        }
    }
    Ok(record)
}

/// The user record `found` of `account` (through [`user`]) if it exists and is enabled; `gone`
/// words the refusal of a missing one.
fn enabled(
    found: Option<Rc<UserRecord>>,
    account: &str,
    gone: impl FnOnce() -> AuthError,
) -> Result<Rc<UserRecord>, AuthError> {
    let Some(user) = found else {
        return Err(gone());
    };
    if user.disabled {
        return Err(AuthError::Rejected(format!(
            "account '{account}' is disabled"
        )));
    }
    Ok(user)
}

/// An API key (`digest`: its SHA-256) of `owner`; with `remember_as` (the Authorization header's
/// tag and whether it was `Bearer`) a success is remembered for that header.
async fn api_key_login<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    key: &str,
    digest: &str,
    owner: Owner<'_>,
    remember_as: Option<(HeaderTag, bool)>,
) -> Result<Rc<Authenticated>, AuthError> {
    if !key.starts_with(API_KEY_PREFIX) {
        return Err(AuthError::Rejected("unknown or revoked API key".into()));
    }
    let record = live_api_key(api_key_record(app, ctx, digest).await?, owner, ctx.now)?;
    let account = record.account.clone();
    let user = enabled(user(app, ctx, &account).await?, &account, || {
        AuthError::Rejected(format!(
            "the account '{account}' of this API key no longer exists"
        ))
    })?;
    let mut who = Authenticated::user(account, user, "api_key", api_key_fingerprint(digest))
        .bound(record.net.clone());
    who.key_name = Some(record.name.clone());
    let who = Rc::new(who);
    if let Some(tag) = remember_as {
        remember(app, ctx.now, tag, &who, &record, digest);
    }
    Ok(who)
}

/// Remembers `who`, the answer for an operator's API key (`digest`) sent in the header tagged
/// `tag`, until the first of the records the check read leaves the isolate caches or the key
/// expires (`remembered.rs`). A record not cached (`CACHE_TTL=0`, an unreadable `issuers`)
/// keeps nothing.
fn remember(
    app: &TokenService,
    now: u64,
    (tag, bearer): (HeaderTag, bool),
    who: &Rc<Authenticated>,
    key: &ApiKeyRecord,
    digest: &str,
) {
    let mut caches = app.caches.borrow_mut();
    let (api_key, user) = (api_key_key(digest), user_key(&who.account));
    let until = [api_key.as_str(), user.as_str(), ISSUERS_KEY]
        .into_iter()
        .map(|k| caches.deadline(k, now))
        .try_fold(key.expires.unwrap_or(u64::MAX), |soonest, t| {
            t.map(|t| soonest.min(t))
        });
    if let Some(until) = until {
        let remembered = Remembered {
            who: Rc::clone(who),
            bearer,
        };
        caches.remembered.remember(tag, remembered, until, now);
    }
}

/// A personal credential made on the sign-in page (`digest`: its SHA-256) of `owner`. Not
/// throttled: like an API key it carries 256 random bits.
async fn personal_login<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    digest: &str,
    owner: Owner<'_>,
) -> Result<Authenticated, AuthError> {
    use crate::signin::credentials::{login_user, parse_record, record_key, PersonalRecord};
    let parse =
        record(|t| parse_record(t).map_err(|e| AuthError::broken("personal credential record", e)));
    let key = record_key(digest);
    let found = cached(app, ctx, &key, |c| &mut c.personal, &parse).await?;
    let Some(record) =
        typed::<PersonalRecord>(found)?.filter(|r| !owner.hint_disagrees(&r.account))
    else {
        return Err(AuthError::Rejected(
            "unknown, expired or revoked credential: make a new one on the sign-in page".into(),
        ));
    };
    let local = user(app, ctx, &record.account).await?;
    let merged = login_user(&record, local.as_deref(), owner.username, ctx.now)
        .map_err(AuthError::Rejected)?;
    Ok(Authenticated {
        // Named in the audit line and the pull ledger, like an API key's name.
        key_name: Some(record.name.clone()),
        account: record.account.clone(),
        user: Some(Rc::new(merged)),
        via: "personal",
        identity: None,
        login: None,
        credential: None,
        // Personal credentials carry no network binding (sign-in page keys are not bound yet).
        net: None,
    })
}

/// A browser sign-in's answer from the identity provider (`crate::signin`), under the same
/// throttle as [`check_password`]: refused with 429 while the client address is throttled (by
/// password failures or failed sign-ins alike), and a refusal is counted. Without a client
/// address there is nothing to key the throttle on.
pub(crate) async fn check_sign_in<S: Store, F: Fetch, T>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    check: impl std::future::Future<Output = Result<T, AuthError>>,
) -> Result<T, AuthError> {
    let Some(ip) = ctx.client_ip else {
        return check.await;
    };
    let attempt = Attempt::password(&format!("signin:{ip}"), Some(ip));
    app.throttle.guard(&attempt, ctx.now, check).await
}

/// A new device code (RFC 8628, `crate::signin::device`) from the client address, counted by
/// the same limiter as failed logins but under its own key, so making codes never locks anyone
/// out of password logins (and failed logins do not stop codes). Without an address: not counted.
pub(crate) async fn count_device_code<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
) -> Result<(), AuthError> {
    let Some(ip) = ctx.client_ip else {
        return Ok(());
    };
    let key = super::throttle::ip_key(ip);
    let attempt = Attempt::password(&format!("device-code:{key}"), None);
    app.throttle.count(&attempt, ctx.now).await
}

/// The hex digest of the API key in a refresh token's binding (`"credential":"apikey:<hex>"`);
/// `None`: bound to a password, or to nothing.
fn bound_api_key(credential: Option<&str>) -> Option<&str> {
    credential.and_then(|c| c.strip_prefix("apikey:"))
}

/// A refresh token (`digest`: its SHA-256), checked against its record, the user, and the
/// credential that minted it. `hint`: the account and API key the token names (untrusted).
async fn refresh_login<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    token: &str,
    digest: &str,
    hint: Option<&Hint>,
    service: &str,
) -> Result<Authenticated, AuthError> {
    let invalid = |why: &str| AuthError::Rejected(format!("the refresh token {why}: log in again"));
    if !token.starts_with(REFRESH_PREFIX) {
        return Err(invalid("is not one Tollgate issued"));
    }
    let parse = record(|t| {
        RefreshRecord::from_json(t).map_err(|e| AuthError::broken("refresh token record", e))
    });
    let key = refresh_key(digest);
    let found = typed::<RefreshRecord>(cached(app, ctx, &key, |c| &mut c.refresh, &parse).await?)?;
    // A token Tollgate minted names its record's account and API key exactly: any other hint is
    // refused as unknown, before anything about the record is said.
    let agrees = |r: &RefreshRecord| {
        hint.is_none_or(|h| {
            h.account == r.account && h.api_key.as_deref() == bound_api_key(r.credential.as_deref())
        })
    };
    let Some(record) = found.filter(|r| agrees(r)) else {
        return Err(invalid("is unknown, expired or revoked"));
    };
    if record.expires <= ctx.now {
        return Err(invalid("has expired"));
    }
    if record.service != service {
        return Err(invalid(&format!(
            "was issued for service '{}', not '{service}'",
            record.service
        )));
    }
    let account = record.account.as_str();
    // Without a hint (a token minted before hints), the account and the API key behind the token
    // are known only now: one more round trip, for both together. With one, both were read ahead.
    let mut next = vec![Cow::from(user_key(account))];
    next.extend(
        bound_api_key(record.credential.as_deref())
            .map(api_key_key)
            .map(Cow::from),
    );
    read_ahead(app, ctx, next).await;
    let Some(user) = user(app, ctx, account).await? else {
        return Err(invalid("belongs to an account that no longer exists"));
    };
    if user.disabled {
        return Err(invalid(&format!(
            "belongs to account '{account}', which is disabled"
        )));
    }
    if user
        .refresh_revoked_before
        .is_some_and(|t| record.created < t)
    {
        return Err(invalid(&format!(
            "was revoked: the operator revoked the refresh tokens of account '{account}'"
        )));
    }
    let Some(credential) = record.credential.as_deref() else {
        return Err(invalid(
            "was minted before refresh tokens were bound to the credential behind them",
        ));
    };
    if let Some(fp) = bound_api_key(Some(credential)) {
        let found = api_key_record(app, ctx, fp).await?;
        live_api_key(found, Owner::account(account), ctx.now).map_err(|e| match e {
            AuthError::Rejected(_) => {
                invalid("came from an API key that was revoked or has expired")
            }
            other => other,
        })?;
    } else {
        let current = user.password.as_deref().map(password_fingerprint);
        if current.as_deref() != Some(credential) {
            return Err(invalid(
                "came from a password that has changed since (or an unknown credential)",
            ));
        }
    }
    let credential = credential.to_string();
    Ok(
        Authenticated::user(record.account.clone(), user, "refresh_token", credential)
            .bound(record.net.clone()),
    )
}

/// A workload's identity token, for a trusted issuer selected by `username`, which must be
/// allowed to obtain tokens for `service`.
async fn workload_login<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    username: &str,
    token: &str,
    service: &str,
    ev_issuer: &mut Option<String>,
) -> Result<Authenticated, AuthError> {
    if !super::credential::jwt_shaped(token) {
        // A password, not an identity token, under a name federation takes: if a local user of
        // that name exists, say so (a 500 naming the conflict) rather than a puzzling 401.
        user(app, ctx, username).await?;
    }
    let issuers = issuers(app, ctx).await?;
    let id =
        match federation::authenticate(&issuers, username, token, &app.jwks, ctx.fetch, ctx.now)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                *ev_issuer = e.issuer.clone();
                return Err(match e.kind {
                    FailureKind::Unauthorized => AuthError::Rejected(e.message),
                    FailureKind::Unavailable => AuthError::Unavailable(e.message),
                });
            }
        };
    *ev_issuer = Some(id.issuer.clone());
    if !issuers.allows_service(&id.issuer, service) {
        return Err(AuthError::Rejected(format!(
            "trusted issuer '{}' may not obtain tokens for service '{service}' (its 'services' in the issuers record)",
            id.issuer
        )));
    }
    Ok(Authenticated {
        account: id.subject.clone(),
        user: None,
        via: "oidc",
        identity: Some(id),
        login: Some(username.to_string()),
        credential: None,
        net: None,
        key_name: None,
    })
}

/// Mints a refresh token for `who` on `service`, bound to the credential `who` presented:
/// stores only its digest, with the record's expiry also set as the KV expiry. A failed write
/// fails the request (no unusable token).
pub(super) async fn mint_refresh<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    who: &Authenticated,
    service: &str,
    client_id: Option<&str>,
    secret: &[u8; 32],
) -> Result<String, AuthError> {
    // Hinted with the account and the API key it is bound to: its refresh grants read every
    // record in one round trip (`credentials::read_hint`).
    let api_key = bound_api_key(who.credential.as_deref());
    let token = encode_credential(REFRESH_PREFIX, secret, &who.account, api_key);
    let ttl = app.settings.refresh_ttl;
    let record = RefreshRecord {
        account: who.account.clone(),
        service: service.to_string(),
        client_id: client_id.map(String::from),
        created: ctx.now,
        expires: ctx.now.saturating_add(ttl),
        credential: who.credential.clone(),
        net: who.net.clone(),
    };
    let key = refresh_key(&secret_digest(&token));
    ctx.store
        .put(&key, &record.to_json(), Some(ttl))
        .await
        .map_err(|e| {
            AuthError::Unavailable(format!(
                "the refresh token could not be stored ({e}); nothing was issued, try again"
            ))
        })?;
    // Written through: docker's first refresh grant usually follows at once, in this isolate.
    let mut caches = app.caches.borrow_mut();
    let until = caches.until(ctx.now);
    caches.refresh.insert(key, Rc::new(record), until, ctx.now);
    Ok(token)
}
