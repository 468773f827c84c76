//! Bounded waits for tests. CI is a loaded 2-core machine: tests hold work with gates and
//! wait for conditions, never for wall-clock time, and every wait is bounded so a broken
//! test fails instead of hanging.

use std::future::Future;
use std::time::Duration;

/// The bound on every wait: generous, since it only fires when something is broken.
pub const BOUND: Duration = Duration::from_secs(30);

/// Awaits `f`, panicking (failing the test) if it takes longer than [`BOUND`].
pub async fn within<F: Future>(f: F) -> F::Output {
    match tokio::time::timeout(BOUND, f).await {
        Ok(v) => v,
        Err(_) => panic!("bounded wait timed out after {BOUND:?}"),
    }
}

/// Waits (bounded, yielding, no sleeps) until `cond` holds.
pub async fn until(mut cond: impl FnMut() -> bool) {
    within(async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// Waits (bounded, yielding) until the async check `cond` returns `Some`; returns it.
pub async fn until_some<T, F, Fut>(mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(async {
        loop {
            if let Some(v) = cond().await {
                return v;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
}
