//! How much work a request may do: exponential methods estimate their cost up front and
//! refuse what cannot finish before the deadline; long loops check the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::NashError;

/// Nanoseconds one elementary step (one small linear solve's worth of flops) is assumed
/// to take, for up-front estimates. Measured on a 2-core build machine, rounded up.
const NANOS_PER_FLOP: f64 = 1.0;

/// A deadline and a cancellation flag.
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Instant,
    cancelled: Arc<AtomicBool>,
}

impl Budget {
    /// A budget ending at `deadline`.
    pub fn until(deadline: Instant) -> Self {
        Self {
            deadline,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A budget of `d` from now.
    pub fn within(d: Duration) -> Self {
        Self::until(Instant::now() + d)
    }

    /// A flag that, once set, makes the next check fail.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    /// Fails when the deadline passed or the work was cancelled.
    pub fn check(&self) -> Result<(), NashError> {
        if self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.deadline {
            return Err(NashError::DeadlineExceeded);
        }
        Ok(())
    }

    /// Refuses up front when `flops` of work would not fit in the time left.
    pub fn afford(&self, method: &str, flops: f64) -> Result<(), NashError> {
        let needed = Duration::from_secs_f64((flops * NANOS_PER_FLOP / 1e9).min(1e9));
        let left = self.deadline.saturating_duration_since(Instant::now());
        if needed > left {
            return Err(NashError::TooLarge(format!(
                "{method} would need about {needed:.1?} for this game but {left:.1?} remain; use lemke_howson or a learning method"
            )));
        }
        Ok(())
    }
}

/// n choose k as f64 (estimates only).
pub(crate) fn choose(n: usize, k: usize) -> f64 {
    let k = k.min(n - k.min(n));
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}
