//! Token verification, in two reusable steps: [`verify_jwt_with_keys`] finds the key and checks
//! the signature (usable for any JWT, e.g. OIDC identity tokens later), then [`Verifier::verify`]
//! checks the registry claims.

use super::alg::{Es256, Es256Signature, Rs256, Rs256Signature};
use super::claims::{Access, RegistryClaims};
use super::jwks::jwk_thumbprint;
use super::keys::PublicKey;
use super::sign::X5cHeader;
use crate::limits::MAX_TOKEN_LEN;
use crate::time_claims::{TimeClaims, TimeError};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
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
    let der = STANDARD.decode(leaf).ok()?;
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
    verify_jwt(token, keys, &|kid| {
        key_by_kid(keys, &libtrust, &thumbprints, kid)
    })
}

/// As [`verify_jwt_with_keys`], with `kids[i]` naming `keys[i]` (an OIDC issuer's JWKS `kid`s
/// rather than libtrust IDs).
pub fn verify_jwt_with_kids<'k>(
    token: &str,
    keys: &'k [PublicKey],
    kids: &[String],
) -> Result<VerifiedJwt<'k>, VerifyError> {
    verify_jwt(token, keys, &|kid| {
        keys.iter()
            .zip(kids)
            .find(|(_, id)| *id == kid)
            .map(|(k, _)| k)
    })
}

/// The verification itself; `by_kid` is a trait object so this large body is compiled once,
/// not once per caller (the worker's size budget).
fn verify_jwt<'k>(
    token: &str,
    keys: &'k [PublicKey],
    by_kid: &dyn Fn(&str) -> Option<&'k PublicKey>,
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
    // to `BadSignature`; the signatures are parsed directly instead. Claims first (cheap), as the validator does: the registered claims must
    // have their JSON types and no duplicate keys; their values are checked by the caller.
    untrusted
        .deserialize_claims_unchecked::<Empty>()
        .map_err(|_| VerifyError::Malformed)?;
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
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .ok_or(VerifyError::Malformed)?;
    Ok(VerifiedJwt { key, payload })
}

