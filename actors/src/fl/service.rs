//! The actor shell: rounds live in [`Rounds`], shared by every worker (and kept across
//! worker restarts); every operation runs on the blocking pool, since it may wait for a
//! round that is aggregating.

use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_runtime::config::{ByteSize, Section};
use swarm_runtime::{Registry, RequestContext, Service, ServiceError};

use super::core::{FlError, RoundStatus, Strategy, Update};
use super::rounds::{Retention, Rounds};

/// Opening a round.
#[derive(Debug, Clone)]
pub struct OpenRound {
    /// Strategy and parameters.
    pub strategy: Strategy,
    /// Updates needed to close.
    pub min_clients: usize,
    /// Time from now until the round stops accepting.
    pub deadline: Duration,
    /// Model size, if known up front.
    pub dimension: Option<usize>,
    /// The global model before the round.
    pub current: Option<Vec<f32>>,
    /// Continue from this closed round's model and optimiser state.
    pub after: Option<String>,
}

/// A request to the FL service.
#[derive(Debug, Clone)]
pub enum FlRequest {
    /// Open a round.
    Open(Box<OpenRound>),
    /// Submit an update to a round.
    Submit {
        /// Round id.
        round: String,
        /// The update.
        update: Update,
    },
    /// Read a round.
    Get {
        /// Round id.
        round: String,
    },
}

/// A round as callers see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoundView {
    /// Round id.
    pub id: String,
    /// Open, closed or failed.
    pub status: RoundStatus,
    /// Strategy and parameters.
    pub strategy: Strategy,
    /// Updates needed.
    pub min_clients: usize,
    /// Accepted clients, in arrival order.
    pub participants: Vec<String>,
    /// Flower's server round in this round's chain.
    pub server_round: u64,
    /// The aggregate, when closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<Arc<[f32]>>,
}

/// The FL aggregator service.
pub struct FlService {
    rounds: Arc<Rounds>,
}

impl FlService {
    /// A service over shared rounds.
    pub fn new(rounds: Arc<Rounds>) -> Self {
        Self { rounds }
    }
}

impl From<FlError> for ServiceError {
    fn from(e: FlError) -> Self {
        ServiceError::InvalidRequest(e.to_string())
    }
}

impl Service for FlService {
    type Request = FlRequest;
    type Response = RoundView;

    async fn handle(
        &mut self,
        req: FlRequest,
        ctx: &RequestContext,
    ) -> Result<RoundView, ServiceError> {
        let rounds = self.rounds.clone();
        let commitment = ctx.commitment.clone();
        // A change answered 504 was not made: past the deadline it can no longer commit.
        let commit = move || {
            commitment.commit().map_err(|_| {
                ServiceError::Timeout(
                    "the deadline passed before the change started; it was not made".into(),
                )
            })
        };
        // Every operation may wait for a round's lock while an aggregation holds it.
        tokio::task::spawn_blocking(move || {
            let now = Instant::now();
            match req {
                FlRequest::Open(open) => rounds.open(*open, now, commit),
                FlRequest::Get { round } => rounds.read(&round, now),
                FlRequest::Submit { round, update } => rounds.submit(&round, update, now, commit),
            }
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("FL task failed: {e}")))?
    }
}

/// Registers service type `fl` (params: `keep_closed_for`, `keep_closed`: how long and
/// how many ended rounds stay readable) with its routes. Every worker shares one set of
/// rounds.
pub fn register(registry: &mut Registry) {
    registry
        .service::<FlService, _>("fl", |params: &Section<'_>| {
            let d = Retention::default();
            let retention = Retention {
                keep_for: params.or("keep_closed_for", d.keep_for),
                keep: params.or("keep_closed", d.keep),
                max_open: params.or("max_open_rounds", d.max_open),
                max_bytes: params.or("max_bytes", ByteSize(d.max_bytes)).0,
            };
            if retention.max_open == 0 {
                params.error("max_open_rounds", "must be at least 1");
            }
            let rounds = Arc::new(Rounds::new(retention));
            Some(Arc::new(move || Ok(FlService::new(rounds.clone()))))
        })
        .expose(crate::http::HttpApi::new(super::api::routes));
}
