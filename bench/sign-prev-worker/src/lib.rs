//! bench/sign-worker on the previous RustCrypto generation: jwt-compact 0.8's own `Es256` on
//! p256 0.13 (no basepoint table), as Tollgate signed until it moved to p256 0.14. Signs one fixed
//! ES256 token per request, `?n=N` (N <= 1000) N times, key parsed once per isolate.

// Shared with bench/sign-worker. scripts/build.sh watches only this crate's src/, so after editing
// that file rebuild this crate with TG_FORCE_BUILD=1.
#[path = "../../sign-worker/src/common.rs"]
mod common;

use jwt_compact::alg::Es256;
use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey as _;
use std::cell::OnceCell;
use worker::{event, Context, Env, Request, Response, Result};

thread_local! {
    static KEY: OnceCell<SigningKey> = const { OnceCell::new() };
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let n = common::requested_signatures(&req)?;
    let key = common::cached_key(&KEY, &env, |pem| {
        SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())
    })?;
    Response::ok(common::sign_n(&Es256, &key, n)?)
}
