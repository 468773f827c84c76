//! A worker actor: pulls envelopes from the pool's queue and runs the service, one at a
//! time — or, when the pool's `concurrency` is above 1 and the service gives
//! [`Service::concurrent_copy`], up to `concurrency` at once, each on a copy in its own
//! task. A panic in the service unwinds through [`InFlight`], which answers (or retries
//! once) the request it held; in the worker itself ractor then reports the failure to the
//! pool's supervisor, while a panicking copy is only discarded.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::{Env, PoolShared};
use crate::envelope::{Envelope, Meta, ReplyPort};
use crate::error::SwarmError;
use crate::service::{RequestContext, Service};

/// Requests a worker handles before returning to its mailbox.
const REQUESTS_PER_TURN: usize = 64;

/// The worker's only message: take the next requests.
pub(crate) struct Pull;

// Local only: never sent to another node.
impl ractor::Message for Pull {}

pub(crate) struct Worker<S>(PhantomData<fn() -> S>);

impl<S> Worker<S> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

pub(crate) struct WorkerState<S: Service> {
    service: S,
    slot: usize,
    shared: Arc<PoolShared<S>>,
    /// Free places for concurrent copies; `None` runs one request at a time.
    copies: Option<Arc<Semaphore>>,
}

impl<S: Service> Actor for Worker<S> {
    type Msg = Pull;
    type State = WorkerState<S>;
    type Arguments = (usize, Arc<PoolShared<S>>);

