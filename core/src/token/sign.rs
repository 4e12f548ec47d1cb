//! Token issuance: a [`Signer`] holds a parsed key (parsing costs about one signature, so it is
//! built once and reused) and writes the JOSE header docker-registry expects.
//!
//! The header is the same for every token a key signs, and with `x5c` it is two thirds of the
//! token (~840 of ~1230 base64url characters). So the signer serialises and encodes it once, and
//! also keeps the SHA-256 state after hashing it: a token then costs the claims' JSON, their
//! base64url, the hash of the rest of the signing input and the signature. The result is the
//! compact JWS jwt-compact's `AlgorithmExt::token` writes, byte for byte (both algorithms are
//! deterministic; a test compares them), and tokens are verified with jwt-compact as before.

use super::alg::{Es256, Rs256};
use super::claims::RegistryClaims;
use super::header::{KidFormat, TokenHeader};
use super::keys::{Algorithm, KeyError, PublicKey, SigningKey};
use base64ct::{Base64, Base64UrlUnpadded, Encoding as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// The JOSE header fields jwt-compact does not model: `x5c` (RFC 7515 4.1.6).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct X5cHeader {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x5c: Option<Vec<String>>,
}

/// Why a token could not be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The claims did not serialize (serde's message).
    Claims(String),
    /// The ECDSA signature operation failed.
    Ecdsa,
    /// The RSA signature operation failed.
    Rsa,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the token could not be signed (")?;
        match self {
            SignError::Claims(e) => f.write_str(e)?,
            SignError::Ecdsa => f.write_str("the ECDSA signature operation failed")?,
            SignError::Rsa => f.write_str("the RSA signature operation failed")?,
        }
        f.write_str("); nothing was issued")
    }
}

impl std::error::Error for SignError {}

/// The JOSE header of every token, in the field order jwt-compact writes (`alg` first).
#[derive(Serialize)]
struct JoseHeader<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    x5c: Option<&'a [String]>,
}

