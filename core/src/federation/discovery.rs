//! Parsing what an issuer publishes: the OIDC discovery document (only `issuer` and `jwks_uri`
//! matter) and its JWK Set. Each usable key carries its `kid` and one algorithm fixed by its type:
//! RSA (2048-4096 bits) verifies only RS256, EC P-256 only ES256. Keys of other types, for
//! encryption, without a `kid` or whose `alg` contradicts their type are skipped, not trusted.

use super::issuers::check_url;
use crate::limits::{MAX_JWKS_KEYS, MAX_OIDC_DOCUMENT_BYTES};
use crate::token::keys::MIN_RSA_BITS;
use crate::token::PublicKey;
use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde_json::Value;

/// RSA moduli above this are refused (verification cost grows with the size).
const MAX_RSA_BITS: usize = 4096;
/// Bytes in a `kid`.
const MAX_KID_LEN: usize = 256;

/// The `jwks_uri` of a discovery document, after checking that it describes `expected_issuer`
/// (OIDC Discovery 4.3) and points at an https (or loopback http) URL.
pub(crate) fn parse_discovery(body: &[u8], expected_issuer: &str) -> Result<String, String> {
    if body.len() > MAX_OIDC_DOCUMENT_BYTES {
        return Err(format!(
            "the discovery document is larger than {MAX_OIDC_DOCUMENT_BYTES} bytes"
        ));
    }
    // Read through `Value` rather than a derived struct: the worker already carries Value's
    // deserializer, and every derived one costs wasm size.
    let d: Value = crate::json_object::value(body)
        .map_err(|e| format!("the discovery document is not valid JSON ({e})"))?;
    let issuer = d.get("issuer").and_then(Value::as_str).unwrap_or_default();
    if issuer != expected_issuer {
        return Err(format!(
            "the discovery document names issuer '{}', not '{expected_issuer}'",
            issuer.chars().take(128).collect::<String>()
        ));
    }
    let jwks_uri = d
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or("the discovery document has no jwks_uri")?;
    check_url("jwks_uri", jwks_uri)?;
    Ok(jwks_uri.to_string())
}

/// A member of a JWK as text (absent or not a string: `None`).
fn member<'a>(j: &'a Value, name: &str) -> Option<&'a str> {
    j.get(name).and_then(Value::as_str)
}

/// A trusted key of an issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssuerKey {
    pub kid: String,
    pub key: PublicKey,
}

fn b64(j: &Value, name: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(member(j, name)?).ok()
}

/// One JWK (RFC 7517/7518) as a verification key, or why it cannot be one; unknown members
/// (x5c, x5t, ...) are ignored. `tollgate inspect --jwks` prints the reason; an issuer's JWK Set
/// skips such keys.
pub fn jwk_public_key(j: &Value) -> Result<PublicKey, &'static str> {
    if j.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return Err("\"use\" is not \"sig\"");
    }
    let alg = j.get("alg").map(|a| a.as_str().unwrap_or("?"));
    match member(j, "kty") {
        Some("RSA") => {
            if alg.is_some_and(|a| a != "RS256") {
                return Err("an RSA key's \"alg\" must be RS256");
            }
            let field = |name| b64(j, name).ok_or("\"n\" and \"e\" must be base64url");
            let n = rsa::BigUint::from_bytes_be(&field("n")?);
            let e = rsa::BigUint::from_bytes_be(&field("e")?);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&n.bits()) {
                return Err("the RSA modulus must have 2048 to 4096 bits");
            }
            rsa::RsaPublicKey::new(n, e)
                .map(PublicKey::Rs256)
                .map_err(|_| "not a usable RSA public key")
        }
        Some("EC") => {
            if member(j, "crv") != Some("P-256") {
                return Err("only the P-256 curve is supported");
            }
            if alg.is_some_and(|a| a != "ES256") {
                return Err("a P-256 key's \"alg\" must be ES256");
            }
            const COORD: &str = "\"x\" and \"y\" must be 32 bytes of base64url";
            let coord = |name| {
                b64(j, name)
                    .and_then(|c| p256::FieldBytes::try_from(&c[..]).ok())
                    .ok_or(COORD)
            };
            let point = p256::Sec1Point::from_affine_coordinates(&coord("x")?, &coord("y")?, false);
            p256::ecdsa::VerifyingKey::from_sec1_point(&point)
                .map(PublicKey::Es256)
                .map_err(|_| "the point is not on the P-256 curve")
        }
        _ => Err("unsupported \"kty\"; expected EC (P-256) or RSA"),
    }
}

