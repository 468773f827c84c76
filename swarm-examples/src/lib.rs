//! An app embedding a swarm: it defines its own service (`keyword_agent`, which scores a
//! text against a list of keywords from its params) with its own HTTP route, registers
//! it beside the built-in ones in one line, starts the swarm — from YAML ([`run`]) or
//! from the Rust builder ([`run_built`]) — calls it through a typed client and shuts
//! down gracefully. The gateway serves `POST /v1/keywords/score` for it, and the second
//! scorer of the YAML under its `route_prefix` (`/strict/v1/keywords/score`).

pub mod agents;
pub mod chat;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use swarm_actors::echo::{EchoClient, EchoParams, EchoRequest};
use swarm_actors::http::{ApiError, Call, HttpApi, Limits, ServiceClient, ValidJson};
use swarm_runtime::config::Section;
use swarm_runtime::topology::{ServiceOptions, ServiceParams};
use swarm_runtime::{
    CallOptions, Client, RequestContext, Service, ServiceError, Swarm, SwarmConfig,
};

/// The app's own agent: counts keyword hits in a text.
pub struct KeywordAgent {
    keywords: Arc<Vec<String>>,
}

impl Service for KeywordAgent {
    type Request = String;
    type Response = usize;

    async fn handle(&mut self, text: String, _ctx: &RequestContext) -> Result<usize, ServiceError> {
        if text.is_empty() {
            return Err(ServiceError::InvalidRequest("empty text".into()));
        }
        let lower = text.to_lowercase();
        Ok(self
            .keywords
            .iter()
            .map(|k| lower.matches(k.as_str()).count())
            .sum())
    }
}

/// The agent's params, for the Rust builder.
#[derive(Debug, Clone, Serialize)]
pub struct KeywordParams {
    /// Keywords to count (at least one).
    pub keywords: Vec<String>,
}

impl ServiceParams for KeywordParams {
    const TYPE: &'static str = "keyword_agent";
}

/// The body of `POST /v1/keywords/score`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreBody {
    /// The text to score.
    pub text: String,
}

/// `POST /v1/keywords/score` → `{"hits": n}`.
pub fn routes(client: Client<KeywordAgent>, _limits: &Limits) -> Router {
    async fn score(
        State(client): State<Client<KeywordAgent>>,
        Call(options): Call,
        ValidJson(body): ValidJson<ScoreBody>,
    ) -> Result<Json<serde_json::Value>, ApiError> {
        let hits = client.call_with(body.text, options).await?;
        Ok(Json(serde_json::json!({ "hits": hits })))
    }
    Router::new()
        .route("/v1/keywords/score", post(score))
        .with_state(client)
}

/// The swarm the example starts: a gateway on a free port, echo, and two scorers (the
/// second under its own route prefix).
pub const CONFIG: &str = "\
swarm:
  name: embedded
gateway:
  listen: 127.0.0.1:0
services:
  echo:
    type: echo
  scorer:
    type: keyword_agent
    workers: 2
    queue: { capacity: 64, overflow: reject }
    params:
      keywords: [swarm, actor]
  strict:
    type: keyword_agent
    route_prefix: /strict
    params:
      keywords: [supervised]
";

/// The built-in registry plus `keyword_agent` with its route: one line of registration.
pub fn registry() -> swarm_runtime::Registry {
    let mut registry = swarm_actors::registry();
    registry
        .service::<KeywordAgent, _>("keyword_agent", read_params)
        .expose(HttpApi::new(routes));
    registry
}

/// Reads `params.keywords` (a non-empty list).
fn read_params(params: &Section<'_>) -> Option<swarm_runtime::ServiceFactory<KeywordAgent>> {
    let keywords: Vec<String> = params.required("keywords")?;
    if keywords.is_empty() {
        params.error("keywords", "needs at least one keyword");
        return None;
    }
    let keywords = Arc::new(
        keywords
            .into_iter()
            .map(|k| k.to_lowercase())
            .collect::<Vec<_>>(),
    );
    Some(Arc::new(move || {
        Ok(KeywordAgent {
            keywords: keywords.clone(),
        })
    }))
}

/// Calls both services of a started swarm through typed clients.
async fn talk(swarm: &Swarm) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let echo = EchoClient::of(swarm, "echo")?;
    let scorer = Client::<KeywordAgent>::of(swarm, "scorer")?;
    let mut out = vec![
        echo.echo(
            EchoRequest::new("hello from the app"),
            CallOptions::default(),
        )
        .await?
        .message,
    ];
    let score = scorer
        .call("A swarm of actors: every actor supervised.".into())
        .await?;
    out.push(format!("keyword hits: {score}"));
    out.push(match scorer.call(String::new()).await {
        Err(e) => format!("refused: {}", e.code()),
        Ok(n) => format!("unexpected: {n}"),
    });
    Ok(out)
}

/// Runs the example from [`CONFIG`]; returns what it would print.
pub async fn run() -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let config = SwarmConfig::from_yaml(CONFIG, "embedded.yaml", &registry())?;
    let swarm = Swarm::start(config).await?;
    let out = talk(&swarm).await;
    swarm.shutdown().await;
    out
}

/// The same swarm (without the gateway) from the Rust builder; validated like YAML.
pub async fn run_built() -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let keywords = KeywordParams {
        keywords: vec!["swarm".into(), "actor".into()],
    };
    let swarm = Swarm::builder("embedded")
        .service("echo", EchoParams)
        .service_with(
            "scorer",
            KeywordParams::TYPE,
            keywords,
            ServiceOptions::new().workers(2),
        )
        .start(&registry())
        .await?;
    let out = talk(&swarm).await;
    swarm.shutdown().await;
    out
}