/// A signing key with its key ID and optional certificate. Debug shows only public data.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    public: PublicKey,
    header: TokenHeader,
    kid: String,
    x5c: Option<Vec<String>>,
    /// `base64url(header) + "."`: the start of every token.
    header_prefix: String,
    /// SHA-256 after absorbing `header_prefix` (ES256 and RS256 both hash the signing input
    /// with SHA-256); each token clones it and hashes only its claims.
    prefix_hash: Sha256,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.algorithm().as_str())
            .field("kid", &self.kid)
            .field("x5c", &self.x5c.is_some())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `key` with the header registry 2.x expects: the libtrust `kid`, and with
    /// `cert_pem` (a "CERTIFICATE" block holding the same public key) `x5c`.
    pub fn new(key: SigningKey, cert_pem: Option<&str>) -> Result<Signer, KeyError> {
        let header = TokenHeader {
            kid: KidFormat::Libtrust,
            x5c: cert_pem.is_some(),
        };
        Signer::with_header(key, cert_pem, header)
    }

    /// A signer whose tokens carry `header`'s kid format, and `x5c` when `header.x5c` (then
    /// `cert_pem` is required). The certificate is checked against the key either way. One
    /// signer per key and header: the header is encoded and hashed here, once.
    pub(crate) fn with_header(
        key: SigningKey,
        cert_pem: Option<&str>,
        header: TokenHeader,
    ) -> Result<Signer, KeyError> {
        let public = key.public_key();
        let cert_der = match cert_pem {
            None => None,
            Some(pem) => {
                let (label, der) =
                    x509_cert::der::pem::decode_vec(pem.trim().as_bytes()).map_err(|_| {
                        KeyError::PublicKey("the signing certificate is not a PEM block".into())
                    })?;
                if label != "CERTIFICATE" {
                    return Err(KeyError::PublicKey(
                        "the signing certificate must be a PEM 'CERTIFICATE' block".into(),
                    ));
                }
                if PublicKey::from_certificate_der(&der)? != public {
                    return Err(KeyError::CertificateMismatch);
                }
                Some(der)
            }
        };
        let x5c = match (header.x5c, cert_der) {
            (false, _) => None,
            (true, Some(der)) => Some(vec![Base64::encode_string(&der)]),
            (true, None) => {
                return Err(KeyError::PublicKey(
                    "x5c was asked for but no signing certificate is configured".into(),
                ))
            }
        };
        let kid = header.kid.kid(&public);
        let json = crate::json_bytes::to_vec(
            &JoseHeader {
                alg: key.algorithm().as_str(),
                kid: &kid,
                typ: "JWT",
                x5c: x5c.as_deref(),
            },
            256,
        )
        .map_err(|e| KeyError::PublicKey(format!("the JOSE header could not be written: {e}")))?;
        let mut header_prefix = Base64UrlUnpadded::encode_string(&json);
        header_prefix.push('.');
        let prefix_hash = Sha256::new_with_prefix(header_prefix.as_bytes());
        Ok(Signer {
            key,
            public,
            header,
            kid,
            x5c,
            header_prefix,
            prefix_hash,
        })
    }

    /// The key ID put in every token's `kid` (libtrust or RFC 7638 thumbprint).
    #[cfg(test)]
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    /// The kid format and x5c choice of this signer's tokens.
    pub(crate) fn header(&self) -> TokenHeader {
        self.header
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The `x5c` chain (base64 DER), when a certificate was configured.
    #[cfg(test)]
    pub(crate) fn x5c(&self) -> Option<&[String]> {
        self.x5c.as_deref()
    }

    /// Signs `claims` as a compact JWS: header `alg`, `typ: JWT`, `kid`, and `x5c` if configured.
    /// The claims are serialized as they are (`exp`/`nbf`/`iat` integers, `aud` a string).
    pub fn sign(&self, claims: &RegistryClaims) -> Result<String, SignError> {
        // A token's claims are ~300 bytes (more with many scopes): one buffer rather than
        // serde_json::to_vec's 128 bytes grown twice.
        let payload =
            crate::json_bytes::to_vec(claims, 512).map_err(|e| SignError::Claims(e.to_string()))?;
        // Room for the claims' base64url and the signature's (86 characters for ES256, 342 for
        // a 2048-bit RS256 key); only a hint.
        let mut token =
            String::with_capacity(self.header_prefix.len() + payload.len() * 4 / 3 + 400);
        token.push_str(&self.header_prefix);
        token.push_str(&Base64UrlUnpadded::encode_string(&payload));
        let mut hash = self.prefix_hash.clone();
        hash.update(&token.as_bytes()[self.header_prefix.len()..]);
        let digest: [u8; 32] = hash.finalize().into();
        let signature = match &self.key {
            SigningKey::Es256(k) => Es256::sign_digest(k, &digest)
                .map(|s| s.0.to_bytes().to_vec())
                .ok_or(SignError::Ecdsa)?,
            SigningKey::Rs256(k) => cold::rs256(k, &digest)?,
        };
        token.push('.');
        token.push_str(&Base64UrlUnpadded::encode_string(&signature));
        Ok(token)
    }
}

/// RS256, out of line. LLVM inlined rsa's PKCS#1 signature (num-bigint-dig's `modpow`, the
/// blinding and its RNG) into `sign`, and V8 compiles a wasm function whole on its first call, so
/// every new isolate's first ES256 token compiled the RSA code it never runs: `Signer::sign` was
/// 10.4 KB of wasm (bench/README.md, "What a first request compiles"). `#[inline(never)]` keeps
/// LLVM from inlining it and scripts/build.sh's `--no-inline=*::cold::*` keeps binaryen from
/// inlining it back into its single caller; "cold" is only that, an RS256 service runs it on
/// every token, at the cost of one call against an RSA signature's milliseconds.
mod cold {
    use super::{Rs256, SignError};

    #[inline(never)]
    pub(super) fn rs256(key: &rsa::RsaPrivateKey, digest: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        Rs256::sign_digest(key, digest)
            .map(|s| s.0)
            .ok_or(SignError::Rsa)
    }
}

#[cfg(test)]
pub(crate) mod tests;
