//! A swarm described in Rust instead of YAML: [`SwarmBuilder`] writes the same tree a
//! YAML file would give and validates it with the same reader, so a builder and a file
//! accept and refuse exactly the same things, with the same messages and key paths.
//!
//! ```no_run
//! # async fn demo(registry: swarm_runtime::Registry) -> Result<(), Box<dyn std::error::Error>> {
//! use swarm_runtime::topology::{ServiceOptions, SwarmBuilder};
//! let swarm = SwarmBuilder::new("demo")
//!     .service_with("echo", "echo", serde_json::json!({}), ServiceOptions::new().workers(2))
//!     .start(&registry)
//!     .await?;
//! # swarm.shutdown().await; Ok(()) }
//! ```

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::{Registry, Swarm};
use crate::config::yaml::{Key, Node, Pos, Value};
use crate::config::{ConfigError, ConfigErrors, SwarmConfig};
use crate::error::SwarmError;
use crate::queue::OverflowPolicy;

/// A service type's params as a Rust value: its type name and its `params` section.
pub trait ServiceParams: Serialize {
    /// The registered type name (`echo`, `vector`, …).
    const TYPE: &'static str;
}

/// A pool's shape as the YAML keys beside `params` say it; unset keys keep their defaults.
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions(Map<String, Json>);

impl ServiceOptions {
    /// Every key at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// `workers`.
    pub fn workers(mut self, n: usize) -> Self {
        self.0.insert("workers".into(), n.into());
        self
    }

    /// `queue.capacity` and `queue.overflow`.
    pub fn queue(mut self, capacity: usize, overflow: OverflowPolicy) -> Self {
        let queue = serde_json::json!({ "capacity": capacity, "overflow": overflow.name() });
        self.0.insert("queue".into(), queue);
        self
    }

    /// `deadline`.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.0.insert("deadline".into(), duration(deadline).into());
        self
    }

    /// `idempotent`.
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.0.insert("idempotent".into(), yes.into());
        self
    }

    /// `route_prefix`.
    pub fn route_prefix(mut self, prefix: &str) -> Self {
        self.0.insert("route_prefix".into(), prefix.into());
        self
    }

    /// `pools`: run the service on these pools (instead of `workers`).
    pub fn pools(mut self, pools: impl IntoIterator<Item = PoolOptions>) -> Self {
        let pools: Vec<Json> = pools.into_iter().map(|p| Json::Object(p.0)).collect();
        self.0.insert("pools".into(), Json::Array(pools));
        self
    }

    /// `routing`: how a request picks one of the pools.
    pub fn routing(mut self, routing: crate::scheduler::Routing) -> Self {
        self.0.insert("routing".into(), routing.name().into());
        self
    }

    /// `nodes`: the cluster nodes that run the service (needs a `cluster` section, set
    /// with [`SwarmBuilder::section`]); calls from other nodes are sent to them.
    pub fn nodes<'a>(mut self, nodes: impl IntoIterator<Item = &'a str>) -> Self {
        let nodes: Vec<Json> = nodes.into_iter().map(Json::from).collect();
        self.0.insert("nodes".into(), Json::Array(nodes));
        self
    }
}

/// One entry of `pools` as the YAML keys say it; unset keys keep their defaults.
///
/// ```
/// use swarm_runtime::scheduler::Device;
/// use swarm_runtime::topology::PoolOptions;
/// let gpu = PoolOptions::new("gpu0", Device::Cuda(0)).params(serde_json::json!({ "n_gpu_layers": 99 }));
/// let remote = PoolOptions::remote("remote-a", "http://10.0.0.5:8000", 16).api_key_env("LLM_KEY");
/// # let _ = (gpu, remote);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PoolOptions(Map<String, Json>);

impl PoolOptions {
    /// A pool named `name` on `device`.
    pub fn new(name: &str, device: crate::scheduler::Device) -> Self {
        let mut map = Map::new();
        map.insert("name".into(), name.into());
        map.insert("device".into(), device.to_string().into());
        Self(map)
    }

    /// A remote pool: an OpenAI-compatible server at `url`, `max_concurrency` at once.
    pub fn remote(name: &str, url: &str, max_concurrency: usize) -> Self {
        let mut pool = Self::new(name, crate::scheduler::Device::Remote);
        pool.0.insert("url".into(), url.into());
        pool.0
            .insert("max_concurrency".into(), max_concurrency.into());
        pool
    }

    /// `workers`.
    pub fn workers(mut self, n: usize) -> Self {
        self.0.insert("workers".into(), n.into());
        self
    }

