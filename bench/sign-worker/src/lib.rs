//! Reference for bench/token.sh: signs one fixed ES256 token per request (`?n=N` signs N times in
//! the same request, N <= 1000, so the client can time the signature alone) with Tollgate's own
//! ES256 (`tollgate_core::token::alg::Es256`). The PKCS#8 key in SIGNING_KEY is parsed once per
//! isolate, as Tollgate does.

mod common;

use jwt_compact::Algorithm;
use std::cell::OnceCell;
use tollgate_core::token::alg::Es256;
use tollgate_core::token::SigningKey as TollgateKey;
use worker::{event, Context, Env, Request, Response, Result};

/// p256 0.14's ECDSA key, named through the Algorithm (this crate does not depend on p256).
type SigningKey = <Es256 as Algorithm>::SigningKey;

thread_local! {
    static KEY: OnceCell<SigningKey> = const { OnceCell::new() };
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let n = common::requested_signatures(&req)?;
    let key = common::cached_key(&KEY, &env, |pem| match TollgateKey::from_pkcs8_pem(pem) {
        Ok(TollgateKey::Es256(k)) => Ok(k),
        Ok(_) => Err("SIGNING_KEY is not a P-256 key".to_owned()),
        Err(e) => Err(e.to_string()),
    })?;
    Response::ok(common::sign_n(&Es256, &key, n)?)
}
