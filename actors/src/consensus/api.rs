//! HTTP bodies of the consensus routes.

use std::time::Duration;

use serde::Deserialize;

use super::core::{Certificate, Rule};
use super::service::ConsensusRequest;

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
