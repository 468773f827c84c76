//! Runs of workflows and agents that outlive the request that started them: service
//! type `runs` keeps each run's log under `data_dir` (see [`super::run_log`]), its
//! events for watchers (from the start, then live), and a handle to cancel it. When the
//! service starts, every run its logs show unfinished resumes from its last completed
//! step; finished runs stay readable.
//!
//! ```yaml
//! runs:
//!   type: runs
//!   params: { data_dir: data/runs, workflows: [verdict], agents: [solver] }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use swarm_runtime::config::Section;
use swarm_runtime::topology::Dependency;
use swarm_runtime::{CallOptions, Registry, RequestContext, Service, ServiceError};
use tokio::sync::{broadcast, mpsc};

use super::client::{AgentClient, WorkflowClient};
use super::run_log::{self, Record, Replayed, Target};
use super::service::AgentService;
use super::workflow::{StepEvent, WorkflowRequest, WorkflowService};
use crate::http::ServiceClient;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Running (or resuming).
    Running,
    /// Finished with a result.
    Completed,
    /// Ended without one.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// A run as `GET /v1/runs/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// Its id.
    pub id: String,
    /// What it runs.
    pub target: Target,
    /// Its task.
    pub input: String,
    /// Where it is.
    pub status: Status,
    /// Steps completed.
    pub steps: usize,
    /// The result, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

struct Live {
    view: RunView,
    history: Vec<Value>,
    events: broadcast::Sender<Value>,
    task: Option<tokio::task::AbortHandle>,
}

/// The runs of one `runs` service.
pub struct RunStore {
    dir: PathBuf,
    runs: Mutex<HashMap<String, Live>>,
    workflows: BTreeMap<String, Dependency<WorkflowService>>,
    agents: BTreeMap<String, Dependency<AgentService>>,
    /// Set once the logs have been read (unfinished runs resumed).
    loaded: tokio::sync::OnceCell<()>,
}

async fn log(path: PathBuf, record: Record) -> Result<(), String> {
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || run_log::append(&path, &record))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot write the run log {shown}: {e}"))
}

impl RunStore {
    fn live(&self, id: &str, f: impl FnOnce(&mut Live)) {
        if let Some(l) = self.runs.lock().get_mut(id) {
            f(l);
        }
    }

    fn publish(&self, id: &str, event: Value) {
        self.live(id, |l| {
            l.history.push(event.clone());
            let _ = l.events.send(event);
        });
    }

    fn insert(&self, id: &str, view: RunView) {
        let (events, _) = broadcast::channel(1024);
        self.runs.lock().insert(
            id.to_string(),
            Live {
                view,
                history: Vec::new(),
                events,
                task: None,
            },
        );
    }

