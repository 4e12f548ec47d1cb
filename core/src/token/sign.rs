//! Token issuance: a [`Signer`] holds a parsed key (parsing costs about one signature, so it is
//! built once and reused) and writes the JOSE header docker-registry expects.

use super::alg::{Es256, Rs256};
use super::claims::RegistryClaims;
use super::keys::{Algorithm, KeyError, PublicKey, SigningKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jwt_compact::{AlgorithmExt as _, Claims, Header};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The JOSE header fields jwt-compact does not model: `x5c` (RFC 7515 4.1.6).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct X5cHeader {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x5c: Option<Vec<String>>,
}

/// Why a token could not be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignError(String);

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the token could not be signed ({}); nothing was issued",
            self.0
        )
    }
}

impl std::error::Error for SignError {}

/// A signing key with its key ID and optional certificate. Debug shows only public data.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    public: PublicKey,
    kid: String,
    x5c: Option<Vec<String>>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.algorithm().as_str())
            .field("kid", &self.kid)
            .field("x5c", &self.x5c.is_some())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `key`; with `cert_pem` (a "CERTIFICATE" block holding the same public key)
    /// tokens also carry `x5c`, which registry 2.x and 3.x both accept.
    pub fn new(key: SigningKey, cert_pem: Option<&str>) -> Result<Signer, KeyError> {
        let public = key.public_key();
        let x5c = match cert_pem {
            None => None,
            Some(pem) => {
                let (label, der) =
                    x509_cert::der::pem::decode_vec(pem.trim().as_bytes()).map_err(|_| {
                        KeyError::PublicKey("the signing certificate is not a PEM block".into())
                    })?;
                if label != "CERTIFICATE" {
                    return Err(KeyError::PublicKey(
                        "the signing certificate must be a PEM 'CERTIFICATE' block".into(),
                    ));
                }
                if PublicKey::from_certificate_der(&der)? != public {
                    return Err(KeyError::CertificateMismatch);
                }
                Some(vec![STANDARD.encode(der)])
            }
        };
        let kid = public.kid();
        Ok(Signer {
            key,
            public,
            kid,
            x5c,
        })
    }

    /// The libtrust key ID put in every token's `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The `x5c` chain (base64 DER), when a certificate was configured.
    pub fn x5c(&self) -> Option<&[String]> {
        self.x5c.as_deref()
    }

    /// Signs `claims` as a compact JWS: header `alg`, `typ: JWT`, `kid`, and `x5c` if configured.
    /// The claims are serialized as they are (`exp`/`nbf`/`iat` integers, `aud` a string).
    pub fn sign(&self, claims: &RegistryClaims) -> Result<String, SignError> {
        let header = Header::new(X5cHeader {
            x5c: self.x5c.clone(),
        })
        .with_key_id(self.kid.clone())
        .with_token_type("JWT");
        let claims = Claims::new(claims);
        let token = match &self.key {
            SigningKey::Es256(k) => Es256.token(&header, &claims, k),
            SigningKey::Rs256(k) => Rs256.token(&header, &claims, k),
        }
        .map_err(|e| SignError(e.to_string()))?;
        // `Rs256::sign` cannot return an error through jwt-compact's trait; a failed RSA
        // signature comes back empty, so the compact JWS ends with its last '.'.
        if token.ends_with('.') {
            return Err(SignError("the RSA signature operation failed".into()));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
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
        }
    }

    fn decode_part(token: &str, i: usize) -> serde_json::Value {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let part = token.split('.').nth(i).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn header_and_payload_shape() {
        for key in [es_key(), rsa_key()] {
            let alg = key.algorithm();
            let signer = Signer::new(key, None).unwrap();
            let token = signer.sign(&claims()).unwrap();
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

    #[test]
    fn debug_shows_no_key() {
        let s = Signer::new(es_key(), None).unwrap();
        let dbg = format!("{s:?}");
        assert!(dbg.contains(s.kid()) && !dbg.contains("Es256("));
    }
}
