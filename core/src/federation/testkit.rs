//! A fake OIDC issuer for native tests: keys, JWKS, discovery document and token minting.

use super::fetch::{Fetched, MemoryFetch};
use super::issuers::Issuers;
use crate::token::alg::{Es256, Rs256};
use crate::token::jwk;
use crate::token::keys::tests::{es_key, rsa_key};
use crate::token::SigningKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::{AlgorithmExt as _, Claims, Header};
use serde_json::{json, Value};

pub(crate) const ISS: &str = "https://token.actions.githubusercontent.com";
pub(crate) const AUD: &str = "https://registry.example";
pub(crate) const JWKS_URI: &str = "https://token.actions.githubusercontent.com/.well-known/jwks";
pub(crate) const DISCOVERY: &str =
    "https://token.actions.githubusercontent.com/.well-known/openid-configuration";
pub(crate) const NOW: u64 = 1_800_000_000;

pub(crate) fn issuers() -> Issuers {
    Issuers::from_json(&format!(
        r#"[{{"name":"github","issuer":"{ISS}","audiences":["{AUD}"],"username":"github-actions",
            "subject":"github:${{claims.repository}}:${{claims.ref}}","max_lifetime":3600}},
           {{"name":"k8s","issuer":"http://127.0.0.1:6443","audiences":["tollgate"],
            "jwks_uri":"http://127.0.0.1:6443/openid/v1/jwks"}}]"#
    ))
    .unwrap()
}

pub(crate) struct FakeIssuer {
    pub rsa: SigningKey,
    pub ec: SigningKey,
    pub fetch: MemoryFetch,
}

impl FakeIssuer {
    /// Publishes `rsa` as kid "r1" and `ec` as "e1", discovery with max-age 600.
    pub(crate) fn new() -> FakeIssuer {
        let f = FakeIssuer {
            rsa: rsa_key(),
            ec: es_key(),
            fetch: MemoryFetch::new(),
        };
        f.fetch.set(
            DISCOVERY,
            Ok(Fetched::ok(
                json!({"issuer": ISS, "jwks_uri": JWKS_URI}).to_string(),
                Some(600),
            )),
        );
        f.publish(&[("r1", &f.rsa), ("e1", &f.ec)], Some(600));
        f
    }

    pub(crate) fn publish(&self, keys: &[(&str, &SigningKey)], max_age: Option<u64>) {
        let keys: Vec<Value> = keys
            .iter()
            .map(|(kid, k)| {
                let mut j = jwk(&k.public_key());
                j["kid"] = json!(kid);
                j
            })
            .collect();
        self.fetch.set(
            JWKS_URI,
            Ok(Fetched::ok(json!({ "keys": keys }).to_string(), max_age)),
        );
    }

    /// GitHub-like claims valid at NOW, with `extra` merged in (null removes a claim).
    pub(crate) fn claims(extra: Value) -> Value {
        let mut c = json!({
            "iss": ISS, "aud": AUD, "sub": "repo:org/app:ref:refs/heads/main",
            "repository": "org/app", "repository_owner": "org", "ref": "refs/heads/main",
            "environment": "prod", "job_workflow_ref": "org/app/.github/workflows/ci.yml@refs/heads/main",
            "jti": "id-jti-1", "iat": NOW - 5, "nbf": NOW - 5, "exp": NOW + 295
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    pub(crate) fn sign(key: &SigningKey, kid: &str, claims: &Value) -> String {
        let header = Header::empty().with_key_id(kid).with_token_type("JWT");
        let claims = Claims::new(claims.clone());
        match key {
            SigningKey::Es256(k) => Es256.token(&header, &claims, k),
            SigningKey::Rs256(k) => Rs256.token(&header, &claims, k),
        }
        .unwrap()
    }

    pub(crate) fn rs(&self, extra: Value) -> String {
        Self::sign(&self.rsa, "r1", &Self::claims(extra))
    }

    pub(crate) fn es(&self, extra: Value) -> String {
        Self::sign(&self.ec, "e1", &Self::claims(extra))
    }
}

/// A token with an arbitrary header and signature bytes (forgeries).
pub(crate) fn raw_token(header: Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}
