//! Collects votes for proposals: checks slot and signature (batched), keeps each voter's
//! high-water mark so replayed and stale votes are refused, records equivocation (two
//! different votes for one slot) as evidence, and forms a certificate at 2f + 1 matching
//! votes from voters that did not equivocate.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::certificate::{Certificate, VoterSet};
use super::proposal::Proposal;
use super::vote::{Phase, SignedVote};

/// Why a vote was not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VoteError {
    /// The voter id is not in the set.
    #[error("unknown voter {voter}")]
    UnknownVoter {
        /// The id.
        voter: u32,
    },
    /// The vote is for another swarm or slot than the proposal being decided.
    #[error("voter {voter} voted for another slot")]
    WrongSlot {
        /// The voter.
        voter: u32,
    },
    /// The signature does not verify.
    #[error("voter {voter} sent a bad signature")]
    BadSignature {
        /// The voter.
        voter: u32,
    },
    /// The same vote again.
    #[error("voter {voter} replayed a vote")]
    Replay {
        /// The voter.
        voter: u32,
    },
    /// A vote for a slot below the voter's high-water mark.
    #[error("voter {voter} sent a stale vote")]
    Stale {
        /// The voter.
        voter: u32,
    },
    /// A second, different vote for a slot.
    #[error("voter {voter} equivocated")]
    Equivocation {
        /// The voter.
        voter: u32,
    },
}

/// Two validly signed, conflicting votes by one voter for one slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The voter.
    pub voter: u32,
    /// Both votes, as certificates of one signature each (verifiable offline).
    pub votes: [Certificate; 2],
}

/// The outcome of collecting one proposal's votes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    /// The certificate, when 2f + 1 matching votes arrived.
    pub certificate: Option<Certificate>,
    /// Votes not counted, and why.
    pub refused: Vec<VoteError>,
    /// Equivocation evidence.
    pub evidence: Vec<Evidence>,
}

/// Collects votes for one swarm's proposals, in order of slots. Votes for the current
/// slot may arrive over several calls; the certificate is returned by the call whose
/// votes complete the quorum.
pub struct VoteCollector {
    set: Arc<VoterSet>,
    /// Per voter: the last slot it voted in, and that vote.
    last: HashMap<u32, SignedVote>,
    /// The slot being collected: counted votes and equivocators.
    current: Option<SlotTally>,
}

struct SlotTally {
    digest: [u8; 32],
    slot: (u64, u64),
    counted: HashMap<u32, SignedVote>,
    equivocators: std::collections::HashSet<u32>,
    decided: bool,
}

fn slot(v: &SignedVote) -> (u64, u64) {
    (v.view, v.sequence)
}

impl VoteCollector {
    /// A collector for `set`.
    pub fn new(set: Arc<VoterSet>) -> Self {
        Self {
            set,
            last: HashMap::new(),
            current: None,
        }
    }

    /// The voter set.
    pub fn set(&self) -> &VoterSet {
        &self.set
    }

    /// Counts `votes` for `proposal`.
    pub fn collect(&mut self, proposal: &Proposal, votes: Vec<SignedVote>) -> Collected {
        let mut out = Collected::default();
        let n = self.set.len() as u32;
        let mut candidates = Vec::new();
        for v in votes {
            let this_slot =
                v.swarm_id == proposal.swarm_id && slot(&v) == (proposal.view, proposal.sequence);
            if v.voter >= n {
                out.refused.push(VoteError::UnknownVoter { voter: v.voter });
            } else if this_slot {
                candidates.push(v);
            } else if self.last.get(&v.voter).is_some_and(|l| slot(&v) < slot(l)) {
                out.refused.push(VoteError::Stale { voter: v.voter });
            } else {
                out.refused.push(VoteError::WrongSlot { voter: v.voter });
            }
        }
        let items: Vec<_> = candidates
            .iter()
            .map(|v| (v.message(), v.signature, v.voter))
            .collect();
        let valid = self.set.verify_all(&items);
        let key = (proposal.view, proposal.sequence);
        let digest = proposal.digest();
        let fresh = self
            .current
            .as_ref()
            .is_none_or(|t| t.slot != key || t.digest != digest);
        if fresh {
            self.current = Some(SlotTally {
                digest,
                slot: key,
                counted: HashMap::new(),
                equivocators: std::collections::HashSet::new(),
                decided: false,
            });
        }
        let Some(tally) = self.current.as_mut() else {
            return out;
        };
        for (v, ok) in candidates.into_iter().zip(valid) {
            if !ok {
                out.refused.push(VoteError::BadSignature { voter: v.voter });
                continue;
            }
            let previous = tally
                .counted
                .get(&v.voter)
                .or_else(|| self.last.get(&v.voter).filter(|l| slot(l) == slot(&v)));
            match previous {
                Some(p) if p.phase == v.phase && p.digest == v.digest => {
                    out.refused.push(VoteError::Replay { voter: v.voter });
                }
                Some(p) => {
                    out.refused.push(VoteError::Equivocation { voter: v.voter });
                    tally.equivocators.insert(v.voter);
                    if let (Some(a), Some(b)) = (
                        Certificate::from_votes(std::slice::from_ref(p)),
                        Certificate::from_votes(std::slice::from_ref(&v)),
                    ) {
                        out.evidence.push(Evidence {
                            voter: v.voter,
                            votes: [a, b],
                        });
                    }
                }
                None if self.last.get(&v.voter).is_some_and(|l| slot(&v) < slot(l)) => {
                    out.refused.push(VoteError::Stale { voter: v.voter });
                }
                None => {
                    self.last.insert(v.voter, v.clone());
                    tally.counted.insert(v.voter, v);
                }
            }
        }
        if tally.decided {
            return out;
        }
        for phase in [Phase::Commit, Phase::Reject] {
            let mut matching: Vec<SignedVote> = tally
                .counted
                .values()
                .filter(|v| {
                    v.phase == phase && v.digest == digest && !tally.equivocators.contains(&v.voter)
                })
                .cloned()
                .collect();
            if matching.len() >= self.set.quorum() {
                matching.sort_by_key(|v| v.voter);
                matching.truncate(self.set.quorum());
                out.certificate = Certificate::from_votes(&matching);
                tally.decided = true;
                break;
            }
        }
        out
    }
}
