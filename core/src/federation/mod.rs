//! Workload identity federation: an OIDC identity token (GitHub Actions, GitLab CI, a Kubernetes
//! service account) presented as the password is verified against its issuer's published keys and
//! becomes a [`Principal::Workload`](crate::policy::Principal) whose claims the ACL matches.
//!
//! Sans-I/O like the rest of the core: discovery documents and JWK Sets come through the
//! [`Fetch`] seam, time is a parameter, and the isolate's key cache is a value the caller owns.
//!
//! Order of checks, cheapest and least trusting first: size, JWT syntax, `alg` (RS256/ES256 only),
//! issuer selection (username or the unverified `iss`, which must then equal the selected issuer),
//! keys (cached, fetched or refreshed), signature with `alg` pinned to the key's type, then
//! aud/exp/nbf/iat/lifetime, claim flattening and the subject.

pub mod discovery;
pub(crate) mod fetch;
pub(crate) mod identity;
pub(crate) mod issuers;
pub mod keycache;

pub use fetch::{Fetch, FetchError, Fetched, MemoryFetch, NoFetch};
pub use identity::{check_claims, flatten, render_subject, valid_claim_name, ClaimError, Identity};
pub use issuers::{IssuerConfig, Issuers, IssuersError, OIDC_USERNAME};
pub(crate) use keycache::KeyCache;
use keycache::{KeysError, Want};

use crate::limits::MAX_IDENTITY_TOKEN_LEN;
use crate::token::X5cHeader;
use crate::token::{verify_jwt_with_kids, VerifyError};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use jwt_compact::UntrustedToken;
use std::cell::RefCell;
use std::fmt;

/// Whether a refusal is the token's fault (401) or the issuer's (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    Unauthorized,
    Unavailable,
}

/// Why federation refused. Messages name the failed check and never hold the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FederationError {
    pub kind: FailureKind,
    pub message: String,
    /// The selected issuer's name, once known (for the audit line).
    pub issuer: Option<String>,
}

impl fmt::Display for FederationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn refused(message: impl Into<String>, issuer: Option<&IssuerConfig>) -> FederationError {
    FederationError {
        kind: FailureKind::Unauthorized,
        message: message.into(),
        issuer: issuer.map(|i| i.name.clone()),
    }
}

fn unavailable(cfg: &IssuerConfig, why: &str) -> FederationError {
    FederationError {
        kind: FailureKind::Unavailable,
        message: format!(
            "issuer '{}' ({}) is unreachable or publishes no usable keys: {why}; nothing was granted, try again later",
            cfg.name, cfg.issuer
        ),
        issuer: Some(cfg.name.clone()),
    }
}

/// No keys to verify with: the issuer's fault (503), or an unknown kid refreshed too recently (401).
fn keys_refused(cfg: &IssuerConfig, e: KeysError, kid: &str) -> FederationError {
    match e {
        KeysError::Unavailable(why) => unavailable(cfg, &why),
        KeysError::RefreshedRecently => refused(
            format!(
                "kid '{}' not found in the issuer's JWKS (issuer '{}'; refreshed less than {}s ago)",
                shown(kid),
                cfg.name,
                crate::limits::JWKS_REFETCH_INTERVAL
            ),
            Some(cfg),
        ),
    }
}

/// The unverified `iss` and `kid`, only to choose an issuer and explain a refusal.
fn peek(token: &str) -> Result<(String, Option<String>), FederationError> {
    let malformed = || {
        refused(
            "the identity token is malformed: not a JWT (header.payload.signature)",
            None,
        )
    };
    // The header type verify.rs uses, so the worker carries one header deserializer, not two.
    let untrusted = UntrustedToken::<X5cHeader>::try_from(token).map_err(|_| malformed())?;
    let alg = untrusted.algorithm();
    if alg != "RS256" && alg != "ES256" {
        let shown: String = alg
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(16)
            .collect();
        return Err(refused(
            format!("the identity token's alg '{shown}' is not accepted: only RS256 and ES256 are"),
            None,
        ));
    }
    let kid = untrusted.header().key_id.clone();
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|p| Base64UrlUnpadded::decode_vec(p).ok())
        .ok_or_else(malformed)?;
    // Only `iss` is read, into its own type: the other claims are skipped unbuilt (serde's
    // IgnoredAny), where a `serde_json::Value` of the whole payload cost a token ~20 allocations
    // to read one string. The claims are read in full once the signature verified
    // (`check_claims`). A duplicate or non-string `iss` is refused here, and so is a payload that
    // is not an object: serde's derive would read `["https://issuer"]` as `{iss}` by position and
    // fetch that issuer's keys for a token that can never verify (`json_object`).
    #[derive(serde::Deserialize)]
    struct Iss {
        #[serde(default)]
        iss: Option<String>,
    }
    let claims: Iss = crate::json_object::from_slice(&payload).map_err(|_| {
        refused(
            "the identity token's claims are not a JSON object with a string 'iss' (issuer)",
            None,
        )
    })?;
    Ok((claims.iss.unwrap_or_default(), kid))
}

