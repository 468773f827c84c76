//! The batcher's rules as plain synchronous code: when a batch is full (size or token
//! budget), when it must close (the oldest member waited `max_wait`), and which requests
//! are refused outright (alone over the token budget).

use std::time::Duration;

use tokio::time::Instant;

/// The four limits, all set in YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Most requests in one batch.
    pub max_batch_size: usize,
    /// Longest the oldest request waits before its batch closes.
    pub max_wait: Duration,
    /// Most tokens in one batch (sum of each request's token count).
    pub max_batch_tokens: usize,
    /// Batches running at once.
    pub max_concurrent_batches: usize,
    /// Most requests waiting to join a batch; past that a submit answers `overloaded`.
    pub max_queued: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            max_batch_size: 32,
            max_wait: Duration::from_millis(5),
            max_batch_tokens: 16_384,
            max_concurrent_batches: 1,
            max_queued: 1_024,
        }
    }
}

/// What to do with an arriving request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It joins the forming batch.
    Join,
    /// The forming batch must close first; the request starts the next one.
    CloseThenJoin,
    /// It alone exceeds the token budget.
    TooLarge,
}

/// A batch being formed: its members' token counts and when the oldest arrived.
#[derive(Debug, Default)]
pub struct Forming {
    count: usize,
    tokens: usize,
    oldest: Option<Instant>,
}

impl Forming {
    /// Decides where a request of `tokens` goes.
    pub fn admit(&self, tokens: usize, policy: &BatchPolicy) -> Admission {
        if tokens > policy.max_batch_tokens {
            return Admission::TooLarge;
        }
        if self.count > 0
            && (self.count >= policy.max_batch_size
                || self.tokens + tokens > policy.max_batch_tokens)
        {
            return Admission::CloseThenJoin;
        }
        Admission::Join
    }

    /// Records a member that arrived at `at`.
    pub fn join(&mut self, tokens: usize, at: Instant) {
        self.count += 1;
        self.tokens += tokens;
        self.oldest.get_or_insert(at);
    }

    /// True when the batch cannot take more requests.
    pub fn is_full(&self, policy: &BatchPolicy) -> bool {
        self.count >= policy.max_batch_size || self.tokens >= policy.max_batch_tokens
    }

    /// When the batch must close at the latest (its oldest member's wait runs out).
    pub fn closes_at(&self, policy: &BatchPolicy) -> Option<Instant> {
        self.oldest.map(|t| t + policy.max_wait)
    }

    /// Members so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no request has joined.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Starts over for the next batch.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}
