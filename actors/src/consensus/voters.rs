//! Voter actors: each owns its key and policy behind the [`VoteBehaviour`] trait, so a
//! policy is pluggable and tests can inject faulty voters.

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::core::{Proposal, SignedVote, Voter};

/// How a voter answers a proposal.
pub trait VoteBehaviour: Send + 'static {
    /// The voter's public key.
    fn public_key(&self) -> VerifyingKey;
    /// Votes on `proposal`; `None` stays silent.
    fn vote(&mut self, proposal: &Proposal) -> Option<Vec<SignedVote>>;
}

impl VoteBehaviour for Voter {
    fn public_key(&self) -> VerifyingKey {
        Voter::public_key(self)
    }
    fn vote(&mut self, proposal: &Proposal) -> Option<Vec<SignedVote>> {
        Some(vec![Voter::vote(self, proposal)])
    }
}

/// A voter actor's message.
pub enum VoterMsg {
    /// Vote on a proposal.
    Vote(Arc<Proposal>, RpcReplyPort<Vec<SignedVote>>),
}

pub(crate) struct VoterActor;

impl Actor for VoterActor {
    type Msg = VoterMsg;
    type State = Box<dyn VoteBehaviour>;
    type Arguments = Box<dyn VoteBehaviour>;

    async fn pre_start(
        &self,
        _: ActorRef<VoterMsg>,
        b: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(b)
    }

    async fn handle(
        &self,
        _: ActorRef<VoterMsg>,
        msg: VoterMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let VoterMsg::Vote(proposal, reply) = msg;
        if let Some(votes) = state.vote(&proposal) {
            let _ = reply.send(votes);
        }
        Ok(())
    }
}
