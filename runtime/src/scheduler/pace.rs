//! A pool's observed pace: EWMAs of service time per unit of work and of units per
//! request, and when it last made progress (for the stall term of the estimate).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

use super::estimate::Ewma;

/// Kept in every pool; only the scheduler reads it.
#[derive(Debug)]
pub(crate) struct Pace {
    per_unit: Ewma,
    units: Ewma,
    epoch: Instant,
    /// Nanoseconds after `epoch` of the last completion, or of the start of work on an
    /// idle pool.
    last_progress: AtomicU64,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            per_unit: Ewma::default(),
            units: Ewma::default(),
            epoch: Instant::now(),
            last_progress: AtomicU64::new(0),
        }
    }
}

impl Pace {
    /// A request of `units` was served in `took`.
    pub(crate) fn observe(&self, units: f64, took: Duration) {
        let units = units.max(f64::MIN_POSITIVE);
        self.per_unit.observe(took.as_secs_f64() / units);
        self.units.observe(units);
    }

    /// Marks progress now (a completion, or an idle pool starting work).
    pub(crate) fn progressed(&self) {
        let nanos = self.epoch.elapsed().as_nanos();
        self.last_progress
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Relaxed);
    }

    /// Seconds per unit, once observed.
    pub(crate) fn per_unit(&self) -> Option<f64> {
        self.per_unit.get()
    }

    /// Mean units per request, once observed.
    pub(crate) fn mean_units(&self) -> Option<f64> {
        self.units.get()
    }

    /// When the pool last made progress.
    pub(crate) fn last_progress(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.last_progress.load(Relaxed))
    }

    /// Seconds since the last progress when busy, else 0.
    pub(crate) fn stalled(&self, busy: bool) -> f64 {
        if busy {
            self.last_progress().elapsed().as_secs_f64()
        } else {
            0.0
        }
    }
}
