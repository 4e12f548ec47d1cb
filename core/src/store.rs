//! The storage seam. The worker implements [`Store`] over Workers KV; tests use [`MemoryStore`].
//! Errors are values, never an empty answer: a failed read must not look like "no such record",
//! so callers can fail closed.

use futures_util::future::{maybe_done, poll_fn};
#[cfg(any(test, feature = "testing"))]
use std::cell::RefCell;
#[cfg(any(test, feature = "testing"))]
use std::collections::BTreeMap;
use std::future::Future;
use std::task::Poll;

/// A storage failure. Never "not found" (that is `Ok(None)`), so callers fail closed on every
/// variant. The texts are for logs and never hold a secret or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The storage binding is missing or is not a namespace: the deployment is wrong (the text
    /// says which binding and where to fix it), so retrying will not help.
    #[error("storage error: {0}")]
    Unbound(String),
    /// The runtime's call failed (KV unreachable, over a quota, a write refused), with the
    /// runtime's reason cut to one bounded line ([`StoreError::from_runtime`]).
    #[error("storage error: {0}")]
    Runtime(String),
    /// A read issued together with others ended without an outcome (never expected).
    #[error("storage error: a read ended without an answer")]
    Lost,
}

/// Bytes of a runtime error's text kept in a [`StoreError`].
const MAX_DETAIL: usize = 200;

impl StoreError {
    /// `what` (e.g. "KV get failed") plus the runtime's error text, cut to its first line and
    /// bounded. A JS error's text carries its stack trace (bundle paths, wasm offsets) over many
    /// lines; that belongs neither in the client's error message nor spread over a log stream.
    pub fn from_runtime(what: &str, detail: &str) -> StoreError {
        StoreError::Runtime(first_line(what, detail))
    }

    /// The binding `binding` is unusable (`detail`: the runtime's reason, bounded as above).
    pub fn unbound(binding: &str, detail: &str) -> StoreError {
        let why = first_line(&format!("KV binding {binding} is not available"), detail);
        StoreError::Unbound(format!("{why}; check [[kv_namespaces]] in wrangler.toml"))
    }
}

/// `what: <the first line of detail>`, bounded to [`MAX_DETAIL`] bytes of detail.
fn first_line(what: &str, detail: &str) -> String {
    let first = detail.lines().next().unwrap_or("").trim();
    // workers-rs renders a JsValue error as "js error: JsValue(<message>\n<stack>...)".
    let first = first
        .strip_prefix("js error: JsValue(")
        .unwrap_or(first)
        .trim_end_matches(')');
    let mut shown = String::new();
    for c in first.chars().filter(|c| !c.is_control()) {
        if shown.len() + c.len_utf8() > MAX_DETAIL {
            break;
        }
        shown.push(c);
    }
    format!("{what}: {shown}")
}

/// Key-value storage as Workers KV offers it: text values, optional expiry.
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait Store {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Reads `keys` at once: one outcome per key, in order. Workers KV answers them in one
    /// operation (a bulk get: one subrequest, one round trip); a store without a bulk read
    /// issues the single reads together ([`join_gets`]). A failed bulk read is that failure for
    /// every key, never "not found".
    async fn get_many(&self, keys: &[String]) -> Vec<Result<Option<String>, StoreError>> {
        join_gets(self, keys).await
    }
    /// `ttl_seconds`: the record disappears after that long (KV's expirationTtl, at least 60).
    async fn put(&self, key: &str, value: &str, ttl_seconds: Option<u64>)
        -> Result<(), StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// `store.get` of every key in `keys`, issued together (one round trip for all), in order.
pub async fn join_gets<S: Store + ?Sized>(
    store: &S,
    keys: &[String],
) -> Vec<Result<Option<String>, StoreError>> {
    // futures-util's `join_all` would do, but it links `FuturesOrdered` for long lists
    // (~10 KB of wasm): a request joins at most five reads, polled side by side here.
    let mut reads: Vec<_> = keys
        .iter()
        .map(|k| Box::pin(maybe_done(store.get(k))))
        .collect();
    poll_fn(|cx| {
        let mut pending = false;
        for read in reads.iter_mut() {
            pending |= read.as_mut().poll(cx).is_pending();
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    reads
        .iter_mut()
        .map(|r| r.as_mut().take_output().unwrap_or(Err(StoreError::Lost)))
        .collect()
}

/// In-memory store for tests and benchmarks (the `testing` feature). `fail` makes every call
/// fail, to test failing closed.
#[cfg(any(test, feature = "testing"))]
#[derive(Default)]
pub struct MemoryStore {
    pub data: RefCell<BTreeMap<String, String>>,
    pub fail: std::cell::Cell<bool>,
}

#[cfg(any(test, feature = "testing"))]
impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(entries: impl IntoIterator<Item = (String, String)>) -> Self {
        let s = Self::new();
        s.data.borrow_mut().extend(entries);
        s
    }

    /// Whether any key starts with `prefix` (e.g. no `refresh:` record was written).
    pub fn holds_any(&self, prefix: &str) -> bool {
        self.data.borrow().keys().any(|k| k.starts_with(prefix))
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.fail.get() {
            Err(StoreError::Runtime("injected failure".into()))
        } else {
            Ok(())
        }
    }
}

#[cfg(any(test, feature = "testing"))]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.check()?;
        Ok(self.data.borrow().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &str, _ttl: Option<u64>) -> Result<(), StoreError> {
        self.check()?;
        self.data
            .borrow_mut()
            .insert(key.to_string(), value.to_string());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.data.borrow_mut().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text a variant carries (the tests' view of it).
    fn text(e: &StoreError) -> &str {
        match e {
            StoreError::Unbound(t) | StoreError::Runtime(t) => t,
            StoreError::Lost => "",
        }
    }

    #[test]
    fn runtime_errors_keep_the_first_line_only_and_are_bounded() {
        let js = "js error: JsValue(TypeError: Reflect.get called on non-object\nTypeError: Reflect.get \
                  called on non-object\n    at Reflect.get (<anonymous>)\n    at __wbg_get (file:///w/build/index.js:1:12306))";
        let e = StoreError::from_runtime("KV get failed", js);
        assert_eq!(
            e,
            StoreError::Runtime(
                "KV get failed: TypeError: Reflect.get called on non-object".into()
            )
        );
        assert!(!e.to_string().contains("file://"));
        let long = format!("Error: {}", "x".repeat(1000));
        assert!(text(&StoreError::from_runtime("w", &long)).len() <= MAX_DETAIL + 3);
        assert_eq!(text(&StoreError::from_runtime("w", "")), "w: ");
    }

    #[test]
    fn an_unbound_binding_says_where_to_fix_it_and_is_bounded() {
        let e = StoreError::unbound(
            "TOLLGATE_KV",
            &format!("invalid kv store: {}", "y".repeat(500)),
        );
        let StoreError::Unbound(t) = &e else {
            panic!("not Unbound: {e:?}");
        };
        assert!(t.starts_with("KV binding TOLLGATE_KV is not available: invalid kv store: y"));
        assert!(t.ends_with("; check [[kv_namespaces]] in wrangler.toml"));
        assert!(t.len() < 300, "{}", t.len());
        assert_eq!(
            StoreError::Lost.to_string(),
            "storage error: a read ended without an answer"
        );
    }
}
