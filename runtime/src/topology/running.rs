//! A running swarm: its services under a root supervisor, its components, and the
//! ordered shutdown (components stop taking work → pools drain → components finish).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use std::any::TypeId;

use super::{Attachments, RunningComponent, RunningService};
use crate::client::Client;
use crate::config::SwarmConfig;
use crate::error::SwarmError;
use crate::metrics::render_prometheus;
use crate::pool::Health;
use crate::service::Service;

/// A handle to a running swarm. Cheap to clone.
#[derive(Clone)]
pub struct Swarm {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    grace: Duration,
    /// In start order: every dependency before its dependants.
    services: Vec<Entry>,
    components: Mutex<Vec<Box<dyn RunningComponent>>>,
    root: ActorRef<()>,
    gpus: Vec<crate::scheduler::GpuInfo>,
    /// This node's cluster membership, when the config has `cluster:`.
    cluster: tokio::sync::Mutex<Option<crate::cluster::node::ClusterNode>>,
    cluster_name: Option<String>,
    /// Which peers serve which services (with `cluster:`).
    directory: Option<Directory>,
}

/// The node's directory of peer gateways and its watcher actor.
struct Directory {
    view: Arc<crate::cluster::directory::Directory>,
    watcher: ActorRef<()>,
}

/// A node's view of its cluster, as `/health` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterView {
    /// This node's name.
    pub node: String,
    /// Every configured peer and where it stands.
    pub peers: Vec<crate::cluster::node::PeerView>,
}

/// A started service as the swarm keeps it.
struct Entry {
    info: RunningServiceInfo,
    type_id: TypeId,
    attachments: Attachments,
    probes: Vec<crate::service::HealthProbe>,
    metrics: Vec<crate::service::MetricsSource>,
    running: Arc<dyn RunningService>,
}

/// What the swarm says about one of its services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningServiceInfo {
    /// The service's name.
    pub name: String,
    /// Its registered type name.
    pub type_name: String,
    /// Where its external interface is mounted; `None` for the root.
    pub route_prefix: Option<String>,
    /// The services it uses.
    pub dependencies: Vec<String>,
}

/// What a shutdown did, per service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// `(service, queued requests answered Unavailable)`.
    pub unavailable: Vec<(String, usize)>,
}

/// The root of the supervision tree: pool supervisors that escalate end here; the
/// service is already marked failed (answering `Unavailable`), the rest keep serving.
struct RootSupervisor;

impl Actor for RootSupervisor {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        event: SupervisionEvent,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, err) = event {
            tracing::error!(error = %err, "service escalated to the root supervisor");
        }
        Ok(())
    }
}

impl Swarm {
    /// Starts every planned service, then every component. On failure, what was started
    /// is stopped again.
    pub async fn start(config: SwarmConfig) -> Result<Self, SwarmError> {
        let (root, _) = Actor::spawn(None, RootSupervisor, ())
            .await
            .map_err(|e| SwarmError::Internal(format!("root supervisor failed to start: {e}")))?;
        let mut cluster = match &config.cluster {
            Some(c) => Some(start_cluster(c).await?),
            None => None,
        };
        let cluster_name = config.cluster.as_ref().map(|c| c.node.clone());
        let directory = match &cluster_name {
            Some(node) => {
                let max_in_flight = config.cluster.as_ref().map_or(256, |c| c.max_in_flight);
                let (view, watcher) =
                    crate::cluster::directory::Directory::start(node, max_in_flight)
                        .await
                        .map_err(SwarmError::Internal)?;
                Some(Directory { view, watcher })
            }
            None => None,
        };
        let detect = config.devices.clone();
        let gpus = tokio::task::spawn_blocking(move || detect())
            .await
            .unwrap_or_default();
        super::pools::log_devices(&gpus);
        let mut plans: Vec<Option<_>> = config.services.into_iter().map(Some).collect();
        let mut services: Vec<Entry> = Vec::new();
        for i in config.start_order {
            let Some(plan) = plans.get_mut(i).and_then(Option::take) else {
                continue;
            };
            let started = async {
                for dep in &plan.dependencies {
                    let target = services.iter().find(|e| e.info.name == dep.target);
                    if !target.is_some_and(|t| (dep.bind)(t.running.as_any())) {
                        return Err(SwarmError::Internal(format!(
                            "dependency `{}` of `{}` was not started first",
                            dep.target, plan.spec.name
                        )));
                    }
                }
                let local = if !plan.runs_on(cluster_name.as_deref()) {
                    None
                } else if plan.pools.is_empty() {
                    Some((plan.starter)(plan.spec.clone(), Some(root.get_cell())).await?)
                } else {
                    Some(super::pools::start(&plan, &gpus, root.get_cell()).await?)
                };
                match (&plan.cluster, &directory, plan.nodes.is_empty(), local) {
                    (Some(wrap), Some(d), false, local) => {
                        wrap(plan.spec.clone(), local, d.view.clone()).await
                    }
                    (_, _, _, Some(local)) => Ok(local),
                    (_, _, _, None) => Err(SwarmError::Internal(format!(
                        "service `{}` runs on no node this one can reach",
                        plan.spec.name
                    ))),
                }
            }
            .await;
            match started {
                Ok(running) => services.push(Entry {
                    info: RunningServiceInfo {
                        name: plan.spec.name.clone(),
                        type_name: plan.type_name.clone(),
                        route_prefix: plan.route_prefix.clone(),
                        dependencies: plan.dependencies().map(str::to_string).collect(),
                    },
                    type_id: plan.type_id,
                    attachments: plan.attachments.clone(),
                    probes: plan.probes.clone(),
                    metrics: plan.metrics.clone(),
                    running,
                }),
                Err(e) => {
                    for e in services.iter().rev() {
                        e.running.shutdown(Duration::ZERO).await;
                    }
                    root.stop(None);
                    if let Some(d) = &directory {
                        d.view.stop();
                        d.watcher.stop(None);
                    }
                    if let Some(c) = cluster.take() {
                        c.stop().await;
                    }
                    return Err(e);
                }
            }
        }
        let swarm = Self {
            inner: Arc::new(Inner {
                name: config.name,
                grace: config.shutdown_grace,
                services,
                components: Mutex::new(Vec::new()),
                root,
                gpus,
                cluster: tokio::sync::Mutex::new(cluster),
                cluster_name,
                directory,
            }),
        };
        for plan in config.components {
            match plan.component.start(swarm.clone()).await {
                Ok(running) => swarm.components().push(running),
                Err(e) => {
                    swarm.shutdown().await;
                    return Err(e);
                }
            }
        }
        Ok(swarm)
    }

