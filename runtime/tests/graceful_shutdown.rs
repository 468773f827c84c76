//! Graceful shutdown: stop accepting, let in-flight and queued work finish within the
//! grace period, answer what is left `Unavailable`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Gate, Job, spec, start, within};
use swarm_runtime::{Lifecycle, OverflowPolicy, SwarmError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_and_queued_work_finishes_within_the_grace_period() {
    let (pool, _) = start(spec("drain", 1, 8, OverflowPolicy::Block)).await;
    let mut gate = Gate::new();
    let client = pool.client();
    let held = gate.hold(&client, 1).await;
    let mut queued = Vec::new();
    for v in [2, 3] {
        let c = client.clone();
        queued.push(tokio::spawn(async move { c.call(Job::Value(v)).await }));
    }
    common::until(|| pool.queue_gauge().depth == 2).await;
    let pool = std::sync::Arc::new(pool);
    let p = pool.clone();
    let shutdown = tokio::spawn(async move { p.shutdown(Duration::from_secs(10)).await });
    common::until(|| pool.lifecycle() == Lifecycle::Draining).await;
    assert!(matches!(
        within(client.call(Job::Value(9))).await,
        Err(SwarmError::Unavailable(_))
    ));
    gate.release.add_permits(1);
    assert_eq!(within(held).await.expect("task"), Ok(1));
    for (v, q) in [2, 3].into_iter().zip(queued) {
        assert_eq!(within(q).await.expect("task"), Ok(v));
    }
    let report = within(shutdown).await.expect("task");
    assert_eq!(report.answered_unavailable, 0);
    assert_eq!(pool.lifecycle(), Lifecycle::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_grace_period_everything_left_is_answered_unavailable() {
    let (pool, _) = start(spec("grace", 1, 8, OverflowPolicy::Block)).await;
    let mut gate = Gate::new();
    let client = pool.client();
    let held = gate.hold(&client, 1).await;
    let mut queued = Vec::new();
    for v in [2, 3] {
        let c = client.clone();
        queued.push(tokio::spawn(async move { c.call(Job::Value(v)).await }));
    }
    common::until(|| pool.queue_gauge().depth == 2).await;
    let report = within(pool.shutdown(Duration::from_millis(50))).await;
    assert_eq!(report.answered_unavailable, 2);
    assert!(matches!(
        within(held).await.expect("task"),
        Err(SwarmError::Unavailable(_))
    ));
    for q in queued {
        assert!(matches!(
            within(q).await.expect("task"),
            Err(SwarmError::Unavailable(_))
        ));
    }
}
