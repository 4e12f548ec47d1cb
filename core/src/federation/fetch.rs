//! The outbound-HTTP seam. The worker implements [`Fetch`] with `worker::Fetch` and the Cache API
//! (src/fetch.rs); tests use [`MemoryFetch`]. Only GETs of issuer documents go through it.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// A fetched document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    /// At most `limits::MAX_OIDC_DOCUMENT_BYTES`; the implementation stops reading beyond that
    /// and sets `truncated`.
    pub body: Vec<u8>,
    pub truncated: bool,
    /// Seconds the document may still be used, from the origin's Cache-Control (minus its age
    /// in a shared cache). The core clamps it.
    pub max_age: Option<u64>,
}

impl Fetched {
    pub fn ok(body: impl Into<Vec<u8>>, max_age: Option<u64>) -> Fetched {
        Fetched {
            status: 200,
            body: body.into(),
            truncated: false,
            max_age,
        }
    }
}

/// The request did not complete, so there is no answer to judge. For logs and the 503 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// This runtime makes no outbound requests ([`NoFetch`]).
    #[error("outbound fetches are not available here")]
    Unavailable,
    /// No answer within the timeout (seconds); the request was aborted.
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// The request could not be built or sent, or its answer not read (DNS, connection, TLS, a
    /// body cut off): the runtime's reason, one line.
    #[error("{0}")]
    Failed(String),
}

/// GET of a public document. `fresh`: bypass any shared cache (an unknown `kid` asks for the
/// issuer's current keys, not a cached copy).
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait Fetch {
    async fn get(&self, url: &str, fresh: bool) -> Result<Fetched, FetchError>;

    /// Waits a short while (the worker: 100 ms) before a request checks again whether another
    /// request's fetch of the same issuer's documents has ended. It must be this request's own
    /// timer: workerd cancels a request that waits only on another request's promise as hung,
    /// and a task woken from another request would run in that request's I/O context.
    /// The default yields once (native tests, the CLI).
    async fn pause(&self) {
        yield_once().await
    }
}

/// Returns `Pending` once (asking to be polled again at once), then `Ready`.
pub(crate) async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// No outbound HTTP (the CLI, and tests that never federate): every fetch fails.
pub struct NoFetch;

impl Fetch for NoFetch {
    async fn get(&self, _url: &str, _fresh: bool) -> Result<Fetched, FetchError> {
        Err(FetchError::Unavailable)
    }
}

/// Canned documents by URL, recording every request (tests and dry runs).
#[derive(Default)]
pub struct MemoryFetch {
    pub docs: RefCell<BTreeMap<String, Result<Fetched, FetchError>>>,
    /// `(url, fresh)` of every call, in order.
    pub calls: RefCell<Vec<(String, bool)>>,
}

impl MemoryFetch {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, url: &str, answer: Result<Fetched, FetchError>) {
        self.docs.borrow_mut().insert(url.to_string(), answer);
    }

    /// Calls made to `url`.
    #[cfg(test)]
    pub(crate) fn count(&self, url: &str) -> usize {
        self.calls.borrow().iter().filter(|(u, _)| u == url).count()
    }
}

impl Fetch for MemoryFetch {
    async fn get(&self, url: &str, fresh: bool) -> Result<Fetched, FetchError> {
        self.calls.borrow_mut().push((url.to_string(), fresh));
        self.docs.borrow().get(url).cloned().unwrap_or(Ok(Fetched {
            status: 404,
            body: Vec::new(),
            truncated: false,
            max_age: None,
        }))
    }
}
