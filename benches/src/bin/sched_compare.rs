//! The scheduler against round-robin and against a single pool, in one run: the embed
//! model on two CPU pools of unequal speed — `fast` (2 threads, batches of up to 32) and
//! `slow` (1 thread, batches of up to 2; override with `SLOW_POOL='{ … }'`) — under
//! closed-loop load from 32 callers of 4 sentences each. Each pool alone is measured too,
//! so the speed ratio is a measurement, not a setting. On a 2-core machine thread counts
//! alone do not make pools unequal (both pools share the same two cores, and an idle
//! pool's cores serve the other), so the slow pool is also the less efficient one.
//! Three rounds, the configurations alternating within each round; medians.
//! `make models && cargo run --release -p swarm-benches --bin sched-compare [seconds]`

use std::time::{Duration, Instant};

use anyhow::Context as _;
use swarm_actors::embed::EmbedService;
use swarm_actors::embed::service::EmbedRequest;
use swarm_benches::quantile;
use swarm_runtime::{Client, Swarm, SwarmConfig};

const CALLERS: usize = 32;
const INPUTS: usize = 4;
const ROUNDS: usize = 3;
const SLOW: &str = "{ threads: 1, batch: { max_batch_size: 2, max_wait: 2ms, max_batch_tokens: 8192, max_concurrent_batches: 1 } }";

fn sentence(i: usize) -> String {
    swarm_benches::sentence(i, 8, 12)
}

/// Requests per second, p99, requests.
async fn run(client: &Client<EmbedService>, seconds: f64) -> (f64, Duration, usize) {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|c| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = c;
                while Instant::now() < until {
                    let inputs = (0..INPUTS).map(|k| sentence(i * INPUTS + k)).collect();
                    let t = Instant::now();
                    if client.call(EmbedRequest { inputs }).await.is_ok() {
                        lat.push(t.elapsed());
                    }
                    i += CALLERS;
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    (all.len() as f64 / elapsed, quantile(&all, 0.99), all.len())
}

fn yaml(models: &str) -> String {
    let params = format!(
        "model_dir: {models}/all-MiniLM-L6-v2, batch: {{ max_batch_size: 32, max_wait: 2ms, max_batch_tokens: 8192, max_concurrent_batches: 1 }}"
    );
    let slow = std::env::var("SLOW_POOL").unwrap_or_else(|_| SLOW.into());
    let pools = format!(
        "\n      - {{ name: slow, device: cpu, params: {slow} }}\n      - {{ name: fast, device: cpu, params: {{ threads: 2 }} }}"
    );
    format!(
        "services:\n  routed:\n    type: embed\n    params: {{ {params} }}\n    pools:{pools}\n  round_robin:\n    type: embed\n    routing: round_robin\n    params: {{ {params} }}\n    pools:{pools}\n  single:\n    type: embed\n    params: {{ {params}, threads: 2 }}\n  slow_alone:\n    type: embed\n    params: {{ {params} }}\n    pools:\n      - {{ name: slow, device: cpu, params: {slow} }}\n"
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10.0);
    let models = std::env::var("SWARM_MODELS").unwrap_or_else(|_| "models".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let config = SwarmConfig::from_yaml(&yaml(&models), "sched-compare.yaml", &swarm_actors::registry())?;
        let swarm = Swarm::start(config).await.context("start (run `make models` first)")?;
        let names = ["routed", "round_robin", "single", "slow_alone"];
        let clients: Vec<_> = names
            .iter()
            .map(|n| swarm.client::<EmbedService>(n))
            .collect::<Result<_, _>>()?;
        for c in &clients {
            run(c, 1.0).await; // warm-up: loads caches, gives the scheduler its first pace
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for round in 0..ROUNDS {
            // Alternate the order so no configuration always runs on a warmer machine.
            let order: Vec<usize> = if round % 2 == 0 { vec![0, 1, 2, 3] } else { vec![3, 2, 1, 0] };
            for i in order {
                let (rps, p99, n) = run(&clients[i], seconds).await;
                eprintln!("round {round}: {} {rps:.1} req/s, p99 {:.1} ms, {n} requests", names[i], p99.as_secs_f64() * 1e3);
                rates[i].push(rps);
                p99s[i].push(p99.as_secs_f64() * 1e3);
            }
        }
        let routed = swarm.pools("routed");
        println!("embed on two CPU pools (fast: 2 threads, batches ≤ 32; slow: {}), {CALLERS} callers × {INPUTS} sentences, {ROUNDS} rounds × {seconds} s, {} cores; medians", std::env::var("SLOW_POOL").unwrap_or_else(|_| SLOW.into()), std::thread::available_parallelism()?);
        println!("| routing | requests/s | sentences/s | p99 ms |");
        println!("|---|---|---|---|");
        let (r, p): (Vec<f64>, Vec<f64>) = (rates.into_iter().map(median).collect(), p99s.into_iter().map(median).collect());
        let labels = ["estimated completion (the scheduler)", "round robin, same pools", "fast pool alone", "slow pool alone"];
        for i in 0..names.len() {
            println!("| {} | {:.1} | {:.1} | {:.1} |", labels[i], r[i], r[i] * INPUTS as f64, p[i]);
        }
        println!("| scheduler / round robin | {:.2}× | | {:.2}× |", r[0] / r[1], p[0] / p[1]);
        println!("| scheduler / fast pool alone | {:.2}× | | {:.2}× |", r[0] / r[2], p[0] / p[2]);
        println!("| pool speeds: fast alone / slow alone | {:.2}× | | |", r[2] / r[3]);
        for pool in routed {
            println!("routed to {}: {} requests", pool.name, pool.routed);
        }
        swarm.shutdown().await;
        anyhow::Ok(())
    })
}
