//! The core's brute-force [`Limiter`] over Workers' Rate Limiting binding (`LOGIN_LIMITER`).
//!
//! The binding counts a hit per key and says whether the key is over `simple.limit` in the
//! current `simple.period` window (counters live at the Cloudflare location, not per isolate).
//! The core calls it for failed password checks only.

use tollgate_core::config::ConfigError;
use tollgate_core::token_service::throttle::{LimitFuture, Limiter, LimiterError, LIMITER_BINDING};
use worker::js_sys::{Object, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{console_error, worker_sys, Env, RateLimiter};

pub(crate) struct BindingLimiter(RateLimiter);

impl BindingLimiter {
    /// `binding.limit({key})` -> `outcome.success`. Called through js_sys rather than
    /// `RateLimiter::limit`, whose serde_wasm_bindgen round trip costs several KB of wasm for
    /// one string in and one boolean out.
    async fn limit(&self, key: &str) -> Result<bool, JsValue> {
        let options = Object::new();
        Reflect::set(&options, &JsValue::from_str("key"), &JsValue::from_str(key))?;
        let binding: &worker_sys::RateLimiter = self.0.as_ref().unchecked_ref();
        let outcome = JsFuture::from(binding.limit(options)?).await?;
        Reflect::get(&outcome, &JsValue::from_str("success"))?
            .as_bool()
            .ok_or_else(|| JsValue::from_str("the outcome has no boolean 'success'"))
    }
}

impl Limiter for BindingLimiter {
    fn hit<'a>(&'a self, key: &'a str) -> LimitFuture<'a> {
        Box::pin(async move {
            match self.limit(key).await {
                Ok(success) => Ok(!success),
                Err(e) => {
                    let e = e.as_string().unwrap_or_else(|| format!("{e:?}"));
                    // Fail closed for this attempt only: the core keeps it a 401 (never a grant).
                    console_error!(
                        "{LIMITER_BINDING} failed ({e}); the failed login stays a 401 and was not counted"
                    );
                    Err(LimiterError)
                }
            }
        })
    }
}

/// The limiter when throttling is on. A missing binding is a configuration error: a deployment
/// that forgot `[[ratelimits]]` must not silently run without brute-force protection.
pub(crate) fn limiter(env: &Env) -> Result<BindingLimiter, ConfigError> {
    env.rate_limiter(LIMITER_BINDING)
        .map(BindingLimiter)
        .map_err(|e| {
            ConfigError::new(
                LIMITER_BINDING,
                format!(
                    "the Rate Limiting binding is missing or unusable ({e}): add \
                     [[ratelimits]] name = \"{LIMITER_BINDING}\" to wrangler.toml (see README \
                     'Brute-force throttling'), or set LOGIN_THROTTLE=off to run without it"
                ),
            )
        })
}
