//! Secure rounds' aggregation: the encrypted updates go to the `fhe` service as one secure
//! sum job; the round waits for the job (without holding its lock) and ends with the
//! decrypted sums, or failed with the job's reason. The FL service never sees an update.

use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_runtime::{CallOptions, Dependency};

use super::rounds::Rounds;
use crate::fhe::{FheClient, FheService};
use crate::http::ServiceClient as _;

/// How long one read of the job waits for it to finish.
const POLL: Duration = Duration::from_secs(30);

/// Sums `lists` (each `values` values) on the `fhe` service and ends round `id` with the
/// result. Every path ends the round: it never stays aggregating.
pub(super) async fn aggregate(
    rounds: Arc<Rounds>,
    fhe: Dependency<FheService>,
    id: String,
    values: usize,
    lists: Vec<Vec<u8>>,
) {
    let sums = sum(&fhe, values, &lists).await;
    if let Err(why) = &sums {
        tracing::warn!(round = %id, %why, "secure aggregation failed");
    }
    let _ =
        tokio::task::spawn_blocking(move || rounds.finish_sealed(&id, sums, Instant::now())).await;
}

async fn sum(
    fhe: &Dependency<FheService>,
    values: usize,
    lists: &[Vec<u8>],
) -> Result<Vec<i32>, String> {
    let client = FheClient::from_client(fhe.client().map_err(|e| e.to_string())?);
    let mut job = client
        .sum(values, lists, None, CallOptions::default())
        .await
        .map_err(|e| format!("the fhe service refused the sum: {e}"))?;
    // The job ends by its own deadline (the fhe service's job_timeout), so this ends too.
    while job.state == "queued" || job.state == "running" {
        let call = CallOptions {
            timeout: Some(POLL + Duration::from_secs(10)),
            ..CallOptions::default()
        };
        job = client
            .job(job.id, POLL, call)
            .await
            .map_err(|e| format!("cannot read the fhe job: {e}"))?;
    }
    match (job.state, job.result) {
        ("done", Some(result)) => result
            .get("sums")
            .cloned()
            .and_then(|s| serde_json::from_value(s).ok())
            .ok_or_else(|| "the fhe job's result has no sums".to_string()),
        _ => Err(job.reason.unwrap_or_else(|| "the fhe job stopped".into())),
    }
}