    fn components(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn RunningComponent>>> {
        // A panic while holding this lock cannot leave the list inconsistent.
        self.inner
            .components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A swarm described in Rust, validated exactly like YAML.
    pub fn builder(name: &str) -> super::SwarmBuilder {
        super::SwarmBuilder::new(name)
    }

    /// The swarm's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A typed client for service `name`.
    pub fn client<S: Service>(&self, name: &str) -> Result<Client<S>, SwarmError> {
        let entry = self
            .entry(name)
            .ok_or_else(|| SwarmError::Unavailable(format!("no service named `{name}`")))?;
        super::client_of::<S>(entry.running.as_any()).ok_or_else(|| {
            SwarmError::Internal(format!(
                "service `{name}` is of type `{}`, not {}",
                entry.info.type_name,
                std::any::type_name::<S>()
            ))
        })
    }

    /// Clients of every service running `S`, by name, in start order.
    pub fn clients<S: Service>(&self) -> Vec<(String, Client<S>)> {
        self.inner
            .services
            .iter()
            .filter(|e| e.type_id == TypeId::of::<S>())
            .filter_map(|e| Some((e.info.name.clone(), self.client::<S>(&e.info.name).ok()?)))
            .collect()
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.inner.services.iter().find(|e| e.info.name == name)
    }

    /// Every service, in start order (dependencies first).
    pub fn services(&self) -> Vec<RunningServiceInfo> {
        self.inner.services.iter().map(|e| e.info.clone()).collect()
    }

    /// The pools of service `name` when it runs on several (empty otherwise).
    pub fn pools(&self, name: &str) -> Vec<crate::scheduler::PoolStatus> {
        self.entry(name)
            .map(|e| e.running.pools())
            .unwrap_or_default()
    }

    /// The GPUs found at start.
    pub fn gpus(&self) -> &[crate::scheduler::GpuInfo] {
        &self.inner.gpus
    }

    /// The value of type `T` attached to service `name`'s type at registration.
    pub fn attachment<T: std::any::Any>(&self, name: &str) -> Option<&T> {
        self.entry(name)?.attachments.get::<T>()
    }

    /// Checks every service in parallel, each bounded by `per_check`. A service whose
    /// dependency is unhealthy is unhealthy too, and says which dependency failed.
    pub async fn health(&self, per_check: Duration) -> Vec<(String, Health)> {
        let services = &self.inner.services;
        let mut checks = tokio::task::JoinSet::new();
        for (i, e) in services.iter().enumerate() {
            let svc = e.running.clone();
            let probes = e.probes.clone();
            checks.spawn(async move {
                let mut health = tokio::time::timeout(per_check, svc.check())
                    .await
                    .unwrap_or(Health {
                        healthy: false,
                        detail: format!("health check timed out after {per_check:?}"),
                    });
                for problem in probes.iter().filter_map(|p| p().err()) {
                    health.detail = if health.healthy {
                        problem
                    } else {
                        format!("{}; {problem}", health.detail)
                    };
                    health.healthy = false;
                }
                (i, health)
            });
        }
        let mut results: Vec<(String, Health)> = services
            .iter()
            .map(|e| {
                let failed = Health {
                    healthy: false,
                    detail: "health check failed".into(),
                };
                (e.info.name.clone(), failed)
            })
            .collect();
        while let Some(done) = checks.join_next().await {
            if let Ok((i, health)) = done {
                results[i].1 = health;
            }
        }
        // Start order puts dependencies first, so one pass carries failures transitively.
        for i in 0..results.len() {
            let failed: Vec<String> = services[i]
                .info
                .dependencies
                .iter()
                .filter_map(|d| results.iter().find(|(n, h)| n == d && !h.healthy))
                .map(|(n, h)| format!("dependency `{n}` is unhealthy ({})", h.detail))
                .collect();
            if !failed.is_empty() {
                let own = &mut results[i].1;
                own.detail = if own.healthy {
                    failed.join("; ")
                } else {
                    format!("{}; {}", own.detail, failed.join("; "))
                };
                own.healthy = false;
            }
        }
        results
    }

    /// Prometheus text for every service.
    pub fn render_metrics(&self) -> String {
        let rows: Vec<_> = self
            .inner
            .services
            .iter()
            .flat_map(|e| e.running.metric_rows(&e.info.name))
            .collect();
        let mut text = render_prometheus(&rows);
        // Services' own families, each printed once with the samples of every service.
        let mut families: Vec<crate::service::MetricFamily> = Vec::new();
        for e in &self.inner.services {
            let own = e.metrics.iter().flat_map(|source| source(&e.info.name));
            for family in e.running.families(&e.info.name).into_iter().chain(own) {
                match families.iter_mut().find(|f| f.name == family.name) {
                    Some(f) => f.samples.push_str(&family.samples),
                    None => families.push(family),
                }
            }
        }
        if let Some(d) = &self.inner.directory {
            families.extend(d.view.render());
        }
        for f in families {
            let _ = write!(
                text,
                "# HELP {} {}\n# TYPE {} {}\n{}",
                f.name, f.help, f.name, f.kind, f.samples
            );
        }
        text
    }

    /// One line per component saying where it can be reached.
    pub fn ready_lines(&self) -> Vec<String> {
        self.components().iter().map(|c| c.ready_line()).collect()
    }

    /// Graceful shutdown: components stop taking work, every pool drains for up to the
    /// configured grace period (in parallel), what is left is answered `Unavailable`.
    pub async fn shutdown(&self) -> ShutdownReport {
        let components: Vec<_> = std::mem::take(&mut *self.components());
        for c in &components {
            c.begin_shutdown();
        }
        let grace = self.inner.grace;
        let mut drains = tokio::task::JoinSet::new();
        for e in &self.inner.services {
            let (name, svc) = (e.info.name.clone(), e.running.clone());
            drains.spawn(async move { (name, svc.shutdown(grace).await.answered_unavailable) });
        }
        let mut report = ShutdownReport::default();
        while let Some(Ok(row)) = drains.join_next().await {
            report.unavailable.push(row);
        }
        report.unavailable.sort();
        for c in &components {
            // Bounded: pools are drained, so every HTTP request in flight has its answer.
            let _ = tokio::time::timeout(grace + Duration::from_secs(1), c.stopped()).await;
        }
        if let Some(d) = &self.inner.directory {
            d.view.stop();
            d.watcher.stop(None);
        }
        if let Some(node) = self.inner.cluster.lock().await.take() {
            node.stop().await;
        }
        self.inner.root.stop(None);
        report
    }

    /// This node's cluster and its peers (`None` without `cluster:`).
    pub fn cluster(&self) -> Option<ClusterView> {
        let node = self.inner.cluster_name.clone()?;
        let peers = self
            .inner
            .cluster
            .try_lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.peers()))
            .unwrap_or_default();
        Some(ClusterView { node, peers })
    }
}

/// Starts this node's cluster membership: the cookie comes from `cookie_env`.
async fn start_cluster(
    c: &crate::config::ClusterConfig,
) -> Result<crate::cluster::node::ClusterNode, SwarmError> {
    let cookie = std::env::var(&c.cookie_env).map_err(|_| {
        SwarmError::Internal(format!(
            "cluster.cookie_env names {}, which is not set: export the cluster's cookie there",
            c.cookie_env
        ))
    })?;
    crate::cluster::node::ClusterNode::start(crate::cluster::node::NodeConfig {
        node: c.node.clone(),
        listen: c.listen,
        peers: c.peers.clone(),
        cookie,
        backoff: c.backoff,
        max_backoff: c.max_backoff,
        tls: c.tls.clone(),
    })
    .await
    .map_err(|e| SwarmError::Internal(e.to_string()))
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
