//! bench/sign-worker on p256 0.14 with its precomputed basepoint table (see Cargo.toml): signs
//! one fixed ES256 token per request, `?n=N` (N <= 1000) N times, key parsed once per isolate.

use jwt_compact::{Algorithm, AlgorithmExt as _, AlgorithmSignature, Claims, Header};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey as _;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::num::NonZeroUsize;
use worker::{event, Context, Env, Request, Response, Result};

/// ES256 (RFC 7518 3.4) on p256 0.14: the JWS signature is r || s, 64 bytes.
struct Es256Next;

struct Sig(Signature);

impl AlgorithmSignature for Sig {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(64);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        Signature::from_slice(slice)
            .map(Sig)
            .map_err(|_| anyhow::anyhow!("not a 64-byte P-256 signature"))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

impl Algorithm for Es256Next {
    type SigningKey = SigningKey;
    type VerifyingKey = VerifyingKey;
    type Signature = Sig;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES256")
    }

    fn sign(&self, key: &SigningKey, message: &[u8]) -> Sig {
        Sig(key.sign(message))
    }

    fn verify_signature(&self, sig: &Sig, key: &VerifyingKey, message: &[u8]) -> bool {
        key.verify(message, &sig.0).is_ok()
    }
}

thread_local! {
    static KEY: OnceCell<SigningKey> = const { OnceCell::new() };
}

fn claims() -> Claims<serde_json::Value> {
    Claims::new(serde_json::json!({
        "iss": "tollgate-bench",
        "sub": "ci-bot",
        "aud": "registry.local",
        "exp": 4_102_444_800u64,
        "nbf": 1_700_000_000u64,
        "iat": 1_700_000_000u64,
        "jti": "0123456789abcdef0123456789abcdef",
        "access": [{"type": "repository", "name": "org/app", "actions": ["pull", "push"]}]
    }))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let n: u32 = req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "n")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1)
        .min(1000);
    let key = KEY.with(|cell| -> Result<SigningKey> {
        if let Some(k) = cell.get() {
            return Ok(k.clone());
        }
        let pem = env.secret("SIGNING_KEY")?.to_string();
        let k = SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        Ok(cell.get_or_init(|| k).clone())
    })?;
    let header = Header::empty().with_key_id("bench");
    let claims = claims();
    let mut token = String::new();
    for _ in 0..n {
        token = Es256Next
            .token(&header, &claims, &key)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
    }
    // Self-check: the token verifies with the same algorithm (a broken port would still be fast).
    let untrusted = jwt_compact::UntrustedToken::new(&token)
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    Es256Next
        .validator::<serde_json::Value>(key.verifying_key())
        .validate(&untrusted)
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    Response::ok(token)
}
