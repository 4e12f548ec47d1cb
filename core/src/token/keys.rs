//! Signing and public keys: PEM parsing with the algorithm taken from the key itself, generation
//! for the CLI, and the libtrust key ID.

use super::libtrust::libtrust_key_id;
use super::rsa_key;
use p256::elliptic_curve::rand_core::CryptoRng;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use rsa::traits::PublicKeyParts as _;
use std::fmt;

/// Smallest RSA modulus accepted, for signing and for verification.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted (bounds the cost of parsing and verifying).
pub(crate) const MAX_RSA_BITS: usize = 8192;
/// PEM blocks accepted in one bundle.
pub(crate) const MAX_BUNDLE_KEYS: usize = 16;
/// Bytes accepted in one PEM input.
pub(crate) const MAX_PEM_LEN: usize = 64 * 1024;

/// A JWS algorithm Tollgate signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Es256,
    Rs256,
}

impl Algorithm {
    /// The JOSE `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Rs256 => "RS256",
        }
    }
}

/// Why a key could not be loaded. Messages say what was expected and never contain key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The private key PEM is not a supported P-256 or RSA key.
    PrivateKey(String),
    /// The public key or certificate PEM is not a supported P-256 or RSA key.
    PublicKey(String),
    /// An RSA key outside [MIN_RSA_BITS, MAX_RSA_BITS].
    RsaSize(usize),
    /// A configured certificate does not hold the signing key's public key.
    CertificateMismatch,
    /// Generation or encoding failed.
    Internal(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::PrivateKey(why) => write!(
                f,
                "expected a PKCS#8 PEM 'PRIVATE KEY' for P-256 or RSA (or SEC1 'EC PRIVATE KEY' / PKCS#1 'RSA PRIVATE KEY'): {why}"
            ),
            KeyError::PublicKey(why) => write!(
                f,
                "expected a PEM 'PUBLIC KEY' or 'CERTIFICATE' holding a P-256 or RSA key: {why}"
            ),
            KeyError::RsaSize(bits) => write!(
                f,
                "RSA key of {bits} bits refused: expected between {MIN_RSA_BITS} and {MAX_RSA_BITS} bits"
            ),
            KeyError::CertificateMismatch => f.write_str(
                "the certificate does not hold the signing key's public key: configure the certificate issued for this key",
            ),
            KeyError::Internal(why) => write!(f, "key operation failed: {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// A private key Tollgate signs with. Debug output shows only the algorithm and the key ID.
/// Built once per isolate and never moved in a hot path, so the size gap between variants is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum SigningKey {
    Es256(p256::ecdsa::SigningKey),
    Rs256(rsa::RsaPrivateKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm().as_str())
            .field("kid", &self.public_key().kid())
            .finish_non_exhaustive()
    }
}

fn pem_label(pem: &str) -> Option<&str> {
    x509_cert::der::pem::decode_label(pem.trim().as_bytes()).ok()
}

/// The DER inside one PEM block (zeroized on drop: it may hold a private key).
fn pem_der(pem: &str) -> Option<p256::elliptic_curve::zeroize::Zeroizing<Vec<u8>>> {
    x509_cert::der::pem::decode_vec(pem.as_bytes())
        .ok()
        .map(|(_, der)| p256::elliptic_curve::zeroize::Zeroizing::new(der))
}

fn check_rsa_bits(bits: usize) -> Result<(), KeyError> {
    if (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(KeyError::RsaSize(bits))
    }
}

