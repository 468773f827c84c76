//! ③ run: a service's pool of supervised ractor workers pulling from its bounded queue.
//! Idle workers pull, so load balances itself; the pool's supervisor restarts crashed
//! workers by the service's [`SupervisionConfig`].

mod supervisor;
mod worker;

use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorRef};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client::Client;
use crate::envelope::Envelope;
use crate::error::SwarmError;
use crate::metrics::{QueueGauge, ServiceMetrics};
use crate::queue::{BoundedQueue, OverflowPolicy};
use crate::scheduler::{Pace, Router};
use crate::service::{Service, ServiceFactory};
use crate::supervision::SupervisionConfig;

pub(crate) use supervisor::SupervisorMsg;

/// How a pool is shaped: everything the YAML says about one service except its params.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    /// The service's name (unique in a swarm).
    pub name: String,
    /// Number of workers.
    pub workers: usize,
    /// Requests each worker runs at once (above 1 only for services that give
    /// [`Service::concurrent_copy`]).
    pub concurrency: usize,
    /// Queue capacity.
    pub capacity: usize,
    /// What happens when the queue is full.
    pub overflow: OverflowPolicy,
    /// Deadline given to requests that do not bring their own.
    pub default_deadline: Duration,
    /// Whether a request whose worker crashed may be retried once.
    pub idempotent: bool,
    /// Restart strategy, intensity and backoff.
    pub supervision: SupervisionConfig,
    /// The pool's name when the service runs on several pools (`pools:`).
    pub pool: Option<String>,
}

impl PoolSpec {
    /// A spec with the defaults used when YAML says nothing.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            workers: 1,
            concurrency: 1,
            capacity: 1024,
            overflow: OverflowPolicy::Block,
            default_deadline: Duration::from_secs(30),
            idempotent: false,
            supervision: SupervisionConfig::default(),
            pool: None,
        }
    }
}

/// Where a pool is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Lifecycle {
    /// Workers are being spawned.
    Starting = 0,
    /// Accepting and serving requests.
    Ready = 1,
    /// Not accepting; finishing what is queued.
    Draining = 2,
    /// Shut down.
    Stopped = 3,
    /// Restart intensity exceeded; answers `Unavailable`.
    Failed = 4,
}

impl Lifecycle {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Starting,
            1 => Self::Ready,
            2 => Self::Draining,
            3 => Self::Stopped,
            _ => Self::Failed,
        }
    }
}

/// A service's health as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// True when the service can serve requests now.
    pub healthy: bool,
    /// Why not, or "ok".
    pub detail: String,
}

/// What a graceful shutdown did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrainReport {
    /// Queued requests answered `Unavailable` because the grace period ran out.
    pub answered_unavailable: usize,
}

pub(crate) type Env<S> = Envelope<<S as Service>::Request, <S as Service>::Response>;

/// State shared by a pool's handle, clients, supervisor and workers.
pub(crate) struct PoolShared<S: Service> {
    pub(crate) spec: PoolSpec,
    pub(crate) queue: BoundedQueue<Env<S>>,
    pub(crate) factory: ServiceFactory<S>,
    pub(crate) metrics: Arc<ServiceMetrics>,
    lifecycle: AtomicU8,
    /// Signalled whenever a request finishes, so drains wait without polling.
    pub(crate) progress: Notify,
    /// Observed service time, for the scheduler's estimates.
    pub(crate) pace: Pace,
    /// The service's router and this pool's index in it, when it runs on several pools:
    /// an idle worker may take queued work from a sibling pool.
    pub(crate) siblings: OnceLock<(Weak<Router<S>>, usize)>,
}

impl<S: Service> PoolShared<S> {
    pub(crate) fn lifecycle(&self) -> Lifecycle {
        Lifecycle::from_u8(self.lifecycle.load(SeqCst))
    }

    pub(crate) fn set_lifecycle(&self, l: Lifecycle) {
        self.lifecycle.store(l as u8, SeqCst);
        self.progress.notify_waiters();
    }

    pub(crate) fn is_winding_down(&self) -> bool {
        matches!(
            self.lifecycle(),
            Lifecycle::Draining | Lifecycle::Stopped | Lifecycle::Failed
        )
    }
}

