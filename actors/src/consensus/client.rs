//! The consensus service's typed client, for routes and Rust apps alike.

use std::time::Duration;

use swarm_runtime::{CallOptions, Client, SwarmError};

use super::core::{Certificate, Rule};
use super::engine::Decision;
use super::service::{
    ConsensusRequest, ConsensusResponse, ConsensusService, Verification, VoterSetView,
};
use crate::http::ServiceClient;

/// Decides proposals and checks certificates on the swarm's `consensus` service.
#[derive(Clone)]
pub struct ConsensusClient(Client<ConsensusService>);

impl ServiceClient for ConsensusClient {
    type Service = ConsensusService;

    fn from_client(client: Client<ConsensusService>) -> Self {
        Self(client)
    }
}

fn out_of_shape() -> SwarmError {
    SwarmError::Internal("consensus service answered out of shape".into())
}

impl ConsensusClient {
    /// Decides `payload` under `rule`, waiting at most `timeout` (the service's
    /// `round_timeout` when `None`) for a quorum.
    pub async fn propose(
        &self,
        payload: serde_json::Value,
        rule: Rule,
        timeout: Option<Duration>,
        options: CallOptions,
    ) -> Result<Decision, SwarmError> {
        let request = ConsensusRequest::Propose {
            payload,
            rule,
            timeout,
        };
        self.decide(request, options).await
    }

    /// Sends a `Propose` request as it is.
    pub(crate) async fn decide(
        &self,
        request: ConsensusRequest,
        options: CallOptions,
    ) -> Result<Decision, SwarmError> {
        match self.0.call_with(request, options).await? {
            ConsensusResponse::Decided(d) => Ok(*d),
            _ => Err(out_of_shape()),
        }
    }

    /// The voters' public keys.
    pub async fn voters(&self, options: CallOptions) -> Result<VoterSetView, SwarmError> {
        match self.0.call_with(ConsensusRequest::Voters, options).await? {
            ConsensusResponse::Voters(v) => Ok(v),
            _ => Err(out_of_shape()),
        }
    }

    /// Checks `certificate` against this swarm's voters.
    pub async fn verify(
        &self,
        certificate: Certificate,
        options: CallOptions,
    ) -> Result<Verification, SwarmError> {
        let request = ConsensusRequest::Verify(Box::new(certificate));
        match self.0.call_with(request, options).await? {
            ConsensusResponse::Verified(v) => Ok(v),
            _ => Err(out_of_shape()),
        }
    }
}
