//! The isolate's key material, built once from the settings with `crate::token`:
//!
//! - `SIGNING_KEY` (P-256) signs ES256 tokens. Their header follows the service's `TOKEN_KID`
//!   (libtrust key ID by default, or RFC 7638 thumbprint) and `TOKEN_X5C` (by default `x5c` when
//!   `SIGNING_CERT` is set): one [`Signer`] per header some service uses, so each header is still
//!   encoded and hashed once per isolate.
//! - `RSA_SIGNING_KEY` signs RS256 tokens for `RS256_SERVICES` (ChartMuseum verifies only RS256).
//! - `PUBLISHED_KEYS` adds certificates / public keys to the JWKS, the certificate bundle and the
//!   verifier without signing with them: publish the next key before switching, keep the old one
//!   until its tokens have expired.
//!
//! Errors name the secret and never echo its content (the token module's messages hold none).

use crate::config::{ConfigError, Settings};
use crate::protocol::{ErrorKind, TokenError};
use crate::token::{
    certificate_bundle, jwks_with_kids, parse_pem_bundle, pem_blocks, Algorithm, KeyError,
    KidFormat, PublicKey, RegistryClaims, Signer, SigningKey, TokenHeader, Verifier, VerifyError,
};

/// Why a presented token was not accepted (the proxy's view of `token::VerifyError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    NotYetValid,
}

impl Rejected {
    /// A stable code for logs and challenges.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed",
            Rejected::UnknownKey => "unknown_key",
            Rejected::BadSignature => "bad_signature",
            Rejected::WrongIssuer => "wrong_issuer",
            Rejected::WrongAudience => "wrong_audience",
            Rejected::Expired => "expired",
            Rejected::NotYetValid => "not_yet_valid",
        }
    }
}

impl From<VerifyError> for Rejected {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::TooLarge | VerifyError::Malformed => Rejected::Malformed,
            VerifyError::UnknownKey => Rejected::UnknownKey,
            VerifyError::AlgorithmMismatch | VerifyError::BadSignature => Rejected::BadSignature,
            VerifyError::Issuer => Rejected::WrongIssuer,
            VerifyError::Audience => Rejected::WrongAudience,
            VerifyError::Expired => Rejected::Expired,
            VerifyError::NotYetValid => Rejected::NotYetValid,
        }
    }
}

pub(super) struct Keys {
    /// One signer per (key, header) some service uses.
    signers: Vec<Signer>,
    /// Each service of SERVICES with the index of its signer in `signers`.
    by_service: Vec<(String, usize)>,
    /// Every published key (signing keys included), for `issuer` and all SERVICES.
    verifier: Verifier,
    /// `{"keys": [...]}` served at /.well-known/jwks.json.
    pub jwks_json: Vec<u8>,
    /// Certificates served at /certs.pem (a registry's rootcertbundle); empty without any.
    pub certs_pem: String,
}

fn signing_key(
    pem: &str,
    setting: &'static str,
    want: Algorithm,
) -> Result<SigningKey, ConfigError> {
    let key =
        SigningKey::from_pkcs8_pem(pem).map_err(|e| ConfigError::new(setting, format!("{e}")))?;
    if key.algorithm() != want {
        let hint = match want {
            Algorithm::Es256 => {
                "SIGNING_KEY must be a P-256 key (ES256); RSA keys go in RSA_SIGNING_KEY"
            }
            Algorithm::Rs256 => {
                "RSA_SIGNING_KEY must be an RSA key (RS256); the P-256 key goes in SIGNING_KEY"
            }
        };
        return Err(ConfigError::new(
            setting,
            format!("holds a {} key: {hint}", key.algorithm().as_str()),
        ));
    }
    Ok(key)
}

fn es256_signer(
    key: &SigningKey,
    settings: &Settings,
    header: TokenHeader,
) -> Result<Signer, ConfigError> {
    let cert = settings.signing_cert_pem.as_deref();
    Signer::with_header(key.clone(), cert, header).map_err(|e| match e {
        KeyError::CertificateMismatch => ConfigError::new(
            "SIGNING_CERT",
            "is a certificate for another key than SIGNING_KEY: configure the certificate issued for \
             SIGNING_KEY (tollgate keys generate writes both)",
        ),
        other => ConfigError::new("SIGNING_CERT", format!("{other}")),
    })
}

