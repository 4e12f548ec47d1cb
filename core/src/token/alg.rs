//! ES256 and RS256 as jwt-compact [`Algorithm`]s. jwt-compact 0.8 (and 0.9's betas) build their
//! `Es256` on p256 0.13; p256 0.14 signs ~3.8x faster in wasm thanks to its precomputed basepoint
//! table (bench/README.md). RS256 stays on rsa 0.9 (see `rsa_key` for why) but signs with
//! blinding, which jwt-compact's `Rsa` does not. These types only sign and check signatures; both
//! also sign a SHA-256 digest directly (`sign_digest`), which `Signer` uses to hash its constant
//! JOSE header once per key (sign.rs).

use jwt_compact::{Algorithm, AlgorithmSignature};
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use rsa::traits::PublicKeyParts as _;
use rsa::Pkcs1v15Sign;
use sha2::{Digest as _, Sha256};
use std::borrow::Cow;
use std::num::NonZeroUsize;

/// PKCS#1 v1.5 with SHA-256's DigestInfo. The type parameter only names the hash (OID and
/// length, sha2 0.10 as rsa 0.9 wants it); digests are computed with sha2 0.11, so the worker
/// links one SHA-256.
fn pkcs1v15_sha256() -> Pkcs1v15Sign {
    Pkcs1v15Sign::new::<rsa::sha2::Sha256>()
}

/// ES256 (RFC 7518 3.4): ECDSA P-256 with SHA-256, deterministic nonces (RFC 6979).
#[derive(Debug, Clone, Copy, Default)]
pub struct Es256;

/// An ES256 signature: r || s, 64 bytes (not DER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Es256Signature(pub p256::ecdsa::Signature);

impl Es256Signature {
    /// Parses the JWS form; any other length or an out-of-range r or s is refused.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        p256::ecdsa::Signature::from_slice(bytes).ok().map(Self)
    }
}

impl Es256 {
    /// Signs `digest` = SHA-256 of the signing input: the same signature as
    /// `Algorithm::sign(key, input)` (p256 hashes the input with SHA-256 and derives the RFC 6979
    /// nonce from that digest). `None` only if p256 refuses the digest, which a 32-byte digest
    /// never is.
    pub(crate) fn sign_digest(
        key: &p256::ecdsa::SigningKey,
        digest: &[u8; 32],
    ) -> Option<Es256Signature> {
        key.sign_prehash(digest).ok().map(Es256Signature)
    }
}

impl AlgorithmSignature for Es256Signature {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(64);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        Self::from_slice(slice).ok_or_else(|| anyhow::anyhow!("not a 64-byte P-256 signature"))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

impl Algorithm for Es256 {
    type SigningKey = p256::ecdsa::SigningKey;
    type VerifyingKey = p256::ecdsa::VerifyingKey;
    type Signature = Es256Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES256")
    }

    fn sign(&self, key: &Self::SigningKey, message: &[u8]) -> Es256Signature {
        Es256Signature(key.sign(message))
    }

    fn verify_signature(
        &self,
        signature: &Es256Signature,
        key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        key.verify(message, &signature.0).is_ok()
    }
}

/// RS256 (RFC 7518 3.3): RSASSA-PKCS1-v1_5 with SHA-256.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rs256;

/// An RS256 signature: as many bytes as the modulus (checked against the key on verification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rs256Signature(pub Vec<u8>);

impl AlgorithmSignature for Rs256Signature {
    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        Ok(Self(slice.to_vec()))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
}

impl Rs256 {
    /// Signs `digest` = SHA-256 of the signing input (PKCS#1 v1.5 signs the digest, so this is
    /// `Algorithm::sign`'s signature). Blinded: rsa 0.9's modular exponentiation is not
    /// constant-time (RUSTSEC-2023-0071), and blinding keeps its timing independent of the
    /// message. `None` only for a digest longer than the modulus allows (impossible with SHA-256
    /// and >= 2048-bit keys) or a failed RNG.
    pub(crate) fn sign_digest(
        key: &rsa::RsaPrivateKey,
        digest: &[u8; 32],
    ) -> Option<Rs256Signature> {
        key.sign_with_rng(&mut rand_core::OsRng, pkcs1v15_sha256(), digest)
            .ok()
            .map(Rs256Signature)
    }
}

impl Algorithm for Rs256 {
    type SigningKey = rsa::RsaPrivateKey;
    type VerifyingKey = rsa::RsaPublicKey;
    type Signature = Rs256Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("RS256")
    }

    fn sign(&self, key: &Self::SigningKey, message: &[u8]) -> Rs256Signature {
        // jwt-compact's trait cannot fail: a failed signature comes back empty.
        Rs256::sign_digest(key, &Sha256::digest(message).into())
            .unwrap_or(Rs256Signature(Vec::new()))
    }

    fn verify_signature(
        &self,
        signature: &Rs256Signature,
        key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        // PKCS#1 v1.5 signatures are exactly the modulus' length (RFC 8017 8.2.2 step 1).
        if signature.0.len() != key.size() {
            return false;
        }
        let digest = Sha256::digest(message);
        key.verify(pkcs1v15_sha256(), &digest, &signature.0).is_ok()
    }
}
