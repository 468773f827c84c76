//! The actor shell: every worker shares one [`Engine`] — the keys, a dedicated rayon pool
//! with the server key set on each of its threads (FHE work never runs on tokio threads)
//! and the job table. Requests are quick (check the ciphertexts, admit a job, read one);
//! the computation runs on the pool as a job.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use parking_lot::Mutex;
use swarm_runtime::config::Section;
use swarm_runtime::{Registry, RequestContext, Service, ServiceError, SwarmError};
use uuid::Uuid;

use super::core::holder::KeyHolder;
use super::core::keys::{self, ServerKeys};
use super::core::params::PARAMS_VERSION;
use super::core::progress::Progress;
use super::core::{FheError, tally, wire};
use super::jobs::{JobView, Jobs, Outcome};

/// A request to the FHE service.
#[derive(Debug, Clone)]
pub enum FheRequest {
    /// The compact public key clients encrypt with.
    PublicKey,
    /// Tally one-hot ballots (a framed body of packed lists of `options` 8-bit values).
    Tally {
        /// Options per ballot.
        options: usize,
        /// The ballots, framed (see [`wire::unframe`]).
        ballots: Bytes,
        /// How long the job may run (at most the service's `job_timeout`).
        timeout: Option<Duration>,
    },
    /// A job's state, once it has finished or `wait` has passed.
    Job {
        /// The job.
        id: Uuid,
        /// How long to wait for it to finish.
        wait: Duration,
    },
    /// Stop a job before its next ciphertext operation.
    Cancel {
        /// The job.
        id: Uuid,
    },
}

/// The FHE service's answers.
#[derive(Debug, Clone)]
pub enum FheResponse {
    /// The public key's file and its parameter set.
    PublicKey {
        /// [`PARAMS_VERSION`].
        params: &'static str,
        /// tfhe's safe serialisation of the key.
        bytes: Bytes,
    },
    /// A job (just admitted, or as it is now).
    Job(JobView),
}

impl From<FheError> for ServiceError {
    fn from(e: FheError) -> Self {
        match e {
            FheError::Ciphertext(_) | FheError::Invalid(_) => Self::InvalidRequest(e.to_string()),
            FheError::Keys(_) => Self::Unavailable(e.to_string()),
            FheError::Stopped(_) => Self::Timeout(e.to_string()),
        }
    }
}

/// The FHE service's params, for the Rust builder (same keys as YAML).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FheParams {
    /// The key directory (`swarm fhe keygen --out DIR`).
    pub keys: PathBuf,
    /// FHE threads (default: one per core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Jobs queued or running at once (default 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_jobs: Option<usize>,
}

impl swarm_runtime::topology::ServiceParams for FheParams {
    const TYPE: &'static str = "fhe";
}

/// Keys, pool and jobs, shared by every worker.
pub struct Engine {
    pool: rayon::ThreadPool,
    holder: Option<Arc<KeyHolder>>,
    public: Bytes,
    jobs: Arc<Jobs>,
    job_timeout: Duration,
}

/// How an [`Engine`] is set up.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// FHE threads.
    pub threads: usize,
    /// Jobs queued or running at once.
    pub max_jobs: usize,
    /// Finished jobs kept for reading.
    pub keep_jobs: usize,
    /// The longest a job may run.
    pub job_timeout: Duration,
}

impl Engine {
    /// Loads the keys in `dir` (the client key too when present: this node is then the
    /// key holder) and starts the pool with the server key on every thread.
    pub fn open(dir: &std::path::Path, options: &EngineOptions) -> Result<Self, FheError> {
        let started = Instant::now();
        let ServerKeys {
            server,
            public_bytes,
            ..
        } = keys::load_server(dir)?;
        let holder = match keys::load_client(dir) {
            Ok(key) => Some(Arc::new(KeyHolder::new(key))),
            Err(e) => {
                tracing::info!(error = %e, "no client key: this node computes, another decrypts");
                None
            }
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads.max(1))
            .thread_name(|i| format!("fhe-{i}"))
            .build()
            .map_err(|e| FheError::Keys(format!("cannot start the FHE threads: {e}")))?;
        // tfhe keeps the server key per thread; set once here, never inside a task.
        pool.broadcast(|_| tfhe::set_server_key(server.clone()));
        tracing::info!(
            params = PARAMS_VERSION,
            load_ms = started.elapsed().as_millis() as u64,
            key_holder = holder.is_some(),
            "FHE keys loaded"
        );
        Ok(Self {
            pool,
            holder,
            public: Bytes::from(public_bytes),
            jobs: Arc::new(Jobs::new(options.max_jobs, options.keep_jobs)),
            job_timeout: options.job_timeout,
        })
    }

