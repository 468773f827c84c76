//! Test-only fault injection: `FaultyService` is a fake whose jobs panic, block until
//! released, or sleep, so tests can drive the runtime's real queues and supervisors.
#![allow(dead_code, unused_imports, missing_docs, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use swarm_runtime::{
    OverflowPolicy, PoolSpec, RequestContext, Service, ServiceError, ServicePool, SupervisionConfig,
};
use tokio::sync::{Semaphore, mpsc};

/// What a job asks the fake service to do.
#[derive(Clone)]
pub enum Job {
    /// Answer the value.
    Value(u64),
    /// Panic.
    Panic,
    /// Panic the first time only (the flag remembers), then answer the value.
    PanicOnce(Arc<AtomicBool>, u64),
    /// Report the worker slot on `started`, wait for a permit on `release`, then answer
    /// the value — or panic if running on `panic_on_slot`.
    Hold {
        started: mpsc::UnboundedSender<usize>,
        release: Arc<Semaphore>,
        value: u64,
        panic_on_slot: Option<usize>,
    },
    /// A write with a point of no return: commit (reporting the outcome on `committed`)
    /// before or after holding like `Hold`; answer the value if it committed.
    Write {
        commit_first: bool,
        started: mpsc::UnboundedSender<usize>,
        release: Arc<Semaphore>,
        committed: mpsc::UnboundedSender<bool>,
        value: u64,
    },
    /// Sleep, then answer the value.
    Sleep(Duration, u64),
    /// Fail with an invalid-request error.
    Invalid,
    /// Append the value to the log when it runs (to observe the order of service).
    Record(Arc<std::sync::Mutex<Vec<u64>>>, u64),
}

/// Counts how many jobs actually ran.
#[derive(Default)]
pub struct Ran(pub AtomicUsize);

#[derive(Default)]
pub struct FaultyService {
    ran: Arc<Ran>,
}

impl Service for FaultyService {
    type Request = Job;
    type Response = u64;

    async fn handle(&mut self, job: Job, ctx: &RequestContext) -> Result<u64, ServiceError> {
        self.ran.0.fetch_add(1, SeqCst);
        match job {
            Job::Value(v) => Ok(v),
            Job::Panic => panic!("injected fault: panic"),
            Job::PanicOnce(flag, v) => {
                if !flag.swap(true, SeqCst) {
                    panic!("injected fault: panic once");
                }
                Ok(v)
            }
            Job::Hold {
                started,
                release,
                value,
                panic_on_slot,
            } => {
                let _ = started.send(ctx.worker);
                let permit = release
                    .acquire()
                    .await
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                permit.forget();
                if panic_on_slot == Some(ctx.worker) {
                    panic!("injected fault: panic on slot {}", ctx.worker);
                }
                Ok(value)
            }
            Job::Write {
                commit_first,
                started,
                release,
                committed,
                value,
            } => {
                let commit = || {
                    let r = ctx.commitment.commit();
                    let _ = committed.send(r.is_ok());
                    r
                };
                if commit_first {
                    commit()?;
                }
                let _ = started.send(ctx.worker);
                release
                    .acquire()
                    .await
                    .map_err(|e| ServiceError::Internal(e.to_string()))?
                    .forget();
                if !commit_first {
                    commit()?;
                }
                Ok(value)
            }
            Job::Sleep(d, v) => {
                tokio::time::sleep(d).await;
                Ok(v)
            }
            Job::Record(log, v) => {
                log.lock().unwrap_or_else(|p| p.into_inner()).push(v);
                Ok(v)
            }
            Job::Invalid => Err(ServiceError::InvalidRequest(
                "injected invalid request".into(),
            )),
        }
    }

    fn concurrent_copy(&self) -> Option<Self> {
        Some(Self {
            ran: self.ran.clone(),
        })
    }
}

pub fn spec(name: &str, workers: usize, capacity: usize, overflow: OverflowPolicy) -> PoolSpec {
    PoolSpec {
        workers,
        capacity,
        overflow,
        supervision: SupervisionConfig::default(),
        ..PoolSpec::new(name)
    }
}

pub async fn start(spec: PoolSpec) -> (ServicePool<FaultyService>, Arc<Ran>) {
    let ran = Arc::new(Ran::default());
    let r = ran.clone();
    let pool = ServicePool::start(
        spec,
        Arc::new(move || Ok(FaultyService { ran: r.clone() })),
        None,
    )
    .await
    .expect("pool starts");
    (pool, ran)
}

/// A gate: jobs that hold until released, and the channel that says they started.
pub struct Gate {
    pub started_tx: mpsc::UnboundedSender<usize>,
    pub started: mpsc::UnboundedReceiver<usize>,
    pub release: Arc<Semaphore>,
}

impl Gate {
    pub fn new() -> Self {
        let (started_tx, started) = mpsc::unbounded_channel();
        Self {
            started_tx,
            started,
            release: Arc::new(Semaphore::new(0)),
        }
    }

    pub fn job(&self, value: u64) -> Job {
        self.job_panicking_on(value, None)
    }

    pub fn job_panicking_on(&self, value: u64, panic_on_slot: Option<usize>) -> Job {
        Job::Hold {
            started: self.started_tx.clone(),
            release: self.release.clone(),
            value,
            panic_on_slot,
        }
    }

    /// Sends a held job with `value` through `client` and waits until a worker runs it.
    pub async fn hold(
        &mut self,
        client: &swarm_runtime::Client<FaultyService>,
        value: u64,
    ) -> tokio::task::JoinHandle<Result<u64, swarm_runtime::SwarmError>> {
        let (c, job) = (client.clone(), self.job(value));
        let held = tokio::spawn(async move { c.call(job).await });
        self.started().await;
        held
    }

    /// Waits (bounded) until a held job has started; returns its worker slot.
    pub async fn started(&mut self) -> usize {
        within(self.started.recv())
            .await
            .expect("a held job starts")
    }
}

pub use swarm_test_util::{until, within};