impl Keys {
    pub(super) fn load(settings: &Settings) -> Result<Keys, ConfigError> {
        let es_key = signing_key(&settings.signing_key_pem, "SIGNING_KEY", Algorithm::Es256)?;
        // Checks SIGNING_CERT against the key even when no service sends it.
        let es256 = es256_signer(
            &es_key,
            settings,
            TokenHeader {
                kid: KidFormat::Libtrust,
                x5c: settings.signing_cert_pem.is_some(),
            },
        )?;

        let rs_key = match (
            &settings.rsa_signing_key_pem,
            settings.rs256_services.is_empty(),
        ) {
            (Some(pem), false) => Some(signing_key(pem, "RSA_SIGNING_KEY", Algorithm::Rs256)?),
            _ => None,
        };

        let mut signers: Vec<Signer> = Vec::new();
        let mut by_service = Vec::new();
        for (service, header) in settings.token_headers.services() {
            let key = match &rs_key {
                Some(rsa) if settings.is_rs256(service) => rsa,
                _ => &es_key,
            };
            let same = |s: &Signer| s.algorithm() == key.algorithm() && s.header() == header;
            let index = match signers.iter().position(same) {
                Some(i) => i,
                None => {
                    signers.push(match key.algorithm() {
                        Algorithm::Es256 => es256_signer(key, settings, header)?,
                        Algorithm::Rs256 => Signer::with_header(key.clone(), None, header)
                            .map_err(|e| ConfigError::new("RSA_SIGNING_KEY", format!("{e}")))?,
                    });
                    signers.len() - 1
                }
            };
            by_service.push((service.to_string(), index));
        }

        let mut published: Vec<PublicKey> = vec![es256.public_key().clone()];
        if let Some(rs) = &rs_key {
            published.push(rs.public_key());
        }
        let mut certs: Vec<String> = settings
            .signing_cert_pem
            .iter()
            .map(|p| p.trim().to_string())
            .collect();
        if let Some(bundle) = &settings.published_keys_pem {
            let keys = parse_pem_bundle(bundle)
                .map_err(|e| ConfigError::new("PUBLISHED_KEYS", format!("{e}")))?;
            if keys.is_empty() {
                return Err(ConfigError::new(
                    "PUBLISHED_KEYS",
                    "holds no PEM CERTIFICATE or PUBLIC KEY block: set it to such blocks or leave it unset",
                ));
            }
            for key in keys {
                if !published.contains(&key) {
                    published.push(key);
                }
            }
            let blocks = pem_blocks(bundle)
                .map_err(|e| ConfigError::new("PUBLISHED_KEYS", format!("{e}")))?;
            for block in blocks {
                let block = block.trim().to_string();
                if block.starts_with("-----BEGIN CERTIFICATE-----") && !certs.contains(&block) {
                    certs.push(block);
                }
            }
        }

        // Each key under every kid form some service's tokens carry (3.x `jwks` lookups).
        let kid_formats = settings.token_headers.kid_formats();
        let jwks_json = crate::json_bytes::to_vec(&jwks_with_kids(&published, &kid_formats), 1024)
            .map_err(|e| {
                ConfigError::new(
                    "PUBLISHED_KEYS",
                    format!("the JWKS could not be encoded: {e}"),
                )
            })?;
        let cert_refs: Vec<&str> = certs.iter().map(String::as_str).collect();
        let certs_pem = if cert_refs.is_empty() {
            String::new()
        } else {
            certificate_bundle(&cert_refs)
        };
        let verifier = Verifier::new(
            published,
            settings.issuer.clone(),
            settings.services.clone(),
            crate::limits::CLOCK_LEEWAY_SECS,
        );
        Ok(Keys {
            signers,
            by_service,
            verifier,
            jwks_json,
            certs_pem,
        })
    }

    /// Signs the claims for `service` with its signer: RS256 for an RS256 service, ES256
    /// otherwise, with the service's header.
    pub(super) fn sign(
        &self,
        service: &str,
        claims: &RegistryClaims,
    ) -> Result<String, TokenError> {
        let signer = self
            .by_service
            .iter()
            .find(|(s, _)| s == service)
            .and_then(|(_, i)| self.signers.get(*i))
            .ok_or_else(|| {
                TokenError::new(
                    ErrorKind::ServerError,
                    format!("no signing key is configured for service '{service}'"),
                )
            })?;
        signer
            .sign(claims)
            .map_err(|e| TokenError::new(ErrorKind::ServerError, e.to_string()))
    }

    /// Verifies a token against the published keys for `audience` (kid/x5c picks the key, whose
    /// type fixes the algorithm; then signature, `iss`, `aud`, `exp`/`nbf` with the leeway).
    pub(super) fn verify(
        &self,
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<RegistryClaims, Rejected> {
        let claims = self.verifier.verify(token, now)?;
        if claims.aud != audience {
            return Err(Rejected::WrongAudience);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_errors_map_to_stable_codes() {
        assert_eq!(
            Rejected::from(VerifyError::Audience).as_str(),
            "wrong_audience"
        );
        assert_eq!(
            Rejected::from(VerifyError::AlgorithmMismatch),
            Rejected::BadSignature
        );
        assert_eq!(Rejected::from(VerifyError::TooLarge), Rejected::Malformed);
    }
}