/// Registry claims as they arrive: times must be JSON integers; `aud` is checked separately.
#[derive(Deserialize)]
struct WireClaims {
    iss: String,
    #[serde(default)]
    sub: String,
    aud: serde_json::Value,
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
        let verified = verify_jwt(token, &self.keys, &|kid| {
            key_by_kid(&self.keys, &self.kids, &self.thumbprints, kid)
        })?;
        let wire: WireClaims =
            serde_json::from_slice(&verified.payload).map_err(|_| VerifyError::Malformed)?;
        if wire.iss != self.issuer {
            return Err(VerifyError::Issuer);
        }
        let aud = wire.aud.as_str().ok_or(VerifyError::Audience)?;
        if !self.audiences.iter().any(|a| a == aud) {
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
            aud: aud.to_owned(),
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
mod tests {
    use super::*;
    use crate::token::keys::tests::{es_key, rsa_key};
    use crate::token::{self_signed_certificate, Access, Signer, SigningKey};
    use jwt_compact::AlgorithmExt as _;

    const NOW: u64 = 1_000_100;

    fn claims() -> RegistryClaims {
        RegistryClaims {
            iss: "tollgate".into(),
            sub: "alice".into(),
            aud: "registry".into(),
            exp: 1_000_300,
            nbf: 1_000_000,
            iat: 1_000_000,
            jti: "j1".into(),
            access: vec![Access {
                resource_type: "repository".into(),
                name: "a/b".into(),
                actions: vec!["pull".into(), "push".into()],
            }],
            net: None,
        }
    }

    fn verifier(keys: Vec<PublicKey>) -> Verifier {
        Verifier::new(
            keys,
            "tollgate".into(),
            vec!["other".into(), "registry".into()],
            crate::limits::CLOCK_LEEWAY_SECS,
        )
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    /// Replaces the payload of a signed token, keeping header and signature.
    fn with_payload(token: &str, payload: &serde_json::Value) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        format!("{}.{}.{}", parts[0], b64(payload), parts[2])
    }

    #[test]
    fn round_trip_es256_and_rs256() {
        for key in [es_key(), rsa_key()] {
            let public = key.public_key();
            let signer = Signer::new(key, None).unwrap();
            let token = signer.sign(&claims()).unwrap();
            let keys = [es_key().public_key(), public.clone()];
            let raw = verify_jwt_with_keys(&token, &keys).unwrap();
            assert_eq!(*raw.key, public);
            let json: serde_json::Value = serde_json::from_slice(&raw.payload).unwrap();
            assert_eq!(json["sub"], "alice");
            let got = verifier(vec![es_key().public_key(), public])
                .verify(&token, NOW)
                .unwrap();
            assert_eq!(got, claims());
        }
    }

    /// Registry 3.x reads kid-only tokens by RFC 7638 thumbprint: Tollgate's own verifier
    /// (the proxy) accepts that form as well as the libtrust one, and nothing else.
    #[test]
    fn thumbprint_kid_selects_the_key() {
        use crate::token::{KidFormat, TokenHeader};
        let key = es_key();
        for kid in [KidFormat::Libtrust, KidFormat::Thumbprint] {
            let header = TokenHeader { kid, x5c: false };
            let token = Signer::with_header(key.clone(), None, header)
                .unwrap()
                .sign(&claims())
                .unwrap();
            let keys = [rsa_key().public_key(), key.public_key()];
            assert_eq!(*verify_jwt_with_keys(&token, &keys).unwrap().key, keys[1]);
            assert_eq!(verifier(keys.to_vec()).verify(&token, NOW), Ok(claims()));
            assert_eq!(
                verifier(vec![es_key().public_key()]).verify(&token, NOW),
                Err(VerifyError::UnknownKey)
            );
        }
    }

    #[test]
    fn x5c_leaf_selects_the_key_without_kid_match() {
        let key = es_key();
        let cert = self_signed_certificate(&key, "t", 999_000, 1, &[7]).unwrap();
        let signer = Signer::new(key.clone(), Some(&cert)).unwrap();
        assert_eq!(signer.x5c().map(<[String]>::len), Some(1));
        // Build the same header with a kid nobody knows, signed by the same key.
        let header = jwt_compact::Header::new(X5cHeader {
            x5c: signer.x5c().map(<[String]>::to_vec),
        })
        .with_key_id("AAAA:BBBB")
        .with_token_type("JWT");
        let SigningKey::Es256(sk) = &key else {
            unreachable!()
        };
        let token = Es256
            .token(&header, &jwt_compact::Claims::new(claims()), sk)
            .unwrap();
        assert_eq!(
            verifier(vec![key.public_key()])
                .verify(&token, NOW)
                .unwrap(),
            claims()
        );
        assert_eq!(
            verifier(vec![es_key().public_key()]).verify(&token, NOW),
            Err(VerifyError::UnknownKey)
        );
    }

    #[test]
    fn certificate_for_another_key_is_refused() {
        let cert = self_signed_certificate(&es_key(), "t", 999_000, 1, &[7]).unwrap();
        assert_eq!(
            Signer::new(es_key(), Some(&cert)).unwrap_err(),
            crate::token::KeyError::CertificateMismatch
        );
    }

    #[test]
    fn signature_failures() {
        for key in [es_key(), rsa_key()] {
            let alg = key.public_key().algorithm();
            let v = verifier(vec![key.public_key()]);
            let token = Signer::new(key, None).unwrap().sign(&claims()).unwrap();
            assert!(v.verify(&token, NOW).is_ok(), "{alg:?}");
            let mut evil = serde_json::to_value(claims()).unwrap();
            evil["sub"] = "mallory".into();
            assert_eq!(
                v.verify(&with_payload(&token, &evil), NOW),
                Err(VerifyError::BadSignature),
                "{alg:?}"
            );
            // Signatures one byte short, one byte long, empty, and one bit off (re-encoded, so
            // the base64 itself is well formed).
            let (signed_part, sig) = token.rsplit_once('.').unwrap();
            let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
            let mut flipped = sig.clone();
            flipped[5] ^= 1;
            let longer = [&sig[..], &[0]].concat();
            for bad in [&sig[..sig.len() - 1], &longer[..], &[], &flipped[..]] {
                let forged = format!("{signed_part}.{}", URL_SAFE_NO_PAD.encode(bad));
                assert_eq!(
                    v.verify(&forged, NOW),
                    Err(VerifyError::BadSignature),
                    "{alg:?}, {} bytes",
                    bad.len()
                );
            }
            // Chopping base64 characters may leave non-canonical base64: refused either way.
            assert!(v.verify(&token[..token.len() - 4], NOW).is_err());
        }
        let v = verifier(vec![es_key().public_key()]);
        assert_eq!(v.verify("abc", NOW), Err(VerifyError::Malformed));
        assert_eq!(v.verify("", NOW), Err(VerifyError::Malformed));
    }

    #[test]
    fn alg_none_and_hs256_with_public_key_are_refused_before_signature_work() {
        let key = es_key();
        let public = key.public_key();
        let v = verifier(vec![public.clone()]);
        let payload = serde_json::to_value(claims()).unwrap();
        let none = serde_json::json!({"alg": "none", "typ": "JWT", "kid": public.kid()});
        let token = format!("{}.{}.", b64(&none), b64(&payload));
        assert_eq!(v.verify(&token, NOW), Err(VerifyError::AlgorithmMismatch));
        // HS256 keyed with the public key's bytes (the classic key-confusion attack), both forms.
        let spki = public.spki_der();
        let pem =
            x509_cert::der::pem::encode_string("PUBLIC KEY", Default::default(), &spki).unwrap();
        for secret in [spki.clone(), pem.into_bytes()] {
            let header = jwt_compact::Header::empty().with_key_id(public.kid());
            let hs = jwt_compact::alg::Hs256
                .token(
                    &header,
                    &jwt_compact::Claims::new(claims()),
                    &jwt_compact::alg::Hs256Key::new(&secret),
                )
                .unwrap();
            assert_eq!(v.verify(&hs, NOW), Err(VerifyError::AlgorithmMismatch));
        }
        // RS256 claimed for a P-256 key.
        let rs = serde_json::json!({"alg": "RS256", "kid": public.kid()});
        let token = format!("{}.{}.AAAA", b64(&rs), b64(&payload));
        assert_eq!(v.verify(&token, NOW), Err(VerifyError::AlgorithmMismatch));
    }

    #[test]
    fn unknown_or_missing_kid() {
        let signer = Signer::new(es_key(), None).unwrap();
        let token = signer.sign(&claims()).unwrap();
        assert_eq!(
            verifier(vec![es_key().public_key()]).verify(&token, NOW),
            Err(VerifyError::UnknownKey)
        );
        assert_eq!(
            verifier(vec![]).verify(&token, NOW),
            Err(VerifyError::UnknownKey)
        );
    }

    fn signed(edit: impl FnOnce(&mut RegistryClaims)) -> (Verifier, String) {
        let key = es_key();
        let v = verifier(vec![key.public_key()]);
        let mut c = claims();
        edit(&mut c);
        (v, Signer::new(key, None).unwrap().sign(&c).unwrap())
    }

    #[test]
    fn claim_checks() {
        let (v, t) = signed(|c| c.iss = "someone-else".into());
        assert_eq!(v.verify(&t, NOW), Err(VerifyError::Issuer));
        let (v, t) = signed(|c| c.aud = "registry2".into());
        assert_eq!(v.verify(&t, NOW), Err(VerifyError::Audience));
        let (v, t) = signed(|c| c.aud = "other".into());
        assert_eq!(v.verify(&t, NOW).unwrap().aud, "other");
    }

    #[test]
    fn leeway_edges() {
        let (v, t) = signed(|_| {});
        // exp = 1_000_300, leeway 60: valid through 1_000_360 inclusive.
        assert!(v.verify(&t, 1_000_360).is_ok());
        assert_eq!(v.verify(&t, 1_000_361), Err(VerifyError::Expired));
        // nbf = 1_000_000: valid from 999_940 inclusive.
        assert!(v.verify(&t, 999_940).is_ok());
        assert_eq!(v.verify(&t, 999_939), Err(VerifyError::NotYetValid));
    }

    #[test]
    fn array_audience_and_float_times_are_refused() {
        let key = es_key();
        let v = verifier(vec![key.public_key()]);
        let SigningKey::Es256(sk) = &key else {
            unreachable!()
        };
        let header = jwt_compact::Header::empty().with_key_id(key.public_key().kid());
        let sign = |payload: serde_json::Value| {
            Es256
                .token(&header, &jwt_compact::Claims::new(payload), sk)
                .unwrap()
        };
        let mut p = serde_json::to_value(claims()).unwrap();
        p["aud"] = serde_json::json!(["registry"]);
        assert_eq!(v.verify(&sign(p), NOW), Err(VerifyError::Audience));
        let mut p = serde_json::to_value(claims()).unwrap();
        p["nbf"] = serde_json::json!(1_000_000.5);
        assert_eq!(v.verify(&sign(p), NOW), Err(VerifyError::Malformed));
        let mut p = serde_json::to_value(claims()).unwrap();
        p["exp"] = serde_json::json!("1000300");
        assert_eq!(v.verify(&sign(p), NOW), Err(VerifyError::Malformed));
    }

    #[test]
    fn oversize_refused_and_errors_never_echo_the_token() {
        let (v, _) = signed(|_| {});
        let big = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(v.verify(&big, NOW), Err(VerifyError::TooLarge));
        let all = [
            VerifyError::TooLarge,
            VerifyError::Malformed,
            VerifyError::UnknownKey,
            VerifyError::AlgorithmMismatch,
            VerifyError::BadSignature,
            VerifyError::Issuer,
            VerifyError::Audience,
            VerifyError::Expired,
            VerifyError::NotYetValid,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|e| !e.to_string().is_empty()));
    }
}
