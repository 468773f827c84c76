//! The actor shell: rounds live in [`Rounds`], shared by every worker (and kept across
//! worker restarts); every operation runs on the blocking pool, since it may wait for a
//! round that is aggregating.

use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_runtime::config::{ByteSize, Section};
use swarm_runtime::{Dependency, Registry, RequestContext, Service, ServiceError};

use super::core::{FlError, RoundStatus, Strategy, Update};
use super::rounds::{Retention, Rounds};
use crate::fhe::FheService;

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
    /// Submit an encrypted update to a secure_fedavg round.
    SubmitSealed {
        /// Round id.
        round: String,
        /// The submitting client.
        client: String,
        /// One packed list of `dimension + 1` 32-bit signed values (see
        /// [`crate::fhe::PublicKey::update`]).
        list: axum::body::Bytes,
    },
    /// Read a round.
    Get {
        /// Round id.
        round: String,
    },
    /// Read a round once it has ended (closed or failed) or `wait` has passed.
    Wait {
        /// Round id.
        round: String,
        /// The longest to wait (at most the request's deadline).
        wait: Duration,
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

/// The FL service's params, for the Rust builder (same keys as YAML).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FlParams {
    /// How long, and how many, ended rounds are kept; how much rounds may hold.
    #[serde(flatten)]
    pub retention: Retention,
    /// The fhe service that sums secure_fedavg rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fhe: Option<String>,
}

impl swarm_runtime::topology::ServiceParams for FlParams {
    const TYPE: &'static str = "fl";
}

/// The FL aggregator service.
pub struct FlService {
    rounds: Arc<Rounds>,
    fhe: Option<Dependency<FheService>>,
}

impl FlService {
    /// A service over shared rounds; `fhe` sums secure rounds' encrypted updates.
    pub fn new(rounds: Arc<Rounds>, fhe: Option<Dependency<FheService>>) -> Self {
        Self { rounds, fhe }
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
        if let FlRequest::Open(open) = &req
            && open.strategy.is_secure()
            && self.fhe.is_none()
        {
            return Err(ServiceError::InvalidRequest(
                "secure_fedavg needs an `fhe` service: give this fl service the param `fhe: NAME` (the fhe service to use)".into(),
            ));
        }
        if let FlRequest::Wait { round, wait } = req {
            let left = ctx
                .deadline
                .saturating_duration_since(tokio::time::Instant::now());
            // Answer with the round as it is a little before the deadline, not a 504 at it.
            let left = left.saturating_sub(left / 20 + Duration::from_millis(10));
            return wait_for_end(self.rounds.clone(), round, wait.min(left)).await;
        }
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
        let (view, sealed) = tokio::task::spawn_blocking(move || {
            let now = Instant::now();
            match req {
                FlRequest::Open(open) => rounds.open(*open, now, commit).map(|v| (v, None)),
                FlRequest::Get { round } | FlRequest::Wait { round, .. } => {
                    rounds.read(&round, now).map(|v| (v, None))
                }
                FlRequest::Submit { round, update } => rounds
                    .submit(&round, update, now, commit)
                    .map(|v| (v, None)),
                FlRequest::SubmitSealed {
                    round,
                    client,
                    list,
                } => rounds.submit_sealed(&round, client, &list, now, commit),
            }
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("FL task failed: {e}")))??;
        if let (Some((values, lists)), Some(fhe)) = (sealed, self.fhe.clone()) {
            // The round is aggregating; it ends when the FHE job does, not with this call.
            tokio::spawn(super::secure::aggregate(
                self.rounds.clone(),
                fhe,
                view.id.clone(),
                values,
                lists,
            ));
        }
        Ok(view)
    }
}

/// Reads round `id` until it has ended or `wait` has passed: woken by submissions and
/// aggregations, and at the round's deadline (when an open round fails).
async fn wait_for_end(
    rounds: Arc<Rounds>,
    id: String,
    wait: Duration,
) -> Result<RoundView, ServiceError> {
    let until = Instant::now() + wait;
    loop {
        // Registered before reading, so a change between the read and the wait wakes it.
        let changed = rounds.changed().notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let (r, round) = (rounds.clone(), id.clone());
        let (view, deadline) =
            tokio::task::spawn_blocking(move || r.read_until(&round, Instant::now()))
                .await
                .map_err(|e| ServiceError::Internal(format!("FL task failed: {e}")))??;
        let now = Instant::now();
        let ended = !matches!(view.status, RoundStatus::Open | RoundStatus::Aggregating);
        if ended || now >= until {
            return Ok(view);
        }
        let wake = match view.status {
            RoundStatus::Open => until.min(deadline.max(now)),
            _ => until,
        };
        let _ = tokio::time::timeout_at(wake.into(), changed).await;
    }
}

/// Registers service type `fl` (params: `keep_closed_for`, `keep_closed`: how long and
/// how many ended rounds stay readable; `fhe`: the FHE service that sums secure_fedavg
/// rounds) with its routes. Every worker shares one set of rounds; across nodes, a round
/// lives on the node that opened it.
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
            let fhe = params.dependency::<FheService>("fhe");
            Some(Arc::new(move || {
                Ok(FlService::new(rounds.clone(), fhe.clone()))
            }))
        })
        .expose(crate::http::HttpApi::new(super::api::routes))
        .remote();
}
