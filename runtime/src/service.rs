//! The `Service` trait: what a pool's workers run. A service is plain Rust; the runtime
//! gives it a queue, supervised workers, deadlines, metrics and spans.

use std::future::Future;
use std::sync::Arc;

use crate::envelope::{Priority, RequestId};
use crate::error::ServiceError;

/// What a worker knows about the request it is handling.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id.
    pub id: RequestId,
    /// The request's priority.
    pub priority: Priority,
    /// When the caller stops waiting.
    pub deadline: tokio::time::Instant,
    /// Which worker of the pool runs it (0-based slot).
    pub worker: usize,
    /// Whether the request records spans; a call it makes to another service passes
    /// `unsampled: !sampled` on, so the whole request is traced or none of it.
    pub sampled: bool,
    /// The request's point of no return: a handler that changes state commits just
    /// before the change becomes irreversible (see [`Commitment`]).
    pub commitment: crate::commitment::Commitment,
}

/// A service: one instance per worker, created by the pool's factory and re-created on restart.
pub trait Service: Send + 'static {
    /// The request type. `Clone` lets the runtime retry idempotent requests once after a crash.
    type Request: Clone + Send + 'static;
    /// The answer type.
    type Response: Send + 'static;

    /// Handles one request.
    fn handle(
        &mut self,
        request: Self::Request,
        ctx: &RequestContext,
    ) -> impl Future<Output = Result<Self::Response, ServiceError>> + Send;

    /// The request's size in the units its pool's service time is measured in (tokens
    /// for generation, items for embeddings), for the scheduler's estimates when a service
    /// runs on several pools. 1 by default: every request costs the same.
    fn work_units(_request: &Self::Request) -> f64 {
        1.0
    }

    /// A copy that handles another request at the same time, for pools whose workers run
    /// several requests at once (`concurrency` above 1): services that mostly wait (on a
    /// batcher, on another service) return a cheap clone. `None`, the default, keeps the
    /// worker to one request at a time. A copy that panics answers like a crashed worker
    /// and is discarded; the worker itself keeps running.
    fn concurrent_copy(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// Creates a fresh service instance for a worker (at start and at every restart).
pub type ServiceFactory<S> = Arc<dyn Fn() -> Result<S, ServiceError> + Send + Sync>;

/// One metric family a service adds to `/metrics`: its name, help and type, and its sample
/// lines (already labelled with the service). Families of one name from several services
/// are printed as one group.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// `swarm_<area>_<name>_<unit>`.
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// The sample lines, each ending in a newline.
    pub samples: String,
}

/// A service's own figures for `/metrics` (see [`crate::config::Section::metrics_source`]),
/// called with the service's name on every scrape; it must answer at once.
pub type MetricsSource = Arc<dyn Fn(&str) -> Vec<MetricFamily> + Send + Sync>;

/// Seconds of work a pool has taken on outside its queue — jobs it runs in the background
/// after answering (see [`crate::config::Section::load_probe`]). The scheduler adds it to
/// the pool's expected wait, so long background work counts as load. Called on every
/// routing decision: read atomics, nothing more.
pub type LoadProbe = Arc<dyn Fn() -> f64 + Send + Sync>;

/// A service's own health check (see [`crate::config::Section::health_probe`]): `Err` with
/// the reason while the service cannot serve everything it should.
pub type HealthProbe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;
