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

/// A write's point of no return decides what a deadline means for it: committed work is
/// waited for and answered; uncommitted work is answered `deadline_exceeded` and can no
/// longer commit (so a 504 always means "not applied").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_write_is_answered_past_its_deadline_and_an_expired_one_never_commits() {
    let (pool, _) = start(spec("commit", 1, 8, OverflowPolicy::Block)).await;
    let client = pool.client();
    let job = |commit_first: bool,
               gate: &Gate,
               committed: &tokio::sync::mpsc::UnboundedSender<bool>| Job::Write {
        commit_first,
        started: gate.started_tx.clone(),
        release: gate.release.clone(),
        committed: committed.clone(),
        value: 7,
    };
    let (committed_tx, mut committed) = tokio::sync::mpsc::unbounded_channel();

    // Committed, then held past the deadline: the caller waits and gets the answer.
    let mut gate = Gate::new();
    // A deadline long enough for the worker to take the job even on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(2);
    let c = client.clone();
    let j = job(true, &gate, &committed_tx);
    let call = tokio::spawn(async move { c.call_with(j, timeout(2000)).await });
    gate.started().await;
    assert_eq!(within(committed.recv()).await, Some(true));
    // Waiting for the deadline is the point of the test, not a synchronisation.
    tokio::time::sleep_until(deadline + Duration::from_millis(50)).await;
    assert!(
        !call.is_finished(),
        "a committed write is not cut off at its deadline"
    );
    gate.release.add_permits(1);
    assert_eq!(within(call).await.expect("task"), Ok(7));

    // Held before committing until the caller gave up: 504, and the commit is refused.
    let mut gate = Gate::new();
    let c = client.clone();
    let j = job(false, &gate, &committed_tx);
    let call = tokio::spawn(async move { c.call_with(j, timeout(2000)).await });
    gate.started().await;
    assert_eq!(
        within(call).await.expect("task"),
        Err(SwarmError::DeadlineExceeded)
    );
    gate.release.add_permits(1);
    // The handler is either cancelled once its caller is gone (its job, with the last
    // sender, dropped: `None`) or reaches its commit and is refused (`Some(false)`).
    drop(committed_tx);
    assert_ne!(
        within(committed.recv()).await,
        Some(true),
        "an answered 504 never commits"
    );
}
