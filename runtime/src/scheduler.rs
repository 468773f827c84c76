//! ③′ route: a service that runs on several pools (`pools:` in YAML — GPU, CPU, remote)
//! gets a router in front of them. Each request goes to the pool with the soonest
//! estimated completion (`estimate.rs`), skipping pools that are failing, restarting or
//! behind an open circuit breaker (`breaker.rs`); an idle pool takes queued work from a
//! busy sibling when it would finish it sooner (`steal.rs`). Pools are ordinary
//! [`crate::ServicePool`]s; the router only decides which queue a request enters.

mod breaker;
mod device;
pub mod estimate;
mod pace;
mod pooled;
mod router;
mod steal;

pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use device::{Device, DeviceDetector, GpuInfo, present};
pub(crate) use pace::Pace;
pub use pooled::PoolStatus;
pub(crate) use pooled::{AbsentPool, PoolGroup, PooledService, StartedPool};
pub(crate) use router::Router;
pub(crate) use steal::next_request;

/// How a service with several pools picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routing {
    /// The soonest estimated completion, with work stealing (the default).
    #[default]
    Estimate,
    /// Each eligible pool in turn, no stealing (a baseline to compare against).
    RoundRobin,
}

impl Routing {
    /// The name as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Self::Estimate => "estimate",
            Self::RoundRobin => "round_robin",
        }
    }

    /// Parses a YAML name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Estimate, Self::RoundRobin]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// Where one pool of a service runs, as its params parser sees it
/// ([`crate::config::Section::placement`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    /// The pool's name (`default` for a service without `pools:`).
    pub pool: String,
    /// Its device.
    pub device: Device,
    /// The server, for a remote pool.
    pub remote: Option<RemoteTarget>,
}

/// A remote OpenAI-compatible server a pool sends its work to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTarget {
    /// Base URL (`http://10.0.0.5:8000`, `https://api.openai.com`); `/v1/...` is appended.
    pub url: String,
    /// The environment variable holding its API key, if it needs one.
    pub api_key_env: Option<String>,
    /// Requests sent at once.
    pub max_concurrency: usize,
}
