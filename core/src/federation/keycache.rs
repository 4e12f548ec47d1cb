//! The isolate's cache of issuer keys, and the policy around it:
//! - keys are trusted for the origin's max-age clamped to [JWKS_MIN_TTL, JWKS_MAX_TTL];
//! - an unknown `kid` refetches the JWK Set (bypassing shared caches) at most once per issuer
//!   per JWKS_REFETCH_INTERVAL; the first fetch and fetches after expiry do not count;
//! - a failed refetch keeps the cached keys until their lifetime ends; after that, no keys: the
//!   caller fails closed.
//!
//! Entries are keyed by issuer URL and configured jwks_uri, so an edited `issuers` record never
//! reuses keys fetched for another configuration.

use super::fetch::{Fetch, Fetched};
use super::issuers::IssuerConfig;
use super::jwks::{parse_discovery, parse_jwks, IssuerKey};
use crate::limits::{
    JWKS_DEFAULT_TTL, JWKS_MAX_TTL, JWKS_MIN_TTL, JWKS_REFETCH_INTERVAL, MAX_ISSUERS,
    MAX_OIDC_DOCUMENT_BYTES,
};
use std::rc::Rc;

/// Keys of one issuer and what is needed to refresh them.
#[derive(Debug, Clone)]
pub struct KeySet {
    pub jwks_uri: String,
    pub keys: Rc<Vec<IssuerKey>>,
    /// Unix second after which the keys are no longer trusted.
    pub expires: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    set: KeySet,
    last_refetch: Option<u64>,
}

#[derive(Debug, Default)]
pub struct KeyCache {
    /// At most 2 x MAX_ISSUERS entries: a linear scan is cheaper in wasm size than a map.
    entries: Vec<(String, Entry)>,
}

fn cache_key(cfg: &IssuerConfig) -> String {
    format!("{}\n{}", cfg.issuer, cfg.jwks_uri.as_deref().unwrap_or(""))
}

/// The bounded lifetime of a fetched document.
pub fn ttl(max_age: Option<u64>) -> u64 {
    max_age
        .unwrap_or(JWKS_DEFAULT_TTL)
        .clamp(JWKS_MIN_TTL, JWKS_MAX_TTL)
}

impl KeyCache {
    /// Unexpired keys of `cfg`.
    pub fn get(&self, cfg: &IssuerConfig, now: u64) -> Option<KeySet> {
        let key = cache_key(cfg);
        let (_, e) = self.entries.iter().find(|(k, _)| *k == key)?;
        (now < e.set.expires).then(|| e.set.clone())
    }

    /// Whether an unknown kid may refetch now; if so, records the attempt.
    pub fn claim_refetch(&mut self, cfg: &IssuerConfig, now: u64) -> bool {
        let key = cache_key(cfg);
        let Some((_, e)) = self.entries.iter_mut().find(|(k, _)| *k == key) else {
            return true;
        };
        if e.last_refetch
            .is_some_and(|t| now < t.saturating_add(JWKS_REFETCH_INTERVAL))
        {
            return false;
        }
        e.last_refetch = Some(now);
        true
    }

    pub fn put(&mut self, cfg: &IssuerConfig, set: KeySet) {
        let key = cache_key(cfg);
        if let Some((_, e)) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            e.set = set;
            return;
        }
        if self.entries.len() >= 2 * MAX_ISSUERS {
            // Only configured issuers get entries; this many means the record was edited often.
            self.entries.clear();
        }
        self.entries.push((
            key,
            Entry {
                set,
                last_refetch: None,
            },
        ));
    }
}

fn usable(what: &str, url: &str, f: Fetched) -> Result<Fetched, String> {
    if f.truncated || f.body.len() > MAX_OIDC_DOCUMENT_BYTES {
        return Err(format!(
            "its {what} at {url} is larger than {MAX_OIDC_DOCUMENT_BYTES} bytes"
        ));
    }
    if f.status != 200 {
        return Err(format!("its {what} at {url} answered HTTP {}", f.status));
    }
    Ok(f)
}

/// Fetches the issuer's keys: discovery (unless `jwks_uri` is configured or already known),
/// then the JWK Set. Errors describe what failed, for a 503 message.
pub async fn fetch_keys(
    cfg: &IssuerConfig,
    known_jwks_uri: Option<&str>,
    fetch: &impl Fetch,
    fresh: bool,
    now: u64,
) -> Result<KeySet, String> {
    let jwks_uri = match (cfg.jwks_uri.as_deref(), known_jwks_uri) {
        (Some(u), _) | (None, Some(u)) => u.to_string(),
        (None, None) => {
            let url = cfg.discovery_url();
            let doc = fetch.get(&url, fresh).await.map_err(|e| {
                format!("its discovery document at {url} could not be fetched ({e})")
            })?;
            let doc = usable("discovery document", &url, doc)?;
            parse_discovery(&doc.body, &cfg.issuer)?
        }
    };
    let doc = fetch
        .get(&jwks_uri, fresh)
        .await
        .map_err(|e| format!("its JWK Set at {jwks_uri} could not be fetched ({e})"))?;
    let doc = usable("JWK Set", &jwks_uri, doc)?;
    let keys = parse_jwks(&doc.body)?;
    Ok(KeySet {
        jwks_uri,
        keys: Rc::new(keys),
        expires: now.saturating_add(ttl(doc.max_age)),
    })
}
