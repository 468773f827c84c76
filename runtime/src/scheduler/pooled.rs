//! A service running on several pools, as the swarm keeps it: the started pools, the
//! router in front of them, and the pools that could not start (an absent GPU) with why.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;

use super::router::{RoutedPool, Router};
use super::{BreakerConfig, CircuitBreaker, Device, Routing, estimate};
use crate::error::SwarmError;
use crate::metrics::{QueueGauge, ServiceMetrics};
use crate::pool::{DrainReport, Health, PoolSpec, ServicePool};
use crate::service::{MetricFamily, Service};
use crate::topology::{BoxFuture, RunningService};

/// A pool that started, before the router exists.
pub(crate) struct StartedPool {
    pub(crate) name: String,
    pub(crate) device: Device,
    pub(crate) transfer: Duration,
    pub(crate) breaker: BreakerConfig,
    pub(crate) background: Option<crate::service::LoadProbe>,
    pub(crate) running: Arc<dyn RunningService>,
}

/// A pool that did not start, and why.
#[derive(Debug, Clone)]
pub(crate) struct AbsentPool {
    pub(crate) name: String,
    pub(crate) device: Device,
    pub(crate) why: String,
}

/// What the swarm hands a service type to assemble its routed service.
pub(crate) struct PoolGroup {
    pub(crate) spec: PoolSpec,
    pub(crate) routing: Routing,
    pub(crate) pools: Vec<StartedPool>,
    pub(crate) absent: Vec<AbsentPool>,
}

/// One pool of a service, as `/health` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolStatus {
    /// The pool's name.
    pub name: String,
    /// `cpu`, `cuda:0`, `remote`.
    pub device: String,
    /// Whether it takes work now.
    pub serving: bool,
    /// `eligible`, `absent: …`, `breaker open`, `restarting`, …
    pub state: String,
    /// `closed`, `open`, `half_open` (absent pools: `none`).
    pub breaker: String,
    /// Requests routed to it so far.
    pub routed: u64,
}

/// The routed service.
pub(crate) struct PooledService<S: Service> {
    spec: PoolSpec,
    router: Arc<Router<S>>,
    running: Vec<Arc<dyn RunningService>>,
    absent: Vec<AbsentPool>,
}

impl<S: Service> PooledService<S> {
    /// Puts a router in front of the started pools (all of type `S`).
    pub(crate) fn assemble(group: PoolGroup) -> Result<Arc<dyn RunningService>, SwarmError> {
        let mut routed = Vec::new();
        let mut running = Vec::new();
        for p in group.pools {
            let pool = p
                .running
                .as_any()
                .downcast_ref::<ServicePool<S>>()
                .ok_or_else(|| {
                    SwarmError::Internal(format!("pool `{}` is not of the service's type", p.name))
                })?;
            routed.push(RoutedPool::new(
                p.name,
                p.device,
                p.transfer,
                CircuitBreaker::new(p.breaker),
                pool.shared().clone(),
                p.background,
            ));
            running.push(p.running);
        }
        let router = Arc::new(Router::new(
            group.spec.name.clone(),
            group.spec.default_deadline,
            group.routing,
            routed,
        ));
        for (i, p) in router.pools.iter().enumerate() {
            let _ = p.shared.siblings.set((Arc::downgrade(&router), i));
            let _ = p.shared.queue.on_push.set(router.pushed.clone());
        }
        // Workers already waiting on their own queue look again with siblings in view.
        router.pushed.notify_waiters();
        Ok(Arc::new(Self {
            spec: group.spec,
            router,
            running,
            absent: group.absent,
        }))
    }

    pub(crate) fn router(&self) -> Arc<Router<S>> {
        self.router.clone()
    }

    fn statuses(&self) -> Vec<PoolStatus> {
        let now = Instant::now();
        let mut out: Vec<PoolStatus> = self
            .router
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let state = self.router.why_skipped(i);
                PoolStatus {
                    name: p.name.clone(),
                    device: p.device.to_string(),
                    serving: state == "eligible",
                    state,
                    breaker: p.breaker().state(now).name().to_string(),
                    routed: p.routed.load(Relaxed),
                }
            })
            .collect();
        out.extend(self.absent.iter().map(|a| PoolStatus {
            name: a.name.clone(),
            device: a.device.to_string(),
            serving: false,
            state: format!("absent: {}", a.why),
            breaker: "none".to_string(),
            routed: 0,
        }));
        out
    }
}

