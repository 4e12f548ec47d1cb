//! Tollgate's Cloudflare Worker: a thin shell around `tollgate-core`.
//!
//! Per isolate, at startup (src/startup.rs): read the vars/secrets once, build the core
//! [`TokenService`] (signing keys parsed once, isolate caches), so that no request pays for it.
//! Per request: convert the runtime's `Request` into the core's plain
//! `HttpRequest` (body read with a size cap, chunked or not), hand it to `TokenService::handle` with one
//! request context (the KV store, bound on first use; the issuer-document fetcher, src/fetch.rs;
//! the clock; randomness; the client address), log the audit line, convert the response back
//! (src/http.rs). A broken
//! configuration answers every request with a 500 naming the setting instead of panicking.

mod catalog;
mod cf;
mod fetch;
mod http;
mod kv;
mod proxy;
mod random;
mod rate_limiter;
mod signin;
mod startup;

use std::cell::RefCell;
use std::rc::Rc;
use tollgate_core::config::{ConfigError, Settings};
// A token request should not compile the sign-in pages' or the proxy's code.
use tollgate_core::out_of_line::out_of_line;
use tollgate_core::protocol::Flavor;
use tollgate_core::token_service::{self, RequestContext, TokenService};
use worker::{console_error, console_log, event, js_sys, web_sys, Context, Env, Result};

/// The allocator: talc instead of Rust's default for wasm (dlmalloc). A token makes a few dozen
/// small allocations (header pairs, claims, audit fields); in profiles under the same load the
/// allocator's share went from 15.4 to 10.0 profile us per token, and the worker is 2.7 KB
/// smaller gzipped (bench/README.md, "The allocator"). Single-threaded wasm only, which is what
/// a Worker is (no `atomics`).
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The KV namespace binding holding users, API keys, the ACL and refresh tokens.
pub const KV_BINDING: &str = "TOLLGATE_KV";

thread_local! {
    /// The isolate's app (or the configuration error that prevents it). Built at startup when
    /// the runtime offers the bindings there (src/startup.rs), else by the first request.
    static APP: RefCell<Option<Rc<std::result::Result<TokenService, ConfigError>>>> = const { RefCell::new(None) };
}