    /// `concurrency`.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.0.insert("concurrency".into(), n.into());
        self
    }

    /// `api_key_env`.
    pub fn api_key_env(mut self, var: &str) -> Self {
        self.0.insert("api_key_env".into(), var.into());
        self
    }

    /// `params`, over the service's.
    pub fn params(mut self, params: impl Serialize) -> Self {
        let params = serde_json::to_value(params).unwrap_or_else(|e| Json::String(e.to_string()));
        self.0.insert("params".into(), params);
        self
    }

    /// `breaker`.
    pub fn breaker(mut self, b: crate::scheduler::BreakerConfig) -> Self {
        let breaker = serde_json::json!({
            "failures": b.failures,
            "window": duration(b.window),
            "cooldown": duration(b.cooldown),
        });
        self.0.insert("breaker".into(), breaker);
        self
    }
}

/// A duration as the config reader writes it (`250ms`).
pub fn duration(d: Duration) -> String {
    format!("{}us", d.as_micros())
}

/// Builds a swarm in Rust; validated exactly like YAML.
#[derive(Debug, Clone)]
pub struct SwarmBuilder {
    root: Map<String, Json>,
    /// In the order added: file order, which breaks ties in the start order.
    services: Vec<(String, Json)>,
}

impl SwarmBuilder {
    /// A swarm named `name` with no services.
    pub fn new(name: &str) -> Self {
        let mut root = Map::new();
        root.insert("swarm".into(), serde_json::json!({ "name": name }));
        Self {
            root,
            services: Vec::new(),
        }
    }

    /// Adds service `name` with typed params and default pool options.
    pub fn service<P: ServiceParams>(self, name: &str, params: P) -> Self {
        self.service_with(name, P::TYPE, params, ServiceOptions::new())
    }

    /// Adds service `name` of type `type_name` with `params` and pool `options`.
    pub fn service_with(
        mut self,
        name: &str,
        type_name: &str,
        params: impl Serialize,
        options: ServiceOptions,
    ) -> Self {
        let mut entry = options.0;
        entry.insert("type".into(), type_name.into());
        // A value that does not serialise becomes a string, which the reader refuses
        // with the key path.
        let params = serde_json::to_value(params).unwrap_or_else(|e| Json::String(e.to_string()));
        if !params.is_null() {
            entry.insert("params".into(), params);
        }
        let entry = Json::Object(entry);
        match self.services.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = entry,
            None => self.services.push((name.into(), entry)),
        }
        self
    }

    /// Sets a top-level section (`gateway`, `telemetry`, `shutdown`, …) as YAML would.
    pub fn section(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or_else(|e| Json::String(e.to_string()));
        self.root.insert(key.into(), value);
        self
    }

    /// Validates the swarm: every error at once, by key path (origin `builder`, line 0).
    pub fn build(&self, registry: &Registry) -> Result<SwarmConfig, ConfigErrors> {
        let mut root = node(&Json::Object(self.root.clone()));
        let services = self
            .services
            .iter()
            .map(|(name, entry)| (key(name), node(entry)))
            .collect();
        if let Value::Map(entries) = &mut root.value {
            entries.push((
                key("services"),
                Node {
                    pos: Pos::default(),
                    value: Value::Map(services),
                },
            ));
        }
        SwarmConfig::from_node(&root, "builder", registry)
    }

    /// Validates and starts the swarm.
    pub async fn start(&self, registry: &Registry) -> Result<Swarm, BuildError> {
        let config = self.build(registry)?;
        Ok(Swarm::start(config).await?)
    }
}

/// Why a built swarm did not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The description is invalid.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A service or component failed to start.
    #[error("{0}")]
    Start(#[from] SwarmError),
}

impl BuildError {
    /// The config errors, when that is what went wrong.
    pub fn config_errors(&self) -> &[ConfigError] {
        match self {
            Self::Config(e) => &e.0,
            Self::Start(_) => &[],
        }
    }
}

fn node(value: &Json) -> Node {
    let value = match value {
        Json::Null => Value::Scalar {
            text: String::new(),
            quoted: false,
        },
        Json::Bool(b) => scalar(b.to_string()),
        Json::Number(n) => scalar(n.to_string()),
        Json::String(s) => Value::Scalar {
            text: s.clone(),
            quoted: true,
        },
        Json::Array(items) => Value::Seq(items.iter().map(node).collect()),
        Json::Object(entries) => {
            Value::Map(entries.iter().map(|(k, v)| (key(k), node(v))).collect())
        }
    };
    Node {
        pos: Pos::default(),
        value,
    }
}

fn key(name: &str) -> Key {
    Key {
        name: name.to_string(),
        pos: Pos::default(),
    }
}

fn scalar(text: String) -> Value {
    Value::Scalar {
        text,
        quoted: false,
    }
}
