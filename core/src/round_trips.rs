//! A [`Store`] that counts sequential KV round trips, and the executor that counts them: for the
//! core's tests (service/tests/round_trips.rs) and `bench/kv-rounds`, which includes this file
//! by path so that it runs unchanged against an older core.
//!
//! Every store call waits for the next "round". The executor polls the request until it is
//! stuck; if store calls are waiting, that was one round trip: it releases them all at once and
//! goes on. Calls issued together (joined) share a round; a call issued only after another's
//! answer needs a round of its own. So the count is the request's latency in KV round trips,
//! whatever the machine, without timing anything. Rounds with a read among their calls and
//! rounds of writes alone (a minted refresh token's put) are counted apart.

use crate::store::{Store, StoreError};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The round trips a request waited for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Trips {
    /// Rounds with a read among their calls.
    pub reads: u64,
    /// Rounds of writes (puts, deletes) alone.
    pub writes: u64,
}

/// `inner` behind a round-trip counter.
pub(crate) struct Rounds<S> {
    pub inner: S,
    /// The current round: a call issued in round `r` answers once it is past `r`.
    round: Cell<u64>,
    /// Reads and writes issued since the last round ended.
    waiting_reads: Cell<u64>,
    waiting_writes: Cell<u64>,
    /// Store calls made (reads, writes, deletes).
    pub calls: Cell<u64>,
}

impl<S> Rounds<S> {
    pub(crate) fn new(inner: S) -> Self {
        Rounds {
            inner,
            round: Cell::new(0),
            waiting_reads: Cell::new(0),
            waiting_writes: Cell::new(0),
            calls: Cell::new(0),
        }
    }

    fn trip(&self, write: bool) -> Trip<'_, S> {
        self.calls.set(self.calls.get() + 1);
        Trip {
            rounds: self,
            write,
            issued: None,
        }
    }

    /// Runs `fut` to its end; returns its output and the round trips it waited for.
    pub(crate) fn run<T>(&self, fut: impl Future<Output = T>) -> (T, Trips) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut fut = std::pin::pin!(fut);
        let mut trips = Trips::default();
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return (v, trips);
            }
            let (reads, writes) = (self.waiting_reads.get(), self.waiting_writes.get());
            // Nothing but the store is awaited here; a stall without store calls would loop
            // forever, so it is a bug in the caller.
            assert!(reads + writes > 0, "stalled without a store call");
            self.waiting_reads.set(0);
            self.waiting_writes.set(0);
            self.round.set(self.round.get() + 1);
            if reads > 0 {
                trips.reads += 1;
            } else {
                trips.writes += 1;
            }
        }
    }
}

/// One store call's wait for the round to end.
struct Trip<'a, S> {
    rounds: &'a Rounds<S>,
    write: bool,
    issued: Option<u64>,
}

impl<S> Future for Trip<'_, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let now = self.rounds.round.get();
        match self.issued {
            None => {
                self.issued = Some(now);
                let waiting = if self.write {
                    &self.rounds.waiting_writes
                } else {
                    &self.rounds.waiting_reads
                };
                waiting.set(waiting.get() + 1);
                Poll::Pending
            }
            Some(r) if now > r => Poll::Ready(()),
            Some(_) => Poll::Pending,
        }
    }
}

impl<S: Store> Store for Rounds<S> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.trip(false).await;
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), StoreError> {
        self.trip(true).await;
        self.inner.put(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.trip(true).await;
        self.inner.delete(key).await
    }
}
