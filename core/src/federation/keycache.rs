//! The isolate's cache of issuer keys, and the one bound on every fetch of an issuer's documents
//! (discovery and JWK Set), whether it succeeds, fails or is never answered:
//! - keys are trusted for the origin's max-age clamped to [JWKS_MIN_TTL, JWKS_MAX_TTL];
//! - at most one fetch per issuer is in flight in an isolate: concurrent misses wait for it and
//!   share its outcome (a flood of tokens naming a slow issuer costs one fetch, not one each).
//!   A waiter checks again after each [`Fetch::pause`] (its own timer, never another request's
//!   wake-up: see there), at most KEY_WAIT_POLLS times;
//! - a failed fetch is remembered for JWKS_FAILURE_TTL: no new attempt before then, every request
//!   in between gets the same answer at once;
//! - while the issuer fails, its last good keys keep being served for JWKS_STALE_GRACE past their
//!   lifetime; after that, no keys: the caller fails closed;
//! - an unknown `kid` refetches the JWK Set (bypassing shared caches) at most once per issuer
//!   per JWKS_REFETCH_INTERVAL; the first fetch and fetches after expiry do not count.
//!
//! Entries are keyed by issuer URL and configured jwks_uri, so an edited `issuers` record never
//! reuses keys fetched for another configuration.

use super::discovery::{parse_discovery, parse_jwks, IssuerKey};
use super::fetch::{Fetch, Fetched};
use super::issuers::IssuerConfig;
use crate::limits::{
    JWKS_DEFAULT_TTL, JWKS_FAILURE_TTL, JWKS_MAX_TTL, JWKS_MIN_TTL, JWKS_REFETCH_INTERVAL,
    JWKS_STALE_GRACE, KEY_WAIT_POLLS, MAX_ISSUERS, MAX_OIDC_DOCUMENT_BYTES,
};
use crate::token::PublicKey;
use std::cell::RefCell;
use std::rc::Rc;

/// An issuer's keys as the verifier reads them (`kids[i]` names `keys[i]`), so that a token's
/// verification borrows them instead of copying every key and kid.
#[derive(Debug)]
pub(crate) struct IssuerKeys {
    pub keys: Vec<PublicKey>,
    pub kids: Vec<String>,
}

impl From<Vec<IssuerKey>> for IssuerKeys {
    fn from(keys: Vec<IssuerKey>) -> Self {
        let (kids, keys) = keys.into_iter().map(|k| (k.kid, k.key)).unzip();
        IssuerKeys { keys, kids }
    }
}

/// Keys of one issuer and what is needed to refresh them.
#[derive(Debug, Clone)]
pub(crate) struct KeySet {
    /// Shared, like the keys: every request that finds the set fresh clones this `KeySet`.
    pub jwks_uri: Rc<str>,
    pub keys: Rc<IssuerKeys>,
    /// Unix second after which the keys are no longer fresh (they may still be served, stale,
    /// for JWKS_STALE_GRACE while the issuer cannot be reached).
    pub expires: u64,
}

/// The last fetch failed: why, and the second before which no new attempt is made.
#[derive(Debug, Clone)]
struct Failure {
    why: String,
    retry_at: u64,
}

#[derive(Debug, Default)]
struct Entry {
    /// The last good keys.
    set: Option<KeySet>,
    last_refetch: Option<u64>,
    failure: Option<Failure>,
    /// A fetch for this issuer is running; others wait for it instead of starting their own.
    in_flight: bool,
    /// Counts finished fetches, so a waiter knows the one it waited for is over.
    generation: u64,
}

#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    /// At most 2 x MAX_ISSUERS entries (plus any with a fetch in flight): a linear scan is
    /// cheaper in wasm size than a map.
    entries: Vec<(String, Entry)>,
}

fn cache_key(cfg: &IssuerConfig) -> String {
    // One exact allocation per request (format! grew its buffer twice).
    [&cfg.issuer, "\n", cfg.jwks_uri.as_deref().unwrap_or("")].concat()
}

/// The bounded lifetime of a fetched document.
pub fn ttl(max_age: Option<u64>) -> u64 {
    max_age
        .unwrap_or(JWKS_DEFAULT_TTL)
        .clamp(JWKS_MIN_TTL, JWKS_MAX_TTL)
}

/// Why no keys could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeysError {
    /// The issuer could not be reached or published nothing usable (a 503).
    Unavailable(String),
    /// An unknown kid, and the keys were refreshed less than JWKS_REFETCH_INTERVAL ago (a 401).
    RefreshedRecently,
}

/// What the caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Keys to verify with: fresh ones, or the last good ones while the issuer is down.
    Current,
    /// The issuer's current keys (a token named a kid the cached set does not have).
    Refresh,
}