impl SigningKey {
    /// Parses a PEM private key; the algorithm follows from the key (PKCS#8 OID or the PEM label).
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyError> {
        if pem.len() > MAX_PEM_LEN {
            return Err(KeyError::PrivateKey("the PEM is too large".into()));
        }
        let pem = pem.trim();
        match pem_label(pem) {
            Some("PRIVATE KEY") => {
                if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
                    return Ok(SigningKey::Es256(k));
                }
                match pem_der(pem).and_then(|der| rsa_key::private_from_pkcs8_der(&der)) {
                    Some(k) => {
                        check_rsa_bits(k.size() * 8)?;
                        Ok(SigningKey::Rs256(k))
                    }
                    None => Err(KeyError::PrivateKey(
                        "the PKCS#8 key is neither P-256 nor RSA, or is damaged".into(),
                    )),
                }
            }
            Some("EC PRIVATE KEY") => {
                let sk = p256::SecretKey::from_sec1_pem(pem).map_err(|_| {
                    KeyError::PrivateKey("the SEC1 key is not a P-256 key, or is damaged".into())
                })?;
                Ok(SigningKey::Es256(sk.into()))
            }
            Some("RSA PRIVATE KEY") => {
                let k = pem_der(pem)
                    .and_then(|der| rsa_key::private_from_pkcs1_der(&der))
                    .ok_or_else(|| KeyError::PrivateKey("the PKCS#1 RSA key is damaged".into()))?;
                check_rsa_bits(k.size() * 8)?;
                Ok(SigningKey::Rs256(k))
            }
            Some("ENCRYPTED PRIVATE KEY") => Err(KeyError::PrivateKey(
                "encrypted keys are not supported; decrypt it first".into(),
            )),
            Some(_) => Err(KeyError::PrivateKey(
                "found another kind of PEM block".into(),
            )),
            None => Err(KeyError::PrivateKey("the input is not PEM".into())),
        }
    }

    /// A fresh P-256 key.
    pub fn generate_es256<R: CryptoRng + ?Sized>(rng: &mut R) -> SigningKey {
        SigningKey::Es256(p256::ecdsa::SigningKey::generate_from_rng(rng))
    }

    /// A fresh RSA key of `bits` (at least [`MIN_RSA_BITS`]). rsa 0.9 takes rand_core 0.6's RNGs.
    pub fn generate_rs256<R: rsa::rand_core::CryptoRngCore + ?Sized>(
        rng: &mut R,
        bits: usize,
    ) -> Result<SigningKey, KeyError> {
        check_rsa_bits(bits)?;
        rsa::RsaPrivateKey::new(rng, bits)
            .map(SigningKey::Rs256)
            .map_err(|e| KeyError::Internal(format!("RSA key generation failed: {e}")))
    }

    /// PKCS#8 PEM (LF line endings), for the CLI to write out.
    pub fn to_pkcs8_pem(
        &self,
    ) -> Result<p256::elliptic_curve::zeroize::Zeroizing<String>, KeyError> {
        let lf = p256::pkcs8::LineEnding::LF;
        let failed = || KeyError::Internal("the key could not be encoded as PKCS#8".into());
        match self {
            SigningKey::Es256(k) => k.to_pkcs8_pem(lf).map_err(|_| failed()),
            SigningKey::Rs256(k) => {
                let der = rsa_key::private_to_pkcs8_der(k)
                    .map(p256::elliptic_curve::zeroize::Zeroizing::new)
                    .ok_or_else(failed)?;
                x509_cert::der::pem::encode_string("PRIVATE KEY", lf, &der)
                    .map(p256::elliptic_curve::zeroize::Zeroizing::new)
                    .map_err(|_| failed())
            }
        }
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::Es256(k) => PublicKey::Es256(*k.verifying_key()),
            SigningKey::Rs256(k) => PublicKey::Rs256(k.to_public_key()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Es256(_) => Algorithm::Es256,
            SigningKey::Rs256(_) => Algorithm::Rs256,
        }
    }
}

/// The DER SubjectPublicKeyInfo inside a DER X.509 certificate (RFC 5280 4.1), found by walking
/// the TBSCertificate's fields with der's reader. Tollgate only ever needs a certificate's key (to
/// check that `SIGNING_CERT` holds the signing key, and to publish a bundle's keys); x509-cert's
/// full decoder (names, times, extensions) is not needed for that and cost the worker 14 KB gzip.
/// The structure is still checked: one SEQUENCE holding a TBSCertificate SEQUENCE and exactly two
/// more elements, no trailing bytes; the returned SPKI is then parsed in full by the caller.
fn certificate_spki(der: &[u8]) -> x509_cert::der::Result<&[u8]> {
    use x509_cert::der::{Reader as _, SliceReader, Tag, TagNumber};
    let mut reader = SliceReader::new(der)?;
    let spki = reader.sequence(|cert| {
        let spki = cert.sequence(|tbs| {
            // version [0] EXPLICIT is absent in v1 certificates.
            let version = Tag::ContextSpecific {
                constructed: true,
                number: TagNumber(0),
            };
            if Tag::peek(tbs)? == version {
                tbs.tlv_bytes()?;
            }
            // serialNumber, signature, issuer, validity, subject
            for _ in 0..5 {
                tbs.tlv_bytes()?;
            }
            let spki = tbs.tlv_bytes()?;
            // issuerUniqueID, subjectUniqueID, extensions: not needed, but must be well-formed TLVs.
            while !tbs.is_finished() {
                tbs.tlv_bytes()?;
            }
            Ok::<_, x509_cert::der::Error>(spki)
        })?;
        cert.tlv_bytes()?; // signatureAlgorithm
        cert.tlv_bytes()?; // signatureValue
        Ok::<_, x509_cert::der::Error>(spki)
    })?;
    reader.finish()?;
    Ok(spki)
}

