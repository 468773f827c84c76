//! `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `$$` in config values.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use swarm_runtime::config::interpolate;
use swarm_runtime::{Registry, SwarmConfig};

fn env(name: &str) -> Option<String> {
    match name {
        "WORKERS" => Some("4".into()),
        "EMPTY" => Some(String::new()),
        "NAME" => Some("prod".into()),
        _ => None,
    }
}

#[test]
fn references_expand_by_the_documented_rules() {
    let cases = [
        ("plain", Ok("plain")),
        ("${NAME}", Ok("prod")),
        ("a-${NAME}-b", Ok("a-prod-b")),
        ("${MISSING:-fallback}", Ok("fallback")),
        ("${EMPTY:-fallback}", Ok("fallback")),
        ("${NAME:-fallback}", Ok("prod")),
        ("${MISSING:-}", Ok("")),
        ("cost: $$5 and $x", Ok("cost: $5 and $x")),
        ("$${NAME}", Ok("${NAME}")),
        ("${NAME:?must be set}", Ok("prod")),
    ];
    for (input, want) in cases {
        assert_eq!(
            interpolate(input, &env).as_deref(),
            want.map_err(|e: &str| e.to_string()).as_deref(),
            "{input}"
        );
    }
    assert_eq!(
        interpolate("${MISSING:?set it to the model path}", &env),
        Err("environment variable MISSING is required: set it to the model path".into())
    );
    assert_eq!(
        interpolate("${EMPTY:?needed}", &env),
        Err("environment variable EMPTY is required: needed".into())
    );
    assert!(
        interpolate("${MISSING}", &env)
            .unwrap_err()
            .contains("MISSING is not set")
    );
    assert!(
        interpolate("${1BAD}", &env)
            .unwrap_err()
            .contains("not a valid environment variable name")
    );
    assert!(
        interpolate("${OPEN", &env)
            .unwrap_err()
            .contains("unterminated")
    );
}

#[test]
fn interpolated_values_are_typed_and_errors_are_located() {
    let mut r = Registry::new();
    r.service::<common::FaultyService, _>("faulty", |_| {
        Some(Arc::new(|| Ok(common::FaultyService::default())))
    });
    let yaml = "swarm:\n  name: ${NAME}-swarm\nservices:\n  a:\n    type: faulty\n    workers: ${WORKERS}\n    deadline: ${DEADLINE:-750ms}\n";
    let c = SwarmConfig::from_yaml_with_env(yaml, "env.yaml", &r, &env).expect("valid");
    assert_eq!(c.name, "prod-swarm");
    assert_eq!(c.services[0].spec.workers, 4);
    assert_eq!(
        c.services[0].spec.default_deadline,
        Duration::from_millis(750)
    );

    let yaml = "swarm:\n  name: ${MISSING:?name the swarm}\nservices:\n  a:\n    type: faulty\n    workers: ${ALSO_MISSING}\n";
    let e = SwarmConfig::from_yaml_with_env(yaml, "env.yaml", &r, &env).expect_err("invalid");
    let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines[0],
        "env.yaml:2:9: swarm.name: environment variable MISSING is required: name the swarm"
    );
    assert!(
        lines[1].starts_with(
            "env.yaml:6:14: services.a.workers: environment variable ALSO_MISSING is not set"
        ),
        "{lines:?}"
    );
    // A value can never inject YAML structure: it stays one scalar.
    let inject = |_: &str| Some("1\nextra: true".to_string());
    let yaml = "services:\n  a:\n    type: faulty\n    workers: ${X}\n";
    let e = SwarmConfig::from_yaml_with_env(yaml, "i.yaml", &r, &inject).expect_err("not a number");
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].path, "services.a.workers");
}
