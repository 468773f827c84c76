//! ② wait: a bounded queue in front of a service's workers. ractor mailboxes are
//! unbounded, so admission control lives here: when the queue is full the service's
//! [`OverflowPolicy`] decides, and every refused or evicted caller is told why. Requests
//! wait in one FIFO per [`crate::Priority`] under one shared capacity (`queue/levels.rs`):
//! workers take the most urgent first.
//!
//! flume holds the items (MPMC, `try_recv` for eviction), but waiting uses tokio
//! primitives: flume's async receive can lose a wake-up when several receivers wait
//! (flume issues #124, #172), which left a request queued beside an idle worker.
//! `items` counts queued requests (one permit per push), `space` wakes blocked senders.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::envelope::Rejectable;
use levels::Levels;

mod levels;
use crate::error::SwarmError;
use crate::metrics::ServiceMetrics;

/// What to do with a request that arrives when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Wait for room until the request's deadline, then answer `DeadlineExceeded`.
    #[default]
    Block,
    /// Refuse the new request at once with `Overloaded` and a `Retry-After` hint.
    Reject,
    /// Evict the oldest queued request (its caller gets `Dropped`) and admit the new one.
    DropOldest,
    /// Drop the new request (its caller gets `Dropped`), keeping what is queued.
    DropNewest,
}

impl OverflowPolicy {
    /// The policy's name as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Reject => "reject",
            Self::DropOldest => "drop_oldest",
            Self::DropNewest => "drop_newest",
        }
    }

    /// Parses a YAML name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Block,
            Self::Reject,
            Self::DropOldest,
            Self::DropNewest,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

/// A bounded multi-producer, multi-consumer queue with an overflow policy.
pub(crate) struct BoundedQueue<E> {
    service: String,
    levels: Levels<E>,
    policy: OverflowPolicy,
    accepting: AtomicBool,
    pushers: AtomicUsize,
    closed: Notify,
    items: Semaphore,
    space: Notify,
    metrics: Arc<ServiceMetrics>,
    /// Woken on every push when the service runs on several pools, so idle workers of
    /// sibling pools can consider taking the work.
    pub(crate) on_push: std::sync::OnceLock<Arc<Notify>>,
}

impl<E: Rejectable> BoundedQueue<E> {
    pub(crate) fn new(
        service: &str,
        capacity: usize,
        policy: OverflowPolicy,
        metrics: Arc<ServiceMetrics>,
    ) -> Self {
        Self {
            service: service.to_string(),
            levels: Levels::new(capacity),
            policy,
            accepting: AtomicBool::new(true),
            pushers: AtomicUsize::new(0),
            closed: Notify::new(),
            items: Semaphore::new(0),
            space: Notify::new(),
            metrics,
            on_push: std::sync::OnceLock::new(),
        }
    }

    /// Waits for the next request (workers call this) and counts it in flight; the
    /// caller must end that count. `None` once the queue is gone.
    pub(crate) async fn pop(&self) -> Option<E> {
        loop {
            // One permit per pushed item; items evicted or drained leave a spare permit,
            // which costs one extra turn of this loop.
            self.items.acquire().await.ok()?.forget();
            // Counted in flight before it leaves the queue, so a drain never sees a
            // request that is in neither place.
            self.metrics.in_flight.fetch_add(1, SeqCst);
            match self.levels.pop() {
                Some(item) => {
                    if self.policy == OverflowPolicy::Block {
                        self.space.notify_one();
                    }
                    return Some(item);
                }
                None => {
                    self.metrics.in_flight.fetch_sub(1, SeqCst);
                }
            }
        }
    }

    fn pushed(&self) {
        self.items.add_permits(1);
        if let Some(n) = self.on_push.get() {
            n.notify_waiters();
        }
    }

    /// The next request if one is queued now, counted in flight like [`Self::pop`].
    pub(crate) fn try_pop(&self) -> Option<E> {
        while let Ok(permit) = self.items.try_acquire() {
            permit.forget();
            self.metrics.in_flight.fetch_add(1, SeqCst);
            if let Some(item) = self.levels.pop() {
                if self.policy == OverflowPolicy::Block {
                    self.space.notify_one();
                }
                return Some(item);
            }
            // A spare permit (evicted or stolen item): try the next one.
            self.metrics.in_flight.fetch_sub(1, SeqCst);
        }
        None
    }

