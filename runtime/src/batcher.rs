//! A dynamic batcher any batchable service can use: requests queue; a batch closes when
//! it reaches `max_batch_size`, when adding a request would exceed `max_batch_tokens`, or
//! when its oldest request has waited `max_wait`; up to `max_concurrent_batches` run at
//! once; each caller gets its own result. A request alone over the token budget is
//! refused; a request whose deadline passes while it waits is answered and left out; a
//! failing batch answers every member with the error. At most `max_queued` requests wait
//! to join a batch: past that a submit answers `overloaded` at once.
//!
//! Shape: a cloneable [`Batcher`] handle, a private task that forms batches, and the pure
//! rules in `state.rs`.

mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::config::Section;
use crate::error::{ServiceError, SwarmError};

pub use state::{Admission, BatchPolicy, Forming};

/// Work that runs on many requests at once.
pub trait BatchService: Send + Sync + 'static {
    /// One request.
    type Item: Send + 'static;
    /// One result.
    type Output: Send + 'static;

    /// The request's cost against `max_batch_tokens`.
    fn tokens(&self, item: &Self::Item) -> usize;

    /// The name an `overloaded` answer gives.
    fn name(&self) -> &str {
        "batcher"
    }

    /// Runs a batch; must return one output per item, in order.
    fn run(
        &self,
        items: Vec<Self::Item>,
    ) -> impl Future<Output = Result<Vec<Self::Output>, ServiceError>> + Send;
}

struct Pending<S: BatchService> {
    item: S::Item,
    tokens: usize,
    deadline: Instant,
    arrived: Instant,
    reply: oneshot::Sender<Result<S::Output, SwarmError>>,
}

/// A cloneable handle to a running batcher.
pub struct Batcher<S: BatchService> {
    service: Arc<S>,
    policy: BatchPolicy,
    tx: mpsc::Sender<Pending<S>>,
}

/// The `Retry-After` an overloaded batcher suggests.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl<S: BatchService> Clone for Batcher<S> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            policy: self.policy,
            tx: self.tx.clone(),
        }
    }
}

impl<S: BatchService> Batcher<S> {
    /// Starts the batching task on the current tokio runtime.
    pub fn start(service: Arc<S>, policy: BatchPolicy) -> Self {
        let (tx, rx) = mpsc::channel(policy.max_queued.max(1));
        tokio::spawn(form_batches(service.clone(), policy, rx));
        Self {
            service,
            policy,
            tx,
        }
    }

    /// The limits in force.
    pub fn policy(&self) -> &BatchPolicy {
        &self.policy
    }

    /// Submits one request and waits (until `deadline`) for its result.
    pub async fn submit(&self, item: S::Item, deadline: Instant) -> Result<S::Output, SwarmError> {
        let tokens = self.service.tokens(&item);
        if tokens > self.policy.max_batch_tokens {
            return Err(SwarmError::InvalidRequest(format!(
                "request needs {tokens} tokens; a batch holds at most {}",
                self.policy.max_batch_tokens
            )));
        }
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            item,
            tokens,
            deadline,
            arrived: Instant::now(),
            reply,
        };
        self.tx.try_send(pending).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SwarmError::Overloaded {
                service: self.service.name().to_string(),
                retry_after: RETRY_AFTER,
            },
            mpsc::error::TrySendError::Closed(_) => {
                SwarmError::Unavailable("the batcher has stopped".into())
            }
        })?;
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SwarmError::Internal(
                "the batch was dropped without an answer".into(),
            )),
            Err(_) => Err(SwarmError::DeadlineExceeded),
        }
    }
}

