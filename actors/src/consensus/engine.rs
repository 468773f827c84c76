//! Runs a decision: assign the next slot, fan the proposal out to every voter actor,
//! feed votes to the collector as they arrive, and answer at the first quorum — or, when
//! every voter has answered or the round timed out without one, with `NoDecision`.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use serde::Serialize;
use tokio::sync::Mutex;

use super::core::{
    Certificate, Collected, Evidence, Proposal, Rule, VoteCollector, VoteError, VoterSet,
};
use super::voters::{VoteBehaviour, VoterActor, VoterMsg};

/// A decided proposal.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The slot's sequence number.
    pub sequence: u64,
    /// Hex digest of the proposal.
    pub digest: String,
    /// The certificate (its `phase` says commit or reject).
    pub certificate: Certificate,
    /// Equivocation evidence seen while collecting.
    pub evidence: Vec<Evidence>,
    /// Votes not counted, and why.
    pub refused: Vec<VoteError>,
}

/// Why no decision was reached.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConsensusError {
    /// Fewer than 2f + 1 matching votes before the round ended.
    #[error("no quorum within {timeout:?}: {votes} usable votes, {needed} needed")]
    NoDecision {
        /// The round timeout.
        timeout: Duration,
        /// Votes counted.
        votes: usize,
        /// 2f + 1.
        needed: usize,
    },
    /// The voter set could not be formed.
    #[error("{0}")]
    Setup(String),
}

/// A swarm's voters and the collector of their votes.
pub struct ConsensusEngine {
    set: Arc<VoterSet>,
    voters: Vec<ActorRef<VoterMsg>>,
    /// Serialises decisions so slots are used in order.
    state: Mutex<(VoteCollector, u64)>,
}

impl ConsensusEngine {
    /// Spawns one actor per voter; weak keys are refused.
    pub async fn start(
        swarm_id: &str,
        voters: Vec<Box<dyn VoteBehaviour>>,
    ) -> Result<Self, ConsensusError> {
        let keys = voters.iter().map(|v| v.public_key()).collect();
        let set = Arc::new(
            VoterSet::new(swarm_id, keys).map_err(|e| ConsensusError::Setup(e.to_string()))?,
        );
        let mut refs = Vec::with_capacity(voters.len());
        for v in voters {
            let (r, _) = Actor::spawn(None, VoterActor, v)
                .await
                .map_err(|e| ConsensusError::Setup(e.to_string()))?;
            refs.push(r);
        }
        Ok(Self {
            state: Mutex::new((VoteCollector::new(set.clone()), 0)),
            set,
            voters: refs,
        })
    }

    /// The voter set (public keys).
    pub fn voter_set(&self) -> &Arc<VoterSet> {
        &self.set
    }

    /// Decides `payload` under `rule`, waiting at most `timeout`.
    pub async fn propose(
        &self,
        payload: serde_json::Value,
        rule: Rule,
        timeout: Duration,
    ) -> Result<Decision, ConsensusError> {
        let mut guard = self.state.lock().await;
        guard.1 += 1;
        let sequence = guard.1;
        let proposal = Arc::new(Proposal::new(
            &self.set.swarm_id,
            0,
            sequence,
            payload,
            rule,
        ));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for voter in &self.voters {
            let (voter, proposal, tx) = (voter.clone(), proposal.clone(), tx.clone());
            tokio::spawn(async move {
                let reply = voter
                    .call(|port| VoterMsg::Vote(proposal, port), Some(timeout))
                    .await;
                let votes = match reply {
                    Ok(ractor::rpc::CallResult::Success(votes)) => votes,
                    _ => Vec::new(), // crashed, silent or timed out: no vote
                };
                let _ = tx.send(votes);
            });
        }
        drop(tx);
        let mut all = Collected::default();
        let mut counted = 0;
        let deadline = tokio::time::Instant::now() + timeout;
        while let Ok(Some(votes)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            counted += votes.len();
            let step = guard.0.collect(&proposal, votes);
            all.refused.extend(step.refused);
            all.evidence.extend(step.evidence);
            if let Some(certificate) = step.certificate {
                return Ok(Decision {
                    sequence,
                    digest: hex::encode(proposal.digest()),
                    certificate,
                    evidence: all.evidence,
                    refused: all.refused,
                });
            }
        }
        Err(ConsensusError::NoDecision {
            timeout,
            votes: counted - all.refused.len().min(counted),
            needed: self.set.quorum(),
        })
    }
}

impl Drop for ConsensusEngine {
    fn drop(&mut self) {
        for v in &self.voters {
            v.stop(None);
        }
    }
}
