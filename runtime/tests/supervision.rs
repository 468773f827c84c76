//! Supervision: crashed workers are restarted by strategy within their intensity, the
//! crashed request is answered (or retried once when idempotent), and past the intensity
//! the service escalates, fails, and answers `Unavailable`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use common::{Gate, Job, spec, start, until, within};
use swarm_runtime::supervision::{RestartDecision, RestartTracker};
use swarm_runtime::{
    Backoff, Lifecycle, OverflowPolicy, RestartIntensity, RestartStrategy, SupervisionConfig,
    SwarmError,
};
use tokio::time::Instant;

fn supervision(strategy: RestartStrategy, max_restarts: u32) -> SupervisionConfig {
    SupervisionConfig {
        strategy,
        intensity: RestartIntensity {
            max_restarts,
            within: Duration::from_secs(60),
        },
        backoff: Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
        },
    }
}

#[test]
fn strategies_pick_the_slots_otp_would() {
    assert_eq!(RestartStrategy::OneForOne.slots_to_restart(1, 4), [1]);
    assert_eq!(
        RestartStrategy::OneForAll.slots_to_restart(1, 4),
        [0, 1, 2, 3]
    );
    assert_eq!(
        RestartStrategy::RestForOne.slots_to_restart(1, 4),
        [1, 2, 3]
    );
}

#[test]
fn backoff_doubles_and_caps() {
    let b = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    };
    let delays: Vec<_> = (1..=5).map(|n| b.delay(n).as_millis()).collect();
    assert_eq!(delays, [10, 20, 40, 50, 50]);
    assert_eq!(b.delay(200), Duration::from_millis(50));
}

