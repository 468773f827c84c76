//! The router in front of a service's pools: picks one per request by its [`Routing`],
//! admits it through that pool's breaker, records the choice on the request's span and
//! the breaker's verdict on its answer.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::estimate::{self, PoolLoad};
use super::{BreakerState, CircuitBreaker, Device, Routing};
use crate::client::{CallOptions, call_pool};
use crate::envelope::Reply;
use crate::error::SwarmError;
use crate::pool::{Lifecycle, PoolShared};
use crate::service::Service;

/// One pool as the router sees it.
pub(crate) struct RoutedPool<S: Service> {
    pub(crate) name: String,
    pub(crate) device: Device,
    /// Seconds added to estimates for reaching it.
    pub(crate) transfer: f64,
    pub(crate) shared: Arc<PoolShared<S>>,
    breaker: Mutex<CircuitBreaker>,
    /// Requests routed to it.
    pub(crate) routed: AtomicU64,
    /// Requests its idle workers took from sibling pools.
    pub(crate) stolen: AtomicU64,
    /// Seconds of work it runs outside its queue.
    background: Option<crate::service::LoadProbe>,
}

impl<S: Service> RoutedPool<S> {
    pub(crate) fn new(
        name: String,
        device: Device,
        transfer: Duration,
        breaker: CircuitBreaker,
        shared: Arc<PoolShared<S>>,
        background: Option<crate::service::LoadProbe>,
    ) -> Self {
        Self {
            name,
            device,
            transfer: transfer.as_secs_f64(),
            shared,
            breaker: Mutex::new(breaker),
            routed: AtomicU64::new(0),
            stolen: AtomicU64::new(0),
            background,
        }
    }

    pub(crate) fn breaker(&self) -> MutexGuard<'_, CircuitBreaker> {
        // The breaker's state stays consistent even if a holder panicked.
        self.breaker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ready, with a live worker: not failed, draining or restarting.
    pub(crate) fn serving(&self) -> bool {
        self.shared.lifecycle() == Lifecycle::Ready && self.shared.metrics.workers.load(Relaxed) > 0
    }

    pub(crate) fn load(&self, now: Instant) -> PoolLoad {
        let shared = &self.shared;
        let in_flight = shared.metrics.in_flight.load(Relaxed) as usize;
        PoolLoad {
            queued: shared.queue.len(),
            in_flight,
            slots: shared.spec.workers * shared.spec.concurrency,
            per_unit: shared.pace.per_unit(),
            mean_units: shared.pace.mean_units(),
            transfer: self.transfer,
            stalled: shared.pace.stalled(in_flight > 0),
            background: self
                .background
                .as_ref()
                .map_or(0.0, |probe| probe().max(0.0)),
            device: self.device,
            eligible: self.serving() && self.breaker().would_allow(now),
        }
    }
}

/// A service's pools and how it picks one.
pub(crate) struct Router<S: Service> {
    pub(crate) service: String,
    pub(crate) default_deadline: Duration,
    pub(crate) routing: Routing,
    pub(crate) pools: Vec<RoutedPool<S>>,
    /// Woken on every push into any of the pools' queues (for idle stealers).
    pub(crate) pushed: Arc<Notify>,
    next: AtomicUsize,
}

/// Only failures that say the pool itself is unwell count against its breaker.
fn counts_against_pool(reply: &Result<(), &SwarmError>) -> bool {
    matches!(
        reply,
        Err(SwarmError::Unavailable(_) | SwarmError::WorkerCrashed | SwarmError::Internal(_))
    )
}

/// Gives the half-open probe back if its call is dropped before it answers.
struct Admitted<'a, S: Service> {
    pool: &'a RoutedPool<S>,
    done: bool,
}

impl<S: Service> Drop for Admitted<'_, S> {
    fn drop(&mut self) {
        if !self.done {
            self.pool.breaker().release();
        }
    }
}

impl<S: Service> Router<S> {
    pub(crate) fn new(
        service: String,
        default_deadline: Duration,
        routing: Routing,
        pools: Vec<RoutedPool<S>>,
    ) -> Self {
        Self {
            service,
            default_deadline,
            routing,
            pools,
            pushed: Arc::new(Notify::new()),
            next: AtomicUsize::new(0),
        }
    }

