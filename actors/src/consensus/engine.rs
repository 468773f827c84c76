//! Runs a decision: assign the next slot and put its proposal in every voter's mailbox
//! (under one short lock, so voters see slots in order), feed votes to this proposal's
//! collector as they arrive, and answer at the first quorum — or, when every voter has
//! answered or the round timed out without one, with `NoDecision`. Proposals run
//! concurrently: nothing is held while votes are awaited.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use serde::Serialize;
use tokio::task::JoinSet;

use super::core::{
    Certificate, Collected, Evidence, Proposal, Rule, SignedVote, VoteCollector, VoteError,
    VoterSet,
};
use super::voters::{VoteBehaviour, VoterMsg, VoterRefs, VoterSupervisor};

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

/// A swarm's voters (under their supervisor) and the next slot.
pub struct ConsensusEngine {
    set: Arc<VoterSet>,
    voters: VoterRefs,
    supervisor: ActorRef<()>,
    /// The last slot handed out. Held only while a proposal is put in every voter's
    /// mailbox, never across a wait: proposals run concurrently, and each voter still
    /// receives sequence numbers in strictly increasing order.
    last_sequence: Mutex<u64>,
}

impl ConsensusEngine {
    /// Spawns one supervised actor per voter; weak keys are refused.
    pub async fn start(
        swarm_id: &str,
        voters: Vec<Box<dyn VoteBehaviour>>,
    ) -> Result<Self, ConsensusError> {
        let keys = voters.iter().map(|v| v.public_key()).collect();
        let set = Arc::new(
            VoterSet::new(swarm_id, keys).map_err(|e| ConsensusError::Setup(e.to_string()))?,
        );
        let refs = VoterRefs::default();
        let (supervisor, _) = Actor::spawn(None, VoterSupervisor, (voters, refs.clone()))
            .await
            .map_err(|e| ConsensusError::Setup(e.to_string()))?;
        Ok(Self {
            set,
            voters: refs,
            supervisor,
            last_sequence: Mutex::new(0),
        })
    }

    /// The voter set (public keys).
    pub fn voter_set(&self) -> &Arc<VoterSet> {
        &self.set
    }

    /// Takes the next slot and puts its proposal in every voter's mailbox; the replies
    /// arrive on the returned set.
    fn dispatch(
        &self,
        payload: serde_json::Value,
        rule: Rule,
    ) -> (Arc<Proposal>, JoinSet<Vec<SignedVote>>) {
        let mut replies = JoinSet::new();
        let mut last = self.last_sequence.lock();
        *last += 1;
        let proposal = Arc::new(Proposal::new(&self.set.swarm_id, 0, *last, payload, rule));
        for voter in self.voters.read().iter() {
            let (tx, rx) = ractor::concurrency::oneshot();
            // A voter that is down drops the port: no vote, like a silent one.
            let _ = voter.send_message(VoterMsg::Vote(proposal.clone(), tx.into()));
            replies.spawn(async move { rx.await.unwrap_or_default() });
        }
        (proposal, replies)
    }

    /// Decides `payload` under `rule`, waiting at most `timeout`.
    pub async fn propose(
        &self,
        payload: serde_json::Value,
        rule: Rule,
        timeout: Duration,
    ) -> Result<Decision, ConsensusError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let (proposal, mut replies) = self.dispatch(payload, rule);
        let mut collector = VoteCollector::new(self.set.clone());
        let mut all = Collected::default();
        let mut counted = 0;
        while let Ok(Some(reply)) = tokio::time::timeout_at(deadline, replies.join_next()).await {
            let votes = reply.unwrap_or_default();
            counted += votes.len();
            let step = collector.collect(&proposal, votes);
            all.refused.extend(step.refused);
            all.evidence.extend(step.evidence);
            if let Some(certificate) = step.certificate {
                return Ok(Decision {
                    sequence: proposal.sequence,
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
        self.supervisor.stop(None);
    }
}
