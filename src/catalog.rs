//! The filtered catalog's I/O (issue 16): reads the origin's `/v2/_catalog` pages that
//! `tollgate_core::proxy::catalog::CatalogScan` asks for, keeps what the caller may pull
//! (`TokenService::pull_visibility`), and answers. The origin is asked with ORIGIN_AUTH, as forwarded
//! requests are; the caller's own credentials never reach it.

use crate::http;
use futures_util::future::{select, Either};
use std::time::Duration;
use tollgate_core::federation::Fetch;
use tollgate_core::proxy::authorize::{upstream_error_response, UpstreamFailure};
use tollgate_core::proxy::catalog::{CatalogQuery, CatalogScan, MAX_ORIGIN_PAGE_BYTES};
use tollgate_core::proxy::{headers, Gate, PublicHost};
use tollgate_core::store::Store;
use tollgate_core::token_service::{RequestContext, TokenService};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{console_error, js_sys, web_sys, Delay, Response, Result};

/// Answers `GET /v2/_catalog` for `subject` with the names it may pull.
pub(crate) async fn answer(
    app: &TokenService,
    gate: &Gate,
    ctx: &RequestContext<'_, impl Store, impl Fetch>,
    subject: &str,
    query: &CatalogQuery,
    public: &PublicHost,
) -> Result<Response> {
    let settings = gate.settings();
    let visible = match app.pull_visibility(subject, &settings.service, ctx).await {
        Ok(v) => v,
        Err(e) => {
            console_error!("filtered catalog: {e}");
            return http::to_worker(tollgate_core::proxy::authorize::server_error_response(
                503,
                "credential storage is unavailable; nothing was listed, try again",
            ));
        }
    };
    let mut scan = CatalogScan::new(query);
    if visible.sees_nothing() {
        // Unknown, disabled or workload subject: an empty list without asking the origin.
        return http::to_worker(CatalogScan::new(&CatalogQuery { n: 0, last: None }).response());
    }
    while let Some(q) = scan.next_origin_query() {
        let url = settings.origin_url("/v2/_catalog", &q);
        let (body, has_next) = match origin_page(&url, gate, public).await {
            Ok(page) => page,
            Err(failure) => return http::to_worker(upstream_error_response(failure)),
        };
        if let Err(e) = scan.feed(&body, has_next, |name| visible.may_pull(name)) {
            console_error!("filtered catalog: {e}");
            return http::to_worker(upstream_error_response(UpstreamFailure::Unreachable));
        }
    }
    http::to_worker(scan.response())
}

fn unreachable<E>(_: E) -> UpstreamFailure {
    UpstreamFailure::Unreachable
}

/// One origin page: its body (bounded) and whether it links to a next page. Fetched through
/// web_sys as forwarding is (workers-rs's `Fetch`/`Request` would add to the bundle).
async fn origin_page(
    url: &str,
    gate: &Gate,
    public: &PublicHost,
) -> std::result::Result<(Vec<u8>, bool), UpstreamFailure> {
    let settings = gate.settings();
    let out = headers::request_headers(&[], settings.origin_auth.as_deref(), public);
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(http::js_headers(&out).map_err(unreachable)?.as_ref());
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let req = web_sys::Request::new_with_str_and_init(url, &init).map_err(unreachable)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = JsFuture::from(global.fetch_with_request(&req));
    let timeout = Delay::from(Duration::from_secs(settings.origin_timeout));
    let resp: web_sys::Response = match select(std::pin::pin!(fetch), std::pin::pin!(timeout)).await
    {
        Either::Left((Ok(v), _)) => v.dyn_into().map_err(|_| UpstreamFailure::Unreachable)?,
        Either::Left((Err(_), _)) => return Err(UpstreamFailure::Unreachable),
        Either::Right(_) => return Err(UpstreamFailure::Timeout),
    };
    if resp.status() != 200 {
        console_error!("filtered catalog: origin answered {}", resp.status());
        return Err(UpstreamFailure::Unreachable);
    }
    let header = |name: &str| resp.headers().get(name).ok().flatten();
    let declared = header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_ORIGIN_PAGE_BYTES) {
        return Err(UpstreamFailure::Unreachable);
    }
    let has_next = header("link").is_some_and(|l| l.contains("rel=\"next\""));
    let buffer = JsFuture::from(resp.array_buffer().map_err(unreachable)?)
        .await
        .map_err(unreachable)?;
    Ok((js_sys::Uint8Array::new(&buffer).to_vec(), has_next))
}
