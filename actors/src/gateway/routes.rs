//! Route handlers: `/health`, `/metrics`, `/v1/echo`. Each parses its input into a typed
//! request, calls the service through its client, and maps errors via [`ApiError`].

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use swarm_runtime::{CallOptions, SwarmError, telemetry};

use super::app::GatewayState;
use super::error::ApiError;
use crate::consensus::api::{ProposeBody, VerifyBody};
use crate::consensus::{ConsensusRequest, ConsensusResponse};
use crate::echo::{EchoRequest, EchoResponse};
use crate::embed::api::{EmbeddingsBody, response_body as embed_response};
use crate::fl::api::{OpenBody, UpdateBody, update_from_bytes};
use crate::fl::{FlRequest, RoundView};
use crate::nash::api::SolveBody;
use crate::nash::core::Solution;

/// JSON body extractor whose rejections are [`ApiError`]s.
pub(crate) struct ValidJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = rejection.body_text();
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(0),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::BadRequest {
            status,
            code: "unsupported_media_type",
            message: "expected Content-Type: application/json".into(),
        },
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::BadRequest {
            status,
            code: "invalid_request",
            message,
        },
        _ => ApiError::BadRequest {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_json",
            message,
        },
    }
}

/// Call options for a request: the gateway's deadline, shortened by `x-swarm-timeout-ms`.
pub(crate) fn call_options(
    state: &GatewayState,
    headers: &HeaderMap,
) -> Result<CallOptions, ApiError> {
    let mut timeout = state.config.request_timeout;
    if let Some(v) = headers.get("x-swarm-timeout-ms") {
        let ms: u64 = v
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ApiError::BadRequest {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_header",
                message: "x-swarm-timeout-ms must be a whole number of milliseconds".into(),
            })?;
        timeout = timeout.min(Duration::from_millis(ms.max(1)));
    }
    Ok(CallOptions {
        timeout: Some(timeout),
        traceparent: telemetry::traceparent_of(&tracing::Span::current()),
        ..CallOptions::default()
    })
}

/// `POST /v1/echo`.
pub(crate) async fn echo(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    ValidJson(request): ValidJson<EchoRequest>,
) -> Result<Json<EchoResponse>, ApiError> {
    let client = state
        .echo
        .as_ref()
        .ok_or_else(|| SwarmError::Unavailable("no echo service in this swarm".into()))?;
    let options = call_options(&state, &headers)?;
    Ok(Json(client.call_with(request, options).await?))
}

/// `POST /v1/nash/solve`.
pub(crate) async fn nash_solve(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<SolveBody>,
) -> Result<Json<Solution>, ApiError> {
    let client = state
        .nash
        .as_ref()
        .ok_or_else(|| SwarmError::Unavailable("no nash service in this swarm".into()))?;
    let request = body.into_request().map_err(SwarmError::InvalidRequest)?;
    let options = call_options(&state, &headers)?;
    Ok(Json(client.call_with(request, options).await?))
}

/// all-MiniLM-L6-v2's vector length.
const EMBED_DIMENSION: usize = 384;

pub(crate) fn unavailable(service: &str) -> ApiError {
    ApiError::Swarm(SwarmError::Unavailable(format!(
        "no {service} service in this swarm"
    )))
}

