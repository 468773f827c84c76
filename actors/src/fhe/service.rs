//! The actor shell: every worker shares one [`Engine`]. Requests are quick (check the
//! ciphertexts and admit a job, read one, cancel one); the computation runs on the
//! engine's pool as a job.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use parking_lot::Mutex;
use swarm_runtime::config::{FromNode as _, Section};
use swarm_runtime::{Registry, RequestContext, Service, ServiceError};
use uuid::Uuid;

use super::core::auction::AuctionRule;
use super::core::linear::ModelCard;
use super::core::params::PARAMS_VERSION;
use super::core::{FheError, keys, lwe_score};
use super::engine::{Engine, EngineOptions};
use super::jobs::JobView;
use super::models::ScoringModels;

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
    /// A sealed-bid auction (a framed body of packed lists of one 16-bit bid each).
    Auction {
        /// What the winner pays.
        rule: AuctionRule,
        /// The bids, framed, in bidding order (ties go to the earliest).
        bids: Bytes,
        /// How long the job may run (at most the service's `job_timeout`).
        timeout: Option<Duration>,
    },
    /// A secure sum (a framed body of packed lists of `values` 32-bit signed values,
    /// one per client): only the per-coordinate sums are decrypted.
    Sum {
        /// Values per list.
        values: usize,
        /// The lists, framed.
        lists: Bytes,
        /// How long the job may run (at most the service's `job_timeout`).
        timeout: Option<Duration>,
    },
    /// The scoring models' cards.
    Models,
    /// Score an encrypted sample with a model (`sample` from
    /// [`super::core::lwe_score::ScoringKey::encrypt`]); the answer is encrypted too.
    Score {
        /// The model's name.
        model: String,
        /// The encrypted, quantised features.
        sample: Bytes,
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
    /// Scoring models by name.
    Models(std::collections::BTreeMap<String, ModelCard>),
    /// An encrypted accumulator only the sample's owner can decrypt.
    Score(Bytes),
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

/// The FHE service.
pub struct FheService {
    engine: Arc<Engine>,
    models: Arc<ScoringModels>,
}

impl FheService {
    /// A service over a shared engine and scoring models.
    pub fn new(engine: Arc<Engine>, models: Arc<ScoringModels>) -> Self {
        Self { engine, models }
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
                bytes: engine.public_key(),
            }),
            FheRequest::Tally {
                options,
                ballots,
                timeout,
            } => off_async(move || engine.tally(options, &ballots, timeout)).await,
            FheRequest::Auction {
                rule,
                bids,
                timeout,
            } => off_async(move || engine.auction(rule, &bids, timeout)).await,
            FheRequest::Sum {
                values,
                lists,
                timeout,
            } => off_async(move || engine.sum(values, &lists, timeout)).await,
            FheRequest::Models => Ok(FheResponse::Models(self.models.cards())),
            FheRequest::Score { model, sample } => {
                let m = self
                    .models
                    .get(&model)
                    .ok_or_else(|| ServiceError::NotFound(format!("no scoring model `{model}`")))?;
                // Microseconds of arithmetic, but CPU work all the same: off the async threads.
                let scored = tokio::task::spawn_blocking(move || {
                    lwe_score::score(&m.centred_weights(), m.q_bias, &sample)
                })
                .await
                .map_err(|e| ServiceError::Internal(format!("FHE task failed: {e}")))??;
                Ok(FheResponse::Score(Bytes::from(scored)))
            }
            FheRequest::Job { id, wait } => {
                let job = super::jobs::find(&id).ok_or_else(|| no_job(&id))?;
                let wait = wait.min(
                    ctx.deadline
                        .saturating_duration_since(tokio::time::Instant::now()),
                );
                Ok(FheResponse::Job(engine.jobs().wait(&job, wait).await))
            }
            FheRequest::Cancel { id } => {
                let job = super::jobs::find(&id).ok_or_else(|| no_job(&id))?;
                job.progress().cancel();
                Ok(FheResponse::Job(job.view()))
            }
        }
    }

    fn work_units(request: &FheRequest) -> f64 {
        match request {
            // Checking ballots is proportional to their bytes; the job itself runs apart.
            FheRequest::Tally { ballots: body, .. }
            | FheRequest::Auction { bids: body, .. }
            | FheRequest::Sum { lists: body, .. } => 1.0 + body.len() as f64 / 65_536.0,
            _ => 1.0,
        }
    }
}

/// Reading and checking ciphertext lists is CPU work: it runs off the async threads.
async fn off_async(
    admit: impl FnOnce() -> Result<JobView, ServiceError> + Send + 'static,
) -> Result<FheResponse, ServiceError> {
    tokio::task::spawn_blocking(admit)
        .await
        .map_err(|e| ServiceError::Internal(format!("FHE task failed: {e}")))?
        .map(FheResponse::Job)
}

fn no_job(id: &Uuid) -> ServiceError {
    ServiceError::NotFound(format!("no FHE job {id}"))
}

/// Registers service type `fhe` (params: `keys`, the key directory; `threads`;
/// `max_jobs`; `keep_jobs`; `job_timeout`; `models`, scoring model files by name) with
/// its routes. The keys load when the pool
/// starts; a missing key set is a config error naming `swarm fhe keygen`.
pub fn register(registry: &mut Registry) {
    let mut registration = registry.service::<FheService, _>("fhe", |params: &Section<'_>| {
        let dir: PathBuf = params.required("keys")?;
        if let Err(e) = keys::check(&dir) {
            params.error("keys", e);
            return None;
        }
        let section = params.section("models");
        let mut models = ScoringModels::default();
        for (key, node) in section.entries() {
            let loaded = PathBuf::from_node(node)
                .map_err(|e| e.to_string())
                .and_then(|file| {
                    models
                        .load(&key.name, &file)
                        .map_err(|e| format!("{}: {e}", file.display()))
                });
            if let Err(e) = loaded {
                section.error(&key.name, e);
            }
        }
        let models = Arc::new(models);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let options = EngineOptions {
            threads: params.or("threads", cores),
            max_jobs: params.or("max_jobs", 4),
            keep_jobs: params.or("keep_jobs", 256),
            job_timeout: params.or("job_timeout", Duration::from_secs(600)),
        };
        let shared: Arc<Mutex<Option<Arc<Engine>>>> = Arc::new(Mutex::new(None));
        let metrics = shared.clone();
        let load = shared.clone();
        params.load_probe(Arc::new(move || {
            load.try_lock()
                .and_then(|e| e.as_ref().map(|e| e.background_seconds()))
                .unwrap_or(0.0)
        }));
        params.metrics_source(Arc::new(move |service| {
            let active = metrics
                .try_lock()
                .and_then(|e| e.as_ref().map(|e| e.jobs().active()))
                .unwrap_or(0);
            super::metrics::families(service, active)
        }));
        Some(Arc::new(move || {
            let mut slot = shared.lock();
            if let Some(e) = slot.as_ref() {
                return Ok(FheService::new(e.clone(), models.clone()));
            }
            let engine = Arc::new(
                Engine::open(&dir, &options).map_err(|e| ServiceError::Internal(e.to_string()))?,
            );
            *slot = Some(engine.clone());
            Ok(FheService::new(engine, models.clone()))
        }))
    });
    // Reading a job may wait for it (long polling): many may be in flight per worker.
    registration.concurrency(64);
    registration.expose(crate::http::HttpApi::new(super::routes::routes));
    registration.remote();
}
