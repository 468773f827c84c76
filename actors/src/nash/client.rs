//! The Nash solver's typed client, for routes and Rust apps alike.

use swarm_runtime::{CallOptions, Client, SwarmError};

use super::core::Solution;
use super::service::{NashRequest, NashService};
use crate::http::ServiceClient;

/// Solves games on the swarm's `nash` service.
#[derive(Clone)]
pub struct NashClient(Client<NashService>);

impl ServiceClient for NashClient {
    type Service = NashService;

    fn from_client(client: Client<NashService>) -> Self {
        Self(client)
    }
}

impl NashClient {
    /// The game's equilibria by the request's method; `DeadlineExceeded` when the solver's
    /// budget (the call's deadline) runs out first.
    pub async fn solve(
        &self,
        request: NashRequest,
        options: CallOptions,
    ) -> Result<Solution, SwarmError> {
        self.0.call_with(request, options).await
    }
}
