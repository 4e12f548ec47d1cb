//! Registry tokens: signing keys, key IDs, published key sets, issuance and verification.

pub mod claims;
pub mod keys;
pub mod libtrust;
pub mod sign;

pub use claims::{Access, RegistryClaims};
pub use keys::{parse_pem_bundle, Algorithm, KeyError, PublicKey, SigningKey, MIN_RSA_BITS};
pub use libtrust::libtrust_key_id;
pub use sign::{SignError, Signer, X5cHeader};
