//! Registry tokens: signing keys, key IDs, published key sets, issuance and verification.

pub mod alg;
pub(crate) mod cert;
pub(crate) mod claims;
pub(crate) mod header;
pub(crate) mod keys;
pub(crate) mod libtrust;
pub(crate) mod published;
pub(crate) mod rsa_key;
pub(crate) mod sign;
pub(crate) mod verify;
pub mod warm_up;

pub use cert::{self_signed_certificate, CertError};
pub use claims::{Access, RegistryClaims};
pub use header::{HeaderSettings, KidFormat, TokenHeader};
pub use keys::{
    parse_pem_bundle, pem_blocks, Algorithm, KeyError, PublicKey, SigningKey, MIN_RSA_BITS,
};
pub use published::{certificate_bundle, jwk, jwk_thumbprint, jwk_with_kid, jwks, jwks_with_kids};
pub use sign::{SignError, Signer, X5cHeader};
pub use verify::{verify_jwt_with_keys, verify_jwt_with_kids, VerifiedJwt, Verifier, VerifyError};