    async fn pre_start(
        &self,
        _myself: ActorRef<Pull>,
        (slot, shared): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let service = (shared.factory)()?;
        let concurrency = shared.spec.concurrency;
        let copies = (concurrency > 1 && service.concurrent_copy().is_some())
            .then(|| Arc::new(Semaphore::new(concurrency)));
        Ok(WorkerState {
            service,
            slot,
            shared,
            copies,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Pull>,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        Ok(myself.send_message(Pull)?)
    }

    async fn handle(
        &self,
        myself: ActorRef<Pull>,
        _msg: Pull,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let shared = state.shared.clone();
        // Several requests per mailbox turn: a ractor message per request would double
        // the cost of a round trip; returning now and then keeps the mailbox served.
        for _ in 0..REQUESTS_PER_TURN {
            let place = match &state.copies {
                Some(copies) => match copies.clone().acquire_owned().await {
                    Ok(permit) => Some(permit),
                    Err(_) => return Ok(()),
                },
                None => None,
            };
            let Some(env) = crate::scheduler::next_request(&shared).await else {
                return Ok(());
            };
            match place.and_then(|p| Some((p, state.service.concurrent_copy()?))) {
                Some((permit, mut copy)) => {
                    let (shared, slot) = (shared.clone(), state.slot);
                    tokio::spawn(async move {
                        let _place = permit;
                        serve(&mut copy, slot, &shared, env).await;
                    });
                }
                None => serve(&mut state.service, state.slot, &shared, env).await,
            }
        }
        Ok(myself.send_message(Pull)?)
    }
}

/// Runs one request on `service` and answers it (or lets [`InFlight`] answer a crash).
async fn serve<S: Service>(
    service: &mut S,
    slot: usize,
    shared: &Arc<PoolShared<S>>,
    mut env: Env<S>,
) {
    let metrics = &shared.metrics;
    // Closing the queue-wait span marks the moment a worker took the request.
    env.queue_span = tracing::Span::none();
    metrics.queue_wait.observe(env.enqueued.elapsed());
    if tokio::time::Instant::now() >= env.deadline {
        env.answer(Err(SwarmError::DeadlineExceeded));
        end_in_flight(shared);
        return;
    }
    if metrics.in_flight.load(SeqCst) <= 1 {
        shared.pace.progressed();
    }
    let (message, port, meta) = env.open();
    let units = S::work_units(&message);
    let pool = shared.spec.pool.as_deref().unwrap_or_default();
    let span = tracing::info_span!(parent: &meta.span, "worker",
            service = %shared.spec.name, pool, worker = slot, request_id = %meta.id, attempt = meta.attempt);
    let ctx = RequestContext {
        id: meta.id,
        priority: meta.priority,
        deadline: meta.deadline,
        worker: slot,
        sampled: !span.is_disabled(),
        commitment: meta.commitment.clone(),
    };
    let retry_copy = (shared.spec.idempotent && meta.attempt == 0).then(|| message.clone());
    let mut guard = InFlight::new(shared.clone(), port, meta, retry_copy);
    // The caller's own timer enforces the deadline; when it fires (or the caller goes
    // away) the reply port closes and the handler is cancelled, freeing the worker
    // without a second timer per request.
    let started = tokio::time::Instant::now();
    let outcome = tokio::select! {
        biased;
        result = service.handle(message, &ctx).instrument(span) => Some(result),
        () = guard.caller_gone() => None,
    };
    if let Some(Ok(_)) = &outcome {
        shared.pace.observe(units, started.elapsed());
    }
    shared.pace.progressed();
    let reply = match outcome {
        Some(result) => result.map_err(SwarmError::from),
        None => Err(SwarmError::DeadlineExceeded),
    };
    guard.finish(reply);
}

/// Holds the reply port while a worker runs a request (and its in-flight count). Dropped without `finish` (a panic,
/// or the worker killed), it answers `WorkerCrashed` / `Unavailable`, or requeues an
/// idempotent request once.
struct InFlight<S: Service> {
    shared: Arc<PoolShared<S>>,
    parts: Option<(ReplyPort<S::Response>, Meta)>,
    retry_copy: Option<S::Request>,
}

impl<S: Service> InFlight<S> {
    fn new(
        shared: Arc<PoolShared<S>>,
        port: ReplyPort<S::Response>,
        meta: Meta,
        retry_copy: Option<S::Request>,
    ) -> Self {
        Self {
            shared,
            parts: Some((port, meta)),
            retry_copy,
        }
    }

    /// Completes when the caller no longer waits for this request.
    async fn caller_gone(&mut self) {
        match self.parts.as_mut() {
            Some((port, _)) => port.closed().await,
            None => std::future::pending().await,
        }
    }

    fn finish(mut self, reply: Result<S::Response, SwarmError>) {
        if let Some((port, _)) = self.parts.take() {
            port.send(reply);
        }
        self.done();
    }

    fn done(&self) {
        end_in_flight(&self.shared);
    }
}

/// Ends a request's in-flight count (started by the queue's `pop`); wakes a drain.
fn end_in_flight<S: Service>(shared: &PoolShared<S>) {
    shared.metrics.in_flight.fetch_sub(1, SeqCst);
    // Only a drain waits for progress; skipping the wake-up otherwise keeps the hot path
    // free of Notify's lock. The drain sets its state before reading in_flight (SeqCst).
    if shared.is_winding_down() {
        shared.progress.notify_waiters();
    }
}

impl<S: Service> Drop for InFlight<S> {
    fn drop(&mut self) {
        let Some((port, mut meta)) = self.parts.take() else {
            return;
        };
        self.done();
        if self.shared.is_winding_down() {
            port.send(Err(SwarmError::Unavailable(format!(
                "service `{}` shut down while handling the request",
                self.shared.spec.name
            ))));
            return;
        }
        match self.retry_copy.take() {
            Some(message) => {
                meta.attempt += 1;
                tracing::warn!(parent: &meta.span, service = %self.shared.spec.name, "worker crashed; retrying idempotent request once");
                if let Err(env) = self
                    .shared
                    .queue
                    .requeue(Envelope::close(message, port, meta))
                {
                    env.answer(Err(SwarmError::WorkerCrashed));
                }
            }
            None => port.send(Err(SwarmError::WorkerCrashed)),
        }
    }
}
