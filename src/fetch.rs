//! The core's `Fetch` seam for workload identity federation: GETs of trusted issuers' discovery
//! documents and JWK Sets with `fetch()`, a timeout (`FETCH_TIMEOUT_SECS`), a size cap
//! (`MAX_OIDC_DOCUMENT_BYTES`), no redirects, and the Cache API in front so new isolates in a
//! colo do not all ask the issuer.
//!
//! What is cached is the raw document with the time it was fetched; a hit reports only the
//! remaining part of its bounded lifetime, so a copy in the Cache API never extends how long the
//! core trusts keys. `fresh` (an unknown `kid`) skips the cache read and replaces the copy.

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use std::time::Duration;
use tollgate_core::federation::keycache::ttl;
use tollgate_core::federation::{Fetch, FetchError, Fetched};
use tollgate_core::limits::{FETCH_TIMEOUT_SECS, MAX_OIDC_DOCUMENT_BYTES};
use wasm_bindgen::JsCast;
use worker::{js_sys, wasm_bindgen_futures::JsFuture, web_sys, Cache, Date, Delay, Response};

/// When the cached copy was fetched (Unix seconds) and for how long it may be used.
const FETCHED_AT: &str = "x-tollgate-fetched-at";
const LIFETIME: &str = "x-tollgate-lifetime";

pub(crate) struct WorkerFetch;

fn now() -> u64 {
    Date::now().as_millis() / 1000
}

/// `max-age` of a Cache-Control value minus `Age`; `no-store`/`no-cache` count as 0 (the core
/// then keeps the documents for its minimum lifetime).
fn max_age(cache_control: Option<String>, age: Option<String>) -> Option<u64> {
    let cc = cache_control?.to_ascii_lowercase();
    let mut out = None;
    for d in cc.split(',').map(str::trim) {
        if d == "no-store" || d == "no-cache" {
            return Some(0);
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            out = v.trim_matches('"').parse::<u64>().ok();
        }
    }
    let age = age.and_then(|a| a.trim().parse::<u64>().ok()).unwrap_or(0);
    out.map(|m| m.saturating_sub(age))
}

async fn cached(url: &str) -> Option<Fetched> {
    let mut hit = Cache::default().get(url, false).await.ok()??;
    let header = |n: &str| hit.headers().get(n).ok().flatten()?.parse::<u64>().ok();
    let (at, lifetime) = (header(FETCHED_AT)?, header(LIFETIME)?);
    let remaining = at
        .saturating_add(lifetime)
        .checked_sub(now())
        .filter(|r| *r > 0)?;
    let body = hit.bytes().await.ok()?;
    (body.len() <= MAX_OIDC_DOCUMENT_BYTES).then(|| Fetched::ok(body, Some(remaining)))
}

async fn store(url: &str, doc: &Fetched) {
    let lifetime = ttl(doc.max_age);
    let headers = worker::Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", &format!("max-age={lifetime}"));
    let _ = headers.set(FETCHED_AT, &now().to_string());
    let _ = headers.set(LIFETIME, &lifetime.to_string());
    if let Ok(resp) = Response::from_bytes(doc.body.clone()) {
        if let Err(e) = Cache::default().put(url, resp.with_headers(headers)).await {
            worker::console_error!("issuer document cache put failed: {e}");
        }
    }
}

/// A GET of an issuer document, with no redirects followed.
fn get_request(url: &str, signal: &web_sys::AbortSignal) -> Result<web_sys::Request, FetchError> {
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    // A redirect could lead anywhere, including plain http: the answer is then a non-200 error.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(Some(signal));
    let req = web_sys::Request::new_with_str_and_init(url, &init)
        .map_err(|_| FetchError::Failed("the URL could not be requested".into()))?;
    let _ = req.headers().set("accept", "application/json");
    Ok(req)
}

/// Sends `req` and reads at most `MAX_OIDC_DOCUMENT_BYTES` of the answer.
async fn send(req: web_sys::Request) -> Result<Fetched, FetchError> {
    let fail = |what: &str| FetchError::Failed(what.to_string());
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let resp = JsFuture::from(global.fetch_with_request(&req))
        .await
        .map_err(|e| FetchError::Failed(connection_failed(&e)))?
        .dyn_into::<web_sys::Response>()
        .map_err(|_| fail("not an HTTP response"))?;
    let status = resp.status();
    let cache_control = resp.headers().get("cache-control").ok().flatten();
    let age = resp.headers().get("age").ok().flatten();
    let mut resp = Response::from(resp);
    let mut body = Vec::new();
    let mut truncated = false;
    if let Ok(mut stream) = resp.stream() {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| fail("the body could not be read"))?;
            if body.len() + chunk.len() > MAX_OIDC_DOCUMENT_BYTES {
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
    }
    Ok(Fetched {
        status,
        body,
        truncated,
        max_age: max_age(cache_control, age),
    })
}

/// Builds a request with an abort signal and sends it, giving up after `FETCH_TIMEOUT_SECS`
/// (issuer documents here; the sign-in code exchange in src/signin.rs).
pub(crate) async fn send_with_timeout(
    build: impl FnOnce(&web_sys::AbortSignal) -> Result<web_sys::Request, FetchError>,
) -> Result<Fetched, FetchError> {
    let controller = web_sys::AbortController::new()
        .map_err(|_| FetchError::Failed("no AbortController".into()))?;
    let req = build(&controller.signal())?;
    let origin = send(req);
    let timeout = Delay::from(Duration::from_secs(FETCH_TIMEOUT_SECS));
    match select(std::pin::pin!(origin), std::pin::pin!(timeout)).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => {
            controller.abort();
            Err(FetchError::Timeout(FETCH_TIMEOUT_SECS))
        }
    }
}

impl Fetch for WorkerFetch {
    /// This request's own timer (see the trait): waiting on another request's promise would get
    /// this one cancelled as hung by workerd.
    async fn pause(&self) {
        Delay::from(Duration::from_millis(100)).await;
    }

    async fn get(&self, url: &str, fresh: bool) -> Result<Fetched, FetchError> {
        if !fresh {
            if let Some(hit) = cached(url).await {
                return Ok(hit);
            }
        }
        let doc = send_with_timeout(|signal| get_request(url, signal)).await?;
        if doc.status == 200 && !doc.truncated {
            store(url, &doc).await;
        }
        Ok(doc)
    }
}

/// "connection failed", with the runtime's reason when it gives one. fetch() rejects with an
/// Error object (not a string): its message's first line, bounded, is what an operator can act on.
fn connection_failed(e: &wasm_bindgen::JsValue) -> String {
    let reason = e
        .dyn_ref::<js_sys::Error>()
        .and_then(|err| err.message().as_string())
        .or_else(|| e.as_string())
        .unwrap_or_default();
    let reason: String = reason
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    if reason.trim().is_empty() {
        "connection failed".to_string()
    } else {
        format!("connection failed: {}", reason.trim())
    }
}
