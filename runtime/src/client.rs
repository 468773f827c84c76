//! ① enter: a typed client for one service. `call` wraps the request in an envelope,
//! admits it through the queue's overflow policy and waits for the answer until the
//! deadline. Every call ends in a reply or a [`SwarmError`].

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::envelope::{Envelope, Priority, Reply};
use crate::error::SwarmError;
use crate::pool::{Lifecycle, PoolShared};
use crate::scheduler::Router;
use crate::service::Service;
use crate::telemetry;

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// How long the caller waits; the service's default deadline when `None`.
    pub timeout: Option<Duration>,
    /// The request's priority.
    pub priority: Priority,
    /// The caller's W3C `traceparent`, carried with the request.
    pub traceparent: Option<String>,
    /// The request is not sampled: create no spans for it (set by the gateway for an
    /// unsampled request, and by a service passing its request on).
    pub unsampled: bool,
}

/// A cloneable, typed handle to one service: its queue, or the router in front of its
/// pools when it runs on several.
pub struct Client<S: Service> {
    target: Target<S>,
}

enum Target<S: Service> {
    Pool(Arc<PoolShared<S>>),
    Routed(Arc<Router<S>>),
}

impl<S: Service> Clone for Client<S> {
    fn clone(&self) -> Self {
        let target = match &self.target {
            Target::Pool(p) => Target::Pool(p.clone()),
            Target::Routed(r) => Target::Routed(r.clone()),
        };
        Self { target }
    }
}

impl<S: Service> Client<S> {
    pub(crate) fn new(shared: Arc<PoolShared<S>>) -> Self {
        Self {
            target: Target::Pool(shared),
        }
    }

    pub(crate) fn routed(router: Arc<Router<S>>) -> Self {
        Self {
            target: Target::Routed(router),
        }
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        match &self.target {
            Target::Pool(p) => &p.spec.name,
            Target::Routed(r) => &r.service,
        }
    }

    /// Sends `request` with default options and waits for the answer.
    pub async fn call(&self, request: S::Request) -> Reply<S::Response> {
        self.call_with(request, CallOptions::default()).await
    }

    /// Sends `request` with `options` and waits for the answer.
    pub async fn call_with(&self, request: S::Request, options: CallOptions) -> Reply<S::Response> {
        let default_deadline = match &self.target {
            Target::Pool(p) => p.spec.default_deadline,
            Target::Routed(r) => r.default_deadline,
        };
        let deadline = Instant::now() + options.timeout.unwrap_or(default_deadline);
        let span = if options.unsampled {
            tracing::Span::none()
        } else {
            let root = tracing::Span::current().is_disabled();
            let span = tracing::info_span!("swarm.call", service = %self.service(),
                priority = ?options.priority, pool = tracing::field::Empty,
                route = tracing::field::Empty, otel.status_code = tracing::field::Empty);
            // A call without a parent is a root: the sampler decides for all of it.
            if root && !telemetry::records(&span) {
                tracing::Span::none()
            } else {
                span
            }
        };
        let result = match &self.target {
            Target::Pool(shared) => {
                call_pool(shared, request, deadline, options)
                    .instrument(span.clone())
                    .await
            }
            Target::Routed(router) => {
                router
                    .call(request, deadline, options)
                    .instrument(span.clone())
                    .await
            }
        };
        if let Err(e) = &result {
            span.record("otel.status_code", "ERROR");
            tracing::debug!(parent: &span, code = e.code().as_str(), "call failed");
        }
        result
    }
}

/// Sends `request` into one pool's queue and waits for its answer until `deadline`.
pub(crate) async fn call_pool<S: Service>(
    shared: &Arc<PoolShared<S>>,
    request: S::Request,
    deadline: Instant,
    options: CallOptions,
) -> Reply<S::Response> {
    let reply = call_inner(shared, request, deadline, options).await;
    if let Err(e) = &reply {
        shared.metrics.record_error(e.code());
    }
    reply
}

async fn call_inner<S: Service>(
    shared: &Arc<PoolShared<S>>,
    request: S::Request,
    deadline: Instant,
    options: CallOptions,
) -> Reply<S::Response> {
    if shared.lifecycle() != Lifecycle::Ready {
        shared.metrics.rejected.fetch_add(1, SeqCst);
        return Err(SwarmError::Unavailable(format!(
            "service `{}` is {:?}",
            shared.spec.name,
            shared.lifecycle()
        )));
    }
    let started = Instant::now();
    let (mut envelope, answer) = Envelope::new(
        request,
        deadline,
        options.priority,
        tracing::Span::current(),
        options.traceparent,
    );
    if !envelope.span.is_disabled() {
        envelope.queue_span = tracing::info_span!("queue.wait", service = %shared.spec.name, request_id = %envelope.id);
    }
    let commitment = envelope.commitment.clone();
    shared.queue.push(envelope, deadline).await?;
    let mut answer = answer;
    let answered = match tokio::time::timeout_at(deadline, &mut answer).await {
        Ok(answered) => Some(answered),
        // Work past its point of no return is waited for: its caller learns the result.
        Err(_) if !commitment.abandon() => Some(answer.await),
        Err(_) => None,
    };
    let reply = match answered {
        Some(Ok(reply)) => reply,
        Some(Err(_)) if shared.is_winding_down() => Err(SwarmError::Unavailable(format!(
            "service `{}` shut down",
            shared.spec.name
        ))),
        Some(Err(_)) => Err(SwarmError::WorkerCrashed),
        None => Err(SwarmError::DeadlineExceeded),
    };
    let m = &shared.metrics;
    m.latency.observe(started.elapsed());
    match &reply {
        Ok(_) => m.succeeded.fetch_add(1, SeqCst),
        Err(SwarmError::DeadlineExceeded) => m.deadline_exceeded.fetch_add(1, SeqCst),
        Err(SwarmError::Dropped { .. }) => 0, // counted by the queue when it evicted
        Err(_) => m.failed.fetch_add(1, SeqCst),
    };
    reply
}
