//! The isolate caches: KV records for `CACHE_TTL` seconds and successful bcrypt checks, each a
//! [`TtlCache`] (the one bounded cache type, `crate::ttl_cache`).
//!
//! A revoked user, key, refresh token or personal credential can keep working for at most
//! `CACHE_TTL` seconds in an isolate that has its record cached (30 by default; 0 disables
//! caching), on top of the time KV itself takes to propagate a change to a location (up to 60 s).
//! Every cache is bounded.

use super::remembered::RememberedLogins;
use crate::credentials::VerifiedCache;
use crate::ttl_cache::TtlCache;
use std::any::Any;
use std::rc::Rc;

/// Entries per record cache: enough for a busy isolate, small enough to bound memory.
const RECORD_CAPACITY: usize = 1024;
/// Remembered successful password checks.
const VERIFIED_CAPACITY: usize = 1024;

/// A parsed KV record as the caches hold it, type-erased: the code that looks a record up, reads
/// and caches it (`authenticate::cached`) then exists once in the worker rather than once per
/// record type (a new isolate's first request compiles every copy it runs; bench/README.md,
/// "What a first request compiles"). Each cache below holds one record type, which its one
/// reader in `authenticate` downcasts to.
pub(super) type Parsed = Rc<dyn Any>;

/// KV records by their key, parsed.
pub(super) type Records = TtlCache<String, Parsed>;

pub(super) struct Caches {
    ttl: u64,
    /// `UserRecord`s.
    pub users: Records,
    /// `ApiKeyRecord`s.
    pub apikeys: Records,
    /// `RefreshRecord`s.
    pub refresh: Records,
    /// `PersonalRecord`s.
    pub personal: Records,
    /// One entry each, under the record's key (`acl`: the `Acl`, `issuers`: the `Issuers`).
    pub acl: Records,
    pub issuers: Records,
    pub verified: VerifiedCache,
    /// API-key checks by the header they came in (`remembered.rs`).
    pub remembered: RememberedLogins,
}

impl Caches {
    /// `isolate_key`: random per isolate, keys the verified-credential HMAC (`None`: drawn by the
    /// first password check, `VerifiedCache::draw_key`).
    pub(super) fn new(ttl: u64, isolate_key: Option<[u8; 32]>) -> Self {
        Self {
            ttl,
            users: TtlCache::new(RECORD_CAPACITY),
            apikeys: TtlCache::new(RECORD_CAPACITY),
            refresh: TtlCache::new(RECORD_CAPACITY),
            personal: TtlCache::new(RECORD_CAPACITY),
            acl: TtlCache::new(1),
            issuers: TtlCache::new(1),
            verified: VerifiedCache::new(isolate_key, VERIFIED_CAPACITY, ttl),
            remembered: RememberedLogins::new(),
        }
    }

    /// The deadline of a record cached at `now`.
    pub(super) fn until(&self, now: u64) -> u64 {
        now.saturating_add(self.ttl)
    }

    /// When the record under KV key `key` leaves its cache; `None` if it is not cached and fresh.
    pub(super) fn deadline(&self, key: &str, now: u64) -> Option<u64> {
        let prefix = key.split_once(':').map_or(key, |(p, _)| p);
        let records = match prefix {
            "acl" => &self.acl,
            "issuers" => &self.issuers,
            "user" => &self.users,
            "apikey" => &self.apikeys,
            "refresh" => &self.refresh,
            "personal" => &self.personal,
            _ => return None,
        };
        records.until(key, now)
    }

    /// Whether the record under KV key `key` is cached and fresh (read-ahead skips it).
    pub(super) fn fresh(&self, key: &str, now: u64) -> bool {
        self.deadline(key, now).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{ApiKeyRecord, UserRecord};
    use crate::policy::Acl;

    #[test]
    fn every_cache_is_bounded_at_its_capacity() {
        let mut c = Caches::new(30, Some([1u8; 32]));
        let user: Parsed = Rc::new(UserRecord::from_json(r#"{"groups":[]}"#).unwrap());
        let key: Parsed = Rc::new(
            ApiKeyRecord::from_json(r#"{"account":"a","name":"n","created":1,"expires":null}"#)
                .unwrap(),
        );
        let until = c.until(100);
        for i in 0..3 * RECORD_CAPACITY {
            c.users
                .insert(format!("user:u{i}"), Rc::clone(&user), until, 100);
            c.apikeys
                .insert(format!("apikey:{i}"), Rc::clone(&key), until, 100);
            c.verified.insert(&format!("u{i}"), "pw", "$2y$hash", 100);
        }
        assert_eq!(c.users.len(), RECORD_CAPACITY);
        assert_eq!(c.apikeys.len(), RECORD_CAPACITY);
        assert_eq!(c.verified.len(), VERIFIED_CAPACITY);
        let last = format!("user:u{}", 3 * RECORD_CAPACITY - 1);
        assert!(
            c.fresh(&last, 100) && !c.fresh("user:u0", 100),
            "the oldest went"
        );
    }

    #[test]
    fn acl_expires_after_ttl_and_is_never_kept_with_ttl_zero() {
        let mut c = Caches::new(30, Some([1u8; 32]));
        let until = c.until(100);
        c.acl
            .insert("acl".into(), Rc::new(Acl::default()), until, 100);
        assert!(c.fresh("acl", 129));
        assert!(!c.fresh("acl", 130));
        let mut off = Caches::new(0, Some([1u8; 32]));
        let until = off.until(100);
        off.acl
            .insert("acl".into(), Rc::new(Acl::default()), until, 100);
        assert!(!off.fresh("acl", 100));
    }
}
