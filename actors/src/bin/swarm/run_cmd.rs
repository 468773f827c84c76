//! `swarm run NAME --input …`: starts the swarm, runs one workflow or agent, prints its
//! progress (agent, turn, tool) as it goes and the answer at the end. With a `runs`
//! service in the config the run is logged there (its id is printed), and `--resume ID`
//! carries an interrupted run on from its last completed step.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use serde_json::Value;
use swarm_actors::agent::run_log::Target;
use swarm_actors::agent::runs::{RunsRequest, RunsResponse, RunsService, Status};
use swarm_actors::agent::workflow::StepEvent;
use swarm_actors::agent::{AgentClient, Event, WorkflowClient};
use swarm_actors::http::ServiceClient;
use swarm_runtime::{CallOptions, Swarm, SwarmConfig};
use tokio::sync::mpsc;

/// One line of progress for an event.
fn progress(agent: &str, event: &Event) -> Option<String> {
    Some(match event {
        Event::TurnStarted { turn } => format!("[{agent}] turn {turn}"),
        Event::ToolCallRequested { call, .. } => {
            format!("[{agent}] → {}({})", call.name, call.arguments)
        }
        Event::ToolCallCompleted { name, result, .. } => {
            let mut text = result.to_string();
            if text.len() > 160 {
                let mut end = 160;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                text.push('…');
            }
            format!("[{agent}] ← {name}: {text}")
        }
        Event::ToolCallFailed { name, error, .. } => format!("[{agent}] ✗ {name}: {error}"),
        Event::ReplyRefused { reason, .. } => format!("[{agent}] reply refused: {reason}"),
        Event::HandedOff { to } => format!("[{agent}] hands over to {to}"),
        Event::Answered { text } => format!("[{agent}] answered: {text}"),
        // Token chunks: the answer is printed whole (pieces would interleave with other
        // agents'); kinds added later are not shown.
        _ => return None,
    })
}

fn print_event(value: &Value) {
    let agent = value["agent"].as_str().unwrap_or("");
    match value["type"].as_str() {
        Some("step_completed") => eprintln!("step {} done", value["index"]),
        Some("run_completed" | "run_failed" | "run_cancelled") => {}
        _ => {
            if let Ok(step) = serde_json::from_value::<Event>(value.clone()) {
                if let Some(line) = progress(agent, &step) {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// Runs `name` (a workflow or agent of `config`) on `input`, or resumes run `resume`.
pub(crate) async fn run(
    config: SwarmConfig,
    name: Option<String>,
    input: Option<String>,
    resume: Option<String>,
) -> anyhow::Result<()> {
    let runs_service = config
        .services
        .iter()
        .find(|s| s.type_name == "runs")
        .map(|s| s.spec.name.clone());
    let swarm = Swarm::start(config)
        .await
        .context("the swarm failed to start")?;
    let outcome = match runs_service {
        Some(runs) => through_runs(&swarm, &runs, name, input, resume).await,
        None => direct(&swarm, name, input, resume).await,
    };
    swarm.shutdown().await;
    outcome
}

async fn direct(
    swarm: &Swarm,
    name: Option<String>,
    input: Option<String>,
    resume: Option<String>,
) -> anyhow::Result<()> {
    if resume.is_some() {
        bail!("--resume needs a `runs` service in the config (it keeps the run logs)");
    }
    let (Some(name), Some(input)) = (name, input) else {
        bail!("give a workflow or agent name and --input");
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<StepEvent>();
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if let Some(line) = progress(&e.agent, &e.event) {
                eprintln!("{line}");
            }
        }
    });
    let answer = if let Ok(workflow) = WorkflowClient::of(swarm, &name) {
        let report = workflow
            .run(&input, Some(tx), CallOptions::default())
            .await?;
        let _ = printer.await;
        report
            .answer
            .ok_or_else(|| anyhow::anyhow!(report.failure.unwrap_or_default()))?
    } else {
        let agent = AgentClient::of(swarm, &name)
            .with_context(|| format!("no workflow or agent named `{name}`"))?;
        let report = agent
            .run_events_tagged(&input, &name, tx, CallOptions::default())
            .await?;
        let _ = printer.await;
        report.answer.ok_or_else(|| {
            anyhow::anyhow!("the agent stopped without an answer: {:?}", report.stop)
        })?
    };
    println!("{answer}");
    std::io::stdout().flush()?;
    Ok(())
}

async fn through_runs(
    swarm: &Swarm,
    runs: &str,
    name: Option<String>,
    input: Option<String>,
    resume: Option<String>,
) -> anyhow::Result<()> {
    let client = swarm.client::<RunsService>(runs)?;
    let id = match (resume, name, input) {
        (Some(id), _, _) => id,
        (None, Some(name), Some(input)) => {
            let target = if WorkflowClient::of(swarm, &name).is_ok() {
                Target::Workflow(name)
            } else {
                Target::Agent(name)
            };
            match client.call(RunsRequest::Start { target, input }).await? {
                RunsResponse::View(v) => v.id,
                RunsResponse::Watch(..) => bail!("the runs service answered out of shape"),
            }
        }
        _ => bail!("give a workflow or agent name and --input, or --resume ID"),
    };
    eprintln!("run {id}");
    // The runs service reads its logs (resuming unfinished runs) before it answers.
    let (history, mut rx, status) = match client.call(RunsRequest::Watch(id.clone())).await? {
        RunsResponse::Watch(h, rx, s) => (h, rx, s),
        RunsResponse::View(_) => bail!("the runs service answered out of shape"),
    };
    let mut ended = status != Status::Running;
    for e in &history {
        print_event(e);
    }
    while !ended {
        match rx.recv().await {
            Ok(e) => {
                print_event(&e);
                ended = matches!(
                    e["type"].as_str(),
                    Some("run_completed" | "run_failed" | "run_cancelled")
                );
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
    let view = match client.call(RunsRequest::Get(id.clone())).await? {
        RunsResponse::View(v) => v,
        RunsResponse::Watch(..) => bail!("the runs service answered out of shape"),
    };
    match (view.status, view.result) {
        (Status::Completed, Some(result)) => {
            println!("{}", result["answer"].as_str().unwrap_or_default());
            Ok(())
        }
        (status, _) => bail!("run {id} is {status:?}: {}", view.error.unwrap_or_default()),
    }
}
