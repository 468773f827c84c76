//! Work stealing: a worker of a pool with nothing queued takes the oldest request queued
//! at a sibling pool when the estimate says it would finish it sooner than the sibling
//! would. While nothing is worth taking, it waits for its own queue, for a push anywhere
//! in the service, or for the moment a stalled sibling's wait would make taking worth it.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;

use super::Routing;
use super::estimate::{self, PoolLoad};
use super::router::Router;
use crate::pool::{Env, PoolShared};
use crate::service::Service;

/// What a look at the siblings found.
pub(crate) enum Steal<E> {
    /// A request taken from a sibling, already counted in flight here.
    Taken(E),
    /// Nothing worth taking now; look again at this moment if nothing else happens.
    Later(Option<Instant>),
}

/// The next request for a worker of `shared`: its own queue first, then a sibling's.
pub(crate) async fn next_request<S: Service>(shared: &Arc<PoolShared<S>>) -> Option<Env<S>> {
    let Some((router, index)) = shared.siblings.get() else {
        return shared.queue.pop().await;
    };
    loop {
        let router = match router.upgrade() {
            Some(r) if !shared.is_winding_down() => r,
            _ => return shared.queue.pop().await,
        };
        let pushed = router.pushed.clone();
        let woken = pushed.notified();
        tokio::pin!(woken);
        // Registered before looking, so a push in between is not missed.
        woken.as_mut().enable();
        if let Some(env) = shared.queue.try_pop() {
            return Some(env);
        }
        let later = match router.steal_for(*index) {
            Steal::Taken(env) => return Some(env),
            Steal::Later(at) => at,
        };
        drop(router);
        let recheck = async {
            match later {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            env = shared.queue.pop() => return env,
            () = &mut woken => {}
            () = recheck => {}
        }
    }
}

impl<S: Service> Router<S> {
    /// Takes the oldest request of the sibling pool it would finish soonest relative to
    /// the sibling, if any would be finished sooner here.
    pub(crate) fn steal_for(&self, thief: usize) -> Steal<Env<S>> {
        if self.routing != Routing::Estimate {
            return Steal::Later(None);
        }
        let now = Instant::now();
        let loads: Vec<PoolLoad> = self.pools.iter().map(|p| p.load(now)).collect();
        if !loads[thief].eligible {
            return Steal::Later(None);
        }
        let fallback = estimate::fallback_per_unit(&loads);
        let here = PoolLoad {
            queued: 0,
            ..loads[thief].clone()
        };
        let mut recheck: Option<Instant> = None;
        for (i, there) in loads.iter().enumerate() {
            if i == thief || there.queued == 0 {
                continue;
            }
            let units = there.mean_units.unwrap_or(1.0);
            // The sibling's oldest request waits only for the sibling's in-flight work.
            let head = PoolLoad {
                queued: 0,
                ..there.clone()
            };
            let stay = estimate::estimate(&head, units, fallback);
            let go = estimate::estimate(&here, units, fallback);
            if go < stay {
                if let Some(env) = self.pools[i].shared.queue.try_take() {
                    let me = &self.pools[thief];
                    me.shared.metrics.in_flight.fetch_add(1, Relaxed);
                    me.stolen.fetch_add(1, Relaxed);
                    tracing::debug!(service = %self.service, from = %self.pools[i].name,
                        to = %me.name, stay, go, "took queued work from a busy pool");
                    return Steal::Taken(env);
                }
            } else if there.in_flight > 0 {
                // A busy sibling's stall grows by a second per second: once it alone
                // makes staying slower than moving, look again.
                let per_unit = there.per_unit.unwrap_or(fallback);
                let needed = go - per_unit * units - there.transfer;
                let at = self.pools[i].shared.pace.last_progress()
                    + Duration::from_secs_f64(needed.clamp(0.0, 3600.0))
                    + Duration::from_millis(1);
                recheck = Some(recheck.map_or(at, |r| r.min(at)));
            }
        }
        Steal::Later(recheck.map(|at| at.max(now + Duration::from_millis(1))))
    }
}
