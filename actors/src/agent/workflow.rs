//! Workflows: who does what, as service type `workflow` (so the runtime checks every
//! agent it names, at its line, and supervises it like any service).
//!
//! - `sequential`: each agent gets the task and the previous agent's answer.
//! - `parallel`: every agent answers the task at once — after `plan` (an agent), when
//!   given, whose plan each of them gets; `merge` (an agent) writes the answer from
//!   theirs (without it, the answers are listed).
//! - `router`: `model` picks the one agent to answer (a choice constrained to the agents'
//!   names), which then does.
//! - `handoff`: the first agent takes the task; each agent may hand the conversation to
//!   another (a `transfer_to_{name}` tool each, OpenAI-Agents style), who carries on
//!   with the task and what was done so far; the one that answers ends it (at most
//!   `max_handoffs`, default twice the agents).
//! - `vote`: every agent answers at once; the answer given by more than half is proposed
//!   to the `consensus` voters under the `majority` rule, so each voter recounts the
//!   votes itself, and the signed certificate is in the result — a decision anyone can
//!   verify offline with the voters' public keys.
//!
//! ```yaml
//! verdict:
//!   type: workflow
//!   params: { kind: vote, agents: [judge_a, judge_b, judge_c], consensus: consensus }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use serde::Serialize;
use serde_json::{Value, json};
use swarm_runtime::config::Section;
use swarm_runtime::topology::Dependency;
use swarm_runtime::{CallOptions, Registry, RequestContext, Service, ServiceError};
use tokio::sync::mpsc;

use super::client::AgentClient;
use super::react::{Event, RunReport, StopReason};
use super::service::{AgentRequest, AgentService};
use crate::consensus::core::Rule;
use crate::consensus::core::vote_key;
use crate::consensus::{ConsensusClient, ConsensusService, Decision};
use crate::http::ServiceClient;
use crate::llm::{ChatMessage, LlmClient, LlmService, ResponseFormat, Sampling};

/// A workflow's shape.
#[derive(Clone)]
enum Kind {
    Sequential,
    Parallel {
        plan: Option<(String, Dependency<AgentService>)>,
        merge: Option<(String, Dependency<AgentService>)>,
    },
    Router(Dependency<LlmService>),
    Vote(Dependency<ConsensusService>),
    Handoff(usize),
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Self::Sequential => "sequential",
            Self::Parallel { .. } => "parallel",
            Self::Router(_) => "router",
            Self::Vote(_) => "vote",
            Self::Handoff(_) => "handoff",
        }
    }
}

/// An event of one of the workflow's agents.
#[derive(Debug, Clone, Serialize)]
pub struct StepEvent {
    /// The agent.
    pub agent: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// A workflow run to do.
#[derive(Debug, Clone, Default)]
pub struct WorkflowRequest {
    /// The task.
    pub input: String,
    /// Where the agents' events go as they happen.
    pub events: Option<mpsc::UnboundedSender<StepEvent>>,
    /// Steps already done (a resumed run): by step number, their reports, used as they are.
    pub done: BTreeMap<usize, RunReport>,
    /// Where each step goes when it completes (step number, report), to be logged.
    pub completed: Option<mpsc::UnboundedSender<(usize, RunReport)>>,
}

/// Runs a workflow's steps, each once: a step done before (a resumed run) is taken as
/// it is. Step numbers: an agent's place in `agents`; `parallel`'s merge is the one after.
struct Steps<'a> {
    request: &'a WorkflowRequest,
    ctx: &'a RequestContext,
}

impl Steps<'_> {
    async fn run(
        &self,
        index: usize,
        agent: &Agent,
        input: String,
    ) -> Result<RunReport, ServiceError> {
        self.run_handing(index, agent, input, Vec::new()).await
    }

    async fn run_handing(
        &self,
        index: usize,
        agent: &Agent,
        input: String,
        handoffs: Vec<String>,
    ) -> Result<RunReport, ServiceError> {
        if let Some(done) = self.request.done.get(&index) {
            return Ok(done.clone());
        }
        let report = step(agent, input, handoffs, &self.request.events, self.ctx).await?;
        if let Some(tx) = &self.request.completed {
            let _ = tx.send((index, report.clone()));
        }
        Ok(report)
    }

    async fn all(&self, agents: &[Agent], task: &str) -> Result<Vec<RunReport>, ServiceError> {
        join_all(
            agents
                .iter()
                .enumerate()
                .map(|(i, a)| self.run(i, a, task.to_string())),
        )
        .await
        .into_iter()
        .collect()
    }
}