    /// Routes `request` to a pool and waits for its answer.
    pub(crate) async fn call(
        &self,
        request: S::Request,
        deadline: Instant,
        options: CallOptions,
    ) -> Reply<S::Response> {
        let units = S::work_units(&request);
        let span = tracing::Span::current();
        let Some((index, reason)) = self.admit(units, !span.is_disabled()) else {
            return Err(self.none_eligible());
        };
        let pool = &self.pools[index];
        span.record("pool", pool.name.as_str());
        span.record("route", reason.as_str());
        pool.routed.fetch_add(1, Relaxed);
        let mut admitted = Admitted { pool, done: false };
        let reply = call_pool(&pool.shared, request, deadline, options).await;
        admitted.done = true;
        let failed = counts_against_pool(&reply.as_ref().map(|_| ()));
        let mut breaker = pool.breaker();
        let before = breaker.opened;
        breaker.record(!failed, Instant::now());
        if breaker.opened > before {
            tracing::warn!(service = %self.service, pool = %pool.name,
                "circuit breaker opened; traffic moves to the other pools");
        }
        reply
    }

    /// Picks a pool and takes its breaker's admission; `None` when no pool can take work.
    fn admit(&self, units: f64, explain: bool) -> Option<(usize, String)> {
        let now = Instant::now();
        let mut loads: Vec<PoolLoad> = self.pools.iter().map(|p| p.load(now)).collect();
        // A half-open breaker admits one probe: if another caller took it first, look again.
        for _ in 0..=self.pools.len() {
            let (index, reason) = self.pick(&loads, units, explain)?;
            if self.pools[index].breaker().admit(now) {
                return Some((index, reason));
            }
            loads[index].eligible = false;
        }
        None
    }

    fn pick(&self, loads: &[PoolLoad], units: f64, explain: bool) -> Option<(usize, String)> {
        match self.routing {
            Routing::RoundRobin => {
                let n = loads.len();
                let start = self.next.fetch_add(1, Relaxed);
                let index = (0..n)
                    .map(|k| (start + k) % n)
                    .find(|&i| loads[i].eligible)?;
                Some((index, "round robin".to_string()))
            }
            Routing::Estimate => {
                let choice = estimate::choose(loads, units)?;
                let reason = if explain {
                    self.explain(loads, units, choice)
                } else {
                    String::new()
                };
                Some((choice.index, reason))
            }
        }
    }

    /// `lowest estimate 3.1ms for 12 units (gpu0 4.0ms, remote-a skipped: breaker open)`.
    fn explain(&self, loads: &[PoolLoad], units: f64, choice: estimate::Choice) -> String {
        let fallback = estimate::fallback_per_unit(loads);
        let mut text = format!(
            "lowest estimate {:.3}ms for {units} units",
            choice.estimate * 1e3
        );
        let others: Vec<String> = loads
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != choice.index)
            .map(|(i, l)| {
                let name = &self.pools[i].name;
                if l.eligible {
                    format!(
                        "{name} {:.3}ms",
                        estimate::estimate(l, units, fallback) * 1e3
                    )
                } else {
                    format!("{name} skipped: {}", self.why_skipped(i))
                }
            })
            .collect();
        if !others.is_empty() {
            let _ = write!(text, " ({})", others.join(", "));
        }
        text
    }

    /// Why pool `i` takes no work now.
    pub(crate) fn why_skipped(&self, i: usize) -> String {
        let pool = &self.pools[i];
        if !pool.serving() {
            return match pool.shared.lifecycle() {
                Lifecycle::Ready => "restarting".to_string(),
                other => format!("{other:?}").to_lowercase(),
            };
        }
        let now = Instant::now();
        let breaker = pool.breaker();
        if breaker.would_allow(now) {
            return "eligible".to_string();
        }
        match breaker.state(now) {
            BreakerState::Open => "breaker open".to_string(),
            BreakerState::Closed | BreakerState::HalfOpen => {
                "breaker half-open, probe in flight".to_string()
            }
        }
    }

    fn none_eligible(&self) -> SwarmError {
        let why: Vec<String> = (0..self.pools.len())
            .map(|i| format!("{}: {}", self.pools[i].name, self.why_skipped(i)))
            .collect();
        SwarmError::Unavailable(format!(
            "service `{}` has no pool that can take work ({})",
            self.service,
            why.join("; ")
        ))
    }
}
