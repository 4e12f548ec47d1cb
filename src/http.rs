//! Conversions between the runtime's `Request`/`Response` and the core's plain HTTP values.
//!
//! Requests arrive as `web_sys::Request`, not workers-rs's `Request`: building the latter reads
//! `request.cf`, which workerd materialises as a JS object on every access, and Tollgate never
//! uses it (the client address comes from the `cf-connecting-ip` header). A CPU profile of token
//! issuance put that getter at ~4% of the isolate's time (bench/README.md, "Where a token's CPU
//! goes").

use futures_util::StreamExt;
use std::cell::RefCell;
use tollgate_core::limits::MAX_FORM_LEN;
use tollgate_core::protocol::Flavor;
use tollgate_core::protocol::{ErrorKind, HttpRequest, HttpResponse, TokenError};
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsCast, JsValue};
use worker::{js_sys, web_sys, ByteStream, Headers, Response, Result};

/// The parts of the request URL the shell routes on, read through the runtime's own URL parser
/// (JS `URL`, the same WHATWG parsing) instead of the url crate's: that parser is ~20 KB of wasm,
/// which V8 would compile in every new isolate's first request (bench/README.md, "What a first
/// request compiles"). It is the one parse of the request URL: the router, the token service and
/// the proxy's gate all read this one, so no two parsers can disagree about what was asked.
pub(crate) struct Target {
    /// The path, percent-encoded as the URL standard serialises it (`URL.pathname`).
    pub(crate) path: String,
    /// The query without its `?` (`URL.search` is `?` and the query, or empty).
    pub(crate) query: String,
    url: web_sys::Url,
}

impl Target {
    /// `None` for a URL the runtime's parser refuses (workerd parsed it first, so in practice
    /// never).
    pub(crate) fn of(req: &web_sys::Request) -> Option<Target> {
        let href = req.unchecked_ref::<JsRequest>().url();
        let url: web_sys::Url = JsUrl::new(&href).ok()?.unchecked_into();
        let search = url.search();
        let query = search.strip_prefix('?').unwrap_or(&search).to_string();
        Some(Target {
            path: url.pathname(),
            query,
            url,
        })
    }

    /// The host without its port, as the url crate's `host_str` gives it.
    pub(crate) fn host(&self) -> String {
        self.url.hostname()
    }

    /// The host with `:port` when the URL names a port other than its scheme's default
    /// (`URL.host`), as the client addressed us.
    pub(crate) fn authority(&self) -> String {
        self.url.host()
    }

    /// The scheme, lowercase and without its `:` (`URL.protocol` is `https:`).
    pub(crate) fn scheme(&self) -> String {
        let protocol = self.url.protocol();
        protocol.strip_suffix(':').unwrap_or(&protocol).to_string()
    }
}

#[wasm_bindgen]
extern "C" {
    // `request.url` and `new URL(..)` with the URL kept a JS string: web-sys's bindings take and
    // give `String`, which copied every request's URL into wasm and back out for the parser
    // (~0.7% of a warm token's isolate time in a profile, bench/README.md "Steady state").
    #[wasm_bindgen(js_name = Request)]
    type JsRequest;
    #[wasm_bindgen(method, getter)]
    fn url(this: &JsRequest) -> js_sys::JsString;
    #[wasm_bindgen(js_name = URL)]
    type JsUrl;
    #[wasm_bindgen(catch, constructor, js_class = "URL")]
    fn new(url: &js_sys::JsString) -> std::result::Result<JsUrl, JsValue>;
}

/// The answer to a request URL that does not parse.
pub(crate) fn unparsable_url(issuer: &str) -> HttpResponse {
    TokenError::new(
        ErrorKind::InvalidRequest,
        "the request URL could not be parsed",
    )
    .to_response(Flavor::Distribution, issuer)
}