fn shown(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(128).collect()
}

/// Verifies an identity token presented with `username` (an issuer's username or `oidc`).
pub(crate) async fn authenticate(
    issuers: &Issuers,
    username: &str,
    token: &str,
    cache: &RefCell<KeyCache>,
    fetch: &impl Fetch,
    now: u64,
) -> Result<Identity, FederationError> {
    if token.len() > MAX_IDENTITY_TOKEN_LEN {
        return Err(refused(
            format!(
                "the identity token is too large: {} bytes, at most {MAX_IDENTITY_TOKEN_LEN} bytes are accepted",
                token.len()
            ),
            None,
        ));
    }
    // An issuer's username selects it before anything is parsed, so every refusal's audit line
    // names the issuer; `oidc` selects by the (unverified) iss below.
    let by_username = issuers.by_username(username);
    let (iss, kid) = peek(token).map_err(|mut e| {
        e.issuer = by_username.map(|c| c.name.clone());
        e
    })?;
    let cfg = if username == OIDC_USERNAME {
        issuers.by_iss(&iss).ok_or_else(|| {
            refused(
                format!(
                    "unknown issuer: the identity token's iss '{}' is not a trusted issuer",
                    shown(&iss)
                ),
                None,
            )
        })?
    } else {
        by_username.ok_or_else(|| {
            refused(
                format!("unknown issuer for username '{}'", shown(username)),
                None,
            )
        })?
    };
    if iss != cfg.issuer {
        return Err(refused(
            ClaimError::Issuer {
                got: iss,
                want: cfg.issuer.clone(),
            }
            .to_string(),
            Some(cfg),
        ));
    }

    // Every OIDC issuer's tokens name their key; without one, a refetch could not help.
    let Some(kid) = kid.filter(|k| !k.is_empty()) else {
        return Err(refused(
            "the identity token has no kid header: it cannot be matched to a key of the issuer's JWKS",
            Some(cfg),
        ));
    };
    let set = keycache::keys(cfg, cache, fetch, Want::Current, now)
        .await
        .map_err(|e| keys_refused(cfg, e, &kid))?;
    let mut keys = set.keys;
    let mut refreshed = false;
    let payload = loop {
        match verify_jwt_with_kids(token, &keys.keys, &keys.kids) {
            Ok(v) => break v.payload,
            Err(VerifyError::UnknownKey) if !refreshed => {
                // The issuer may have rotated: ask for its current keys (bounded like every fetch).
                let fresh = keycache::keys(cfg, cache, fetch, Want::Refresh, now)
                    .await
                    .map_err(|e| keys_refused(cfg, e, &kid))?;
                keys = fresh.keys;
                refreshed = true;
            }
            Err(VerifyError::UnknownKey) => {
                return Err(refused(
                    format!(
                        "kid '{}' not found in the issuer's JWKS (issuer '{}', just refreshed)",
                        shown(&kid),
                        cfg.name
                    ),
                    Some(cfg),
                ));
            }
            Err(VerifyError::AlgorithmMismatch) => {
                return Err(refused(
                    "the identity token's alg does not match its key's type (RSA keys verify only RS256, P-256 keys only ES256)",
                    Some(cfg),
                ))
            }
            Err(VerifyError::BadSignature) => {
                return Err(refused(
                    format!(
                        "the identity token's signature does not verify against issuer '{}''s keys",
                        cfg.name
                    ),
                    Some(cfg),
                ))
            }
            Err(_) => {
                return Err(refused(
                    "the identity token is malformed: invalid JWT",
                    Some(cfg),
                ))
            }
        }
    };
    check_claims(cfg, &payload, now).map_err(|e| refused(e.to_string(), Some(cfg)))
}

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
