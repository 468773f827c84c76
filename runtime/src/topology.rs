//! Config → running swarm. A [`Registry`] maps `type:` names to service parsers and
//! top-level sections to component parsers (`registry.rs`); [`Swarm`] starts the plan,
//! hands out clients and shuts it down (`running.rs`); `graph.rs` draws the plan.

mod builder;
pub(crate) mod dependency;
mod graph;
mod pools;
pub(crate) mod registry;
mod running;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::ActorCell;

use crate::error::SwarmError;
use crate::metrics::{QueueGauge, ServiceMetrics};
use crate::pool::{DrainReport, Health, PoolSpec, ServicePool};
use crate::service::Service;

pub use builder::{BuildError, PoolOptions, ServiceOptions, ServiceParams, SwarmBuilder, duration};
pub use dependency::Dependency;
pub use graph::{render_dot, render_text};
pub use registry::{Attachments, Registry, ServiceTypeRegistration};
pub use running::{ClusterView, RunningServiceInfo, ShutdownReport, Swarm, wait_for_signal};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Starts one planned service's pool under a parent supervisor.
pub(crate) type ServiceStarter = Arc<
    dyn Fn(
            PoolSpec,
            Option<ActorCell>,
        ) -> BoxFuture<'static, Result<Arc<dyn RunningService>, SwarmError>>
        + Send
        + Sync,
>;

/// Wraps a service for a cluster (its local pools or none, its spec, the node's directory).
pub(crate) type ClusterWrapper = Arc<
    dyn Fn(
            PoolSpec,
            Option<Arc<dyn RunningService>>,
            Arc<crate::cluster::directory::Directory>,
        ) -> BoxFuture<'static, Result<Arc<dyn RunningService>, SwarmError>>
        + Send
        + Sync,
>;

/// Puts a router in front of a service's started pools (typed by the service's type).
pub(crate) type GroupStarter = Arc<
    dyn Fn(crate::scheduler::PoolGroup) -> Result<Arc<dyn RunningService>, SwarmError>
        + Send
        + Sync,
>;

/// A started service, seen without its types (for health, metrics, shutdown, lookup).
pub trait RunningService: Send + Sync + 'static {
    /// The pool's shape.
    fn spec(&self) -> &PoolSpec;
    /// Checks the service's health.
    fn check(&self) -> BoxFuture<'_, Health>;
    /// The figures of each of its pools, with their label sets (`service="echo"`; with
    /// several pools, `service="llm",pool="cpu"`).
    fn metric_rows(&self, service: &str) -> Vec<(String, &ServiceMetrics, QueueGauge)>;
    /// Families of its own beyond the per-pool figures (the scheduler's).
    fn families(&self, _service: &str) -> Vec<crate::service::MetricFamily> {
        Vec::new()
    }
    /// Its pools, when it runs on several.
    fn pools(&self) -> Vec<crate::scheduler::PoolStatus> {
        Vec::new()
    }
    /// Drains and stops the service.
    fn shutdown(&self, grace: Duration) -> BoxFuture<'_, DrainReport>;
    /// For downcasting to the typed [`ServicePool`].
    fn as_any(&self) -> &dyn Any;
}

impl<S: Service> RunningService for ServicePool<S> {
    fn spec(&self) -> &PoolSpec {
        ServicePool::spec(self)
    }
    fn check(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move { self.health() })
    }
    fn metric_rows(&self, service: &str) -> Vec<(String, &ServiceMetrics, QueueGauge)> {
        vec![(
            format!("service=\"{service}\""),
            ServicePool::metrics(self),
            ServicePool::queue_gauge(self),
        )]
    }
    fn shutdown(&self, grace: Duration) -> BoxFuture<'_, DrainReport> {
        Box::pin(ServicePool::shutdown(self, grace))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A client of a started service of type `S` (one pool or a routed group), if it is one.
pub(crate) fn client_of<S: Service>(running: &dyn Any) -> Option<crate::Client<S>> {
    running
        .downcast_ref::<ServicePool<S>>()
        .map(ServicePool::client)
        .or_else(|| {
            running
                .downcast_ref::<crate::scheduler::PooledService<S>>()
                .map(|p| crate::Client::routed(p.router()))
        })
        .or_else(|| {
            running
                .downcast_ref::<crate::cluster::service::ClusterService<S>>()
                .map(crate::cluster::service::ClusterService::client)
        })
}

/// A part of the swarm that is not a worker pool (the gateway): configured by its own
/// top-level YAML section, started after the services, stopped before them.
pub trait Component: Send + Sync + 'static {
    /// One line for `swarm graph` (e.g. the listen address).
    fn summary(&self) -> String;
    /// Starts the component with access to the swarm's services.
    fn start(
        &self,
        swarm: Swarm,
    ) -> BoxFuture<'static, Result<Box<dyn RunningComponent>, SwarmError>>;
}

/// A started component.
pub trait RunningComponent: Send + Sync + 'static {
    /// One line for the ready message (e.g. `gateway listening on http://127.0.0.1:8080`).
    fn ready_line(&self) -> String;
    /// Stops taking new work; work in progress continues.
    fn begin_shutdown(&self);
    /// Waits until the component has stopped.
    fn stopped(&self) -> BoxFuture<'_, ()>;
}
