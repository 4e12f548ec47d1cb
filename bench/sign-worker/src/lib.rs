//! Reference for bench/token.sh: signs one fixed ES256 token per request (`?n=N` signs N times in
//! the same request, N <= 1000, so the client can time the signature alone). The PKCS#8 key in
//! SIGNING_KEY is parsed once per isolate, as Tollgate does.

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
