//! OTP-style supervision rules as plain data and synchronous functions: which workers a
//! failure restarts ([`RestartStrategy`]), how many restarts are tolerated
//! ([`RestartIntensity`]), and how long to wait before each ([`Backoff`]). The pool's
//! supervisor actor applies them; tests call them directly.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Which workers are restarted when one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartStrategy {
    /// Only the failed worker.
    #[default]
    OneForOne,
    /// Every worker of the pool.
    OneForAll,
    /// The failed worker and every worker started after it.
    RestForOne,
}

impl RestartStrategy {
    /// The strategy's name as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Self::OneForOne => "one_for_one",
            Self::OneForAll => "one_for_all",
            Self::RestForOne => "rest_for_one",
        }
    }

    /// Parses a YAML name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::OneForOne, Self::OneForAll, Self::RestForOne]
            .into_iter()
            .find(|s| s.name() == name)
    }

    /// The worker slots to restart when `failed` fails in a pool of `size`.
    pub fn slots_to_restart(self, failed: usize, size: usize) -> Vec<usize> {
        match self {
            Self::OneForOne => vec![failed],
            Self::OneForAll => (0..size).collect(),
            Self::RestForOne => (failed..size).collect(),
        }
    }
}

/// At most `max_restarts` restarts within `within`; one more escalates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartIntensity {
    /// Restarts tolerated inside the window.
    pub max_restarts: u32,
    /// The sliding window.
    pub within: Duration,
}

impl Default for RestartIntensity {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            within: Duration::from_secs(10),
        }
    }
}

/// Exponential restart delay: `initial`, doubling with each recent restart, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first restart in a window.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(10),
            max: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// The delay before restart number `n` (1-based) of the current window.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// A pool's supervision settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SupervisionConfig {
    /// Which workers a failure restarts.
    pub strategy: RestartStrategy,
    /// How many restarts are tolerated before escalating.
    pub intensity: RestartIntensity,
    /// Delay before each restart.
    pub backoff: Backoff,
}

/// The decision after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart these slots after `delay`.
    Restart {
        /// Worker slots to restart.
        slots: Vec<usize>,
        /// Backoff before restarting.
        delay: Duration,
    },
    /// Intensity exceeded: give up and escalate.
    Escalate,
}

/// Counts restarts in a sliding window and decides what a failure leads to.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    config: SupervisionConfig,
    recent: VecDeque<Instant>,
}

impl RestartTracker {
    /// A tracker with no restarts yet.
    pub fn new(config: SupervisionConfig) -> Self {
        Self {
            config,
            recent: VecDeque::new(),
        }
    }

    /// Records a failure of `slot` (pool of `size`) at `now` and decides.
    pub fn on_failure(&mut self, slot: usize, size: usize, now: Instant) -> RestartDecision {
        let window = self.config.intensity.within;
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= self.config.intensity.max_restarts {
            return RestartDecision::Escalate;
        }
        self.recent.push_back(now);
        RestartDecision::Restart {
            slots: self.config.strategy.slots_to_restart(slot, size),
            delay: self.config.backoff.delay(self.recent.len() as u32),
        }
    }
}
