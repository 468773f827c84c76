//! Config validation: unknown keys and bad values are all reported in one pass, each with
//! file, line, column and key path.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use swarm_runtime::config::Section;
use swarm_runtime::{OverflowPolicy, Registry, RestartStrategy, SwarmConfig};

fn registry() -> Registry {
    let mut r = Registry::new();
    r.service::<common::FaultyService, _>("faulty", |params: &Section<'_>| {
        let _answer: u64 = params.or("answer", 42);
        Some(Arc::new(|| Ok(common::FaultyService::default())))
    });
    r
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn a_valid_config_is_read_with_defaults_filled_in() {
    let yaml = "\
swarm:
  name: demo
shutdown:
  grace: 2s
services:
  alpha:
    type: faulty
    workers: 3
    idempotent: true
    deadline: 250ms
    queue: { capacity: 16, overflow: drop_oldest }
    supervision:
      strategy: rest_for_one
      max_restarts: 7
      max_seconds: 30
      backoff: { initial: 5ms, max: 2s }
    params: { answer: 7 }
  beta:
    type: faulty
";
    let c =
        SwarmConfig::from_yaml_with_env(yaml, "demo.yaml", &registry(), &no_env).expect("valid");
    assert_eq!(c.name, "demo");
    assert_eq!(c.shutdown_grace, Duration::from_secs(2));
    let a = &c.services[0].spec;
    assert_eq!(
        (a.name.as_str(), a.workers, a.capacity, a.overflow),
        ("alpha", 3, 16, OverflowPolicy::DropOldest)
    );
    assert_eq!(
        (a.idempotent, a.default_deadline),
        (true, Duration::from_millis(250))
    );
    assert_eq!(a.supervision.strategy, RestartStrategy::RestForOne);
    assert_eq!(a.supervision.intensity.max_restarts, 7);
    assert_eq!(a.supervision.intensity.within, Duration::from_secs(30));
    assert_eq!(a.supervision.backoff.initial, Duration::from_millis(5));
    let b = &c.services[1].spec;
    assert_eq!(
        (b.workers, b.capacity, b.overflow),
        (1, 1024, OverflowPolicy::Block)
    );
    assert_eq!(c.telemetry.otlp_endpoint, None);
}

#[test]
fn every_error_is_reported_with_file_line_column_and_key_path() {
    let yaml = "\
swarm:
  name: demo
  colour: blue
services:
  alpha:
    type: faulty
    workers: many
    queue:
      capacity: 0
      overflow: sometimes
    params:
      answer: -1
      extra: 1
  beta:
    type: nonesuch
  gamma:
    workers: 2
    supervision:
      strategy: one_for_some
      backoff: { initial: 1s, max: 10ms }
      max_seconds: 10
    deadline: 5
telemtry: {}
";
    let errors = SwarmConfig::from_yaml_with_env(yaml, "bad.yaml", &registry(), &no_env)
        .expect_err("invalid");
    let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    let expected = [
        "bad.yaml:3:3: swarm.colour: unknown key `colour` (expected one of: name)",
        "bad.yaml:7:14: services.alpha.workers: expected a whole number from 0 to 18446744073709551615, found `many`",
        "bad.yaml:9:17: services.alpha.queue.capacity: must be at least 1",
        "bad.yaml:10:17: services.alpha.queue.overflow: unknown overflow policy `sometimes` (expected block, reject, drop_oldest or drop_newest)",
        "bad.yaml:12:15: services.alpha.params.answer: expected a whole number from 0 to 18446744073709551615, found `-1`",
        "bad.yaml:13:7: services.alpha.params.extra: unknown key `extra` (expected one of: answer)",
        "bad.yaml:15:11: services.beta.type: unknown service type `nonesuch` (known: faulty)",
        "bad.yaml:17:5: services.gamma.type: required key is missing",
        "bad.yaml:19:17: services.gamma.supervision.strategy: unknown strategy `one_for_some` (expected one_for_one, one_for_all or rest_for_one)",
        "bad.yaml:20:36: services.gamma.supervision.backoff.max: must not be smaller than `initial`",
        "bad.yaml:22:15: services.gamma.deadline: expected a duration with a unit (us, ms, s, m, h), such as 250ms or 10s; found `5`",
        "bad.yaml:23:1: telemtry: unknown key `telemtry` (expected one of: cluster, services, shutdown, swarm, telemetry)",
    ];
    assert_eq!(lines, expected, "\n{}", lines.join("\n"));
}

#[test]
fn yaml_syntax_errors_and_duplicate_keys_name_their_line() {
    let e =
        SwarmConfig::from_yaml_with_env("services:\n  a: [1, 2\n", "s.yaml", &registry(), &no_env)
            .expect_err("syntax");
    assert_eq!(e.0.len(), 1);
    assert!(
        e.0[0].line >= 2 && e.0[0].message.starts_with("YAML syntax error"),
        "{e}"
    );
    let e = SwarmConfig::from_yaml_with_env(
        "swarm:\n  name: a\n  name: b\n",
        "d.yaml",
        &registry(),
        &no_env,
    )
    .expect_err("dup");
    assert_eq!(
        e.to_string(),
        "d.yaml:3:3: YAML syntax error: duplicate key `name`"
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let e = SwarmConfig::from_file(std::path::Path::new("/nonexistent/swarm.yaml"), &registry())
        .expect_err("missing");
    assert!(
        e.to_string()
            .starts_with("/nonexistent/swarm.yaml:0:0: cannot read config file"),
        "{e}"
    );
}

#[test]
fn a_type_without_a_wire_codec_cannot_be_placed_on_nodes() {
    let yaml = "\
cluster:
  node: a
  listen: 127.0.0.1:7001
  cookie_env: C
  peers: [{ node: b, address: 127.0.0.1:7002 }]
services:
  alpha:
    type: faulty
    nodes: [b]
";
    let errors = SwarmConfig::from_yaml_with_env(yaml, "nodes.yaml", &registry(), &no_env)
        .expect_err("invalid");
    let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert!(
        lines.iter().any(|l| l.starts_with("nodes.yaml:9:")
            && l.contains(
                "services.alpha.nodes: services of type `faulty` cannot run across nodes"
            )),
        "{}",
        lines.join("\n")
    );
}
