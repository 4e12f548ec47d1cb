//! Work done when an isolate starts rather than in its first request.
//!
//! On Cloudflare a Worker's startup (its global scope, and so the wasm start function) runs under
//! its own CPU limit and overlaps the TLS handshake of the request that caused it, while every
//! request must fit the plan's CPU limit (10 ms on the Free plan). So whatever each isolate
//! computes once goes here:
//!
//! - the settings read and the signing keys parsed ([`crate::app`], with the bindings that
//!   `import { env } from "cloudflare:workers"` offers outside a request), and the proxy's gate;
//! - one throwaway ES256 token signed and verified (`tollgate_core::token::warm_up`): p256's
//!   basepoint table, and the signing and verification code compiled;
//! - one `GET /healthz` answered by the same function that answers clients ([`crate::respond`],
//!   which neither logs nor checks REALM for it), meant to have V8 compile that function here (it
//!   holds the request handling LLVM inlined into it; V8 compiles each wasm function on its first
//!   call).
//!
//! Measured (bench/README.md, "bench/first-request.mjs"): the service built here takes ~11 ms
//! off every first request; the two warm-ups add 1-2 ms to that. They do not save compilation:
//! in this workerd, wasm code run at startup is compiled again by the first request (a minimal
//! worker shows it), so a fuller warm-up (a whole token request) was tried and not kept, and what
//! cuts a first request's compilation is less code on its path (`crate::out_of_line`).
//!
//! Randomness, I/O and timers are refused at startup, so nothing here may need them (the
//! verified-password cache draws its key later, see `crate::app`). If the runtime offers no
//! bindings at startup (an older workerd), the first request builds the app as before.

use futures_util::FutureExt as _;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsCast, JsValue};
use worker::{js_sys, web_sys, worker_sys, Context, Env};

#[wasm_bindgen(module = "cloudflare:workers")]
extern "C" {
    /// The Worker's bindings outside any request (vars, secrets, KV, rate limiters).
    #[wasm_bindgen(thread_local_v2, js_name = env)]
    static ISOLATE_ENV: JsValue;
}

/// The bindings, when the runtime offers them at startup.
fn isolate_env() -> Option<Env> {
    ISOLATE_ENV.with(|env| env.is_object().then(|| env.clone().unchecked_into()))
}

/// Runs once, from the wasm start function.
pub(crate) fn prepare() {
    tollgate_core::token::warm_up::warm_up(crate::now());
    let Some(env) = isolate_env() else {
        return;
    };
    let app = crate::app(&env);
    let Ok(app) = app.as_ref() else {
        return;
    };
    let mode = app.settings().mode;
    if mode.proxies() {
        crate::proxy::prepare(&env, app);
    }
    if mode.issues_tokens() {
        answer_health_check(env);
    }
}

/// Answers one made-up `GET /healthz` through [`crate::respond`]. It needs no I/O, so it is
/// done when first polled. Its result is dropped: the point is the code it runs (outside a
/// request workerd refuses some operations, so it may end in an error; what ran before that was
/// compiled all the same).
fn answer_health_check(env: Env) {
    let Ok(req) = web_sys::Request::new_with_str("http://warm-up.invalid/healthz") else {
        return;
    };
    // The health check never touches the execution context (waitUntil is the proxy's).
    let ctx = Context::new(js_sys::Object::new().unchecked_into::<worker_sys::Context>());
    let _ = crate::respond(req, env, ctx, crate::Live::WarmUp).now_or_never();
}
