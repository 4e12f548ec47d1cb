//! Key material: generating signing keys, reading PEM files, libtrust key IDs, self-signed
//! certificates and JWKS entries.
//!
//! Everything cryptographic is done by the RustCrypto crates (p256, rsa, x509-cert); this module
//! only wires them together for the operator's files.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use getrandom::rand_core::{Rng as _, UnwrapErr};
use getrandom::SysRng;
use serde_json::Value;
use tollgate_core::token::{self as core_token, Algorithm};
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

/// The JWS algorithm a key signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Alg {
    /// ECDSA P-256 with SHA-256: the default for registries.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256: for ChartMuseum, which verifies only RS256.
    Rs256,
}

impl Alg {
    pub(crate) fn jws_name(self) -> &'static str {
        self.core().as_str()
    }

    fn core(self) -> Algorithm {
        match self {
            Alg::Es256 => Algorithm::Es256,
            Alg::Rs256 => Algorithm::Rs256,
        }
    }

    fn from_core(a: Algorithm) -> Self {
        match a {
            Algorithm::Es256 => Alg::Es256,
            Algorithm::Rs256 => Alg::Rs256,
        }
    }
}

/// A private signing key: the core's `SigningKey` (the type the worker signs with), with the
/// file-level errors an operator needs.
pub(crate) struct PrivateKey(pub core_token::SigningKey);

/// A public verification key: the core's `PublicKey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicKey(pub core_token::PublicKey);

/// RSA modulus sizes accepted for new keys: below 2048 is weak, above 4096 only slows every token.
pub(crate) const RSA_BITS: [usize; 3] = [2048, 3072, 4096];

impl PrivateKey {
    pub(crate) fn generate(alg: Alg, rsa_bits: usize) -> Result<Self> {
        match alg {
            Alg::Es256 => Ok(Self(core_token::SigningKey::generate_es256(
                &mut UnwrapErr(SysRng),
            ))),
            Alg::Rs256 => {
                if !RSA_BITS.contains(&rsa_bits) {
                    bail!("--bits {rsa_bits} is not supported: use 2048, 3072 or 4096");
                }
                core_token::SigningKey::generate_rs256(&mut rand_core::OsRng, rsa_bits)
                    .map(Self)
                    .map_err(|e| anyhow!("generating the RSA key failed: {e}"))
            }
        }
    }

    /// Parses a PEM private key (PKCS#8, or SEC1/PKCS#1 as the worker accepts). `origin` names
    /// the file in errors.
    pub(crate) fn from_pkcs8_pem(pem: &str, origin: &str) -> Result<Self> {
        core_token::SigningKey::from_pkcs8_pem(pem)
            .map(Self)
            .map_err(|e| anyhow!("{origin}: {e}"))
    }

    pub(crate) fn alg(&self) -> Alg {
        Alg::from_core(self.0.algorithm())
    }

    pub(crate) fn to_pkcs8_pem(&self) -> Result<String> {
        let pem = self
            .0
            .to_pkcs8_pem()
            .map_err(|e| anyhow!("encoding the private key: {e}"))?;
        Ok(pem.to_string())
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        PublicKey(self.0.public_key())
    }

    /// A self-signed certificate for the key, as a registry's `rootcertbundle` needs (built by
    /// the core's `self_signed_certificate`), valid from now for `days`.
    pub(crate) fn self_signed_certificate(&self, common_name: &str, days: u32) -> Result<String> {
        if days == 0 || days > 36_500 {
            bail!("--days {days} is out of range: use 1..=36500");
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| anyhow!("the system clock is before 1970"))?
            .as_secs();
        let mut serial = [0u8; 16];
        UnwrapErr(SysRng).fill_bytes(&mut serial);
        core_token::self_signed_certificate(&self.0, common_name, now, days, &serial).map_err(|e| {
            match e {
                core_token::CertError::CommonName => {
                    anyhow!("--common-name {common_name:?} is not usable: {e}")
                }
                other => anyhow!("making the certificate failed: {other}"),
            }
        })
    }
}

impl PublicKey {
    pub(crate) fn alg(&self) -> Alg {
        Alg::from_core(self.0.algorithm())
    }

