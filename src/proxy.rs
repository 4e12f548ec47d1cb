//! MODE=proxy|both: the verify-and-forward shell around `tollgate_core::proxy::Gate`.
//!
//! The core decides (route -> credential -> grant); this file only moves bytes: it builds the
//! origin request from ORIGIN + the validated path + the raw query (never a host taken from the
//! request), passes the request body stream through untouched, races the origin's response
//! headers against ORIGIN_TIMEOUT, and returns the origin's body stream untouched, so multi-GB
//! layers cross with flat memory. Redirects are not followed (`redirect: manual`): a 307 to blob
//! storage goes back to the client, with `Location` rewritten only when it points at the origin.

use crate::{http, kv, now, KV_BINDING};
use futures_util::future::{select, Either};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tollgate_core::config::ConfigError;
use tollgate_core::ledger::{self, EdgeCache, LedgerLine};
use tollgate_core::out_of_line::out_of_line;
use tollgate_core::protocol::HttpRequest;
use tollgate_core::proxy::authorize::{upstream_error_response, UpstreamFailure};
use tollgate_core::proxy::{
    headers, Admitted, Decision, Gate, ProxySettings, PublicHost, RequestMeta,
};
use tollgate_core::store::StoreError;
use tollgate_core::token_service::{self, RequestContext, TokenService};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{console_log, js_sys, web_sys, Cache, Context, Delay, Env, Response, Result};

/// Largest response body put into the edge cache. The cache write reads a tee of the body. Slow
/// or vanished clients measured under workerd (tests/interop/proxy-slow-clients.sh: three and six
/// clients reading a 60 MiB blob at 2 KB/s, cut off) pinned no memory or descriptors (README
/// "Proxy mode"); the cap still keeps each cached object modest.
const EDGE_CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;

thread_local! {
    /// The isolate's gate (settings + verified-token cache), or why it cannot be built.
    static GATE: RefCell<Option<Rc<std::result::Result<Gate, ConfigError>>>> = const { RefCell::new(None) };
}

fn gate(env: &Env, app: &TokenService) -> Rc<std::result::Result<Gate, ConfigError>> {
    GATE.with(|cell| {
        if let Some(g) = cell.borrow().as_ref() {
            return Rc::clone(g);
        }
        let built = ProxySettings::from_vars(
            |name| env.var(name).ok().map(|v| v.to_string()),
            app.settings(),
        )
        .map(|p| Gate::new(p, app.settings().realm.clone()));
        if let Err(e) = built.as_ref() {
            worker::console_error!("{}", e);
        }
        let built = Rc::new(built);
        *cell.borrow_mut() = Some(Rc::clone(&built));
        built
    })
}

/// Builds the isolate's gate ahead of its first proxied request (src/startup.rs).
pub(crate) fn prepare(env: &Env, app: &TokenService) {
    gate(env, app);
}

