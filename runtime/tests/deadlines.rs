//! Deadlines hold everywhere: while running, while queued (the job never runs), and for
//! service errors, which pass through typed.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{Gate, Job, spec, start, within};
use swarm_runtime::{CallOptions, OverflowPolicy, SwarmError};
use tokio::time::Instant;

fn timeout(ms: u64) -> CallOptions {
    CallOptions {
        timeout: Some(Duration::from_millis(ms)),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_ends_at_its_deadline_and_frees_the_worker() {
    let (pool, _) = start(spec("slow", 1, 8, OverflowPolicy::Block)).await;
    let client = pool.client();
    let t0 = Instant::now();
    let r = within(client.call_with(Job::Sleep(Duration::from_secs(30), 1), timeout(50))).await;
    assert_eq!(r, Err(SwarmError::DeadlineExceeded));
    assert!(t0.elapsed() < Duration::from_secs(10));
    // The worker was freed (its handler cancelled at the deadline), so this is served.
    assert_eq!(within(client.call(Job::Value(2))).await, Ok(2));
    assert_eq!(pool.metrics().deadline_exceeded.load(SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_expires_in_the_queue_never_runs() {
    let (pool, ran) = start(spec("expire", 1, 8, OverflowPolicy::Block)).await;
    let mut gate = Gate::new();
    let client = pool.client();
    let held = gate.hold(&client, 1).await;
    let r = within(client.call_with(Job::Value(2), timeout(30))).await;
    assert_eq!(r, Err(SwarmError::DeadlineExceeded));
    gate.release.add_permits(1);
    assert_eq!(within(held).await.expect("task"), Ok(1));
    assert_eq!(within(client.call(Job::Value(3))).await, Ok(3));
    assert_eq!(ran.0.load(SeqCst), 2, "the expired job was skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_errors_reach_the_caller_typed() {
    let (pool, _) = start(spec("invalid", 1, 8, OverflowPolicy::Block)).await;
    let r = within(pool.client().call(Job::Invalid)).await;
    assert_eq!(
        r,
        Err(SwarmError::InvalidRequest(
            "injected invalid request".into()
        ))
    );
    assert_eq!(r.unwrap_err().code(), "invalid_request");
}
