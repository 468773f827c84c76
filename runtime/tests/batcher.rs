//! The dynamic batcher: batches close on size, token budget and max_wait; at most
//! max_concurrent_batches run; every caller gets its own result; oversized requests are
//! refused; deadlines hold inside a batch; a failing batch answers every member.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use swarm_runtime::batcher::{Admission, Forming};
use swarm_runtime::{BatchPolicy, BatchService, Batcher, ServiceError, SwarmError};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Test-only fake: doubles numbers; records batch sizes; can hold batches on a gate and
/// fail on request (fault injection).
#[derive(Default)]
struct Doubler {
    batches: Mutex<Vec<Vec<u64>>>,
    running: AtomicUsize,
    most_running: AtomicUsize,
    gate: Option<Arc<Semaphore>>,
}

impl BatchService for Doubler {
    type Item = u64;
    type Output = u64;

    fn tokens(&self, item: &u64) -> usize {
        // Items above 1,000 cost their value / 1,000 tokens; others cost 1.
        (*item as usize / 1_000).max(1)
    }

    async fn run(&self, items: Vec<u64>) -> Result<Vec<u64>, ServiceError> {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.most_running.fetch_max(now, SeqCst);
        self.batches.lock().unwrap().push(items.clone());
        if let Some(g) = &self.gate {
            g.acquire().await.unwrap().forget();
        }
        self.running.fetch_sub(1, SeqCst);
        if items.contains(&13) {
            return Err(ServiceError::Internal(
                "injected fault: batch failed".into(),
            ));
        }
        Ok(items.iter().map(|v| v * 2).collect())
    }
}

