//! Handing accepted streams to workers: each worker has its own channel,
//! and every stream goes to the worker with the fewest open connections
//! (ties in turn), skipping workers at their connection limit.
//!
//! Connections are long-lived, so it is at accept time that load spreads.
//! A worker whose thread is stuck in a blocking handler has a connection
//! open and is passed over while another has fewer; with one shared queue,
//! that worker could take the next stream while another sat idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rstream_core::incoming::Connection;
use tokio::sync::{Notify, mpsc};

/// What the worker side needs: its streams and its load counter.
#[derive(Debug)]
pub(crate) struct WorkerInbox<T = Connection> {
    pub(crate) streams: mpsc::UnboundedReceiver<T>,
    pub(crate) load: Load,
}

/// A worker's count of open connections, shared with the dispatcher.
#[derive(Clone, Debug)]
pub(crate) struct Load {
    open: Arc<AtomicUsize>,
    freed: Arc<Notify>,
}

impl Load {
    /// One connection of this worker ended.
    pub(crate) fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.freed.notify_one();
    }
}

#[derive(Debug)]
struct Slot<T> {
    streams: Option<mpsc::UnboundedSender<T>>,
    open: Arc<AtomicUsize>,
}

/// The accept side: sends each stream to a worker. Dropping it closes every
/// worker's channel.
#[derive(Debug)]
pub(crate) struct Dispatcher<T = Connection> {
    slots: Vec<Slot<T>>,
    next: usize,
    max_per_worker: usize,
    freed: Arc<Notify>,
}

/// Every worker is gone; the stream could not be handed over.
#[derive(Debug)]
pub(crate) struct NoWorkers;

impl<T> Dispatcher<T> {
    /// A dispatcher for no worker yet, allowing `max_per_worker` open
    /// connections each.
    pub(crate) fn new(max_per_worker: usize) -> Self {
        Dispatcher {
            slots: Vec::new(),
            next: 0,
            max_per_worker: max_per_worker.max(1),
            freed: Arc::new(Notify::new()),
        }
    }

    /// Adds a worker and gives its side.
    pub(crate) fn add_worker(&mut self) -> WorkerInbox<T> {
        let (sender, streams) = mpsc::unbounded_channel();
        let open = Arc::new(AtomicUsize::new(0));
        self.slots.push(Slot {
            streams: Some(sender),
            open: Arc::clone(&open),
        });
        WorkerInbox {
            streams,
            load: Load {
                open,
                freed: Arc::clone(&self.freed),
            },
        }
    }

    /// Hands `stream` to the least loaded worker, waiting while all are at
    /// their limit.
    pub(crate) async fn dispatch(&mut self, mut stream: T) -> Result<(), NoWorkers> {
        loop {
            // Registered before looking, so no release goes unnoticed.
            let freed = Arc::clone(&self.freed);
            let freed = freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();

            let Some(index) = self.pick() else {
                if self.slots.iter().all(|slot| slot.streams.is_none()) {
                    return Err(NoWorkers);
                }
                freed.await;
                continue;
            };
            let slot = &mut self.slots[index];
            let Some(sender) = &slot.streams else {
                continue;
            };
            slot.open.fetch_add(1, Ordering::AcqRel);
            match sender.send(stream) {
                Ok(()) => {
                    self.next = (index + 1) % self.slots.len();
                    return Ok(());
                }
                Err(returned) => {
                    // The worker's thread ended: never pick it again.
                    slot.open.fetch_sub(1, Ordering::AcqRel);
                    slot.streams = None;
                    stream = returned.0;
                }
            }
        }
    }

    /// The live worker with the fewest open connections below the limit,
    /// looking from the one after the last chosen.
    fn pick(&self) -> Option<usize> {
        let count = self.slots.len();
        let mut best: Option<(usize, usize)> = None;
        for step in 0..count {
            let index = (self.next + step) % count;
            let slot = &self.slots[index];
            if slot.streams.is_none() {
                continue;
            }
            let open = slot.open.load(Ordering::Acquire);
            if open < self.max_per_worker && best.is_none_or(|(_, fewest)| open < fewest) {
                best = Some((index, open));
            }
        }
        best.map(|(index, _)| index)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt as _;

    use super::*;

    #[tokio::test]
    async fn streams_go_in_turn_to_equally_loaded_workers() {
        let mut dispatcher = Dispatcher::new(10);
        let mut a = dispatcher.add_worker();
        let mut b = dispatcher.add_worker();
        for n in 0..4 {
            dispatcher.dispatch(n).await.unwrap();
        }
        assert_eq!(a.streams.try_recv().ok(), Some(0));
        assert_eq!(b.streams.try_recv().ok(), Some(1));
        assert_eq!(a.streams.try_recv().ok(), Some(2));
        assert_eq!(b.streams.try_recv().ok(), Some(3));
    }

    #[tokio::test]
    async fn the_least_loaded_worker_is_chosen() {
        let mut dispatcher = Dispatcher::new(10);
        let mut a = dispatcher.add_worker();
        let mut b = dispatcher.add_worker();
        dispatcher.dispatch(0).await.unwrap();
        dispatcher.dispatch(1).await.unwrap();
        b.load.release();
        // a has one open, b none: b is chosen although it is a's turn.
        dispatcher.dispatch(2).await.unwrap();
        assert_eq!(a.streams.try_recv().ok(), Some(0));
        assert_eq!(b.streams.try_recv().ok(), Some(1));
        assert_eq!(b.streams.try_recv().ok(), Some(2));
    }

    #[tokio::test]
    async fn a_full_worker_holds_the_dispatcher_back_until_one_closes() {
        let mut dispatcher = Dispatcher::new(1);
        let mut a = dispatcher.add_worker();
        dispatcher.dispatch(0).await.unwrap();
        {
            let second = dispatcher.dispatch(1);
            tokio::pin!(second);
            assert!(second.as_mut().now_or_never().is_none());
            a.load.release();
            tokio::time::timeout(Duration::from_secs(5), second)
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(a.streams.try_recv().ok(), Some(0));
        assert_eq!(a.streams.try_recv().ok(), Some(1));
    }

    #[tokio::test]
    async fn gone_workers_are_skipped_then_reported() {
        let mut dispatcher = Dispatcher::new(10);
        let a = dispatcher.add_worker();
        let mut b = dispatcher.add_worker();
        drop(a);
        dispatcher.dispatch(0).await.unwrap();
        dispatcher.dispatch(1).await.unwrap();
        assert_eq!(b.streams.try_recv().ok(), Some(0));
        assert_eq!(b.streams.try_recv().ok(), Some(1));
        drop(b);
        assert!(dispatcher.dispatch(2).await.is_err());
    }

    #[tokio::test]
    async fn dropping_the_dispatcher_closes_the_workers_channels() {
        let mut dispatcher = Dispatcher::new(10);
        let mut a = dispatcher.add_worker();
        dispatcher.dispatch(7).await.unwrap();
        drop(dispatcher);
        assert_eq!(a.streams.recv().await, Some(7));
        assert_eq!(a.streams.recv().await, None);
    }
}
