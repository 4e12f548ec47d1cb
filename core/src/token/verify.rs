//! Token verification, in two reusable steps: [`verify_jwt_with_keys`] finds the key and checks
//! the signature (usable for any JWT, e.g. OIDC identity tokens later), then [`Verifier::verify`]
//! checks the registry claims.

use super::alg::{Es256, Es256Signature, Rs256, Rs256Signature};
use super::claims::{Access, RegistryClaims};
use super::keys::PublicKey;
use super::published::jwk_thumbprint;
use super::sign::X5cHeader;
use crate::limits::MAX_TOKEN_LEN;
use crate::time_claims::{TimeClaims, TimeError};
use base64ct::{Base64, Base64UrlUnpadded, Encoding as _};
use jwt_compact::{Algorithm as _, Empty, UntrustedToken};
use serde::Deserialize;
use std::fmt;

/// Why a token was refused. Each variant names the failed check; messages never hold the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Longer than `limits::MAX_TOKEN_LEN`.
    TooLarge,
    /// Not a compact JWS with JSON header and claims of the expected types.
    Malformed,
    /// Neither `kid` nor the `x5c` leaf names a trusted key.
    UnknownKey,
    /// `alg` is not the one algorithm of the selected key (this also refuses "none" and HS256).
    AlgorithmMismatch,
    BadSignature,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
}

impl VerifyError {
    /// A stable identifier for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            VerifyError::TooLarge => "too_large",
            VerifyError::Malformed => "malformed",
            VerifyError::UnknownKey => "unknown_key",
            VerifyError::AlgorithmMismatch => "algorithm_mismatch",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::Issuer => "issuer",
            VerifyError::Audience => "audience",
            VerifyError::Expired => "expired",
            VerifyError::NotYetValid => "not_yet_valid",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyError::TooLarge => "the token is longer than any token Tollgate issues",
            VerifyError::Malformed => "the token is not a well-formed JWT with the expected claims",
            VerifyError::UnknownKey => {
                "the token was not signed by a trusted key (unknown kid or x5c)"
            }
            VerifyError::AlgorithmMismatch => "the token's alg does not match its key's algorithm",
            VerifyError::BadSignature => "the token's signature is invalid",
            VerifyError::Issuer => "the token was issued by another issuer",
            VerifyError::Audience => "the token is meant for another service",
            VerifyError::Expired => "the token has expired",
            VerifyError::NotYetValid => "the token is not valid yet",
        })
    }
}

impl std::error::Error for VerifyError {}

/// A token whose signature checked out: which key signed it, and the raw JSON claims.
#[derive(Debug, Clone)]
pub struct VerifiedJwt<'k> {
    pub key: &'k PublicKey,
    pub payload: Vec<u8>,
}

/// The key a token's header names: the one whose ID (`by_kid`) is its `kid`, else the `x5c`
/// leaf's public key if it is among `keys`.
fn find_key<'k>(
    keys: &'k [PublicKey],
    by_kid: &dyn Fn(&str) -> Option<&'k PublicKey>,
    header: &jwt_compact::Header<X5cHeader>,
) -> Option<&'k PublicKey> {
    if let Some(key) = header.key_id.as_deref().and_then(by_kid) {
        return Some(key);
    }
    let leaf = header.other_fields.x5c.as_ref()?.first()?;
    let der = Base64::decode_vec(leaf).ok()?;
    let key = PublicKey::from_certificate_der(&der).ok()?;
    keys.iter().find(|k| **k == key)
}

/// The key of `keys` that `kid` names in either form Tollgate signs with: libtrust
/// (`libtrust[i]` names `keys[i]`) or RFC 7638 thumbprint (`thumbprints[i]`).
fn key_by_kid<'k>(
    keys: &'k [PublicKey],
    libtrust: &[String],
    thumbprints: &[String],
    kid: &str,
) -> Option<&'k PublicKey> {
    let ids = if kid.contains(':') {
        libtrust
    } else {
        thumbprints
    };
    keys.iter()
        .zip(ids)
        .find(|(_, id)| *id == kid)
        .map(|(k, _)| k)
}

