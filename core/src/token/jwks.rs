//! Published key material: an RFC 7517 JWK Set (registry 3.x, OIDC-style clients) and a PEM
//! certificate bundle (docker-registry 2.8's rootcertbundle).

use super::keys::PublicKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{json, Value};

/// One JWK (RFC 7518 6.2 / 6.3) with the libtrust `kid`, `alg` and `use: "sig"`.
pub fn jwk(key: &PublicKey) -> Value {
    let kid = key.kid();
    let alg = key.algorithm().as_str();
    match key {
        PublicKey::Es256(k) => {
            let point = k.to_sec1_point(false);
            let coord = |c: Option<&p256::FieldBytes>| {
                c.map(|b| URL_SAFE_NO_PAD.encode(b)).unwrap_or_default()
            };
            json!({"kty": "EC", "crv": "P-256", "x": coord(point.x()), "y": coord(point.y()),
                   "kid": kid, "alg": alg, "use": "sig"})
        }
        PublicKey::Rs256(k) => json!({
            "kty": "RSA",
            // RFC 7518 6.3.1: unsigned big-endian without leading zero octets.
            "n": URL_SAFE_NO_PAD.encode(k.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(k.e().to_bytes_be()),
            "kid": kid, "alg": alg, "use": "sig"
        }),
    }
}

/// `{"keys": [...]}`.
pub fn jwks(keys: &[PublicKey]) -> Value {
    json!({ "keys": keys.iter().map(jwk).collect::<Vec<_>>() })
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
    use crate::token::keys::tests::{es_key, rsa_key};

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