/// How a workflow run went.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowReport {
    /// `sequential`, `parallel`, `router` or `vote`.
    pub kind: &'static str,
    /// The answer, when there is one.
    pub answer: Option<String>,
    /// Each agent's run, in the order they were started.
    pub steps: Vec<RunReport>,
    /// The agent the router picked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routed_to: Option<String>,
    /// The voters' decision on the majority answer, with its certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Why there is no answer, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// A workflow over some of the swarm's agents.
#[derive(Clone)]
pub struct WorkflowService {
    kind: Kind,
    agents: Arc<Vec<(String, Dependency<AgentService>)>>,
}

type Agent = (String, AgentClient);

impl WorkflowService {
    fn agents(&self) -> Result<Vec<Agent>, ServiceError> {
        self.agents
            .iter()
            .map(|(n, d)| Ok((n.clone(), AgentClient::from_client(d.client()?))))
            .collect()
    }
}

fn options(ctx: &RequestContext) -> CallOptions {
    CallOptions {
        timeout: Some(
            ctx.deadline
                .saturating_duration_since(tokio::time::Instant::now()),
        ),
        traceparent: swarm_runtime::telemetry::traceparent_of(&tracing::Span::current()),
        ..CallOptions::default()
    }
}

/// Runs one agent (which may hand over to `handoffs`), forwarding its events tagged
/// with its name.
async fn step(
    agent: &Agent,
    input: String,
    handoffs: Vec<String>,
    events: &Option<mpsc::UnboundedSender<StepEvent>>,
    ctx: &RequestContext,
) -> Result<RunReport, ServiceError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let forward = events.clone().map(|out| {
        let name = agent.0.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let _ = out.send(StepEvent {
                    agent: name.clone(),
                    event,
                });
            }
        })
    });
    let request = AgentRequest {
        input,
        events: forward.is_some().then_some(tx),
        handoffs,
    };
    let report = agent
        .1
        .call(request, options(ctx))
        .await
        .map_err(ServiceError::from);
    if let Some(f) = forward {
        let _ = f.await;
    }
    report
}

fn answered(r: &RunReport) -> Option<&str> {
    (r.stop == StopReason::Answered)
        .then_some(r.answer.as_deref())
        .flatten()
}

impl Service for WorkflowService {
    type Request = WorkflowRequest;
    type Response = WorkflowReport;

