//! Self-signed certificates for the signing key: docker-registry 2.8 needs certificates (not bare
//! keys) in its rootcertbundle, and accepts a self-signed certificate that is itself in the bundle
//! as the `x5c` chain.

use super::alg::Rs256;
use super::keys::SigningKey;
use jwt_compact::Algorithm as _;
use p256::ecdsa::signature::{self, Keypair, Signer};
use std::fmt;
use std::str::FromStr as _;
use std::time::Duration;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder as _, CertificateBuilder};
use x509_cert::der::asn1::{Any, BitString, ObjectIdentifier};
use x509_cert::der::asn1::{GeneralizedTime, UtcTime};
use x509_cert::der::Document;
use x509_cert::der::EncodePem as _;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::{Extension, ToExtension as _};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding,
};
use x509_cert::spki::{SubjectPublicKeyInfo, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};
use x509_cert::TbsCertificate;

/// Longest common name accepted (RFC 5280 ub-common-name).
pub(crate) const MAX_COMMON_NAME_LEN: usize = 64;
/// Longest validity accepted (about 100 years).
pub(crate) const MAX_CERT_DAYS: u32 = 36_500;

/// Why a certificate could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertError {
    CommonName,
    Serial,
    Validity,
    Build(String),
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::CommonName => write!(
                f,
                "expected a common name of 1 to {MAX_COMMON_NAME_LEN} letters, digits, spaces, '.', '-' or '_'"
            ),
            CertError::Serial => f.write_str(
                "expected a serial number of 1 to 20 bytes, not all zero (RFC 5280 4.1.2.2)",
            ),
            CertError::Validity => write!(
                f,
                "expected a validity of 1 to {MAX_CERT_DAYS} days starting at a representable time"
            ),
            CertError::Build(why) => write!(f, "the certificate could not be built: {why}"),
        }
    }
}

impl std::error::Error for CertError {}

/// UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
fn x509_time(unix: u64) -> Result<Time, CertError> {
    let d = Duration::from_secs(unix);
    match UtcTime::from_unix_duration(d) {
        Ok(t) => Ok(Time::UtcTime(t)),
        Err(_) => GeneralizedTime::from_unix_duration(d)
            .map(Time::GeneralTime)
            .map_err(|_| CertError::Validity),
    }
}

/// A self-signed CA certificate naming only its common name. x509-cert's CA/Browser Forum `Root`
/// profile would require a country and an organization; this one adds the extensions a root
/// carries (subject key identifier, basicConstraints CA, keyUsage keyCertSign + cRLSign), which
/// is what registry 2.x/3.x need of a certificate that is both the trust anchor and the x5c leaf.
struct SelfSigned {
    subject: Name,
}

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut extensions = Vec::new();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        extensions.push(ski.to_extension(tbs.subject(), &extensions)?);
        let ca = BasicConstraints {
            ca: true,
            path_len_constraint: None,
        };
        extensions.push(ca.to_extension(tbs.subject(), &extensions)?);
        let usage = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        extensions.push(usage.to_extension(tbs.subject(), &extensions)?);
        Ok(extensions)
    }
}

/// x509-cert 0.3 signs through the signature 3 / spki 0.8 traits, which rsa 0.9 predates: an RSA
/// key signs its certificate (sha256WithRSAEncryption) through this adapter, with `alg::Rs256`.
struct RsaCertSigner<'a> {
    key: &'a rsa::RsaPrivateKey,
    spki_der: Vec<u8>,
}

/// The signer's public key, already encoded as SPKI DER.
#[derive(Clone)]
struct RsaSpki(Vec<u8>);

impl EncodePublicKey for RsaSpki {
    fn to_public_key_der(&self) -> x509_cert::spki::Result<Document> {
        Ok(Document::try_from(self.0.as_slice())?)
    }
}

/// A PKCS#1 v1.5 signature: the certificate's signatureValue bits.
#[derive(Clone)]
struct RsaCertSignature(Vec<u8>);

impl SignatureBitStringEncoding for RsaCertSignature {
    fn to_bitstring(&self) -> x509_cert::der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

impl Keypair for RsaCertSigner<'_> {
    type VerifyingKey = RsaSpki;

    fn verifying_key(&self) -> RsaSpki {
        RsaSpki(self.spki_der.clone())
    }
}

impl DynSignatureAlgorithmIdentifier for RsaCertSigner<'_> {
    fn signature_algorithm_identifier(&self) -> x509_cert::spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            // sha256WithRSAEncryption (RFC 4055 5), with NULL parameters (RFC 8017 A.2.4).
            oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11"),
            parameters: Some(Any::null()),
        })
    }
}

impl Signer<RsaCertSignature> for RsaCertSigner<'_> {
    fn try_sign(&self, message: &[u8]) -> Result<RsaCertSignature, signature::Error> {
        let signature = Rs256.sign(self.key, message).0;
        if signature.is_empty() {
            return Err(signature::Error::new());
        }
        Ok(RsaCertSignature(signature))
    }
}

