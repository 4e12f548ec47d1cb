//! What one request may use from the outside world, passed as one value (the rustls model:
//! injected capabilities travel together): the store, the issuer-document fetcher, the clock,
//! randomness and the client's address and country. The token endpoint and the proxy take the same context,
//! so both authenticate a caller with the same inputs.
//!
//! The context also holds the request's read-ahead: the KV reads a request will need, issued
//! together ([`RequestContext::read_together`]) so a cold request pays one round trip for all of
//! them, then consumed one by one through [`RequestContext::read`].

use super::{RandomError, Rng};
use crate::federation::Fetch;
use crate::netbind::ClientNet;
use crate::store::{Store, StoreError};
use std::cell::{OnceCell, RefCell};

/// Reads the client's country from the runtime (see [`RequestContext::with_country_from`]).
pub type CountrySource<'a> = &'a dyn Fn() -> Option<String>;

/// A country as the context keeps it: blank counts as unknown.
fn known_country(country: Option<String>) -> Option<String> {
    country.filter(|c| !c.trim().is_empty())
}

/// A read's outcome, kept for the request: a failure stays a failure for whoever consumes it.
type Read = Result<Option<String>, StoreError>;

/// One request's capabilities. Built by the shell (the worker, or a test) per request.
pub struct RequestContext<'a, S: Store, F: Fetch> {
    /// KV: users, API keys, the ACL, issuers, refresh tokens.
    pub store: &'a S,
    /// Trusted issuers' discovery documents and keys (workload federation).
    pub fetch: &'a F,
    /// Unix seconds (the core never reads a clock itself).
    pub now: u64,
    /// `CF-Connecting-IP`: the per-address brute-force throttle and the audit line.
    pub client_ip: Option<&'a str>,
    /// `request.cf.country` once known: network-bound credentials (issue 16) may be limited to
    /// countries. Read on first use through `country_from` when the shell gave that instead.
    country: OnceCell<Option<String>>,
    /// Reads the country from the runtime. The worker's `request.cf` getter materialises the
    /// whole `cf` object on every call (~4% of a warm token's CPU in a profile, bench/README.md),
    /// and only a network-bound credential needs it, so it is read then and not per request.
    country_from: Option<CountrySource<'a>>,
    rng: Rng<'a>,
    /// Reads issued ahead by [`Self::read_together`], by key (a handful per request).
    read_ahead: RefCell<Vec<(String, Read)>>,
}

impl<'a, S: Store, F: Fetch> RequestContext<'a, S, F> {
    pub fn new(store: &'a S, fetch: &'a F, now: u64, rng: Rng<'a>) -> Self {
        Self {
            store,
            fetch,
            now,
            client_ip: None,
            country: OnceCell::new(),
            country_from: None,
            rng,
            read_ahead: RefCell::new(Vec::new()),
        }
    }

    /// The client's address; blank counts as unknown.
    pub fn with_client_ip(mut self, client_ip: Option<&'a str>) -> Self {
        self.client_ip = client_ip.filter(|ip| !ip.trim().is_empty());
        self
    }

    /// The client's country as the edge reports it; blank counts as unknown.
    pub fn with_country(self, country: Option<&'a str>) -> Self {
        let _ = self.country.set(known_country(country.map(str::to_string)));
        self
    }

    /// The client's country, read by `read` only if a credential's binding needs it (blank
    /// counts as unknown). Once read, the answer is kept for the request.
    pub fn with_country_from(mut self, read: CountrySource<'a>) -> Self {
        self.country_from = Some(read);
        self
    }

    fn country(&self) -> Option<&str> {
        self.country
            .get_or_init(|| known_country(self.country_from.and_then(|read| read())))
            .as_deref()
    }

    /// Where the request comes from, for network-bound credentials (`crate::netbind`).
    pub(crate) fn client_net(&self) -> ClientNet<'_> {
        ClientNet {
            ip: self.client_ip,
            country: self.country(),
        }
    }

    /// A context for tests and tools that never need randomness (the proxy's decisions).
    #[cfg(test)]
    pub(crate) fn without_randomness(store: &'a S, fetch: &'a F, now: u64) -> Self {
        Self::new(store, fetch, now, &no_randomness)
    }

    /// Issues the reads of `keys` at once ([`Store::get_many`]: one round trip for all, and
    /// in the worker one KV operation) and keeps their outcomes for
    /// [`Self::read`]. Keys already read ahead are not read again. An error is kept as it is, so
    /// it reaches the check that needs that record exactly as a read of its own would: every
    /// check that could grant something fails closed on it.
    pub(crate) async fn read_together(&self, keys: Vec<String>) {
        let keys: Vec<String> = {
            let done = self.read_ahead.borrow();
            keys.into_iter()
                .filter(|k| !done.iter().any(|(d, _)| d == k))
                .collect()
        };
        if keys.is_empty() {
            return;
        }
        let mut outcomes = self.store.get_many(&keys).await;
        if outcomes.len() != keys.len() {
            // A store that answered some other number of keys: none of its answers can be
            // matched to a key, so every key is an error (fail closed), never "not found".
            outcomes = vec![Err(StoreError::Lost); keys.len()];
        }
        self.read_ahead
            .borrow_mut()
            .extend(keys.into_iter().zip(outcomes));
    }

    /// KV `key`: the outcome read ahead for this request, else a read of its own.
    pub(crate) async fn read(&self, key: &str) -> Read {
        let ahead = self
            .read_ahead
            .borrow()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.clone());
        match ahead {
            Some(r) => r,
            None => self.store.get(key).await,
        }
    }

    /// `N` cryptographically secure random bytes.
    pub(crate) fn random<const N: usize>(&self) -> Result<[u8; N], RandomError> {
        let mut buf = [0u8; N];
        (self.rng)(&mut buf)?;
        Ok(buf)
    }
}

#[cfg(test)]
fn no_randomness(_: &mut [u8]) -> Result<(), RandomError> {
    Err(RandomError)
}
