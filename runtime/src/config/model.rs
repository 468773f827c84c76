//! The validated config: what `swarm validate` checks and `Swarm::start` runs.

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::reader::{Diagnostics, FromNode, Section};
use super::yaml::Node;
use super::{ConfigErrors, load_tree, read_file};
use crate::pool::PoolSpec;
use crate::queue::OverflowPolicy;
use crate::supervision::{Backoff, RestartIntensity, RestartStrategy, SupervisionConfig};
use crate::topology::dependency::DeclaredDependency;
use crate::topology::{Attachments, Component, Registry, ServiceStarter};

/// Where traces and logs go.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `tracing` filter directives for logs (`info`, `swarm_runtime=debug`, …).
    pub log: String,
    /// OTLP gRPC endpoint (Jaeger: `http://127.0.0.1:4317`); no export when `None`.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute of exported spans.
    pub service_name: String,
    /// Share of new traces recorded (head sampling, 0 to 1). Parent-based: a request that
    /// brings a sampled `traceparent` is always recorded, an unsampled one never.
    pub sample_ratio: f64,
    /// Whether spans may carry contents (prompts, answers, tool arguments and results):
    /// off by default, since they may hold personal or secret data.
    pub record_content: bool,
}

/// A service as planned: its pool shape, its type, and how to start it.
pub struct ServicePlan {
    /// Pool shape.
    pub spec: PoolSpec,
    /// The registered type name (`echo`, …).
    pub type_name: String,
    /// Where its external interface is mounted (`/team-a`); `None` for the root.
    pub route_prefix: Option<String>,
    /// Stages in front of its workers (`batcher: …`), as the params parser declared them.
    pub stages: Vec<String>,
    /// Its named parts (kind, name), as the params parser declared them: an agent's tools.
    pub parts: Vec<(String, String)>,
    pub(crate) pos: super::yaml::Pos,
    pub(crate) type_id: TypeId,
    pub(crate) exposed: bool,
    pub(crate) routes_named: bool,
    pub(crate) attachments: Attachments,
    pub(crate) dependencies: Vec<DeclaredDependency>,
    pub(crate) probes: Vec<crate::service::HealthProbe>,
    pub(crate) metrics: Vec<crate::service::MetricsSource>,
    pub(crate) starter: ServiceStarter,
    /// Its pools when it runs on several (`pools:`); empty for one pool.
    pub pools: Vec<super::pools::PoolPlan>,
    /// How a request picks one of `pools`.
    pub routing: crate::scheduler::Routing,
    pub(crate) group: crate::topology::GroupStarter,
    /// The nodes that run it (`nodes:`); empty: this node only, not offered to peers.
    pub nodes: Vec<String>,
    pub(crate) cluster: Option<crate::topology::ClusterWrapper>,
}

impl ServicePlan {
    /// Whether this node runs a pool of it (`node` is this node's name, when clustered).
    pub fn runs_on(&self, node: Option<&str>) -> bool {
        self.nodes.is_empty() || node.is_some_and(|n| self.nodes.iter().any(|x| x == n))
    }

    /// The services this one uses, by name, in declaration order.
    pub fn dependencies(&self) -> impl Iterator<Item = &str> {
        self.dependencies.iter().map(|d| d.target.as_str())
    }
}

/// An extra top-level section read by a registered component parser (the gateway).
pub struct ComponentPlan {
    /// The top-level YAML key.
    pub section: String,
    pub(crate) component: Arc<dyn Component>,
}

impl ComponentPlan {
    /// One line describing the component, for `swarm graph`.
    pub fn summary(&self) -> String {
        self.component.summary()
    }
}

