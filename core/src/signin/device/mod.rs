//! Device login: the OAuth 2.0 Device Authorization Grant (RFC 8628). A command-line client
//! (`docker-credential-tollgate`, `tollgate login`) asks for a code, the person approves it on
//! `/device` behind the browser sign-in, and the client's polling of the token endpoint then
//! yields a short-lived personal credential (`super::credentials`) bound to that person.
//!
//! This module holds the codes, the stored state and its state machine; `routes` answers the
//! HTTP requests and `page` renders the approval pages (tests: `signin/tests/device.rs`, beside
//! the sign-in tests whose fake provider they sign in with).
//!
//! - The device code is `tgd_` + 256 random bits. Only its SHA-256 is stored:
//!   `device:<digest>` holds a [`DeviceRecord`], with a KV expiry a little past the code's own so
//!   a late poll hears `expired_token` rather than `invalid_grant`.
//! - The user code is 8 letters of RFC 8628 6.1's alphabet (`BCDFGHJKLMNPQRSTVWXZ`: no vowels,
//!   no look-alikes; 20^8 ~ 2^34.6), shown `XXXX-XXXX`. `device-user:<sha256 of the code>` points
//!   at the device record until the person approves or denies, then it is deleted (single use).
//! - States: pending -> approved | denied (by the person) -> consumed (the one successful
//!   exchange). Expiry is checked against the record's own `expires`, never only KV's.
//! - Polling faster than the interval answers `slow_down` and adds 5 s to the interval, which
//!   is stored with the record (RFC 8628 3.5).
//! - The credential is made at the exchange, not at approval, so it exists only in the one
//!   response that carries it: nothing stores it in clear.

pub mod page;
mod routes;

use super::credentials::{self, CredentialError, NewPersonal};
use super::person::Person;
use crate::credentials::{constant_time_eq, encode_secret, secret_digest};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

pub use routes::{is_device_grant, return_path};

/// The grant type a client polls the token endpoint with.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 6.1: consonants only, so no code spells a word and none reads as a digit.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const USER_CODE_LEN: usize = 8;
pub const DEVICE_CODE_PREFIX: &str = "tgd_";
/// Bytes of a `client_id`.
pub const MAX_CLIENT_ID_LEN: usize = 64;
/// Bytes of a typed user code (spaces and dashes included).
const MAX_USER_CODE_INPUT: usize = 32;
/// Bytes of a presented device code (`tgd_` + 43).
const MAX_DEVICE_CODE_LEN: usize = 64;
/// Seconds a record outlives its code, so late polls are told `expired_token`.
const GRACE: u64 = 600;
/// RFC 8628 3.5: each `slow_down` adds 5 seconds to the interval.
pub const SLOW_DOWN_STEP: u64 = 5;
/// The interval never grows past this (a client that keeps hammering just keeps hearing
/// `slow_down`).
const MAX_INTERVAL: u64 = 120;
/// KV's shortest expiry.
const KV_MIN_TTL: u64 = 60;

/// Whether a `client_id` is acceptable: 1-64 of `[A-Za-z0-9._-]`, so it can be shown anywhere.
pub fn valid_client_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CLIENT_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
}

/// The 8 letters of a typed user code: case-insensitive, spaces and dashes ignored. `None`
/// when it cannot be a user code.
pub fn normalize_user_code(input: &str) -> Option<String> {
    if input.len() > MAX_USER_CODE_INPUT {
        return None;
    }
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// `BCDF-GHJK`, as shown and as it goes into `verification_uri_complete`.
pub fn display_user_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

/// A user code from random bytes, uniform over the alphabet: bytes of 240 and up are skipped
/// (240 = 12 * 20), so no letter is likelier than another. `None` in the (2^-100-ish) case that
/// 32 bytes held fewer than 8 usable ones.
fn user_code(random: &[u8; 32]) -> Option<String> {
    let code: String = random
        .iter()
        .filter(|b| **b < 240)
        .take(USER_CODE_LEN)
        .map(|b| USER_CODE_ALPHABET[usize::from(*b) % USER_CODE_ALPHABET.len()] as char)
        .collect();
    (code.len() == USER_CODE_LEN).then_some(code)
}

pub fn record_key(device_digest: &str) -> String {
    format!("device:{device_digest}")
}

/// The index from a (normalized) user code to its device record. Hashed like everything else
/// that names a secret, although a user code alone grants nothing.
pub fn user_key(code: &str) -> String {
    user_index(&secret_digest(code))
}

fn user_index(code_digest: &str) -> String {
    format!("device-user:{code_digest}")
}

/// Who approved, as the session knew them at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub account: String,
    pub provider: String,
    pub groups: Vec<String>,
    /// When (Unix seconds).
    pub at: u64,
}

