//! Starting a service that runs on several pools: every pool whose device is here starts
//! (an absent GPU, or a pool that fails to start, is reported and skipped), then the
//! service type puts its router in front of them.

use std::sync::Arc;

use ractor::ActorCell;

use super::RunningService;
use crate::config::ServicePlan;
use crate::error::SwarmError;
use crate::scheduler::{AbsentPool, GpuInfo, PoolGroup, StartedPool, present};

/// Logs the GPUs found at start.
pub(crate) fn log_devices(gpus: &[GpuInfo]) {
    if gpus.is_empty() {
        tracing::info!("devices: no CUDA device (cuda:N pools are skipped; CPU pools serve)");
    }
    for g in gpus {
        tracing::info!(index = g.index, name = %g.name, memory_mib = g.memory_bytes >> 20,
            "devices: cuda:{}", g.index);
    }
}

/// Starts `plan`'s pools and its router; fails only when no pool starts.
pub(crate) async fn start(
    plan: &ServicePlan,
    gpus: &[GpuInfo],
    parent: ActorCell,
) -> Result<Arc<dyn RunningService>, SwarmError> {
    let service = &plan.spec.name;
    let mut pools = Vec::new();
    let mut absent = Vec::new();
    for pool in &plan.pools {
        let (name, device) = (&pool.placement.pool, pool.placement.device);
        if let Err(why) = present(device, gpus) {
            tracing::warn!(service = %service, pool = %name,
                "pool not started: {why}; its work goes to the other pools");
            absent.push(AbsentPool {
                name: name.clone(),
                device,
                why,
            });
            continue;
        }
        match (pool.starter)(pool.spec.clone(), Some(parent.clone())).await {
            Ok(running) => {
                tracing::info!(service = %service, pool = %name, device = %device,
                    workers = pool.spec.workers, concurrency = pool.spec.concurrency, "pool started");
                pools.push(StartedPool {
                    name: name.clone(),
                    device,
                    transfer: pool.transfer,
                    breaker: pool.breaker,
                    background: pool.background.clone(),
                    running,
                });
            }
            Err(e) => {
                tracing::error!(service = %service, pool = %name, error = %e,
                    "pool failed to start; its work goes to the other pools");
                absent.push(AbsentPool {
                    name: name.clone(),
                    device,
                    why: format!("failed to start: {e}"),
                });
            }
        }
    }
    if pools.is_empty() {
        let why: Vec<String> = absent
            .iter()
            .map(|a| format!("{}: {}", a.name, a.why))
            .collect();
        return Err(SwarmError::Unavailable(format!(
            "service `{service}` has no pool that started ({})",
            why.join("; ")
        )));
    }
    (plan.group)(PoolGroup {
        spec: plan.spec.clone(),
        routing: plan.routing,
        pools,
        absent,
    })
}
