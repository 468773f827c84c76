//! The FHE service's figures for `/metrics`.

use std::fmt::Write as _;

use swarm_runtime::MetricFamily;

/// Programmable bootstraps so far (tfhe's process-wide count: the measure of FHE work)
/// and jobs queued or running.
pub(super) fn families(service: &str, active_jobs: usize) -> Vec<MetricFamily> {
    let mut pbs = String::new();
    let _ = writeln!(
        pbs,
        "swarm_fhe_bootstraps_total{{service=\"{service}\"}} {}",
        tfhe::get_pbs_count()
    );
    let mut jobs = String::new();
    let _ = writeln!(
        jobs,
        "swarm_fhe_jobs_active{{service=\"{service}\"}} {active_jobs}"
    );
    vec![
        MetricFamily {
            name: "swarm_fhe_bootstraps_total",
            help: "Programmable bootstraps run by FHE operations in this process.",
            kind: "counter",
            samples: pbs,
        },
        MetricFamily {
            name: "swarm_fhe_jobs_active",
            help: "FHE jobs queued or running.",
            kind: "gauge",
            samples: jobs,
        },
    ]
}
