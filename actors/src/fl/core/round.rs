//! A round as a plain state machine: open → (min clients reached) closed with an
//! aggregate, or → (deadline passed first) failed. Updates are checked on arrival;
//! streaming strategies accumulate and drop each update at once.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::fedopt::ServerState;
use super::{FlError, Strategy, Update};

/// Where a round is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RoundStatus {
    /// Accepting updates.
    Open,
    /// A secure round has all its encrypted updates; the FHE service is summing them.
    Aggregating,
    /// Aggregated; the new model is published.
    Closed,
    /// The deadline passed before `min_clients` updates arrived.
    Failed {
        /// Why.
        reason: String,
    },
}

/// What a submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Accepted; the round waits for more.
    Accepted {
        /// Updates received so far.
        received: usize,
        /// Updates the round needs.
        needed: usize,
    },
    /// Accepted, and it completed the round, which is now aggregated.
    Completed,
    /// Accepted, and it completed a secure round: these encrypted lists (one per client,
    /// `dimension + 1` values each) are to be summed; the round is aggregating.
    Sealed(Vec<Vec<u8>>),
}

/// One round of federated learning.
#[derive(Debug)]
pub struct Round {
    strategy: Strategy,
    min_clients: usize,
    deadline: Instant,
    dim: Option<usize>,
    status: RoundStatus,
    participants: Vec<String>,
    stored: Vec<Update>,
    sealed: Vec<Vec<u8>>,
    acc: Vec<f64>,
    examples: f64,
    state: ServerState,
    model: Option<Arc<[f32]>>,
}

impl Round {
    /// Opens a round. `dim` fixes the model size (else the first update does);
    /// `state` carries the previous round's model and optimiser state.
    pub fn open(
        strategy: Strategy,
        min_clients: usize,
        deadline: Instant,
        dim: Option<usize>,
        mut state: ServerState,
    ) -> Result<Self, FlError> {
        if min_clients == 0 {
            return Err(FlError::Invalid("min_clients must be at least 1".into()));
        }
        strategy.validate(min_clients)?;
        if strategy.needs_current_model() && state.current.is_none() {
            return Err(FlError::Invalid("this strategy needs the current model: give `current`, or open the round `after` a closed one".into()));
        }
        let dim = match (&state.current, dim) {
            (Some(c), Some(d)) if c.len() != d => {
                return Err(FlError::Invalid(format!(
                    "`current` has {} parameters but `dimension` says {d}",
                    c.len()
                )));
            }
            (Some(c), _) => Some(c.len()),
            (None, d) => d,
        };
        if let Some(c) = &state.current {
            check_finite(c)?;
        }
        if strategy.is_secure() && dim.is_none() {
            return Err(FlError::Invalid(
                "secure_fedavg needs the model's `dimension` up front (every encrypted update is checked against it)".into(),
            ));
        }
        state.server_round += 1;
        Ok(Self {
            strategy,
            min_clients,
            deadline,
            dim,
            status: RoundStatus::Open,
            participants: Vec::new(),
            stored: Vec::new(),
            sealed: Vec::new(),
            acc: Vec::new(),
            examples: 0.0,
            state,
            model: None,
        })
    }

    /// Closes the round as failed if its deadline has passed while open.
    pub fn tick(&mut self, now: Instant) {
        if self.status == RoundStatus::Open && now >= self.deadline {
            self.status = RoundStatus::Failed {
                reason: format!(
                    "deadline passed with {} of {} required updates",
                    self.participants.len(),
                    self.min_clients
                ),
            };
            self.stored.clear();
            self.sealed.clear();
            self.acc = Vec::new();
        }
    }

    /// Takes one client's update.
    pub fn submit(&mut self, update: Update, now: Instant) -> Result<Submitted, FlError> {
        self.accepting(&update.client, now)?;
        if self.strategy.is_secure() {
            return Err(FlError::Invalid(
                "this secure_fedavg round takes encrypted updates (POST /v1/fl/rounds/{id}/encrypted-updates)".into(),
            ));
        }
        if update.num_examples == 0 {
            return Err(FlError::Invalid("num_examples must be at least 1".into()));
        }
        let expected = *self.dim.get_or_insert(update.weights.len());
        if update.weights.len() != expected {
            return Err(FlError::ShapeMismatch {
                expected,
                got: update.weights.len(),
            });
        }
        check_finite(&update.weights)?;
        self.participants.push(update.client.clone());
        if self.strategy.streams() {
            if self.acc.is_empty() {
                self.acc = vec![0.0; expected];
            }
            let n = update.num_examples as f64;
            for (a, w) in self.acc.iter_mut().zip(update.weights.iter()) {
                *a += n * f64::from(*w);
            }
            self.examples += n;
        } else {
            self.stored.push(update);
        }
        if self.participants.len() < self.min_clients {
            return Ok(Submitted::Accepted {
                received: self.participants.len(),
                needed: self.min_clients,
            });
        }
        self.aggregate()?;
        Ok(Submitted::Completed)
    }

    /// Whether the round takes an update from `client` now.
    fn accepting(&mut self, client: &str, now: Instant) -> Result<(), FlError> {
        self.tick(now);
        match &self.status {
            RoundStatus::Open => {}
            RoundStatus::Aggregating | RoundStatus::Closed => {
                return Err(FlError::RoundClosed("aggregated".into()));
            }
            RoundStatus::Failed { reason } => return Err(FlError::RoundClosed(reason.clone())),
        }
        if self.participants.iter().any(|p| p == client) {
            return Err(FlError::DuplicateClient(client.to_string()));
        }
        Ok(())
    }

