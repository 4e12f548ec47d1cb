//! Signing and published keys, parsed once per isolate (a PEM parse costs about one signature).
//!
//! - `SIGNING_KEY` (P-256, PKCS#8) signs ES256 tokens; its JOSE header carries `kid` = the
//!   libtrust key ID (docker-registry 2.8 matches it against its rootcertbundle) and, when
//!   `SIGNING_CERT` is set, `x5c` with that certificate (accepted by registry 2.x and 3.x).
//! - `RSA_SIGNING_KEY` signs RS256 tokens for `RS256_SERVICES` (ChartMuseum verifies only RS256).
//! - `PUBLISHED_KEYS` adds certificates / public keys to the JWKS and the certificate bundle
//!   without signing with them: publish the next key before switching, keep the old one until
//!   its tokens have expired.
//!
//! All cryptography is jwt-compact, p256, rsa and x509-cert; this module wires them together.
//! Errors name the secret and never echo its content.

use crate::config::{ConfigError, Settings};
use crate::protocol::{ErrorKind, TokenError};
use crate::token::RegistryClaims;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jwt_compact::alg::{Es256, Rsa};
use jwt_compact::{AlgorithmExt as _, Claims, Header};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use rsa::traits::PublicKeyParts as _;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode as _, Encode as _, EncodePem as _};
use x509_cert::Certificate;

/// Smallest RSA modulus accepted for signing.
const MIN_RSA_BITS: usize = 2048;
/// Keys accepted in `PUBLISHED_KEYS` (bounds the JWKS).
const MAX_PUBLISHED: usize = 16;

/// A public key we publish (and may sign with).
#[derive(Clone)]
enum PublicKey {
    Es256(p256::PublicKey),
    Rs256(rsa::RsaPublicKey),
}

impl PublicKey {
    fn from_spki_der(der: &[u8]) -> Option<PublicKey> {
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            return Some(PublicKey::Es256(k));
        }
        rsa::RsaPublicKey::from_public_key_der(der)
            .ok()
            .map(PublicKey::Rs256)
    }

    fn spki_der(&self) -> Option<Vec<u8>> {
        match self {
            PublicKey::Es256(k) => k.to_public_key_der().ok().map(|d| d.as_bytes().to_vec()),
            PublicKey::Rs256(k) => k.to_public_key_der().ok().map(|d| d.as_bytes().to_vec()),
        }
    }

    /// The RFC 7517 JWK with the libtrust `kid`.
    fn jwk(&self, kid: &str) -> Value {
        match self {
            PublicKey::Es256(k) => {
                use p256::elliptic_curve::sec1::ToEncodedPoint as _;
                let point = k.to_encoded_point(false);
                let coord = |c: Option<&p256::FieldBytes>| {
                    c.map(|b| URL_SAFE_NO_PAD.encode(b)).unwrap_or_default()
                };
                json!({"kty": "EC", "crv": "P-256", "x": coord(point.x()), "y": coord(point.y()),
                       "kid": kid, "alg": "ES256", "use": "sig"})
            }
            PublicKey::Rs256(k) => json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(k.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(k.e().to_bytes_be()),
                "kid": kid, "alg": "RS256", "use": "sig"
            }),
        }
    }
}

/// The libtrust key ID docker-registry 2.8 expects: SHA-256 of the DER SubjectPublicKeyInfo,
/// first 30 bytes, RFC 4648 base32 without padding, in groups of four joined by ':'.
pub fn libtrust_kid(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    let encoded = data_encoding::BASE32_NOPAD.encode(digest.get(..30).unwrap_or(&digest[..]));
    let groups: Vec<&str> = encoded
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    groups.join(":")
}

/// Extra JOSE header fields: `x5c` when a certificate is configured.
#[derive(Serialize)]
struct X5c<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    x5c: Option<&'a [String]>,
}

struct EsSigner {
    key: p256::ecdsa::SigningKey,
    kid: String,
    /// Base64 (standard, padded) DER of the signing certificate, per RFC 7515 4.1.6.
    x5c: Option<Vec<String>>,
}

struct RsSigner {
    key: rsa::RsaPrivateKey,
    kid: String,
}

/// Leeway for `exp`/`nbf` when verifying, as docker-registry allows (clock skew).
pub const VERIFY_LEEWAY: u64 = 60;

/// Why a presented token was not accepted. Stable codes for logs and challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    NotYetValid,
}

