//! An app embedding a swarm: it defines its own service (`keyword_agent`, which scores a
//! text against a list of keywords from its YAML params), registers it beside the
//! built-in ones, starts the swarm from YAML, calls both services through typed clients
//! and shuts down gracefully.

use std::sync::Arc;

use swarm_actors::echo::{Echo, EchoRequest};
use swarm_runtime::config::Section;
use swarm_runtime::{RequestContext, Service, ServiceError, Swarm, SwarmConfig};

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

/// The swarm the example starts.
pub const CONFIG: &str = "\
swarm:
  name: embedded
services:
  echo:
    type: echo
  scorer:
    type: keyword_agent
    workers: 2
    queue: { capacity: 64, overflow: reject }
    params:
      keywords: [swarm, actor]
";

/// Registers `keyword_agent`, reading `params.keywords` (a non-empty list).
pub fn registry() -> swarm_runtime::Registry {
    let mut registry = swarm_actors::registry();
    registry.service::<KeywordAgent, _>("keyword_agent", |params: &Section<'_>| {
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
    });
    registry
}

/// Runs the example; returns what it would print.
pub async fn run() -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let config = SwarmConfig::from_yaml(CONFIG, "embedded.yaml", &registry())?;
    let swarm = Swarm::start(config).await?;
    let echo = swarm.client::<Echo>("echo")?;
    let scorer = swarm.client::<KeywordAgent>("scorer")?;
    let mut out = vec![
        echo.call(EchoRequest::new("hello from the app"))
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
    swarm.shutdown().await;
    Ok(out)
}
