//! The read-ahead hint of the credentials Tollgate mints (issue 17): an API key, a personal
//! credential or a refresh token names its account only inside its KV record, so on a cold
//! isolate its `user:` record (and, for a refresh token minted from an API key, that key's
//! `apikey:` record) would be a second KV round trip. New credentials carry those names after
//! the random secret, so every record is read in the first round trip:
//!
//! `<prefix><43 base64url: 256 random bits>.<base64url(account)>[.<API key digest, 64 hex>]`
//!
//! The digest is written as the refresh record holds it (`"credential":"apikey:<hex>"`) rather
//! than as base64url of its bytes (21 characters shorter): decoding hex would link a decoder the
//! worker has no other use for (~0.6 KB of gzipped wasm).
//!
//! The hint is UNTRUSTED. It only chooses what is read ahead: the record is still found by the
//! SHA-256 of the whole presented string (an altered hint finds no record), and the token service
//! refuses a credential whose record names another account than its hint (fail closed). A hint
//! that does not decode, is too long or names an account nobody could have is no hint: the
//! credential is read like one minted before hints existed (two round trips on a cold isolate).
//!
//! `.` is not in the base64url alphabet, and every credential starts with `tg?_`, so none is
//! ever taken for a JWT (`eyJ...`).

use super::records::valid_account;
use super::secrets::encode_secret;
use crate::limits::MAX_ACCOUNT_LEN;
use base64ct::{Base64UrlUnpadded, Encoding as _};

/// Between the secret and each part of the hint.
const SEPARATOR: char = '.';
/// Longest hinted credential: the token endpoint's bound on a `refresh_token` parameter
/// (`protocol::request::MAX_PARAM_LEN`). A credential whose hint would not fit is minted without.
const MAX_HINTED_LEN: usize = 255;
/// base64url characters of the longest account (no padding).
const MAX_ACCOUNT_B64: usize = (MAX_ACCOUNT_LEN * 4).div_ceil(3);
/// Whether `hex` is a SHA-256 digest as `secret_digest` writes it (64 lower-case hex digits).
fn is_digest(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What a credential's hint names. Untrusted until its record agrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub account: String,
    /// The lower-case hex SHA-256 of the API key a refresh token was minted from (its
    /// `apikey:` record's name).
    pub api_key: Option<String>,
}

/// A new credential: `prefix` + base64url(`random`) + the hint naming `account` (and the API key
/// of hex digest `api_key`). Without a hint (as before issue 17) when the account is not one the
/// token service would read, the digest is not 64 lower-case hex, or the result would be too long.
pub fn encode_credential(
    prefix: &str,
    random: &[u8; 32],
    account: &str,
    api_key: Option<&str>,
) -> String {
    let secret = encode_secret(prefix, random);
    if !valid_account(account) || api_key.is_some_and(|d| !is_digest(d)) {
        return secret;
    }
    let mut hinted = secret.clone();
    hinted.push(SEPARATOR);
    hinted.push_str(&Base64UrlUnpadded::encode_string(account.as_bytes()));
    if let Some(digest) = api_key {
        hinted.push(SEPARATOR);
        hinted.push_str(digest);
    }
    if hinted.len() > MAX_HINTED_LEN {
        return secret;
    }
    hinted
}

