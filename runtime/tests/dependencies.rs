//! Service-to-service dependencies: declared in params, checked at validation (missing,
//! wrong type, cycle — each with file:line:col and key path), started in order, resolved
//! to a typed client, and shown in `/health` on the dependant.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{FaultyService, Job, within};
use swarm_runtime::config::Section;
use swarm_runtime::{
    Dependency, Registry, RequestContext, Service, ServiceError, Swarm, SwarmConfig,
};

/// Doubles what its `source` dependency answers.
struct Doubler {
    source: Dependency<FaultyService>,
}

impl Service for Doubler {
    type Request = u64;
    type Response = u64;

    async fn handle(&mut self, v: u64, _: &RequestContext) -> Result<u64, ServiceError> {
        Ok(2 * self.source.client()?.call(Job::Value(v)).await?)
    }
}

/// Uses another relay: enough to close a cycle.
struct Relay {
    _next: Option<Dependency<Relay>>,
}

impl Service for Relay {
    type Request = ();
    type Response = ();

    async fn handle(&mut self, _: (), _: &RequestContext) -> Result<(), ServiceError> {
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.service::<FaultyService, _>("faulty", |_| {
        Some(Arc::new(|| Ok(FaultyService::default())))
    });
    r.service::<Doubler, _>("doubler", |params: &Section<'_>| {
        let source = params.dependency::<FaultyService>("source");
        if source.is_none() && params.diagnostics().is_clean() {
            params.error("source", "required key is missing");
        }
        let source = source?;
        Some(Arc::new(move || {
            Ok(Doubler {
                source: source.clone(),
            })
        }))
    });
    r.service::<FaultyService, _>("silent", |_| None);
    r
}

fn errors(yaml: &str) -> Vec<String> {
    SwarmConfig::from_yaml_with_env(yaml, "deps.yaml", &registry(), &|_| None)
        .expect_err("invalid")
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_written_later_starts_first_and_is_called_through_its_client() {
    // The dependant comes first in the file: start order must still follow the edge.
    let yaml = "services:\n  twice:\n    type: doubler\n    params:\n      source: numbers\n  numbers:\n    type: faulty\n";
    let config =
        SwarmConfig::from_yaml_with_env(yaml, "deps.yaml", &registry(), &|_| None).expect("valid");
    assert_eq!(config.start_order, vec![1, 0]);
    let deps: Vec<&str> = config.services[0].dependencies().collect();
    assert_eq!(deps, ["numbers"]);
    let swarm = within(Swarm::start(config)).await.expect("starts");
    let names: Vec<String> = swarm.services().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["numbers", "twice"]);
    let twice = swarm.client::<Doubler>("twice").expect("typed client");
    assert_eq!(within(twice.call(21)).await, Ok(42));
    assert_eq!(swarm.clients::<FaultyService>().len(), 1);
    within(swarm.shutdown()).await;
}

#[test]
fn a_missing_a_mistyped_and_a_cyclic_dependency_are_each_reported_where_written() {
    let missing =
        errors("services:\n  twice:\n    type: doubler\n    params:\n      source: nowhere\n");
    assert_eq!(
        missing,
        [
            "deps.yaml:5:15: services.twice.params.source: no service named `nowhere` (services: twice)"
        ]
    );
    let mistyped = errors(
        "services:\n  a:\n    type: doubler\n    params:\n      source: b\n  b:\n    type: doubler\n    params:\n      source: c\n  c:\n    type: faulty\n",
    );
    assert_eq!(
        mistyped,
        [
            "deps.yaml:5:15: services.a.params.source: `b` is a service of type `doubler`; this key needs one running FaultyService"
        ]
    );
    let mut r = registry();
    r.service::<Relay, _>("loop", |params: &Section<'_>| {
        let next = params.dependency::<Relay>("next");
        Some(Arc::new(move || {
            Ok(Relay {
                _next: next.clone(),
            })
        }))
    });
    let cyclic = SwarmConfig::from_yaml_with_env(
        "services:\n  a:\n    type: loop\n    params:\n      next: b\n  b:\n    type: loop\n    params:\n      next: a\n",
        "deps.yaml",
        &r,
        &|_| None,
    )
    .expect_err("cycle");
    let lines: Vec<String> = cyclic.0.iter().map(ToString::to_string).collect();
    assert!(
        lines.contains(
            &"deps.yaml:9:13: services.b.params.next: dependency cycle: a → b → a".to_string()
        ),
        "{lines:?}"
    );
}

#[test]
fn a_params_parser_that_refuses_silently_is_an_error_not_a_dropped_service() {
    assert_eq!(
        errors("services:\n  quiet:\n    type: silent\n"),
        [
            "deps.yaml:3:5: services.quiet.params: the params parser of type `silent` refused these params without saying why"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_shows_a_failed_dependency_on_its_dependant() {
    let yaml = "services:\n  numbers:\n    type: faulty\n    supervision: { max_restarts: 0 }\n  twice:\n    type: doubler\n    params:\n      source: numbers\n";
    let config =
        SwarmConfig::from_yaml_with_env(yaml, "deps.yaml", &registry(), &|_| None).expect("valid");
    let swarm = within(Swarm::start(config)).await.expect("starts");
    let healthy = swarm.health(Duration::from_secs(5)).await;
    assert!(healthy.iter().all(|(_, h)| h.healthy), "{healthy:?}");
    let numbers = swarm.client::<FaultyService>("numbers").unwrap();
    let _ = within(numbers.call(Job::Panic)).await;
    let report = within(async {
        loop {
            let report = swarm.health(Duration::from_secs(5)).await;
            if report
                .iter()
                .any(|(n, h)| n == "numbers" && h.detail.starts_with("failed"))
            {
                break report;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    let (_, twice) = report.iter().find(|(n, _)| n == "twice").unwrap();
    assert!(!twice.healthy);
    assert!(
        twice
            .detail
            .starts_with("dependency `numbers` is unhealthy (failed"),
        "{}",
        twice.detail
    );
    within(swarm.shutdown()).await;
}