    async fn handle(
        &mut self,
        request: WorkflowRequest,
        ctx: &RequestContext,
    ) -> Result<WorkflowReport, ServiceError> {
        let agents = self.agents()?;
        let steps = Steps {
            request: &request,
            ctx,
        };
        let task = request.input.clone();
        let mut report = WorkflowReport {
            kind: self.kind.name(),
            answer: None,
            steps: Vec::new(),
            routed_to: None,
            decision: None,
            failure: None,
        };
        match &self.kind {
            Kind::Sequential => {
                let mut previous: Option<(String, String)> = None;
                for (i, agent) in agents.iter().enumerate() {
                    let input = match &previous {
                        None => task.clone(),
                        Some((who, said)) => format!("{task}\n\n{who} answered:\n{said}"),
                    };
                    let run = steps.run(i, agent, input).await?;
                    let said = answered(&run).map(str::to_string);
                    report.steps.push(run);
                    match said {
                        Some(s) => previous = Some((agent.0.clone(), s)),
                        None => {
                            report.failure = Some(format!("`{}` gave no answer", agent.0));
                            return Ok(report);
                        }
                    }
                }
                report.answer = previous.map(|(_, s)| s);
            }
            Kind::Parallel { plan, merge } => {
                let mut planned = None;
                if let Some((name, plan)) = plan {
                    let planner = (name.clone(), AgentClient::from_client(plan.client()?));
                    let run = steps.run(agents.len() + 1, &planner, task.clone()).await?;
                    planned = answered(&run).map(|p| format!("{task}\n\nThe plan:\n{p}"));
                    report.steps.push(run);
                    if planned.is_none() {
                        report.failure = Some(format!("`{name}` gave no plan"));
                        return Ok(report);
                    }
                }
                let brief = planned.unwrap_or_else(|| task.clone());
                let runs = steps.all(&agents, &brief).await?;
                let listed = runs
                    .iter()
                    .zip(&agents)
                    .map(|(r, a)| format!("{}: {}", a.0, answered(r).unwrap_or("(no answer)")))
                    .collect::<Vec<_>>()
                    .join("\n");
                report.steps.extend(runs);
                report.answer = Some(listed.clone());
                if let Some((name, merge)) = merge {
                    let merger = (name.clone(), AgentClient::from_client(merge.client()?));
                    let input = format!("{task}\n\nThe answers so far:\n{listed}");
                    let run = steps.run(agents.len(), &merger, input).await?;
                    report.answer = answered(&run).map(str::to_string);
                    report.steps.push(run);
                }
            }
            Kind::Router(model) => {
                let picked = match request.done.get(&0) {
                    Some(done) => done.role.clone(),
                    None => route(model, &agents, &task, ctx).await?,
                };
                let agent = agents
                    .iter()
                    .find(|a| a.0 == picked)
                    .ok_or_else(|| ServiceError::Internal(format!("router picked `{picked}`")))?;
                let run = steps.run(0, agent, task.clone()).await?;
                report.answer = answered(&run).map(str::to_string);
                report.routed_to = Some(picked);
                report.steps.push(run);
            }
            Kind::Handoff(max) => {
                let mut current = 0usize;
                let mut input = task.clone();
                for hop in 0..=*max {
                    let agent = &agents[current];
                    let others: Vec<String> = agents
                        .iter()
                        .filter(|a| a.0 != agent.0)
                        .map(|a| a.0.clone())
                        .collect();
                    let handoffs = if hop < *max { others } else { Vec::new() };
                    let run = steps
                        .run_handing(hop, agent, input.clone(), handoffs)
                        .await?;
                    let next = run.handoff_to.clone();
                    let done = answered(&run).map(str::to_string);
                    input = format!("{input}\n\n{}", handed_over(&run));
                    report.steps.push(run);
                    match next.and_then(|n| agents.iter().position(|a| a.0 == n)) {
                        Some(i) => current = i,
                        None => {
                            report.answer = done;
                            break;
                        }
                    }
                }
            }
            Kind::Vote(consensus) => {
                let runs = steps.all(&agents, &task).await?;
                let answers: BTreeMap<String, String> = runs
                    .iter()
                    .zip(&agents)
                    .filter_map(|(r, a)| answered(r).map(|s| (a.0.clone(), s.to_string())))
                    .collect();
                report.steps = runs;
                let Some(majority) = majority(&answers, agents.len()) else {
                    report.failure = Some("no answer was given by more than half".into());
                    return Ok(report);
                };
                let client = ConsensusClient::from_client(consensus.client()?);
                let payload = json!({ "task": task, "answers": answers, "majority": majority });
                let rule = Rule::Majority {
                    answers: "answers".into(),
                    claim: "majority".into(),
                };
                let decision = client.propose(payload, rule, None, options(ctx)).await?;
                report.answer = Some(majority);
                report.decision = Some(decision);
            }
        }
        if report.answer.is_none() && report.failure.is_none() {
            report.failure = Some("the last agent gave no answer".into());
        }
        Ok(report)
    }