async fn form_batches<S: BatchService>(
    service: Arc<S>,
    policy: BatchPolicy,
    mut rx: mpsc::Receiver<Pending<S>>,
) {
    let running = Arc::new(Semaphore::new(policy.max_concurrent_batches.max(1)));
    let mut forming = Forming::default();
    let mut members: Vec<Pending<S>> = Vec::new();
    let mut carried: Option<Pending<S>> = None;
    loop {
        let next = match carried.take() {
            Some(p) => Some(p),
            None if members.is_empty() => match rx.recv().await {
                Some(p) => Some(p),
                None => return, // every handle is gone
            },
            None => {
                let closes = forming.closes_at(&policy).unwrap_or_else(Instant::now);
                // `None` when max_wait is reached (or every handle is gone): close below.
                tokio::time::timeout_at(closes, rx.recv())
                    .await
                    .ok()
                    .flatten()
            }
        };
        let Some(p) = next else {
            if members.is_empty() {
                continue;
            }
            dispatch(&service, &running, std::mem::take(&mut members)).await;
            forming.reset();
            continue;
        };
        let now = Instant::now();
        if p.deadline <= now {
            let _ = p.reply.send(Err(SwarmError::DeadlineExceeded));
            continue;
        }
        // Members whose callers gave up (deadline, or dropped) must not hold capacity.
        let before = members.len();
        members.retain(|m| m.deadline > now && !m.reply.is_closed());
        if members.len() != before {
            forming.reset();
            for m in &members {
                forming.join(m.tokens, m.arrived);
            }
        }
        match forming.admit(p.tokens, &policy) {
            Admission::TooLarge => {
                let _ = p.reply.send(Err(SwarmError::InvalidRequest(
                    "request exceeds the batch token budget".into(),
                )));
            }
            Admission::CloseThenJoin => {
                carried = Some(p);
                dispatch(&service, &running, std::mem::take(&mut members)).await;
                forming.reset();
            }
            Admission::Join => {
                forming.join(p.tokens, p.arrived);
                members.push(p);
                if forming.is_full(&policy) {
                    dispatch(&service, &running, std::mem::take(&mut members)).await;
                    forming.reset();
                }
            }
        }
    }
}

/// Waits for a free batch slot, then runs the batch on its own task.
async fn dispatch<S: BatchService>(
    service: &Arc<S>,
    running: &Arc<Semaphore>,
    members: Vec<Pending<S>>,
) {
    let Ok(permit) = running.clone().acquire_owned().await else {
        return;
    };
    let now = Instant::now();
    // Deadlines hold inside a batch: whoever expired while waiting is answered now.
    let (live, expired): (Vec<_>, Vec<_>) = members.into_iter().partition(|p| p.deadline > now);
    for p in expired {
        let _ = p.reply.send(Err(SwarmError::DeadlineExceeded));
    }
    if live.is_empty() {
        return;
    }
    let service = service.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let (items, replies): (Vec<_>, Vec<_>) =
            live.into_iter().map(|p| (p.item, p.reply)).unzip();
        let expected = items.len();
        match service.run(items).await {
            Ok(outputs) if outputs.len() == expected => {
                for (reply, out) in replies.into_iter().zip(outputs) {
                    let _ = reply.send(Ok(out));
                }
            }
            Ok(outputs) => {
                let err = SwarmError::Internal(format!(
                    "batch returned {} results for {expected} requests",
                    outputs.len()
                ));
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
            Err(e) => {
                let err = SwarmError::from(e);
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    });
}

impl BatchPolicy {
    /// Reads a `batch:` section (every key optional, defaults as [`BatchPolicy::default`]).
    pub fn read(s: &Section<'_>) -> Self {
        let d = Self::default();
        let policy = Self {
            max_batch_size: s.or("max_batch_size", d.max_batch_size),
            max_wait: s.or("max_wait", d.max_wait),
            max_batch_tokens: s.or("max_batch_tokens", d.max_batch_tokens),
            max_concurrent_batches: s.or("max_concurrent_batches", d.max_concurrent_batches),
            max_queued: s.or("max_queued", d.max_queued),
        };
        for (key, v) in [
            ("max_batch_size", policy.max_batch_size),
            ("max_batch_tokens", policy.max_batch_tokens),
            ("max_concurrent_batches", policy.max_concurrent_batches),
            ("max_queued", policy.max_queued),
        ] {
            if v == 0 {
                s.error(key, "must be at least 1");
            }
        }
        s.stage(
            "batcher",
            format_args!(
                "up to {} items / {} tokens, wait {:?}, {} in parallel, {} queued",
                policy.max_batch_size,
                policy.max_batch_tokens,
                policy.max_wait,
                policy.max_concurrent_batches,
                policy.max_queued
            ),
        );
        policy
    }
}
