//! What one request may use from the outside world, passed as one value (the rustls model:
//! injected capabilities travel together): the store, the issuer-document fetcher, the clock,
//! randomness and the client's address and country. The token endpoint and the proxy take the same context,
//! so both authenticate a caller with the same inputs.

use super::{RandomError, Rng};
use crate::federation::Fetch;
use crate::netbind::ClientNet;
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
    /// `request.cf.country`: network-bound credentials (issue 16) may be limited to countries.
    pub country: Option<&'a str>,
    rng: Rng<'a>,
}

impl<'a, S: Store, F: Fetch> RequestContext<'a, S, F> {
    pub fn new(store: &'a S, fetch: &'a F, now: u64, rng: Rng<'a>) -> Self {
        Self {
            store,
            fetch,
            now,
            client_ip: None,
            country: None,
            rng,
        }
    }

    /// The client's address; blank counts as unknown.
    pub fn with_client_ip(mut self, client_ip: Option<&'a str>) -> Self {
        self.client_ip = client_ip.filter(|ip| !ip.trim().is_empty());
        self
    }

    /// The client's country as the edge reports it; blank counts as unknown.
    pub fn with_country(mut self, country: Option<&'a str>) -> Self {
        self.country = country.filter(|c| !c.trim().is_empty());
        self
    }

    /// Where the request comes from, for network-bound credentials (`crate::netbind`).
    pub(crate) fn client_net(&self) -> ClientNet<'a> {
        ClientNet {
            ip: self.client_ip,
            country: self.country,
        }
    }

    /// A context for tests and tools that never need randomness (the proxy's decisions).
    #[cfg(test)]
    pub(crate) fn without_randomness(store: &'a S, fetch: &'a F, now: u64) -> Self {
        Self::new(store, fetch, now, &no_randomness)
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
