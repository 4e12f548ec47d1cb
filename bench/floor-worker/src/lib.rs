//! The protocol floor for bench/token.sh (issue 17, steady state): what a token response costs in
//! this runtime before any of a token service's decisions.
//!
//! Per request, the same I/O as Tollgate's warm API-key token (`GET /token?service=..&scope=..`
//! with Basic credentials), and nothing else:
//! - it reads the request's URL and its `Authorization` header (one runtime call each; not
//!   parsed, not checked: that is the token service's work);
//! - it signs claims of Tollgate's shape (the same fields and lengths, a fresh `jti` and times)
//!   with Tollgate's own [`Signer`] and the same key and certificate, so the token is the same
//!   1,232 bytes with `x5c` and costs the same signature;
//! - it answers with the distribution body (the token twice, `expires_in`, `issued_at`) and the
//!   same headers (`Content-Type`, `Cache-Control`; workerd adds `Content-Length`), built once per
//!   isolate as Tollgate's are;
//! - it logs one line of an audit line's length (~410 bytes) with `console.log`.
//!
//! The body and the line are assembled by appending fixed text (no JSON serializer), the `jti` is
//! a counter: the floor should hold only what every implementation of this protocol pays.

use std::cell::{Cell, OnceCell};
use tollgate_core::token::{Access, RegistryClaims, Signer, SigningKey};
use worker::{event, js_sys, web_sys, Context, Env, Error, Result};

thread_local! {
    static SIGNER: OnceCell<Signer> = const { OnceCell::new() };
    static HEADERS: OnceCell<web_sys::Headers> = const { OnceCell::new() };
    static COUNTER: Cell<u64> = const { Cell::new(0) };
}

fn signer(env: &Env) -> Result<Signer> {
    SIGNER.with(|cell| {
        if let Some(s) = cell.get() {
            return Ok(s.clone());
        }
        let key = SigningKey::from_pkcs8_pem(&env.secret("SIGNING_KEY")?.to_string())
            .map_err(|e| Error::RustError(e.to_string()))?;
        let cert = env.secret("SIGNING_CERT")?.to_string();
        let signer = Signer::new(key, Some(&cert)).map_err(|e| Error::RustError(e.to_string()))?;
        Ok(cell.get_or_init(|| signer).clone())
    })
}

fn headers() -> Result<web_sys::Headers> {
    HEADERS.with(|cell| {
        if let Some(h) = cell.get() {
            return Ok(h.clone());
        }
        let h = web_sys::Headers::new()?;
        h.append("content-type", "application/json")?;
        h.append("cache-control", "no-store")?;
        Ok(cell.get_or_init(|| h).clone())
    })
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    // What the request holds, read as Tollgate must read it (and then left alone).
    let url = req.url();
    let authorization = req.headers().get("authorization")?;
    if authorization.is_none() || url.is_empty() {
        return Err(Error::RustError(
            "the floor expects Basic credentials".into(),
        ));
    }

    let now = js_sys::Date::now() as u64 / 1000;
    let n = COUNTER.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    let jti = format!("{n:032x}");
    let claims = RegistryClaims {
        iss: "tollgate-dev".into(),
        sub: "ci-bot".into(),
        aud: "registry.local".into(),
        exp: now + 300,
        nbf: now,
        iat: now,
        jti: jti.clone(),
        access: vec![Access {
            resource_type: "repository".into(),
            name: "org/app".into(),
            actions: vec!["pull".into(), "push".into()],
        }],
        net: None,
    };
    let token = signer(&env)?
        .sign(&claims)
        .map_err(|e| Error::RustError(e.to_string()))?;

    let mut body = String::with_capacity(2 * token.len() + 100);
    body.push_str(r#"{"token":""#);
    body.push_str(&token);
    body.push_str(r#"","access_token":""#);
    body.push_str(&token);
    body.push_str(r#"","expires_in":300,"issued_at":"2026-12-06T17:35:54Z"}"#);

    let mut line = String::with_capacity(420);
    line.push_str(r#"{"event":"token","outcome":"issued","status":200,"time":1796578580,"grant":"header","account":"ci-bot","credential":"api_key","credential_name":"ci","service":"registry.local","client_id":null,"requested":["repository:org/app:pull,push"],"granted":["repository:org/app:pull,push"],"jti":""#);
    line.push_str(&jti);
    line.push_str(r#"","refresh_token_issued":false,"reason":null,"client_ip":"127.0.0.1","user_agent":null}"#);
    web_sys::console::log_1(&line.into());

    let init = web_sys::ResponseInit::new();
    init.set_status(200);
    init.set_headers(headers()?.as_ref());
    let bytes = js_sys::Uint8Array::from(body.as_bytes());
    Ok(web_sys::Response::new_with_opt_buffer_source_and_init(
        Some(&bytes),
        &init,
    )?)
}
