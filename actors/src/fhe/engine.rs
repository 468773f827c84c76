//! The engine every `fhe` worker shares: the keys, a dedicated rayon pool with the server
//! key set on each of its threads (FHE work never runs on tokio threads) and the job
//! table. Admitting a job checks its ciphertexts; the computation runs on the pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use swarm_runtime::{ServiceError, SwarmError};
use tfhe::{CompactCiphertextList, FheTypes};

use super::core::auction::{self, AuctionRule};
use super::core::holder::KeyHolder;
use super::core::keys::{self, ServerKeys};
use super::core::params::PARAMS_VERSION;
use super::core::progress::Progress;
use super::core::{FheError, secure_sum, tally, wire};
use super::jobs::{JobView, Jobs, Outcome};
use axum::body::Bytes;

/// Keys, pool and jobs, shared by every worker.
pub struct Engine {
    pool: rayon::ThreadPool,
    holder: Option<Arc<KeyHolder>>,
    public: Bytes,
    jobs: Arc<Jobs>,
    job_timeout: Duration,
    /// Seconds per ciphertext operation, averaged over finished jobs (f64 bits).
    op_seconds: Arc<AtomicU64>,
}

/// Seconds per ciphertext operation assumed before a job has finished (one takes 0.1–3 s
/// on two cores).
const FIRST_OP_SECONDS: f64 = 0.5;

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
            jobs: Jobs::new(options.max_jobs, options.keep_jobs),
            job_timeout: options.job_timeout,
            op_seconds: Arc::new(AtomicU64::new(FIRST_OP_SECONDS.to_bits())),
        })
    }

    /// The compact public key's file.
    pub fn public_key(&self) -> Bytes {
        self.public.clone()
    }

    /// Seconds of FHE work queued or running here: what the scheduler adds to this pool's
    /// expected wait, so FHE counts as the long CPU work it is.
    pub fn background_seconds(&self) -> f64 {
        self.jobs.remaining_ops() as f64 * f64::from_bits(self.op_seconds.load(Ordering::Relaxed))
    }

    /// The job table.
    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.jobs
    }

    /// Checks `ballots` (framed lists of `options` values) and starts a tally job.
    pub fn tally(
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
        let lists = read_lists(ballots, options, FheTypes::Uint8, "ballot")?;
        let total = tally::operations(lists.len(), options);
        self.spawn_job("tally", total, timeout, move |holder, progress| {
            tally::run(&lists, options, holder, progress)
        })
    }

    /// Checks `bids` (framed lists of one value) and starts an auction job.
    pub fn auction(
        &self,
        rule: AuctionRule,
        bids: &[u8],
        timeout: Option<Duration>,
    ) -> Result<JobView, ServiceError> {
        let lists = read_lists(bids, 1, FheTypes::Uint16, "bid")?;
        if lists.len() > auction::MAX_BIDS {
            let why = format!("at most {} bids per auction", auction::MAX_BIDS);
            return Err(FheError::Invalid(why).into());
        }
        let total = auction::operations(lists.len(), rule);
        self.spawn_job("auction", total, timeout, move |holder, progress| {
            auction::run(&lists, rule, holder, progress)
        })
    }

    /// Checks `lists` (framed lists of `values` 32-bit signed values, one per client) and
    /// starts a secure sum job.
    pub fn sum(
        &self,
        values: usize,
        lists: &[u8],
        timeout: Option<Duration>,
    ) -> Result<JobView, ServiceError> {
        if !(1..=secure_sum::MAX_VALUES).contains(&values) {
            let why = format!("`values` must be between 1 and {}", secure_sum::MAX_VALUES);
            return Err(FheError::Invalid(why).into());
        }
        let lists = read_lists(lists, values, FheTypes::Int32, "list")?;
        if lists.len() < 2 {
            let why = "a secure sum needs at least two lists (a sum of one reveals it)";
            return Err(FheError::Invalid(why.into()).into());
        }
        let total = secure_sum::operations(lists.len(), values);
        self.spawn_job("sum", total, timeout, move |holder, progress| {
            secure_sum::run(&lists, values, holder, progress)
        })
    }

    /// Admits a job of `total` ciphertext operations and runs `work` on the FHE pool;
    /// its result becomes the job's. Needs the key holder (results are decrypted here).
    fn spawn_job<T: serde::Serialize>(
        &self,
        kind: &'static str,
        total: u64,
        timeout: Option<Duration>,
        work: impl FnOnce(&KeyHolder, &Progress) -> Result<T, FheError> + Send + 'static,
    ) -> Result<JobView, ServiceError> {
        let holder = self.holder.clone().ok_or_else(|| {
            ServiceError::Unavailable("this node holds no client key to decrypt results".into())
        })?;
        let timeout = timeout.unwrap_or(self.job_timeout).min(self.job_timeout);
        let progress = Progress::new(total, Some(Instant::now() + timeout));
        let job = self.jobs.admit(kind, progress).map_err(|full| {
            ServiceError::Upstream(SwarmError::Overloaded {
                service: format!("fhe ({} jobs queued or running)", full.0),
                retry_after: Duration::from_secs(10),
            })
        })?;
        let jobs = self.jobs.clone();
        let running = job.clone();
        let op_seconds = self.op_seconds.clone();
        self.pool.spawn(move || {
            running.start();
            let started = Instant::now();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                work(&holder, running.progress())
            }));
            let done = running.progress().done();
            if done > 0 {
                let per_op = started.elapsed().as_secs_f64() / done as f64;
                let _ = op_seconds.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    Some((f64::from_bits(bits) * 0.7 + per_op * 0.3).to_bits())
                });
            }
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

/// The framed lists of a body, each read and checked to hold `values` values of `kind`; errors
/// name the list (`what` and its index).
fn read_lists(
    body: &[u8],
    values: usize,
    kind: FheTypes,
    what: &str,
) -> Result<Vec<CompactCiphertextList>, FheError> {
    let lists = wire::unframe(body)?
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            wire::read_list_of(bytes, values, kind).map_err(|e| match e {
                FheError::Ciphertext(why) => FheError::Ciphertext(format!("{what} {i}: {why}")),
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if lists.is_empty() {
        return Err(FheError::Invalid(format!("no {what}s")));
    }
    Ok(lists)
}