/// Where a device code stands. Read through `String` (`try_from`): serde's derived enum
/// deserializer (variant visitor, EnumAccess) cost ~1.1 KB of wasm for four names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum State {
    Pending,
    /// By the person named in the record.
    Approved,
    Denied,
    /// Exchanged for a credential (single use).
    Consumed,
}

impl TryFrom<String> for State {
    type Error = &'static str;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Ok(match s.as_str() {
            "pending" => State::Pending,
            "approved" => State::Approved,
            "denied" => State::Denied,
            "consumed" => State::Consumed,
            _ => return Err("unknown device state"),
        })
    }
}

/// `device:<digest of the device code>`. Flat, with the approving person's fields beside a
/// unit-only state, rather than tagged enums or optional structs: serde's code for those costs
/// several KB of wasm each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRecord {
    pub client_id: String,
    /// The registry audience the credential's first token is for.
    pub service: String,
    /// The digest of the user code (the `device-user:` index key's suffix).
    pub user: String,
    pub expires: u64,
    /// Current polling interval (seconds): grows with every `slow_down`.
    pub interval: u64,
    /// The last poll (Unix seconds; 0: none yet).
    #[serde(default)]
    pub last_poll: u64,
    pub state: State,
    /// Who approved: account ("" until approved), provider and IdP groups at that moment.
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// When the person decided (Unix seconds; 0: not yet).
    #[serde(default)]
    pub decided: u64,
}

impl DeviceRecord {
    fn parse(text: &str) -> Result<DeviceRecord, DeviceError> {
        crate::json_object::from_slice(text.as_bytes())
            .map_err(|_| DeviceError::Broken("the stored device record is malformed".into()))
    }

    /// Writes the record back, kept until a little past the code's expiry.
    async fn save(&self, store: &impl Store, digest: &str, now: u64) -> Result<(), StoreError> {
        let ttl = (self.expires.saturating_sub(now) + GRACE).max(KV_MIN_TTL);
        let json = crate::json_bytes::to_string(self).unwrap_or_default();
        store.put(&record_key(digest), &json, Some(ttl)).await
    }
}

/// Why a device operation did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceError {
    /// KV could not be read or written: nothing granted, try again.
    Store(String),
    /// A stored record is malformed: nothing granted.
    Broken(String),
}

impl From<StoreError> for DeviceError {
    fn from(e: StoreError) -> Self {
        DeviceError::Store(format!("the device store is unavailable ({e}); try again"))
    }
}

impl std::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceError::Store(m) | DeviceError::Broken(m) => f.write_str(m),
        }
    }
}

/// A new authorization: what `POST /device/code` answers (besides the URIs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub device_code: String,
    /// Normalized (8 letters, no dash).
    pub user_code: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// Starts a device authorization: stores the record and the user-code index.
pub async fn start(
    store: &impl Store,
    timing: &super::settings::DeviceSettings,
    client_id: &str,
    service: &str,
    random: (&[u8; 32], &[u8; 32]),
    now: u64,
) -> Result<Authorization, DeviceError> {
    let device_code = encode_secret(DEVICE_CODE_PREFIX, random.0);
    let user_code = user_code(random.1)
        .ok_or_else(|| DeviceError::Store("no user code could be drawn; try again".into()))?;
    let digest = secret_digest(&device_code);
    let ukey = user_key(&user_code);
    // 2^34.6 codes and a few live at a time: a clash is vanishingly rare, but one would send the
    // person's approval to someone else's device, so it is refused rather than overwritten.
    if store.get(&ukey).await?.is_some() {
        return Err(DeviceError::Store(
            "a user code clashed with a live one; try again".into(),
        ));
    }
    let record = DeviceRecord {
        client_id: client_id.to_string(),
        service: service.to_string(),
        user: secret_digest(&user_code),
        expires: now + timing.code_ttl,
        interval: timing.interval,
        last_poll: 0,
        state: State::Pending,
        account: String::new(),
        provider: String::new(),
        groups: Vec::new(),
        decided: 0,
    };
    record.save(store, &digest, now).await?;
    store
        .put(&ukey, &digest, Some(timing.code_ttl.max(KV_MIN_TTL)))
        .await?;
    Ok(Authorization {
        device_code,
        user_code,
        expires_in: timing.code_ttl,
        interval: timing.interval,
    })
}

