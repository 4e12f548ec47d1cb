//! The isolate's cache of verified bearer tokens.
//!
//! One `docker pull` sends the same token with dozens of requests; verifying its ES256 signature
//! costs about a millisecond in wasm each time. A verified token's claims cannot change, so they
//! are reused until the token expires (or a cap, whichever is first). Entries are keyed by the
//! SHA-256 of the token, never the token itself, so a heap dump holds no usable credential. The
//! cache is bounded (`crate::ttl_cache`): when full, expired entries go first, then the one that
//! expires soonest.

use crate::token::Access;
use crate::ttl_cache::TtlCache;
use sha2::{Digest, Sha256};

/// Entries kept at most (a few hundred bytes each).
pub(crate) const VERIFY_CACHE_CAPACITY: usize = 4096;
/// Longest an entry lives regardless of the token's `exp` (bounds the effect of a key rotation).
pub(crate) const VERIFY_CACHE_MAX_TTL: u64 = 600;

/// What a verified token says: who it is for and what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `sub` ("" for an anonymous token).
    pub subject: String,
    /// The `access` claim.
    pub access: Vec<Access>,
    /// `exp`, Unix seconds.
    pub exp: u64,
    /// The `net` claim: client networks / countries the token may be used from (issue 16).
    pub net: Option<crate::netbind::NetBinding>,
}

/// A bounded map from SHA-256(token) to its verified claims.
#[derive(Debug)]
pub(crate) struct VerifyCache {
    entries: TtlCache<[u8; 32], VerifiedToken>,
    max_ttl: u64,
}

impl Default for VerifyCache {
    fn default() -> Self {
        Self::new(VERIFY_CACHE_CAPACITY, VERIFY_CACHE_MAX_TTL)
    }
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifyCache {
    pub(crate) fn new(capacity: usize, max_ttl: u64) -> Self {
        Self {
            entries: TtlCache::new(capacity),
            max_ttl,
        }
    }

    /// The cached claims of `token`, if verified earlier and still within its lifetime. The
    /// expiry is re-checked against `now` on every hit, so a cached token stops working at `exp`
    /// exactly as an uncached one would.
    pub(crate) fn get(&self, token: &str, now: u64) -> Option<&VerifiedToken> {
        self.entries.get(&key(token), now)
    }

    /// Remembers a token that just passed verification, until `min(exp, now + max_ttl)`.
    pub(crate) fn insert(&mut self, token: &str, verified: VerifiedToken, now: u64) {
        let until = verified.exp.min(now.saturating_add(self.max_ttl));
        self.entries.insert(key(token), verified, until, now);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(exp: u64) -> VerifiedToken {
        VerifiedToken {
            subject: "alice".into(),
            access: vec![],
            exp,
            net: None,
        }
    }

    /// Whether `key` is found at each of `times`.
    fn found_at(c: &VerifyCache, key: &str, times: &[u64]) -> Vec<bool> {
        times.iter().map(|&t| c.get(key, t).is_some()).collect()
    }

    #[test]
    fn hit_until_exp() {
        let mut c = VerifyCache::new(8, 600);
        c.insert("t1", v(1300), 1000);
        assert_eq!(c.get("t1", 1000).map(|t| t.subject.as_str()), Some("alice"));
        assert_eq!(found_at(&c, "t1", &[1299, 1300]), [true, false]);
        assert!(c.get("t2", 1000).is_none());
    }

    #[test]
    fn capped_by_max_ttl() {
        let mut c = VerifyCache::new(8, 60);
        c.insert("t", v(10_000), 1000);
        assert_eq!(found_at(&c, "t", &[1059, 1060]), [true, false]);
    }

    #[test]
    fn expired_tokens_are_not_stored() {
        let mut c = VerifyCache::new(8, 60);
        c.insert("t", v(1000), 1000);
        assert!(c.is_empty());
    }

    #[test]
    fn keyed_by_digest_not_token() {
        let mut c = VerifyCache::new(8, 60);
        c.insert("secret-token", v(2000), 1000);
        let dump = format!("{c:?}");
        assert!(!dump.contains("secret-token"));
    }

    #[test]
    fn bounded_evicts_expired_then_oldest() {
        let mut c = VerifyCache::new(3, 600);
        c.insert("a", v(1010), 1000);
        c.insert("b", v(2000), 1000);
        c.insert("c", v(2000), 1000);
        // At 1020 "a" has expired: it goes first.
        c.insert("d", v(2000), 1020);
        assert_eq!(c.len(), 3);
        assert!(c.get("b", 1020).is_some());
        // Full of live entries: the oldest ("b") goes.
        c.insert("e", v(2000), 1020);
        assert_eq!(c.len(), 3);
        assert!(c.get("b", 1020).is_none());
        assert!(c.get("c", 1020).is_some());
        assert!(c.get("e", 1020).is_some());
        for i in 0..100 {
            c.insert(&format!("x{i}"), v(2000), 1020);
        }
        assert_eq!(c.len(), 3);
    }
}
