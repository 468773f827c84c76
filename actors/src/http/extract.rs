//! What every route handler needs, written once: [`Call`] (the request's deadline from
//! the gateway's `request_timeout`, shortened by `x-swarm-timeout-ms`, and its trace
//! context), [`ValidJson`] (a JSON body whose rejections are [`ApiError`]s naming the
//! route's real body limit), [`ValidQuery`] (the same for query strings) and [`RawBody`]
//! (bytes, for binary uploads).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use swarm_runtime::{CallOptions, ErrorCode, telemetry};

use super::error::ApiError;

/// The gateway's limits, put in every request's extensions by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deadline of a request, unless `x-swarm-timeout-ms` asks for less.
    pub request_timeout: Duration,
    /// Largest JSON body, in bytes.
    pub body_limit: u64,
    /// Largest upload (model updates), in bytes.
    pub upload_limit: u64,
    /// Largest point batch (vector upserts), in bytes.
    pub points_limit: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            body_limit: 1 << 20,
            upload_limit: 64 << 20,
            points_limit: 32 << 20,
        }
    }
}

/// Marks a request the trace sampler left out (set by the gateway).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unsampled;

/// The body limit in force on this route (set next to axum's `DefaultBodyLimit`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppliedBodyLimit(pub(crate) u64);

/// Call options for this request: one deadline for everything it causes.
#[derive(Debug, Clone)]
pub struct Call(pub CallOptions);

impl<S: Send + Sync> FromRequestParts<S> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let limits = parts
            .extensions
            .get::<Limits>()
            .copied()
            .unwrap_or_default();
        let mut timeout = limits.request_timeout;
        if let Some(v) = parts.headers.get("x-swarm-timeout-ms") {
            let ms: u64 = v
                .to_str()
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ApiError::BadRequest {
                    code: ErrorCode::InvalidHeader,
                    message: "x-swarm-timeout-ms must be a whole number of milliseconds".into(),
                })?;
            timeout = timeout.min(Duration::from_millis(ms.max(1)));
        }
        let span = tracing::Span::current();
        // A disabled span (tracing off) has no context to propagate.
        let traceparent = if span.is_disabled() {
            None
        } else {
            telemetry::traceparent_of(&span)
        };
        Ok(Self(CallOptions {
            timeout: Some(timeout),
            traceparent,
            unsampled: parts.extensions.get::<Unsampled>().is_some(),
            ..CallOptions::default()
        }))
    }
}

fn body_limit(req: &Request) -> u64 {
    req.extensions()
        .get::<AppliedBodyLimit>()
        .map_or_else(|| Limits::default().body_limit, |l| l.0)
}

/// JSON body extractor whose rejections are [`ApiError`]s.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = body_limit(&req);
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_error(rejection, limit)),
        }
    }
}

fn json_error(rejection: JsonRejection, limit: u64) -> ApiError {
    let message = rejection.body_text();
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(limit),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::BadRequest {
            code: ErrorCode::UnsupportedMediaType,
            message: "expected Content-Type: application/json".into(),
        },
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::invalid(message),
        _ => ApiError::BadRequest {
            code: ErrorCode::InvalidJson,
            message,
        },
    }
}

/// Query-string extractor whose rejections are [`ApiError`]s (422 naming the parameter),
/// not axum's plain-text 400.
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Self(q.0))
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))
    }
}

/// The raw body, for routes that take more than JSON.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = body_limit(&req);
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(limit)
                } else {
                    ApiError::BadRequest {
                        code: ErrorCode::InvalidBody,
                        message: r.body_text(),
                    }
                }
            })
    }
}

/// Parses JSON bytes the way [`ValidJson`] would: syntax errors are 400 `invalid_json`,
/// shape errors 422 `invalid_request`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ApiError::invalid(e.to_string())
        } else {
            ApiError::BadRequest {
                code: ErrorCode::InvalidJson,
                message: e.to_string(),
            }
        }
    })
}
