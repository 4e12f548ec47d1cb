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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The private key PEM is not a supported P-256 or RSA key.
    #[error("expected a PKCS#8 PEM 'PRIVATE KEY' for P-256 or RSA (or SEC1 'EC PRIVATE KEY' / PKCS#1 'RSA PRIVATE KEY'): {0}")]
    PrivateKey(String),
    /// The public key or certificate PEM is not a supported P-256 or RSA key.
    #[error("expected a PEM 'PUBLIC KEY' or 'CERTIFICATE' holding a P-256 or RSA key: {0}")]
    PublicKey(String),
    /// An RSA key outside [MIN_RSA_BITS, MAX_RSA_BITS].
    #[error(
        "RSA key of {0} bits refused: expected between {MIN_RSA_BITS} and {MAX_RSA_BITS} bits"
    )]
    RsaSize(usize),
    /// A configured certificate does not hold the signing key's public key.
    #[error("the certificate does not hold the signing key's public key: configure the certificate issued for this key")]
    CertificateMismatch,
    /// Generation or encoding failed.
    #[error("key operation failed: {0}")]
    Internal(String),
}

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
pub(crate) mod tests;
