//! The FL aggregator's typed client, for routes and Rust apps alike.

use swarm_runtime::{CallOptions, Client, SwarmError};

use super::core::Update;
use super::service::{FlRequest, FlService, OpenRound, RoundView};
use crate::http::ServiceClient;

/// Opens rounds, submits updates and reads rounds on the swarm's `fl` service.
#[derive(Clone)]
pub struct FlClient(Client<FlService>);

impl ServiceClient for FlClient {
    type Service = FlService;

    fn from_client(client: Client<FlService>) -> Self {
        Self(client)
    }
}

impl FlClient {
    /// Opens a round.
    pub async fn open(
        &self,
        round: OpenRound,
        options: CallOptions,
    ) -> Result<RoundView, SwarmError> {
        self.0
            .call_with(FlRequest::Open(Box::new(round)), options)
            .await
    }

    /// Submits `update` to round `round`; the round as it stands after it.
    pub async fn submit(
        &self,
        round: String,
        update: Update,
        options: CallOptions,
    ) -> Result<RoundView, SwarmError> {
        self.0
            .call_with(FlRequest::Submit { round, update }, options)
            .await
    }

    /// Submits `client`'s encrypted update (from [`crate::fhe::PublicKey::update`]) to
    /// secure_fedavg round `round`; the round as it stands after it (`aggregating` once
    /// complete, `closed` when the FHE sum is done).
    pub async fn submit_encrypted(
        &self,
        round: String,
        client: String,
        list: axum::body::Bytes,
        options: CallOptions,
    ) -> Result<RoundView, SwarmError> {
        let request = FlRequest::SubmitSealed {
            round,
            client,
            list,
        };
        self.0.call_with(request, options).await
    }

    /// Round `round` once it has ended (closed or failed) or `wait` has passed.
    pub async fn wait(
        &self,
        round: String,
        wait: std::time::Duration,
        options: CallOptions,
    ) -> Result<RoundView, SwarmError> {
        self.0
            .call_with(FlRequest::Wait { round, wait }, options)
            .await
    }

    /// Round `round` now.
    pub async fn round(
        &self,
        round: String,
        options: CallOptions,
    ) -> Result<RoundView, SwarmError> {
        self.0.call_with(FlRequest::Get { round }, options).await
    }
}
