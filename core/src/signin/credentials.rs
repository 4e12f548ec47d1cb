//! Personal registry credentials made on the sign-in page.
//!
//! A credential is `tgp_` + 43 base64url characters (256 random bits) + `.` + the owner's account
//! in base64url (an untrusted read-ahead hint, `crate::credentials::read_hint`), stored like an API key:
//! only its SHA-256 digest, in `personal:<digest>`, with the owner, a name, created/expires, the
//! provider and the IdP groups the owner had when making it (ACL `group` rules match those). KV
//! deletes the record when it expires; the token endpoint also refuses it after `expires`.
//!
//! Its own record kind rather than `apikey:` because `tollgate sync` owns every `apikey:*` record
//! (it deletes the ones its policy file does not list). `personal-index:<account>` lists the
//! owner's credentials for the page and the CLI; the `personal:` record is what authenticates, so a
//! stale index entry can never grant anything.
//!
//! A device approval (RFC 8628, `super::device`) makes the same kind of credential, with a
//! lifetime in hours and a `device` mark (the client that asked, when it was approved), so it is
//! checked by the one authentication path and listed and revoked like the others.

use super::person::Person;
use crate::credentials::{encode_credential, secret_digest, UserRecord};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

pub(crate) const PERSONAL_PREFIX: &str = "tgp_";
/// Live credentials per person.
pub(crate) const MAX_PER_ACCOUNT: usize = 20;
/// Bytes of a credential's name.
pub(crate) const MAX_NAME_LEN: usize = 64;
const DAY: u64 = 86_400;

/// Whether a password is a personal credential.
pub(crate) fn is_personal(secret: &str) -> bool {
    secret.starts_with(PERSONAL_PREFIX)
}

/// `personal:<digest>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalRecord {
    pub account: String,
    pub name: String,
    pub created: u64,
    pub expires: u64,
    pub provider: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The `client_id` of the device approval that made it (none: the create form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// When the person approved that device (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<u64>,
}

/// One entry of `personal-index:<account>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    /// The digest: the record's key suffix, and the id the revoke form sends.
    pub id: String,
    pub name: String,
    pub created: u64,
    pub expires: u64,
    /// The device approval's `client_id`, shown on the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

pub fn record_key(digest: &str) -> String {
    format!("personal:{digest}")
}

pub fn index_key(account: &str) -> String {
    format!("personal-index:{account}")
}

/// Why a credential operation failed. `Invalid` is the person's to fix; `Store` fails closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CredentialError {
    Invalid(String),
    Store(String),
}

impl From<StoreError> for CredentialError {
    fn from(e: StoreError) -> Self {
        CredentialError::Store(e.to_string())
    }
}

impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialError::Invalid(m) | CredentialError::Store(m) => f.write_str(m),
        }
    }
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> Result<T, CredentialError> {
    crate::json_object::from_slice(text.as_bytes()).map_err(|_| malformed(what))
}

fn parse_list<T: for<'de> Deserialize<'de>>(
    text: &str,
    what: &str,
) -> Result<Vec<T>, CredentialError> {
    crate::json_object::list_from_slice(text.as_bytes()).map_err(|_| malformed(what))
}

fn malformed(what: &str) -> CredentialError {
    CredentialError::Store(format!("the stored {what} is malformed"))
}

/// The owner's credentials that have not expired, oldest first.
pub(crate) async fn list(
    store: &impl Store,
    account: &str,
    now: u64,
) -> Result<Vec<IndexEntry>, CredentialError> {
    let Some(text) = store.get(&index_key(account)).await? else {
        return Ok(vec![]);
    };
    let mut entries: Vec<IndexEntry> = parse_list(&text, "credential index")?;
    entries.retain(|e| e.expires > now);
    Ok(entries)
}

/// Checks a name typed into the form.
pub(crate) fn check_name(name: &str) -> Result<&str, CredentialError> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(CredentialError::Invalid(format!(
            "the name must be 1-{MAX_NAME_LEN} characters"
        )));
    }
    Ok(name)
}

/// Makes a credential for `person` valid `days` (1..=max_days). Returns the secret, shown once.
pub(crate) async fn create(
    store: &impl Store,
    person: &Person,
    name: &str,
    days: u64,
    max_days: u64,
    random: &[u8; 32],
    now: u64,
) -> Result<(String, IndexEntry), CredentialError> {
    if !(1..=max_days).contains(&days) {
        return Err(CredentialError::Invalid(format!(
            "the expiry must be 1 to {max_days} days"
        )));
    }
    let new = NewPersonal {
        name,
        ttl: days * DAY,
        device: None,
    };
    create_with(store, person, new, max_days, random, now).await
}

/// What a new credential is: its name, lifetime (seconds) and, for a device approval, the
/// client and when the person approved.
pub struct NewPersonal<'a> {
    pub name: &'a str,
    pub ttl: u64,
    pub device: Option<(String, u64)>,
}

