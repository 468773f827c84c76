//! Request-reply throughput through a swarm queue (1, 2, 4 workers) beside a bare ractor
//! `call` in the same run, plus the cost of the envelope and of tracing.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ractor::Actor;
use swarm_benches::{BareEcho, BareMsg, ValueEcho};
use swarm_runtime::envelope::Envelope;
use swarm_runtime::{Client, OverflowPolicy, PoolSpec, Priority, ServicePool};
use tokio::runtime::Runtime;

const BATCH: u64 = 2_000;
const CALLERS: u64 = 16;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn pool(rt: &Runtime, workers: usize) -> (ServicePool<ValueEcho>, Client<ValueEcho>) {
    rt.block_on(async {
        let spec = PoolSpec {
            workers,
            capacity: 4096,
            overflow: OverflowPolicy::Block,
            ..PoolSpec::new("bench")
        };
        let pool = ServicePool::start(spec, Arc::new(|| Ok(ValueEcho)), None)
            .await
            .expect("pool");
        let client = pool.client();
        (pool, client)
    })
}

/// `BATCH` calls from `callers` concurrent tasks.
async fn swarm_batch(client: &Client<ValueEcho>, callers: u64) {
    let per = BATCH / callers;
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let client = client.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    let v = c * per + i;
                    assert_eq!(client.call(v).await, Ok(v));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

async fn bare_batch(actor: &ractor::ActorRef<BareMsg>, callers: u64) {
    let per = BATCH / callers;
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let actor = actor.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    let v = c * per + i;
                    let got = ractor::call!(actor, BareMsg::Echo, v).expect("call");
                    assert_eq!(got, v);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

fn request_reply(c: &mut Criterion) {
    let rt = runtime();
    let (bare, _) = rt
        .block_on(Actor::spawn(None, BareEcho, ()))
        .expect("actor");
    let pools: Vec<_> = [1, 2, 4].into_iter().map(|w| (w, pool(&rt, w))).collect();
    for callers in [1, CALLERS] {
        let mut g = c.benchmark_group(format!("request_reply/{callers}_callers"));
        g.throughput(Throughput::Elements(BATCH));
        g.sample_size(20);
        g.bench_function("bare_ractor_call", |b| {
            b.to_async(&rt).iter(|| bare_batch(&bare, callers))
        });
        for (w, (_, client)) in &pools {
            g.bench_function(format!("swarm_{w}_workers"), |b| {
                b.to_async(&rt).iter(|| swarm_batch(client, callers))
            });
        }
        g.finish();
    }
}

fn envelope_and_tracing(c: &mut Criterion) {
    let mut g = c.benchmark_group("overhead");
    g.bench_function("envelope_new_and_answer", |b| {
        b.iter(|| {
            let deadline = tokio::time::Instant::now();
            let (env, mut rx) = Envelope::<u64, u64>::new(
                7,
                deadline,
                Priority::Normal,
                tracing::Span::none(),
                None,
            );
            env.answer(Ok(7));
            rx.try_recv().expect("answered")
        })
    });
    g.finish();

    let rt = runtime();
    let (_pool, client) = pool(&rt, 1);
    let mut g = c.benchmark_group("tracing");
    g.throughput(Throughput::Elements(1));
    g.bench_function("call_no_subscriber", |b| {
        b.to_async(&rt).iter(|| async { client.call(1).await })
    });
    // Spans recorded by the OpenTelemetry layer (sampled, then dropped: no exporter).
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    let dispatch = tracing::Dispatch::new(subscriber);
    g.bench_function("call_with_otel_spans", |b| {
        b.to_async(&rt).iter(|| {
            let client = client.clone();
            let d = dispatch.clone();
            async move {
                use tracing::instrument::WithSubscriber as _;
                client.call(1).with_subscriber(d).await
            }
        })
    });
    g.finish();
}

criterion_group!(benches, request_reply, envelope_and_tracing);
criterion_main!(benches);
