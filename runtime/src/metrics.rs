//! Per-service figures (queue depth, in-flight, rejected, dropped, restarts, latency),
//! kept in atomics and rendered as Prometheus text. Names follow
//! `swarm_<area>_<name>_<unit>[_total]` and are described in [`METRICS`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::error::ErrorCode;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.5, 1.0, 5.0,
];

/// A latency histogram with fixed buckets (cumulative on render).
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(d.as_nanos() as u64, Relaxed);
    }

    /// Sum of all observations, in nanoseconds.
    pub fn sum_nanos(&self) -> u64 {
        self.sum_nanos.load(Relaxed)
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Appends the histogram to `out` as Prometheus text, labelled with `service`.
    pub fn render(&self, out: &mut String, name: &str, service: &str) {
        self.render_labelled(out, name, &format!("service=\"{service}\""));
    }

    /// Appends the histogram to `out` as Prometheus text with `labels` (already written
    /// out: `service="llm",replica="0"`) on every sample.
    pub fn render_labelled(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[BUCKETS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// The figures one service records.
#[derive(Debug, Default)]
pub struct ServiceMetrics {
    /// Requests admitted to the queue.
    pub accepted: AtomicU64,
    /// Requests refused at the queue (policy `reject`, or not accepting).
    pub rejected: AtomicU64,
    /// Requests dropped by `drop_oldest` / `drop_newest`.
    pub dropped: AtomicU64,
    /// Requests answered with a reply.
    pub succeeded: AtomicU64,
    /// Requests answered with an error after being accepted.
    pub failed: AtomicU64,
    /// Requests whose deadline passed.
    pub deadline_exceeded: AtomicU64,
    /// Requests being handled by a worker right now.
    pub in_flight: AtomicU64,
    /// Worker restarts performed by the supervisor.
    pub restarts: AtomicU64,
    /// Times the supervisor gave up (restart intensity exceeded).
    pub escalations: AtomicU64,
    /// Workers currently alive.
    pub workers: AtomicU64,
    /// Time from enqueue to pick-up by a worker.
    pub queue_wait: Histogram,
    /// Time from enqueue to answer.
    pub latency: Histogram,
    /// Calls answered with an error, by code ([`ErrorCode::RUNTIME`] order).
    pub errors: [AtomicU64; ErrorCode::RUNTIME.len()],
}

impl ServiceMetrics {
    /// Counts one call answered with `code`.
    pub fn record_error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::RUNTIME.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Relaxed);
        }
    }

    /// Sum of answered latencies in nanoseconds (for the `Retry-After` estimate).
    pub fn latency_sum_nanos(&self) -> u64 {
        self.latency.sum_nanos()
    }
}

/// A live view of one service's queue, for gauges.
#[derive(Debug, Clone, Copy)]
pub struct QueueGauge {
    /// Requests waiting now.
    pub depth: usize,
    /// The queue's capacity.
    pub capacity: usize,
}

/// Every metric name with its type and help text, written once.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        "swarm_queue_depth",
        "gauge",
        "Requests waiting in the service's queue.",
    ),
    (
        "swarm_queue_capacity",
        "gauge",
        "Capacity of the service's queue.",
    ),
    (
        "swarm_queue_accepted_total",
        "counter",
        "Requests admitted to the queue.",
    ),
    (
        "swarm_queue_rejected_total",
        "counter",
        "Requests refused because the queue was full or closed.",
    ),
    (
        "swarm_queue_dropped_total",
        "counter",
        "Requests dropped by the overflow policy; their callers were told.",
    ),
    (
        "swarm_service_in_flight",
        "gauge",
        "Requests being handled by a worker.",
    ),
    (
        "swarm_service_succeeded_total",
        "counter",
        "Requests answered with a reply.",
    ),
    (
        "swarm_service_failed_total",
        "counter",
        "Accepted requests answered with an error.",
    ),
    (
        "swarm_service_deadline_exceeded_total",
        "counter",
        "Requests whose deadline passed.",
    ),
    (
        "swarm_service_workers",
        "gauge",
        "Workers alive in the pool.",
    ),
    (
        "swarm_supervisor_restarts_total",
        "counter",
        "Worker restarts.",
    ),
    (
        "swarm_supervisor_escalations_total",
        "counter",
        "Times restart intensity was exceeded.",
    ),
    (
        "swarm_service_errors_total",
        "counter",
        "Calls answered with an error, by the same code the HTTP body carries.",
    ),
    (
        "swarm_queue_wait_seconds",
        "histogram",
        "Time from enqueue to pick-up by a worker.",
    ),
    (
        "swarm_service_latency_seconds",
        "histogram",
        "Time from enqueue to answer.",
    ),
];

/// Renders the Prometheus text exposition for a set of pools, each given by its label
/// set (`service="echo"`, or `service="llm",pool="cpu"` for one pool of a service).
pub fn render_prometheus(services: &[(String, &ServiceMetrics, QueueGauge)]) -> String {
    let mut out = String::new();
    for (name, kind, help) in METRICS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, m, q) in services {
            let value = match *name {
                "swarm_queue_depth" => q.depth as u64,
                "swarm_queue_capacity" => q.capacity as u64,
                "swarm_queue_accepted_total" => m.accepted.load(Relaxed),
                "swarm_queue_rejected_total" => m.rejected.load(Relaxed),
                "swarm_queue_dropped_total" => m.dropped.load(Relaxed),
                "swarm_service_in_flight" => m.in_flight.load(Relaxed),
                "swarm_service_succeeded_total" => m.succeeded.load(Relaxed),
                "swarm_service_failed_total" => m.failed.load(Relaxed),
                "swarm_service_deadline_exceeded_total" => m.deadline_exceeded.load(Relaxed),
                "swarm_service_workers" => m.workers.load(Relaxed),
                "swarm_supervisor_restarts_total" => m.restarts.load(Relaxed),
                "swarm_supervisor_escalations_total" => m.escalations.load(Relaxed),
                "swarm_service_errors_total" => {
                    for (code, n) in ErrorCode::RUNTIME.iter().zip(&m.errors) {
                        let n = n.load(Relaxed);
                        let _ = writeln!(out, "{name}{{{labels},code=\"{code}\"}} {n}");
                    }
                    continue;
                }
                "swarm_queue_wait_seconds" => {
                    m.queue_wait.render_labelled(&mut out, name, labels);
                    continue;
                }
                "swarm_service_latency_seconds" => {
                    m.latency.render_labelled(&mut out, name, labels);
                    continue;
                }
                _ => continue,
            };
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
    out
}
