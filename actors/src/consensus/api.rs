//! HTTP bodies of the consensus routes.

use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::client::ConsensusClient;
use super::core::{Certificate, Rule};
use super::engine::Decision;
use super::service::{ConsensusRequest, Verification, VoterSetView};
use crate::http::{ApiError, Call, Limits, ValidJson};

/// `POST /v1/consensus/proposals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    /// What is proposed (any JSON).
    pub payload: serde_json::Value,
    /// The rule voters check (default: always approve).
    #[serde(default)]
    pub rule: Option<Rule>,
    /// How long to wait for a quorum.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl ProposeBody {
    /// Into a request.
    pub fn into_request(self) -> ConsensusRequest {
        ConsensusRequest::Propose {
            payload: self.payload,
            rule: self.rule.unwrap_or(Rule::Always),
            timeout: self.timeout_ms.map(Duration::from_millis),
        }
    }
}

/// `POST /v1/consensus/verify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The certificate to check.
    pub certificate: Certificate,
}

/// `POST /v1/consensus/proposals`, `GET /v1/consensus/voters`, `POST /v1/consensus/verify`.
pub fn routes(client: ConsensusClient, _limits: &Limits) -> Router {
    Router::new()
        .route("/v1/consensus/proposals", post(propose))
        .route("/v1/consensus/voters", get(voters))
        .route("/v1/consensus/verify", post(verify))
        .with_state(client)
}

/// The decision and certificate, or 504.
async fn propose(
    State(client): State<ConsensusClient>,
    Call(options): Call,
    ValidJson(body): ValidJson<ProposeBody>,
) -> Result<Json<Decision>, ApiError> {
    Ok(Json(client.decide(body.into_request(), options).await?))
}

async fn voters(
    State(client): State<ConsensusClient>,
    Call(options): Call,
) -> Result<Json<VoterSetView>, ApiError> {
    Ok(Json(client.voters(options).await?))
}

async fn verify(
    State(client): State<ConsensusClient>,
    Call(options): Call,
    ValidJson(body): ValidJson<VerifyBody>,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(client.verify(body.certificate, options).await?))
}
