//! Priorities inside a pool: queued requests are served most urgent first, each priority
//! in arrival order; `drop_oldest` evicts the least urgent, never a more urgent one than
//! the request it makes room for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{Gate, Job, spec, start, until, within};
use swarm_runtime::{CallOptions, OverflowPolicy, Priority, SwarmError};

fn at(priority: Priority) -> CallOptions {
    CallOptions {
        priority,
        ..CallOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_requests_are_served_most_urgent_first() {
    let (pool, _) = start(spec("prio", 1, 16, OverflowPolicy::Block)).await;
    let client = pool.client();
    let mut gate = Gate::new();
    let held = gate.hold(&client, 0).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut calls = Vec::new();
    let arrivals = [
        (1, Priority::Low),
        (2, Priority::Normal),
        (3, Priority::High),
        (4, Priority::Low),
        (5, Priority::High),
        (6, Priority::Normal),
    ];
    for (k, (v, p)) in arrivals.into_iter().enumerate() {
        let (c, job) = (client.clone(), Job::Record(log.clone(), v));
        calls.push(tokio::spawn(async move { c.call_with(job, at(p)).await }));
        until(|| pool.queue_gauge().depth == k + 1).await;
    }
    gate.release.add_permits(1);
    assert_eq!(within(held).await.unwrap(), Ok(0));
    for c in calls {
        within(c).await.unwrap().unwrap();
    }
    assert_eq!(*log.lock().unwrap(), [3, 5, 2, 6, 1, 4]);
    pool.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_evicts_the_least_urgent() {
    let (pool, _) = start(spec("evict", 1, 2, OverflowPolicy::DropOldest)).await;
    let client = pool.client();
    let mut gate = Gate::new();
    let held = gate.hold(&client, 0).await;
    let call = |v: u64, p: Priority| {
        let c = client.clone();
        tokio::spawn(async move { c.call_with(Job::Value(v), at(p)).await })
    };
    let high = call(1, Priority::High);
    until(|| pool.queue_gauge().depth == 1).await;
    let low = call(2, Priority::Low);
    until(|| pool.queue_gauge().depth == 2).await;
    // Full: a Normal arrival evicts the Low one, not the older High one.
    let normal = call(3, Priority::Normal);
    assert!(matches!(
        within(low).await.unwrap(),
        Err(SwarmError::Dropped { .. })
    ));
    // Full of more urgent work: a Low arrival is the one dropped.
    let late_low = call(4, Priority::Low);
    assert!(matches!(
        within(late_low).await.unwrap(),
        Err(SwarmError::Dropped { .. })
    ));
    gate.release.add_permits(1);
    assert_eq!(within(held).await.unwrap(), Ok(0));
    assert_eq!(within(high).await.unwrap(), Ok(1));
    assert_eq!(within(normal).await.unwrap(), Ok(3));
    pool.shutdown(std::time::Duration::from_secs(5)).await;
}
