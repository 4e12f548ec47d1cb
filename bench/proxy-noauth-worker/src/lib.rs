//! Baseline for bench/proxy.sh: forwards every request to ORIGIN with no authentication, using
//! the same steps as Tollgate's proxy shell (header filtering, streamed bodies, manual redirects,
//! timeout race, Location rewriting, one JSON log line).

use futures_util::future::{select, Either};
use std::time::Duration;
use tollgate_core::proxy::{headers, PublicHost};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    console_log, event, js_sys, web_sys, Context, Delay, Env, Request, Response, Result, Url,
};

fn js_headers(pairs: &[(String, String)]) -> Result<web_sys::Headers> {
    let h = web_sys::Headers::new()?;
    for (n, v) in pairs {
        h.append(n, v)?;
    }
    Ok(h)
}

fn pairs(h: &web_sys::Headers) -> Vec<(String, String)> {
    worker::Headers(h.clone())
        .entries()
        .take(headers::MAX_HEADERS)
        .collect()
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let origin = Url::parse(&env.var("ORIGIN")?.to_string())?;
    let url = req.url()?;
    let public = PublicHost {
        scheme: url.scheme().to_string(),
        host: format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port().unwrap_or(80)
        ),
    };
    let method = req.method().to_string();
    let target = match url.query() {
        Some(q) => format!(
            "{}{}?{}",
            origin.as_str().trim_end_matches('/'),
            url.path(),
            q
        ),
        None => format!("{}{}", origin.as_str().trim_end_matches('/'), url.path()),
    };
    let incoming = pairs(req.inner().headers().as_ref());
    let out = headers::request_headers(&incoming, None, &public);
    let init = web_sys::RequestInit::new();
    init.set_method(&method);
    init.set_headers(js_headers(&out)?.as_ref());
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if method != "GET" && method != "HEAD" {
        if let Some(body) = req.inner().body() {
            init.set_body(&body);
        }
    }
    let controller = web_sys::AbortController::new()?;
    init.set_signal(Some(&controller.signal()));
    let origin_req = web_sys::Request::new_with_str_and_init(&target, &init)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = JsFuture::from(global.fetch_with_request(&origin_req));
    let timeout = Delay::from(Duration::from_secs(30));
    let resp = match select(std::pin::pin!(fetch), std::pin::pin!(timeout)).await {
        Either::Left((Ok(v), _)) => v.dyn_into::<web_sys::Response>()?,
        Either::Left((Err(_), _)) => return Response::error("origin unreachable", 502),
        Either::Right(_) => {
            controller.abort();
            return Response::error("origin timeout", 504);
        }
    };
    let status = resp.status();
    if !(200..=599).contains(&status) {
        return Response::error("origin answered with an interim status", 502);
    }
    let out = headers::response_headers(&pairs(&resp.headers()), &origin, &public);
    let rinit = web_sys::ResponseInit::new();
    rinit.set_status(status);
    rinit.set_headers(js_headers(&out)?.as_ref());
    let r = web_sys::Response::new_with_opt_readable_stream_and_init(resp.body().as_ref(), &rinit)?;
    console_log!(
        "{}",
        serde_json::json!({"event": "proxy", "method": method, "path": url.path(), "outcome": "forwarded", "principal": "", "status": status})
    );
    Ok(Response::from(r))
}
