//! Brute-force throttling of password checks (Workers' Rate Limiting binding behind [`Limiter`]).
//!
//! Only FAILED password checks are counted, per account and per client address. A request whose
//! password verifies (a verified-cache hit or a bcrypt success) never calls the limiter, so a
//! burst of correct logins (`docker compose pull`, a CI fleet) can never lock anyone out.
//!
//! The binding has no "peek": `limit(key)` counts a hit and says whether the key is over. So
//! after a failure the keys are counted; when one is over, the answer is 429 with `Retry-After`
//! and the key is remembered in this isolate until the period ends. Every later password attempt
//! for that key in this isolate is refused with 429 BEFORE any KV read or bcrypt check, correct
//! password or not: answering a correct password with 200 while refusing wrong ones would let an
//! attacker keep testing guesses at full speed. API keys and refresh tokens (256 bits, not
//! guessable) are neither counted nor throttled, so a user whose account is under attack keeps
//! working with `docker`'s stored refresh token and CI with its API key.
//!
//! A limiter error fails closed for the failing attempt only: it stays a 401 (never a grant), and
//! the worker's limiter logs the error.

use super::auth_error::AuthError;
use crate::config::ConfigError;
use crate::ttl_cache::TtlCache;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// The Rate Limiting binding the worker passes to the core (`[[ratelimits]] name = ...`).
pub const LIMITER_BINDING: &str = "LOGIN_LIMITER";
/// Seconds of the binding's `simple.period` unless `LOGIN_THROTTLE_PERIOD` says otherwise.
pub(crate) const DEFAULT_PERIOD: u64 = 60;
/// Keys remembered as throttled per isolate. Evicting one costs at most one extra bcrypt check
/// for that key (the limiter still says "over" and it is remembered again).
pub(crate) const THROTTLED_CAPACITY: usize = 4096;

/// `LOGIN_THROTTLE` (`on` | `off`) and `LOGIN_THROTTLE_PERIOD` (10 | 60, the binding's period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// On (the default): the worker refuses to start without the [`LIMITER_BINDING`] binding.
    pub enabled: bool,
    /// Seconds a key over its limit stays refused in the isolate (the binding's window).
    pub period: u64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            period: DEFAULT_PERIOD,
        }
    }
}

impl ThrottleSettings {
    /// Reads the settings; `get` returns `None` for unset (blank counts as unset).
    pub(crate) fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let enabled = match read("LOGIN_THROTTLE").as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => {
                return Err(ConfigError::new(
                    "LOGIN_THROTTLE",
                    "must be 'on' (the default: needs the LOGIN_LIMITER rate limiting binding) or 'off'",
                ))
            }
        };
        let period = match read("LOGIN_THROTTLE_PERIOD").as_deref().map(str::trim) {
            None => DEFAULT_PERIOD,
            Some("10") => 10,
            Some("60") => 60,
            Some(_) => {
                return Err(ConfigError::new(
                    "LOGIN_THROTTLE_PERIOD",
                    "must be 10 or 60, equal to simple.period of the LOGIN_LIMITER binding",
                ))
            }
        };
        Ok(Self { enabled, period })
    }
}

/// The limiter could not answer. The worker's limiter logs the runtime's reason where it has it;
/// the core needs only the fact (the attempt stays refused and is not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterError;

/// What [`Limiter::hit`] returns: `Ok(true)` when the key is over its limit.
pub type LimitFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, LimiterError>> + 'a>>;

/// Counts failures per key (the worker: the Rate Limiting binding; tests: a fake).
pub trait Limiter {
    /// Counts one failed attempt for `key`; `Ok(true)`: the key is over its limit.
    fn hit<'a>(&'a self, key: &'a str) -> LimitFuture<'a>;
}

/// Limiter key for an account: a digest, so keys have a fixed length whatever the name.
pub(crate) fn account_key(account: &str) -> String {
    let d = Sha256::digest(account.as_bytes());
    format!("acct:{}", crate::credentials::lower_hex(&d[..16]))
}

/// Limiter key for a client address. IPv6 clients are grouped by /64 (one subscriber usually
/// holds a whole /64); an unparsable value is hashed as is.
pub(crate) fn ip_key(ip: &str) -> String {
    let ip = ip.trim();
    let group = match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => {
            let d = Sha256::digest(ip.as_bytes());
            format!("raw:{}", crate::credentials::lower_hex(&d[..16]))
        }
    };
    format!("ip:{group}")
}

/// The limiter keys of one password attempt (account, and client address when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    keys: Vec<String>,
}

impl Attempt {
    pub(crate) fn password(account: &str, client_ip: Option<&str>) -> Self {
        let mut keys = vec![account_key(account)];
        if let Some(ip) = client_ip.filter(|ip| !ip.trim().is_empty()) {
            keys.push(ip_key(ip));
        }
        Self { keys }
    }

    pub(crate) fn keys(&self) -> &[String] {
        &self.keys
    }
}

/// Keys refused in this isolate and until when (Unix seconds). Bounded (`crate::ttl_cache`):
/// when full, expired keys go first, then the one that would expire soonest.
#[derive(Debug)]
pub struct ThrottledSet {
    until: TtlCache<String, ()>,
}