/// A validated swarm description.
pub struct SwarmConfig {
    /// The file (or origin name) it came from.
    pub origin: String,
    /// The swarm's name.
    pub name: String,
    /// Logs and trace export.
    pub telemetry: TelemetryConfig,
    /// How long a graceful shutdown lets queued work finish.
    pub shutdown_grace: Duration,
    /// Services in file order.
    pub services: Vec<ServicePlan>,
    /// Indices into `services`: every dependency before its dependants, else file order.
    pub start_order: Vec<usize>,
    /// Components (gateway, …) in registration order.
    pub components: Vec<ComponentPlan>,
    /// This node's place in a swarm of several (`cluster:`), if any.
    pub cluster: Option<super::ClusterConfig>,
    pub(crate) devices: crate::scheduler::DeviceDetector,
}

impl fmt::Debug for SwarmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwarmConfig")
            .field("origin", &self.origin)
            .field("name", &self.name)
            .field(
                "services",
                &self.services.iter().map(|s| &s.spec).collect::<Vec<_>>(),
            )
            .field(
                "components",
                &self
                    .components
                    .iter()
                    .map(|c| &c.section)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SwarmConfig {
    /// Loads and validates a config file, with the process environment.
    pub fn from_file(path: &std::path::Path, registry: &Registry) -> Result<Self, ConfigErrors> {
        let (origin, text) = read_file(path)?;
        Self::from_yaml(&text, &origin, registry)
    }

    /// Validates YAML text named `origin`, with the process environment.
    pub fn from_yaml(text: &str, origin: &str, registry: &Registry) -> Result<Self, ConfigErrors> {
        Self::from_yaml_with_env(text, origin, registry, &|k| std::env::var(k).ok())
    }

    /// Validates YAML text, reading environment variables through `env`.
    pub fn from_yaml_with_env(
        text: &str,
        origin: &str,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let root = load_tree(text, origin, env)?;
        Self::from_node(&root, origin, registry)
    }

    /// Validates a tree already built (by YAML or by [`crate::topology::SwarmBuilder`]).
    pub(crate) fn from_node(
        root: &Node,
        origin: &str,
        registry: &Registry,
    ) -> Result<Self, ConfigErrors> {
        let diag = Diagnostics::new(origin);
        let config = read_swarm(root, origin, &diag, registry);
        diag.finish(config)
    }
}

fn read_swarm(
    root: &Node,
    origin: &str,
    diag: &Diagnostics,
    registry: &Registry,
) -> Option<SwarmConfig> {
    let top = Section::new(diag, "", root);
    let name = top.section("swarm").or("name", "swarm".to_string());
    let telemetry = read_telemetry(&top.section("telemetry"), &name);
    let shutdown_grace = top.section("shutdown").or("grace", Duration::from_secs(10));
    let cluster = top
        .node("cluster")
        .and_then(|_| super::cluster::read_cluster(&top.section("cluster")));
    let services_section = top.section("services");
    let mut services = Vec::new();
    for (key, node) in services_section.entries() {
        let section = Section::new(diag, &services_section.child_path(&key.name), node);
        if let Some(plan) = read_service(&key.name, &section, registry, cluster.as_ref()) {
            services.push(plan);
        }
    }
    let mut components = Vec::new();
    for (section_name, parser) in registry.component_parsers() {
        let Some(node) = top.node(section_name) else {
            continue;
        };
        let section = Section::new(diag, section_name, node);
        if let Some(component) = parser(&section) {
            components.push(ComponentPlan {
                section: section_name.to_string(),
                component,
            });
        }
    }
    drop(services_section);
    drop(top);
    let start_order = super::links::check(&services, !components.is_empty(), diag);
    diag.is_clean().then(|| SwarmConfig {
        origin: origin.to_string(),
        name,
        telemetry,
        shutdown_grace,
        services,
        start_order,
        components,
        cluster,
        devices: registry.devices(),
    })
}

fn read_telemetry(s: &Section<'_>, swarm_name: &str) -> TelemetryConfig {
    let otlp = s.section("otlp");
    let sample_ratio = s.or("sample_ratio", 1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        s.error("sample_ratio", "must be between 0 and 1");
    }
    TelemetryConfig {
        log: s.or("log", "info".to_string()),
        otlp_endpoint: otlp.value::<String>("endpoint").filter(|e| !e.is_empty()),
        service_name: otlp.or("service_name", swarm_name.to_string()),
        sample_ratio,
        record_content: s.or("record_content", false),
    }
}

fn read_service(
    name: &str,
    s: &Section<'_>,
    registry: &Registry,
    cluster: Option<&super::ClusterConfig>,
) -> Option<ServicePlan> {
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_name {
        s.diagnostics().error(
            Default::default(),
            s.path(),
            "service names use letters, digits, `_` and `-`",
        );
    }
    let type_name: Option<String> = s.required("type");
    let workers = s.or("workers", 1usize);
    if !(1..=1024).contains(&workers) {
        s.error("workers", "must be between 1 and 1024");
    }
    let queue = s.section("queue");
    let capacity = queue.or("capacity", 1024usize);
    if capacity == 0 {
        queue.error("capacity", "must be at least 1");
    }
    let overflow = queue.or("overflow", OverflowPolicy::Block);
    drop(queue);
    let default_deadline = s.or("deadline", Duration::from_secs(30));
    if default_deadline.is_zero() {
        s.error("deadline", "must be greater than zero");
    }
    let idempotent = s.or("idempotent", false);
    let route_prefix = read_route_prefix(s);
    let supervision = read_supervision(&s.section("supervision"));
    let routing = s.or("routing", crate::scheduler::Routing::Estimate);
    let pooled = s.node("pools").is_some();
    if pooled && s.node("workers").is_some() {
        s.error("workers", "with `pools`, each pool sets its own `workers`");
    }
    let params_node = s.node("params");
    let params = match pooled {
        // Each pool's params are read, merged over these, by `read_pools`.
        true => Section::new(s.diagnostics(), &s.child_path("params"), &EMPTY_MAP),
        false => s.section("params"),
    };
    let diag = s.diagnostics();
    let errors_before = diag.error_count();
    let entry = type_name
        .as_deref()
        .and_then(|t| match registry.service_entry(t) {
            Some(entry) => Some(entry),
            None => {
                s.error(
                    "type",
                    format!(
                        "unknown service type `{t}` (known: {})",
                        registry.service_types().join(", ")
                    ),
                );
                None
            }
        });
    let concurrency = s.or("concurrency", entry.map_or(1, |e| e.concurrency));
    if !(1..=65_536).contains(&concurrency) {
        s.error("concurrency", "must be between 1 and 65536");
    }
    let base = PoolSpec {
        name: name.to_string(),
        workers,
        concurrency,
        capacity,
        overflow,
        default_deadline,
        idempotent,
        supervision,
        pool: None,
    };
    let mut extras = super::pools::PoolExtras::default();
    let pools = match entry {
        Some(e) if pooled => {
            super::pools::read_pools(s, &base, params_node, &|p| (e.parser)(p), &mut extras)
        }
        _ => Vec::new(),
    };
    let starter = match pooled {
        true => pools.first().map(|p| p.starter.clone()),
        false => entry.and_then(|e| (e.parser)(&params)),
    };
    drop(params);
    if entry.is_some() && starter.is_none() && diag.error_count() == errors_before {
        s.error(
            "params",
            format!(
                "the params parser of type `{}` refused these params without saying why",
                type_name.as_deref().unwrap_or_default()
            ),
        );
    }
    // A service on one pool is not routed: its background load has no one to inform.
    let _ = diag.take_load();
    let parts = diag.take_parts();
    let (mut dependencies, stages, mut probes, mut metrics) = (
        diag.take_declared(),
        diag.take_stages(),
        diag.take_probes(),
        diag.take_metrics(),
    );
    dependencies.extend(extras.dependencies);
    probes.extend(extras.probes);
    metrics.extend(extras.metrics);
    let nodes = read_nodes(s, cluster, entry, type_name.as_deref());
    let entry = entry?;
    Some(ServicePlan {
        nodes,
        cluster: entry.cluster.clone(),
        route_prefix,
        stages,
        parts,
        pos: s.pos(),
        type_id: entry.type_id,
        exposed: entry.exposed,
        routes_named: entry.routes_named,
        attachments: entry.attachments.clone(),
        dependencies,
        probes,
        metrics,
        spec: base,
        type_name: type_name?,
        starter: starter?,
        pools,
        routing,
        group: entry.group.clone(),
    })
}

static EMPTY_MAP: Node = Node {
    pos: super::yaml::Pos { line: 0, col: 0 },
    value: super::yaml::Value::Map(Vec::new()),
};

/// `nodes: [a, b]`: this node or its peers, each once, for a type that can cross nodes.
fn read_nodes(
    s: &Section<'_>,
    cluster: Option<&super::ClusterConfig>,
    entry: Option<&crate::topology::registry::ServiceEntry>,
    type_name: Option<&str>,
) -> Vec<String> {
    let nodes: Vec<String> = s.value("nodes").unwrap_or_default();
    if s.node("nodes").is_none() {
        return nodes;
    }
    let Some(c) = cluster else {
        s.error(
            "nodes",
            "`nodes` needs a `cluster:` section (this node's name and its peers)",
        );
        return nodes;
    };
    if nodes.is_empty() {
        s.error("nodes", "list at least one node");
    }
    let known: Vec<&str> = std::iter::once(c.node.as_str())
        .chain(c.peers.iter().map(|p| p.node.as_str()))
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        if !known.contains(&n.as_str()) {
            s.error(
                "nodes",
                format!("unknown node `{n}` (known: {})", known.join(", ")),
            );
        } else if nodes[..i].contains(n) {
            s.error("nodes", format!("node `{n}` is listed twice"));
        }
    }
    if entry.is_some_and(|e| e.cluster.is_none()) {
        s.error(
            "nodes",
            format!(
                "services of type `{}` cannot run across nodes (the type has no wire codec)",
                type_name.unwrap_or_default()
            ),
        );
    }
    nodes
}

