//! The one bounded expiring map behind every isolate cache: KV records and verified passwords
//! (`service::cache`), verified bearer tokens (`proxy::cache`), throttled keys
//! (`service::throttle`) and sign-in providers' endpoints (`signin`).
//!
//! Each entry carries its own deadline, so a cache with one lifetime for everything (`now +
//! CACHE_TTL`) and one whose entries live as long as what they hold (a token until its `exp`)
//! are the same type. An entry is served only while `inserted <= now < until` (a clock that went
//! backwards misses). At capacity, an insert first drops what has expired, then the entry that
//! would expire soonest (the oldest of those), so memory stays bounded whatever a client sends.

use std::any::Any;
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// Values are kept type-erased (`Box<dyn Any>`), so the map's code exists once per key type
/// (`String`, `[u8; 32]`) rather than once per cached type: ten monomorphised `BTreeMap`s cost
/// the worker ~15 KB of wasm (twiggy, 2026-12-06). The typed methods below downcast to `V`,
/// the only type ever stored, so a downcast cannot fail.
struct Entry<V> {
    /// Insertion order: of two entries with the same deadline, the older goes first.
    seq: u64,
    inserted: u64,
    until: u64,
    value: V,
}

/// A bounded map whose entries expire at their own deadline.
pub struct TtlCache<K: Ord + Clone, V> {
    entries: BTreeMap<K, Entry<Box<dyn Any>>>,
    capacity: usize,
    inserts: u64,
    _values: PhantomData<V>,
}

impl<K: Ord + Clone, V> fmt::Debug for TtlCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<K: Ord + Clone, V: 'static> TtlCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: BTreeMap::new(),
            capacity: capacity.max(1),
            inserts: 0,
            _values: PhantomData,
        }
    }

    fn live<Q: Ord + ?Sized>(&self, key: &Q, now: u64) -> Option<&Entry<Box<dyn Any>>>
    where
        K: Borrow<Q>,
    {
        self.entries
            .get(key)
            .filter(|e| e.inserted <= now && now < e.until)
    }

    /// The live entry of `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q, now: u64) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.live(key, now).and_then(|e| e.value.downcast_ref())
    }

    /// The live entry's deadline.
    pub fn until<Q: Ord + ?Sized>(&self, key: &Q, now: u64) -> Option<u64>
    where
        K: Borrow<Q>,
    {
        self.live(key, now).map(|e| e.until)
    }

    pub fn contains<Q: Ord + ?Sized>(&self, key: &Q, now: u64) -> bool
    where
        K: Borrow<Q>,
    {
        self.live(key, now).is_some()
    }

    /// Keeps `value` until `until` (exclusive). A deadline not after `now` stores nothing (a
    /// zero lifetime disables caching).
    pub fn insert(&mut self, key: K, value: V, until: u64, now: u64) {
        if until <= now {
            return;
        }
        self.insert_erased(key, Box::new(value), until, now);
    }

    /// The untyped half of [`Self::insert`]: compiled once per key type.
    fn insert_erased(&mut self, key: K, value: Box<dyn Any>, until: u64, now: u64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            cold::make_room(&mut self.entries, self.capacity, now);
        }
        self.inserts = self.inserts.wrapping_add(1);
        let entry = Entry {
            seq: self.inserts,
            inserted: now,
            until,
            value,
        };
        self.entries.insert(key, entry);
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.entries.remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Out of line, and in a module named `cold` so that wasm-opt keeps it so (scripts/build.sh): a
/// cache fills long before it is full, so a new isolate's first insert (its first request)
/// need not compile this (bench/README.md, "What a first request compiles").
mod cold {
    use super::Entry;
    use std::any::Any;
    use std::collections::BTreeMap;

    /// Drops what has expired, then, if the cache is still full, the entry that would expire
    /// soonest (the oldest of those).
    #[cold]
    #[inline(never)]
    pub(super) fn make_room<K: Ord + Clone>(
        entries: &mut BTreeMap<K, Entry<Box<dyn Any>>>,
        capacity: usize,
        now: u64,
    ) {
        entries.retain(|_, e| now < e.until);
        if entries.len() >= capacity {
            let soonest = entries
                .iter()
                .min_by_key(|(_, e)| (e.until, e.seq))
                .map(|(k, _)| k.clone());
            if let Some(k) = soonest {
                entries.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_at_its_deadline_and_bounds() {
        let mut c = TtlCache::new(2);
        c.insert("a", 1, 110, 100);
        assert_eq!(c.get(&"a", 109), Some(&1));
        assert_eq!(c.get(&"a", 110), None, "expired at the deadline");
        c.insert("a", 1, 110, 100);
        c.insert("b", 2, 111, 101);
        c.insert("c", 3, 112, 102);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&"a", 102), None, "the soonest to expire went");
        assert_eq!(c.get(&"c", 102), Some(&3));
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        let mut c = TtlCache::new(3);
        c.insert("short", 0, 105, 100);
        c.insert("b", 0, 200, 100);
        c.insert("c", 0, 300, 100);
        c.insert("d", 0, 400, 106);
        assert!(c.get(&"b", 106).is_some() && c.get(&"c", 106).is_some());
        for i in 0..100 {
            c.insert(["x", "y", "z", "w"][i % 4], 0, 1000, 106);
        }
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn a_deadline_not_after_now_stores_nothing() {
        let mut c = TtlCache::new(2);
        c.insert(1, 1, 100, 100);
        assert!(c.is_empty());
    }

    #[test]
    fn clock_going_backwards_misses() {
        let mut c = TtlCache::new(2);
        c.insert(1, 1, 110, 100);
        assert_eq!(c.get(&1, 50), None);
        assert_eq!(c.until(&1, 100), Some(110));
    }
}
