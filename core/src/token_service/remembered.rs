//! Remembered API-key logins: the answer of the one credential check (`authenticate`) for an
//! operator's API key sent in an Authorization header, kept so that the next request with the
//! same header does not decode it, hash the key and look its records up again.
//!
//! Why: a warm token request for an API key spent about a third of Tollgate's own work (~60 k of
//! ~190 k wasm instructions, bench/token-instructions.mjs) on the Basic header's constant-time
//! base64, the key's SHA-256 and the record lookups, each time arriving at the same answer
//! (issue 17, steady state).
//!
//! What is kept, and for how long:
//! - The key is a SipHash-2-4 tag (128 bits) of the exact header, under a random key drawn per
//!   isolate: the header and its secret are never kept, a dump shows nothing that works
//!   elsewhere, and without the isolate key no header can be made to match an entry. The same
//!   header is the same username and key, so it is the same check. The map compares tags, not
//!   secrets (as the password cache compares HMACs): what its timing could tell about a tag
//!   says nothing about a header without the key.
//! - The value is the check's [`Authenticated`] and whether the header was `Bearer`.
//! - An entry lives no longer than the records the check read stay in the isolate caches (the
//!   API key's, the user's and `issuers`, each `CACHE_TTL` from its read) and never past the
//!   key's own expiry. So a revoked key, a removed or disabled user, or a new trusted issuer
//!   that takes over the name stops an entry exactly when it stops the check itself; with
//!   `CACHE_TTL=0` nothing is kept. A revocation in this isolate forgets everything.
//! - Only successes are kept: a wrong key, another username or a changed header runs the check.
//! - What depends on the request rather than the credential still runs every time: the network
//!   binding (`authenticate`), `account=`, the ACL and the scopes.

use super::authenticate::Authenticated;
use crate::ttl_cache::TtlCache;
use siphasher::sip128::{Hasher128 as _, SipHasher24};
use std::hash::Hasher as _;
use std::rc::Rc;

/// Headers remembered per isolate, as many as there are API-key records cached.
const CAPACITY: usize = 1024;

/// A remembered check.
#[derive(Debug, Clone)]
pub(crate) struct Remembered {
    pub(super) who: Rc<Authenticated>,
    /// The header used the Bearer scheme (the proxy's Basic path refuses it, and a refusal
    /// carries the Bearer challenge).
    pub(super) bearer: bool,
}

/// The tag of one Authorization header under the isolate's key: SipHash's 128 bits, then zeros.
/// 32 bytes because the verified-password and proxy caches are keyed by `[u8; 32]`: one
/// `TtlCache` key type fewer is one `BTreeMap` fewer compiled into the worker (a `u128` key
/// made it 2.9 KB larger gzipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderTag([u8; 32]);

#[derive(Debug)]
pub(super) struct RememberedLogins {
    /// Random per isolate; drawn by the first request that has randomness (workerd refuses it
    /// at startup, where the service is built). Without one nothing is kept or found.
    key: Option<[u8; 16]>,
    seen: TtlCache<[u8; 32], Remembered>,
}

impl RememberedLogins {
    pub(super) fn new() -> Self {
        RememberedLogins {
            key: None,
            seen: TtlCache::new(CAPACITY),
        }
    }

    /// The tag of `header`, drawing the isolate key from `random` if there is none yet (a failed
    /// draw: no tag, every check runs in full).
    pub(super) fn tag<E>(
        &mut self,
        header: &str,
        random: impl FnOnce() -> Result<[u8; 16], E>,
    ) -> Option<HeaderTag> {
        if self.key.is_none() {
            self.key = random().ok();
        }
        let mut h = SipHasher24::new_with_key(self.key.as_ref()?);
        h.write(header.as_bytes());
        let mut tag = [0; 32];
        tag[..16].copy_from_slice(&h.finish128().as_bytes());
        Some(HeaderTag(tag))
    }

    pub(super) fn recall(&self, tag: HeaderTag, now: u64) -> Option<Remembered> {
        self.seen.get(&tag.0, now).cloned()
    }

    /// Keeps `remembered` under `tag` until `until` (exclusive; not after `now`: nothing).
    pub(super) fn remember(
        &mut self,
        tag: HeaderTag,
        remembered: Remembered,
        until: u64,
        now: u64,
    ) {
        self.seen.insert(tag.0, remembered, until, now);
    }

    /// Forgets every entry (a credential was revoked in this isolate).
    pub(super) fn clear(&mut self) {
        self.seen = TtlCache::new(CAPACITY);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(k: u8) -> RememberedLogins {
        let mut r = RememberedLogins::new();
        r.tag("", || Ok::<_, ()>([k; 16]));
        r
    }

    #[test]
    fn tags_differ_by_header_and_by_isolate_key() {
        let mut a = keyed(1);
        let mut b = keyed(2);
        let never = || Err::<[u8; 16], ()>(());
        let t = a.tag("Basic Y2k6a2V5", never).unwrap();
        assert_eq!(a.tag("Basic Y2k6a2V5", never), Some(t));
        assert_ne!(a.tag("Basic Y2k6a2V6", never), Some(t));
        assert_ne!(a.tag("basic Y2k6a2V5", never), Some(t));
        assert_ne!(b.tag("Basic Y2k6a2V5", never), Some(t));
    }

    #[test]
    fn without_an_isolate_key_nothing_is_tagged() {
        let mut r = RememberedLogins::new();
        assert_eq!(r.tag("Basic x", || Err::<[u8; 16], ()>(())), None);
        // A later draw that succeeds gives it one.
        assert!(r.tag("Basic x", || Ok::<_, ()>([3; 16])).is_some());
    }
}
