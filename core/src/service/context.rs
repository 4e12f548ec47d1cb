//! What one request may use from the outside world, passed as one value (the rustls model:
//! injected capabilities travel together): the store, the issuer-document fetcher, the clock,
//! randomness and the client's address. The token endpoint and the proxy take the same context,
//! so both authenticate a caller with the same inputs.

use super::{RandomError, Rng};
use crate::federation::Fetch;
use crate::store::Store;

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
    rng: Rng<'a>,
}

impl<'a, S: Store, F: Fetch> RequestContext<'a, S, F> {
    pub fn new(store: &'a S, fetch: &'a F, now: u64, rng: Rng<'a>) -> Self {
        Self {
            store,
            fetch,
            now,
            client_ip: None,
            rng,
        }
    }

    /// The client's address; blank counts as unknown.
    pub fn with_client_ip(mut self, client_ip: Option<&'a str>) -> Self {
        self.client_ip = client_ip.filter(|ip| !ip.trim().is_empty());
        self
    }

    /// `N` cryptographically secure random bytes.
    /// A context for tests and tools that never need randomness (the proxy's decisions).
    pub fn without_randomness(store: &'a S, fetch: &'a F, now: u64) -> Self {
        Self::new(store, fetch, now, &no_randomness)
    }

    pub fn random<const N: usize>(&self) -> Result<[u8; N], RandomError> {
        let mut buf = [0u8; N];
        (self.rng)(&mut buf)?;
        Ok(buf)
    }
}

fn no_randomness(_: &mut [u8]) -> Result<(), RandomError> {
    Err(RandomError)
}
