//! Published key material: an RFC 7517 JWK Set (registry 3.x, OIDC-style clients) and a PEM
//! certificate bundle (docker-registry 2.8's rootcertbundle).

use super::header::KidFormat;
use super::keys::PublicKey;
use base64ct::{Base64UrlUnpadded, Encoding as _};
use rsa::traits::PublicKeyParts as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

/// The members that define the key (RFC 7638 3.2), in lexicographic order: `crv kty x y` for
/// EC, `e kty n` for RSA.
fn required_members(key: &PublicKey) -> Vec<(&'static str, String)> {
    match key {
        PublicKey::Es256(k) => {
            let point = k.to_sec1_point(false);
            let coord = |c: Option<&p256::FieldBytes>| {
                c.map(|b| Base64UrlUnpadded::encode_string(b))
                    .unwrap_or_default()
            };
            vec![
                ("crv", "P-256".into()),
                ("kty", "EC".into()),
                ("x", coord(point.x())),
                ("y", coord(point.y())),
            ]
        }
        PublicKey::Rs256(k) => vec![
            // RFC 7518 6.3.1: unsigned big-endian without leading zero octets.
            ("e", Base64UrlUnpadded::encode_string(&k.e().to_bytes_be())),
            ("kty", "RSA".into()),
            ("n", Base64UrlUnpadded::encode_string(&k.n().to_bytes_be())),
        ],
    }
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url): the `kid` registry 3.x computes for
/// each `rootcertbundle` key. The hash input is the required members serialized by serde_json
/// without whitespace; they are inserted in lexicographic order, which is the RFC's order
/// whether or not serde_json keeps insertion order, and their values (base64url, `EC`,
/// `P-256`, `RSA`) need no escaping.
pub fn jwk_thumbprint(key: &PublicKey) -> String {
    // Serializing a map of strings cannot fail; an empty input would match no registry's kid.
    let canonical = crate::json_bytes::to_vec(&members(key), 128).unwrap_or_default();
    Base64UrlUnpadded::encode_string(&Sha256::digest(&canonical))
}

/// The required members as a JSON object. Inserted one by one: collecting into a `Map` sorts
/// through the standard library's stable sort, which cost the worker 2 KB gzip.
fn members(key: &PublicKey) -> Map<String, Value> {
    let mut members = Map::new();
    for (k, v) in required_members(key) {
        members.insert(k.to_string(), Value::String(v));
    }
    members
}

/// One JWK (RFC 7518 6.2 / 6.3) with `kid`, `alg` and `use: "sig"`.
pub fn jwk_with_kid(key: &PublicKey, kid: String) -> Value {
    let mut members = members(key);
    members.insert("kid".into(), Value::String(kid));
    members.insert("alg".into(), key.algorithm().as_str().into());
    members.insert("use".into(), "sig".into());
    Value::Object(members)
}

/// One JWK with the libtrust `kid` (registry 2.x's key ID).
pub fn jwk(key: &PublicKey) -> Value {
    jwk_with_kid(key, key.kid())
}

/// `{"keys": [...]}` with libtrust kids.
pub fn jwks(keys: &[PublicKey]) -> Value {
    jwks_with_kids(keys, &[KidFormat::Libtrust])
}

/// `{"keys": [...]}` listing each key once per kid format in `formats` (key by key), so a
/// registry that looks a token's `kid` up in the set (3.x's `jwks` file) finds the key under
/// whichever form the token carries.
pub fn jwks_with_kids(keys: &[PublicKey], formats: &[KidFormat]) -> Value {
    let mut entries = Vec::with_capacity(keys.len() * formats.len());
    for key in keys {
        for format in formats {
            entries.push(jwk_with_kid(key, format.kid(key)));
        }
    }
    json!({ "keys": entries })
}