    /// The job table.
    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.jobs
    }

    fn tally(
        &self,
        options: usize,
        ballots: &[u8],
        timeout: Option<Duration>,
    ) -> Result<JobView, ServiceError> {
        if !(1..=tally::MAX_OPTIONS).contains(&options) {
            return Err(FheError::Invalid(format!(
                "`options` must be between 1 and {}",
                tally::MAX_OPTIONS
            ))
            .into());
        }
        let holder = self.holder.clone().ok_or_else(|| {
            ServiceError::Unavailable("this node holds no client key to decrypt totals".into())
        })?;
        let lists = wire::unframe(ballots)?
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| {
                wire::read_list(bytes, options).map_err(|e| match e {
                    FheError::Ciphertext(why) => FheError::Ciphertext(format!("ballot {i}: {why}")),
                    other => other,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if lists.is_empty() {
            return Err(FheError::Invalid("no ballots".into()).into());
        }
        let timeout = timeout.unwrap_or(self.job_timeout).min(self.job_timeout);
        let progress = Progress::new(
            tally::operations(lists.len(), options),
            Some(Instant::now() + timeout),
        );
        let job = self.jobs.admit("tally", progress).map_err(|full| {
            ServiceError::Upstream(SwarmError::Overloaded {
                service: format!("fhe ({} jobs queued or running)", full.0),
                retry_after: Duration::from_secs(10),
            })
        })?;
        let jobs = self.jobs.clone();
        let running = job.clone();
        self.pool.spawn(move || {
            running.start();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tally::run(&lists, options, &holder, running.progress())
            }));
            let outcome = match outcome {
                Ok(Ok(result)) => Outcome::Done {
                    result: serde_json::to_value(result).unwrap_or_default(),
                },
                Ok(Err(e)) => Outcome::Stopped {
                    reason: e.to_string(),
                },
                Err(_) => Outcome::Stopped {
                    reason: "the computation failed (panicked); nothing was revealed".into(),
                },
            };
            jobs.finish(&running, outcome);
        });
        Ok(job.view())
    }
}

/// The FHE service.
pub struct FheService {
    engine: Arc<Engine>,
}

impl FheService {
    /// A service over a shared engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

impl Service for FheService {
    type Request = FheRequest;
    type Response = FheResponse;

    async fn handle(
        &mut self,
        req: FheRequest,
        ctx: &RequestContext,
    ) -> Result<FheResponse, ServiceError> {
        let engine = self.engine.clone();
        match req {
            FheRequest::PublicKey => Ok(FheResponse::PublicKey {
                params: PARAMS_VERSION,
                bytes: engine.public.clone(),
            }),
            FheRequest::Tally {
                options,
                ballots,
                timeout,
            } => {
                // Reading and checking the lists is CPU work: off the async threads.
                tokio::task::spawn_blocking(move || engine.tally(options, &ballots, timeout))
                    .await
                    .map_err(|e| ServiceError::Internal(format!("FHE task failed: {e}")))?
                    .map(FheResponse::Job)
            }
            FheRequest::Job { id, wait } => {
                let job = engine.jobs.get(&id).ok_or_else(|| no_job(&id))?;
                let wait = wait.min(
                    ctx.deadline
                        .saturating_duration_since(tokio::time::Instant::now()),
                );
                Ok(FheResponse::Job(engine.jobs.wait(&job, wait).await))
            }
            FheRequest::Cancel { id } => {
                let job = engine.jobs.get(&id).ok_or_else(|| no_job(&id))?;
                job.progress().cancel();
                Ok(FheResponse::Job(job.view()))
            }
        }
    }

    fn work_units(request: &FheRequest) -> f64 {
        match request {
            // Checking ballots is proportional to their bytes; the job itself runs apart.
            FheRequest::Tally { ballots, .. } => 1.0 + ballots.len() as f64 / 65_536.0,
            _ => 1.0,
        }
    }
}

fn no_job(id: &Uuid) -> ServiceError {
    ServiceError::NotFound(format!("no FHE job {id}"))
}

/// Registers service type `fhe` (params: `keys`, the key directory; `threads`;
/// `max_jobs`; `keep_jobs`; `job_timeout`) with its routes. The keys load when the pool
/// starts; a missing key set is a config error naming `swarm fhe keygen`.
pub fn register(registry: &mut Registry) {
    let mut registration = registry.service::<FheService, _>("fhe", |params: &Section<'_>| {
        let dir: PathBuf = params.required("keys")?;
        if let Err(e) = keys::check(&dir) {
            params.error("keys", e);
            return None;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let options = EngineOptions {
            threads: params.or("threads", cores),
            max_jobs: params.or("max_jobs", 4),
            keep_jobs: params.or("keep_jobs", 256),
            job_timeout: params.or("job_timeout", Duration::from_secs(600)),
        };
        let shared: Arc<Mutex<Option<Arc<Engine>>>> = Arc::new(Mutex::new(None));
        let metrics = shared.clone();
        params.metrics_source(Arc::new(move |service| {
            let active = metrics
                .try_lock()
                .and_then(|e| e.as_ref().map(|e| e.jobs.active()))
                .unwrap_or(0);
            super::metrics::families(service, active)
        }));
        Some(Arc::new(move || {
            let mut slot = shared.lock();
            if let Some(e) = slot.as_ref() {
                return Ok(FheService::new(e.clone()));
            }
            let engine = Arc::new(
                Engine::open(&dir, &options).map_err(|e| ServiceError::Internal(e.to_string()))?,
            );
            *slot = Some(engine.clone());
            Ok(FheService::new(engine))
        }))
    });
    // Reading a job may wait for it (long polling): many may be in flight per worker.
    registration.concurrency(64);
    registration.expose(crate::http::HttpApi::new(super::routes::routes));
}
