//! A retry budget (as Finagle and linkerd keep one): every request deposits `ratio` of a
//! retry, every retry withdraws a whole one, and `min_per_second` retries are always
//! allowed, so retries add at most `ratio` extra load when a server is failing, instead
//! of multiplying it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How much retrying a pool may do.
#[derive(Debug)]
pub struct RetryBudget {
    /// Thousandths of a retry deposited per request (integers: 10 × 0.2 is exactly 2).
    per_request: u64,
    min_per_second: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Thousandths of a retry.
    balance: u64,
    second: Instant,
    free_used: u32,
}

/// The most retries banked (in thousandths): a quiet hour does not pay for a storm.
const MAX_BALANCE: u64 = 100_000;

/// One retry, in thousandths.
const ONE: u64 = 1_000;

impl RetryBudget {
    /// A budget of `ratio` retries per request plus `min_per_second`.
    pub fn new(ratio: f64, min_per_second: u32) -> Self {
        Self {
            per_request: (ratio.clamp(0.0, 100.0) * ONE as f64).round() as u64,
            min_per_second,
            state: Mutex::new(State {
                balance: 0,
                second: Instant::now(),
                free_used: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a request (first attempt).
    pub fn deposit(&self) {
        let mut s = self.state();
        s.balance = (s.balance + self.per_request).min(MAX_BALANCE);
    }

    /// Takes one retry from the budget if it allows one now.
    pub fn try_withdraw(&self) -> bool {
        let mut s = self.state();
        let now = Instant::now();
        if now.duration_since(s.second) >= Duration::from_secs(1) {
            s.second = now;
            s.free_used = 0;
        }
        if s.free_used < self.min_per_second {
            s.free_used += 1;
            return true;
        }
        if s.balance >= ONE {
            s.balance -= ONE;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_are_a_fraction_of_requests_beyond_the_free_ones() {
        let budget = RetryBudget::new(0.2, 2);
        assert!(
            budget.try_withdraw() && budget.try_withdraw(),
            "two free this second"
        );
        assert!(!budget.try_withdraw(), "no balance yet");
        for _ in 0..10 {
            budget.deposit();
        }
        assert!(
            budget.try_withdraw() && budget.try_withdraw(),
            "10 × 0.2 = 2 retries"
        );
        assert!(!budget.try_withdraw());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            budget.try_withdraw(),
            "the free allowance renews each second"
        );
    }
}
