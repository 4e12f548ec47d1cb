//! The core's `Store` over a Workers KV namespace.
//!
//! A KV failure (or a missing binding) is a `StoreError`, never "not found": the core fails closed
//! on errors, whereas "not found" could mean "anonymous" or "no ACL" and change a decision.

use std::cell::OnceCell;
use tollgate_core::store::{Store, StoreError};
use worker::js_sys::{Array, Function, Map, Object, Promise, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

/// KV refuses an `expirationTtl` below 60 seconds.
const MIN_KV_TTL: u64 = 60;

/// Keys one bulk get may ask for (Workers KV's limit); a request asks for a handful.
const MAX_BULK_KEYS: usize = 100;

/// Binds the namespace on first use: a warm token request (records and ACL in the isolate's
/// cache) or a bearer request with a cached verification never touches KV, and binding costs
/// JS property reads, ~2% of a token's CPU.
///
/// The namespace's methods are called directly rather than through workers-rs's `KvStore`: its
/// builders serialize every options object with serde-wasm-bindgen (and a `serde_json::Value`
/// for metadata), which cost ~11 KB of wasm for the three calls made here.
pub(crate) struct Kv<'a> {
    env: &'a Env,
    binding: &'a str,
    inner: OnceCell<Result<JsValue, StoreError>>,
    /// Called with every failure before it is returned (the proxy logs why, see proxy.rs). A
    /// field rather than a wrapping `Store`: a second store type would instantiate every generic
    /// authentication future twice (~8 KB of wasm).
    on_error: Option<fn(&StoreError)>,
}

/// Renders a JS exception as workers-rs does ("js error: JsValue(...)"), the form
/// [`StoreError::from_runtime`] expects.
fn js_error(what: &str, e: &JsValue) -> StoreError {
    StoreError::from_runtime(what, &format!("js error: {e:?}"))
}

impl<'a> Kv<'a> {
    pub(crate) fn new(env: &'a Env, binding: &'a str) -> Self {
        Self {
            env,
            binding,
            inner: OnceCell::new(),
            on_error: None,
        }
    }

    /// Reports every failure to `f` too.
    pub(crate) fn on_error(self, f: fn(&StoreError)) -> Self {
        Self {
            on_error: Some(f),
            ..self
        }
    }

    fn store(&self) -> Result<&JsValue, StoreError> {
        self.inner
            .get_or_init(|| {
                let found = Reflect::get(self.env, &JsValue::from_str(self.binding));
                let detail = match found {
                    Ok(ns) if ns.is_object() => return Ok(ns),
                    Ok(_) => format!("invalid kv store: {}", self.binding),
                    Err(e) => format!("js error: {e:?}"),
                };
                Err(StoreError::unbound(self.binding, &detail))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Calls the namespace's `method` with `args` and awaits its promise; a failure goes to
    /// `on_error` as well as to the caller.
    async fn call(
        &self,
        what: &str,
        method: &str,
        args: &[&JsValue],
    ) -> Result<JsValue, StoreError> {
        let result = async {
            let ns = self.store()?;
            let promise = Reflect::get(ns, &JsValue::from_str(method))
                .and_then(|f| f.dyn_into::<Function>())
                .and_then(|f| match args {
                    [a] => f.call1(ns, a),
                    [a, b] => f.call2(ns, a, b),
                    [a, b, c] => f.call3(ns, a, b, c),
                    _ => f.call0(ns),
                })
                .map_err(|e| js_error(what, &e))?;
            JsFuture::from(Promise::from(promise))
                .await
                .map_err(|e| js_error(what, &e))
        }
        .await;
        if let Err(e) = &result {
            self.report(e);
        }
        result
    }

    fn report(&self, e: &StoreError) {
        if let Some(report) = self.on_error {
            report(e);
        }
    }
}

/// `{name: value}` as a JS object (the options argument of `get` and `put`).
fn options(name: &str, value: &JsValue) -> JsValue {
    let o = Object::new();
    // Setting a property on a fresh plain object cannot throw.
    let _ = Reflect::set(&o, &JsValue::from_str(name), value);
    o.into()
}

impl Kv<'_> {
    /// A text value as KV's get answers it: a string, or null for no such key. Anything else
    /// is an error, not "not found" (fail closed), reported as a failed call is.
    fn text_value(&self, what: &str, value: JsValue) -> Result<Option<String>, StoreError> {
        match value.as_string() {
            Some(text) => Ok(Some(text)),
            None if value.is_null() || value.is_undefined() => Ok(None),
            None => Err(self.unexpected(what, "a value is not text")),
        }
    }

    /// An answer of a shape KV never gives: an error, reported.
    fn unexpected(&self, what: &str, detail: &str) -> StoreError {
        let e = StoreError::from_runtime(what, detail);
        self.report(&e);
        e
    }

    /// One bulk get of `keys` (at most [`MAX_BULK_KEYS`]): `get([keys], {type: "text"})`
    /// answers a `Map` of key to value or null, as one KV operation and one subrequest.
    async fn bulk_get(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        // The same words as a single get's failure: it is a get (of several keys).
        const WHAT: &str = "KV get failed";
        let names: Array = keys.iter().map(|k| JsValue::from_str(k)).collect();
        let opts = options("type", &JsValue::from_str("text"));
        let answer = self.call(WHAT, "get", &[&names, &opts]).await?;
        let found: Map = answer
            .dyn_into()
            .map_err(|_| self.unexpected(WHAT, "the answer is not a Map"))?;
        // KV answers every key asked for (null when it has none): a key missing from the Map is
        // an answer of a shape KV never gives, so an error, not "not found" (fail closed).
        keys.iter()
            .map(|k| {
                let k = JsValue::from_str(k);
                if !found.has(&k) {
                    return Err(self.unexpected(WHAT, "a key is missing from the answer"));
                }
                self.text_value(WHAT, found.get(&k))
            })
            .collect()
    }
}

impl Store for Kv<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let opts = options("type", &JsValue::from_str("text"));
        let value = self
            .call("KV get failed", "get", &[&JsValue::from_str(key), &opts])
            .await?;
        self.text_value("KV get failed", value)
    }

    /// Workers KV's bulk get: the request's reads in one operation and one subrequest, not one
    /// each. A failure is that error for every key of the batch (never "not found"); there is no
    /// silent fallback to single gets.
    async fn get_many(&self, keys: &[String]) -> Vec<Result<Option<String>, StoreError>> {
        let mut outcomes = Vec::with_capacity(keys.len());
        for batch in keys.chunks(MAX_BULK_KEYS) {
            match self.bulk_get(batch).await {
                Ok(values) => outcomes.extend(values.into_iter().map(Ok)),
                Err(e) => outcomes.extend(batch.iter().map(|_| Err(e.clone()))),
            }
        }
        outcomes
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        ttl_seconds: Option<u64>,
    ) -> Result<(), StoreError> {
        let opts = match ttl_seconds {
            Some(ttl) => options(
                "expirationTtl",
                &JsValue::from_f64(ttl.max(MIN_KV_TTL) as f64),
            ),
            None => Object::new().into(),
        };
        let (key, value) = (JsValue::from_str(key), JsValue::from_str(value));
        self.call("KV put failed", "put", &[&key, &value, &opts])
            .await
            .map(drop)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.call("KV delete failed", "delete", &[&JsValue::from_str(key)])
            .await
            .map(drop)
    }
}
