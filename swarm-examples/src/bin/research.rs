//! The research swarm (`config/agents/research.yaml`): loads the documents, then a
//! planner, two researchers at once and a writer.
//!     cargo run -p swarm-examples --bin research -- "Should we install a heat pump?"

use swarm_examples::agents::{DOCUMENTS, load, run, start};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let input = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Should a family in a cold town install a heat pump?".into());
    let swarm = start("config/agents/research.yaml".as_ref(), &|k| {
        std::env::var(k).ok()
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    load(&swarm, "documents", &DOCUMENTS).await?;
    let report = run(&swarm, "research", &input, |line| eprintln!("{line}")).await;
    swarm.shutdown().await;
    let report = report?;
    println!("{}", report.answer.unwrap_or_default());
    Ok(())
}