/// Certificates joined into one PEM bundle, each ending with a newline.
pub fn certificate_bundle(certs_pem: &[&str]) -> String {
    let mut out = String::new();
    for pem in certs_pem {
        out.push_str(pem.trim());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    // Encoded with the base64 crate: an implementation independent of the code's base64ct.
    use crate::token::keys::tests::{es_key, rsa_key};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    #[test]
    fn ec_jwk_round_trips_through_p256() {
        let key = es_key().public_key();
        let j = jwk(&key);
        assert_eq!(j["kty"], "EC");
        assert_eq!(j["crv"], "P-256");
        assert_eq!(j["kid"], key.kid());
        assert_eq!(j["alg"], "ES256");
        assert_eq!(j["use"], "sig");
        let coord = |name: &str| {
            let b = URL_SAFE_NO_PAD.decode(j[name].as_str().unwrap()).unwrap();
            p256::FieldBytes::try_from(&b[..]).unwrap()
        };
        let point = p256::Sec1Point::from_affine_coordinates(&coord("x"), &coord("y"), false);
        let back = p256::ecdsa::VerifyingKey::from_sec1_point(&point).unwrap();
        assert_eq!(PublicKey::Es256(back), key);
    }

    #[test]
    fn rsa_jwk_has_n_and_e() {
        let key = rsa_key().public_key();
        let PublicKey::Rs256(pk) = &key else {
            unreachable!()
        };
        let j = jwk(&key);
        assert_eq!(j["kty"], "RSA");
        assert_eq!(j["e"], "AQAB");
        let n = URL_SAFE_NO_PAD.decode(j["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256, "2048 bits, no leading zero octet");
        let back = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(&n),
            rsa::BigUint::from(65_537u32),
        )
        .unwrap();
        assert_eq!(&back, pk);
        assert_eq!(j["alg"], "RS256");
        let set = jwks(&[key.clone(), es_key().public_key()]);
        assert_eq!(set["keys"].as_array().unwrap().len(), 2);
        assert_eq!(set["keys"][0]["kid"], key.kid());
    }

    /// RFC 7638 3.1's example: the RSA key and its thumbprint, as published in the RFC.
    #[test]
    fn thumbprint_of_the_rfc_7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let e = "AQAB";
        let num = |s: &str| rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(s).unwrap());
        let key = PublicKey::Rs256(rsa::RsaPublicKey::new(num(n), num(e)).unwrap());
        assert_eq!(
            jwk_thumbprint(&key),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// An EC key's thumbprint, computed independently from the RFC's recipe with Python:
    /// `base64url(sha256(json.dumps({"crv","kty","x","y"}, sort_keys=True, separators=(",",":"))))`.
    #[test]
    fn thumbprint_of_an_ec_key() {
        let pem = crate::test_support::OPENSSL_EC_PUBLIC_PEM;
        let key = PublicKey::from_pem(pem).unwrap();
        assert_eq!(jwk_thumbprint(&key), EC_THUMBPRINT);
        assert_eq!(KidFormat::Thumbprint.kid(&key), EC_THUMBPRINT);
        let set = jwks_with_kids(
            std::slice::from_ref(&key),
            &[KidFormat::Libtrust, KidFormat::Thumbprint],
        );
        let kids = crate::test_support::jwks_kids(&set);
        assert_eq!(kids, [key.kid().as_str(), EC_THUMBPRINT]);
        assert_eq!(set["keys"][0]["x"], set["keys"][1]["x"]);
    }

    const EC_THUMBPRINT: &str = "SCvnznMIwEkU14PwUnQtp2mqU56YAe7pDgPQIcc4Zxo";

    #[test]
    fn bundle_joins_blocks() {
        let b = certificate_bundle(&[
            "-----BEGIN A-----\nx\n-----END A-----\n\n",
            "  -----BEGIN B-----\ny\n-----END B-----",
        ]);
        assert_eq!(
            b,
            "-----BEGIN A-----\nx\n-----END A-----\n-----BEGIN B-----\ny\n-----END B-----\n"
        );
    }
}
