//! Per-request latency (p50/p99) and throughput: bare ractor `call` beside a swarm queue
//! with 1, 2 and 4 workers, measured side by side in one run. Criterion gives means; this
//! gives the tail. `cargo run --release -p swarm-benches --bin latency [requests]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ractor::Actor;
use swarm_benches::{BareEcho, BareMsg, ValueEcho, quantile};
use swarm_runtime::{OverflowPolicy, PoolSpec, ServicePool};

async fn measure<F, Fut>(requests: usize, callers: usize, call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let start = Instant::now();
    let per = requests / callers;
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(per);
                for i in 0..per {
                    let v = (c * per + i) as u64;
                    let t = Instant::now();
                    let got = call(v).await;
                    samples.push(t.elapsed());
                    assert_eq!(got, v);
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::with_capacity(requests);
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    (all, elapsed)
}

fn row(
    name: &str,
    callers: usize,
    samples: &[Duration],
    elapsed: Duration,
    baseline: Option<f64>,
) -> f64 {
    let rps = samples.len() as f64 / elapsed.as_secs_f64();
    let ratio = baseline.map_or(String::from("1.00×"), |b| format!("{:.2}×", rps / b));
    println!(
        "| {name} | {callers} | {:.0} | {ratio} | {:.1} | {:.1} | {:.1} |",
        rps,
        quantile(samples, 0.5).as_secs_f64() * 1e6,
        quantile(samples, 0.99).as_secs_f64() * 1e6,
        quantile(samples, 0.999).as_secs_f64() * 1e6,
    );
    rps
}

fn main() -> anyhow::Result<()> {
    let requests: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut untraced = Vec::new();
    rt.block_on(async {
        let (bare, _) = Actor::spawn(None, BareEcho, ())
            .await
            .context("bare actor")?;
        let mut pools = Vec::new();
        for workers in [1, 2, 4] {
            let spec = PoolSpec {
                workers,
                capacity: 4096,
                overflow: OverflowPolicy::Block,
                ..PoolSpec::new("bench")
            };
            let pool = ServicePool::start(spec, Arc::new(|| Ok(ValueEcho)), None).await?;
            pools.push((workers, pool));
        }
        println!("| path | callers | req/s | vs bare | p50 µs | p99 µs | p99.9 µs |");
        println!("|---|---|---|---|---|---|---|");
        for callers in [1usize, 4, 16] {
            // Warm-up, then the measured run; everything in one process, back to back.
            let b = bare.clone();
            let call = move |v| {
                let b = b.clone();
                async move { ractor::call!(b, BareMsg::Echo, v).unwrap_or(u64::MAX) }
            };
            measure(requests / 10, callers, call.clone()).await;
            let (s, e) = measure(requests, callers, call).await;
            let base = row("bare ractor call", callers, &s, e, None);
            // Every swarm request has a deadline; this is ractor's own call with one.
            let b = bare.clone();
            let call = move |v| {
                let b = b.clone();
                async move {
                    match b
                        .call(
                            |reply| BareMsg::Echo(v, reply),
                            Some(Duration::from_secs(30)),
                        )
                        .await
                    {
                        Ok(ractor::rpc::CallResult::Success(got)) => got,
                        _ => u64::MAX,
                    }
                }
            };
            measure(requests / 10, callers, call.clone()).await;
            let (s, e) = measure(requests, callers, call).await;
            row("bare ractor call with timeout", callers, &s, e, Some(base));
            for (workers, pool) in &pools {
                let client = pool.client();
                let call = move |v| {
                    let c = client.clone();
                    async move { c.call(v).await.unwrap_or(u64::MAX) }
                };
                measure(requests / 10, callers, call.clone()).await;
                let (s, e) = measure(requests, callers, call).await;
                let rps = row(
                    &format!("swarm queue, {workers} worker(s)"),
                    callers,
                    &s,
                    e,
                    Some(base),
                );
                if *workers == 1 {
                    untraced.push((callers, rps));
                }
            }
        }
        anyhow::Ok(())
    })?;
    sampled(requests, &untraced)
}

/// The 1-worker queue with the OpenTelemetry layer recording spans (not exported), at
/// three head-sampling ratios, each on a fresh runtime whose threads use that subscriber.
fn sampled(requests: usize, untraced: &[(usize, f64)]) -> anyhow::Result<()> {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    println!("\n| path | callers | req/s | vs untraced | p50 µs | p99 µs | p99.9 µs |");
    println!("|---|---|---|---|---|---|---|");
    for ratio in [1.0, 0.01, 0.0] {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_sampler(swarm_runtime::telemetry::sampler(ratio))
            .build();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
        );
        swarm_runtime::telemetry::mark_exporting(ratio);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&dispatch)))
            .build()?;
        rt.block_on(async {
            let spec = PoolSpec {
                capacity: 4096,
                ..PoolSpec::new("bench")
            };
            let pool = ServicePool::start(spec, Arc::new(|| Ok(ValueEcho)), None).await?;
            for &(callers, base) in untraced {
                let client = pool.client();
                let call = move |v| {
                    let c = client.clone();
                    async move { c.call(v).await.unwrap_or(u64::MAX) }
                };
                // A task spawned from block_on runs on the runtime's threads.
                let (s, e) = tokio::spawn(async move {
                    measure(requests / 10, callers, call.clone()).await;
                    measure(requests, callers, call).await
                })
                .await?;
                row(
                    &format!("swarm queue, 1 worker, OTel spans, sample_ratio {ratio}"),
                    callers,
                    &s,
                    e,
                    Some(base),
                );
            }
            anyhow::Ok(())
        })?;
    }
    Ok(())
}