/// A var or secret as text; an absent binding or a non-string one reads as unset.
fn binding(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

/// The isolate's app, built once. Secrets change only with a new deployment, which starts new
/// isolates, so caching a configuration error is safe. Built without randomness (workerd refuses
/// it at startup): the verified-password cache draws its key on the first password check.
fn app(env: &Env) -> Rc<std::result::Result<TokenService, ConfigError>> {
    let built = APP.with(|cell| cell.borrow().as_ref().map(Rc::clone));
    built.unwrap_or_else(|| build_app(env))
}

/// Builds the isolate's app and keeps it. Out of line (and cold): it runs once, at startup, but
/// V8 compiles a wasm function whole on its first call, and inlined into [`app`] it made every
/// new isolate's first request compile ~12 KB of settings and key parsing it never runs
/// (bench/README.md, "What a first request compiles").
#[cold]
#[inline(never)]
fn build_app(env: &Env) -> Rc<std::result::Result<TokenService, ConfigError>> {
    let built = Settings::from_vars(|name| binding(env, name))
        .and_then(TokenService::at_startup)
        .and_then(|app| with_throttle(app, env));
    let built = Rc::new(built);
    if let Err(e) = built.as_ref() {
        console_error!("{}", e);
    }
    APP.with(|cell| *cell.borrow_mut() = Some(Rc::clone(&built)));
    built
}

/// Attaches the LOGIN_LIMITER binding unless LOGIN_THROTTLE=off. The binding is an isolate-wide
/// stub (like `import { env } from "cloudflare:workers"`), so keeping it across requests is safe.
fn with_throttle(app: TokenService, env: &Env) -> std::result::Result<TokenService, ConfigError> {
    if !app.settings().throttle.enabled {
        console_log!("LOGIN_THROTTLE=off: failed logins are not throttled");
        return Ok(app);
    }
    let limiter = rate_limiter::limiter(env)?;
    Ok(app.with_limiter(Box::new(limiter)))
}

thread_local! {
    /// Whether this isolate already checked REALM against a request's host.
    static REALM_CHECKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Logs once per isolate, on its first request, when REALM is unset outside local development.
fn warn_once_without_realm(app: &TokenService, head: &http::Head) {
    if REALM_CHECKED.with(|c| c.replace(true)) {
        return;
    }
    if let Some(w) = app.settings().realm_warning(&head.host) {
        console_log!("warning: {w}");
    }
}

/// Unix seconds from the JS clock (the core never reads a clock itself). `Date.now()`, one call:
/// workers-rs's `Date::now()` constructs a JS `Date` and then reads it, two calls per request.
fn now() -> u64 {
    js_sys::Date::now() as u64 / 1000
}

/// Once per isolate, when workerd instantiates the module (wasm-bindgen's start function): a panic
/// also goes to `console.error` with its message, location and a JS stack, so `wrangler tail` shows
/// where a request died. worker 0.8.7 installs a hook of its own in its start function (it logs
/// "Rust panic: <message>" and marks the isolate for re-initialisation after the abort); the order
/// of the two start functions is not specified, so this one chains to whatever hook it finds
/// instead of replacing it (`console_error_panic_hook::set_once` would drop worker's if it ran
/// second). Then the isolate's own work, ahead of its first request (src/startup.rs).
#[event(start)]
fn start() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        console_error_panic_hook::hook(info);
        previous(info);
    }));
    startup::prepare();
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let app = app(&env);
    let app = match app.as_ref() {
        Ok(app) => app,
        Err(e) => return http::to_web(token_service::config_error_response(e)),
    };
    let Some(mut head) = http::Head::of(&req) else {
        return http::to_web(http::unreadable(&app.settings().issuer));
    };

    warn_once_without_realm(app, &head);

    let mode = app.settings().mode;
    let token_endpoint = mode.issues_tokens() && token_service::is_token_path(&head.request.path);
    // The token endpoints are answered from the headers they read, by name (src/http.rs); every
    // other route gets every header.
    if !token_endpoint && head.read_every_header(&req).is_none() {
        return http::to_web(http::unreadable(&app.settings().issuer));
    }

    // /login, /login/callback, /logout, /account* and /device* are the sign-in pages
    // (src/signin.rs) when SIGNIN_PROVIDERS is set; otherwise they are routed as before.
    if signin::is_signin_path(&head.request.path) {
        if let Some(resp) = out_of_line(signin::handle(&req, &head, &env, app)).await {
            return resp;
        }
    }

    if mode.proxies() && !token_endpoint {
        // ---- PROXY MODE HOOK ----
        // MODE=proxy|both: every path that is not a token endpoint goes to the verify-and-forward
        // proxy (src/proxy.rs).
        return out_of_line(proxy::handle(req, head, &env, &ctx, app))
            .await
            .map(Into::into);
    }

    let hreq = match http::with_body(&req, head.request).await {
        Ok(r) => r,
        Err(e) => return http::to_web(e.to_response(Flavor::Distribution, &app.settings().issuer)),
    };
    let store = kv::Kv::new(&env, KV_BINDING);
    // Network-bound credentials (issue 16) may be bound to countries: `request.cf` is read only
    // for those (the getter materialises the whole object on every call).
    let country = || cf::edge(&req).country;
    let ctx = RequestContext::new(&store, &fetch::WorkerFetch, now(), &random::fill)
        .with_client_ip(hreq.header("cf-connecting-ip"))
        .with_country_from(&country);
    // The device grant (RFC 8628) is sign-in's: its approvals and credentials live there.
    if tollgate_core::signin::device::is_device_grant(&hreq) {
        if let Some(resp) = out_of_line(signin::device_token(&hreq, &env, app, &ctx)).await {
            return resp;
        }
    }
    let (resp, audit) = app.handle(&hreq, &ctx).await;
    if let Some(event) = audit {
        // The line as it is (console_log! would format it into a second String first).
        web_sys::console::log_1(&event.to_json_line().into());
    }
    http::to_web(resp)
}
