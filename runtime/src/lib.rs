//! swarm-runtime: supervised typed actors with bounded queues, a YAML topology and tracing.
//!
//! A request's journey: ① enter through a typed [`Client`] (`client.rs`), ② wait in the
//! service's bounded queue under its [`OverflowPolicy`] (`queue.rs`), ③ run on a
//! supervised worker of the service's pool (`pool.rs`), ④ answer exactly once through
//! the envelope's reply port (`envelope.rs`) — or a typed [`SwarmError`].
//!
//! Embed a swarm: build a [`Registry`] of service types, load a [`SwarmConfig`] from YAML
//! and [`Swarm::start`] it; get clients with [`Swarm::client`]; [`Swarm::shutdown`] drains.

pub mod batcher;
pub mod client;
pub mod cluster;
pub mod commitment;
pub mod config;
pub mod envelope;
pub mod error;
pub mod metrics;
pub mod pool;
pub mod queue;
pub mod scheduler;
pub mod service;
pub mod supervision;
pub mod telemetry;
pub mod topology;

pub use batcher::{BatchPolicy, BatchService, Batcher};
pub use client::{CallOptions, Client};
pub use commitment::Commitment;
pub use config::{ConfigError, ConfigErrors, SwarmConfig};
pub use envelope::{Priority, Reply, RequestId};
pub use error::{ErrorCode, ServiceError, SwarmError};
pub use pool::{DrainReport, Health, Lifecycle, PoolSpec, ServicePool};
pub use queue::OverflowPolicy;
pub use service::{
    HealthProbe, LoadProbe, MetricFamily, MetricsSource, RequestContext, Service, ServiceFactory,
};
pub use supervision::{Backoff, RestartIntensity, RestartStrategy, SupervisionConfig};
pub use topology::{Dependency, Registry, Swarm};
