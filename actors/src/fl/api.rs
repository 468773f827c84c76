//! HTTP bodies of the FL routes: opening a round, and updates as JSON or as raw
//! little-endian float32 (`application/octet-stream`, with `x-fl-client` and
//! `x-fl-num-examples` headers) for large models.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use swarm_runtime::ErrorCode;

use super::client::FlClient;
use super::core::{Strategy, Update};
use super::service::{OpenRound, RoundView};
use crate::http::{
    ApiError, Call, Limits, RawBody, ValidJson, ValidQuery, parse_json, upload_limited,
};

/// `POST /v1/fl/rounds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    /// `{"name": "fedavg", …}`.
    pub strategy: Strategy,
    /// Updates needed to close the round.
    pub min_clients: usize,
    /// Milliseconds until the round stops accepting (default 60,000).
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Model size, if known.
    #[serde(default)]
    pub dimension: Option<usize>,
    /// The global model before the round.
    #[serde(default)]
    pub current: Option<Vec<f32>>,
    /// Continue from a closed round.
    #[serde(default)]
    pub after: Option<String>,
}

fn default_deadline_ms() -> u64 {
    60_000
}

/// The longest a round may stay open.
pub const MAX_DEADLINE: Duration = Duration::from_secs(24 * 3600);

impl OpenBody {
    /// Validates into a request.
    pub fn into_request(self) -> Result<OpenRound, String> {
        let deadline = Duration::from_millis(self.deadline_ms);
        if deadline.is_zero() || deadline > MAX_DEADLINE {
            return Err("deadline_ms must be between 1 and 86,400,000".into());
        }
        Ok(OpenRound {
            strategy: self.strategy,
            min_clients: self.min_clients,
            deadline,
            dimension: self.dimension,
            current: self.current,
            after: self.after,
        })
    }
}

/// `POST /v1/fl/rounds/{id}/updates` as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// The submitting client's id.
    pub client: String,
    /// Training examples behind the update.
    pub num_examples: u64,
    /// Model parameters.
    pub weights: Vec<f32>,
}

fn check_client(client: &str) -> Result<(), String> {
    if client.is_empty() || client.len() > 256 {
        return Err("client must be 1 to 256 characters".into());
    }
    Ok(())
}

impl UpdateBody {
    /// Validates into an update (the weights move, no copy).
    pub fn into_update(self) -> Result<Update, String> {
        check_client(&self.client)?;
        Ok(Update {
            client: self.client,
            weights: Arc::from(self.weights),
            num_examples: self.num_examples,
        })
    }
}

/// An update from raw little-endian float32 bytes: one copy, bytes → floats.
pub fn update_from_bytes(client: &str, num_examples: &str, bytes: &[u8]) -> Result<Update, String> {
    check_client(client)?;
    let num_examples: u64 = num_examples
        .trim()
        .parse()
        .map_err(|_| "x-fl-num-examples must be a whole number".to_string())?;
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "body has {} bytes, not a whole number of float32 values",
            bytes.len()
        ));
    }
    let weights: Arc<[f32]> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Update {
        client: client.to_string(),
        weights,
        num_examples,
    })
}

/// `POST /v1/fl/rounds`, `GET /v1/fl/rounds/{id}`, `POST /v1/fl/rounds/{id}/updates` and
/// `…/encrypted-updates` (under the gateway's upload limit).
pub fn routes(client: FlClient, limits: &Limits) -> Router {
    Router::new()
        .route("/v1/fl/rounds", post(open))
        .route("/v1/fl/rounds/{id}", get(read))
        .route(
            "/v1/fl/rounds/{id}/updates",
            upload_limited(post(submit), limits),
        )
        .route(
            "/v1/fl/rounds/{id}/encrypted-updates",
            upload_limited(post(submit_encrypted), limits),
        )
        .with_state(client)
}

/// `POST /v1/fl/rounds`: 201 with the new round.
async fn open(
    State(client): State<FlClient>,
    Call(options): Call,
    ValidJson(body): ValidJson<OpenBody>,
) -> Result<(StatusCode, Json<RoundView>), ApiError> {
    let open = body.into_request().map_err(ApiError::invalid)?;
    let view = client.open(open, options).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Query of `GET /v1/fl/rounds/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    /// Wait up to this long (at most a minute) for the round to end.
    wait_ms: Option<u64>,
}

/// `GET /v1/fl/rounds/{id}[?wait_ms=]`: the round now, or once it has ended.
async fn read(
    State(client): State<FlClient>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<ReadQuery>,
    Call(options): Call,
) -> Result<Json<RoundView>, ApiError> {
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(0)).min(Duration::from_secs(60));
    if wait.is_zero() {
        return Ok(Json(client.round(id, options).await?));
    }
    Ok(Json(client.wait(id, wait, options).await?))
}

/// `POST /v1/fl/rounds/{id}/updates`: JSON, or raw little-endian float32.
async fn submit(
    State(client): State<FlClient>,
    Path(id): Path<String>,
    Call(options): Call,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<serde_json::Value>, ApiError> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let content_type = text(header::CONTENT_TYPE.as_str());
    let update = if content_type.starts_with("application/octet-stream") {
        update_from_bytes(text("x-fl-client"), text("x-fl-num-examples"), &body)
            .map_err(ApiError::invalid)?
    } else if content_type.starts_with("application/json") {
        parse_json::<UpdateBody>(&body)?
            .into_update()
            .map_err(ApiError::invalid)?
    } else {
        return Err(ApiError::BadRequest {
            code: ErrorCode::UnsupportedMediaType,
            message: "send application/json or application/octet-stream (little-endian float32)"
                .into(),
        });
    };
    let view = client.submit(id, update, options).await?;
    Ok(accepted(&view))
}

/// The answer to an accepted update: how many the round has and needs, and its status.
fn accepted(view: &RoundView) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "accepted": true,
        "received": view.participants.len(),
        "needed": view.min_clients,
        "status": view.status,
    }))
}

/// `POST /v1/fl/rounds/{id}/encrypted-updates`: one packed FHE list (from
/// `PublicKey::update` or `swarm fhe encrypt --update`), the client in `x-fl-client`.
async fn submit_encrypted(
    State(client): State<FlClient>,
    Path(id): Path<String>,
    Call(options): Call,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = headers
        .get("x-fl-client")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    check_client(name).map_err(|e| ApiError::invalid(format!("x-fl-client: {e}")))?;
    let view = client
        .submit_encrypted(id, name.to_string(), body, options)
        .await?;
    Ok(accepted(&view))
}