/// `POST /v1/fl/rounds`: 201 with the new round.
pub(crate) async fn fl_open(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<OpenBody>,
) -> Result<(StatusCode, Json<RoundView>), ApiError> {
    let client = state.fl.as_ref().ok_or_else(|| unavailable("fl"))?;
    let open = body.into_request().map_err(SwarmError::InvalidRequest)?;
    let options = call_options(&state, &headers)?;
    let view = client
        .call_with(FlRequest::Open(Box::new(open)), options)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/fl/rounds/{id}`.
pub(crate) async fn fl_get(
    State(state): State<GatewayState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<RoundView>, ApiError> {
    let client = state.fl.as_ref().ok_or_else(|| unavailable("fl"))?;
    let options = call_options(&state, &headers)?;
    Ok(Json(
        client
            .call_with(FlRequest::Get { round: id }, options)
            .await?,
    ))
}

/// `POST /v1/fl/rounds/{id}/updates`: JSON, or raw little-endian float32.
pub(crate) async fn fl_submit(
    State(state): State<GatewayState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let client = state.fl.as_ref().ok_or_else(|| unavailable("fl"))?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(state.config.upload_limit)
        } else {
            ApiError::BadRequest {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_body",
                message: r.body_text(),
            }
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let update = if content_type.starts_with("application/octet-stream") {
        let header_text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        update_from_bytes(
            header_text("x-fl-client"),
            header_text("x-fl-num-examples"),
            &body,
        )
        .map_err(SwarmError::InvalidRequest)?
    } else if content_type.starts_with("application/json") {
        let parsed: UpdateBody =
            serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
                status: if e.is_data() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::BAD_REQUEST
                },
                code: if e.is_data() {
                    "invalid_request"
                } else {
                    "invalid_json"
                },
                message: e.to_string(),
            })?;
        parsed.into_update().map_err(SwarmError::InvalidRequest)?
    } else {
        return Err(ApiError::BadRequest {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: "send application/json or application/octet-stream (little-endian float32)"
                .into(),
        });
    };
    let options = call_options(&state, &headers)?;
    let view = client
        .call_with(FlRequest::Submit { round: id, update }, options)
        .await?;
    Ok(Json(serde_json::json!({
        "accepted": true,
        "received": view.participants.len(),
        "needed": view.min_clients,
        "status": view.status,
    })))
}

async fn consensus_call(
    state: &GatewayState,
    headers: &HeaderMap,
    req: ConsensusRequest,
) -> Result<Json<ConsensusResponse>, ApiError> {
    let client = state
        .consensus
        .as_ref()
        .ok_or_else(|| unavailable("consensus"))?;
    let options = call_options(state, headers)?;
    Ok(Json(client.call_with(req, options).await?))
}

/// `POST /v1/consensus/proposals`: the decision and certificate, or 504.
pub(crate) async fn consensus_propose(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<ProposeBody>,
) -> Result<Json<ConsensusResponse>, ApiError> {
    consensus_call(&state, &headers, body.into_request()).await
}

/// `GET /v1/consensus/voters`: the voters' public keys.
pub(crate) async fn consensus_voters(
    State(state): State<GatewayState>,
    headers: HeaderMap,
) -> Result<Json<ConsensusResponse>, ApiError> {
    consensus_call(&state, &headers, ConsensusRequest::Voters).await
}

/// `POST /v1/consensus/verify`: checks a certificate.
pub(crate) async fn consensus_verify(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<VerifyBody>,
) -> Result<Json<ConsensusResponse>, ApiError> {
    consensus_call(
        &state,
        &headers,
        ConsensusRequest::Verify(Box::new(body.certificate)),
    )
    .await
}

/// `POST /v1/embeddings` (OpenAI-compatible).
pub(crate) async fn embeddings(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<EmbeddingsBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let client = state.embed.as_ref().ok_or_else(|| unavailable("embed"))?;
    let (request, encoding) = body
        .into_request(EMBED_DIMENSION)
        .map_err(SwarmError::InvalidRequest)?;
    let options = call_options(&state, &headers)?;
    let response = client.call_with(request, options).await?;
    Ok(Json(embed_response(&response, encoding)))
}

/// `GET /health`: 200 when every service is healthy, else 503 with per-service detail.
pub(crate) async fn health(State(state): State<GatewayState>) -> Response {
    let checks = state.swarm.health(state.config.health_timeout).await;
    let healthy = checks.iter().all(|(_, h)| h.healthy);
    let services: serde_json::Map<String, serde_json::Value> = checks
        .into_iter()
        .map(|(name, h)| {
            (
                name,
                serde_json::json!({ "healthy": h.healthy, "detail": h.detail }),
            )
        })
        .collect();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "status": if healthy { "ok" } else { "unhealthy" }, "services": services });
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(state): State<GatewayState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.swarm.render_metrics(),
    )
        .into_response()
}
