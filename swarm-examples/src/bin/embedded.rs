//! `cargo run -p swarm-examples --bin embedded`: embed a swarm in a small app.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    for line in swarm_examples::run()
        .await
        .map_err(|e| anyhow::anyhow!(e))?
    {
        println!("{line}");
    }
    Ok(())
}
