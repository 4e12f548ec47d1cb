//! The isolate caches: KV records for `CACHE_TTL` seconds and successful bcrypt checks, each a
//! [`TtlCache`] (the one bounded cache type, `crate::ttl_cache`).
//!
//! A revoked user, key, refresh token or personal credential can keep working for at most
//! `CACHE_TTL` seconds in an isolate that has its record cached (30 by default; 0 disables
//! caching), on top of the time KV itself takes to propagate a change to a location (up to 60 s).
//! Every cache is bounded.

use crate::credentials::{ApiKeyRecord, RefreshRecord, UserRecord, VerifiedCache};
use crate::federation::Issuers;
use crate::policy::Acl;
use crate::signin::credentials::PersonalRecord;
use crate::ttl_cache::TtlCache;
use std::rc::Rc;

/// Entries per record cache: enough for a busy isolate, small enough to bound memory.
const RECORD_CAPACITY: usize = 1024;
/// Remembered successful password checks.
const VERIFIED_CAPACITY: usize = 1024;

/// KV records by their key, parsed.
pub(super) type Records<V> = TtlCache<String, Rc<V>>;

pub(super) struct Caches {
    ttl: u64,
    pub users: Records<UserRecord>,
    pub apikeys: Records<ApiKeyRecord>,
    pub refresh: Records<RefreshRecord>,
    pub personal: Records<PersonalRecord>,
    /// One entry each, under the record's key (`acl`, `issuers`).
    pub acl: Records<Acl>,
    pub issuers: Records<Issuers>,
    pub verified: VerifiedCache,
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
        }
    }

    /// The deadline of a record cached at `now`.
    pub(super) fn until(&self, now: u64) -> u64 {
        now.saturating_add(self.ttl)
    }

    /// Whether the record under KV key `key` is cached and fresh (read-ahead skips it).
    pub(super) fn fresh(&self, key: &str, now: u64) -> bool {
        let prefix = key.split_once(':').map_or(key, |(p, _)| p);
        match prefix {
            "acl" => self.acl.contains(key, now),
            "issuers" => self.issuers.contains(key, now),
            "user" => self.users.contains(key, now),
            "apikey" => self.apikeys.contains(key, now),
            "refresh" => self.refresh.contains(key, now),
            "personal" => self.personal.contains(key, now),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cache_is_bounded_at_its_capacity() {
        let mut c = Caches::new(30, Some([1u8; 32]));
        let user = Rc::new(UserRecord::from_json(r#"{"groups":[]}"#).unwrap());
        let key = Rc::new(
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
