//! Estimated completion time, the rule every routing and stealing decision follows
//! (pure: plain numbers in, a choice out). For a pool:
//!
//! `wait = max(per_unit × mean_units × (queued + in_flight) / slots, stalled)`
//! `estimate = wait + per_unit × units + transfer`
//!
//! `per_unit` is the pool's EWMA of observed service time per unit of work (a token for
//! generation, an item for embeddings); `stalled` is how long a busy pool has gone without
//! finishing anything, so a pool that hangs stops attracting work before its average
//! catches up. Ties prefer local pools, then GPU pools.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::Device;

/// A pool's state as the rule sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolLoad {
    /// Requests waiting in its queue.
    pub queued: usize,
    /// Requests being handled.
    pub in_flight: usize,
    /// Requests it handles at once (workers × concurrency).
    pub slots: usize,
    /// Seconds per unit of work; `None` before its first observation.
    pub per_unit: Option<f64>,
    /// Mean units per request; `None` before its first observation.
    pub mean_units: Option<f64>,
    /// Seconds added for reaching a remote pool.
    pub transfer: f64,
    /// Seconds since a busy pool last finished a request (0 when idle).
    pub stalled: f64,
    /// Seconds of work it runs outside its queue (background jobs).
    pub background: f64,
    /// Its device class (for ties).
    pub device: Device,
    /// False while failing, restarting or behind an open breaker.
    pub eligible: bool,
}

/// The pool chosen and its estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    /// Index into the loads given.
    pub index: usize,
    /// Its estimated completion time, seconds.
    pub estimate: f64,
}

/// Seconds per unit assumed for a pool not yet observed: the fastest observed pool's
/// (optimistic, so a new pool gets tried), or 1 when none is observed (then the rule
/// is least-outstanding-requests).
pub fn fallback_per_unit(loads: &[PoolLoad]) -> f64 {
    loads
        .iter()
        .filter_map(|l| l.per_unit)
        .fold(None, |min: Option<f64>, x| {
            Some(min.map_or(x, |m| m.min(x)))
        })
        .unwrap_or(1.0)
}

/// Seconds `load`'s pool needs before a new request could start there.
pub fn wait(load: &PoolLoad, units: f64, fallback: f64) -> f64 {
    let per_unit = load.per_unit.unwrap_or(fallback);
    let mean = load.mean_units.unwrap_or(units);
    let backlog = (load.queued + load.in_flight) as f64 * mean / load.slots.max(1) as f64;
    (per_unit * backlog + load.background).max(load.stalled)
}

/// Estimated completion time (seconds) of a request of `units` sent to `load`'s pool.
pub fn estimate(load: &PoolLoad, units: f64, fallback: f64) -> f64 {
    let per_unit = load.per_unit.unwrap_or(fallback);
    wait(load, units, fallback) + per_unit * units + load.transfer
}

/// The eligible pool that would finish a request of `units` soonest; `None` when no
/// pool is eligible.
pub fn choose(loads: &[PoolLoad], units: f64) -> Option<Choice> {
    let fallback = fallback_per_unit(loads);
    let rank = |l: &PoolLoad| (!l.device.is_local(), !l.device.is_gpu());
    let mut best: Option<Choice> = None;
    for (index, load) in loads.iter().enumerate().filter(|(_, l)| l.eligible) {
        let estimate = estimate(load, units, fallback);
        let better = match best {
            None => true,
            Some(b) if ties(estimate, b.estimate) => rank(load) < rank(&loads[b.index]),
            Some(b) => estimate < b.estimate,
        };
        if better {
            best = Some(Choice { index, estimate });
        }
    }
    best
}