impl ThrottledSet {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            until: TtlCache::new(capacity),
        }
    }

    /// Seconds until every throttled key of `keys` is free again; `None`: none is throttled.
    pub(crate) fn retry_after(&self, keys: &[String], now: u64) -> Option<u64> {
        keys.iter()
            .filter_map(|k| self.until.until(k, now))
            .map(|until| until - now)
            .max()
    }

    /// Throttles `key` until `until`, or longer if it already is.
    pub fn mark(&mut self, key: &str, until: u64, now: u64) {
        let until = self.until.until(key, now).map_or(until, |u| u.max(until));
        self.until.insert(key.to_string(), (), until, now);
    }

    fn len(&self) -> usize {
        self.until.len()
    }
}

/// The isolate's throttle: settings, the throttled set and the limiter (none: off).
pub(crate) struct Throttle {
    settings: ThrottleSettings,
    throttled: RefCell<ThrottledSet>,
    limiter: Option<Box<dyn Limiter>>,
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("settings", &self.settings)
            .field("throttled", &self.throttled.borrow().len())
            .field("limiter", &self.limiter.is_some())
            .finish()
    }
}

impl Throttle {
    pub(crate) fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            throttled: RefCell::new(ThrottledSet::new(THROTTLED_CAPACITY)),
            limiter: None,
        }
    }

    pub(crate) fn set_limiter(&mut self, limiter: Box<dyn Limiter>) {
        self.limiter = Some(limiter);
    }

    pub(crate) fn is_active(&self) -> bool {
        self.settings.enabled && self.limiter.is_some()
    }

    /// 429 when a key of the attempt is throttled in this isolate: checked before any KV read or
    /// bcrypt, so a throttled key learns nothing, not even from a correct password.
    pub(crate) fn check(&self, attempt: &Attempt, now: u64) -> Result<(), AuthError> {
        if !self.is_active() {
            return Ok(());
        }
        match self.throttled.borrow().retry_after(attempt.keys(), now) {
            Some(s) => Err(AuthError::Throttled { retry_after: s }),
            None => Ok(()),
        }
    }

    /// A failed password check: counts every key; one over its limit turns the refusal into a
    /// 429 and is remembered for a period. A limiter error leaves the refusal as it was.
    pub(crate) async fn failed(&self, attempt: &Attempt, err: AuthError, now: u64) -> AuthError {
        let counted = matches!(err, AuthError::Rejected(_));
        let (Some(limiter), true) = (self.limiter.as_deref(), counted) else {
            return err;
        };
        if !self.settings.enabled {
            return err;
        }
        let until = now.saturating_add(self.settings.period);
        let mut over = false;
        for key in attempt.keys() {
            if let Ok(true) = limiter.hit(key).await {
                self.throttled.borrow_mut().mark(key, until, now);
                over = true;
            }
        }
        if over {
            AuthError::Throttled {
                retry_after: self.settings.period,
            }
        } else {
            err
        }
    }

    /// Counts an attempt that is limited whether or not it succeeds (a new device code): refused
    /// while throttled, else counted, and refused once a key goes over. A limiter error lets it
    /// through uncounted: a device code grants nothing until a signed-in person approves it.
    pub(crate) async fn count(&self, attempt: &Attempt, now: u64) -> Result<(), AuthError> {
        self.check(attempt, now)?;
        match self
            .failed(attempt, AuthError::Rejected(String::new()), now)
            .await
        {
            AuthError::Throttled { retry_after } => Err(AuthError::Throttled { retry_after }),
            _ => Ok(()),
        }
    }

    /// Runs a credential check under the throttle: refused early if throttled, counted if it fails.
    pub(crate) async fn guard<T>(
        &self,
        attempt: &Attempt,
        now: u64,
        check: impl Future<Output = Result<T, AuthError>>,
    ) -> Result<T, AuthError> {
        self.check(attempt, now)?;
        match check.await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.failed(attempt, e, now).await),
        }
    }

    #[cfg(test)]
    pub(crate) fn throttled_len(&self) -> usize {
        self.throttled.borrow().len()
    }
}

/// A limiter for native tests: a fixed limit per key per "window" (reset by hand), optional
/// failure, and a record of every key counted.
#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use std::cell::Cell;
    use std::collections::HashMap;
    use std::rc::Rc;

    #[derive(Debug, Default)]
    pub(crate) struct FakeLimiter {
        pub limit: u32,
        pub counts: RefCell<HashMap<String, u32>>,
        pub calls: Cell<u32>,
        pub fail: Cell<bool>,
    }

    impl FakeLimiter {
        pub(crate) fn new(limit: u32) -> Rc<Self> {
            Rc::new(Self {
                limit,
                ..Self::default()
            })
        }
    }

    /// Shares one fake between the app and the test that inspects it.
    pub(crate) struct Shared(pub Rc<FakeLimiter>);

    impl Limiter for Shared {
        fn hit<'a>(&'a self, key: &'a str) -> LimitFuture<'a> {
            Box::pin(async move {
                let f = &self.0;
                f.calls.set(f.calls.get() + 1);
                if f.fail.get() {
                    return Err(LimiterError);
                }
                let mut counts = f.counts.borrow_mut();
                let n = counts.entry(key.to_string()).or_insert(0);
                // The binding's semantics: over once the key already used its limit.
                if *n >= f.limit {
                    return Ok(true);
                }
                *n += 1;
                Ok(false)
            })
        }
    }
}

#[cfg(test)]
mod tests;