fn policy(size: usize, wait_ms: u64, tokens: usize, concurrent: usize) -> BatchPolicy {
    BatchPolicy {
        max_batch_size: size,
        max_wait: Duration::from_millis(wait_ms),
        max_batch_tokens: tokens,
        max_concurrent_batches: concurrent,
        ..BatchPolicy::default()
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

async fn submit_all(b: &Batcher<Doubler>, items: Vec<u64>) -> Vec<Result<u64, SwarmError>> {
    let tasks: Vec<_> = items
        .into_iter()
        .map(|v| {
            let b = b.clone();
            tokio::spawn(async move { b.submit(v, far()).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    out
}

#[test]
fn the_rules_close_on_size_and_tokens_and_refuse_oversized_requests() {
    let p = policy(3, 10, 10, 1);
    let mut f = Forming::default();
    let t0 = Instant::now();
    assert_eq!(f.admit(11, &p), Admission::TooLarge);
    for _ in 0..3 {
        assert_eq!(f.admit(2, &p), Admission::Join);
        f.join(2, t0);
    }
    assert!(f.is_full(&p));
    assert_eq!(f.admit(1, &p), Admission::CloseThenJoin);
    f.reset();
    f.join(8, t0);
    assert_eq!(
        f.admit(3, &p),
        Admission::CloseThenJoin,
        "8 + 3 would exceed 10 tokens"
    );
    assert_eq!(f.closes_at(&p), Some(t0 + Duration::from_millis(10)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_get_their_own_results_and_batches_close_at_max_size() {
    let svc = Arc::new(Doubler::default());
    let b = Batcher::start(svc.clone(), policy(4, 60_000, 1_000, 1));
    let results = submit_all(&b, (1..=8).collect()).await;
    assert_eq!(results, (1..=8).map(|v| Ok(v * 2)).collect::<Vec<_>>());
    let sizes: Vec<usize> = svc.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        [4, 4],
        "max_wait is a minute, so only the size closed them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_request_waits_at_most_max_wait() {
    let svc = Arc::new(Doubler::default());
    let b = Batcher::start(svc.clone(), policy(64, 20, 1_000, 1));
    let t0 = Instant::now();
    assert_eq!(b.submit(21, far()).await, Ok(42));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(20),
        "closed by max_wait, not earlier: {waited:?}"
    );
    assert!(waited < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_budget_splits_batches_and_refuses_what_cannot_fit() {
    let svc = Arc::new(Doubler::default());
    let b = Batcher::start(svc.clone(), policy(100, 50, 10, 1));
    // 4,000-valued items cost 4 tokens each: two fit in a 10-token batch, not three.
    let results = submit_all(&b, vec![4_000, 4_001, 4_002, 4_003]).await;
    assert!(results.iter().all(Result::is_ok));
    assert!(
        svc.batches
            .lock()
            .unwrap()
            .iter()
            .all(|batch| batch.len() <= 2)
    );
    let refused = b.submit(11_000, far()).await;
    assert!(
        matches!(&refused, Err(SwarmError::InvalidRequest(m)) if m.contains("needs 11 tokens")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_concurrent_batches_run_at_once() {
    let gate = Arc::new(Semaphore::new(0));
    let svc = Arc::new(Doubler {
        gate: Some(gate.clone()),
        ..Doubler::default()
    });
    let b = Batcher::start(svc.clone(), policy(1, 1, 1_000, 2));
    let b2 = b.clone();
    let all = tokio::spawn(async move { submit_all(&b2, (1..=6).collect()).await });
    tokio::time::timeout(Duration::from_secs(20), async {
        while svc.running.load(SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    gate.add_permits(6);
    let results = tokio::time::timeout(Duration::from_secs(20), all)
        .await
        .unwrap()
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(svc.most_running.load(SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_answers_every_member_and_deadlines_hold_inside_a_batch() {
    let svc = Arc::new(Doubler::default());
    let b = Batcher::start(svc.clone(), policy(3, 60_000, 1_000, 1));
    let results = submit_all(&b, vec![12, 13, 14]).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(SwarmError::Internal(m)) if m.contains("batch failed"))),
        "{results:?}"
    );

    // A request with a short deadline waits in a batch that has not closed: it gets
    // DeadlineExceeded; the others are answered when the batch fills.
    let quick = b.submit(1, Instant::now() + Duration::from_millis(20));
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(20), quick)
            .await
            .unwrap(),
        Err(SwarmError::DeadlineExceeded)
    );
    let rest = submit_all(&b, vec![2, 3, 4]).await;
    assert_eq!(rest, [Ok(4), Ok(6), Ok(8)]);
    assert!(
        svc.batches
            .lock()
            .unwrap()
            .iter()
            .all(|batch| !batch.contains(&1)),
        "the expired request never ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_intake_answers_overloaded_at_once() {
    let gate = Arc::new(Semaphore::new(0));
    let service = Arc::new(Doubler {
        gate: Some(gate.clone()),
        ..Doubler::default()
    });
    let policy = BatchPolicy {
        max_queued: 2,
        ..policy(1, 1, 100, 1)
    };
    let b = Batcher::start(service.clone(), policy);
    let held = {
        let b = b.clone();
        tokio::spawn(async move { b.submit(1, far()).await })
    };
    // The first batch runs and holds on the gate: nothing else can run.
    tokio::time::timeout(Duration::from_secs(20), async {
        while service.running.load(SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let calls: Vec<_> = (2..12u64)
        .map(|v| {
            let b = b.clone();
            tokio::spawn(async move { b.submit(v, far()).await })
        })
        .collect();
    // Room while held: 2 queued, plus at most 1 taken by the batching task: 7 or 8 of the
    // 10 are refused without waiting.
    tokio::time::timeout(Duration::from_secs(20), async {
        while calls.iter().filter(|c| c.is_finished()).count() < 7 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    gate.add_permits(100);
    let mut refused = 0;
    for (v, call) in (2..12u64).zip(calls) {
        match tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .unwrap()
            .unwrap()
        {
            Ok(doubled) => assert_eq!(doubled, 2 * v),
            Err(SwarmError::Overloaded {
                service,
                retry_after,
            }) => {
                assert_eq!(
                    (service.as_str(), retry_after),
                    ("batcher", Duration::from_secs(1))
                );
                refused += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!((7..=8).contains(&refused), "{refused} refused");
    assert_eq!(held.await.unwrap(), Ok(2));
}
