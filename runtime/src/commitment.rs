//! The point of no return of a request's work. A handler that changes state calls
//! [`Commitment::commit`] just before the change becomes irreversible (a write reaches the
//! log). Before that point the deadline wins: the caller is answered `deadline_exceeded`
//! and the work must not happen. After it the work wins: the caller waits for the answer
//! even past its deadline. So a write answered `deadline_exceeded` was never applied, and
//! a write that was applied is always answered with its result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::time::Instant;

use crate::error::SwarmError;

const OPEN: u8 = 0;
const COMMITTED: u8 = 1;
const ABANDONED: u8 = 2;

/// Shared between a caller and the worker running its request; see the module docs.
#[derive(Debug, Clone)]
pub struct Commitment {
    state: Arc<AtomicU8>,
    deadline: Instant,
}

impl Commitment {
    /// An open commitment for a request due at `deadline`.
    pub fn new(deadline: Instant) -> Self {
        Self {
            state: Arc::new(AtomicU8::new(OPEN)),
            deadline,
        }
    }

    /// Claims the request's work as irreversible from now on. `DeadlineExceeded` when the
    /// caller has given up or the deadline has passed: the work must then not be done.
    /// Calling it again after a success succeeds.
    pub fn commit(&self) -> Result<(), SwarmError> {
        if Instant::now() >= self.deadline {
            // Past the deadline the caller's timer wins, whether or not it has fired yet.
            let _ =
                self.state
                    .compare_exchange(OPEN, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
        }
        match self
            .state
            .compare_exchange(OPEN, COMMITTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(COMMITTED) => Ok(()),
            Err(_) => Err(SwarmError::DeadlineExceeded),
        }
    }

    /// The caller's side at its deadline: true when the work had not committed (it never
    /// will now); false when it has, and the caller must wait for the answer.
    pub(crate) fn abandon(&self) -> bool {
        match self
            .state
            .compare_exchange(OPEN, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(ABANDONED) => true,
            Err(_) => false,
        }
    }

    /// Whether the work has committed.
    pub fn is_committed(&self) -> bool {
        self.state.load(Ordering::Acquire) == COMMITTED
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_first_of_commit_and_abandon_wins() {
        let later = Instant::now() + Duration::from_secs(3600);
        let c = Commitment::new(later);
        c.commit().unwrap();
        assert!(!c.abandon(), "committed work is waited for");
        c.commit().unwrap();

        let c = Commitment::new(later);
        assert!(c.abandon());
        assert!(matches!(c.commit(), Err(SwarmError::DeadlineExceeded)));
        assert!(!c.is_committed());
    }

    #[tokio::test]
    async fn past_its_deadline_a_request_cannot_commit() {
        let c = Commitment::new(Instant::now());
        assert!(matches!(c.commit(), Err(SwarmError::DeadlineExceeded)));
        assert!(c.abandon());
    }
}
