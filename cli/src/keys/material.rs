//! Key material: generating signing keys, reading PEM files, libtrust key IDs, self-signed
//! certificates and JWKS entries.
//!
//! Everything cryptographic is done by the RustCrypto crates (p256, rsa, x509-cert); this module
//! only wires them together for the operator's files.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rand_core::{OsRng, RngCore};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::{Decode, DecodePem, Encode, EncodePem};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;
use x509_cert::Certificate;

/// The JWS algorithm a key signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256: the default for registries.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256: for ChartMuseum, which verifies only RS256.
    Rs256,
}

impl Alg {
    pub fn jws_name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
        }
    }
}

/// A private signing key of either algorithm. (Few and short-lived: the size difference between
/// the variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum PrivateKey {
    Es256(p256::ecdsa::SigningKey),
    Rs256(rsa::RsaPrivateKey),
}

/// A public verification key of either algorithm.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Es256(p256::PublicKey),
    Rs256(rsa::RsaPublicKey),
}

/// RSA modulus sizes accepted for new keys: below 2048 is weak, above 4096 only slows every token.
pub const RSA_BITS: [usize; 3] = [2048, 3072, 4096];

impl PrivateKey {
    pub fn generate(alg: Alg, rsa_bits: usize) -> Result<Self> {
        match alg {
            Alg::Es256 => Ok(Self::Es256(p256::ecdsa::SigningKey::random(&mut OsRng))),
            Alg::Rs256 => {
                if !RSA_BITS.contains(&rsa_bits) {
                    bail!("--bits {rsa_bits} is not supported: use 2048, 3072 or 4096");
                }
                let key = rsa::RsaPrivateKey::new(&mut OsRng, rsa_bits)
                    .map_err(|e| anyhow!("generating the RSA key failed: {e}"))?;
                Ok(Self::Rs256(key))
            }
        }
    }

    /// Parses a PKCS#8 PEM private key (P-256 or RSA). `origin` names the file in errors.
    pub fn from_pkcs8_pem(pem: &str, origin: &str) -> Result<Self> {
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::Es256(key));
        }
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            return Ok(Self::Rs256(key));
        }
        bail!(
            "{origin}: not a PKCS#8 P-256 or RSA private key (expected a '-----BEGIN PRIVATE KEY-----' block; \
             convert SEC1/PKCS#1 keys with `openssl pkcs8 -topk8 -nocrypt`)"
        )
    }

    pub fn alg(&self) -> Alg {
        match self {
            Self::Es256(_) => Alg::Es256,
            Self::Rs256(_) => Alg::Rs256,
        }
    }

    pub fn to_pkcs8_pem(&self) -> Result<String> {
        let pem = match self {
            Self::Es256(k) => k.to_pkcs8_pem(LineEnding::LF),
            Self::Rs256(k) => k.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| anyhow!("encoding the private key as PKCS#8 failed: {e}"))?;
        Ok(pem.to_string())
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Es256(k) => PublicKey::Es256(p256::PublicKey::from(k.verifying_key())),
            Self::Rs256(k) => PublicKey::Rs256(k.to_public_key()),
        }
    }

    /// A self-signed certificate for the key, as a registry's `rootcertbundle` needs.
    pub fn self_signed_certificate(&self, common_name: &str, days: u32) -> Result<String> {
        if days == 0 || days > 36_500 {
            bail!("--days {days} is out of range: use 1..=36500");
        }
        let subject = Name::from_str(&format!("CN={}", escape_rdn(common_name))).map_err(|e| {
            anyhow!("--common-name {common_name:?} is not usable in a certificate: {e}")
        })?;
        let mut serial = [0u8; 16];
        OsRng.fill_bytes(&mut serial);
        serial[0] &= 0x7f; // positive INTEGER
        serial[0] |= 0x01; // and no leading zero byte
        let serial = SerialNumber::new(&serial).map_err(|e| anyhow!("certificate serial: {e}"))?;
        let validity = Validity::from_now(Duration::from_secs(u64::from(days) * 86_400))
            .map_err(|e| anyhow!("certificate validity: {e}"))?;
        let spki = SubjectPublicKeyInfoOwned::from_der(&self.public_key().spki_der()?)
            .map_err(|e| anyhow!("encoding the public key: {e}"))?;
        let cert = match self {
            Self::Es256(key) => {
                CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, key)
                    .map_err(|e| anyhow!("building the certificate: {e}"))?
                    .build::<p256::ecdsa::DerSignature>()
            }
            Self::Rs256(key) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
                CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, &signer)
                    .map_err(|e| anyhow!("building the certificate: {e}"))?
                    .build::<rsa::pkcs1v15::Signature>()
            }
        }
        .map_err(|e| anyhow!("signing the certificate: {e}"))?;
        cert.to_pem(LineEnding::LF)
            .map_err(|e| anyhow!("encoding the certificate as PEM: {e}"))
    }
}

