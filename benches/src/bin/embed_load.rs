//! Embedding throughput and p50/p99 latency at concurrency 1, 8, 32 and 128: the
//! embedding service batched (max_batch_size 32, max_wait 5 ms) against unbatched
//! (max_batch_size 1), same model and machine, in one run. One sentence per request.
//! `make models && cargo run --release -p swarm-benches --bin embed-load [seconds]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use swarm_actors::embed::EmbedService;
use swarm_actors::embed::service::EmbedRequest;
use swarm_benches::quantile;
use swarm_runtime::{Client, Swarm, SwarmConfig};

fn sentence(i: usize) -> String {
    swarm_benches::sentence(i, 6, 14)
}

async fn run(
    client: &Client<EmbedService>,
    concurrency: usize,
    seconds: f64,
) -> (f64, Duration, Duration, usize) {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|c| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = c;
                while Instant::now() < until {
                    let t = Instant::now();
                    if client
                        .call(EmbedRequest {
                            inputs: vec![sentence(i)],
                        })
                        .await
                        .is_ok()
                    {
                        lat.push(t.elapsed());
                    }
                    i += concurrency;
                }
                lat
            })
        })
        .collect();
    let start = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    (
        all.len() as f64 / elapsed,
        quantile(&all, 0.5),
        quantile(&all, 0.99),
        all.len(),
    )
}

fn main() -> anyhow::Result<()> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(8.0);
    let models = std::env::var("SWARM_MODELS").unwrap_or_else(|_| "models".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let yaml = format!(
            "services:\n  batched:\n    type: embed\n    workers: 1\n    params:\n      model_dir: {models}/all-MiniLM-L6-v2\n      batch: {{ max_batch_size: 32, max_wait: 5ms, max_batch_tokens: 8192, max_concurrent_batches: 1 }}\n  unbatched:\n    type: embed\n    workers: 1\n    params:\n      model_dir: {models}/all-MiniLM-L6-v2\n      batch: {{ max_batch_size: 1, max_wait: 5ms, max_batch_tokens: 8192, max_concurrent_batches: 1 }}\n"
        );
        let config = SwarmConfig::from_yaml(&yaml, "embed-load.yaml", &swarm_actors::registry())?;
        let swarm = Arc::new(Swarm::start(config).await.context("start (run `make models` first)")?);
        let batched = swarm.client::<EmbedService>("batched")?;
        let unbatched = swarm.client::<EmbedService>("unbatched")?;
        run(&batched, 8, 1.0).await; // warm-up
        run(&unbatched, 8, 1.0).await;
        println!("one sentence per request, {seconds} s per row, {} cores", std::thread::available_parallelism()?);
        println!("| concurrency | mode | sentences/s | p50 ms | p99 ms | requests |");
        println!("|---|---|---|---|---|---|");
        for c in [1, 8, 32, 128] {
            let mut rates = Vec::new();
            for (mode, client) in [("unbatched (max_batch_size 1)", &unbatched), ("batched (32, 5 ms)", &batched)] {
                let (rps, p50, p99, n) = run(client, c, seconds).await;
                println!("| {c} | {mode} | {rps:.1} | {:.1} | {:.1} | {n} |", p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
                rates.push(rps);
            }
            println!("| {c} | batched / unbatched | {:.2}× | | | |", rates[1] / rates[0]);
        }
        swarm.shutdown().await;
        anyhow::Ok(())
    })
}
