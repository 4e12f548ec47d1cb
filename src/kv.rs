//! The core's `Store` over a Workers KV namespace.
//!
//! A KV failure (or a missing binding) is a `StoreError`, never "not found": the core fails closed
//! on errors, whereas "not found" could mean "anonymous" or "no ACL" and change a decision.

use std::cell::OnceCell;
use tollgate_core::store::{Store, StoreError};
use worker::{Env, KvStore};

/// KV refuses an `expirationTtl` below 60 seconds.
const MIN_KV_TTL: u64 = 60;

/// Binds the namespace on first use: a warm token request (records and ACL in the isolate's
/// cache) or a bearer request with a cached verification never touches KV, and binding costs
/// several JS property reads (workers-rs looks up each KV method), ~2% of a token's CPU.
pub struct Kv<'a> {
    env: &'a Env,
    binding: &'a str,
    inner: OnceCell<Result<KvStore, String>>,
}

impl<'a> Kv<'a> {
    pub fn new(env: &'a Env, binding: &'a str) -> Self {
        Self {
            env,
            binding,
            inner: OnceCell::new(),
        }
    }

    fn store(&self) -> Result<&KvStore, StoreError> {
        self.inner
            .get_or_init(|| {
                self.env.kv(self.binding).map_err(|e| {
                    let why = StoreError::from_runtime(
                        &format!("KV binding {} is not available", self.binding),
                        &e.to_string(),
                    );
                    format!("{}; check [[kv_namespaces]] in wrangler.toml", why.0)
                })
            })
            .as_ref()
            .map_err(|e| StoreError(e.clone()))
    }
}

impl Store for Kv<'_> {
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