/// The usable signing keys of a JWK Set (at most `MAX_JWKS_KEYS`). A set with none is an error:
/// trusting an issuer with no keys would only ever refuse, so say why.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<IssuerKey>, String> {
    if body.len() > MAX_OIDC_DOCUMENT_BYTES {
        return Err(format!(
            "the JWK Set is larger than {MAX_OIDC_DOCUMENT_BYTES} bytes"
        ));
    }
    let set: Value = crate::json_object::value(body)
        .map_err(|e| format!("the JWK Set is not valid JSON ({e})"))?;
    let list = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWK Set has no 'keys' array")?;
    // A plain loop: iterator adapters here cost wasm size for nothing.
    let mut keys = Vec::new();
    for j in list {
        if keys.len() == MAX_JWKS_KEYS {
            break;
        }
        let Some(kid) = member(j, "kid").filter(|k| !k.is_empty() && k.len() <= MAX_KID_LEN) else {
            continue;
        };
        if let Ok(key) = jwk_public_key(j) {
            keys.push(IssuerKey {
                kid: kid.to_string(),
                key,
            });
        }
    }
    if keys.is_empty() {
        return Err(
            "the JWK Set has no usable RS256 or ES256 (P-256) signing key with a kid".into(),
        );
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    // Encoded with the base64 crate: an implementation independent of the code's base64ct.
    use crate::token::jwk;
    use crate::token::keys::tests::{es_key, rsa_key};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use serde_json::json;

    #[test]
    fn parses_rsa_and_ec_keys_from_jwks() {
        let (r, e) = (rsa_key().public_key(), es_key().public_key());
        let mut rj = jwk(&r);
        rj["kid"] = json!("r1");
        let mut ej = jwk(&e);
        ej["kid"] = json!("e1");
        let body = json!({"keys": [rj, ej]}).to_string();
        let keys = parse_jwks(body.as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys[0],
            IssuerKey {
                kid: "r1".into(),
                key: r
            }
        );
        assert_eq!(
            keys[1],
            IssuerKey {
                kid: "e1".into(),
                key: e
            }
        );
    }

    #[test]
    fn skips_keys_that_contradict_their_type() {
        let r = rsa_key().public_key();
        let mut bad_alg = jwk(&r);
        bad_alg["alg"] = json!("HS256");
        let mut enc = jwk(&r);
        enc["use"] = json!("enc");
        let mut no_kid = jwk(&r);
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut ec_as_rs = jwk(&es_key().public_key());
        ec_as_rs["alg"] = json!("RS256");
        let oct = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"});
        for k in [bad_alg, enc, no_kid, ec_as_rs, oct] {
            let body = json!({"keys": [k]}).to_string();
            assert!(parse_jwks(body.as_bytes()).is_err(), "{body}");
        }
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(&vec![b' '; MAX_OIDC_DOCUMENT_BYTES + 1]).is_err());
    }

    #[test]
    fn says_why_a_jwk_is_not_a_key() {
        let r = rsa_key().public_key();
        let e = es_key().public_key();
        assert_eq!(jwk_public_key(&jwk(&r)).unwrap(), r);
        assert_eq!(jwk_public_key(&jwk(&e)).unwrap(), e);
        let with = |base: &PublicKey, name: &str, v: Value| {
            let mut k = jwk(base);
            k[name] = v;
            jwk_public_key(&k).unwrap_err()
        };
        assert!(with(&r, "use", json!("enc")).contains("use"));
        assert!(with(&r, "alg", json!("ES256")).contains("RS256"));
        assert!(with(&r, "n", json!("AQAB")).contains("2048 to 4096"));
        assert!(with(&r, "n", json!("not base64!")).contains("base64url"));
        assert!(with(&e, "crv", json!("P-384")).contains("P-256"));
        assert!(with(&e, "alg", json!("RS256")).contains("ES256"));
        assert!(with(&e, "x", json!("AAAA")).contains("32 bytes"));
        // 32 bytes, but (x, y) not on the curve.
        assert!(with(&e, "x", json!(URL_SAFE_NO_PAD.encode([1u8; 32]))).contains("curve"));
        assert!(with(&e, "kty", json!("oct")).contains("kty"));
    }

    #[test]
    fn keeps_a_bounded_number_of_keys() {
        let mut k = jwk(&es_key().public_key());
        let many: Vec<_> = (0..40)
            .map(|i| {
                k["kid"] = json!(format!("k{i}"));
                k.clone()
            })
            .collect();
        let body = json!({ "keys": many }).to_string();
        assert_eq!(parse_jwks(body.as_bytes()).unwrap().len(), MAX_JWKS_KEYS);
    }

    #[test]
    fn discovery_must_name_the_issuer() {
        let doc = br#"{"issuer":"https://i.example","jwks_uri":"https://i.example/keys","x":1}"#;
        assert_eq!(
            parse_discovery(doc, "https://i.example").unwrap(),
            "https://i.example/keys"
        );
        assert!(parse_discovery(doc, "https://other.example").is_err());
        let plain = br#"{"issuer":"https://i.example","jwks_uri":"http://i.example/keys"}"#;
        assert!(parse_discovery(plain, "https://i.example").is_err());
        assert!(parse_discovery(b"[]", "https://i.example").is_err());
    }
}
