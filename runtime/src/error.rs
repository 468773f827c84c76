//! Errors a caller can act on, each with a stable `code()` shared by HTTP bodies and metrics.

use std::fmt;
use std::time::Duration;

/// Every stable error code the swarm answers with: in JSON error bodies, metric labels
/// and the README's table. Runtime errors ([`SwarmError::code`]) and the gateway's own
/// (auth, body, routing) share this one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// The queue is full (`reject`).
    Overloaded,
    /// Evicted (`drop_oldest`) or refused on arrival (`drop_newest`).
    Dropped,
    /// The deadline passed.
    DeadlineExceeded,
    /// The worker crashed.
    WorkerCrashed,
    /// Shutting down, failed, or absent.
    Unavailable,
    /// Well-formed input the service refuses.
    InvalidRequest,
    /// The request names something that does not exist, or no such route.
    NotFound,
    /// A failure that is not the caller's fault.
    Internal,
    /// The body is not valid JSON.
    InvalidJson,
    /// The body could not be read.
    InvalidBody,
    /// A header the swarm reads has a bad value.
    InvalidHeader,
    /// Missing or wrong API key.
    Unauthorized,
    /// The body exceeds the route's limit.
    PayloadTooLarge,
    /// Wrong `Content-Type`.
    UnsupportedMediaType,
    /// The route exists, not for this method.
    MethodNotAllowed,
}

impl ErrorCode {
    /// Every code, in the README's order.
    pub const ALL: [ErrorCode; 15] = [
        Self::InvalidJson,
        Self::InvalidBody,
        Self::InvalidHeader,
        Self::Unauthorized,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::InvalidRequest,
        Self::Overloaded,
        Self::Dropped,
        Self::WorkerCrashed,
        Self::Internal,
        Self::Unavailable,
        Self::DeadlineExceeded,
    ];

    /// The codes a [`SwarmError`] carries (the rest are the gateway's own), in metric order.
    pub const RUNTIME: [ErrorCode; 8] = [
        Self::Overloaded,
        Self::Dropped,
        Self::DeadlineExceeded,
        Self::WorkerCrashed,
        Self::Unavailable,
        Self::InvalidRequest,
        Self::NotFound,
        Self::Internal,
    ];

    /// The code as sent: `deadline_exceeded`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overloaded => "overloaded",
            Self::Dropped => "dropped",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::WorkerCrashed => "worker_crashed",
            Self::Unavailable => "unavailable",
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::Internal => "internal",
            Self::InvalidJson => "invalid_json",
            Self::InvalidBody => "invalid_body",
            Self::InvalidHeader => "invalid_header",
            Self::Unauthorized => "unauthorized",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed => "method_not_allowed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

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
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Overloaded { .. } => ErrorCode::Overloaded,
            Self::Dropped { .. } => ErrorCode::Dropped,
            Self::DeadlineExceeded => ErrorCode::DeadlineExceeded,
            Self::WorkerCrashed => ErrorCode::WorkerCrashed,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Internal(_) => ErrorCode::Internal,
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
    /// What the request needs cannot be served now (a corrupt collection awaiting repair);
    /// the message says why and is sent to the caller.
    #[error("{0}")]
    Unavailable(String),
    /// A call to another service (a dependency) failed; its error is passed on as it is,
    /// so an overloaded dependency still answers `overloaded`, not `internal`.
    #[error("{0}")]
    Upstream(SwarmError),
}

impl From<SwarmError> for ServiceError {
    fn from(e: SwarmError) -> Self {
        Self::Upstream(e)
    }
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
            ServiceError::Unavailable(m) => Self::Unavailable(m),
            ServiceError::Upstream(e) => e,
        }
    }
}