/// Stores a new credential (record, then index entry). Returns the secret, shown once.
pub(crate) async fn create_with(
    store: &impl Store,
    person: &Person,
    new: NewPersonal<'_>,
    max_days: u64,
    random: &[u8; 32],
    now: u64,
) -> Result<(String, IndexEntry), CredentialError> {
    let name = check_name(new.name)?;
    let mut entries = list(store, &person.account, now).await?;
    check_room(&entries)?;
    // Hinted with the owner: a Bearer use reads the owner's `user:` record in the same round trip.
    let secret = encode_credential(PERSONAL_PREFIX, random, &person.account, None);
    let digest = secret_digest(&secret);
    let record = PersonalRecord {
        account: person.account.clone(),
        name: name.to_string(),
        created: now,
        expires: now + new.ttl,
        provider: person.provider.clone(),
        groups: person.groups.clone(),
        approved: new.device.as_ref().map(|d| d.1),
        device: new.device.map(|d| d.0),
    };
    let entry = IndexEntry {
        id: digest.clone(),
        name: record.name.clone(),
        created: now,
        expires: record.expires,
        device: record.device.clone(),
    };
    // Record first: if the index write fails the credential still works and expires on its own,
    // and the error tells the person; the reverse could list a credential that does not exist.
    let json = crate::json_bytes::to_string(&record).unwrap_or_default();
    store
        .put(&record_key(&digest), &json, Some(new.ttl))
        .await?;
    entries.push(entry.clone());
    write_index(store, &person.account, &entries, max_days, now).await?;
    Ok((secret, entry))
}

/// Refuses a new credential when the person already holds [`MAX_PER_ACCOUNT`].
pub(crate) fn check_room(entries: &[IndexEntry]) -> Result<(), CredentialError> {
    if entries.len() >= MAX_PER_ACCOUNT {
        return Err(CredentialError::Invalid(format!(
            "you have {MAX_PER_ACCOUNT} credentials already: revoke one first"
        )));
    }
    Ok(())
}

async fn write_index(
    store: &impl Store,
    account: &str,
    entries: &[IndexEntry],
    max_days: u64,
    now: u64,
) -> Result<(), CredentialError> {
    let key = index_key(account);
    if entries.is_empty() {
        return Ok(store.delete(&key).await?);
    }
    let json = crate::json_bytes::to_string(entries).unwrap_or_default();
    // The index outlives every entry it lists (a device credential may outlive SIGNIN_MAX_DAYS
    // when that is 1), so each stays revocable from the page.
    let last = entries.iter().map(|e| e.expires.saturating_sub(now)).max();
    let ttl = last.unwrap_or(0).max(max_days * DAY);
    Ok(store.put(&key, &json, Some(ttl)).await?)
}

/// Revokes the owner's credential `id` (a digest from the list). Only ids in the owner's own
/// index are accepted, and the record must name the owner: nobody revokes another's credential.
pub(crate) async fn revoke(
    store: &impl Store,
    account: &str,
    id: &str,
    max_days: u64,
    now: u64,
) -> Result<IndexEntry, CredentialError> {
    let mut entries = list(store, account, now).await?;
    let Some(pos) = entries.iter().position(|e| e.id == id) else {
        return Err(CredentialError::Invalid(
            "no such credential of yours (already revoked or expired?)".into(),
        ));
    };
    let key = record_key(id);
    if let Some(text) = store.get(&key).await? {
        let r: PersonalRecord = parse(&text, "credential record")?;
        if r.account != account {
            return Err(CredentialError::Invalid(
                "that credential is not yours".into(),
            ));
        }
        store.delete(&key).await?;
    }
    let gone = entries.remove(pos);
    write_index(store, account, &entries, max_days, now).await?;
    Ok(gone)
}

/// Takes credential `id` out of `account`'s index, if it is there (`POST /oauth/revoke`, after
/// the record itself is gone; the index then lives as long as its remaining entries).
pub(crate) async fn forget_in_index(
    store: &impl Store,
    account: &str,
    id: &str,
    now: u64,
) -> Result<(), CredentialError> {
    let mut entries = list(store, account, now).await?;
    let before = entries.len();
    entries.retain(|e| e.id != id);
    if entries.len() == before {
        return Ok(());
    }
    write_index(store, account, &entries, 0, now).await
}

/// The token endpoint's check of a personal credential's record: expiry, the Basic username
/// (`expected`), and the optional `user:` record (disabled blocks; its groups and labels are
/// added). Returns the user the ACL sees.
pub(crate) fn login_user(
    record: &PersonalRecord,
    user: Option<&UserRecord>,
    expected: Option<&str>,
    now: u64,
) -> Result<UserRecord, String> {
    if record.expires <= now {
        return Err(format!("the credential '{}' has expired", record.name));
    }
    if expected.is_some_and(|e| e != record.account) {
        return Err("the credential does not belong to this username".into());
    }
    let mut out = user.cloned().unwrap_or_default();
    if out.disabled {
        return Err(format!("account '{}' is disabled", record.account));
    }
    // A password in the record is a separate credential; nothing here reads it.
    out.password = None;
    out.groups.extend(record.groups.iter().cloned());
    out.groups.sort();
    out.groups.dedup();
    Ok(out)
}

/// Parses a `personal:` record strictly.
pub fn parse_record(text: &str) -> Result<PersonalRecord, String> {
    if !text.trim_start().starts_with('{') {
        return Err("the record must be a JSON object".into());
    }
    crate::json_object::from_slice(text.as_bytes())
        .map_err(|e| format!("personal credential record: {}", e.classify_str()))
}

trait Classify {
    fn classify_str(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    /// serde's category only: its message could quote stored values.
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "unexpected fields or types",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}
