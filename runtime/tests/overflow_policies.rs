//! Every overflow policy under a burst: one worker held busy, a queue of 2 filled, then 5
//! more requests. Every caller gets an answer; counters agree with what callers saw.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{Gate, Job, spec, start, until, within};
use swarm_runtime::{CallOptions, OverflowPolicy, SwarmError};
use tokio::task::JoinHandle;

type Call = JoinHandle<Result<u64, SwarmError>>;

/// Holds the single worker, fills the queue with values 10 and 11, then sends 100..105.
async fn burst(
    policy: OverflowPolicy,
    timeout: Duration,
) -> (
    Vec<Result<u64, SwarmError>>,
    swarm_runtime::ServicePool<common::FaultyService>,
    Gate,
) {
    let (pool, _) = start(spec("burst", 1, 2, policy)).await;
    let mut gate = Gate::new();
    let client = pool.client();
    let held: Call = gate.hold(&client, 1).await;
    let mut calls: Vec<Call> = vec![held];
    for v in [10, 11] {
        let c = client.clone();
        calls.push(tokio::spawn(async move { c.call(Job::Value(v)).await }));
        until(|| pool.queue_gauge().depth == (v - 9) as usize).await;
    }
    for v in 100..105 {
        let c = client.clone();
        let options = CallOptions {
            timeout: Some(timeout),
            ..Default::default()
        };
        calls.push(tokio::spawn(async move {
            c.call_with(Job::Value(v), options).await
        }));
        // Arrivals are decided one at a time, so eviction order is arrival order.
        let decided = 3 + (v - 99);
        until(|| {
            let m = pool.metrics();
            policy == OverflowPolicy::Block
                || m.accepted.load(SeqCst)
                    + m.rejected.load(SeqCst)
                    + if policy == OverflowPolicy::DropNewest {
                        m.dropped.load(SeqCst)
                    } else {
                        0
                    }
                    >= decided
        })
        .await;
    }
    gate.release.add_permits(1);
    let mut results = Vec::new();
    for c in calls {
        results.push(within(c).await.expect("task"));
    }
    (results, pool, gate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_refuses_the_burst_with_overloaded_and_serves_the_queue() {
    let (results, pool, _g) = burst(OverflowPolicy::Reject, Duration::from_secs(10)).await;
    assert_eq!(results[..3], [Ok(1), Ok(10), Ok(11)]);
    for r in &results[3..] {
        match r {
            Err(e @ SwarmError::Overloaded { retry_after, .. }) => {
                assert!(*retry_after >= Duration::from_secs(1), "{e}");
            }
            other => panic!("expected Overloaded, got {other:?}"),
        }
    }
    let m = pool.metrics();
    assert_eq!(
        (
            m.accepted.load(SeqCst),
            m.rejected.load(SeqCst),
            m.succeeded.load(SeqCst)
        ),
        (3, 5, 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_drops_arrivals_and_tells_their_callers() {
    let (results, pool, _g) = burst(OverflowPolicy::DropNewest, Duration::from_secs(10)).await;
    assert_eq!(results[..3], [Ok(1), Ok(10), Ok(11)]);
    assert!(
        results[3..].iter().all(|r| matches!(
            r,
            Err(SwarmError::Dropped {
                policy: "drop_newest",
                ..
            })
        )),
        "{results:?}"
    );
    let m = pool.metrics();
    assert_eq!((m.accepted.load(SeqCst), m.dropped.load(SeqCst)), (3, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_evicts_the_oldest_and_keeps_the_newest() {
    let (results, pool, _g) = burst(OverflowPolicy::DropOldest, Duration::from_secs(10)).await;
    assert_eq!(results[0], Ok(1));
    // 10, 11, 100, 101, 102 were evicted in arrival order; 103 and 104 remain and run.
    for r in &results[1..6] {
        assert!(
            matches!(
                r,
                Err(SwarmError::Dropped {
                    policy: "drop_oldest",
                    ..
                })
            ),
            "{results:?}"
        );
    }
    assert_eq!(results[6..], [Ok(103), Ok(104)]);
    let m = pool.metrics();
    assert_eq!(
        (
            m.accepted.load(SeqCst),
            m.dropped.load(SeqCst),
            m.succeeded.load(SeqCst)
        ),
        (8, 5, 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_waits_for_room_and_serves_everyone() {
    let (results, pool, _g) = burst(OverflowPolicy::Block, Duration::from_secs(10)).await;
    let mut values: Vec<u64> = results.into_iter().map(|r| r.expect("served")).collect();
    values.sort_unstable();
    assert_eq!(values, [1, 10, 11, 100, 101, 102, 103, 104]);
    assert_eq!(pool.metrics().accepted.load(SeqCst), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_gives_up_at_the_deadline() {
    let (pool, _) = start(spec("block-deadline", 1, 1, OverflowPolicy::Block)).await;
    let mut gate = Gate::new();
    let client = pool.client();
    let held = gate.hold(&client, 1).await;
    let c = client.clone();
    let queued = tokio::spawn(async move { c.call(Job::Value(2)).await });
    until(|| pool.queue_gauge().depth == 1).await;
    let options = CallOptions {
        timeout: Some(Duration::from_millis(50)),
        ..Default::default()
    };
    let blocked = within(client.call_with(Job::Value(3), options)).await;
    assert_eq!(blocked, Err(SwarmError::DeadlineExceeded));
    gate.release.add_permits(1);
    assert_eq!(within(held).await.expect("task"), Ok(1));
    assert_eq!(within(queued).await.expect("task"), Ok(2));
}
