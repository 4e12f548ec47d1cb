use super::*;
use std::sync::OnceLock;
use x509_cert::der::{Decode as _, Encode as _};

/// The operating system's RNG, for key generation in tests.
pub(crate) fn rng() -> impl CryptoRng {
    getrandom_04::rand_core::UnwrapErr(getrandom_04::SysRng)
}

/// One RSA key per test run: generation is slow.
pub(crate) fn rsa_key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate_rs256(&mut rand_core::OsRng, 2048).unwrap())
        .clone()
}

pub(crate) fn es_key() -> SigningKey {
    SigningKey::generate_es256(&mut rng())
}

fn cert_der(key: &SigningKey) -> Vec<u8> {
    let pem = crate::token::self_signed_certificate(key, "t", 999_000, 1, &[7]).unwrap();
    x509_cert::der::pem::decode_vec(pem.as_bytes()).unwrap().1
}

/// The reference: the SPKI as x509-cert's full decoder finds it.
fn x509_cert_spki(cert: &x509_cert::Certificate) -> Vec<u8> {
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap()
}

#[test]
fn certificate_spki_is_the_one_x509_cert_decodes() {
    for key in [es_key(), rsa_key()] {
        let der = cert_der(&key);
        let expected = x509_cert_spki(&x509_cert::Certificate::from_der(&der).unwrap());
        assert_eq!(certificate_spki(&der).unwrap(), &expected[..]);
        assert_eq!(
            PublicKey::from_certificate_der(&der).unwrap(),
            key.public_key()
        );
    }
}

#[test]
fn certificate_spki_reads_v1_certificates_without_a_version_field() {
    use x509_cert::der::{Any, Tag, TagNumber, Tagged as _};
    // x509-cert 0.3 builds only v3 and keeps its fields private: drop the version ([0]) and
    // extensions ([3]) from a v3 TBSCertificate read as a SEQUENCE of raw elements.
    let der = cert_der(&es_key());
    let mut cert = Vec::<Any>::from_der(&der).unwrap();
    let tbs: Vec<Any> = Vec::<Any>::from_der(&cert[0].to_der().unwrap())
        .unwrap()
        .into_iter()
        .filter(|e| {
            !matches!(
                e.tag(),
                Tag::ContextSpecific {
                    number: TagNumber(0 | 3),
                    ..
                }
            )
        })
        .collect();
    cert[0] = Any::from_der(&tbs.to_der().unwrap()).unwrap();
    let v1 = cert.to_der().unwrap();
    let decoded = x509_cert::Certificate::from_der(&v1).unwrap();
    assert_eq!(decoded.tbs_certificate().version(), x509_cert::Version::V1);
    assert!(decoded.tbs_certificate().extensions().is_none());
    assert_eq!(
        certificate_spki(&v1).unwrap(),
        &x509_cert_spki(&decoded)[..]
    );
}

#[test]
fn certificate_spki_refuses_truncated_padded_and_misshapen_certificates() {
    let der = cert_der(&es_key());
    for cut in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
        assert!(certificate_spki(&der[..cut]).is_err(), "truncated at {cut}");
    }
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(certificate_spki(&trailing).is_err(), "trailing byte");
    // A bare SPKI (a SEQUENCE of two elements) is no certificate.
    let spki = es_key().public_key().spki_der();
    assert!(certificate_spki(&spki).is_err());
    assert!(PublicKey::from_certificate_der(&spki).is_err());
    // The outer tag must be a SEQUENCE.
    let mut retagged = der.clone();
    retagged[0] = 0x31; // SET
    assert!(certificate_spki(&retagged).is_err());
}

#[test]
fn pem_blocks_split_bundles_and_refuse_an_unterminated_block() {
    let b = "junk\n-----BEGIN A-----\nAAAA\n-----END A-----\n\n  -----BEGIN B-----\nBBBB\n-----END B-----\n";
    let blocks = pem_blocks(b).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1], "-----BEGIN B-----\nBBBB\n-----END B-----\n");
    assert!(pem_blocks("-----BEGIN A-----\nAAAA\n").is_err());
}