    fn concurrent_copy(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// What an agent that hands over did, for the next one: its tool calls and results.
fn handed_over(run: &RunReport) -> String {
    let mut lines = vec![format!("{} worked on it:", run.role)];
    for e in &run.events {
        match e {
            Event::ToolCallRequested { call, .. } => {
                lines.push(format!("- called {}({})", call.name, call.arguments));
            }
            Event::ToolCallCompleted { name, result, .. } => {
                lines.push(format!("- {name} answered {result}"));
            }
            Event::ToolCallFailed { name, error, .. } => {
                lines.push(format!("- {name} failed: {error}"));
            }
            Event::HandedOff { to } => lines.push(format!("- handed the conversation to {to}")),
            _ => {}
        }
    }
    lines.join("\n")
}

/// The answer (as first written) given by more than half of `of` agents.
fn majority(answers: &BTreeMap<String, String>, of: usize) -> Option<String> {
    let mut counts: BTreeMap<String, (usize, &String)> = BTreeMap::new();
    for answer in answers.values() {
        counts.entry(vote_key(answer)).or_insert((0, answer)).0 += 1;
    }
    counts
        .into_values()
        .find(|(n, _)| n * 2 > of)
        .map(|(_, a)| a.clone())
}

/// The agent `model` picks for `task`: a reply constrained to one of the agents' names.
async fn route(
    model: &Dependency<LlmService>,
    agents: &[Agent],
    task: &str,
    ctx: &RequestContext,
) -> Result<String, ServiceError> {
    let names: Vec<&str> = agents.iter().map(|a| a.0.as_str()).collect();
    let schema = json!({ "type": "object", "properties": { "agent": { "enum": names } },
        "required": ["agent"], "additionalProperties": false });
    let messages = vec![
        ChatMessage {
            role: "system".into(),
            content: format!(
                "Pick the agent best suited to the task, from: {}. Reply with JSON: {{\"agent\": \"<name>\"}}.",
                names.join(", ")
            ),
        },
        ChatMessage {
            role: "user".into(),
            content: task.to_string(),
        },
    ];
    let sampling = Sampling {
        temperature: 0.0,
        max_tokens: Some(32),
        response_format: ResponseFormat::JsonSchema(schema),
        ..Sampling::default()
    };
    let client = LlmClient::from_client(model.client()?);
    let g = client.chat(messages, sampling, options(ctx)).await?;
    let picked: Value = serde_json::from_str(&g.text)
        .map_err(|e| ServiceError::Internal(format!("the router's reply: {e}")))?;
    picked["agent"]
        .as_str()
        .filter(|n| names.contains(n))
        .map(str::to_string)
        .ok_or_else(|| ServiceError::Internal(format!("the router picked no agent: {}", g.text)))
}

/// Registers service type `workflow` (see the module doc).
pub fn register(registry: &mut Registry) {
    let mut registration =
        registry.service::<WorkflowService, _>("workflow", |params: &Section<'_>| {
            let kind: String = params.required("kind")?;
            let agents = params.dependencies::<AgentService>("agents");
            if agents.is_empty() {
                params.error("agents", "at least one agent is needed");
            }
            let kind = match kind.as_str() {
                "sequential" => Kind::Sequential,
                "parallel" => {
                    let agent_at = |key: &str| {
                        params
                            .node(key)
                            .and_then(|_| params.value::<String>(key))
                            .zip(params.dependency::<AgentService>(key))
                    };
                    Kind::Parallel {
                        plan: agent_at("plan"),
                        merge: agent_at("merge"),
                    }
                }
                "router" => {
                    Kind::Router(params.dependency::<LlmService>("model").or_else(|| {
                        params.error("model", "required: the llm service that routes");
                        None
                    })?)
                }
                "handoff" => {
                    if agents.len() < 2 {
                        params.error("agents", "a handoff needs at least two agents");
                    }
                    Kind::Handoff(params.or("max_handoffs", agents.len() * 2))
                }
                "vote" => {
                    if agents.len() < 2 {
                        params.error("agents", "a vote needs at least two agents");
                    }
                    Kind::Vote(params.dependency::<ConsensusService>("consensus").or_else(
                        || {
                            params.error("consensus", "required: the voters that certify");
                            None
                        },
                    )?)
                }
                other => {
                    params.error(
                        "kind",
                        format!(
                            "unknown kind `{other}` (sequential, parallel, router, handoff or vote)"
                        ),
                    );
                    return None;
                }
            };
            let service = WorkflowService {
                kind,
                agents: Arc::new(agents),
            };
            Some(Arc::new(move || Ok(service.clone())))
        });
    registration.concurrency(16);
    registration.expose_named(crate::http::HttpApi::named(super::client::workflow_routes));
}