/// A public key tokens are verified with and published in the JWKS and certificate bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    Rs256(rsa::RsaPublicKey),
}

impl PublicKey {
    /// Parses DER SubjectPublicKeyInfo holding a P-256 or RSA key.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::Es256(k));
        }
        let k = rsa_key::public_from_spki_der(der).ok_or_else(|| {
            KeyError::PublicKey("the key is neither P-256 nor RSA, or is damaged".into())
        })?;
        check_rsa_bits(k.size() * 8)?;
        Ok(PublicKey::Rs256(k))
    }

    /// The SPKI of a DER certificate.
    pub fn from_certificate_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = certificate_spki(der)
            .map_err(|_| KeyError::PublicKey("the certificate could not be parsed".into()))?;
        PublicKey::from_spki_der(spki)
    }

    /// Parses one PEM block: "PUBLIC KEY" (SPKI) or "CERTIFICATE" (its SPKI).
    pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
        if pem.len() > MAX_PEM_LEN {
            return Err(KeyError::PublicKey("the PEM is too large".into()));
        }
        let (label, der) = x509_cert::der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|_| KeyError::PublicKey("the input is not a single PEM block".into()))?;
        match label {
            "PUBLIC KEY" => PublicKey::from_spki_der(&der),
            "CERTIFICATE" => PublicKey::from_certificate_der(&der),
            _ => Err(KeyError::PublicKey(
                "found another kind of PEM block".into(),
            )),
        }
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        match self {
            PublicKey::Es256(k) => k.to_public_key_der().map(|d| d.as_bytes().to_vec()).ok(),
            PublicKey::Rs256(k) => rsa_key::public_to_spki_der(k),
        }
        // Encoding a key that was parsed or generated cannot fail; an empty SPKI matches nothing.
        .unwrap_or_default()
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Es256(_) => Algorithm::Es256,
            PublicKey::Rs256(_) => Algorithm::Rs256,
        }
    }

    /// The libtrust key ID of this key.
    pub fn kid(&self) -> String {
        libtrust_key_id(&self.spki_der())
    }
}

/// Splits a PEM bundle into its blocks, `-----BEGIN` through `-----END` with trimmed lines;
/// text between blocks is ignored. Framing only: each block is decoded by the der/x509 crates.
/// The one place bundles are split (published keys here, certificates in the token service).
pub fn pem_blocks(bundle: &str) -> Result<Vec<String>, KeyError> {
    if bundle.len() > MAX_PEM_LEN * 4 {
        return Err(KeyError::PublicKey("the bundle is too large".into()));
    }
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in bundle.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                if blocks.len() >= MAX_BUNDLE_KEYS {
                    return Err(KeyError::PublicKey(format!(
                        "the bundle holds more than {MAX_BUNDLE_KEYS} keys"
                    )));
                }
                blocks.extend(current.take());
            }
        }
    }
    if current.is_some() {
        return Err(KeyError::PublicKey(
            "the last PEM block has no END line".into(),
        ));
    }
    Ok(blocks)
}

/// Parses a bundle of CERTIFICATE and PUBLIC KEY blocks (published keys during rotation).
pub fn parse_pem_bundle(bundle: &str) -> Result<Vec<PublicKey>, KeyError> {
    let mut keys = Vec::new();
    for (i, block) in pem_blocks(bundle)?.iter().enumerate() {
        let n = i + 1;
        let key = PublicKey::from_pem(block).map_err(|e| match e {
            KeyError::PublicKey(why) => KeyError::PublicKey(format!("block {n}: {why}")),
            other => other,
        })?;
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
pub(crate) mod tests {
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
        let pem = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAdPrH1vnklDkzlRLrdEGGulIb0JA
yRZocPZXeDNMyNB12tjlImhxEPoYMVJyJmjJVstTOIUlqQ5zGs2lnsbnjQ==
-----END PUBLIC KEY-----
";
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
        let spki = x509_cert::der::pem::encode_string(
            "PUBLIC KEY",
            Default::default(),
            &public.spki_der(),
        )
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
            x509_cert::der::pem::encode_string("PUBLIC KEY", Default::default(), &k.spki_der())
                .unwrap()
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
}
