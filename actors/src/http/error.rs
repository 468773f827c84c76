//! Every error becomes JSON `{"error": {"code", "message"}}` with its HTTP status, here
//! and only here: [`status_of`] is the one exhaustive map from [`ErrorCode`] to status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use swarm_runtime::{ErrorCode, SwarmError};

/// An error answered over HTTP.
#[derive(Debug)]
pub enum ApiError {
    /// A runtime error from a service call.
    Swarm(SwarmError),
    /// No or wrong API key.
    Unauthorized,
    /// The body exceeds the route's limit, in bytes.
    PayloadTooLarge(u64),
    /// The request itself is malformed (body, header or media type).
    BadRequest {
        /// Stable code (its status follows from it).
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
    /// No such route.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
}

impl From<SwarmError> for ApiError {
    fn from(e: SwarmError) -> Self {
        Self::Swarm(e)
    }
}

/// The HTTP status of every code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidJson | ErrorCode::InvalidBody | ErrorCode::InvalidHeader => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::InvalidRequest => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Overloaded | ErrorCode::Dropped => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::WorkerCrashed | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
    }
}

impl ApiError {
    /// A refusal of the input: 422 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Swarm(SwarmError::InvalidRequest(message.into()))
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Swarm(e) => e.code(),
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::BadRequest { code, .. } => *code,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
        }
    }

    /// The status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        let code = self.code();
        (status_of(code), code)
    }

    /// The JSON error body, `{"error": {"code", "message"}}` (also sent as the last event
    /// of a stream that fails).
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code().as_str(), "message": self.message() } })
    }

    fn message(&self) -> String {
        match self {
            Self::Swarm(SwarmError::Internal(detail)) => {
                tracing::error!(%detail, "internal error");
                "internal error".into()
            }
            Self::Swarm(e) => e.to_string(),
            Self::Unauthorized => "a valid API key is required: Authorization: Bearer <key>".into(),
            Self::PayloadTooLarge(limit) => {
                format!("request body exceeds the limit of {limit} bytes")
            }
            Self::BadRequest { message, .. } => message.clone(),
            Self::NotFound => "no such route".into(),
            Self::MethodNotAllowed => "method not allowed on this route".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.code());
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let ApiError::Swarm(e) = &self
            && let Some(after) = e.retry_after()
        {
            let secs = after.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, ApiError::Unauthorized) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