/// `route_prefix: /team-a`: one or more `/segment`s of letters, digits, `-`, `_`, `.`.
fn read_route_prefix(s: &Section<'_>) -> Option<String> {
    let prefix: String = s.value("route_prefix")?;
    let valid = prefix.len() > 1
        && prefix.starts_with('/')
        && prefix[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if !valid {
        s.error(
            "route_prefix",
            format!("`{prefix}` is not a route prefix: write `/name` (letters, digits, `-`, `_`, `.`; no trailing `/`)"),
        );
        return None;
    }
    Some(prefix)
}

fn read_supervision(s: &Section<'_>) -> SupervisionConfig {
    let defaults = SupervisionConfig::default();
    let backoff = s.section("backoff");
    let initial = backoff.or("initial", defaults.backoff.initial);
    let max = backoff.or("max", defaults.backoff.max);
    if max < initial {
        backoff.error("max", "must not be smaller than `initial`");
    }
    drop(backoff);
    let max_seconds = s.or("max_seconds", defaults.intensity.within.as_secs_f64());
    if max_seconds <= 0.0 {
        s.error("max_seconds", "must be greater than zero");
    }
    SupervisionConfig {
        strategy: s.or("strategy", defaults.strategy),
        intensity: RestartIntensity {
            max_restarts: s.or("max_restarts", defaults.intensity.max_restarts),
            within: Duration::from_secs_f64(max_seconds.max(0.001)),
        },
        backoff: Backoff { initial, max },
    }
}

impl FromNode for OverflowPolicy {
    fn from_node(node: &Node) -> Result<Self, String> {
        let name = String::from_node(node)?;
        Self::from_name(&name).ok_or_else(|| {
            format!("unknown overflow policy `{name}` (expected block, reject, drop_oldest or drop_newest)")
        })
    }
}

impl FromNode for RestartStrategy {
    fn from_node(node: &Node) -> Result<Self, String> {
        let name = String::from_node(node)?;
        Self::from_name(&name).ok_or_else(|| {
            format!("unknown strategy `{name}` (expected one_for_one, one_for_all or rest_for_one)")
        })
    }
}
