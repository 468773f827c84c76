//! The dispute-resolution swarm (`config/agents/dispute.yaml`): loads the precedents,
//! then runs the negotiators, the mediator (Nash solver) and the clerk (consensus).
//!     cargo run -p swarm-examples --bin dispute -- "The buyer says the goods came late …"

use swarm_examples::agents::{PRECEDENTS, load, run, start};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let input = std::env::args().nth(1).unwrap_or_else(|| {
        "The goods arrived three weeks late and some were damaged; the buyer wants 30% off, the seller offers 5%.".into()
    });
    let swarm = start("config/agents/dispute.yaml".as_ref(), &|k| {
        std::env::var(k).ok()
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    load(&swarm, "precedents", &PRECEDENTS).await?;
    let report = run(&swarm, "dispute", &input, |line| eprintln!("{line}")).await;
    swarm.shutdown().await;
    let report = report?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