impl KeyCache {
    fn find_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, e)| e)
    }

    fn entry(&mut self, key: &str) -> &mut Entry {
        if let Some(i) = self.entries.iter().position(|(k, _)| k == key) {
            return &mut self.entries[i].1;
        }
        if self.entries.len() >= 2 * MAX_ISSUERS {
            // Only configured issuers get entries; this many means the record was edited often.
            // An entry with a fetch in flight stays: its waiters watch it.
            self.entries.retain(|(_, e)| e.in_flight);
        }
        self.entries.push((key.to_string(), Entry::default()));
        let last = self.entries.len() - 1;
        &mut self.entries[last].1
    }

    /// Ends the fetch in flight for `key`.
    fn finish(&mut self, key: &str) {
        if let Some(e) = self.find_mut(key).filter(|e| e.in_flight) {
            e.in_flight = false;
            e.generation = e.generation.wrapping_add(1);
        }
    }

    /// Whether the fetch of `generation` for `key` is over.
    fn ended(&self, key: &str, generation: u64) -> bool {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .is_none_or(|(_, e)| !e.in_flight || e.generation != generation)
    }
}

/// What an entry says before any fetch: an answer, or wait, or fetch.
enum Step {
    Done(Result<KeySet, KeysError>),
    Wait(u64),
    Fetch(Option<Rc<str>>),
}

/// Keys served while the issuer fails: the last good ones, within the grace past their lifetime.
fn stale(e: &Entry, now: u64) -> Option<KeySet> {
    e.set
        .as_ref()
        .filter(|s| now < s.expires.saturating_add(JWKS_STALE_GRACE))
        .cloned()
}

fn remembered(f: &Failure, now: u64) -> String {
    format!(
        "{} (remembered: no new attempt for {} s)",
        f.why,
        f.retry_at.saturating_sub(now)
    )
}

/// Decides from the cache alone. `waited`: this caller already waited for a fetch, whose outcome
/// it now takes rather than starting another.
fn step(e: &mut Entry, want: Want, waited: bool, now: u64) -> Step {
    let fresh = e.set.as_ref().filter(|s| now < s.expires);
    if let (Want::Current, Some(s)) = (want, fresh) {
        return Step::Done(Ok(s.clone()));
    }
    if e.in_flight {
        return Step::Wait(e.generation);
    }
    let failure = e.failure.as_ref().filter(|f| waited || now < f.retry_at);
    if let Some(f) = failure {
        return Step::Done(match (want, stale(e, now)) {
            (Want::Current, Some(s)) => Ok(s),
            _ => Err(KeysError::Unavailable(remembered(f, now))),
        });
    }
    if waited {
        // The fetch waited for succeeded (or was abandoned with nothing learned: try again).
        if let Some(s) = &e.set {
            if want == Want::Refresh || now < s.expires {
                return Step::Done(Ok(s.clone()));
            }
        }
    }
    if want == Want::Refresh {
        if e.last_refetch
            .is_some_and(|t| now < t.saturating_add(JWKS_REFETCH_INTERVAL))
        {
            return Step::Done(Err(KeysError::RefreshedRecently));
        }
        e.last_refetch = Some(now);
    }
    e.in_flight = true;
    Step::Fetch(e.set.as_ref().map(|s| s.jwks_uri.clone()))
}

/// Ends the fetch in flight when dropped, also when the request running it is cancelled, so
/// waiters never wait for a fetch nobody runs.
struct InFlight<'a> {
    cache: &'a RefCell<KeyCache>,
    key: &'a str,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut c) = self.cache.try_borrow_mut() {
            c.finish(self.key);
        }
    }
}

/// Keys of `cfg` under the bounds above: from the cache, from the fetch another request already
/// has in flight, or from a fetch of our own.
pub(crate) async fn keys(
    cfg: &IssuerConfig,
    cache: &RefCell<KeyCache>,
    fetch: &impl Fetch,
    want: Want,
    now: u64,
) -> Result<KeySet, KeysError> {
    let key = cache_key(cfg);
    let mut waited = false;
    loop {
        let decided = step(cache.borrow_mut().entry(&key), want, waited, now);
        let known_jwks_uri = match decided {
            Step::Done(r) => return r,
            Step::Wait(generation) => {
                let mut polls = 0;
                while !cache.borrow().ended(&key, generation) {
                    if polls == KEY_WAIT_POLLS {
                        return Err(KeysError::Unavailable(
                            "another request's fetch of its keys did not end in time".into(),
                        ));
                    }
                    polls += 1;
                    fetch.pause().await;
                }
                waited = true;
                continue;
            }
            Step::Fetch(known) => known,
        };
        let guard = InFlight { cache, key: &key };
        let fetched = fetch_keys(
            cfg,
            known_jwks_uri.as_deref(),
            fetch,
            want == Want::Refresh,
            now,
        )
        .await;
        let out = {
            let mut c = cache.borrow_mut();
            let e = c.entry(&key);
            match fetched {
                Ok(set) => {
                    e.set = Some(set.clone());
                    e.failure = None;
                    Ok(set)
                }
                Err(why) => {
                    let failure = Failure {
                        why,
                        retry_at: now.saturating_add(JWKS_FAILURE_TTL),
                    };
                    let out = match (want, stale(e, now)) {
                        (Want::Current, Some(s)) => Ok(s),
                        _ => Err(KeysError::Unavailable(failure.why.clone())),
                    };
                    e.failure = Some(failure);
                    out
                }
            }
        };
        drop(guard);
        return out;
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
/// then the JWK Set. Errors describe what failed, for a 503 message. Call it only through
/// [`keys`], which bounds how often it runs.
async fn fetch_keys(
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
        jwks_uri: jwks_uri.into(),
        keys: Rc::new(keys.into()),
        expires: now.saturating_add(ttl(doc.max_age)),
    })
}
