//! The isolate caches: KV records for `CACHE_TTL` seconds and successful bcrypt checks.
//!
//! A revoked user or key can keep working for at most `CACHE_TTL` seconds in an isolate that has
//! it cached (30 by default; 0 disables caching). Refresh-token records are never cached, so
//! deleting one revokes it at once. Every cache is bounded.

use crate::credentials::{ApiKeyRecord, TtlCache, UserRecord, VerifiedCache};
use crate::federation::Issuers;
use crate::policy::Acl;
use std::rc::Rc;

/// Entries per record cache: enough for a busy isolate, small enough to bound memory.
const RECORD_CAPACITY: usize = 1024;
/// Remembered successful password checks.
const VERIFIED_CAPACITY: usize = 1024;

pub(super) struct Caches {
    ttl: u64,
    pub users: TtlCache<String, Rc<UserRecord>>,
    pub apikeys: TtlCache<String, Rc<ApiKeyRecord>>,
    pub verified: VerifiedCache,
    acl: Option<(u64, Rc<Acl>)>,
    issuers: Option<(u64, Rc<Issuers>)>,
}

impl Caches {
    /// `isolate_key`: random per isolate, keys the verified-credential HMAC.
    pub(super) fn new(ttl: u64, isolate_key: [u8; 32]) -> Self {
        Self {
            ttl,
            users: TtlCache::new(RECORD_CAPACITY, ttl),
            apikeys: TtlCache::new(RECORD_CAPACITY, ttl),
            verified: VerifiedCache::new(isolate_key, VERIFIED_CAPACITY, ttl),
            acl: None,
            issuers: None,
        }
    }

    /// The cached ACL if it is younger than the TTL.
    pub(super) fn acl(&self, now: u64) -> Option<Rc<Acl>> {
        match &self.acl {
            Some((at, acl)) if now >= *at && now < at.saturating_add(self.ttl) => {
                Some(Rc::clone(acl))
            }
            _ => None,
        }
    }

    pub(super) fn set_acl(&mut self, acl: Rc<Acl>, now: u64) {
        if self.ttl > 0 {
            self.acl = Some((now, acl));
        }
    }

    /// The cached `issuers` record if it is younger than the TTL (same policy as the ACL).
    pub(super) fn issuers(&self, now: u64) -> Option<Rc<Issuers>> {
        match &self.issuers {
            Some((at, i)) if now >= *at && now < at.saturating_add(self.ttl) => Some(Rc::clone(i)),
            _ => None,
        }
    }

    pub(super) fn set_issuers(&mut self, issuers: Rc<Issuers>, now: u64) {
        if self.ttl > 0 {
            self.issuers = Some((now, issuers));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cache_is_bounded_at_its_capacity() {
        let mut c = Caches::new(30, [1u8; 32]);
        let user = Rc::new(UserRecord::from_json(r#"{"groups":[]}"#).unwrap());
        let key = Rc::new(
            ApiKeyRecord::from_json(r#"{"account":"a","name":"n","created":1,"expires":null}"#)
                .unwrap(),
        );
        for i in 0..3 * RECORD_CAPACITY {
            c.users.insert(format!("user:u{i}"), Rc::clone(&user), 100);
            c.apikeys
                .insert(format!("apikey:{i}"), Rc::clone(&key), 100);
            c.verified.insert(&format!("u{i}"), "pw", "$2y$hash", 100);
        }
        assert_eq!(c.users.len(), RECORD_CAPACITY);
        assert_eq!(c.apikeys.len(), RECORD_CAPACITY);
        assert_eq!(c.verified.len(), VERIFIED_CAPACITY);
        // The newest entries survive; the oldest went first.
        let last = format!("user:u{}", 3 * RECORD_CAPACITY - 1);
        assert!(c.users.get(&last, 100).is_some());
        assert!(c.users.get(&"user:u0".to_string(), 100).is_none());
    }

    #[test]
    fn acl_expires_after_ttl_and_is_never_kept_with_ttl_zero() {
        let mut c = Caches::new(30, [1u8; 32]);
        c.set_acl(Rc::new(Acl::default()), 100);
        assert!(c.acl(129).is_some());
        assert!(c.acl(130).is_none());
        let mut off = Caches::new(0, [1u8; 32]);
        off.set_acl(Rc::new(Acl::default()), 100);
        assert!(off.acl(100).is_none());
    }
}