#[test]
fn kid_of_an_openssl_key_matches_openssl_and_coreutils() {
    // Key from `openssl ecparam -name prime256v1 -genkey | openssl pkey -pubout`; kid from
    // `openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | head -c 30 | base32
    //  | tr -d '=\n' | fold -w4 | paste -sd:` (so our SPKI re-encoding matches OpenSSL's DER).
    let pem = crate::test_support::OPENSSL_EC_PUBLIC_PEM;
    let key = PublicKey::from_pem(pem).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Es256);
    assert_eq!(
        key.kid(),
        "XTWA:VB2C:4MOJ:SSR4:PHL2:7YDY:A5FQ:OW3C:AKJL:HVYL:ZZ5N:F42H"
    );
}

#[test]
fn pkcs8_round_trip_detects_algorithm() {
    for key in [es_key(), rsa_key()] {
        let pem = key.to_pkcs8_pem().unwrap();
        let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.algorithm(), key.algorithm());
        assert_eq!(back.public_key(), key.public_key());
    }
}

#[test]
fn sec1_and_pkcs1_accepted() {
    use p256::elliptic_curve::pkcs8::LineEnding;
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    let SigningKey::Es256(ec) = es_key() else {
        unreachable!()
    };
    let sec1 = p256::SecretKey::from(&ec)
        .to_sec1_pem(LineEnding::LF)
        .unwrap();
    let k = SigningKey::from_pkcs8_pem(&sec1).unwrap();
    assert_eq!(k.public_key(), PublicKey::Es256(*ec.verifying_key()));
    let SigningKey::Rs256(r) = rsa_key() else {
        unreachable!()
    };
    let pkcs1 = x509_cert::der::pem::encode_string(
        "RSA PRIVATE KEY",
        LineEnding::LF,
        r.to_pkcs1_der().unwrap().as_bytes(),
    )
    .unwrap();
    assert_eq!(
        SigningKey::from_pkcs8_pem(&pkcs1).unwrap().algorithm(),
        Algorithm::Rs256
    );
}

#[test]
fn errors_say_what_was_expected_without_key_material() {
    let garbage = "-----BEGIN PRIVATE KEY-----\nTUlJQ1NFQ1JFVA==\n-----END PRIVATE KEY-----\n";
    let msg = SigningKey::from_pkcs8_pem(garbage).unwrap_err().to_string();
    assert!(
        msg.contains("expected a PKCS#8 PEM 'PRIVATE KEY' for P-256 or RSA"),
        "{msg}"
    );
    assert!(!msg.contains("TUlJQ1NFQ1JFVA"));
    assert!(SigningKey::from_pkcs8_pem("not pem").is_err());
    let public = es_key().public_key();
    let spki =
        x509_cert::der::pem::encode_string("PUBLIC KEY", Default::default(), &public.spki_der())
            .unwrap();
    assert!(matches!(
        SigningKey::from_pkcs8_pem(&spki),
        Err(KeyError::PrivateKey(_))
    ));
}

#[test]
fn small_rsa_refused() {
    let small = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
    let pem = SigningKey::Rs256(small).to_pkcs8_pem().unwrap();
    assert_eq!(
        SigningKey::from_pkcs8_pem(&pem).unwrap_err(),
        KeyError::RsaSize(1024)
    );
    assert!(matches!(
        SigningKey::generate_rs256(&mut rand_core::OsRng, 1024),
        Err(KeyError::RsaSize(1024))
    ));
}

#[test]
fn debug_hides_private_key() {
    let key = es_key();
    let SigningKey::Es256(ec) = &key else {
        unreachable!()
    };
    let secret_hex: String = ec.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let dbg = format!("{key:?}");
    assert!(dbg.contains("ES256") && dbg.contains(&key.public_key().kid()));
    assert!(!dbg.to_lowercase().contains(&secret_hex));
}

#[test]
fn public_pem_and_bundle() {
    let a = es_key().public_key();
    let b = rsa_key().public_key();
    let pem = |k: &PublicKey| {
        x509_cert::der::pem::encode_string("PUBLIC KEY", Default::default(), &k.spki_der()).unwrap()
    };
    assert_eq!(PublicKey::from_pem(&pem(&a)).unwrap(), a);
    assert_eq!(b.algorithm().as_str(), "RS256");
    let bundle = format!("{}\n{}", pem(&a), pem(&b));
    assert_eq!(parse_pem_bundle(&bundle).unwrap(), vec![a.clone(), b]);
    let truncated = &bundle[..bundle.len() - 10];
    assert!(parse_pem_bundle(truncated).is_err());
    assert!(matches!(
        PublicKey::from_pem("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n"),
        Err(KeyError::PublicKey(_))
    ));
    assert_eq!(a.kid().len(), 59);
}
