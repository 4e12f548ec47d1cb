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
use tollgate_core::protocol::{ErrorKind, HeaderText, HttpRequest, HttpResponse, TokenError};
use tollgate_core::token_service::TOKEN_REQUEST_HEADERS;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::{js_sys, web_sys, ByteStream, Headers, Response, Result};

/// The request's head: method, URL parts and headers, read from the runtime in one call (two
/// on routes that read every header).
///
/// One call because each call into the runtime, and each string it hands over, has a fixed cost
/// that dwarfs the work. The runtime's own URL parser (JS `URL`, WHATWG parsing) does the
/// parsing, not the url crate: that one is ~20 KB of wasm, which V8 would compile in every new
/// isolate's first request. This is the one parse of the request: the router, the token service,
/// the sign-in pages and the proxy's gate all read this one, so no two readers can disagree about
/// what was asked.
///
/// Headers: [`Head::of`] reads the token endpoints' own ([`TOKEN_REQUEST_HEADERS`]), by name,
/// and the router calls [`Head::read_every_header`] for every other route. Walking every header
/// was what a token request paid most for over the protocol floor: reading the request took ~35
/// profile us per token, and takes ~22 this way (bench/README.md, "Reading the request"). And
/// reading by name means no number of other headers can push one of these out (issue 12,
/// finding 4).
pub(crate) struct Head {
    /// Method, path (percent-encoded as the URL standard serialises it), query (without its
    /// `?`) and headers (names in lower case, as the runtime gives them); the body is read by
    /// [`with_body`] on the routes that take one.
    pub(crate) request: HttpRequest,
    /// The scheme, lowercase and without its `:`.
    pub(crate) scheme: String,
    /// The host with `:port` when the URL names a port other than its scheme's default
    /// (`URL.host`), as the client addressed us.
    pub(crate) authority: String,
    /// The host without its port (`URL.hostname`).
    pub(crate) host: String,
}

#[wasm_bindgen(inline_js = r#"
// Both answer lines joined by "\n": requestHead the head's method, scheme, host[:port], host, path
// and query, then each named header's name and value; headerLines each header's name and value
// (of a request or a response). No part can hold a line feed, so the lines split back
// exactly: the URL standard's parser drops tabs and newlines from its input and percent-encodes
// the rest of the controls, Fetch forbids CR, LF and NUL in header names and values, and a
// method is a token.
export function requestHead(request, names) {
  const url = new URL(request.url);
  const lines = [request.method, url.protocol.slice(0, -1), url.host, url.hostname,
    url.pathname, url.search.slice(1)];
  const headers = request.headers;
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null) lines.push(name, value);
  }
  return lines.join("\n");
}
export function headerLines(headers) {
  const lines = [];
  for (const [name, value] of headers) lines.push(name, value);
  return lines.join("\n");
}
"#)]
extern "C" {
    #[wasm_bindgen(catch, js_name = requestHead)]
    fn request_head(
        request: &web_sys::Request,
        names: &js_sys::Array,
    ) -> std::result::Result<String, JsValue>;
    #[wasm_bindgen(js_name = headerLines)]
    fn header_lines(headers: &web_sys::Headers) -> String;
}

thread_local! {
    /// [`TOKEN_REQUEST_HEADERS`] as a JS array, built once per isolate.
    static TOKEN_HEADER_NAMES: js_sys::Array =
        TOKEN_REQUEST_HEADERS.iter().map(|n| JsValue::from_str(n)).collect();
}

impl Head {
    /// The head with the token endpoints' headers. `None` for a URL the runtime's parser
    /// refuses (workerd parsed it first, so in practice never).
    pub(crate) fn of(req: &web_sys::Request) -> Option<Head> {
        let text = TOKEN_HEADER_NAMES
            .with(|names| request_head(req, names))
            .ok()?;
        let mut lines = text.split('\n').map(str::to_owned);
        let mut line = || lines.next();
        let (method, scheme, authority, host, path, query) =
            (line()?, line()?, line()?, line()?, line()?, line()?);
        Some(Head {
            request: HttpRequest {
                method,
                path,
                query,
                headers: header_pairs(lines)?,
                body: Vec::new(),
                body_too_large: false,
            },
            scheme,
            authority,
            host,
        })
    }

    /// Replaces the headers read by name with every header of the request: the proxy forwards
    /// them and the sign-in pages read their own (cookies, `Origin`, `Host`). The core refuses
    /// more than MAX_REQUEST_HEADERS (431) rather than reading a trimmed set; the runtime bounds
    /// their total size.
    pub(crate) fn read_every_header(&mut self, req: &web_sys::Request) -> Option<()> {
        self.request.headers = every_header(&req.headers())?;
        Some(())
    }
}

/// Every header of a `Headers` (a request's, or an origin response's in the proxy) as pairs,
/// walked in one call.
pub(crate) fn every_header(headers: &web_sys::Headers) -> Option<Vec<(String, String)>> {
    let text = header_lines(headers);
    if text.is_empty() {
        return Some(Vec::new());
    }
    header_pairs(text.split('\n').map(str::to_owned))
}

/// Lines as (name, value) pairs; `None` for an odd count, which neither JS function gives.
fn header_pairs(mut lines: impl Iterator<Item = String>) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::new();
    while let Some(mut name) = lines.next() {
        name.make_ascii_lowercase(); // in place: the runtime already gives lower case
        headers.push((name, lines.next()?));
    }
    Some(headers)
}

/// The answer to a request whose URL does not parse or whose head the runtime handed over
/// malformed (neither happens in practice: workerd parsed both first).
pub(crate) fn unreadable(issuer: &str) -> HttpResponse {
    TokenError::new(
        ErrorKind::InvalidRequest,
        "the request URL or headers could not be read",
    )
    .to_response(Flavor::Distribution, issuer)
}

/// The request with its body, read for POST-like methods only, stopping at `MAX_FORM_LEN` whether
/// or not a Content-Length was sent (skopeo sends chunked bodies): the core then answers 413 in
/// the endpoint's format.
pub(crate) async fn with_body(
    req: &web_sys::Request,
    mut out: HttpRequest,
) -> std::result::Result<HttpRequest, TokenError> {
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

/// Header pairs (a request's, or a core response's) as the runtime's `Headers`.
pub(crate) fn js_headers<N: AsRef<str>, V: AsRef<str>>(
    pairs: &[(N, V)],
) -> Result<web_sys::Headers> {
    let h = web_sys::Headers::new()?;
    for (n, v) in pairs {
        h.append(n.as_ref(), v.as_ref())?;
    }
    Ok(h)
}

/// Header pairs and the `Headers` object built from them.
type BuiltHeaders = (Vec<(HeaderText, HeaderText)>, web_sys::Headers);

thread_local! {
    /// The last response headers built, with the pairs they hold: every token response has the
    /// same ones (JSON, `no-store`), so the isolate builds that `Headers` once instead of once
    /// per token (a JS object and two `append` calls, ~1% of a token's CPU in a profile).
    /// Reusing it is safe because `new Response(body, {headers})` copies the headers it is
    /// given (Fetch: a response gets its own header list), so nothing ever changes this one.
    static LAST_HEADERS: RefCell<Option<BuiltHeaders>> = const { RefCell::new(None) };
}

/// `pairs` as a `Headers`, reusing the previous response's when it holds the same pairs.
fn response_headers(pairs: Vec<(HeaderText, HeaderText)>) -> Result<web_sys::Headers> {
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