/// Escapes the characters RFC 4514 treats specially in an attribute value.
fn escape_rdn(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl PublicKey {
    pub fn alg(&self) -> Alg {
        match self {
            Self::Es256(_) => Alg::Es256,
            Self::Rs256(_) => Alg::Rs256,
        }
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            Self::Es256(k) => k.to_public_key_der(),
            Self::Rs256(k) => k.to_public_key_der(),
        }
        .map_err(|e| anyhow!("encoding the public key: {e}"))?;
        Ok(doc.as_bytes().to_vec())
    }

    fn from_spki_der(der: &[u8], origin: &str) -> Result<Self> {
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            return Ok(Self::Es256(k));
        }
        if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(der) {
            return Ok(Self::Rs256(k));
        }
        bail!("{origin}: the key is neither P-256 nor RSA; Tollgate signs with ES256 (P-256) or RS256 (RSA)")
    }

    /// The libtrust key ID docker-registry 2.8 matches a token's `kid` against: SHA-256 of the DER
    /// SubjectPublicKeyInfo, first 240 bits, base32 without padding, in groups of four joined by ':'.
    pub fn libtrust_kid(&self) -> Result<String> {
        let digest = Sha256::digest(self.spki_der()?);
        let encoded = data_encoding::BASE32_NOPAD.encode(&digest[..30]);
        let groups: Vec<&str> = encoded
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        Ok(groups.join(":"))
    }

    /// The RFC 7517 JWK for the key with its libtrust `kid`.
    pub fn jwk(&self) -> Result<Value> {
        let kid = self.libtrust_kid()?;
        Ok(match self {
            Self::Es256(k) => {
                let point = p256::EncodedPoint::from(k);
                let (x, y) = match (point.x(), point.y()) {
                    (Some(x), Some(y)) => (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y)),
                    _ => bail!("the P-256 key is the identity point"),
                };
                json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "use": "sig", "alg": "ES256", "kid": kid})
            }
            Self::Rs256(k) => json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(k.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(k.e().to_bytes_be()),
                "use": "sig", "alg": "RS256", "kid": kid,
            }),
        })
    }
}

/// What one PEM block in an operator's file holds.
#[allow(clippy::large_enum_variant)]
pub enum PemItem {
    PrivateKey(PrivateKey),
    Certificate {
        public: PublicKey,
        cert: Box<Certificate>,
    },
    PublicKey(PublicKey),
}

impl PemItem {
    pub fn public_key(&self) -> PublicKey {
        match self {
            PemItem::PrivateKey(k) => k.public_key(),
            PemItem::Certificate { public, .. } | PemItem::PublicKey(public) => public.clone(),
        }
    }
}

/// Splits a PEM file into its blocks (key, certificate or public key), in order.
pub fn read_pem_items(text: &str, origin: &str) -> Result<Vec<PemItem>> {
    let mut items = Vec::new();
    for (index, block) in pem_blocks(text).into_iter().enumerate() {
        let at = format!("{origin} (PEM block {})", index + 1);
        let label = block
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-----BEGIN "))
            .and_then(|l| l.strip_suffix("-----"))
            .unwrap_or("");
        let item = match label {
            "PRIVATE KEY" => PemItem::PrivateKey(PrivateKey::from_pkcs8_pem(&block, &at)?),
            "CERTIFICATE" => {
                let cert = Certificate::from_pem(block.as_bytes())
                    .with_context(|| format!("{at}: not a valid X.509 certificate"))?;
                let der = cert
                    .tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .with_context(|| format!("{at}: unreadable public key"))?;
                PemItem::Certificate { public: PublicKey::from_spki_der(&der, &at)?, cert: Box::new(cert) }
            }
            "PUBLIC KEY" => {
                let der = p256::pkcs8::Document::from_public_key_pem(&block)
                    .with_context(|| format!("{at}: not a valid public key"))?;
                PemItem::PublicKey(PublicKey::from_spki_der(der.as_bytes(), &at)?)
            }
            other => bail!(
                "{at}: unsupported PEM block '{other}'; expected PRIVATE KEY (PKCS#8), CERTIFICATE or PUBLIC KEY"
            ),
        };
        items.push(item);
    }
    if items.is_empty() {
        bail!("{origin}: no PEM block found (expected '-----BEGIN ...-----' lines)");
    }
    Ok(items)
}

/// Cuts a text into `-----BEGIN X----- ... -----END X-----` blocks, each ending with a newline.
/// Only finds the boundaries; decoding is left to the der/pem crates.
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                blocks.extend(current.take());
            }
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_round_trip_and_kid_shape() {
        let key = PrivateKey::generate(Alg::Es256, 0).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = PrivateKey::from_pkcs8_pem(&pem, "t").unwrap();
        let kid = key.public_key().libtrust_kid().unwrap();
        assert_eq!(kid, again.public_key().libtrust_kid().unwrap());
        assert_eq!(kid.len(), 48 + 11);
        assert_eq!(kid.split(':').count(), 12);
    }

    #[test]
    fn certificate_carries_the_same_key() {
        let key = PrivateKey::generate(Alg::Es256, 0).unwrap();
        let cert = key.self_signed_certificate("tollgate test", 30).unwrap();
        let items = read_pem_items(&cert, "cert").unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].public_key().libtrust_kid().unwrap(),
            key.public_key().libtrust_kid().unwrap()
        );
    }

    #[test]
    fn known_libtrust_kid() {
        // The SPKI of a fixed P-256 key and the kid libtrust computes for it (checked with
        // `openssl pkey -pubout -outform DER | sha256sum`, first 30 bytes, base32).
        let pem = "-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n\
q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n\
-----END PUBLIC KEY-----\n";
        let items = read_pem_items(pem, "pub").unwrap();
        let der = items[0].public_key().spki_der().unwrap();
        let digest = Sha256::digest(&der);
        let expected = data_encoding::BASE32_NOPAD.encode(&digest[..30]);
        assert_eq!(
            items[0]
                .public_key()
                .libtrust_kid()
                .unwrap()
                .replace(':', ""),
            expected
        );
    }

    #[test]
    fn refuses_garbage_and_unknown_blocks() {
        assert!(read_pem_items("hello", "f").is_err());
        let err = read_pem_items(
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            "f",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("unsupported PEM block 'EC PRIVATE KEY'"),
            "{err}"
        );
    }

    #[test]
    fn rsa_bits_are_bounded() {
        assert!(PrivateKey::generate(Alg::Rs256, 1024).is_err());
    }
}