/// A self-signed (CA) certificate for `key`, as PEM: ecdsa-with-SHA256 for P-256,
/// sha256WithRSAEncryption for RSA.
pub fn self_signed_certificate(
    key: &SigningKey,
    common_name: &str,
    not_before_unix: u64,
    days: u32,
    serial: &[u8],
) -> Result<String, CertError> {
    let cn_ok = !common_name.is_empty()
        && common_name.len() <= MAX_COMMON_NAME_LEN
        && common_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_'))
        && !common_name.starts_with(' ')
        && !common_name.ends_with(' ');
    if !cn_ok {
        return Err(CertError::CommonName);
    }
    if serial.is_empty() || serial.len() > 20 || serial.iter().all(|b| *b == 0) {
        return Err(CertError::Serial);
    }
    // A leading 0x80 bit would make the INTEGER negative: prefix a zero byte.
    let mut serial_bytes = Vec::with_capacity(21);
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        serial_bytes.push(0);
    }
    serial_bytes.extend_from_slice(serial);
    let serial = SerialNumber::new(&serial_bytes).map_err(|_| CertError::Serial)?;
    if days == 0 || days > MAX_CERT_DAYS {
        return Err(CertError::Validity);
    }
    let not_after = not_before_unix
        .checked_add(u64::from(days) * 86_400)
        .ok_or(CertError::Validity)?;
    let validity = Validity::new(x509_time(not_before_unix)?, x509_time(not_after)?);
    let subject =
        Name::from_str(&format!("CN={common_name}")).map_err(|_| CertError::CommonName)?;
    let build = |e: x509_cert::builder::Error| CertError::Build(e.to_string());
    let spki_der = key.public_key().spki_der();
    let spki = {
        use x509_cert::der::Decode as _;
        SubjectPublicKeyInfo::from_der(&spki_der).map_err(|e| CertError::Build(e.to_string()))?
    };
    let builder =
        CertificateBuilder::new(SelfSigned { subject }, serial, validity, spki).map_err(build)?;
    let cert = match key {
        SigningKey::Es256(k) => builder
            .build::<_, p256::ecdsa::DerSignature>(k)
            .map_err(build)?,
        SigningKey::Rs256(k) => builder
            .build::<_, RsaCertSignature>(&RsaCertSigner { key: k, spki_der })
            .map_err(build)?,
    };
    cert.to_pem(x509_cert::der::pem::LineEnding::LF)
        .map_err(|e| CertError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keys::tests::{es_key, rsa_key};
    use crate::token::PublicKey;
    use x509_cert::der::DecodePem as _;

    #[test]
    fn parses_back_with_the_keys_spki_for_both_algorithms() {
        for (key, sig_oid) in [
            (es_key(), "1.2.840.10045.4.3.2"),
            (rsa_key(), "1.2.840.113549.1.1.11"),
        ] {
            let pem = self_signed_certificate(
                &key,
                "tollgate token signer",
                1_700_000_000,
                365,
                &[0x81, 2, 3],
            )
            .unwrap();
            let cert = x509_cert::Certificate::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(cert.signature_algorithm().oid.to_string(), sig_oid);
            assert_eq!(PublicKey::from_pem(&pem).unwrap(), key.public_key());
            let v = cert.tbs_certificate().validity();
            assert_eq!(v.not_before.to_unix_duration().as_secs(), 1_700_000_000);
            assert_eq!(
                v.not_after.to_unix_duration().as_secs(),
                1_700_000_000 + 365 * 86_400
            );
            assert_eq!(
                cert.tbs_certificate().issuer(),
                cert.tbs_certificate().subject()
            );
            openssl_accepts(&pem);
        }
    }

    /// Cross-check with the openssl CLI when it is installed: it parses the certificate and
    /// verifies its self-signature.
    fn openssl_accepts(pem: &str) {
        use std::io::Write as _;
        let dir = std::env::temp_dir().join(format!("tollgate-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("c{}.pem", pem.len()));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(pem.as_bytes())
            .unwrap();
        let p = path.to_str().unwrap();
        let Ok(out) = std::process::Command::new("openssl")
            .args([
                "verify",
                "-CAfile",
                p,
                "-check_ss_sig",
                "-attime",
                "1700000100",
                p,
            ])
            .output()
        else {
            return; // openssl absent
        };
        assert!(
            out.status.success(),
            "openssl verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn refuses_bad_inputs() {
        let k = es_key();
        assert_eq!(
            self_signed_certificate(&k, "", 0, 1, &[1]),
            Err(CertError::CommonName)
        );
        assert_eq!(
            self_signed_certificate(&k, "a,CN=b", 0, 1, &[1]),
            Err(CertError::CommonName)
        );
        assert_eq!(
            self_signed_certificate(&k, "a", 0, 1, &[]),
            Err(CertError::Serial)
        );
        assert_eq!(
            self_signed_certificate(&k, "a", 0, 1, &[0; 21]),
            Err(CertError::Serial)
        );
        assert_eq!(
            self_signed_certificate(&k, "a", 0, 0, &[1]),
            Err(CertError::Validity)
        );
        // After 2049 the certificate switches to GeneralizedTime and still builds.
        assert!(self_signed_certificate(&k, "a", 2_600_000_000, 10, &[1]).is_ok());
    }
}