/// Why a typed user code cannot be approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not a live code: a wrong guess (counted by the sign-in throttle).
    Unknown,
    Expired,
    /// Approved or denied already.
    Decided,
    Failed(DeviceError),
}

impl Lookup {
    /// What the person is told.
    pub fn message(&self) -> String {
        match self {
            Lookup::Unknown => "That code is not valid: check the code your device shows (it is used once, and only for a few minutes).".into(),
            Lookup::Expired => "That code has expired: start the login on your device again.".into(),
            Lookup::Decided => "That code was already approved or denied: start the login on your device again if you need a new one.".into(),
            Lookup::Failed(e) => e.to_string(),
        }
    }
}

impl From<DeviceError> for Lookup {
    fn from(e: DeviceError) -> Self {
        Lookup::Failed(e)
    }
}

/// The pending device record a typed user code names: `(device digest, record)`.
pub async fn find(
    store: &impl Store,
    input: &str,
    now: u64,
) -> Result<(String, DeviceRecord), Lookup> {
    let code = normalize_user_code(input).ok_or(Lookup::Unknown)?;
    let Some(digest) = store
        .get(&user_key(&code))
        .await
        .map_err(DeviceError::from)?
    else {
        return Err(Lookup::Unknown);
    };
    let Some(text) = store
        .get(&record_key(&digest))
        .await
        .map_err(DeviceError::from)?
    else {
        return Err(Lookup::Unknown);
    };
    let record = DeviceRecord::parse(&text)?;
    // The index names its record and the record names its index: a stray or swapped index
    // entry never leads to another device's record.
    if !constant_time_eq(record.user.as_bytes(), secret_digest(&code).as_bytes()) {
        return Err(Lookup::Unknown);
    }
    if record.expires <= now {
        return Err(Lookup::Expired);
    }
    match record.state {
        State::Pending => Ok((digest, record)),
        _ => Err(Lookup::Decided),
    }
}

/// The person's decision on a pending record: `Some(approval)` approves, `None` denies. The
/// user code is then deleted, so it works once.
pub async fn decide(
    store: &impl Store,
    digest: &str,
    mut record: DeviceRecord,
    approval: Option<Approval>,
    now: u64,
) -> Result<(), DeviceError> {
    record.state = match approval {
        Some(a) => {
            record.account = a.account;
            record.provider = a.provider;
            record.groups = a.groups;
            State::Approved
        }
        None => State::Denied,
    };
    record.decided = now;
    record.save(store, digest, now).await?;
    store.delete(&user_index(&record.user)).await?;
    Ok(())
}

/// A poll's answer (RFC 8628 3.5), before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    Pending,
    SlowDown,
    Denied,
    Expired,
    /// Exchanged already (or never valid): `invalid_grant`.
    Used,
    /// Another client's device code: `invalid_client`.
    WrongClient,
    Approved(Approval),
}

impl Poll {
    /// The RFC 8628 / RFC 6749 error code of a refusal.
    pub fn error(&self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Poll::Pending => (
                "authorization_pending",
                "the person has not approved this code yet: keep polling at the interval",
            ),
            Poll::SlowDown => (
                "slow_down",
                "polled faster than the interval: the interval is now 5 seconds longer",
            ),
            Poll::Denied => ("access_denied", "the person denied this login"),
            Poll::Expired => (
                "expired_token",
                "the device code has expired: start again with a new code",
            ),
            Poll::Used => (
                "invalid_grant",
                "the device code is unknown or was already used",
            ),
            Poll::WrongClient => (
                "invalid_client",
                "this device code was issued to another client_id",
            ),
            Poll::Approved(_) => return None,
        })
    }
}

