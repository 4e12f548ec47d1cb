//! Passwords and API keys as the operator enters or receives them: read without echo, checked,
//! bcrypt-hashed; API keys drawn from the OS RNG and stored as SHA-256 digests.

use std::io::BufRead as _;

use anyhow::{anyhow, bail, Context, Result};
use getrandom::rand_core::{Rng as _, UnwrapErr};
use getrandom::SysRng;
use tollgate_core::credentials;

/// bcrypt only reads the first 72 bytes: refuse longer passwords instead of silently ignoring the rest.
pub(crate) const MAX_PASSWORD_BYTES: usize = 72;
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;

/// bcrypt costs accepted for new hashes: the core's range, which `policy validate`, import and the
/// worker enforce too; every step up doubles the worker's CPU per uncached login.
pub(crate) const COSTS: std::ops::RangeInclusive<u32> =
    tollgate_core::validate::MIN_BCRYPT_COST..=tollgate_core::validate::MAX_BCRYPT_COST;

pub(crate) fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("the password is too short: use at least {MIN_PASSWORD_CHARS} characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        bail!("the password is {} bytes long; bcrypt only uses {MAX_PASSWORD_BYTES}: use a shorter one", password.len());
    }
    if password.chars().any(char::is_control) {
        bail!("the password contains control characters (a stray CR or tab?); type it again");
    }
    Ok(())
}

/// Reads a password: from the first line of stdin with `from_stdin` (scripts), otherwise twice from
/// the terminal without echo.
pub(crate) fn read_password(from_stdin: bool, account: &str) -> Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("--password-stdin: reading stdin")?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        line.strip_suffix('\r').unwrap_or(line).to_owned()
    } else {
        let first = rpassword::prompt_password(format!("Password for {account}: ")).map_err(|e| {
            anyhow!("cannot read a password from the terminal ({e}); pipe it in with --password-stdin")
        })?;
        let again = rpassword::prompt_password("Repeat it: ")
            .map_err(|e| anyhow!("cannot read a password from the terminal ({e})"))?;
        if first != again {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    };
    check_password(&password)?;
    Ok(password)
}

/// A bcrypt hash in the `$2y$` form htpasswd -B writes, with a salt from the OS RNG.
pub(crate) fn hash_password(password: &str, cost: u32) -> Result<String> {
    if !COSTS.contains(&cost) {
        bail!(
            "--cost {cost} is out of range: use {}..={}",
            COSTS.start(),
            COSTS.end()
        );
    }
    let mut salt = [0u8; 16];
    UnwrapErr(SysRng).fill_bytes(&mut salt);
    let parts =
        bcrypt::hash_with_salt(password, cost, salt).map_err(|e| anyhow!("bcrypt failed: {e}"))?;
    Ok(parts.format_for_version(bcrypt::Version::TwoY))
}

/// A new API key of `account`: `tgk_` + 43 base64url characters (256 bits from the OS RNG) +
/// `.` + the account in base64url, in the core's format so the worker recognises it. The account
/// is an untrusted read-ahead hint: the worker reads the key's `user:` record with its `apikey:`
/// record in one KV round trip, and refuses the key if its record names another account.
pub(crate) fn new_api_key(account: &str) -> String {
    let mut bytes = [0u8; 32];
    UnwrapErr(SysRng).fill_bytes(&mut bytes);
    credentials::encode_credential(credentials::API_KEY_PREFIX, &bytes, account, None)
}

/// The lower-case hex SHA-256 stored in `apikey:<digest>` (the core's function, the worker's lookup).
pub(crate) fn digest(secret: &str) -> String {
    credentials::secret_digest(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_have_the_documented_shape_and_differ() {
        let a = new_api_key("ci-bot");
        let b = new_api_key("ci-bot");
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43 + 1 + 8);
        assert!(a.starts_with("tgk_") && a.ends_with(".Y2ktYm90"), "{a}");
        assert!(a[4..47]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        let hint = credentials::read_hint("tgk_", &a).unwrap();
        assert_eq!((hint.account.as_str(), hint.api_key), ("ci-bot", None));
        assert_eq!(digest(&a).len(), 64);
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn password_rules() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(73)).is_err());
        assert!(check_password("good password").is_ok());
        assert!(check_password("with\rcr!!").is_err());
    }

    #[test]
    fn hashes_verify_and_cost_is_bounded() {
        let h = hash_password("correct horse", 10).unwrap();
        assert!(h.starts_with("$2y$10$"));
        assert!(bcrypt::verify("correct horse", &h).unwrap());
        assert!(hash_password("correct horse", 4).is_err());
    }
}
