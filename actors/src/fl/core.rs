//! The federated-learning aggregator's pure core: strategies with Flower's formulas and
//! defaults, and rounds as a plain state machine. No actors, no HTTP.
//!
//! Which strategy when: `fedavg` (weighted by examples; streams, so memory stays one
//! model); `fedavgm`/`fedadagrad`/`fedadam`/`fedyogi` when a server optimiser should
//! smooth rounds; `fedmedian`, `fedtrimmedavg`, `krum`, `multikrum`, `bulyan` when some
//! clients may be faulty or malicious; `dpfedavg_fixed` for central differential privacy.

mod fedopt;
mod robust;
mod round;
mod strategy;

pub use fedopt::{ServerState, dp_sigma};
pub use round::{Round, RoundStatus, Submitted};
pub use strategy::{FedOptConfig, FedOptParams, Strategy};

/// Why an update or a round was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlError {
    /// The update's length differs from the round's.
    #[error("update has {got} parameters but this round has {expected}")]
    ShapeMismatch {
        /// The round's dimension.
        expected: usize,
        /// The update's.
        got: usize,
    },
    /// NaN or infinity in an update.
    #[error("update parameter {index} is not a finite number")]
    NonFinite {
        /// First offending index.
        index: usize,
    },
    /// The client already submitted to this round.
    #[error("client `{0}` already submitted an update to this round")]
    DuplicateClient(String),
    /// The round no longer accepts updates.
    #[error("round is closed ({0}); this update arrived too late")]
    RoundClosed(String),
    /// Invalid strategy parameters, round settings or update fields.
    #[error("{0}")]
    Invalid(String),
}

/// One client's update.
#[derive(Debug, Clone)]
pub struct Update {
    /// The submitting client.
    pub client: String,
    /// Model parameters.
    pub weights: std::sync::Arc<[f32]>,
    /// Number of training examples behind the update.
    pub num_examples: u64,
}
