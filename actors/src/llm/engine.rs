//! An engine: one OS thread owns a llama.cpp context (contexts are not `Sync`, and decoding
//! on several contexts of one model at once has crashed other projects) and runs every
//! decode step. Continuous batching: each step holds one token of every generating
//! sequence plus prefill chunks of newly admitted ones, within `max_batch_tokens`; a
//! sequence leaves on its end, its deadline or its caller going away, and its KV cells are
//! freed at once; newcomers join at the next step. Each sequence has its own KV stream
//! (llama.cpp's non-unified cache): its attention sees only its own cells, laid out as
//! they would be alone, so batched greedy decoding gives exactly the text decoded alone
//! (a unified cache interleaves sequences' cells and changed 3 of 8 test answers). With
//! per-sequence streams llama.cpp puts one run of consecutive sequence ids in a
//! micro-batch, so ids are handed out lowest first and tokens enter a step in id order
//! (unsorted, a step split into many micro-batches: 81 against 128 tok/s at 16 streams). If the
//! thread dies (a panic in
//! llama.cpp's glue), its callers' event channels close — they get an error, not a hang —
//! and the next job starts a fresh thread.

use std::num::NonZeroU32;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;

use super::LlmError;
use super::job::{FinishReason, Job};
use super::model::{Model, backend};
use super::sequence::Sequence;
use super::stats::EngineStats;

/// An engine's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Sequences generating at once (each with its own KV cells).
    pub max_sequences: u32,
    /// KV cells per sequence: prompt plus generated tokens.
    pub context: u32,
    /// Tokens in one decode step (decode tokens first, then prefill chunks).
    pub max_batch_tokens: u32,
    /// CPU threads llama.cpp uses.
    pub threads: u32,
}

/// A running engine thread: where its jobs go, and whether it is still stepping.
struct Thread {
    jobs: Sender<Job>,
    alive: Arc<AtomicBool>,
}

/// Marks its thread dead when dropped: declared after the thread's sequences, it drops
/// first when the thread unwinds, before their callers see their channels close.
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Relaxed);
    }
}

/// Contexts are created one at a time in the process (creation mutates the model).
static CREATING: Mutex<()> = Mutex::new(());

/// A handle to an engine thread, restarting it when it has died.
pub struct Engine {
    model: Arc<Model>,
    config: EngineConfig,
    stats: Arc<EngineStats>,
    jobs: Mutex<Thread>,
    /// Threads started after the first (the engine died and was restarted).
    pub restarts: std::sync::atomic::AtomicU64,
}

impl Engine {
    /// Starts an engine thread for `model`; returns once its context exists.
    pub fn start(model: Arc<Model>, config: EngineConfig) -> Result<Self, LlmError> {
        let stats = Arc::new(EngineStats::default());
        let jobs = spawn(model.clone(), config, stats.clone())?;
        Ok(Self {
            model,
            config,
            stats,
            jobs: Mutex::new(jobs),
            restarts: Default::default(),
        })
    }

    /// The engine's figures.
    pub fn stats(&self) -> &Arc<EngineStats> {
        &self.stats
    }

    /// Its shape.
    pub fn config(&self) -> EngineConfig {
        self.config
    }

    /// The model it runs.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Hands `job` to the engine thread (starting a new one if the last has died).
    pub fn submit(&self, job: Job) -> Result<(), LlmError> {
        let mut thread = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let job = if thread.alive.load(Relaxed) {
            match thread.jobs.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(job)) => job,
            }
        } else {
            job
        };
        tracing::warn!(model = %self.model.name, "llm engine thread had stopped; starting a new one");
        *thread = spawn(self.model.clone(), self.config, self.stats.clone())?;
        self.restarts.fetch_add(1, Relaxed);
        thread
            .jobs
            .send(job)
            .map_err(|_| LlmError::Engine("the engine thread stopped at start".into()))
    }
}

/// Adds the time since it was made to a counter when dropped (at the end of each pass
/// of the engine loop, however the pass ends).
struct Busy<'a>(&'a std::sync::atomic::AtomicU64, Instant);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let micros = u64::try_from(self.1.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.0.fetch_add(micros, Relaxed);
    }
}

fn spawn(
    model: Arc<Model>,
    config: EngineConfig,
    stats: Arc<EngineStats>,
) -> Result<Thread, LlmError> {
    let (jobs, rx) = mpsc::channel();
    let (ready_tx, ready) = mpsc::sync_channel(1);
    let alive = Arc::new(AtomicBool::new(true));
    let flag = alive.clone();
    std::thread::Builder::new()
        .name("llm-engine".into())
        .spawn(move || run(&model, config, &stats, &rx, &ready_tx, flag))
        .map_err(|e| LlmError::Engine(format!("cannot start the engine thread: {e}")))?;
    ready
        .recv()
        .map_err(|_| LlmError::Engine("the engine thread stopped while starting".into()))??;
    Ok(Thread { jobs, alive })
}