/// Handles one request in proxy mode. `head` is the router's read of the request (the only one:
/// the gate decides on the path, query and headers the router routed on).
pub(crate) async fn handle(
    req: web_sys::Request,
    head: http::Head,
    env: &Env,
    ctx: &Context,
    app: &TokenService,
) -> Result<Response> {
    let gate = gate(env, app);
    let gate = match gate.as_ref() {
        Ok(g) => g,
        Err(e) => return http::to_worker(token_service::config_error_response(e)),
    };
    // The scheme and `host[:port]` as the client addressed us.
    let public = PublicHost {
        scheme: head.scheme,
        host: head.authority,
    };
    let request = head.request;
    let (method, path) = (&request.method, &request.path);
    let authorization = request.header("authorization");
    let client_ip = request.header("cf-connecting-ip");
    let meta = RequestMeta {
        method,
        path,
        query: &request.query,
        authorization: authorization.into_iter().collect(),
        content_type: request.header("content-type"),
        header_count: request.headers.len(),
        public: &public,
    };
    let store = kv::Kv::new(env, KV_BINDING).on_error(log_store_error);
    // Network-bound credentials (issue 16) and the pull ledger read the edge's client data.
    let edge = crate::cf::edge(&req);
    let rctx = RequestContext::new(
        &store,
        &crate::fetch::WorkerFetch,
        now(),
        &crate::random::fill,
    )
    .with_client_ip(client_ip)
    .with_country(edge.country.as_deref());
    let authority = tollgate_core::proxy::TokenServiceAuthority::new(app);
    // The pull ledger (issue 16): one line per proxied request, core/src/ledger.rs.
    let mut ledger =
        LedgerLine::new(now(), method, path, &gate.settings().chart).with_credential(authorization);
    ledger.client_ip = ledger::bounded(client_ip);
    ledger.user_agent = ledger::bounded(request.header("user-agent"));
    (ledger.country, ledger.asn, ledger.colo) = (edge.country.clone(), edge.asn, edge.colo.clone());
    match gate.decide(&authority, &meta, &rctx).await {
        Decision::Refuse { response, reason } => {
            let mut line = ledger;
            line.outcome = "refused".into();
            line.reason = Some(reason.to_string());
            line.status = response.status;
            if !reason.starts_with("net_") {
                // Only a network refusal comes after the token verified: other jti are unproven.
                line.jti = None;
            }
            log_ledger(gate, &line);
            http::to_worker(*response)
        }
        // ---- FILTERED CATALOG HOOK (issue 16): src/catalog.rs ----
        Decision::FilteredCatalog { subject, query } => {
            // Out of line: only `/v2/_catalog` runs it, not every proxied request's first.
            let resp = out_of_line(crate::catalog::answer(
                app, gate, &rctx, &subject, &query, &public,
            ))
            .await;
            let mut line = ledger;
            line.outcome = "filtered_catalog".into();
            line.status = resp.as_ref().map(|r| r.status_code()).unwrap_or(0);
            line.principal = Some(subject);
            log_ledger(gate, &line);
            resp
        }
        Decision::Forward {
            url: target,
            principal,
            cache_key,
            ..
        } => {
            let mut cache = if cache_key.is_some() {
                EdgeCache::Miss
            } else {
                EdgeCache::Bypass
            };
            let client = Client {
                head: &request,
                body: req.body(),
            };
            let resp = forward(client, &target, gate, &public, cache_key, ctx, &mut cache).await;
            let mut line = ledger;
            line.outcome = "forwarded".into();
            line.status = resp.as_ref().map(|r| r.status_code()).unwrap_or(0);
            line.bytes = resp.as_ref().ok().and_then(|r| {
                r.headers()
                    .get("content-length")
                    .ok()
                    .flatten()?
                    .trim()
                    .parse()
                    .ok()
            });
            line.cache = Some(cache.as_str().into());
            line.principal = Some(principal.name().to_string());
            line.verify_cached = Some(matches!(principal, Admitted::Token { cached: true, .. }));
            log_ledger(gate, &line);
            resp
        }
    }
}

/// Writes the pull ledger line unless PULL_LEDGER=off.
fn log_ledger(gate: &Gate, line: &LedgerLine) {
    if gate.settings().ledger {
        console_log!("{}", line.to_json_line());
    }
}

/// The gate turns a storage error into a 503 whose log line says only `store_unavailable`; this
/// line says why (missing binding, the KV API failing), never which key or credential.
fn log_store_error(e: &StoreError) {
    // json_bytes::to_string rather than the Value's Display: Display instantiates Value's
    // serializer twice more (fmt::Write, compact and `{:#}` pretty), the only place the worker
    // did; this reuses the writer every JSON response already has.
    let line =
        serde_json::json!({"event": "proxy", "outcome": "store_error", "reason": e.to_string()});
    worker::console_error!(
        "{}",
        tollgate_core::json_bytes::to_string(&line).unwrap_or_default()
    );
}

