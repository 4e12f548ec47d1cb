//! Work done when an isolate starts rather than in its first request.
//!
//! On Cloudflare a Worker's startup (its global scope, and so the wasm start function) runs under
//! its own CPU limit and overlaps the TLS handshake of the request that caused it, while every
//! request must fit the plan's CPU limit (10 ms on the Free plan). So whatever each isolate
//! computes once goes here:
//!
//! - the settings read and the signing keys parsed ([`crate::app`], with the bindings that
//!   `import { env } from "cloudflare:workers"` offers outside a request), and the proxy's gate;
//! - throwaway ES256 tokens signed and one verified (`tollgate_core::token::warm_up`): the first
//!   builds p256's basepoint table (a static, so the real keys' first signature finds it), the
//!   rest get the signature's hot functions optimised (below);
//! - the isolate's first console line (workerd's own first-use cost, see [`prepare`]).
//!
//! Measured (bench/README.md, "bench/first-request.mjs"): the service built here takes ~11 ms
//! off every first request. Most wasm that startup runs is compiled again by the first request:
//! V8 compiles it lazily in its baseline tier (Liftoff), and workerd flushes every
//! Liftoff-compiled function in the process whenever it creates an isolate (`perf` with a probe
//! on V8's `WasmEngine::FlushLiftoffCode`: called from `Heap::MemoryPressureNotification` in
//! `Worker::Isolate`'s constructor, which sets "moderate" memory pressure because, its comment
//! says, production machines always hold thousands of tenants). What survives the flush is code
//! V8 has moved to TurboFan, which it does for functions that ran enough: hence several throwaway
//! signatures, not one (`warm_up`'s docs have the figures). A made-up `/healthz` answered here
//! and a fuller warm-up (a whole token request, run once) were tried and not kept: run once,
//! nothing of them survives the flush; what cuts a first request's compilation otherwise is less
//! code on its path (`tollgate_core::out_of_line`).
//!
//! Randomness, I/O and timers are refused at startup, so nothing here may need them (the
//! verified-password cache draws its key later, see `crate::app`). If the runtime offers no
//! bindings at startup (an older workerd), the first request builds the app as before.

use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsCast, JsValue};
use worker::{console_log, Env};

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
        return; // `crate::app` logged the configuration error
    };
    let mode = app.settings().mode;
    if mode.proxies() {
        crate::proxy::prepare(&env, app);
    }
    // The isolate's first console line costs workerd ~1.5-2 ms of its own (it loads the module
    // that formats console output; `perf` shows it under `Worker::handleLog`), and every token
    // request logs its audit line: said here, that cost is startup's, not the first request's
    // (bench/README.md, "What a first request compiles"). It also counts isolate starts (cold
    // starts) in the logs.
    console_log!("tollgate: isolate started");
}
