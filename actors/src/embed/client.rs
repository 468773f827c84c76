//! The embedding service's typed client, for routes, other services (vector search) and
//! Rust apps alike.

use swarm_runtime::{CallOptions, Client, SwarmError};

use super::service::{EmbedRequest, EmbedResponse, EmbedService};
use crate::http::ServiceClient;

/// Embeds texts on the swarm's `embed` service.
#[derive(Clone)]
pub struct EmbedClient(Client<EmbedService>);

impl ServiceClient for EmbedClient {
    type Service = EmbedService;

    fn from_client(client: Client<EmbedService>) -> Self {
        Self(client)
    }
}

impl EmbedClient {
    /// One unit vector per text, in order, with the tokens used.
    pub async fn embed(
        &self,
        inputs: Vec<String>,
        options: CallOptions,
    ) -> Result<EmbedResponse, SwarmError> {
        self.0.call_with(EmbedRequest { inputs }, options).await
    }
}
