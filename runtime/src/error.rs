//! Errors a caller can act on, each with a stable `code()` shared by HTTP bodies and metrics.

use std::time::Duration;

/// Why a request did not get a normal answer. Every request ends in a reply or one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwarmError {
    /// The service's queue is full (policy `reject`); try again after `retry_after`.
    #[error("service `{service}` is overloaded; retry after {retry_after:?}")]
    Overloaded {
        /// The service that refused the request.
        service: String,
        /// A hint of when capacity is likely to be free again.
        retry_after: Duration,
    },
    /// The request was accepted but later evicted by the overflow policy
    /// (`drop_oldest`), or refused on arrival by `drop_newest`.
    #[error("request dropped by service `{service}` ({policy} overflow policy)")]
    Dropped {
        /// The service that dropped the request.
        service: String,
        /// The overflow policy that dropped it.
        policy: &'static str,
        /// A hint of when capacity is likely to be free again.
        retry_after: Duration,
    },
    /// The request's deadline passed before it was answered.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The worker handling the request crashed before answering.
    #[error("the worker handling the request crashed")]
    WorkerCrashed,
    /// The service is not accepting work (shutting down, failed, or unknown).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The request itself is invalid; retrying it unchanged will fail again.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The request names something that does not exist (a round, a collection, …).
    #[error("not found: {0}")]
    NotFound(String),
    /// A failure inside the service that is not the caller's fault. The message is
    /// for logs; HTTP answers carry a generic text.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SwarmError {
    /// The stable machine-readable code: used in JSON error bodies and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Overloaded { .. } => "overloaded",
            Self::Dropped { .. } => "dropped",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::WorkerCrashed => "worker_crashed",
            Self::Unavailable(_) => "unavailable",
            Self::InvalidRequest(_) => "invalid_request",
            Self::NotFound(_) => "not_found",
            Self::Internal(_) => "internal",
        }
    }

    /// When the caller may retry, if the error says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Overloaded { retry_after, .. } | Self::Dropped { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

/// An error returned by a service's handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The request is invalid for this service.
    #[error("{0}")]
    InvalidRequest(String),
    /// The request names something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The service could not finish in time (the message is logged).
    #[error("{0}")]
    Timeout(String),
    /// The service failed for a reason that is not the caller's fault.
    #[error("{0}")]
    Internal(String),
}

impl From<ServiceError> for SwarmError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::InvalidRequest(m) => Self::InvalidRequest(m),
            ServiceError::NotFound(m) => Self::NotFound(m),
            ServiceError::Timeout(m) => {
                tracing::warn!(reason = %m, "service timed out");
                Self::DeadlineExceeded
            }
            ServiceError::Internal(m) => Self::Internal(m),
        }
    }
}
