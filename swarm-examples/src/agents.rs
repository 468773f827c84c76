//! The example agent swarms of `config/agents/`: each starts the swarm its YAML
//! describes, loads what its agents look things up in (precedents, documents) into the
//! vector service, and runs its workflow, printing each agent's progress.

use std::path::Path;

use swarm_actors::agent::workflow::{StepEvent, WorkflowReport};
use swarm_actors::agent::{Event, WorkflowClient};
use swarm_actors::http::ServiceClient;
use swarm_actors::vector::VectorClient;
use swarm_actors::vector::core::PointId;
use swarm_actors::vector::core::config::{CollectionConfig, HnswParams};
use swarm_actors::vector::core::distance::Metric;
use swarm_actors::vector::messages::{PointInput, VectorInput};
use swarm_runtime::{CallOptions, Swarm, SwarmConfig, SwarmError};
use tokio::sync::mpsc;

/// Past cases the negotiators recall.
pub const PRECEDENTS: [&str; 4] = [
    "2019, late delivery: the seller delivered 30 days late; the buyer was refunded 20% of the price.",
    "2021, defective goods: a tenth of the units failed inspection; the seller replaced them at its own cost.",
    "2022, price dispute: the price rose after signing; the parties split the difference.",
    "2023, cancelled order: the buyer cancelled after production began and paid the seller's costs.",
];

/// The documents the researchers search.
pub const DOCUMENTS: [&str; 5] = [
    "Heat pumps move heat instead of making it, delivering three to four units of heat per unit of electricity.",
    "In very cold weather an air-source heat pump's efficiency falls, and a backup heater may be needed.",
    "Installing a heat pump costs more up front than a gas boiler, but running costs are often lower.",
    "Grid electricity that comes from renewables makes a heat pump's emissions lower still.",
    "Noise from outdoor units and the space they need are common objections from neighbours.",
];

/// Starts the swarm of the YAML at `path` (`env` fills `${VAR}`s, such as `SWARM_MODELS`).
pub async fn start(
    path: &Path,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Swarm, Box<dyn std::error::Error + Send + Sync>> {
    let text = std::fs::read_to_string(path)?;
    let config = SwarmConfig::from_yaml_with_env(
        &text,
        &path.display().to_string(),
        &swarm_actors::registry(),
        env,
    )
    .map_err(|e| e.to_string())?;
    Ok(Swarm::start(config).await?)
}

/// Writes `texts` to `collection` (made if missing; ids 1, 2, … so a second load
/// overwrites the first).
pub async fn load(swarm: &Swarm, collection: &str, texts: &[&str]) -> Result<(), SwarmError> {
    let vector = VectorClient::of(swarm, "vector")?;
    let config = CollectionConfig {
        dimension: 384,
        distance: Metric::Cosine,
        hnsw: HnswParams::default(),
    };
    match vector
        .create(collection.into(), config, CallOptions::default())
        .await
    {
        Ok(_) => {}
        Err(SwarmError::InvalidRequest(m)) if m.contains("already exists") => {}
        Err(e) => return Err(e),
    }
    let points = texts
        .iter()
        .enumerate()
        .map(|(i, t)| PointInput {
            id: PointId::Num(i as u64 + 1),
            vector: VectorInput::Text((*t).to_string()),
            payload: serde_json::json!({ "text": t }),
        })
        .collect();
    vector
        .upsert(collection.into(), points, CallOptions::default())
        .await
        .map(drop)
}

/// One line of progress.
pub fn describe(e: &StepEvent) -> Option<String> {
    let a = &e.agent;
    match &e.event {
        Event::TurnStarted { turn } => Some(format!("[{a}] turn {turn}")),
        Event::ToolCallRequested { call, .. } => {
            Some(format!("[{a}] → {}({})", call.name, call.arguments))
        }
        Event::ToolCallCompleted { name, .. } => Some(format!("[{a}] ← {name}")),
        Event::ToolCallFailed { name, error, .. } => Some(format!("[{a}] ✗ {name}: {error}")),
        Event::HandedOff { to } => Some(format!("[{a}] hands over to {to}")),
        Event::Answered { text } => Some(format!("[{a}] {text}")),
        // Refusals are retried; the answer is shown whole rather than piece by piece.
        _ => None,
    }
}

/// Runs workflow `name` of `swarm` on `input`, sending each progress line to `progress`.
pub async fn run(
    swarm: &Swarm,
    name: &str,
    input: &str,
    progress: impl Fn(String) + Send + 'static,
) -> Result<WorkflowReport, SwarmError> {
    let workflow = WorkflowClient::of(swarm, name)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<StepEvent>();
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if let Some(line) = describe(&e) {
                progress(line);
            }
        }
    });
    let report = workflow.run(input, Some(tx), CallOptions::default()).await;
    let _ = printer.await;
    report
}