/// The hint of `presented`, a credential with `prefix`; `None` for a credential without one (or
/// with one that does not decode to a usable account and digest: never an error, never a grant).
pub fn read_hint(prefix: &str, presented: &str) -> Option<Hint> {
    let rest = presented.strip_prefix(prefix)?;
    let mut parts = rest.splitn(4, SEPARATOR).skip(1);
    let account = parts.next()?;
    let api_key = parts.next();
    if parts.next().is_some()
        || account.len() > MAX_ACCOUNT_B64
        || api_key.is_some_and(|k| !is_digest(k))
    {
        return None;
    }
    let account = String::from_utf8(Base64UrlUnpadded::decode_vec(account).ok()?).ok()?;
    if !valid_account(&account) {
        return None;
    }
    Some(Hint {
        account,
        api_key: api_key.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    // Encoded with the base64 crate: an implementation independent of the code's base64ct.
    use crate::credentials::{secret_digest, API_KEY_PREFIX, REFRESH_PREFIX};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    const R: [u8; 32] = [9u8; 32];

    fn hint(account: &str, api_key: Option<&str>) -> Option<Hint> {
        Some(Hint {
            account: account.into(),
            api_key: api_key.map(String::from),
        })
    }

    /// base64ct (the code's) accepts exactly what the base64 crate's URL_SAFE_NO_PAD engine
    /// (the code's until issue 17) did: no padding, canonical trailing bits, URL alphabet only.
    #[test]
    fn base64url_accepts_what_it_accepted_before() {
        for s in [
            "",
            "Y2ktYm90",
            "Y2ktYm9",
            "Y2ktYm9=",
            "Y2ktYm90==",
            "Y2k",
            "Y2l",
            "Y2",
            "Y3",
            "Y",
            "Y2k+Ym90",
            "Y2k/Ym90",
            "Y2k-Ym_0",
            "Y2k Ym90",
        ] {
            assert_eq!(
                Base64UrlUnpadded::decode_vec(s).ok(),
                URL_SAFE_NO_PAD.decode(s).ok(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn a_minted_credential_reads_back_its_hint() {
        let key = encode_credential(API_KEY_PREFIX, &R, "ci-bot", None);
        assert_eq!(
            key,
            format!("{}.Y2ktYm90", encode_secret(API_KEY_PREFIX, &R))
        );
        assert_eq!(read_hint(API_KEY_PREFIX, &key), hint("ci-bot", None));
        let digest = secret_digest(&key);
        let rt = encode_credential(REFRESH_PREFIX, &R, "ci-bot", Some(&digest));
        assert_eq!(
            read_hint(REFRESH_PREFIX, &rt),
            hint("ci-bot", Some(&digest))
        );
        // Any account the token service reads, e.g. a sign-in's `sso-ålice@corp`.
        let rt = encode_credential(REFRESH_PREFIX, &R, "sso-ålice@corp", None);
        assert_eq!(read_hint(REFRESH_PREFIX, &rt), hint("sso-ålice@corp", None));
    }

    #[test]
    fn hinted_credentials_stay_url_form_and_header_safe_and_never_jwt_shaped() {
        let key = encode_credential(REFRESH_PREFIX, &R, "a b/c+d", Some(&"ab".repeat(32)));
        assert!(key.starts_with("tgr_"), "{key}");
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert_eq!(key.matches('.').count(), 2);
    }

    #[test]
    fn no_hint_where_none_can_be_written() {
        let legacy = encode_secret(REFRESH_PREFIX, &R);
        for (account, api_key) in [
            ("", None),
            ("tab\there", None),
            ("a", Some("not hex")),
            ("a", Some("AB".repeat(32).as_str())), // upper case: not the digest format
            ("a", Some("ab".repeat(31).as_str())),
        ] {
            assert_eq!(
                encode_credential(REFRESH_PREFIX, &R, account, api_key),
                legacy,
                "{account:?} {api_key:?}"
            );
        }
        // Too long for the refresh_token parameter with a digest, though fine without one.
        let long = "a".repeat(MAX_ACCOUNT_LEN);
        let digest = "ab".repeat(32);
        assert_eq!(
            encode_credential(REFRESH_PREFIX, &R, &long, Some(&digest)),
            legacy
        );
        let key = encode_credential(API_KEY_PREFIX, &R, &long, None);
        assert_eq!(read_hint(API_KEY_PREFIX, &key), hint(&long, None));
        assert!(key.len() <= MAX_HINTED_LEN);
    }

    #[test]
    fn legacy_and_malformed_hints_are_no_hint() {
        let secret = encode_secret(API_KEY_PREFIX, &R);
        let b64 = |s: &[u8]| URL_SAFE_NO_PAD.encode(s);
        let cases = [
            secret.clone(),
            format!("{secret}."),
            format!("{secret}.!!!!"),
            format!("{secret}.Y2ktYm90="),                    // padding
            format!("{secret}.YR"),                           // non-canonical trailing bits
            format!("{secret}.{}", b64(b"\xff\xfe")),         // not UTF-8
            format!("{secret}.{}", b64(b"a\nb")),             // a control character
            format!("{secret}.{}", b64(&[b'a'; 200])),        // longer than any account
            format!("{secret}.Y2ktYm90.{}", "ab".repeat(31)), // not a digest
            format!("{secret}.Y2ktYm90.{}", "AB".repeat(32)), // upper case
            format!("{secret}.Y2ktYm90.{}", b64(&[1; 32])),   // base64url, not hex
            format!("{secret}.Y2ktYm90.{}", "a".repeat(10_000)),
            format!("{secret}.Y2ktYm90.{}.x", "ab".repeat(32)), // a fourth part
            format!("tgp_{}.Y2ktYm90", &secret[4..]),           // another prefix
        ];
        for c in cases {
            assert_eq!(read_hint(API_KEY_PREFIX, &c), None, "{c}");
        }
    }
}