    /// DER SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        self.0.spki_der()
    }

    fn from_spki_der(der: &[u8], origin: &str) -> Result<Self> {
        core_token::PublicKey::from_spki_der(der)
            .map(Self)
            .map_err(|e| anyhow!("{origin}: {e}; Tollgate signs with ES256 (P-256) or RS256 (RSA)"))
    }

    /// The libtrust key ID docker-registry 2.8 matches a token's `kid` against (the core's
    /// computation: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32, groups of 4).
    pub(crate) fn libtrust_kid(&self) -> String {
        self.0.kid()
    }

    /// The RFC 7638 JWK thumbprint: the `kid` registry 3.x matches against its rootcertbundle
    /// (and Tollgate signs with for `TOKEN_KID=thumbprint`).
    pub(crate) fn thumbprint(&self) -> String {
        core_token::jwk_thumbprint(&self.0)
    }

    /// The RFC 7517 JWK with the libtrust `kid`, exactly as the worker publishes it.
    pub(crate) fn jwk(&self) -> Value {
        core_token::jwk(&self.0)
    }
}

/// What one PEM block in an operator's file holds.
#[allow(clippy::large_enum_variant)]
pub(crate) enum PemItem {
    PrivateKey(PrivateKey),
    Certificate {
        public: PublicKey,
        cert: Box<Certificate>,
    },
    PublicKey(PublicKey),
}

impl PemItem {
    pub(crate) fn public_key(&self) -> PublicKey {
        match self {
            PemItem::PrivateKey(k) => k.public_key(),
            PemItem::Certificate { public, .. } | PemItem::PublicKey(public) => public.clone(),
        }
    }
}

/// Splits a PEM file into its blocks (key, certificate or public key), in order.
pub(crate) fn read_pem_items(text: &str, origin: &str) -> Result<Vec<PemItem>> {
    let mut items = Vec::new();
    let blocks = core_token::pem_blocks(text).map_err(|e| anyhow!("{origin}: {e}"))?;
    for (index, block) in blocks.into_iter().enumerate() {
        let at = format!("{origin} (PEM block {})", index + 1);
        let label = block
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-----BEGIN "))
            .and_then(|l| l.strip_suffix("-----"))
            .unwrap_or("");
        let item = match label {
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
                PemItem::PrivateKey(PrivateKey::from_pkcs8_pem(&block, &at)?)
            }
            "CERTIFICATE" => {
                let cert = Certificate::from_pem(block.as_bytes())
                    .with_context(|| format!("{at}: not a valid X.509 certificate"))?;
                let der = cert
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .with_context(|| format!("{at}: unreadable public key"))?;
                PemItem::Certificate {
                    public: PublicKey::from_spki_der(&der, &at)?,
                    cert: Box::new(cert),
                }
            }
            "PUBLIC KEY" => PemItem::PublicKey(PublicKey(
                core_token::PublicKey::from_pem(&block).map_err(|e| anyhow!("{at}: {e}"))?,
            )),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_round_trip_and_kid_shape() {
        let key = PrivateKey::generate(Alg::Es256, 0).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = PrivateKey::from_pkcs8_pem(&pem, "t").unwrap();
        let kid = key.public_key().libtrust_kid();
        assert_eq!(kid, again.public_key().libtrust_kid());
        assert_eq!(kid.len(), 48 + 11);
        assert_eq!(kid.split(':').count(), 12);
    }

    #[test]
    fn certificate_carries_the_same_key() {
        let key = PrivateKey::generate(Alg::Es256, 0).unwrap();
        let cert = key.self_signed_certificate("tollgate test", 30).unwrap();
        assert!(key.self_signed_certificate("bad,name", 30).is_err());
        let items = read_pem_items(&cert, "cert").unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].public_key().libtrust_kid(),
            key.public_key().libtrust_kid()
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
        let der = items[0].public_key().spki_der();
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&der);
        let expected = data_encoding::BASE32_NOPAD.encode(&digest[..30]);
        assert_eq!(
            items[0].public_key().libtrust_kid().replace(':', ""),
            expected
        );
    }

    #[test]
    fn refuses_garbage_and_unknown_blocks() {
        assert!(read_pem_items("hello", "f").is_err());
        let err = read_pem_items(
            "-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n",
            "f",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("unsupported PEM block 'DH PARAMETERS'"),
            "{err}"
        );
        let err = read_pem_items(
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            "f",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.starts_with("f (PEM block 1): "), "{err}");
    }

    #[test]
    fn rsa_bits_are_bounded() {
        assert!(PrivateKey::generate(Alg::Rs256, 1024).is_err());
    }
}
