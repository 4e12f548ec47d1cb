use super::*;
use crate::token::keys::tests::{es_key, rsa_key};
use crate::token::Access;

pub(crate) fn claims() -> RegistryClaims {
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
            actions: vec!["pull".into()],
        }],
        net: None,
    }
}

/// A signer for `key` (no certificate) and `claims` signed by it.
pub(crate) fn sign_with(key: SigningKey, claims: &RegistryClaims) -> (Signer, String) {
    let signer = Signer::new(key, None).unwrap();
    let token = signer.sign(claims).unwrap();
    (signer, token)
}

fn decode_part(token: &str, i: usize) -> serde_json::Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn header_and_payload_shape() {
    for key in [es_key(), rsa_key()] {
        let alg = key.algorithm();
        let (signer, token) = sign_with(key, &claims());
        let h = decode_part(&token, 0);
        assert_eq!(h["alg"], alg.as_str());
        assert_eq!(h["typ"], "JWT");
        assert_eq!(h["kid"], signer.kid());
        assert!(h.get("x5c").is_none());
        let p = decode_part(&token, 1);
        assert_eq!(p["aud"], "registry");
        assert!(p["exp"].is_u64() && p["nbf"].is_u64() && p["iat"].is_u64());
        assert_eq!(p["exp"], 1_000_300);
    }
}

/// The signer's own framing (header encoded and hashed once) must write exactly what
/// jwt-compact's `AlgorithmExt::token` writes for the same header and claims. ES256 nonces
/// (RFC 6979) and PKCS#1 v1.5 are deterministic, so the tokens compare byte for byte.
#[test]
fn tokens_match_jwt_compact_byte_for_byte() {
    use crate::token::self_signed_certificate;
    use jwt_compact::{AlgorithmExt as _, Claims, Header};
    for key in [es_key(), rsa_key()] {
        let pem = self_signed_certificate(&key, "t", 999_000, 1, &[7]).unwrap();
        let variants = [
            (None, KidFormat::Libtrust, false),
            (Some(&pem), KidFormat::Libtrust, true),
            (Some(&pem), KidFormat::Thumbprint, true),
            (Some(&pem), KidFormat::Thumbprint, false),
            (None, KidFormat::Thumbprint, false),
        ];
        for (cert, kid, x5c) in variants {
            let header = TokenHeader { kid, x5c };
            let signer =
                Signer::with_header(key.clone(), cert.map(String::as_str), header).unwrap();
            assert_eq!(signer.kid(), kid.kid(&key.public_key()));
            assert_eq!(signer.x5c().is_some(), x5c);
            let mut c = claims();
            c.sub = "a \"quoted\" é".into();
            let header = Header::new(X5cHeader {
                x5c: signer.x5c().map(<[String]>::to_vec),
            })
            .with_key_id(signer.kid())
            .with_token_type("JWT");
            let expected = match &key {
                SigningKey::Es256(k) => Es256.token(&header, &Claims::new(&c), k),
                SigningKey::Rs256(k) => Rs256.token(&header, &Claims::new(&c), k),
            }
            .unwrap();
            assert_eq!(signer.sign(&c).unwrap(), expected, "{:?}", signer);
        }
    }
}

#[test]
fn x5c_without_a_certificate_is_refused() {
    let header = TokenHeader {
        kid: KidFormat::Thumbprint,
        x5c: true,
    };
    assert!(Signer::with_header(es_key(), None, header).is_err());
    // The certificate is still checked when it is not sent.
    let other = crate::token::self_signed_certificate(&es_key(), "t", 999_000, 1, &[7]).unwrap();
    let kid_only = TokenHeader {
        x5c: false,
        ..header
    };
    assert_eq!(
        Signer::with_header(es_key(), Some(&other), kid_only).unwrap_err(),
        KeyError::CertificateMismatch
    );
}

#[test]
fn debug_shows_no_key() {
    let s = Signer::new(es_key(), None).unwrap();
    let dbg = format!("{s:?}");
    assert!(dbg.contains(s.kid()) && !dbg.contains("Es256("));
}