    /// Starts a run of `target` on `input`.
    pub async fn start(
        self: &Arc<Self>,
        target: Target,
        input: String,
    ) -> Result<RunView, ServiceError> {
        let known = match &target {
            Target::Workflow(n) => self.workflows.contains_key(n),
            Target::Agent(n) => self.agents.contains_key(n),
        };
        if !known {
            return Err(ServiceError::NotFound(format!(
                "no {} `{}` in this runs service (workflows: [{}], agents: [{}])",
                if matches!(target, Target::Workflow(_)) {
                    "workflow"
                } else {
                    "agent"
                },
                target.name(),
                self.workflows
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                self.agents.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let id = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .to_string();
        let started = Record::Started {
            target: target.clone(),
            input: input.clone(),
        };
        log(run_log::path(&self.dir, &id), started)
            .await
            .map_err(ServiceError::Internal)?;
        let replayed = Replayed {
            target,
            input,
            steps: BTreeMap::new(),
            end: None,
        };
        Ok(self.execute(&id, replayed))
    }

    /// Runs (or resumes) `run` under `id`, in the background.
    fn execute(self: &Arc<Self>, id: &str, run: Replayed) -> RunView {
        let view = RunView {
            id: id.to_string(),
            target: run.target.clone(),
            input: run.input.clone(),
            status: Status::Running,
            steps: run.steps.len(),
            result: None,
            error: None,
        };
        self.insert(id, view.clone());
        let store = self.clone();
        let run_id = id.to_string();
        let task = tokio::spawn(async move {
            let outcome = store.drive(&run_id, run).await;
            store.finish(&run_id, outcome).await;
        });
        self.live(id, |l| l.task = Some(task.abort_handle()));
        view
    }

    async fn drive(self: &Arc<Self>, id: &str, run: Replayed) -> Result<Value, String> {
        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<StepEvent>();
        let (steps_tx, mut steps_rx) = mpsc::unbounded_channel();
        let store = self.clone();
        let run_id = id.to_string();
        let path = run_log::path(&self.dir, id);
        let forward = tokio::spawn(async move {
            loop {
                // Events first: a step's events are all sent before the step itself.
                tokio::select! {
                    biased;
                    Some(e) = events_rx.recv() => store.publish(&run_id, serde_json::to_value(&e).unwrap_or_default()),
                    Some((index, report)) = steps_rx.recv() => {
                        let record = Record::Step { index, report: Box::new(report) };
                        if let Err(e) = log(path.clone(), record).await {
                            tracing::warn!(run = %run_id, error = %e, "a step was not logged");
                        }
                        store.live(&run_id, |l| l.view.steps += 1);
                        store.publish(&run_id, json!({ "type": "step_completed", "index": index }));
                    }
                    else => break,
                }
            }
        });
        let options = CallOptions::default();
        let result = match &run.target {
            Target::Workflow(name) => {
                let dep = self.workflows.get(name).ok_or("unknown workflow")?;
                let client = WorkflowClient::from_client(dep.client().map_err(|e| e.to_string())?);
                let request = WorkflowRequest {
                    input: run.input.clone(),
                    events: Some(events_tx),
                    done: run.steps,
                    completed: Some(steps_tx),
                };
                client
                    .call(request, options)
                    .await
                    .map(|r| serde_json::to_value(&r).unwrap_or_default())
            }
            Target::Agent(name) => {
                let dep = self.agents.get(name).ok_or("unknown agent")?;
                let client = AgentClient::from_client(dep.client().map_err(|e| e.to_string())?);
                let report = client
                    .run_events_tagged(&run.input, name, events_tx, options)
                    .await;
                if let Ok(r) = &report {
                    let _ = steps_tx.send((0, r.clone()));
                }
                drop(steps_tx);
                report.map(|r| serde_json::to_value(&r).unwrap_or_default())
            }
        };
        // Every step and event is recorded before the end is.
        let _ = forward.await;
        result.map_err(|e| e.to_string())
    }

    async fn finish(&self, id: &str, outcome: Result<Value, String>) {
        let (record, event, status) = match outcome {
            Ok(result) => (
                Record::Finished {
                    result: result.clone(),
                },
                json!({ "type": "run_completed", "result": result }),
                Status::Completed,
            ),
            Err(error) => (
                Record::Failed {
                    error: error.clone(),
                },
                json!({ "type": "run_failed", "error": error }),
                Status::Failed,
            ),
        };
        if let Err(e) = log(run_log::path(&self.dir, id), record.clone()).await {
            tracing::warn!(run = %id, error = %e, "the run's end was not logged");
        }
        self.live(id, |l| {
            l.view.status = status;
            match record {
                Record::Finished { result } => l.view.result = Some(result),
                Record::Failed { error } => l.view.error = Some(error),
                _ => {}
            }
            l.task = None;
        });
        self.publish(id, event);
    }

    /// Run `id` as it is now.
    pub fn get(&self, id: &str) -> Option<RunView> {
        self.runs.lock().get(id).map(|l| l.view.clone())
    }

    /// Cancels run `id` (a finished run is left as it is).
    pub async fn cancel(&self, id: &str) -> Option<RunView> {
        let task = {
            let mut runs = self.runs.lock();
            let live = runs.get_mut(id)?;
            if live.view.status != Status::Running {
                return Some(live.view.clone());
            }
            live.view.status = Status::Cancelled;
            live.task.take()
        };
        if let Some(t) = task {
            t.abort();
        }
        if let Err(e) = log(run_log::path(&self.dir, id), Record::Cancelled).await {
            tracing::warn!(run = %id, error = %e, "the cancel was not logged");
        }
        self.publish(id, json!({ "type": "run_cancelled" }));
        self.get(id)
    }

    /// Run `id`'s events so far and a receiver of the rest.
    pub fn watch(&self, id: &str) -> Option<(Vec<Value>, broadcast::Receiver<Value>, Status)> {
        let runs = self.runs.lock();
        let l = runs.get(id)?;
        Some((l.history.clone(), l.events.subscribe(), l.view.status))
    }

    /// Reads the logs once (see [`RunStore::resume_all`]); later calls wait for that.
    pub async fn loaded(self: &Arc<Self>) {
        self.loaded.get_or_init(|| self.resume_all()).await;
    }

    /// Reads every log: unfinished runs resume, finished ones stay readable, a corrupt
    /// log is reported (its run failed) and kept as it is.
    async fn resume_all(self: &Arc<Self>) {
        let dir = self.dir.clone();
        let logs = tokio::task::spawn_blocking(move || -> Vec<(String, Result<String, String>)> {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return Vec::new();
            };
            entries
                .flatten()
                .filter_map(|e| {
                    let p = e.path();
                    let id = p.file_name()?.to_str()?.strip_suffix(".jsonl")?.to_string();
                    Some((id, std::fs::read_to_string(&p).map_err(|e| e.to_string())))
                })
                .collect()
        })
        .await
        .unwrap_or_default();
        for (id, text) in logs {
            let replayed = text.and_then(|t| run_log::replay(&t));
            match replayed {
                Ok(run) if run.end.is_none() => {
                    tracing::info!(run = %id, steps = run.steps.len(), "resuming an unfinished run from its log");
                    self.execute(&id, run);
                }
                Ok(run) => self.insert(&id, ended_view(&id, run)),
                Err(e) => {
                    let path = run_log::path(&self.dir, &id);
                    tracing::warn!(run = %id, error = %e, "a run log is corrupt; it is kept as it is");
                    self.insert(
                        &id,
                        RunView {
                            id: id.clone(),
                            target: Target::Workflow(String::new()),
                            input: String::new(),
                            status: Status::Failed,
                            steps: 0,
                            result: None,
                            error: Some(format!(
                                "the run log {} is corrupt ({e}); kept as it is",
                                path.display()
                            )),
                        },
                    );
                }
            }
        }
    }
}

fn ended_view(id: &str, run: Replayed) -> RunView {
    let (status, result, error) = match run.end {
        Some(Record::Finished { result }) => (Status::Completed, Some(result), None),
        Some(Record::Failed { error }) => (Status::Failed, None, Some(error)),
        _ => (Status::Cancelled, None, None),
    };
    RunView {
        id: id.to_string(),
        target: run.target,
        input: run.input,
        status,
        steps: run.steps.len(),
        result,
        error,
    }
}

/// A request to the runs service.
#[derive(Debug, Clone)]
pub enum RunsRequest {
    /// Start a run.
    Start {
        /// What to run.
        target: Target,
        /// The task.
        input: String,
    },
    /// A run as it is.
    Get(String),
    /// Cancel a run.
    Cancel(String),
    /// A run's events so far and the rest as they come.
    Watch(String),
}

/// The runs service's answers.
#[derive(Debug)]
pub enum RunsResponse {
    /// A run as it is.
    View(RunView),
    /// A run's events so far, a receiver of the rest, and whether it is still running.
    Watch(Vec<Value>, broadcast::Receiver<Value>, Status),
}

/// The runs service: one store shared by its workers.
#[derive(Clone)]
pub struct RunsService {
    store: Arc<RunStore>,
}

impl RunsService {
    /// The store (for watching a run's events).
    pub fn store(&self) -> &Arc<RunStore> {
        &self.store
    }
}

impl Service for RunsService {
    type Request = RunsRequest;
    type Response = RunsResponse;

    async fn handle(
        &mut self,
        request: RunsRequest,
        _ctx: &RequestContext,
    ) -> Result<RunsResponse, ServiceError> {
        let missing = |id: &str| ServiceError::NotFound(format!("no run `{id}`"));
        self.store.loaded().await;
        let view = match request {
            RunsRequest::Start { target, input } => self.store.start(target, input).await?,
            RunsRequest::Get(id) => self.store.get(&id).ok_or_else(|| missing(&id))?,
            RunsRequest::Cancel(id) => self.store.cancel(&id).await.ok_or_else(|| missing(&id))?,
            RunsRequest::Watch(id) => {
                let (history, rx, status) = self.store.watch(&id).ok_or_else(|| missing(&id))?;
                return Ok(RunsResponse::Watch(history, rx, status));
            }
        };
        Ok(RunsResponse::View(view))
    }

    fn concurrent_copy(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// Registers service type `runs` (see the module doc).
pub fn register(registry: &mut Registry) {
    let mut registration = registry.service::<RunsService, _>("runs", |params: &Section<'_>| {
        let dir: PathBuf = params.required("data_dir")?;
        let workflows: BTreeMap<_, _> = params
            .dependencies::<WorkflowService>("workflows")
            .into_iter()
            .collect();
        let agents: BTreeMap<_, _> = params
            .dependencies::<AgentService>("agents")
            .into_iter()
            .collect();
        if workflows.is_empty() && agents.is_empty() {
            params.error("workflows", "name at least one workflow or agent to run");
        }
        let store = Arc::new(RunStore {
            dir: dir.clone(),
            runs: Mutex::new(HashMap::new()),
            workflows,
            agents,
            loaded: tokio::sync::OnceCell::new(),
        });
        let resumed = Arc::new(std::sync::Once::new());
        Some(Arc::new(move || {
            std::fs::create_dir_all(&dir).map_err(|e| {
                ServiceError::Internal(format!("cannot make {}: {e}", dir.display()))
            })?;
            let store = store.clone();
            // The first worker made resumes the logs' unfinished runs, once.
            resumed.call_once(|| {
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    let s = store.clone();
                    handle.spawn(async move { s.loaded().await });
                }
            });
            Ok(RunsService { store })
        }))
    });
    registration.concurrency(64);
    registration.expose(crate::http::HttpApi::new(super::runs_routes::routes));
}
