//! The pool's supervisor actor: spawns the workers linked to itself, and on a worker's
//! failure applies the [`RestartTracker`]'s decision (restart after backoff, or escalate).

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;

use super::worker::{Pull, Worker};
use super::{Lifecycle, PoolShared};
use crate::error::SwarmError;
use crate::service::Service;
use crate::supervision::{RestartDecision, RestartTracker};

/// Messages the pool's supervisor accepts.
pub(crate) enum SupervisorMsg {
    /// Restart these worker slots (sent to itself after the backoff).
    Restart(Vec<usize>),
    /// Stop every worker, then the supervisor; replies when done.
    Stop(RpcReplyPort<()>),
}

// Local only: never sent to another node.
impl ractor::Message for SupervisorMsg {}

pub(crate) struct PoolSupervisor<S>(PhantomData<fn() -> S>);

impl<S> PoolSupervisor<S> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

pub(crate) struct SupervisorState<S: Service> {
    shared: Arc<PoolShared<S>>,
    workers: Vec<Option<ActorRef<Pull>>>,
    tracker: RestartTracker,
}

/// Why a supervisor gave up; its parent sees this as the failure reason.
#[derive(Debug, thiserror::Error)]
#[error("service `{0}` exceeded its restart intensity")]
struct Escalation(String);

impl<S: Service> Actor for PoolSupervisor<S> {
    type Msg = SupervisorMsg;
    type State = SupervisorState<S>;
    type Arguments = Arc<PoolShared<S>>;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        shared: Arc<PoolShared<S>>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let size = shared.spec.workers.max(1);
        let mut state = SupervisorState {
            tracker: RestartTracker::new(shared.spec.supervision),
            workers: vec![None; size],
            shared,
        };
        for slot in 0..size {
            state.spawn(&myself, slot).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Restart(slots) => state.restart(&myself, slots).await,
            SupervisorMsg::Stop(reply) => {
                state.kill_all();
                myself.stop(None);
                let _ = reply.send(());
                Ok(())
            }
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let reason = match &event {
            SupervisionEvent::ActorFailed(_, err) => err.to_string(),
            SupervisionEvent::ActorTerminated(_, _, reason) => {
                reason.clone().unwrap_or_else(|| "stopped".into())
            }
            _ => return Ok(()),
        };
        let Some(cell) = event.actor_cell() else {
            return Ok(());
        };
        state.on_worker_down(&myself, cell, &reason).await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.kill_all();
        Ok(())
    }
}

impl<S: Service> SupervisorState<S> {
    async fn spawn(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        slot: usize,
    ) -> Result<(), ActorProcessingErr> {
        let (worker, _) = Actor::spawn_linked(
            None,
            Worker::<S>::new(),
            (slot, self.shared.clone()),
            myself.get_cell(),
        )
        .await?;
        self.workers[slot] = Some(worker);
        self.update_gauge();
        Ok(())
    }

    fn update_gauge(&self) {
        let alive = self.workers.iter().flatten().count() as u64;
        self.shared.metrics.workers.store(alive, SeqCst);
    }

    fn kill_all(&mut self) {
        for worker in self.workers.iter_mut().filter_map(Option::take) {
            worker.kill();
        }
        self.update_gauge();
    }

    async fn on_worker_down(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        cell: &ActorCell,
        reason: &str,
    ) -> Result<(), ActorProcessingErr> {
        let id = cell.get_id();
        let Some(slot) = self
            .workers
            .iter()
            .position(|w| w.as_ref().is_some_and(|w| w.get_id() == id))
        else {
            return Ok(()); // a worker we stopped on purpose
        };
        self.workers[slot] = None;
        self.update_gauge();
        if self.shared.is_winding_down() {
            return Ok(());
        }
        let service = &self.shared.spec.name;
        tracing::warn!(%service, slot, %reason, "worker failed");
        self.decide(myself, slot).await
    }

    async fn decide(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        slot: usize,
    ) -> Result<(), ActorProcessingErr> {
        let size = self.workers.len();
        match self.tracker.on_failure(slot, size, Instant::now()) {
            RestartDecision::Restart { slots, delay } => {
                for &s in &slots {
                    if let Some(w) = self.workers[s].take() {
                        w.kill();
                    }
                }
                self.update_gauge();
                self.shared
                    .metrics
                    .restarts
                    .fetch_add(slots.len() as u64, SeqCst);
                myself.send_after(delay, move || SupervisorMsg::Restart(slots));
                Ok(())
            }
            RestartDecision::Escalate => self.escalate().await,
        }
    }

    async fn restart(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        slots: Vec<usize>,
    ) -> Result<(), ActorProcessingErr> {
        for slot in slots {
            if self.shared.is_winding_down() || self.workers[slot].is_some() {
                continue;
            }
            if let Err(e) = self.spawn(myself, slot).await {
                let service = &self.shared.spec.name;
                tracing::warn!(%service, slot, error = %e, "worker failed to restart");
                Box::pin(self.decide(myself, slot)).await?;
            }
        }
        Ok(())
    }

    async fn escalate(&mut self) -> Result<(), ActorProcessingErr> {
        let name = self.shared.spec.name.clone();
        tracing::error!(service = %name, "restart intensity exceeded; service failed");
        self.shared.metrics.escalations.fetch_add(1, SeqCst);
        self.shared.set_lifecycle(Lifecycle::Failed);
        self.kill_all();
        self.shared.queue.close().await;
        let why = SwarmError::Unavailable(format!(
            "service `{name}` failed: restart intensity exceeded"
        ));
        self.shared.queue.drain_with(&why);
        Err(Box::new(Escalation(name)))
    }
}