fn labels(service: &str, pool: &str) -> String {
    format!("service=\"{service}\",pool=\"{pool}\"")
}

impl<S: Service> RunningService for PooledService<S> {
    fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    fn check(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            let pools = self.statuses();
            let healthy = pools.iter().any(|p| p.serving);
            let problems: Vec<String> = pools
                .iter()
                .filter(|p| !p.serving)
                .map(|p| format!("pool {} ({}): {}", p.name, p.device, p.state))
                .collect();
            let detail = match (healthy, problems.is_empty()) {
                (true, true) => "ok".to_string(),
                (true, false) => format!("ok; {}", problems.join("; ")),
                (false, _) => format!("no pool can take work: {}", problems.join("; ")),
            };
            Health { healthy, detail }
        })
    }

    fn metric_rows(&self, service: &str) -> Vec<(String, &ServiceMetrics, QueueGauge)> {
        self.router
            .pools
            .iter()
            .zip(&self.running)
            .flat_map(|(p, r)| {
                r.metric_rows(service)
                    .into_iter()
                    .map(|(_, m, q)| (labels(service, &p.name), m, q))
            })
            .collect()
    }

    fn families(&self, service: &str) -> Vec<MetricFamily> {
        let now = Instant::now();
        let loads: Vec<_> = self.router.pools.iter().map(|p| p.load(now)).collect();
        let fallback = estimate::fallback_per_unit(&loads);
        let family = |name, help, kind, value: &dyn Fn(usize) -> String| {
            let mut samples = String::new();
            for (i, p) in self.router.pools.iter().enumerate() {
                let labels = format!("{},device=\"{}\"", labels(service, &p.name), p.device);
                samples.push_str(&format!("{name}{{{labels}}} {}\n", value(i)));
            }
            if name == "swarm_scheduler_pool_up" {
                for a in &self.absent {
                    let labels = format!("{},device=\"{}\"", labels(service, &a.name), a.device);
                    samples.push_str(&format!("{name}{{{labels}}} 0\n"));
                }
            }
            MetricFamily {
                name,
                help,
                kind,
                samples,
            }
        };
        let pools = &self.router.pools;
        vec![
            family(
                "swarm_scheduler_pool_up",
                "1 when the pool takes work; 0 when skipped (absent device, breaker open, restarting).",
                "gauge",
                &|i| u8::from(loads[i].eligible).to_string(),
            ),
            family(
                "swarm_scheduler_routed_total",
                "Requests the scheduler routed to the pool.",
                "counter",
                &|i| pools[i].routed.load(Relaxed).to_string(),
            ),
            family(
                "swarm_scheduler_stolen_total",
                "Queued requests the pool's idle workers took from sibling pools.",
                "counter",
                &|i| pools[i].stolen.load(Relaxed).to_string(),
            ),
            family(
                "swarm_scheduler_depth",
                "Requests queued and in flight at the pool.",
                "gauge",
                &|i| (loads[i].queued + loads[i].in_flight).to_string(),
            ),
            family(
                "swarm_scheduler_service_time_seconds",
                "EWMA of the pool's service time per unit of work (token, item); 0 before the first observation.",
                "gauge",
                &|i| loads[i].per_unit.unwrap_or(0.0).to_string(),
            ),
            family(
                "swarm_scheduler_estimate_seconds",
                "Estimated completion time of a mean-sized request sent to the pool now.",
                "gauge",
                &|i| {
                    estimate::estimate(&loads[i], loads[i].mean_units.unwrap_or(1.0), fallback)
                        .to_string()
                },
            ),
            family(
                "swarm_scheduler_breaker_state",
                "The pool's circuit breaker: 0 closed, 1 half-open, 2 open.",
                "gauge",
                &|i| pools[i].breaker().state(now).gauge().to_string(),
            ),
            family(
                "swarm_scheduler_breaker_opened_total",
                "Times the pool's circuit breaker opened.",
                "counter",
                &|i| pools[i].breaker().opened.to_string(),
            ),
        ]
    }

    fn pools(&self) -> Vec<PoolStatus> {
        self.statuses()
    }

    fn shutdown(&self, grace: Duration) -> BoxFuture<'_, DrainReport> {
        Box::pin(async move {
            // Side by side: the whole shutdown stays within one grace period.
            let drains = self.running.iter().map(|r| r.shutdown(grace));
            let mut report = DrainReport::default();
            for r in futures_util::future::join_all(drains).await {
                report.answered_unavailable += r.answered_unavailable;
            }
            report
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