/// Finds the signing key (`kid` as a libtrust key ID or RFC 7638 thumbprint, else the `x5c`
/// leaf's public key), pins `alg` to that key's algorithm before any signature work, and checks
/// the signature.
pub fn verify_jwt_with_keys<'k>(
    token: &str,
    keys: &'k [PublicKey],
) -> Result<VerifiedJwt<'k>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::TooLarge);
    }
    let libtrust: Vec<String> = keys.iter().map(PublicKey::kid).collect();
    let thumbprints: Vec<String> = keys.iter().map(jwk_thumbprint).collect();
    verify_jwt(
        token,
        keys,
        &|kid| key_by_kid(keys, &libtrust, &thumbprints, kid),
        ClaimTypes::Checked,
    )
}

/// As [`verify_jwt_with_keys`], with `kids[i]` naming `keys[i]` (an OIDC issuer's JWKS `kid`s
/// rather than libtrust IDs).
pub fn verify_jwt_with_kids<'k>(
    token: &str,
    keys: &'k [PublicKey],
    kids: &[String],
) -> Result<VerifiedJwt<'k>, VerifyError> {
    verify_jwt(
        token,
        keys,
        &|kid| {
            keys.iter()
                .zip(kids)
                .find(|(_, id)| *id == kid)
                .map(|(k, _)| k)
        },
        ClaimTypes::Checked,
    )
}

/// Whether [`verify_jwt`] checks the registered claims' JSON types itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClaimTypes {
    /// For callers that read the payload as they like (identity tokens read it as a
    /// `serde_json::Value`): `exp`, `nbf` and `iat` must be integers, each given once.
    Checked,
    /// For [`Verifier::verify`], whose typed [`WireClaims`] refuse the same and more (every
    /// registered claim typed and given once) after the signature verified: a second parse of
    /// the claims would only put jwt-compact's `Claims` reader (serde's flatten buffering, chrono)
    /// on every proxied request's path (bench/README.md, "What a first request compiles").
    ByWireClaims,
}

/// The verification itself; `by_kid` is a trait object so this large body is compiled once,
/// not once per caller (the worker's size budget).
fn verify_jwt<'k>(
    token: &str,
    keys: &'k [PublicKey],
    by_kid: &dyn Fn(&str) -> Option<&'k PublicKey>,
    claim_types: ClaimTypes,
) -> Result<VerifiedJwt<'k>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::TooLarge);
    }
    let untrusted =
        UntrustedToken::<X5cHeader>::try_from(token).map_err(|_| VerifyError::Malformed)?;
    let key = find_key(keys, by_kid, untrusted.header()).ok_or(VerifyError::UnknownKey)?;
    if untrusted.algorithm() != key.algorithm().as_str() {
        return Err(VerifyError::AlgorithmMismatch);
    }
    // What jwt-compact's `Validator` does, minus its signature parsing: that goes through
    // `AlgorithmSignature::try_from_slice`, whose anyhow errors link anyhow's Debug, std's
    // backtrace printer and rustc-demangle into the worker (16 KB gzip) for an error we only map
    // to `BadSignature`; the signatures are parsed directly instead. Claims first (cheap), as the
    // validator does, where the caller asked: the registered claims must have their JSON types and
    // no duplicate keys; their values are checked by the caller.
    if claim_types == ClaimTypes::Checked {
        registered_claim_types(&untrusted)?;
    }
    let signed_data = token
        .rsplit_once('.')
        .map(|(data, _)| data.as_bytes())
        .ok_or(VerifyError::Malformed)?;
    let signature = untrusted.signature_bytes();
    let valid = match key {
        PublicKey::Es256(vk) => Es256Signature::from_slice(signature)
            .is_some_and(|sig| Es256.verify_signature(&sig, vk, signed_data)),
        // Rs256 checks the signature's length against the modulus.
        PublicKey::Rs256(pk) => {
            Rs256.verify_signature(&Rs256Signature(signature.to_vec()), pk, signed_data)
        }
    };
    if !valid {
        return Err(VerifyError::BadSignature);
    }
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|p| Base64UrlUnpadded::decode_vec(p).ok())
        .ok_or(VerifyError::Malformed)?;
    Ok(VerifiedJwt { key, payload })
}