impl Rejected {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed",
            Rejected::UnknownKey => "unknown_key",
            Rejected::BadSignature => "bad_signature",
            Rejected::WrongIssuer => "wrong_issuer",
            Rejected::WrongAudience => "wrong_audience",
            Rejected::Expired => "expired",
            Rejected::NotYetValid => "not_yet_valid",
        }
    }
}

/// The claims of a verified token (`exp`/`nbf`/`iat` are read by jwt-compact's own claims).
#[derive(Debug, Clone, serde::Deserialize)]
struct VerifiedBody {
    iss: String,
    #[serde(default)]
    sub: String,
    aud: String,
    #[serde(default)]
    jti: String,
    #[serde(default)]
    access: Vec<crate::token::Access>,
}

pub(super) struct Keys {
    es256: EsSigner,
    rs256: Option<RsSigner>,
    /// Every published key by libtrust kid (signing keys included): what `verify` accepts.
    verifying: Vec<(String, PublicKey)>,
    /// `{"keys": [...]}` served at /.well-known/jwks.json.
    pub jwks_json: Vec<u8>,
    /// Certificates served at /certs.pem (a registry's rootcertbundle).
    pub certs_pem: String,
}

fn pem_label(pem: &str) -> Option<&str> {
    x509_cert::der::pem::decode_label(pem.trim().as_bytes()).ok()
}

fn es_key(pem: &str) -> Result<p256::ecdsa::SigningKey, ConfigError> {
    p256::ecdsa::SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
        let hint = match pem_label(pem) {
            Some("EC PRIVATE KEY") => {
                " (this is a SEC1 key: convert it with 'openssl pkcs8 -topk8 -nocrypt -in key.pem')".to_string()
            }
            Some(label) => format!(" (found a '{label}' PEM block)"),
            None => " (no PEM block found)".to_string(),
        };
        ConfigError::new(
            "SIGNING_KEY",
            format!(
                "must be the PKCS#8 PEM ('-----BEGIN PRIVATE KEY-----') of a P-256 key; it could not be read: {e}{hint}"
            ),
        )
    })
}

fn rsa_key(pem: &str) -> Result<rsa::RsaPrivateKey, ConfigError> {
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
        ConfigError::new(
            "RSA_SIGNING_KEY",
            format!("must be the PKCS#8 PEM ('-----BEGIN PRIVATE KEY-----') of an RSA key; it could not be read: {e}"),
        )
    })?;
    if key.size() * 8 < MIN_RSA_BITS {
        return Err(ConfigError::new(
            "RSA_SIGNING_KEY",
            format!(
                "is a {}-bit RSA key; at least {MIN_RSA_BITS} bits are required",
                key.size() * 8
            ),
        ));
    }
    Ok(key)
}

