//! The claims of a registry token (distribution's jwt.md), shared by issuance, verification and policy.

use serde::{Deserialize, Serialize};

/// One entry of the `access` claim: what the bearer may do on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub resource_type: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// The registered and private claims Tollgate puts in every token. `aud` is a single string because
/// docker-registry 2.8 rejects an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub access: Vec<Access>,
    /// Private claim: the client networks / countries the credential behind this token is bound
    /// to (core/src/netbind.rs). The proxy refuses the token from anywhere else; registries
    /// ignore claims they do not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<crate::netbind::NetBinding>,
}
