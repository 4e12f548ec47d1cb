//! Checks shared by the operator CLI (`policy validate`, `render`, `sync`, `user import-htpasswd`)
//! and the worker's reading of `user:` records, so that a policy the CLI accepts is read the same
//! way by the worker, and a record the CLI would refuse never makes the worker do costly work.
//!
//! - bcrypt hashes: the htpasswd shape, salt and digest in bcrypt's base64 alphabet (a bad one
//!   only fails after bcrypt has run, so it would answer every password 401), and a cost within
//!   [`MIN_BCRYPT_COST`]..=[`MAX_BCRYPT_COST`]. The worker enforces the cap (each step doubles the
//!   CPU a wrong password costs; cost 17 took 11.7 s); the floor is for hashes the CLI writes or
//!   accepts.
//! - accounts against issuers: a user whose name selects workload identity federation (an
//!   issuer's `username`, or `oidc` while issuers are configured) could never log in: federation
//!   takes every login under that name.

use crate::credentials::UserRecord;
use crate::federation::{Issuers, OIDC_USERNAME};
use std::fmt;

/// The lowest bcrypt cost the CLI writes or accepts (`user add --cost`, import, validate).
pub const MIN_BCRYPT_COST: u32 = 10;
/// The highest bcrypt cost anything accepts; the worker refuses to run bcrypt above it.
pub const MAX_BCRYPT_COST: u32 = 14;

/// What is wrong with a bcrypt hash. Messages never quote the hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashProblem {
    /// Not `$2a$`/`$2b$`/`$2y$`, two cost digits, `$`, 53 characters.
    #[error("is not a bcrypt hash: expected 60 characters starting with $2a$, $2b$ or $2y$ (use `tollgate user add` or `htpasswd -nB`)")]
    Shape,
    /// The salt or the digest is not bcrypt base64.
    #[error("is not a well-formed bcrypt hash: its {0} is not bcrypt base64 (./A-Za-z0-9, 22 salt and 31 hash characters), so no password could ever match; set it again with `tollgate user passwd`")]
    Alphabet(&'static str),
    #[error("uses bcrypt cost {0}, above the maximum of {MAX_BCRYPT_COST} (each step doubles the CPU every login attempt costs the worker); set it again with `tollgate user passwd --cost {MAX_BCRYPT_COST}` or lower")]
    CostAbove(u32),
    #[error("uses bcrypt cost {0}, below the minimum of {MIN_BCRYPT_COST}; set it again with `tollgate user passwd`")]
    CostBelow(u32),
}

/// The cost of a hash the worker may run bcrypt on: the shape, the alphabet and the cap.
pub(crate) fn stored_bcrypt_hash(hash: &str) -> Result<u32, HashProblem> {
    let b = hash.as_bytes();
    let prefix_ok = [b"$2a$", b"$2b$", b"$2y$"]
        .iter()
        .any(|p| b.starts_with(*p));
    if !prefix_ok || b.len() != 60 || b[6] != b'$' || !b[4..6].iter().all(u8::is_ascii_digit) {
        return Err(HashProblem::Shape);
    }
    // The exact decoding bcrypt::verify applies, so the check and the check's use agree.
    let decodes = |part: &[u8], len: usize| {
        use base64::Engine as _;
        bcrypt::BASE_64
            .decode(part)
            .is_ok_and(|bytes| bytes.len() == len)
    };
    if !decodes(&b[7..29], 16) {
        return Err(HashProblem::Alphabet("salt"));
    }
    if !decodes(&b[29..], 23) {
        return Err(HashProblem::Alphabet("hash"));
    }
    let cost = u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0');
    if cost > MAX_BCRYPT_COST {
        return Err(HashProblem::CostAbove(cost));
    }
    Ok(cost)
}

/// A hash the CLI accepts into a policy: what the worker runs, and at least `MIN_BCRYPT_COST`.
pub fn bcrypt_hash(hash: &str) -> Result<(), HashProblem> {
    let cost = stored_bcrypt_hash(hash)?;
    if cost < MIN_BCRYPT_COST {
        return Err(HashProblem::CostBelow(cost));
    }
    Ok(())
}

/// A local account whose name federation would take over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginConflict {
    pub account: String,
    /// The issuer whose `username` it is; `None`: the reserved `oidc`.
    pub issuer: Option<String>,
}

impl fmt::Display for LoginConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.account;
        match &self.issuer {
            Some(i) => write!(
                f,
                "user '{a}' has the name of issuer '{i}''s username: every login as '{a}' is taken as an identity token of that issuer, so the user could never log in; rename the user or change the issuer's username"
            ),
            None => write!(
                f,
                "user '{a}' has the username reserved for workload identity federation ('{OIDC_USERNAME}' selects the issuer from the token's iss), so the user could never log in; rename the user"
            ),
        }
    }
}

/// Whether federation takes over logins as `account` under `issuers`.
pub fn login_conflict(account: &str, issuers: &Issuers) -> Option<LoginConflict> {
    if !issuers.selects(account) {
        return None;
    }
    Some(LoginConflict {
        account: account.to_string(),
        issuer: issuers.by_username(account).map(|i| i.name.clone()),
    })
}

/// The worker's check of a `user:<account>` record once parsed: its hash may be run, and its
/// name is not one federation takes over. An error is answered as a malformed record.
pub(crate) fn stored_user(
    account: &str,
    user: &UserRecord,
    issuers: &Issuers,
) -> Result<(), String> {
    if let Some(hash) = user.password.as_deref() {
        stored_bcrypt_hash(hash).map_err(|e| format!("its password {e}"))?;
    }
    match login_conflict(account, issuers) {
        Some(c) => Err(c.to_string()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
