//! The core's `Store` over a Workers KV namespace.
//!
//! A KV failure (or a missing binding) is a `StoreError`, never "not found": the core fails closed
//! on errors, whereas "not found" could mean "anonymous" or "no ACL" and change a decision.

use tollgate_core::store::{Store, StoreError};
use worker::{Env, KvStore};

/// KV refuses an `expirationTtl` below 60 seconds.
const MIN_KV_TTL: u64 = 60;

pub struct Kv {
    inner: Result<KvStore, String>,
}

impl Kv {
    pub fn new(env: &Env, binding: &str) -> Self {
        let inner = env.kv(binding).map_err(|e| {
            let why = StoreError::from_runtime(
                &format!("KV binding {binding} is not available"),
                &e.to_string(),
            );
            format!("{}; check [[kv_namespaces]] in wrangler.toml", why.0)
        });
        Self { inner }
    }

    fn store(&self) -> Result<&KvStore, StoreError> {
        self.inner.as_ref().map_err(|e| StoreError(e.clone()))
    }
}

impl Store for Kv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.store()?
            .get(key)
            .text()
            .await
            .map_err(|e| StoreError::from_runtime("KV get failed", &e.to_string()))
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        ttl_seconds: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut put = self
            .store()?
            .put(key, value)
            .map_err(|e| StoreError::from_runtime("KV put failed", &e.to_string()))?;
        if let Some(ttl) = ttl_seconds {
            put = put.expiration_ttl(ttl.max(MIN_KV_TTL));
        }
        put.execute()
            .await
            .map_err(|e| StoreError::from_runtime("KV put failed", &e.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store()?
            .delete(key)
            .await
            .map_err(|e| StoreError::from_runtime("KV delete failed", &e.to_string()))
    }
}
