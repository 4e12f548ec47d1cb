//! Isolate caches (placeholder until credentials/ lands).
pub(super) struct Caches {
    _ttl: u64,
}

impl Caches {
    pub fn new(ttl: u64) -> Self {
        Self { _ttl: ttl }
    }
}
