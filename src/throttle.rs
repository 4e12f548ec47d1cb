//! The core's brute-force [`Limiter`] over Workers' Rate Limiting binding (`LOGIN_LIMITER`).
//!
//! The binding counts a hit per key and says whether the key is over `simple.limit` in the
//! current `simple.period` window (counters live at the Cloudflare location, not per isolate).
//! The core calls it for failed password checks only.

use tollgate_core::config::ConfigError;
use tollgate_core::service::throttle::{LimitFuture, Limiter, LimiterError, LIMITER_BINDING};
use worker::{console_error, Env, RateLimiter};

pub struct BindingLimiter(RateLimiter);

impl Limiter for BindingLimiter {
    fn hit<'a>(&'a self, key: &'a str) -> LimitFuture<'a> {
        Box::pin(async move {
            match self.0.limit(key.to_string()).await {
                Ok(outcome) => Ok(!outcome.success),
                Err(e) => {
                    // Fail closed for this attempt only: the core keeps it a 401 (never a grant).
                    console_error!(
                        "{LIMITER_BINDING} failed ({e}); the failed login stays a 401 and was not counted"
                    );
                    Err(LimiterError(e.to_string()))
                }
            }
        })
    }
}

/// The limiter when throttling is on. A missing binding is a configuration error: a deployment
/// that forgot `[[ratelimits]]` must not silently run without brute-force protection.
pub fn limiter(env: &Env) -> Result<BindingLimiter, ConfigError> {
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
