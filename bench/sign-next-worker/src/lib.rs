//! bench/sign-worker on p256 0.14 with its precomputed basepoint table (see Cargo.toml): signs
//! one fixed ES256 token per request, `?n=N` (N <= 1000) N times, key parsed once per isolate.

// Shared with bench/sign-worker. scripts/build.sh watches only this crate's src/, so after editing
// that file rebuild this crate with TG_FORCE_BUILD=1.
#[path = "../../sign-worker/src/common.rs"]
mod common;

use jwt_compact::{Algorithm, AlgorithmExt as _, AlgorithmSignature};
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

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let n = common::requested_signatures(&req)?;
    let key = common::cached_key(&KEY, &env, |pem| {
        SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())
    })?;
    let token = common::sign_n(&Es256Next, &key, n)?;
    // Self-check: the token verifies with the same algorithm (a broken port would still be fast).
    let untrusted = jwt_compact::UntrustedToken::new(&token)
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    Es256Next
        .validator::<serde_json::Value>(key.verifying_key())
        .validate(&untrusted)
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    Response::ok(token)
}
