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
    Cluster(Arc<dyn ClusterCall<S>>),
}

/// A service reached across nodes (`cluster/route.rs`), seen without its codec bound.
pub(crate) trait ClusterCall<S: Service>: Send + Sync + 'static {
    /// The service's name.
    fn service(&self) -> &str;
    /// Its default deadline.
    fn default_deadline(&self) -> Duration;
    /// Routes and runs one call.
    fn call(
        &self,
        request: S::Request,
        deadline: Instant,
        options: CallOptions,
    ) -> crate::topology::BoxFuture<'_, Reply<S::Response>>;
}

impl<S: Service> Clone for Client<S> {
    fn clone(&self) -> Self {
        let target = match &self.target {
            Target::Pool(p) => Target::Pool(p.clone()),
            Target::Routed(r) => Target::Routed(r.clone()),
            Target::Cluster(c) => Target::Cluster(c.clone()),
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

    pub(crate) fn cluster(route: Arc<dyn ClusterCall<S>>) -> Self {
        Self {
            target: Target::Cluster(route),
        }
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        match &self.target {
            Target::Pool(p) => &p.spec.name,
            Target::Routed(r) => &r.service,
            Target::Cluster(c) => c.service(),
        }
    }

    fn default_deadline(&self) -> Duration {
        match &self.target {
            Target::Pool(p) => p.spec.default_deadline,
            Target::Routed(r) => r.default_deadline,
            Target::Cluster(c) => c.default_deadline(),
        }
    }

    /// Sends `request` with default options and waits for the answer.
    pub async fn call(&self, request: S::Request) -> Reply<S::Response> {
        self.call_with(request, CallOptions::default()).await
    }

    /// Sends `request` with `options` and waits for the answer.
    pub async fn call_with(&self, request: S::Request, options: CallOptions) -> Reply<S::Response> {
        let deadline = Instant::now() + options.timeout.unwrap_or(self.default_deadline());
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
        let result = self
            .route(request, deadline, options)
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            span.record("otel.status_code", "ERROR");
            tracing::debug!(parent: &span, code = e.code().as_str(), "call failed");
        }
        result
    }
}

impl<S: Service> Client<S> {
    /// Runs a call inside the caller's span (no `swarm.call` span of its own): for a
    /// call passed on by a layer that already made one (a node serving a peer).
    pub(crate) async fn dispatch(
        &self,
        request: S::Request,
        options: CallOptions,
    ) -> Reply<S::Response> {
        let deadline = Instant::now() + options.timeout.unwrap_or(self.default_deadline());
        self.route(request, deadline, options).await
    }

    async fn route(
        &self,
        request: S::Request,
        deadline: Instant,
        options: CallOptions,
    ) -> Reply<S::Response> {
        match &self.target {
            Target::Pool(shared) => call_pool(shared, request, deadline, options).await,
            Target::Routed(router) => router.call(request, deadline, options).await,
            Target::Cluster(cluster) => cluster.call(request, deadline, options).await,
        }
    }

    /// The loads of the pools this client reaches in this process (none for a service
    /// reached only on other nodes), for routing between nodes.
    pub(crate) fn local_loads(&self, now: Instant) -> Vec<crate::scheduler::estimate::PoolLoad> {
        match &self.target {
            Target::Pool(shared) => vec![pool_load(shared)],
            Target::Routed(router) => router.pools.iter().map(|p| p.load(now)).collect(),
            Target::Cluster(_) => Vec::new(),
        }
    }

    /// This client's pools' load as a reply frame carries it (summed over its pools).
    pub(crate) fn wire_load(&self) -> crate::cluster::wire::Load {
        let loads = self.local_loads(Instant::now());
        let per_unit = loads
            .iter()
            .filter_map(|l| l.per_unit)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        crate::cluster::wire::Load {
            queued: clamp(loads.iter().map(|l| l.queued).sum()),
            in_flight: clamp(loads.iter().map(|l| l.in_flight).sum()),
            slots: clamp(loads.iter().map(|l| l.slots).sum()),
            per_unit_us: per_unit.map_or(0, |s| (s * 1e6).clamp(1.0, u32::MAX as f64) as u32),
        }
    }
}

/// One pool's load, as the scheduler's rule reads it.
fn pool_load<S: Service>(shared: &Arc<PoolShared<S>>) -> crate::scheduler::estimate::PoolLoad {
    use std::sync::atomic::Ordering::Relaxed;
    let in_flight = shared.metrics.in_flight.load(Relaxed) as usize;
    crate::scheduler::estimate::PoolLoad {
        queued: shared.queue.len(),
        in_flight,
        slots: shared.spec.workers * shared.spec.concurrency,
        per_unit: shared.pace.per_unit(),
        mean_units: shared.pace.mean_units(),
        transfer: 0.0,
        stalled: shared.pace.stalled(in_flight > 0),
        background: 0.0,
        device: crate::scheduler::Device::Cpu,
        eligible: shared.lifecycle() == Lifecycle::Ready
            && shared.metrics.workers.load(Relaxed) > 0,
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
