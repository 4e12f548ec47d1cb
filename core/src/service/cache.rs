//! The isolate caches: KV records for `CACHE_TTL` seconds and successful bcrypt checks.
//!
//! A revoked user or key can keep working for at most `CACHE_TTL` seconds in an isolate that has
//! it cached (30 by default; 0 disables caching). Refresh-token records are never cached, so
//! deleting one revokes it at once. Every cache is bounded.

use crate::credentials::{ApiKeyRecord, TtlCache, UserRecord, VerifiedCache};
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
}

impl Caches {
    /// `isolate_key`: random per isolate, keys the verified-credential HMAC.
    pub fn new(ttl: u64, isolate_key: [u8; 32]) -> Self {
        Self {
            ttl,
            users: TtlCache::new(RECORD_CAPACITY, ttl),
            apikeys: TtlCache::new(RECORD_CAPACITY, ttl),
            verified: VerifiedCache::new(isolate_key, VERIFIED_CAPACITY, ttl),
            acl: None,
        }
    }

    /// The cached ACL if it is younger than the TTL.
    pub fn acl(&self, now: u64) -> Option<Rc<Acl>> {
        match &self.acl {
            Some((at, acl)) if now >= *at && now < at.saturating_add(self.ttl) => {
                Some(Rc::clone(acl))
            }
            _ => None,
        }
    }

    pub fn set_acl(&mut self, acl: Rc<Acl>, now: u64) {
        if self.ttl > 0 {
            self.acl = Some((now, acl));
        }
    }
}
