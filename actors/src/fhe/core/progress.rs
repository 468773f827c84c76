//! A job's progress in ciphertext operations, and its cancellation budget: every
//! operation asks [`Progress::step`] first, so a cancelled or expired job stops within one
//! operation (tfhe offers no way to interrupt one mid-way; each takes 0.1–3 s here).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::FheError;

/// Operations done out of a known total, a cancel flag and a deadline.
#[derive(Debug)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
    deadline: Option<Instant>,
}

impl Progress {
    /// A job of `total` operations that must finish by `deadline`.
    pub fn new(total: u64, deadline: Option<Instant>) -> Self {
        Self {
            done: AtomicU64::new(0),
            total: AtomicU64::new(total),
            cancelled: AtomicBool::new(false),
            deadline,
        }
    }

    /// Asks to stop before the next operation.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Before each operation: an error when the job must stop; counts it otherwise.
    pub fn step(&self) -> Result<(), FheError> {
        if self.is_cancelled() {
            return Err(FheError::Stopped("cancelled".into()));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(FheError::Stopped(format!(
                "deadline passed after {} of {} operations",
                self.done(),
                self.total()
            )));
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Operations started so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Operations in the whole job.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}
