//! A running swarm: its services under a root supervisor, its components, and the
//! ordered shutdown (components stop taking work → pools drain → components finish).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::{RunningComponent, RunningService};
use crate::client::Client;
use crate::config::SwarmConfig;
use crate::error::SwarmError;
use crate::metrics::render_prometheus;
use crate::pool::{Health, ServicePool};
use crate::service::Service;

/// A handle to a running swarm. Cheap to clone.
#[derive(Clone)]
pub struct Swarm {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    grace: Duration,
    services: Vec<(String, String, Arc<dyn RunningService>)>,
    components: Mutex<Vec<Box<dyn RunningComponent>>>,
    root: ActorRef<()>,
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
        let mut services = Vec::new();
        for plan in config.services {
            let name = plan.spec.name.clone();
            match (plan.starter)(plan.spec, Some(root.get_cell())).await {
                Ok(running) => services.push((name, plan.type_name, running)),
                Err(e) => {
                    for (_, _, s) in &services {
                        s.shutdown(Duration::ZERO).await;
                    }
                    root.stop(None);
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

    /// The swarm's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A typed client for service `name`.
    pub fn client<S: Service>(&self, name: &str) -> Result<Client<S>, SwarmError> {
        let (_, _, running) = self
            .inner
            .services
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| SwarmError::Unavailable(format!("no service named `{name}`")))?;
        running
            .as_any()
            .downcast_ref::<ServicePool<S>>()
            .map(ServicePool::client)
            .ok_or_else(|| SwarmError::Internal(format!("service `{name}` has another type")))
    }

    /// The name of the first service of type `type_name`.
    pub fn service_of_type(&self, type_name: &str) -> Option<&str> {
        self.inner
            .services
            .iter()
            .find(|(_, t, _)| t == type_name)
            .map(|(n, _, _)| n.as_str())
    }

    /// A typed client for the first service of type `type_name`, if the swarm has one.
    pub fn client_of_type<S: Service>(&self, type_name: &str) -> Option<Client<S>> {
        self.service_of_type(type_name)
            .and_then(|name| self.client::<S>(name).ok())
    }

    /// Checks every service in parallel, each bounded by `per_check`.
    pub async fn health(&self, per_check: Duration) -> Vec<(String, Health)> {
        let mut checks = tokio::task::JoinSet::new();
        for (i, (_, _, svc)) in self.inner.services.iter().enumerate() {
            let svc = svc.clone();
            checks.spawn(async move {
                let health = tokio::time::timeout(per_check, svc.check())
                    .await
                    .unwrap_or(Health {
                        healthy: false,
                        detail: format!("health check timed out after {per_check:?}"),
                    });
                (i, health)
            });
        }
        let mut results: Vec<(String, Health)> = self
            .inner
            .services
            .iter()
            .map(|(n, _, _)| {
                (
                    n.clone(),
                    Health {
                        healthy: false,
                        detail: "health check failed".into(),
                    },
                )
            })
            .collect();
        while let Some(done) = checks.join_next().await {
            if let Ok((i, health)) = done {
                results[i].1 = health;
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
            .map(|(n, _, s)| (n.clone(), s.metrics(), s.queue_gauge()))
            .collect();
        render_prometheus(&rows)
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
        for (name, _, svc) in &self.inner.services {
            let (name, svc) = (name.clone(), svc.clone());
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
        self.inner.root.stop(None);
        report
    }
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
