//! `/v1/fhe/…`: the public key, tallies and auctions started as jobs, and jobs read or cancelled.
//! Ciphertexts travel as binary bodies (`application/octet-stream`) and are never logged.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use swarm_runtime::SwarmError;
use uuid::Uuid;

use super::client::FheClient;
use super::core::auction::AuctionRule;
use super::core::linear::ModelCard;
use super::jobs::JobView;
use super::service::FheRequest;
use crate::http::{ApiError, Call, Limits, RawBody, ValidQuery, upload_limited};

/// Longest a `GET /v1/fhe/jobs/{id}?wait_ms=` waits.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The FHE routes (ciphertext bodies under the gateway's `upload_limit`).
pub fn routes(client: FheClient, limits: &Limits) -> Router {
    Router::new()
        .route("/v1/fhe/public-key", get(public_key))
        .route(
            "/v1/fhe/tally",
            upload_limited(post(start::<TallyQuery>), limits),
        )
        .route(
            "/v1/fhe/auction",
            upload_limited(post(start::<AuctionQuery>), limits),
        )
        .route(
            "/v1/fhe/sum",
            upload_limited(post(start::<SumQuery>), limits),
        )
        .route("/v1/fhe/jobs/{id}", get(job).delete(cancel))
        .route("/v1/fhe/models", get(models))
        .route("/v1/fhe/models/{name}", get(model))
        .route(
            "/v1/fhe/models/{name}/score",
            upload_limited(post(score), limits),
        )
        .with_state(client)
}

/// `GET /v1/fhe/public-key`: the compact public key (tfhe's safe serialisation), with
/// its parameter set in `x-swarm-fhe-params`.
async fn public_key(
    State(client): State<FheClient>,
    Call(options): Call,
) -> Result<Response, ApiError> {
    let (params, bytes) = client.public_key_bytes(options).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert("x-swarm-fhe-params", HeaderValue::from_static(params));
    Ok(response)
}

/// The query of a route that starts a job, and the request it makes with the body.
trait JobQuery: serde::de::DeserializeOwned + Send + 'static {
    /// The request for a framed `body` of ciphertext lists.
    fn request(self, body: Bytes) -> FheRequest;
}

fn timeout(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

/// Query of `POST /v1/fhe/tally`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TallyQuery {
    /// Options per ballot.
    options: usize,
    /// How long the job may run, in milliseconds (at most the service's `job_timeout`).
    timeout_ms: Option<u64>,
}

impl JobQuery for TallyQuery {
    fn request(self, ballots: Bytes) -> FheRequest {
        let (options, timeout) = (self.options, timeout(self.timeout_ms));
        FheRequest::Tally {
            options,
            ballots,
            timeout,
        }
    }
}

/// Query of `POST /v1/fhe/auction`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuctionQuery {
    /// `first` or `second` price.
    rule: AuctionRule,
    /// How long the job may run, in milliseconds (at most the service's `job_timeout`).
    timeout_ms: Option<u64>,
}

impl JobQuery for AuctionQuery {
    fn request(self, bids: Bytes) -> FheRequest {
        let (rule, timeout) = (self.rule, timeout(self.timeout_ms));
        FheRequest::Auction {
            rule,
            bids,
            timeout,
        }
    }
}

/// Query of `POST /v1/fhe/sum`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SumQuery {
    /// Values per list.
    values: usize,
    /// How long the job may run, in milliseconds (at most the service's `job_timeout`).
    timeout_ms: Option<u64>,
}

impl JobQuery for SumQuery {
    fn request(self, lists: Bytes) -> FheRequest {
        let (values, timeout) = (self.values, timeout(self.timeout_ms));
        FheRequest::Sum {
            values,
            lists,
            timeout,
        }
    }
}

/// `POST /v1/fhe/tally?options=k`, `/v1/fhe/auction?rule=first|second`,
/// `/v1/fhe/sum?values=n`: a framed body of ciphertext lists → 202 with the job.
async fn start<Q: JobQuery>(
    State(client): State<FheClient>,
    ValidQuery(query): ValidQuery<Q>,
    Call(options): Call,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let view = client.submit(query.request(body), options).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// Query of `GET /v1/fhe/jobs/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    /// Wait up to this long for the job to finish (at most a minute).
    wait_ms: Option<u64>,
}

fn job_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::invalid(format!("`{id}` is not a job id")))
}

/// `GET /v1/fhe/jobs/{id}`: state, progress, and the result once done.
async fn job(
    State(client): State<FheClient>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<WaitQuery>,
    Call(options): Call,
) -> Result<Json<JobView>, ApiError> {
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    Ok(Json(client.job(job_id(&id)?, wait, options).await?))
}

/// `DELETE /v1/fhe/jobs/{id}`: stop the job before its next ciphertext operation.
async fn cancel(
    State(client): State<FheClient>,
    Path(id): Path<String>,
    Call(options): Call,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(client.cancel(job_id(&id)?, options).await?))
}

/// `GET /v1/fhe/models`: every scoring model's card.
async fn models(
    State(client): State<FheClient>,
    Call(options): Call,
) -> Result<Json<serde_json::Value>, ApiError> {
    let cards = client.models(options).await?;
    Ok(Json(serde_json::json!({ "models": cards })))
}

/// `GET /v1/fhe/models/{name}`: one model's card (how to quantise features and read the
/// score), or 404.
async fn model(
    State(client): State<FheClient>,
    Path(name): Path<String>,
    Call(options): Call,
) -> Result<Json<ModelCard>, ApiError> {
    let mut cards = client.models(options).await?;
    cards
        .remove(&name)
        .map(Json)
        .ok_or_else(|| ApiError::from(SwarmError::NotFound(format!("no scoring model `{name}`"))))
}

/// `POST /v1/fhe/models/{name}/score`: an encrypted sample (binary) → its encrypted
/// accumulator (binary), at once: the computation is leveled (no bootstrap).
async fn score(
    State(client): State<FheClient>,
    Path(name): Path<String>,
    Call(options): Call,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let bytes = client.score(name, body, options).await?;
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}