/// A running pool: the handle its owner keeps to make clients, check health and stop it.
pub struct ServicePool<S: Service> {
    shared: Arc<PoolShared<S>>,
    supervisor: ActorRef<SupervisorMsg>,
}

impl<S: Service> ServicePool<S> {
    /// Starts a pool: creates its queue and spawns its supervisor and workers, linked under
    /// `parent` when given. Fails if a worker's service cannot be created.
    pub async fn start(
        spec: PoolSpec,
        factory: ServiceFactory<S>,
        parent: Option<ActorCell>,
    ) -> Result<Self, SwarmError> {
        let metrics = Arc::new(ServiceMetrics::default());
        let queue = BoundedQueue::new(&spec.name, spec.capacity, spec.overflow, metrics.clone());
        let shared = Arc::new(PoolShared {
            spec,
            queue,
            factory,
            metrics,
            lifecycle: AtomicU8::new(Lifecycle::Starting as u8),
            progress: Notify::new(),
            pace: Pace::default(),
            siblings: OnceLock::new(),
        });
        // Unnamed: ractor's name registry is process-global and two swarms may share names.
        let actor = supervisor::PoolSupervisor::<S>::new();
        let spawned = match parent {
            Some(p) => Actor::spawn_linked(None, actor, shared.clone(), p).await,
            None => Actor::spawn(None, actor, shared.clone()).await,
        };
        let (supervisor, _join) = spawned.map_err(|e| {
            SwarmError::Unavailable(format!(
                "service `{}` failed to start: {e}",
                shared.spec.name
            ))
        })?;
        shared.set_lifecycle(Lifecycle::Ready);
        Ok(Self { shared, supervisor })
    }

    /// A typed client for this pool.
    pub fn client(&self) -> Client<S> {
        Client::new(self.shared.clone())
    }

    pub(crate) fn shared(&self) -> &Arc<PoolShared<S>> {
        &self.shared
    }

    /// The pool's spec.
    pub fn spec(&self) -> &PoolSpec {
        &self.shared.spec
    }

    /// Where the pool is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        self.shared.lifecycle()
    }

    /// The pool's figures.
    pub fn metrics(&self) -> &ServiceMetrics {
        &self.shared.metrics
    }

    /// The queue's depth and capacity now.
    pub fn queue_gauge(&self) -> QueueGauge {
        QueueGauge {
            depth: self.shared.queue.len(),
            capacity: self.shared.queue.capacity(),
        }
    }

    /// Healthy when ready with at least one live worker.
    pub fn health(&self) -> Health {
        let workers = self.shared.metrics.workers.load(SeqCst);
        let (healthy, detail) = match self.lifecycle() {
            Lifecycle::Ready if workers > 0 => (true, "ok".to_string()),
            Lifecycle::Ready => (false, "no live workers (restarting)".to_string()),
            Lifecycle::Starting => (false, "starting".to_string()),
            Lifecycle::Draining => (false, "draining".to_string()),
            Lifecycle::Stopped => (false, "stopped".to_string()),
            Lifecycle::Failed => (false, "failed: restart intensity exceeded".to_string()),
        };
        Health { healthy, detail }
    }

    /// Stops accepting, lets workers finish what is queued and in flight for up to `grace`,
    /// answers whatever is left with `Unavailable`, then stops the workers.
    pub async fn shutdown(&self, grace: Duration) -> DrainReport {
        let shared = &self.shared;
        if shared.lifecycle() == Lifecycle::Ready {
            shared.set_lifecycle(Lifecycle::Draining);
        }
        shared.queue.close().await;
        let until = Instant::now() + grace;
        loop {
            // Register interest before checking, so a completion in between is not missed.
            let progressed = shared.progress.notified();
            let busy = shared.queue.len() + shared.metrics.in_flight.load(SeqCst) as usize;
            if busy == 0 || shared.metrics.workers.load(SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(until, progressed).await.is_err() {
                break;
            }
        }
        shared.set_lifecycle(Lifecycle::Stopped);
        let why = SwarmError::Unavailable(format!("service `{}` shut down", shared.spec.name));
        let answered_unavailable = shared.queue.drain_with(&why);
        // The supervisor kills the workers; their in-flight requests answer `Unavailable`.
        let _ = ractor::call!(self.supervisor, SupervisorMsg::Stop);
        DrainReport {
            answered_unavailable,
        }
    }
}
