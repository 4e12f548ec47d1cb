//! API keys and refresh tokens: 256 random bits behind a recognisable prefix. Only their SHA-256
//! digests are stored; a fast digest is enough because the input has full entropy (nothing to
//! brute-force), and it lets KV look a key up directly.

use base64ct::{Base64UrlUnpadded, Encoding as _};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const API_KEY_PREFIX: &str = "tgk_";
pub const REFRESH_PREFIX: &str = "tgr_";

/// `prefix` + base64url(random), 43 characters after the prefix.
pub fn encode_secret(prefix: &str, random: &[u8; 32]) -> String {
    format!("{prefix}{}", Base64UrlUnpadded::encode_string(random))
}

/// Lower-case hex SHA-256 of the secret: the KV key suffix.
pub fn secret_digest(secret: &str) -> String {
    lower_hex(&Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex of `bytes` (digests, random IDs).
pub fn lower_hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// Whether a presented password is an API key rather than a bcrypt-checked password.
/// Personal credentials from the sign-in page (`tgp_`) are API keys too
/// (`token_service::credential::classify` tells the two record kinds apart).
pub fn looks_like_api_key(s: &str) -> bool {
    s.starts_with(API_KEY_PREFIX) || crate::signin::credentials::is_personal(s)
}

/// Constant-time equality for secrets and digests.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_prefix_and_full_entropy_length() {
        let s = encode_secret(API_KEY_PREFIX, &[1u8; 32]);
        assert!(looks_like_api_key(&s));
        assert_eq!(s.len(), 4 + 43);
        assert_ne!(s, encode_secret(API_KEY_PREFIX, &[2u8; 32]));
    }

    #[test]
    fn digest_is_sha256_hex() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            secret_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