/// One poll of `record` by `client_id` at `now`: the answer, with the record updated as it must
/// be stored (last poll time, grown interval, consumed).
pub fn poll(record: &mut DeviceRecord, client_id: &str, now: u64) -> Poll {
    if record.client_id != client_id {
        return Poll::WrongClient;
    }
    if record.state == State::Consumed {
        return Poll::Used;
    }
    if record.expires <= now {
        return Poll::Expired;
    }
    match record.state {
        State::Denied => Poll::Denied,
        // Approved without a person: a record no Tollgate writes; never a grant.
        State::Approved if record.account.is_empty() => Poll::Used,
        State::Approved => {
            record.state = State::Consumed;
            Poll::Approved(Approval {
                account: record.account.clone(),
                provider: record.provider.clone(),
                groups: record.groups.clone(),
                at: record.decided,
            })
        }
        _ => {
            let early =
                record.last_poll > 0 && now < record.last_poll.saturating_add(record.interval);
            if early {
                // The wait runs from the last poll answered `authorization_pending`, so a client
                // that hammers stops changing the record (and costing KV writes) once the
                // interval is at its cap.
                record.interval = (record.interval + SLOW_DOWN_STEP).min(MAX_INTERVAL);
                Poll::SlowDown
            } else {
                record.last_poll = now;
                Poll::Pending
            }
        }
    }
}

/// What a successful exchange hands the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchanged {
    pub account: String,
    pub service: String,
    /// The new personal credential (`tgp_...`), in no store in clear.
    pub password: String,
    pub password_expires_at: u64,
}

/// Why an exchange gave no credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// An RFC answer: `(error, description)`.
    Grant(&'static str, String),
    Failed(DeviceError),
}

impl From<DeviceError> for Refused {
    fn from(e: DeviceError) -> Self {
        Refused::Failed(e)
    }
}

/// The token endpoint's device grant: looks the code up, answers the poll, and on the one
/// exchange of an approved code makes the person's credential.
pub async fn exchange(
    store: &impl Store,
    timing: &super::settings::DeviceSettings,
    max_days: u64,
    device_code: &str,
    client_id: &str,
    random: &[u8; 32],
    now: u64,
) -> Result<Exchanged, Refused> {
    let unknown = || {
        let (e, d) = Poll::Used.error().unwrap_or_default();
        Refused::Grant(e, d.into())
    };
    if device_code.len() > MAX_DEVICE_CODE_LEN || !device_code.starts_with(DEVICE_CODE_PREFIX) {
        return Err(unknown());
    }
    let digest = secret_digest(device_code);
    let Some(text) = store
        .get(&record_key(&digest))
        .await
        .map_err(DeviceError::from)?
    else {
        return Err(unknown());
    };
    let mut record = DeviceRecord::parse(&text)?;
    let before = record.clone();
    let answer = poll(&mut record, client_id, now);
    let approval = match answer {
        Poll::Approved(a) => a,
        Poll::Pending | Poll::SlowDown => {
            // The poll's bookkeeping, written only when it changed. A failed write only forgets
            // this poll: the answer is still a refusal, so it stays one rather than a 503.
            if record != before {
                let _ = record.save(store, &digest, now).await;
            }
            let (e, d) = answer.error().unwrap_or_default();
            return Err(Refused::Grant(e, d.into()));
        }
        other => {
            let (e, d) = other.error().unwrap_or_default();
            return Err(Refused::Grant(e, d.into()));
        }
    };
    // Consumed BEFORE the credential exists: if this write fails, nothing was made (fail
    // closed), and a second exchange finds the code used. KV is eventually consistent, so two
    // exchanges racing within one location's read window could both get here (SECURITY.md).
    record
        .save(store, &digest, now)
        .await
        .map_err(DeviceError::from)?;
    let person = Person {
        provider: approval.provider.clone(),
        account: approval.account.clone(),
        groups: approval.groups.clone(),
    };
    let new = NewPersonal {
        name: &record.client_id,
        ttl: timing.credential_ttl,
        device: Some((record.client_id.clone(), approval.at)),
    };
    let (password, entry) = credentials::create_with(store, &person, new, max_days, random, now)
        .await
        .map_err(|e| match e {
            CredentialError::Invalid(m) => {
                Refused::Grant("access_denied", format!("{m} (on the account page)"))
            }
            CredentialError::Store(m) => Refused::Failed(DeviceError::Store(m)),
        })?;
    Ok(Exchanged {
        account: approval.account,
        service: record.service,
        password,
        password_expires_at: entry.expires,
    })
}
