//! A worker running several requests at once (`concurrency` above 1, for services that
//! give copies): requests run side by side up to the limit, the rest wait queued, and a
//! copy that panics answers `worker_crashed` without taking the worker down.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::SeqCst;

use common::{Gate, Job, spec, start, until, within};
use swarm_runtime::{OverflowPolicy, PoolSpec, SwarmError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_runs_up_to_its_concurrency_and_queues_the_rest() {
    let s = PoolSpec {
        concurrency: 4,
        ..spec("concurrent", 1, 16, OverflowPolicy::Block)
    };
    let (pool, ran) = start(s).await;
    let client = pool.client();
    let mut gate = Gate::new();
    let mut held = Vec::new();
    for v in 0..4 {
        // `hold` returns once the request runs: four run at once on one worker.
        held.push(gate.hold(&client, v).await);
    }
    let fifth = {
        let (c, job) = (client.clone(), gate.job(4));
        tokio::spawn(async move { c.call(job).await })
    };
    until(|| pool.queue_gauge().depth == 1).await;
    assert_eq!(ran.0.load(SeqCst), 4, "the fifth waits for a place");
    gate.release.add_permits(5);
    for (v, h) in held.into_iter().enumerate() {
        assert_eq!(within(h).await.unwrap(), Ok(v as u64));
    }
    assert_eq!(within(fifth).await.unwrap(), Ok(4));
    assert_eq!(gate.started().await, 0, "the fifth ran on worker 0 too");

    assert_eq!(
        within(client.call(Job::Panic)).await,
        Err(SwarmError::WorkerCrashed)
    );
    assert_eq!(within(client.call(Job::Value(7))).await, Ok(7));
    assert_eq!(
        pool.metrics().restarts.load(SeqCst),
        0,
        "only the copy was lost"
    );
    pool.shutdown(std::time::Duration::from_secs(5)).await;
}