/// Builds the core's request. The body is read for POST-like methods only, stopping at
/// `MAX_FORM_LEN` whether or not a Content-Length was sent (skopeo sends chunked bodies): the
/// core then answers 413 in the endpoint's format.
pub(crate) async fn from_web(
    req: &web_sys::Request,
    target: &Target,
) -> std::result::Result<HttpRequest, TokenError> {
    let method = req.method();
    // Every header: the runtime bounds their total size, and the core refuses a request with
    // more than MAX_REQUEST_HEADERS (431) rather than reading a trimmed set.
    let headers: Vec<(String, String)> = Headers(req.headers())
        .entries()
        .map(|(mut k, v)| {
            k.make_ascii_lowercase(); // in place: the runtime already gives lower case
            (k, v)
        })
        .collect();
    let mut out = HttpRequest {
        method,
        path: target.path.clone(),
        query: target.query.clone(),
        headers,
        body: Vec::new(),
        body_too_large: false,
    };
    if out.method == "GET" || out.method == "HEAD" {
        return Ok(out);
    }
    let declared = out
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_LEN as u64) {
        out.body_too_large = true;
        return Ok(out);
    }
    // No body at all (null stream): just empty.
    let Some(body) = req.body() else {
        return Ok(out);
    };
    let mut stream = ByteStream::from(body);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            TokenError::new(
                ErrorKind::InvalidRequest,
                "the request body could not be read",
            )
        })?;
        if out.body.len() + chunk.len() > MAX_FORM_LEN {
            out.body = Vec::new();
            out.body_too_large = true;
            return Ok(out);
        }
        out.body.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Header pairs as the runtime's `Headers`.
pub(crate) fn js_headers(pairs: &[(String, String)]) -> Result<web_sys::Headers> {
    let h = web_sys::Headers::new()?;
    for (n, v) in pairs {
        h.append(n, v)?;
    }
    Ok(h)
}

/// Header pairs and the `Headers` object built from them.
type BuiltHeaders = (Vec<(String, String)>, web_sys::Headers);

thread_local! {
    /// The last response headers built, with the pairs they hold: every token response has the
    /// same ones (JSON, `no-store`), so the isolate builds that `Headers` once instead of once
    /// per token (a JS object and two `append` calls, ~1% of a token's CPU in a profile).
    /// Reusing it is safe because `new Response(body, {headers})` copies the headers it is
    /// given (Fetch: a response gets its own header list), so nothing ever changes this one.
    static LAST_HEADERS: RefCell<Option<BuiltHeaders>> = const { RefCell::new(None) };
}

/// `pairs` as a `Headers`, reusing the previous response's when it holds the same pairs.
fn response_headers(pairs: Vec<(String, String)>) -> Result<web_sys::Headers> {
    let hit = LAST_HEADERS.with(|last| {
        last.borrow()
            .as_ref()
            .filter(|(held, _)| *held == pairs)
            .map(|(_, h)| h.clone())
    });
    if let Some(h) = hit {
        return Ok(h);
    }
    let h = js_headers(&pairs)?;
    LAST_HEADERS.with(|last| *last.borrow_mut() = Some((pairs, h.clone())));
    Ok(h)
}

/// The core's response as the runtime's `Response`, built directly: going through workers-rs's
/// `Response` creates a second `Headers` object and copies the body twice, on every token.
pub(crate) fn to_web(resp: HttpResponse) -> Result<web_sys::Response> {
    let init = web_sys::ResponseInit::new();
    init.set_status(resp.status);
    init.set_headers(response_headers(resp.headers)?.as_ref());
    let body = js_sys::Uint8Array::from(resp.body.as_slice());
    Ok(web_sys::Response::new_with_opt_buffer_source_and_init(
        Some(&body),
        &init,
    )?)
}

/// Turns the core's response into a worker `Response` (the proxy, which also returns origin
/// and cached responses as workers-rs values).
pub(crate) fn to_worker(resp: HttpResponse) -> Result<Response> {
    let headers = Headers(js_headers(&resp.headers)?);
    Ok(Response::from_bytes(resp.body)?
        .with_status(resp.status)
        .with_headers(headers))
}