fn ties(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// An exponentially weighted moving average kept in an atomic (f64 bits; 0 = empty).
#[derive(Debug, Default)]
pub struct Ewma(AtomicU64);

/// Weight of each new observation.
const ALPHA: f64 = 0.2;

impl Ewma {
    /// Folds in one observation.
    pub fn observe(&self, x: f64) {
        if !x.is_finite() || x < 0.0 {
            return;
        }
        let _ = self.0.fetch_update(Relaxed, Relaxed, |bits| {
            let next = match bits {
                0 => x,
                _ => f64::from_bits(bits) * (1.0 - ALPHA) + x * ALPHA,
            };
            // 0.0's bits mean "empty"; a true zero is stored as the smallest positive.
            Some(next.max(f64::MIN_POSITIVE).to_bits())
        });
    }

    /// The average, `None` before the first observation.
    pub fn get(&self) -> Option<f64> {
        match self.0.load(Relaxed) {
            0 => None,
            bits => Some(f64::from_bits(bits)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pool(device: Device, per_unit: Option<f64>, queued: usize, in_flight: usize) -> PoolLoad {
        PoolLoad {
            queued,
            in_flight,
            slots: 1,
            per_unit,
            mean_units: Some(10.0),
            transfer: 0.0,
            stalled: 0.0,
            background: 0.0,
            device,
            eligible: true,
        }
    }

    #[test]
    fn background_jobs_count_as_load() {
        // Two idle CPU pools; one runs 5 s of background jobs: the other gets the work,
        // and the busy one's estimate carries the 5 s.
        let busy = PoolLoad {
            background: 5.0,
            ..pool(Device::Cpu, Some(0.01), 0, 0)
        };
        let loads = [busy, pool(Device::Cpu, Some(0.01), 0, 0)];
        let c = choose(&loads, 1.0).expect("a choice");
        assert_eq!(c.index, 1);
        assert!((estimate(&loads[0], 1.0, 0.01) - 5.01).abs() < 1e-12);
    }

    #[test]
    fn the_soonest_finisher_wins_not_the_fastest() {
        // GPU: 1 ms/unit with 4 requests of 10 units ahead → 40 + 10 = 50 ms.
        // CPU: 3 ms/unit, idle → 30 ms.
        let loads = [
            pool(Device::Cuda(0), Some(0.001), 3, 1),
            pool(Device::Cpu, Some(0.003), 0, 0),
        ];
        let c = choose(&loads, 10.0).expect("a choice");
        assert_eq!(c.index, 1);
        assert!((c.estimate - 0.030).abs() < 1e-12);
        assert!((estimate(&loads[0], 10.0, 1.0) - 0.050).abs() < 1e-12);
    }

    #[test]
    fn slots_divide_the_backlog_and_transfer_is_added() {
        let mut remote = pool(Device::Remote, Some(0.001), 8, 8);
        remote.slots = 16;
        remote.transfer = 0.005;
        // backlog 16 × 10 / 16 = 10 units → 10 ms wait + 10 ms work + 5 ms transfer.
        assert!((estimate(&remote, 10.0, 1.0) - 0.025).abs() < 1e-12);
    }

    #[test]
    fn ties_prefer_local_then_gpu() {
        let loads = [
            pool(Device::Remote, Some(0.001), 0, 0),
            pool(Device::Cpu, Some(0.001), 0, 0),
            pool(Device::Cuda(1), Some(0.001), 0, 0),
        ];
        assert_eq!(choose(&loads, 5.0).map(|c| c.index), Some(2));
        assert_eq!(choose(&loads[..2], 5.0).map(|c| c.index), Some(1));
    }

    #[test]
    fn ineligible_pools_are_skipped_and_none_left_is_none() {
        let mut loads = [
            pool(Device::Cuda(0), Some(0.001), 0, 0),
            pool(Device::Cpu, Some(0.009), 5, 1),
        ];
        loads[0].eligible = false;
        assert_eq!(choose(&loads, 1.0).map(|c| c.index), Some(1));
        loads[1].eligible = false;
        assert_eq!(choose(&loads, 1.0), None);
    }

    #[test]
    fn unobserved_pools_borrow_the_fastest_rate_and_start_as_least_requests() {
        let fresh = pool(Device::Cpu, None, 0, 0);
        let known = pool(Device::Cpu, Some(0.002), 0, 1);
        let loads = [known, fresh.clone()];
        assert_eq!(fallback_per_unit(&loads), 0.002);
        assert_eq!(choose(&loads, 10.0).map(|c| c.index), Some(1));
        // Nothing observed: least outstanding requests decides.
        let loads = [pool(Device::Cpu, None, 0, 2), pool(Device::Cpu, None, 0, 1)];
        assert_eq!(choose(&loads, 1.0).map(|c| c.index), Some(1));
    }

    #[test]
    fn a_stalled_pool_looks_as_slow_as_its_stall() {
        let mut hung = pool(Device::Cuda(0), Some(0.001), 2, 1);
        hung.stalled = 2.0;
        assert!((wait(&hung, 10.0, 1.0) - 2.0).abs() < 1e-12);
        let loads = [hung, pool(Device::Cpu, Some(0.010), 0, 0)];
        assert_eq!(choose(&loads, 10.0).map(|c| c.index), Some(1));
    }

    #[test]
    fn ewma_starts_at_the_first_value_and_moves_by_alpha() {
        let e = Ewma::default();
        assert_eq!(e.get(), None);
        e.observe(10.0);
        assert_eq!(e.get(), Some(10.0));
        e.observe(20.0);
        assert!((e.get().unwrap_or(0.0) - 12.0).abs() < 1e-12);
        e.observe(f64::NAN);
        e.observe(-1.0);
        assert!((e.get().unwrap_or(0.0) - 12.0).abs() < 1e-12);
    }
}
