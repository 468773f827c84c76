//! A pool's circuit breaker (pure: the caller passes the time). Closed → Open after
//! `failures` failures within `window`; Open → HalfOpen once `cooldown` has passed,
//! letting exactly one probe through; the probe's success closes it, its failure opens
//! it again for another cooldown.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures within `window` that open the breaker.
    pub failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// How long it stays open before a probe is let through.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    /// 5 failures in 10 s open it for 5 s.
    fn default() -> Self {
        Self {
            failures: 5,
            window: Duration::from_secs(10),
            cooldown: Duration::from_secs(5),
        }
    }
}

/// The breaker's state, as `/health` and `/metrics` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Traffic flows.
    Closed,
    /// Traffic is refused until the cooldown ends.
    Open,
    /// One probe may pass; the others are refused.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open`, `half_open`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// 0, 1, 2 for the gauge.
    pub fn gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// One pool's breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    recent: VecDeque<Instant>,
    phase: Phase,
    /// Times it opened.
    pub opened: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            recent: VecDeque::new(),
            phase: Phase::Closed,
            opened: 0,
        }
    }

    /// The state at `now` (an open breaker whose cooldown ended reads half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if now < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether a request could be sent at `now`, without taking the probe.
    pub fn would_allow(&self, now: Instant) -> bool {
        match self.phase {
            Phase::Closed => true,
            Phase::Open { until } => now >= until,
            Phase::HalfOpen { probing } => !probing,
        }
    }

    /// Admits a request at `now`: always when closed; the one probe when half-open.
    pub fn admit(&mut self, now: Instant) -> bool {
        if let Phase::Open { until } = self.phase
            && now >= until
        {
            self.phase = Phase::HalfOpen { probing: false };
        }
        match &mut self.phase {
            Phase::Closed => true,
            Phase::Open { .. } => false,
            Phase::HalfOpen { probing } if !*probing => {
                *probing = true;
                true
            }
            Phase::HalfOpen { .. } => false,
        }
    }

    /// Records how an admitted request ended.
    pub fn record(&mut self, ok: bool, now: Instant) {
        match (self.phase, ok) {
            (Phase::HalfOpen { .. }, true) => {
                self.phase = Phase::Closed;
                self.recent.clear();
            }
            (Phase::HalfOpen { .. }, false) => self.open(now),
            (Phase::Closed, false) => {
                self.recent.push_back(now);
                while self
                    .recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > self.config.window)
                {
                    self.recent.pop_front();
                }
                if self.recent.len() >= self.config.failures.max(1) as usize {
                    self.open(now);
                }
            }
            // Answers of requests admitted before it opened change nothing.
            (Phase::Closed, true) | (Phase::Open { .. }, _) => {}
        }
    }

    /// Gives back a probe whose request ended without an answer (its caller went away).
    pub fn release(&mut self) {
        if let Phase::HalfOpen { probing } = &mut self.phase {
            *probing = false;
        }
    }

    fn open(&mut self, now: Instant) {
        self.phase = Phase::Open {
            until: now + self.config.cooldown,
        };
        self.recent.clear();
        self.opened += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failures: 3,
            window: Duration::from_secs(10),
            cooldown: Duration::from_secs(5),
        })
    }

    #[test]
    fn opens_after_n_failures_in_the_window_only() {
        let t0 = Instant::now();
        let mut b = breaker();
        b.record(false, t0);
        b.record(false, t0 + Duration::from_secs(5));
        // The first failure has left the window: still two in it.
        b.record(false, t0 + Duration::from_secs(12));
        assert_eq!(b.state(t0 + Duration::from_secs(12)), BreakerState::Closed);
        b.record(false, t0 + Duration::from_secs(13));
        assert_eq!(b.state(t0 + Duration::from_secs(13)), BreakerState::Open);
        assert!(!b.admit(t0 + Duration::from_secs(14)));
        assert_eq!(b.opened, 1);
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_answer_decides() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(false, t0);
        }
        let later = t0 + Duration::from_secs(5);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert!(b.would_allow(later));
        assert!(b.admit(later), "the probe");
        assert!(!b.admit(later), "only one probe");
        assert!(!b.would_allow(later));
        b.record(false, later);
        assert_eq!(b.state(later), BreakerState::Open, "a failed probe reopens");
        let again = later + Duration::from_secs(5);
        assert!(b.admit(again));
        b.record(true, again);
        assert_eq!(b.state(again), BreakerState::Closed);
        assert!(b.admit(again) && b.admit(again));
        assert_eq!(b.opened, 2);
    }

    #[test]
    fn a_probe_given_back_can_be_taken_again() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(false, t0);
        }
        let later = t0 + Duration::from_secs(6);
        assert!(b.admit(later));
        b.release();
        assert!(b.admit(later));
    }

    #[test]
    fn successes_do_not_erase_failures_in_the_window() {
        let t0 = Instant::now();
        let mut b = breaker();
        b.record(false, t0);
        b.record(true, t0);
        b.record(false, t0);
        b.record(true, t0);
        b.record(false, t0);
        assert_eq!(b.state(t0), BreakerState::Open);
    }
}
