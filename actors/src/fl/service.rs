//! The actor shell: rounds live in a map shared by every worker (and kept across worker
//! restarts); submissions and aggregation run on the blocking pool.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use swarm_runtime::{Registry, RequestContext, Service, ServiceError};

use super::core::{FlError, Round, RoundStatus, ServerState, Strategy, Submitted, Update};

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

/// Rounds shared by the service's workers.
#[derive(Default)]
pub struct Rounds(DashMap<String, Arc<Mutex<Round>>>);

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

fn lock(round: &Mutex<Round>) -> std::sync::MutexGuard<'_, Round> {
    // A panic mid-aggregation leaves the round as it was before the update: usable.
    round.lock().unwrap_or_else(|p| p.into_inner())
}

fn view(id: &str, round: &Round) -> RoundView {
    RoundView {
        id: id.to_string(),
        status: round.status().clone(),
        strategy: round.strategy().clone(),
        min_clients: round.min_clients(),
        participants: round.participants().to_vec(),
        server_round: round.server_round(),
        model: round.model().cloned(),
    }
}

impl Rounds {
    fn get(&self, id: &str) -> Result<Arc<Mutex<Round>>, ServiceError> {
        self.0
            .get(id)
            .map(|r| r.clone())
            .ok_or_else(|| ServiceError::NotFound(format!("no round `{id}`")))
    }

    fn open(&self, req: OpenRound) -> Result<RoundView, ServiceError> {
        let mut state = match &req.after {
            Some(prev) => {
                let prev = self.get(prev)?;
                let prev = lock(&prev);
                prev.continuation().ok_or_else(|| {
                    ServiceError::InvalidRequest("`after` must name a closed round".into())
                })?
            }
            None => ServerState::default(),
        };
        if let Some(current) = req.current {
            state.current = Some(current);
        }
        let round = Round::open(
            req.strategy,
            req.min_clients,
            Instant::now() + req.deadline,
            req.dimension,
            state,
        )?;
        let id = format!("r{:016x}", rand::random::<u64>());
        let v = view(&id, &round);
        self.0.insert(id, Arc::new(Mutex::new(round)));
        Ok(v)
    }
}

impl Service for FlService {
    type Request = FlRequest;
    type Response = RoundView;

    async fn handle(
        &mut self,
        req: FlRequest,
        _ctx: &RequestContext,
    ) -> Result<RoundView, ServiceError> {
        match req {
            FlRequest::Open(open) => self.rounds.open(*open),
            FlRequest::Get { round } => {
                let r = self.rounds.get(&round)?;
                let mut guard = lock(&r);
                guard.tick(Instant::now());
                Ok(view(&round, &guard))
            }
            FlRequest::Submit { round, update } => {
                let r = self.rounds.get(&round)?;
                // Aggregation may take a while: keep it off the async workers.
                let work = tokio::task::spawn_blocking(move || {
                    let mut guard = lock(&r);
                    let outcome: Result<Submitted, FlError> = guard.submit(update, Instant::now());
                    outcome.map(|_| view(&round, &guard))
                });
                work.await
                    .map_err(|e| ServiceError::Internal(format!("aggregation task failed: {e}")))?
                    .map_err(ServiceError::from)
            }
        }
    }
}

/// Registers service type `fl` (no params) with its routes. Every worker shares one set
/// of rounds.
pub fn register(registry: &mut Registry) {
    registry
        .service::<FlService, _>("fl", |_params| {
            let rounds = Arc::new(Rounds::default());
            Some(Arc::new(move || Ok(FlService::new(rounds.clone()))))
        })
        .expose(crate::http::HttpApi::new(super::api::routes));
}
