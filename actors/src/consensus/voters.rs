//! Voter actors: each owns its key and policy behind the [`VoteBehaviour`] trait, so a
//! policy is pluggable and tests can inject faulty voters. Voters run under a
//! [`VoterSupervisor`], which restarts a crashed voter with the same behaviour (same key),
//! at most [`MAX_RESTARTS`] times per [`RESTART_WINDOW`]; past that the voter stays down and
//! counts as silent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use parking_lot::RwLock;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use swarm_runtime::topology::BoxFuture;

use super::core::{Proposal, SignedVote, Voter};

/// How a voter answers a proposal.
pub trait VoteBehaviour: Send + 'static {
    /// The voter's public key.
    fn public_key(&self) -> VerifyingKey;
    /// Votes on `proposal`; `None` stays silent.
    fn vote(&mut self, proposal: &Proposal) -> Option<Vec<SignedVote>>;
    /// Votes, possibly after waiting (a remote signer; a gate in tests). The default
    /// answers [`VoteBehaviour::vote`] at once.
    fn vote_later<'a>(
        &'a mut self,
        proposal: &'a Proposal,
    ) -> BoxFuture<'a, Option<Vec<SignedVote>>> {
        Box::pin(std::future::ready(self.vote(proposal)))
    }
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

// Local only: never sent to another node.
impl ractor::Message for VoterMsg {}

/// A behaviour shared between a voter and its restarts (its key survives a crash).
type SharedBehaviour = Arc<tokio::sync::Mutex<Box<dyn VoteBehaviour>>>;

/// The voters' addresses, by voter id; a restart replaces its slot.
pub(crate) type VoterRefs = Arc<RwLock<Vec<ActorRef<VoterMsg>>>>;

struct VoterActor;

impl Actor for VoterActor {
    type Msg = VoterMsg;
    type State = SharedBehaviour;
    type Arguments = SharedBehaviour;

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
        let mut behaviour = state.lock().await;
        if let Some(votes) = behaviour.vote_later(&proposal).await {
            let _ = reply.send(votes);
        }
        Ok(())
    }
}

/// Restarts of one voter allowed within [`RESTART_WINDOW`].
pub const MAX_RESTARTS: usize = 10;
/// The window of [`MAX_RESTARTS`].
pub const RESTART_WINDOW: Duration = Duration::from_secs(10);

/// Supervises the voters: restarts a crashed one in its slot.
pub(crate) struct VoterSupervisor;

/// The supervisor's state: each voter's behaviour and recent restarts.
pub(crate) struct Supervised {
    behaviours: Vec<SharedBehaviour>,
    restarts: Vec<VecDeque<Instant>>,
    refs: VoterRefs,
}

async fn spawn_voter(
    b: &SharedBehaviour,
    supervisor: ActorCell,
) -> Result<ActorRef<VoterMsg>, ActorProcessingErr> {
    let (r, _) = Actor::spawn_linked(None, VoterActor, b.clone(), supervisor).await?;
    Ok(r)
}

impl Actor for VoterSupervisor {
    type Msg = ();
    type State = Supervised;
    type Arguments = (Vec<Box<dyn VoteBehaviour>>, VoterRefs);

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        (voters, refs): Self::Arguments,
    ) -> Result<Supervised, ActorProcessingErr> {
        let behaviours: Vec<SharedBehaviour> = voters
            .into_iter()
            .map(|b| Arc::new(tokio::sync::Mutex::new(b)))
            .collect();
        let mut spawned = Vec::with_capacity(behaviours.len());
        for b in &behaviours {
            spawned.push(spawn_voter(b, myself.get_cell()).await?);
        }
        *refs.write() = spawned;
        Ok(Supervised {
            restarts: vec![VecDeque::new(); behaviours.len()],
            behaviours,
            refs,
        })
    }

    async fn post_stop(
        &self,
        _: ActorRef<()>,
        state: &mut Supervised,
    ) -> Result<(), ActorProcessingErr> {
        for v in state.refs.read().iter() {
            v.stop(None);
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        event: SupervisionEvent,
        state: &mut Supervised,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(cell, err) = event else {
            return Ok(());
        };
        let slot = state
            .refs
            .read()
            .iter()
            .position(|r| r.get_id() == cell.get_id());
        let Some(slot) = slot else {
            return Ok(());
        };
        let now = Instant::now();
        let recent = &mut state.restarts[slot];
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            recent.pop_front();
        }
        if recent.len() >= MAX_RESTARTS {
            tracing::error!(voter = slot, error = %err, "voter crashed past its restart intensity; it stays down");
            return Ok(());
        }
        recent.push_back(now);
        tracing::warn!(voter = slot, error = %err, "voter crashed; restarting it with its key");
        let restarted = spawn_voter(&state.behaviours[slot], myself.get_cell()).await?;
        state.refs.write()[slot] = restarted;
        Ok(())
    }
}
