//! The voter set (weak keys refused at registration), batch verification with a strict
//! single-signature fallback, and certificates verifiable offline.

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::vote::{Phase, SignedVote, vote_bytes};
use super::{max_faulty, quorum};

/// The voters of a swarm, by id (index).
#[derive(Debug, Clone, PartialEq)]
pub struct VoterSet {
    /// The swarm these voters decide for.
    pub swarm_id: String,
    keys: Vec<VerifyingKey>,
}

/// Why a certificate (or a voter set) is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// A voter key is a weak (small-order) key.
    #[error("voter {0} has a weak public key")]
    WeakKey(usize),
    /// The set has too few voters for any fault tolerance.
    #[error("a voter set needs at least 1 voter")]
    Empty,
    /// The certificate is for another swarm.
    #[error("certificate is for swarm `{0}`")]
    WrongSwarm(String),
    /// Fewer distinct valid votes than 2f + 1.
    #[error("certificate has {got} distinct votes, {needed} are needed")]
    TooFewVotes {
        /// Distinct voters.
        got: usize,
        /// Quorum.
        needed: usize,
    },
    /// A vote names a voter outside the set, or a voter twice.
    #[error("certificate names voter {0} more than once or outside the set")]
    BadVoter(u32),
    /// A signature does not verify.
    #[error("the signature of voter {0} does not verify")]
    BadSignature(u32),
    /// A hex field does not decode.
    #[error("malformed certificate: {0}")]
    Malformed(String),
}

impl VoterSet {
    /// A voter set; weak keys are refused (batch verification does not check them).
    pub fn new(swarm_id: &str, keys: Vec<VerifyingKey>) -> Result<Self, CertificateError> {
        if keys.is_empty() {
            return Err(CertificateError::Empty);
        }
        if let Some(i) = keys.iter().position(VerifyingKey::is_weak) {
            return Err(CertificateError::WeakKey(i));
        }
        Ok(Self {
            swarm_id: swarm_id.to_string(),
            keys,
        })
    }

    /// Number of voters n.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false (a set has at least one voter).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// f, the faults tolerated.
    pub fn max_faulty(&self) -> usize {
        max_faulty(self.len())
    }

    /// 2f + 1.
    pub fn quorum(&self) -> usize {
        quorum(self.len())
    }

    /// Voter `id`'s key.
    pub fn key(&self, id: u32) -> Option<&VerifyingKey> {
        self.keys.get(id as usize)
    }

    /// All keys, by id.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// Which of `items` (message, signature, voter) verify: one batch verification, and
    /// only when it fails, strict single verification to find the bad ones.
    pub fn verify_all(&self, items: &[(Vec<u8>, Signature, u32)]) -> Vec<bool> {
        if items.is_empty() {
            return Vec::new();
        }
        let keys: Option<Vec<VerifyingKey>> = items
            .iter()
            .map(|(_, _, v)| self.key(*v).copied())
            .collect();
        if let Some(keys) = keys {
            let msgs: Vec<&[u8]> = items.iter().map(|(m, _, _)| m.as_slice()).collect();
            let sigs: Vec<Signature> = items.iter().map(|(_, s, _)| *s).collect();
            if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
                return vec![true; items.len()];
            }
        }
        items
            .iter()
            .map(|(m, s, v)| self.key(*v).is_some_and(|k| k.verify_strict(m, s).is_ok()))
            .collect()
    }
}

/// Proof that 2f + 1 voters signed the same (swarm, view, sequence, phase, digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// The swarm.
    pub swarm_id: String,
    /// View.
    pub view: u64,
    /// Sequence.
    pub sequence: u64,
    /// Commit (accepted) or reject.
    pub phase: Phase,
    /// Hex SHA-256 of the proposal's canonical bytes.
    pub digest: String,
    /// `(voter id, hex signature)`, sorted by voter id.
    pub votes: Vec<CertificateVote>,
}

/// One signature in a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateVote {
    /// Voter id.
    pub voter: u32,
    /// Hex ed25519 signature.
    pub signature: String,
}

impl Certificate {
    /// A certificate from a quorum of matching votes.
    pub fn from_votes(votes: &[SignedVote]) -> Option<Self> {
        let first = votes.first()?;
        let mut list: Vec<CertificateVote> = votes
            .iter()
            .map(|v| CertificateVote {
                voter: v.voter,
                signature: hex::encode(v.signature.to_bytes()),
            })
            .collect();
        list.sort_by_key(|v| v.voter);
        Some(Self {
            swarm_id: first.swarm_id.clone(),
            view: first.view,
            sequence: first.sequence,
            phase: first.phase,
            digest: hex::encode(first.digest),
            votes: list,
        })
    }

    /// Checks the certificate against the voters' public keys, offline.
    pub fn verify(&self, set: &VoterSet) -> Result<(), CertificateError> {
        if self.swarm_id != set.swarm_id {
            return Err(CertificateError::WrongSwarm(self.swarm_id.clone()));
        }
        let digest: [u8; 32] = hex::decode(&self.digest)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| CertificateError::Malformed("digest must be 64 hex digits".into()))?;
        let mut seen = std::collections::HashSet::new();
        let mut items = Vec::with_capacity(self.votes.len());
        for v in &self.votes {
            if set.key(v.voter).is_none() || !seen.insert(v.voter) {
                return Err(CertificateError::BadVoter(v.voter));
            }
            let bytes: [u8; 64] = hex::decode(&v.signature)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    CertificateError::Malformed(format!(
                        "signature of voter {} must be 128 hex digits",
                        v.voter
                    ))
                })?;
            let msg = vote_bytes(
                &self.swarm_id,
                self.view,
                self.sequence,
                self.phase,
                &digest,
                v.voter,
            );
            items.push((msg, Signature::from_bytes(&bytes), v.voter));
        }
        if let Some(bad) = set.verify_all(&items).iter().position(|ok| !ok) {
            return Err(CertificateError::BadSignature(items[bad].2));
        }
        if items.len() < set.quorum() {
            return Err(CertificateError::TooFewVotes {
                got: items.len(),
                needed: set.quorum(),
            });
        }
        Ok(())
    }
}