#[test]
fn intensity_escalates_on_the_restart_past_the_limit_and_forgets_old_ones() {
    let config = SupervisionConfig {
        intensity: RestartIntensity {
            max_restarts: 2,
            within: Duration::from_secs(10),
        },
        ..SupervisionConfig::default()
    };
    let mut t = RestartTracker::new(config);
    let t0 = Instant::now();
    assert!(matches!(
        t.on_failure(0, 2, t0),
        RestartDecision::Restart { .. }
    ));
    assert!(matches!(
        t.on_failure(0, 2, t0 + Duration::from_secs(1)),
        RestartDecision::Restart { .. }
    ));
    assert_eq!(
        t.on_failure(0, 2, t0 + Duration::from_secs(2)),
        RestartDecision::Escalate
    );
    // Eleven seconds on, the first two restarts are outside the window.
    assert!(matches!(
        t.on_failure(1, 2, t0 + Duration::from_secs(12)),
        RestartDecision::Restart { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_worker_is_restarted_and_its_request_fails_with_worker_crashed() {
    let mut s = spec("one-for-one", 2, 16, OverflowPolicy::Block);
    s.supervision = supervision(RestartStrategy::OneForOne, 5);
    let (pool, _) = start(s).await;
    let client = pool.client();
    assert_eq!(
        within(client.call(Job::Panic)).await,
        Err(SwarmError::WorkerCrashed)
    );
    until(|| pool.metrics().restarts.load(SeqCst) == 1 && pool.metrics().workers.load(SeqCst) == 2)
        .await;
    for v in 0..10 {
        assert_eq!(within(client.call(Job::Value(v))).await, Ok(v));
    }
    assert!(pool.health().healthy);
    assert_eq!(pool.lifecycle(), Lifecycle::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_intensity_the_service_escalates_and_answers_unavailable() {
    let mut s = spec("escalates", 1, 16, OverflowPolicy::Block);
    s.supervision = supervision(RestartStrategy::OneForOne, 2);
    let (pool, _) = start(s).await;
    let client = pool.client();
    for n in 1..=2 {
        assert_eq!(
            within(client.call(Job::Panic)).await,
            Err(SwarmError::WorkerCrashed)
        );
        until(|| {
            pool.metrics().restarts.load(SeqCst) == n && pool.metrics().workers.load(SeqCst) == 1
        })
        .await;
    }
    assert_eq!(
        within(client.call(Job::Panic)).await,
        Err(SwarmError::WorkerCrashed)
    );
    until(|| pool.lifecycle() == Lifecycle::Failed).await;
    assert_eq!(pool.metrics().escalations.load(SeqCst), 1);
    assert_eq!(pool.metrics().restarts.load(SeqCst), 2);
    assert!(matches!(
        within(client.call(Job::Value(1))).await,
        Err(SwarmError::Unavailable(_))
    ));
    let health = pool.health();
    assert!(
        !health.healthy && health.detail.contains("restart intensity"),
        "{health:?}"
    );
}

/// Holds all three workers, then releases them with slot 1 panicking.
async fn crash_slot_one_of_three(
    strategy: RestartStrategy,
    expected_restarts: u64,
) -> Vec<Result<u64, SwarmError>> {
    let mut s = spec("strategy", 3, 16, OverflowPolicy::Block);
    s.supervision = supervision(strategy, 10);
    let (pool, _) = start(s).await;
    let mut gate = Gate::new();
    let mut calls = Vec::new();
    for v in 0..3 {
        let c = pool.client();
        let job = gate.job_panicking_on(v, Some(1));
        calls.push(tokio::spawn(async move { c.call(job).await }));
    }
    let mut slots = vec![
        gate.started().await,
        gate.started().await,
        gate.started().await,
    ];
    slots.sort_unstable();
    assert_eq!(slots, [0, 1, 2]);
    gate.release.add_permits(3);
    let mut results = Vec::new();
    for c in calls {
        results.push(within(c).await.expect("task"));
    }
    let m = pool.metrics();
    until(|| m.restarts.load(SeqCst) >= expected_restarts && m.workers.load(SeqCst) == 3).await;
    assert_eq!(m.restarts.load(SeqCst), expected_restarts);
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_restarts_every_worker() {
    let results = crash_slot_one_of_three(RestartStrategy::OneForAll, 3).await;
    assert!(results.contains(&Err(SwarmError::WorkerCrashed)));
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || *r == Err(SwarmError::WorkerCrashed))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_restarts_the_failed_worker_and_those_after_it() {
    crash_slot_one_of_three(RestartStrategy::RestForOne, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_one_restarts_only_the_failed_worker() {
    let results = crash_slot_one_of_three(RestartStrategy::OneForOne, 1).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_request_is_retried_once_after_a_crash() {
    let mut s = spec("idempotent", 1, 16, OverflowPolicy::Block);
    s.idempotent = true;
    s.supervision = supervision(RestartStrategy::OneForOne, 5);
    let (pool, ran) = start(s).await;
    let client = pool.client();
    let flag = Arc::new(AtomicBool::new(false));
    assert_eq!(within(client.call(Job::PanicOnce(flag, 7))).await, Ok(7));
    assert_eq!(ran.0.load(SeqCst), 2);
    // A request that always panics is retried once, then fails.
    assert_eq!(
        within(client.call(Job::Panic)).await,
        Err(SwarmError::WorkerCrashed)
    );
    assert_eq!(ran.0.load(SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_requests_survive_a_crash() {
    let mut s = spec("survive", 1, 16, OverflowPolicy::Block);
    s.supervision = supervision(RestartStrategy::OneForOne, 5);
    let (pool, _) = start(s).await;
    let mut gate = Gate::new();
    let client = pool.client();
    let c = client.clone();
    let job = gate.job_panicking_on(0, Some(0));
    let crashing = tokio::spawn(async move { c.call(job).await });
    gate.started().await;
    let mut queued = Vec::new();
    for v in 1..=5 {
        let c = client.clone();
        queued.push(tokio::spawn(async move { c.call(Job::Value(v)).await }));
    }
    until(|| pool.queue_gauge().depth == 5).await;
    gate.release.add_permits(1);
    assert_eq!(
        within(crashing).await.expect("task"),
        Err(SwarmError::WorkerCrashed)
    );
    for (v, q) in (1..=5).zip(queued) {
        assert_eq!(within(q).await.expect("task"), Ok(v));
    }
}