/// jwt-compact's check of the registered time claims' types (its `Claims<Empty>` reader), kept
/// out of [`verify_jwt`]'s body so that a caller that does not ask for it does not compile it.
#[inline(never)]
fn registered_claim_types(untrusted: &UntrustedToken<'_, X5cHeader>) -> Result<(), VerifyError> {
    untrusted
        .deserialize_claims_unchecked::<Empty>()
        .map(drop)
        .map_err(|_| VerifyError::Malformed)
}

/// Registry claims as they arrive: times must be JSON integers; `aud`'s value is checked separately.
#[derive(Deserialize)]
struct WireClaims {
    iss: String,
    #[serde(default)]
    sub: String,
    /// One string, as Tollgate and distribution's token servers issue it: an array or any other
    /// JSON is malformed (read without `serde_json::Value`, whose reader every proxied request
    /// would otherwise compile).
    aud: String,
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    jti: String,
    #[serde(default)]
    access: Vec<Access>,
    /// A malformed binding fails deserialisation: the token is refused, never unbound.
    #[serde(default)]
    net: Option<crate::netbind::NetBinding>,
}

/// Verifies registry tokens signed by any of `keys` for `issuer` and one of `audiences`.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<PublicKey>,
    /// libtrust key IDs and RFC 7638 thumbprints of `keys`, computed once (each costs an
    /// encoding and a SHA-256): a token's `kid` may be either (per-service `TOKEN_KID`).
    kids: Vec<String>,
    thumbprints: Vec<String>,
    issuer: String,
    audiences: Vec<String>,
    leeway_secs: u64,
}

impl Verifier {
    pub fn new(
        keys: Vec<PublicKey>,
        issuer: String,
        audiences: Vec<String>,
        leeway_secs: u64,
    ) -> Verifier {
        Verifier {
            kids: keys.iter().map(PublicKey::kid).collect(),
            thumbprints: keys.iter().map(jwk_thumbprint).collect(),
            keys,
            issuer,
            audiences,
            leeway_secs,
        }
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Signature first, then `iss`, `aud`, `exp` (now <= exp + leeway), `nbf` (now + leeway >= nbf).
    pub fn verify(&self, token: &str, now: u64) -> Result<RegistryClaims, VerifyError> {
        let verified = verify_jwt(
            token,
            &self.keys,
            &|kid| key_by_kid(&self.keys, &self.kids, &self.thumbprints, kid),
            ClaimTypes::ByWireClaims,
        )?;
        let wire: WireClaims = crate::json_object::from_slice(&verified.payload)
            .map_err(|_| VerifyError::Malformed)?;
        if wire.iss != self.issuer {
            return Err(VerifyError::Issuer);
        }
        let aud = wire.aud;
        if !self.audiences.contains(&aud) {
            return Err(VerifyError::Audience);
        }
        let nbf = wire.nbf.unwrap_or(0);
        let times = TimeClaims {
            exp: wire.exp,
            nbf: Some(nbf),
            iat: None,
        };
        times.check(now, self.leeway_secs).map_err(|e| match e {
            TimeError::Expired { .. } => VerifyError::Expired,
            TimeError::NotYetValid { .. } | TimeError::IssuedInFuture { .. } => {
                VerifyError::NotYetValid
            }
        })?;
        Ok(RegistryClaims {
            aud,
            iss: wire.iss,
            sub: wire.sub,
            exp: wire.exp,
            nbf,
            iat: wire.iat.unwrap_or(nbf),
            jti: wire.jti,
            access: wire.access,
            net: wire.net,
        })
    }
}

#[cfg(test)]
mod tests;