/// The client's request as `forward` passes it on.
struct Client<'a> {
    /// Its head, as the router read it (src/http.rs).
    head: &'a HttpRequest,
    /// Its body stream, untouched.
    body: Option<web_sys::ReadableStream>,
}

async fn forward(
    client: Client<'_>,
    target: &str,
    gate: &Gate,
    public: &PublicHost,
    cache_key: Option<String>,
    ctx: &Context,
    // In: Miss when the request may be served from / stored in the edge cache, else Bypass.
    // Out: what happened, for the pull ledger.
    cache: &mut EdgeCache,
) -> Result<Response> {
    let method = client.head.method.as_str();
    let settings = gate.settings();
    let incoming = &client.head.headers;
    // The gate's key: Tollgate's own URL (the zone's host, never the origin's) with exactly the
    // path and query the origin is asked for. A range request bypasses the cache.
    let cache_key = cache_key.filter(|_| {
        *cache == EdgeCache::Miss
            && !incoming
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("range"))
    });
    let use_cache = cache_key.is_some();
    if !use_cache {
        *cache = EdgeCache::Bypass;
    }
    let cache_key = cache_key.unwrap_or_default();
    if use_cache {
        if let Ok(Some(hit)) = Cache::default().get(cache_key.as_str(), false).await {
            *cache = EdgeCache::Hit;
            return Ok(hit);
        }
    }

    let out_headers = headers::request_headers(incoming, settings.origin_auth.as_deref(), public);
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(http::js_headers(&out_headers)?.as_ref());
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if method != "GET" && method != "HEAD" {
        // The client's body stream, untouched: no buffering, any length, chunked or not.
        if let Some(body) = client.body {
            init.set_body(&body);
        }
    }
    let controller = web_sys::AbortController::new()?;
    init.set_signal(Some(&controller.signal()));
    let origin_req = web_sys::Request::new_with_str_and_init(target, &init)?;

    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = JsFuture::from(global.fetch_with_request(&origin_req));
    let timeout = Delay::from(Duration::from_secs(settings.origin_timeout));
    let origin_resp = match select(std::pin::pin!(fetch), std::pin::pin!(timeout)).await {
        Either::Left((Ok(v), _)) => v.dyn_into::<web_sys::Response>()?,
        Either::Left((Err(e), _)) => {
            worker::console_error!("origin fetch failed: {:?}", e.as_string());
            return http::to_worker(upstream_error_response(UpstreamFailure::Unreachable));
        }
        Either::Right(_) => {
            controller.abort();
            return http::to_worker(upstream_error_response(UpstreamFailure::Timeout));
        }
    };

    let status = origin_resp.status();
    if !(200..=599).contains(&status) {
        // A Response cannot carry an interim or invalid status; the origin misbehaved.
        worker::console_error!("origin answered with status {status}");
        return http::to_worker(upstream_error_response(UpstreamFailure::Unreachable));
    }
    let Some(mut in_headers) = http::every_header(&origin_resp.headers()) else {
        worker::console_error!("origin response headers could not be read");
        return http::to_worker(upstream_error_response(UpstreamFailure::Unreachable));
    };
    in_headers.truncate(headers::MAX_HEADERS);
    let out = headers::response_headers(&in_headers, &settings.origin, public);
    let rinit = web_sys::ResponseInit::new();
    rinit.set_status(status);
    rinit.set_headers(http::js_headers(&out)?.as_ref());
    let body = origin_resp.body();
    let resp = web_sys::Response::new_with_opt_readable_stream_and_init(body.as_ref(), &rinit)?;
    let mut resp = Response::from(resp);

    let length = in_headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<u64>().ok());
    if use_cache && status == 200 && length.is_some_and(|n| n <= EDGE_CACHE_MAX_BYTES) {
        if let Ok(copy) = resp.cloned() {
            ctx.wait_until(async move {
                if let Err(e) = Cache::default().put(cache_key.as_str(), copy).await {
                    worker::console_error!("edge cache put failed: {e}");
                }
            });
        }
    }
    Ok(resp)
}