    /// Takes the oldest queued request away to another pool (work stealing); the permit
    /// it leaves behind costs one of this queue's workers an extra turn.
    pub(crate) fn try_take(&self) -> Option<E> {
        let item = self.levels.pop()?;
        if self.policy == OverflowPolicy::Block {
            self.space.notify_one();
        }
        Some(item)
    }

    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.levels.capacity()
    }

    /// A rough time until capacity frees up: mean latency × queued / capacity, at least 1 s.
    pub(crate) fn retry_after(&self) -> Duration {
        let n = self.metrics.latency.count().max(1);
        let mean = Duration::from_nanos(self.metrics_sum_nanos() / n);
        (mean * self.len() as u32)
            .max(Duration::from_secs(1))
            .min(Duration::from_secs(60))
    }

    fn metrics_sum_nanos(&self) -> u64 {
        self.metrics.latency_sum_nanos()
    }

    /// Admits `item` or refuses it according to the policy. On `Err` the item is gone and
    /// the error is what its caller must be told.
    pub(crate) async fn push(&self, item: E, deadline: Instant) -> Result<(), SwarmError> {
        self.pushers.fetch_add(1, SeqCst);
        let result = self.admit(item, deadline).await;
        self.pushers.fetch_sub(1, SeqCst);
        match &result {
            Ok(()) => self.metrics.accepted.fetch_add(1, SeqCst),
            Err(SwarmError::Dropped { .. }) => self.metrics.dropped.fetch_add(1, SeqCst),
            Err(SwarmError::DeadlineExceeded) => {
                self.metrics.deadline_exceeded.fetch_add(1, SeqCst)
            }
            Err(_) => self.metrics.rejected.fetch_add(1, SeqCst),
        };
        result
    }

    async fn admit(&self, item: E, deadline: Instant) -> Result<(), SwarmError> {
        if !self.accepting.load(SeqCst) {
            return Err(self.unavailable());
        }
        let priority = item.priority();
        let item = match self.levels.try_push(item, priority) {
            Ok(()) => {
                self.pushed();
                return Ok(());
            }
            Err(item) => item,
        };
        match self.policy {
            OverflowPolicy::Reject => Err(SwarmError::Overloaded {
                service: self.service.clone(),
                retry_after: self.retry_after(),
            }),
            OverflowPolicy::DropNewest => Err(self.dropped()),
            OverflowPolicy::DropOldest => self.evict_oldest_and_push(item),
            OverflowPolicy::Block => self.wait_for_room(item, deadline).await,
        }
    }

    async fn wait_for_room(&self, mut item: E, deadline: Instant) -> Result<(), SwarmError> {
        loop {
            // Register for a wake-up before trying, so a slot freed in between is not missed.
            let room = self.space.notified();
            let closed = self.closed.notified();
            tokio::pin!(room, closed);
            room.as_mut().enable();
            closed.as_mut().enable();
            if !self.accepting.load(SeqCst) {
                return Err(self.unavailable());
            }
            let priority = item.priority();
            match self.levels.try_push(item, priority) {
                Ok(()) => {
                    self.pushed();
                    return Ok(());
                }
                Err(back) => item = back,
            }
            tokio::select! {
                () = room => {}
                () = closed => return Err(self.unavailable()),
                () = tokio::time::sleep_until(deadline) => return Err(SwarmError::DeadlineExceeded),
            }
        }
    }

    /// Evicts the oldest request of the lowest priority (never a more urgent one than
    /// `item`; when all queued are more urgent, `item` itself is dropped).
    fn evict_oldest_and_push(&self, mut item: E) -> Result<(), SwarmError> {
        let priority = item.priority();
        loop {
            match self.levels.evict(priority) {
                Some(oldest) => {
                    self.metrics.dropped.fetch_add(1, SeqCst);
                    oldest.reject(self.dropped());
                }
                None if self.levels.len() >= self.levels.capacity() => {
                    return Err(self.dropped());
                }
                None => {}
            }
            match self.levels.try_push(item, priority) {
                Ok(()) => {
                    self.pushed();
                    return Ok(());
                }
                Err(back) => item = back,
            }
        }
    }

    fn dropped(&self) -> SwarmError {
        SwarmError::Dropped {
            service: self.service.clone(),
            policy: self.policy.name(),
            retry_after: self.retry_after(),
        }
    }

    fn unavailable(&self) -> SwarmError {
        SwarmError::Unavailable(format!(
            "service `{}` is not accepting requests",
            self.service
        ))
    }

    /// Puts a request back (a retry after a crash) without policy checks; refuses when full.
    pub(crate) fn requeue(&self, item: E) -> Result<(), E> {
        let priority = item.priority();
        self.levels.try_push(item, priority)?;
        self.pushed();
        Ok(())
    }

    /// Stops admitting requests and waits until no push is half-way through.
    pub(crate) async fn close(&self) {
        self.accepting.store(false, SeqCst);
        self.closed.notify_waiters();
        while self.pushers.load(SeqCst) > 0 {
            self.closed.notify_waiters();
            tokio::task::yield_now().await;
        }
    }

    /// Answers every queued request with `err`; returns how many there were.
    pub(crate) fn drain_with(&self, err: &SwarmError) -> usize {
        let mut n = 0;
        while let Some(item) = self.levels.pop() {
            item.reject(err.clone());
            n += 1;
        }
        self.space.notify_waiters();
        n
    }
}