/// Splits a PEM bundle into its blocks (framing only; each block is decoded by pem-rfc7468).
fn pem_blocks(bundle: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in bundle.lines() {
        let line = line.trim_end();
        if line.starts_with("-----BEGIN ") {
            current.clear();
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END ") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

/// One published key from a PEM block: a certificate (kept for the bundle) or a public key.
fn published_key(
    block: &str,
    setting: &'static str,
) -> Result<(PublicKey, Option<Certificate>), ConfigError> {
    let (label, der) = x509_cert::der::pem::decode_vec(block.as_bytes()).map_err(|e| {
        ConfigError::new(
            setting,
            format!("holds a PEM block that could not be decoded: {e}"),
        )
    })?;
    match label {
        "CERTIFICATE" => {
            let cert = Certificate::from_der(&der).map_err(|e| {
                ConfigError::new(
                    setting,
                    format!("holds a certificate that could not be parsed: {e}"),
                )
            })?;
            let spki = cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| {
                    ConfigError::new(
                        setting,
                        format!("holds a certificate with an unreadable key: {e}"),
                    )
                })?;
            let key = PublicKey::from_spki_der(&spki).ok_or_else(|| {
                ConfigError::new(
                    setting,
                    "holds a certificate whose key is neither P-256 nor RSA",
                )
            })?;
            Ok((key, Some(cert)))
        }
        "PUBLIC KEY" => {
            let key = PublicKey::from_spki_der(&der).ok_or_else(|| {
                ConfigError::new(setting, "holds a public key that is neither P-256 nor RSA")
            })?;
            Ok((key, None))
        }
        other => Err(ConfigError::new(
            setting,
            format!("may hold only CERTIFICATE and PUBLIC KEY PEM blocks, found '{other}'"),
        )),
    }
}

fn cert_pem(cert: &Certificate, setting: &'static str) -> Result<String, ConfigError> {
    cert.to_pem(x509_cert::der::pem::LineEnding::LF)
        .map_err(|e| ConfigError::new(setting, format!("could not be re-encoded: {e}")))
}

impl Keys {
    pub fn load(settings: &Settings) -> Result<Keys, ConfigError> {
        let mut jwks: Vec<Value> = Vec::new();
        let mut certs = String::new();
        let mut published_spki: Vec<Vec<u8>> = Vec::new();
        let mut verifying: Vec<(String, PublicKey)> = Vec::new();
        let mut publish = |key: &PublicKey,
                           setting: &'static str,
                           jwks: &mut Vec<Value>|
         -> Result<String, ConfigError> {
            let der = key
                .spki_der()
                .ok_or_else(|| ConfigError::new(setting, "holds a key that cannot be encoded"))?;
            let kid = libtrust_kid(&der);
            if !published_spki.contains(&der) {
                jwks.push(key.jwk(&kid));
                published_spki.push(der);
                verifying.push((kid.clone(), key.clone()));
            }
            Ok(kid)
        };

        // ES256 signing key and optional certificate.
        let es = es_key(&settings.signing_key_pem)?;
        let es_public = PublicKey::Es256(p256::PublicKey::from(es.verifying_key()));
        let es_kid = publish(&es_public, "SIGNING_KEY", &mut jwks)?;
        let x5c = match &settings.signing_cert_pem {
            None => None,
            Some(pem) => {
                let blocks = pem_blocks(pem);
                let first = blocks.first().ok_or_else(|| {
                    ConfigError::new("SIGNING_CERT", "must hold the PEM certificate ('-----BEGIN CERTIFICATE-----') of SIGNING_KEY")
                })?;
                let (key, cert) = published_key(first, "SIGNING_CERT")?;
                let cert = cert.ok_or_else(|| {
                    ConfigError::new(
                        "SIGNING_CERT",
                        "must hold a CERTIFICATE block, not a bare public key",
                    )
                })?;
                if key.spki_der() != es_public.spki_der() {
                    return Err(ConfigError::new(
                        "SIGNING_CERT",
                        "is a certificate for another key than SIGNING_KEY: issue it for SIGNING_KEY \
                         (tollgate keys generate does both)",
                    ));
                }
                certs.push_str(&cert_pem(&cert, "SIGNING_CERT")?);
                let der = cert.to_der().map_err(|e| {
                    ConfigError::new("SIGNING_CERT", format!("could not be re-encoded: {e}"))
                })?;
                Some(vec![STANDARD.encode(der)])
            }
        };

        // RS256 signing key.
        let rs256 = match &settings.rsa_signing_key_pem {
            Some(pem) if !settings.rs256_services.is_empty() => {
                let key = rsa_key(pem)?;
                let kid = publish(
                    &PublicKey::Rs256(key.to_public_key()),
                    "RSA_SIGNING_KEY",
                    &mut jwks,
                )?;
                Some(RsSigner { key, kid })
            }
            _ => None,
        };

        // Extra published keys (rotation).
        if let Some(bundle) = &settings.published_keys_pem {
            let blocks = pem_blocks(bundle);
            if blocks.is_empty() {
                return Err(ConfigError::new(
                    "PUBLISHED_KEYS",
                    "must hold PEM CERTIFICATE or PUBLIC KEY blocks (or be unset)",
                ));
            }
            if blocks.len() > MAX_PUBLISHED {
                return Err(ConfigError::new(
                    "PUBLISHED_KEYS",
                    format!("holds more than {MAX_PUBLISHED} keys"),
                ));
            }
            for block in &blocks {
                let (key, cert) = published_key(block, "PUBLISHED_KEYS")?;
                publish(&key, "PUBLISHED_KEYS", &mut jwks)?;
                if let Some(cert) = cert {
                    let pem = cert_pem(&cert, "PUBLISHED_KEYS")?;
                    if !certs.contains(&pem) {
                        certs.push_str(&pem);
                    }
                }
            }
        }

        let jwks_json = serde_json::to_vec(&json!({ "keys": jwks })).map_err(|e| {
            ConfigError::new("SIGNING_KEY", format!("the JWKS could not be encoded: {e}"))
        })?;
        Ok(Keys {
            es256: EsSigner {
                key: es,
                kid: es_kid,
                x5c,
            },
            rs256,
            verifying,
            jwks_json,
            certs_pem: certs,
        })
    }

    /// Signs the claims: RS256 for an RS256 service, ES256 otherwise.
    pub fn sign(&self, rs256: bool, claims: &RegistryClaims) -> Result<String, TokenError> {
        let failed = |e: jwt_compact::CreationError| {
            TokenError::new(
                ErrorKind::ServerError,
                format!("the token could not be signed ({e}); nothing was issued"),
            )
        };
        let claims = Claims::new(claims);
        if rs256 {
            let signer = self.rs256.as_ref().ok_or_else(|| {
                TokenError::new(
                    ErrorKind::ServerError,
                    "no RSA signing key is configured for this RS256 service",
                )
            })?;
            let header = Header::empty()
                .with_key_id(signer.kid.clone())
                .with_token_type("JWT");
            Rsa::rs256()
                .token(&header, &claims, &signer.key)
                .map_err(failed)
        } else {
            let s = &self.es256;
            let header = Header::new(X5c {
                x5c: s.x5c.as_deref(),
            })
            .with_key_id(s.kid.clone())
            .with_token_type("JWT");
            Es256.token(&header, &claims, &s.key).map_err(failed)
        }
    }
}

impl Keys {
    /// Verifies a token this service (or a published key) signed: the header's `kid` selects a
    /// published key, whose type fixes the algorithm (no `alg` confusion); then the signature,
    /// `iss`, `aud` (a string equal to `audience`), `exp` and `nbf` with [`VERIFY_LEEWAY`].
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: u64,
    ) -> Result<RegistryClaims, Rejected> {
        use jwt_compact::UntrustedToken;
        if token.len() > crate::limits::MAX_TOKEN_LEN {
            return Err(Rejected::Malformed);
        }
        let untrusted = UntrustedToken::new(token).map_err(|_| Rejected::Malformed)?;
        let kid = untrusted
            .header()
            .key_id
            .as_deref()
            .ok_or(Rejected::UnknownKey)?;
        let (_, key) = self
            .verifying
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or(Rejected::UnknownKey)?;
        let verified = match key {
            PublicKey::Es256(pk) => {
                let vk = p256::ecdsa::VerifyingKey::from(pk);
                Es256.validator::<VerifiedBody>(&vk).validate(&untrusted)
            }
            PublicKey::Rs256(pk) => Rsa::rs256()
                .validator::<VerifiedBody>(pk)
                .validate(&untrusted),
        }
        .map_err(|e| match e {
            jwt_compact::ValidationError::InvalidSignature
            | jwt_compact::ValidationError::AlgorithmMismatch { .. }
            | jwt_compact::ValidationError::InvalidSignatureLen { .. }
            | jwt_compact::ValidationError::MalformedSignature(_) => Rejected::BadSignature,
            _ => Rejected::Malformed,
        })?;
        let claims = verified.claims();
        let seconds = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.and_then(|t| u64::try_from(t.timestamp()).ok())
        };
        let body = &claims.custom;
        if body.iss != issuer {
            return Err(Rejected::WrongIssuer);
        }
        if body.aud != audience {
            return Err(Rejected::WrongAudience);
        }
        let exp = seconds(claims.expiration).ok_or(Rejected::Malformed)?;
        if exp.saturating_add(VERIFY_LEEWAY) <= now {
            return Err(Rejected::Expired);
        }
        let nbf = seconds(claims.not_before).unwrap_or(0);
        if nbf > now.saturating_add(VERIFY_LEEWAY) {
            return Err(Rejected::NotYetValid);
        }
        Ok(RegistryClaims {
            iss: body.iss.clone(),
            sub: body.sub.clone(),
            aud: body.aud.clone(),
            exp,
            nbf,
            iat: seconds(claims.issued_at).unwrap_or(nbf),
            jti: body.jti.clone(),
            access: body.access.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtrust_kid_shape() {
        let kid = libtrust_kid(b"anything");
        assert_eq!(kid.len(), 48 + 11);
        assert_eq!(kid.split(':').count(), 12);
        assert!(kid.split(':').all(|g| g.len() == 4
            && g.chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))));
    }

    #[test]
    fn pem_blocks_split_bundles() {
        let b = "junk\n-----BEGIN A-----\nAAAA\n-----END A-----\n\n-----BEGIN B-----\nBBBB\n-----END B-----\n";
        let blocks = pem_blocks(b);
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].starts_with("-----BEGIN B-----"));
    }
}