fn context_params(config: EngineConfig) -> LlamaContextParams {
    let threads = i32::try_from(config.threads.max(1)).unwrap_or(1);
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(config.max_sequences * config.context))
        .with_n_batch(config.max_batch_tokens)
        .with_n_ubatch(config.max_batch_tokens)
        .with_n_seq_max(config.max_sequences)
        .with_kv_unified(false)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
}

/// The engine thread: creates the context, reports ready, then steps until every job
/// sender is gone and nothing is left to generate.
fn run(
    model: &Model,
    config: EngineConfig,
    stats: &EngineStats,
    jobs: &Receiver<Job>,
    ready: &mpsc::SyncSender<Result<(), LlmError>>,
    alive: Arc<AtomicBool>,
) {
    let created = {
        let _one_at_a_time = CREATING.lock().unwrap_or_else(|p| p.into_inner());
        backend().and_then(|b| {
            model
                .llama
                .new_context(b, context_params(config))
                .map_err(|e| LlmError::Engine(format!("cannot create a context: {e}")))
        })
    };
    let mut ctx = match created {
        Ok(ctx) => {
            let _ = ready.send(Ok(()));
            ctx
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    stats.kv_capacity.store(u64::from(ctx.n_ctx()), Relaxed);
    let width = config.max_batch_tokens as usize;
    let mut batch = LlamaBatch::new(width, i32::try_from(config.max_sequences).unwrap_or(1));
    // Lowest ids first (a min-heap): llama.cpp batches one run of consecutive sequence ids
    // per micro-batch, so compact ids keep a step in one micro-batch.
    let mut free: std::collections::BinaryHeap<std::cmp::Reverse<i32>> = (0..config.max_sequences
        as i32)
        .map(std::cmp::Reverse)
        .collect();
    let mut waiting = std::collections::VecDeque::<Job>::new();
    let mut running: Vec<Sequence> = Vec::new();
    let _alive = Alive(alive);
    let mut open = true;
    loop {
        if running.is_empty() && waiting.is_empty() {
            if !open {
                return;
            }
            match jobs.recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => return,
            }
        }
        let _busy = Busy(&stats.busy_micros, Instant::now());
        loop {
            match jobs.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        while let Some(&std::cmp::Reverse(id)) = free.peek() {
            let Some(job) = waiting.pop_front() else {
                break;
            };
            if let Some(seq) = Sequence::admit(id, job, model) {
                free.pop();
                running.push(seq);
            }
        }

        // Sequences whose caller left or whose deadline passed end before the step.
        let now = Instant::now();
        let mut i = 0;
        while i < running.len() {
            let gone = running[i].is_abandoned();
            if gone || running[i].is_expired(now) {
                let seq = running.swap_remove(i);
                let _ = ctx.clear_kv_cache_seq(u32::try_from(seq.id).ok(), None, None);
                free.push(std::cmp::Reverse(seq.id));
                if !gone {
                    seq.finish(FinishReason::Deadline);
                }
            } else {
                i += 1;
            }
        }
        stats.running.store(running.len() as u64, Relaxed);
        stats.waiting.store(waiting.len() as u64, Relaxed);
        if running.is_empty() {
            continue;
        }
        // Tokens go in in sequence-id order (see `free`).
        running.sort_by_key(|s| s.id);
        batch.clear();
        for seq in &mut running {
            seq.add_decode(&mut batch);
        }
        for seq in &mut running {
            let room = width.saturating_sub(batch.n_tokens() as usize);
            seq.add_prefill(&mut batch, room);
        }
        if batch.n_tokens() == 0 {
            continue;
        }
        stats.steps.fetch_add(1, Relaxed);
        stats
            .batch_tokens
            .fetch_add(batch.n_tokens() as u64, Relaxed);
        if let Err(e) = ctx.decode(&mut batch) {
            // Not expected (every sequence's cells are reserved): fail what was in it.
            tracing::error!(error = %e, "llm decode step failed");
            for seq in running.drain(..) {
                let _ = ctx.clear_kv_cache_seq(u32::try_from(seq.id).ok(), None, None);
                free.push(std::cmp::Reverse(seq.id));
                seq.fail(format!("the decode step failed: {e}"));
            }
            continue;
        }
        let mut i = 0;
        while i < running.len() {
            match running[i].sample(&ctx, model, stats) {
                Some(reason) => {
                    let seq = running.swap_remove(i);
                    let _ = ctx.clear_kv_cache_seq(u32::try_from(seq.id).ok(), None, None);
                    free.push(std::cmp::Reverse(seq.id));
                    seq.finish(reason);
                }
                None => i += 1,
            }
        }
        stats
            .kv_cells
            .store(running.iter().map(|s| s.cells() as u64).sum(), Relaxed);
        stats.running.store(running.len() as u64, Relaxed);
    }
}
