//! Credentials: parsing what clients present, the stored records they are checked against, and
//! the isolate cache that keeps bcrypt off the hot path.

mod basic;
mod cache;
mod hint;
mod password;
mod records;
mod secrets;

pub use basic::{
    parse_basic_authorization, parse_bearer_authorization, BasicCredentials, CredentialError,
    Secret,
};
pub(crate) use cache::VerifiedCache;
pub use hint::{encode_credential, read_hint, Hint};
#[cfg(test)]
pub(crate) use password::runs as bcrypt_runs;
#[cfg(test)]
pub(crate) use password::DUMMY_HASH;
pub(crate) use password::{burn_equal_time, verify_password};
pub(crate) use records::valid_account;
pub use records::{ApiKeyRecord, RecordError, RefreshRecord, UserRecord};
pub use secrets::{
    constant_time_eq, encode_secret, looks_like_api_key, lower_hex, secret_digest, API_KEY_PREFIX,
    REFRESH_PREFIX,
};
