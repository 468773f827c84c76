//! The FHE core: the pinned parameter set, key files, the ciphertext wire format, the
//! workloads as functions over ciphertexts, and job progress with cancellation.

pub mod auction;
pub mod holder;
pub mod keys;
pub mod linear;
pub mod lwe_score;
pub mod params;
pub mod progress;
pub mod secure_sum;
pub mod tally;
pub mod wire;

/// What can go wrong with keys, ciphertexts or a computation.
#[derive(Debug, thiserror::Error)]
pub enum FheError {
    /// A key set is missing, unreadable or for another parameter set.
    #[error("FHE keys: {0}")]
    Keys(String),
    /// A ciphertext is malformed, truncated, oversized or for other parameters.
    #[error("ciphertext refused: {0}")]
    Ciphertext(String),
    /// The request is not acceptable (shape, sizes).
    #[error("{0}")]
    Invalid(String),
    /// The job was cancelled, or its deadline passed, between two operations.
    #[error("{0}")]
    Stopped(String),
}
