//! Shared test helpers: start a swarm from YAML with the gateway on a free port.
//! `CrashingService` is a test-only fake that panics on every request (fault injection).
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use swarm_runtime::{RequestContext, Service, ServiceError, Swarm, SwarmConfig};

pub struct CrashingService;

impl Service for CrashingService {
    type Request = ();
    type Response = ();
    async fn handle(&mut self, _: (), _: &RequestContext) -> Result<(), ServiceError> {
        panic!("injected fault: crash");
    }
}

pub fn registry() -> swarm_runtime::Registry {
    let mut r = swarm_actors::registry();
    r.service::<CrashingService, _>("crashing", |_| Some(Arc::new(|| Ok(CrashingService))));
    r
}

/// Starts a swarm from YAML; returns it with the gateway's base URL.
pub async fn start(yaml: &str) -> (Swarm, String) {
    let config = SwarmConfig::from_yaml_with_env(yaml, "test.yaml", &registry(), &|_| None)
        .expect("valid config");
    let swarm = within(Swarm::start(config)).await.expect("swarm starts");
    let line = swarm
        .ready_lines()
        .into_iter()
        .find(|l| l.contains("http://"))
        .expect("gateway ready line");
    let url = line[line.find("http://").expect("url")..].to_string();
    (swarm, url)
}

pub async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("bounded wait timed out")
}

/// Waits (bounded, yielding) until `cond` holds.
pub async fn until(mut cond: impl FnMut() -> bool) {
    within(async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}
