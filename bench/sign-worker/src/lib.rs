//! Reference for bench/token.sh: signs one fixed ES256 token per request (`?n=N` signs N times in
//! the same request, N <= 1000, so the client can time the signature alone). The PKCS#8 key in
//! SIGNING_KEY is parsed once per isolate, as Tollgate does.

use jwt_compact::alg::Es256;
use jwt_compact::{AlgorithmExt as _, Claims, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey as _;
use std::cell::OnceCell;
use worker::{event, Context, Env, Request, Response, Result};

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
        token = Es256
            .token(&header, &claims, &key)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
    }
    Response::ok(token)
}
