//! Cryptographic randomness for the core (`RequestContext`'s `random`): the runtime's
//! `crypto.getRandomValues`, drawn 256 bytes at a time.
//!
//! Every token draws 16 bytes for its `jti`. Through getrandom's JS backend each draw crossed into
//! JS three times (a `subarray` view, `getRandomValues` into it, a copy back), ~1% of a warm token's
//! isolate time in a profile (bench/README.md, "Steady state"), and compiled ~1.6 KB of wasm into
//! every new isolate's first token request. Here one call fills the pool straight from wasm
//! memory, and a request takes its bytes from there; each byte is handed out once and zeroed as it
//! leaves. Larger requests than the pool go to the runtime directly.

use std::cell::RefCell;
use tollgate_core::token_service::RandomError;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};

/// Bytes drawn per refill: sixteen `jti`s.
const POOL_LEN: usize = 256;

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues(view)`, the view over wasm memory (not shared, so accepted).
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

struct Pool {
    bytes: [u8; POOL_LEN],
    /// Bytes at the front already handed out (zeroed).
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; POOL_LEN], used: POOL_LEN }) };
}

/// Fills `buf` with random bytes; an error if the runtime's generator fails (nothing is issued).
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    if buf.len() > POOL_LEN {
        return get_random_values(buf).map(drop).map_err(|_| RandomError);
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if POOL_LEN - pool.used < buf.len() {
            get_random_values(&mut pool.bytes).map_err(|_| RandomError)?;
            pool.used = 0;
        }
        let (start, end) = (pool.used, pool.used + buf.len());
        buf.copy_from_slice(&pool.bytes[start..end]);
        pool.bytes[start..end].fill(0);
        pool.used = end;
        Ok(())
    })
}
