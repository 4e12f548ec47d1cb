use super::*;
use crate::token::keys::tests::{es_key, rsa_key};
use crate::token::sign::tests::sign_with;
use crate::token::{self_signed_certificate, Signer, SigningKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::AlgorithmExt as _;

const NOW: u64 = 1_000_100;

/// The signing tests' claims (valid 1_000_000..=1_000_300), granting push on a/b too.
fn claims() -> RegistryClaims {
    let mut c = crate::token::sign::tests::claims();
    c.access[0].actions.push("push".into());
    c
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
        let token = sign_with(key, &claims()).1;
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
        let token = sign_with(key, &claims()).1;
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
    let pem = x509_cert::der::pem::encode_string("PUBLIC KEY", Default::default(), &spki).unwrap();
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
    (v, sign_with(key, &c).1)
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
fn array_audience_and_float_times_are_malformed() {
    let (v, signer) = raw_signer();
    let sign = |payload: serde_json::Value| signer.sign(payload);
    let mut p = serde_json::to_value(claims()).unwrap();
    p["aud"] = serde_json::json!(["registry"]);
    assert_eq!(v.verify(&sign(p), NOW), Err(VerifyError::Malformed));
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

/// Signs any claims with an ES256 key (its libtrust kid in the header), as a token's issuer
/// would, whatever their shape.
struct RawSigner(SigningKey);

impl RawSigner {
    fn sign<T: serde::Serialize>(&self, claims: T) -> String {
        let SigningKey::Es256(sk) = &self.0 else {
            unreachable!()
        };
        let header = jwt_compact::Header::empty().with_key_id(self.0.public_key().kid());
        Es256
            .token(&header, &jwt_compact::Claims::new(claims), sk)
            .unwrap()
    }
}

/// A registry verifier for a fresh ES256 key, and a signer with that key.
fn raw_signer() -> (Verifier, RawSigner) {
    let key = es_key();
    (verifier(vec![key.public_key()]), RawSigner(key))
}

/// Claims serialised as given, duplicate keys included (serde_json writes what it is handed).
struct RawClaims(Vec<(&'static str, serde_json::Value)>);

impl serde::Serialize for RawClaims {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The registry verifier reads the claims once, after the signature, through its typed
/// `WireClaims` (not jwt-compact's `Claims` check as well): every registered claim given twice is
/// malformed, whichever value would win, and so is an `aud` that is not one string.
#[test]
fn registered_claims_given_twice_or_aud_of_another_type_are_refused() {
    let (v, signer) = raw_signer();
    let base = || -> Vec<(&'static str, serde_json::Value)> {
        let serde_json::Value::Object(m) = serde_json::to_value(claims()).unwrap() else {
            unreachable!()
        };
        let names = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"];
        names.iter().map(|n| (*n, m[*n].clone())).collect()
    };
    let sign = |c: RawClaims| signer.sign(c);
    assert!(v.verify(&sign(RawClaims(base())), NOW).is_ok());
    for (name, second) in [
        ("iss", serde_json::json!("tollgate")),
        ("aud", serde_json::json!("registry")),
        ("sub", serde_json::json!("someone-else")),
        ("exp", serde_json::json!(1_000_300)),
        ("nbf", serde_json::json!(1_000_000)),
        ("jti", serde_json::json!("j2")),
        ("access", serde_json::json!([])),
    ] {
        let mut c = base();
        c.push((name, second));
        assert_eq!(
            v.verify(&sign(RawClaims(c)), NOW),
            Err(VerifyError::Malformed),
            "{name} twice"
        );
    }
    for aud in [
        serde_json::json!(7),
        serde_json::json!(null),
        serde_json::json!(true),
        serde_json::json!({"registry": true}),
        serde_json::json!([["registry"]]),
    ] {
        let mut c = base();
        c.retain(|(n, _)| *n != "aud");
        c.push(("aud", aud.clone()));
        assert_eq!(
            v.verify(&sign(RawClaims(c)), NOW),
            Err(VerifyError::Malformed),
            "aud {aud}"
        );
    }
    let mut c = base();
    c.retain(|(n, _)| *n != "aud");
    assert_eq!(
        v.verify(&sign(RawClaims(c)), NOW),
        Err(VerifyError::Malformed),
        "no aud"
    );
}
