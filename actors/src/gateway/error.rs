//! Every error becomes JSON `{"error": {"code", "message"}}` with its HTTP status, here
//! and only here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use swarm_runtime::SwarmError;

/// An error answered over HTTP.
#[derive(Debug)]
pub enum ApiError {
    /// A runtime error from a service call.
    Swarm(SwarmError),
    /// No or wrong API key.
    Unauthorized,
    /// The body exceeds the limit.
    PayloadTooLarge(u64),
    /// The body is not JSON, or not of the expected shape.
    BadRequest {
        /// HTTP status (400, 415 or 422).
        status: StatusCode,
        /// Stable code.
        code: &'static str,
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

impl ApiError {
    /// The status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Swarm(e) => {
                let status = match e {
                    SwarmError::Overloaded { .. } | SwarmError::Dropped { .. } => {
                        StatusCode::TOO_MANY_REQUESTS
                    }
                    SwarmError::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
                    SwarmError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    SwarmError::InvalidRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    SwarmError::NotFound(_) => StatusCode::NOT_FOUND,
                    SwarmError::WorkerCrashed | SwarmError::Internal(_) => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                };
                (status, e.code())
            }
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::BadRequest { status, code, .. } => (*status, code),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        }
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
        let (status, code) = self.status_and_code();
        let body = serde_json::json!({ "error": { "code": code, "message": self.message() } });
        let mut response = (status, axum::Json(body)).into_response();
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
