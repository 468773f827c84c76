//! The agents' typed client and their HTTP route, `POST /v1/agents/{name}/runs` with
//! `{"input": …}`: the run's report (answer, why it stopped, turns, tool calls, tokens
//! and every event) when it ends.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use swarm_runtime::{CallOptions, Client, SwarmError};
use tokio::sync::mpsc;

use super::react::{Event, RunReport};
use super::service::{AgentRequest, AgentService};
use super::workflow::{StepEvent, WorkflowReport, WorkflowRequest, WorkflowService};
use crate::http::{ApiError, Call, Limits, ServiceClient, ValidJson};

/// Runs tasks on one of a swarm's agents.
#[derive(Clone)]
pub struct AgentClient(Client<AgentService>);

impl ServiceClient for AgentClient {
    type Service = AgentService;

    fn from_client(client: Client<AgentService>) -> Self {
        Self(client)
    }
}

impl AgentClient {
    /// Runs `input` to its end.
    pub async fn run(&self, input: &str, options: CallOptions) -> Result<RunReport, SwarmError> {
        let request = AgentRequest {
            input: input.to_string(),
            events: None,
            handoffs: Vec::new(),
        };
        self.0.call_with(request, options).await
    }

    /// Sends a run request as it is.
    pub(crate) async fn call(
        &self,
        request: AgentRequest,
        options: CallOptions,
    ) -> Result<RunReport, SwarmError> {
        self.0.call_with(request, options).await
    }

    /// Runs `input`, sending each event to `events` tagged with `name`.
    pub async fn run_events_tagged(
        &self,
        input: &str,
        name: &str,
        events: mpsc::UnboundedSender<StepEvent>,
        options: CallOptions,
    ) -> Result<RunReport, SwarmError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let agent = name.to_string();
        let forward = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let _ = events.send(StepEvent {
                    agent: agent.clone(),
                    event,
                });
            }
        });
        let report = self.run_with_events(input, tx, options).await;
        let _ = forward.await;
        report
    }

    /// Runs `input`, sending each event to `events` as it happens.
    pub async fn run_with_events(
        &self,
        input: &str,
        events: mpsc::UnboundedSender<Event>,
        options: CallOptions,
    ) -> Result<RunReport, SwarmError> {
        let request = AgentRequest {
            input: input.to_string(),
            events: Some(events),
            handoffs: Vec::new(),
        };
        self.0.call_with(request, options).await
    }
}

/// The body of `POST /v1/agents/{name}/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The task.
    pub input: String,
}

/// `POST /v1/agents/{name}/runs` for agent `name`.
pub fn routes(client: AgentClient, name: &str, _limits: &Limits) -> Router {
    Router::new()
        .route(&format!("/v1/agents/{name}/runs"), post(run))
        .with_state(client)
}

async fn run(
    State(client): State<AgentClient>,
    Call(options): Call,
    ValidJson(body): ValidJson<RunBody>,
) -> Result<Json<RunReport>, ApiError> {
    if body.input.trim().is_empty() {
        return Err(ApiError::invalid("input: must not be empty"));
    }
    Ok(Json(client.run(&body.input, options).await?))
}

/// Runs tasks on one of a swarm's workflows.
#[derive(Clone)]
pub struct WorkflowClient(Client<WorkflowService>);

impl ServiceClient for WorkflowClient {
    type Service = WorkflowService;

    fn from_client(client: Client<WorkflowService>) -> Self {
        Self(client)
    }
}

impl WorkflowClient {
    /// Runs `input` through the workflow; `events` (when given) gets each agent's events
    /// as they happen.
    pub async fn run(
        &self,
        input: &str,
        events: Option<mpsc::UnboundedSender<StepEvent>>,
        options: CallOptions,
    ) -> Result<WorkflowReport, SwarmError> {
        let request = WorkflowRequest {
            input: input.to_string(),
            events,
            ..WorkflowRequest::default()
        };
        self.0.call_with(request, options).await
    }

    /// Sends a run request as it is (a resumed run carries its steps done).
    pub async fn call(
        &self,
        request: WorkflowRequest,
        options: CallOptions,
    ) -> Result<WorkflowReport, SwarmError> {
        self.0.call_with(request, options).await
    }
}

/// `POST /v1/workflows/{name}/runs` for workflow `name`: `{"input": …}` → its report.
pub fn workflow_routes(client: WorkflowClient, name: &str, _limits: &Limits) -> Router {
    Router::new()
        .route(&format!("/v1/workflows/{name}/runs"), post(run_workflow))
        .with_state(client)
}

async fn run_workflow(
    State(client): State<WorkflowClient>,
    Call(options): Call,
    ValidJson(body): ValidJson<RunBody>,
) -> Result<Json<WorkflowReport>, ApiError> {
    if body.input.trim().is_empty() {
        return Err(ApiError::invalid("input: must not be empty"));
    }
    Ok(Json(client.run(&body.input, None, options).await?))
}