    /// Takes one client's encrypted update (a secure round's; its list already checked
    /// to hold `dimension + 1` values). The last one needed hands back every list to sum.
    pub fn submit_sealed(
        &mut self,
        client: String,
        list: Vec<u8>,
        now: Instant,
    ) -> Result<Submitted, FlError> {
        self.accepting(&client, now)?;
        if !self.strategy.is_secure() {
            return Err(FlError::Invalid(
                "encrypted updates go to secure_fedavg rounds; this round takes plain ones".into(),
            ));
        }
        self.participants.push(client);
        self.sealed.push(list);
        if self.participants.len() < self.min_clients {
            return Ok(Submitted::Accepted {
                received: self.participants.len(),
                needed: self.min_clients,
            });
        }
        self.status = RoundStatus::Aggregating;
        Ok(Submitted::Sealed(std::mem::take(&mut self.sealed)))
    }

    /// Ends an aggregating secure round with the decrypted sums (or why there are none).
    pub fn finish_sealed(&mut self, sums: Result<Vec<i32>, String>) {
        if self.status != RoundStatus::Aggregating {
            return;
        }
        let outcome = match (&self.strategy, sums) {
            (Strategy::SecureFedAvg(encoding), Ok(sums)) => {
                encoding.decode(&sums).map_err(|e| e.to_string())
            }
            (_, Ok(_)) => Err("internal: not a secure round".into()),
            (_, Err(why)) => Err(why),
        };
        match outcome {
            Ok(model) if model.len() == self.dim.unwrap_or(0) => {
                self.state.current = Some(model.clone());
                self.model = Some(model.into());
                self.status = RoundStatus::Closed;
            }
            Ok(model) => {
                let _ = self.fail(format!("the secure sum has {} values", model.len() + 1));
            }
            Err(why) => {
                let _ = self.fail(format!("secure aggregation failed: {why}"));
            }
        }
    }

    /// When the round stops accepting updates.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The model's size, once known.
    pub fn dimension(&self) -> Option<usize> {
        self.dim
    }

    /// Aggregates; on failure (or a non-finite model) the round is marked failed with the
    /// reason, so it never stays open behind a full set of updates.
    fn aggregate(&mut self) -> Result<(), FlError> {
        match self.try_aggregate() {
            Ok(model) if model.iter().all(|v| v.is_finite()) => {
                self.state.current = Some(model.clone());
                self.model = Some(model.into());
                self.status = RoundStatus::Closed;
                Ok(())
            }
            Ok(_) => self.fail(
                "the aggregate is not finite (the strategy's parameters overflow on these updates)"
                    .into(),
            ),
            Err(e) => self.fail(format!("aggregation failed: {e}")),
        }
    }

    fn fail(&mut self, reason: String) -> Result<(), FlError> {
        self.status = RoundStatus::Failed {
            reason: reason.clone(),
        };
        Err(FlError::Invalid(reason))
    }

    fn try_aggregate(&mut self) -> Result<Vec<f32>, FlError> {
        let model = if self.strategy.streams() {
            let total = self.examples;
            let mean: Vec<f32> = std::mem::take(&mut self.acc)
                .into_iter()
                .map(|a| (a / total) as f32)
                .collect();
            self.strategy.finish_stream(mean, &mut self.state)
        } else {
            let updates = std::mem::take(&mut self.stored);
            self.strategy.aggregate_stored(&updates, &mut self.state)?
        };
        Ok(model)
    }

    /// The round's status.
    pub fn status(&self) -> &RoundStatus {
        &self.status
    }

    /// Clients whose updates were accepted, in arrival order.
    pub fn participants(&self) -> &[String] {
        &self.participants
    }

    /// The aggregate, once closed.
    pub fn model(&self) -> Option<&Arc<[f32]>> {
        self.model.as_ref()
    }

    /// Updates required.
    pub fn min_clients(&self) -> usize {
        self.min_clients
    }

    /// The strategy.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The state a following round continues from (closed rounds only).
    pub fn continuation(&self) -> Option<ServerState> {
        (self.status == RoundStatus::Closed).then(|| self.state.clone())
    }

    /// The round with everything it holds let go (what an expired round leaves while a
    /// reader may still hold it).
    pub fn emptied(&self) -> Self {
        Self {
            strategy: self.strategy.clone(),
            min_clients: self.min_clients,
            deadline: self.deadline,
            dim: self.dim,
            status: self.status.clone(),
            participants: Vec::new(),
            stored: Vec::new(),
            sealed: Vec::new(),
            acc: Vec::new(),
            examples: 0.0,
            state: ServerState::default(),
            model: None,
        }
    }

    /// Approximate memory the round holds: stored updates, running sums, the model and
    /// the optimiser state (what the service's `max_bytes` counts).
    pub fn bytes(&self) -> u64 {
        let sealed: usize = self.sealed.iter().map(Vec::len).sum();
        let floats = self.stored.iter().map(|u| u.weights.len()).sum::<usize>()
            + self.model.as_ref().map_or(0, |m| m.len())
            + self.state.current.as_ref().map_or(0, Vec::len)
            + self.state.m.len()
            + self.state.v.len()
            + self.state.momentum.len();
        let names: usize = self.participants.iter().map(String::len).sum();
        (floats * 4 + self.acc.len() * 8 + names + sealed) as u64
    }

    /// Flower's `server_round` of this round.
    pub fn server_round(&self) -> u64 {
        self.state.server_round
    }
}

fn check_finite(w: &[f32]) -> Result<(), FlError> {
    match w.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(FlError::NonFinite { index }),
        None => Ok(()),
    }
}
