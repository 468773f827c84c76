//! The consensus core: proposals with a digest of their canonical bytes, votes signed
//! with ed25519 over domain-separated bytes, a collector that verifies in batches and
//! rejects replays, stale votes and equivocation (keeping the evidence), and certificates
//! anyone holding the voters' public keys can verify offline. No actors, no HTTP.

mod certificate;
mod collector;
mod proposal;
mod vote;

pub use certificate::{Certificate, CertificateError, CertificateVote, VoterSet};
pub use collector::{Collected, Evidence, VoteCollector, VoteError};
pub use proposal::{Proposal, Rule, vote_key};
pub use vote::{Phase, SignedVote, Voter, vote_bytes};

/// The largest tolerated number of faulty voters for `n` voters (n = 3f + 1).
pub fn max_faulty(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// Votes needed for a decision: 2f + 1.
pub fn quorum(n: usize) -> usize {
    2 * max_faulty(n) + 1
}
