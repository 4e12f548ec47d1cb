//! Registry tokens: signing keys, key IDs, published key sets, issuance and verification.

pub mod claims;

pub use claims::{Access, RegistryClaims};
