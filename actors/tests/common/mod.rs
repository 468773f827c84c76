//! Shared test helpers: start a swarm from YAML with the gateway on a free port.
//! `CrashingService` is a test-only fake that panics on every request (fault injection);
//! `HeldService` is a test-only fake that answers once its named gate lets it, served at
//! `POST /v1/held` through its own routes, so HTTP tests hold work without sleeping.
#![allow(dead_code, unused_imports, missing_docs, unreachable_pub)]
pub mod fhe_keys;

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

/// Gates by name, shared by a test and the `held` service it starts.
static GATES: std::sync::LazyLock<dashmap::DashMap<String, Arc<tokio::sync::Semaphore>>> =
    std::sync::LazyLock::new(dashmap::DashMap::new);

/// The gate named `name` (created closed).
pub fn gate(name: &str) -> Arc<tokio::sync::Semaphore> {
    GATES
        .entry(name.to_string())
        .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(0)))
        .clone()
}

/// Waits for one permit of the gate named in the request, then answers its name.
pub struct HeldService;

impl Service for HeldService {
    type Request = String;
    type Response = String;
    async fn handle(&mut self, name: String, _: &RequestContext) -> Result<String, ServiceError> {
        let permit = gate(&name).acquire_owned().await;
        permit
            .map(|p| p.forget())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(name)
    }
}

fn held_routes(
    client: swarm_runtime::Client<HeldService>,
    _: &swarm_actors::http::Limits,
) -> axum::Router {
    use swarm_actors::http::{ApiError, Call, ValidJson};
    async fn held(
        axum::extract::State(client): axum::extract::State<swarm_runtime::Client<HeldService>>,
        Call(options): Call,
        ValidJson(body): ValidJson<serde_json::Value>,
    ) -> Result<axum::Json<serde_json::Value>, ApiError> {
        let name = body["gate"].as_str().unwrap_or_default().to_string();
        let name = client.call_with(name, options).await?;
        Ok(axum::Json(serde_json::json!({ "gate": name })))
    }
    axum::Router::new()
        .route("/v1/held", axum::routing::post(held))
        .with_state(client)
}

pub fn registry() -> swarm_runtime::Registry {
    let mut r = swarm_actors::registry();
    r.service::<CrashingService, _>("crashing", |_| Some(Arc::new(|| Ok(CrashingService))));
    r.service::<HeldService, _>("held", |_| Some(Arc::new(|| Ok(HeldService))))
        .expose(swarm_actors::http::HttpApi::new(held_routes));
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

pub use swarm_test_util::{until, within};

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Waits (bounded, no sleeps) until the gateway's `/metrics` at `url` holds `line`.
pub async fn until_metric(c: &reqwest::Client, url: &str, line: &str) {
    swarm_test_util::until_some(|| async {
        let m = c
            .get(format!("{url}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        m.contains(line).then_some(())
    })
    .await;
}

/// Runs `scripts/<script>` with python3 against the gateway at `url` (bounded); the one
/// JSON line it prints, or a failure with its output.
pub async fn python_check(script: &str, url: &str) -> serde_json::Value {
    python_check_with(script, url, &[]).await
}

/// As [`python_check`], with more arguments after the URL.
pub async fn python_check_with(script: &str, url: &str, args: &[&str]) -> serde_json::Value {
    let path = format!("{}/../scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("python3")
            .arg(&path)
            .arg(url)
            .args(args)
            .output(),
    )
    .await
    .expect("bounded")
    .expect("python3 runs");
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

/// POSTs `body` as JSON to `url`: the status and the JSON answer.
pub async fn post(
    c: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let r = c.post(url).json(&body).send().await.expect("request sent");
    (r.status(), r.json().await.expect("a JSON answer"))
}

/// A client for long streams: no total timeout (each read is bounded by the caller).
pub fn http_long() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// GETs `url`: the status and the JSON answer.
pub async fn get(c: &reqwest::Client, url: String) -> (reqwest::StatusCode, serde_json::Value) {
    let r = c.get(url).send().await.expect("request sent");
    (r.status(), r.json().await.expect("a JSON answer"))
}

/// DELETEs `url`: the status and the JSON answer.
pub async fn delete(c: &reqwest::Client, url: String) -> (reqwest::StatusCode, serde_json::Value) {
    let r = c.delete(url).send().await.expect("request sent");
    (r.status(), r.json().await.expect("a JSON answer"))
}
