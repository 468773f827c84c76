//! Votes: what is signed (domain-separated bytes) and a voter that signs.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::proposal::Proposal;

/// What a vote says about the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Commit the proposal.
    Commit,
    /// Reject the proposal.
    Reject,
}

impl Phase {
    fn tag(self) -> u8 {
        match self {
            Self::Commit => 1,
            Self::Reject => 2,
        }
    }
}

/// The exact bytes a vote signs: a domain tag, then swarm id, view, sequence, phase,
/// digest and voter id. Nothing else can be replayed as a vote.
pub fn vote_bytes(
    swarm_id: &str,
    view: u64,
    sequence: u64,
    phase: Phase,
    digest: &[u8; 32],
    voter: u32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + swarm_id.len());
    out.extend_from_slice(b"swarm-vote-v1\0");
    out.extend_from_slice(&(swarm_id.len() as u64).to_be_bytes());
    out.extend_from_slice(swarm_id.as_bytes());
    out.extend_from_slice(&view.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.push(phase.tag());
    out.extend_from_slice(digest);
    out.extend_from_slice(&voter.to_be_bytes());
    out
}

/// A vote and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedVote {
    /// The swarm.
    pub swarm_id: String,
    /// View.
    pub view: u64,
    /// Sequence.
    pub sequence: u64,
    /// Commit or reject.
    pub phase: Phase,
    /// The proposal's digest.
    pub digest: [u8; 32],
    /// Voter id (index into the voter set).
    pub voter: u32,
    /// ed25519 signature over [`vote_bytes`].
    pub signature: Signature,
}

impl SignedVote {
    /// The bytes this vote claims to sign.
    pub fn message(&self) -> Vec<u8> {
        vote_bytes(
            &self.swarm_id,
            self.view,
            self.sequence,
            self.phase,
            &self.digest,
            self.voter,
        )
    }
}

/// An honest voter: its key, and the default policy (approve what passes the rule).
pub struct Voter {
    /// Voter id.
    pub id: u32,
    key: SigningKey,
}

impl Voter {
    /// A voter with a key from 32 secret bytes.
    pub fn from_secret(id: u32, secret: [u8; 32]) -> Self {
        Self {
            id,
            key: SigningKey::from_bytes(&secret),
        }
    }

    /// A voter with a fresh random key.
    pub fn generate(id: u32) -> Self {
        Self::from_secret(id, rand::random())
    }

    /// The public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs a vote on `proposal` in `phase`.
    pub fn sign(&self, proposal: &Proposal, phase: Phase) -> SignedVote {
        let digest = proposal.digest();
        let msg = vote_bytes(
            &proposal.swarm_id,
            proposal.view,
            proposal.sequence,
            phase,
            &digest,
            self.id,
        );
        SignedVote {
            swarm_id: proposal.swarm_id.clone(),
            view: proposal.view,
            sequence: proposal.sequence,
            phase,
            digest,
            voter: self.id,
            signature: self.key.sign(&msg),
        }
    }

    /// The default policy: commit what passes the proposal's rule, reject the rest.
    pub fn vote(&self, proposal: &Proposal) -> SignedVote {
        let phase = if proposal.passes_rule() {
            Phase::Commit
        } else {
            Phase::Reject
        };
        self.sign(proposal, phase)
    }
}
