//! The bare-sign bench worker's plumbing, apart from the ES256 implementation it measures: the
//! fixed claims, `?n=N`, the once-per-isolate key, the signing loop. (A separate module so another
//! signer can be compared by including this file by path, as the retired bench/sign-prev-worker did.)

use jwt_compact::{Algorithm, AlgorithmExt as _, Claims, Header};
use std::cell::OnceCell;
use std::thread::LocalKey;
use worker::{Env, Request, Result};

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

/// `?n=N`: how many times to sign in this request (1 by default, at most 1000).
pub fn requested_signatures(req: &Request) -> Result<u32> {
    Ok(req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "n")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1)
        .min(1000))
}

/// The key in SIGNING_KEY, parsed on the isolate's first request (as Tollgate does) and kept in `cell`.
pub fn cached_key<K: Clone + 'static>(
    cell: &'static LocalKey<OnceCell<K>>,
    env: &Env,
    parse: fn(&str) -> std::result::Result<K, String>,
) -> Result<K> {
    cell.with(|cell| {
        if let Some(k) = cell.get() {
            return Ok(k.clone());
        }
        let pem = env.secret("SIGNING_KEY")?.to_string();
        let k = parse(&pem).map_err(worker::Error::RustError)?;
        Ok(cell.get_or_init(|| k).clone())
    })
}

/// Signs the fixed token `n` times with `alg` and returns the last one.
pub fn sign_n<A: Algorithm>(alg: &A, key: &A::SigningKey, n: u32) -> Result<String> {
    let header = Header::empty().with_key_id("bench");
    let claims = claims();
    let mut token = String::new();
    for _ in 0..n {
        token = alg
            .token(&header, &claims, key)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
    }
    Ok(token)
}
