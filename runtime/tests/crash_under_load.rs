//! Under load with crashing workers no request is lost or hung: every call returns, and
//! sent = succeeded + crashed + refused.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{Job, spec, start, within};
use swarm_runtime::{
    Backoff, OverflowPolicy, RestartIntensity, RestartStrategy, SupervisionConfig, SwarmError,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_answered_while_workers_crash() {
    let mut s = spec("load", 4, 32, OverflowPolicy::Reject);
    s.supervision = SupervisionConfig {
        strategy: RestartStrategy::OneForOne,
        intensity: RestartIntensity {
            max_restarts: 10_000,
            within: Duration::from_secs(60),
        },
        backoff: Backoff {
            initial: Duration::from_micros(100),
            max: Duration::from_millis(2),
        },
    };
    let (pool, _) = start(s).await;
    const CALLERS: u64 = 32;
    const PER_CALLER: u64 = 60;
    let mut tasks = Vec::new();
    for c in 0..CALLERS {
        let client = pool.client();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..PER_CALLER {
                let n = c * PER_CALLER + i;
                let job = if n % 10 == 3 {
                    Job::Panic
                } else {
                    Job::Value(n)
                };
                outcomes.push((n, client.call(job).await));
            }
            outcomes
        }));
    }
    let (mut ok, mut crashed, mut refused) = (0u64, 0u64, 0u64);
    for t in tasks {
        for (n, outcome) in within(t).await.expect("task") {
            match outcome {
                Ok(v) => {
                    assert_eq!(v, n);
                    ok += 1;
                }
                Err(SwarmError::WorkerCrashed) => {
                    assert_eq!(n % 10, 3, "only injected panics crash");
                    crashed += 1;
                }
                Err(SwarmError::Overloaded { .. }) => refused += 1,
                Err(e) => panic!("unexpected error for {n}: {e}"),
            }
        }
    }
    let sent = CALLERS * PER_CALLER;
    assert_eq!(ok + crashed + refused, sent);
    assert!(crashed > 0 && ok > 0);
    let m = pool.metrics();
    assert_eq!(m.accepted.load(SeqCst) + m.rejected.load(SeqCst), sent);
    assert_eq!(m.rejected.load(SeqCst), refused);
    assert_eq!(m.succeeded.load(SeqCst), ok);
    assert_eq!(m.restarts.load(SeqCst), crashed);
    assert_eq!(m.in_flight.load(SeqCst), 0);
}
