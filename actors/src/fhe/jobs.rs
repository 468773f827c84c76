//! FHE jobs: each long computation runs on the service's FHE thread pool as a job with an
//! id, its progress in ciphertext operations, and its outcome kept for later reads. A
//! bounded number may be queued or running at once (more is `overloaded`); finished jobs
//! are kept up to a count, oldest dropped first.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;
use uuid::Uuid;

use super::core::progress::Progress;

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Outcome {
    /// It finished: what its rule reveals.
    Done {
        /// The result.
        result: serde_json::Value,
    },
    /// It stopped: cancelled, past its deadline, or failed.
    Stopped {
        /// Why.
        reason: String,
    },
}

/// One job.
pub struct Job {
    id: Uuid,
    kind: &'static str,
    progress: Arc<Progress>,
    started: AtomicBool,
    outcome: watch::Sender<Option<Outcome>>,
}

/// A job as callers see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    /// Its id.
    pub id: Uuid,
    /// Its workload (`tally`, …).
    pub kind: &'static str,
    /// `queued`, `running`, `done` or `stopped`.
    pub state: &'static str,
    /// Ciphertext operations started, out of the total.
    pub progress: ProgressView,
    /// The result, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why it stopped, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Progress as callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProgressView {
    /// Operations started.
    pub done: u64,
    /// Operations in all.
    pub total: u64,
}

impl Job {
    /// The job's progress (its cancellation budget).
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// Marks the job as running.
    pub fn start(&self) {
        self.started.store(true, Ordering::Relaxed);
    }

    /// What the job looks like now.
    pub fn view(&self) -> JobView {
        let outcome = self.outcome.borrow().clone();
        let (state, result, reason) = match outcome {
            Some(Outcome::Done { result }) => ("done", Some(result), None),
            Some(Outcome::Stopped { reason }) => ("stopped", None, Some(reason)),
            None if self.started.load(Ordering::Relaxed) => ("running", None, None),
            None => ("queued", None, None),
        };
        JobView {
            id: self.id,
            kind: self.kind,
            state,
            progress: ProgressView {
                done: self.progress.done(),
                total: self.progress.total(),
            },
            result,
            reason,
        }
    }
}

/// Every job table in this process (one per FHE pool), so a job is found whichever pool
/// of its service a read or a cancel reaches.
static TABLES: Mutex<Vec<std::sync::Weak<Jobs>>> = Mutex::new(Vec::new());

/// Job `id` in any of this process's job tables.
pub fn find(id: &Uuid) -> Option<Arc<Job>> {
    let mut tables = TABLES.lock();
    tables.retain(|t| t.strong_count() > 0);
    tables
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .find_map(|t| t.get(id))
}

/// Every job of one FHE pool.
pub struct Jobs {
    jobs: DashMap<Uuid, Arc<Job>>,
    finished: Mutex<VecDeque<Uuid>>,
    active: AtomicUsize,
    max_active: usize,
    keep: usize,
}

/// A job slot was not available.
#[derive(Debug)]
pub struct Full(pub usize);

impl Jobs {
    /// A table admitting `max_active` queued or running jobs and keeping `keep` finished,
    /// listed for [`find`].
    pub fn new(max_active: usize, keep: usize) -> Arc<Self> {
        let table = Arc::new(Self {
            jobs: DashMap::new(),
            finished: Mutex::new(VecDeque::new()),
            active: AtomicUsize::new(0),
            max_active: max_active.max(1),
            keep,
        });
        TABLES.lock().push(Arc::downgrade(&table));
        table
    }

    /// Registers a job of `kind` with `progress`, or refuses when the table is full.
    pub fn admit(&self, kind: &'static str, progress: Progress) -> Result<Arc<Job>, Full> {
        let admitted = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_active).then_some(n + 1)
            });
        if admitted.is_err() {
            return Err(Full(self.max_active));
        }
        let job = Arc::new(Job {
            id: uuid::Builder::from_random_bytes(rand::random()).into_uuid(),
            kind,
            progress: Arc::new(progress),
            started: AtomicBool::new(false),
            outcome: watch::channel(None).0,
        });
        self.jobs.insert(job.id, job.clone());
        Ok(job)
    }

    /// Records a job's outcome (once) and wakes whoever waits for it.
    pub fn finish(&self, job: &Job, outcome: Outcome) {
        let first = job.outcome.send_if_modified(|slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(outcome);
            // Freed before anyone waiting is woken: a reader who sees the job ended finds
            // its slot free.
            self.active.fetch_sub(1, Ordering::AcqRel);
            true
        });
        if !first {
            return;
        }
        let mut finished = self.finished.lock();
        finished.push_back(job.id);
        while finished.len() > self.keep {
            if let Some(old) = finished.pop_front() {
                self.jobs.remove(&old);
            }
        }
    }

    /// A job by id.
    pub fn get(&self, id: &Uuid) -> Option<Arc<Job>> {
        self.jobs.get(id).map(|j| j.clone())
    }

    /// The job's view once it has finished or `wait` has passed, whichever comes first.
    pub async fn wait(&self, job: &Job, wait: Duration) -> JobView {
        let mut rx = job.outcome.subscribe();
        // Bounded: at most `wait`, then the view as it is.
        let _ = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        job.view()
    }

    /// Ciphertext operations that jobs queued or running have still to do (a walk over
    /// the job table: a few hundred entries at most).
    pub fn remaining_ops(&self) -> u64 {
        self.jobs
            .iter()
            .filter(|j| j.outcome.borrow().is_none())
            .map(|j| j.progress.total().saturating_sub(j.progress.done()))
            .sum()
    }

    /// Jobs queued or running now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }
}
