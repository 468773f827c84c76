//! The built-in tools, backed by the swarm's services through their typed clients:
//! `solve_game` (Nash), `remember` / `search_memory` (the agent's memory: a vector
//! collection written and searched by meaning, texts embedded by the vector service's
//! `embed`), and `propose` (consensus: a decision with its certificate). Their arguments
//! are the HTTP API's bodies, so a tool call and a `curl` say the same thing. Each is an
//! [`FnTool`]: a spec and an async function over the client.

use std::sync::Arc;

use serde_json::{Value, json};
use swarm_runtime::SwarmError;

use super::fn_tool::FnTool;
use super::tool::{ToolContext, ToolError};
use crate::consensus::ConsensusClient;
use crate::consensus::api::ProposeBody;
use crate::llm::tools::ToolSpec;
use crate::nash::NashClient;
use crate::nash::api::SolveBody;
use crate::vector::VectorClient;
use crate::vector::core::config::{CollectionConfig, HnswParams};
use crate::vector::core::distance::Metric;
use crate::vector::core::{PointId, SearchQuery};
use crate::vector::messages::{PointInput, VectorInput};

fn spec(name: &str, description: &str, parameters: Value) -> ToolSpec {
    // The built-in specs are constants: a failure here is a bug caught by the unit tests.
    ToolSpec::new(name, description, Some(parameters)).unwrap_or_else(|_| ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters: json!({ "type": "object" }),
    })
}

fn parse<T: serde::de::DeserializeOwned>(arguments: Value) -> Result<T, ToolError> {
    serde_json::from_value(arguments).map_err(|e| ToolError::InvalidArguments(e.to_string()))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ToolError> {
    serde_json::to_value(value).map_err(|e| ToolError::Failed(e.to_string()))
}

/// `solve_game`: the Nash equilibria of a two-player game, over `client`.
pub fn solve_game(client: NashClient) -> FnTool {
    FnTool::new(solve_game_spec(), move |arguments, ctx: ToolContext| {
        let client = client.clone();
        async move {
            let request = parse::<SolveBody>(arguments)?
                .into_request()
                .map_err(ToolError::InvalidArguments)?;
            to_json(&client.solve(request, ctx.options()).await?)
        }
    })
}

fn solve_game_spec() -> ToolSpec {
    // Bounded, so a small model's call ends within its turn's tokens.
    let matrix = json!({ "type": "array", "items": { "type": "array", "items": { "type": "number" }, "minItems": 1, "maxItems": 8 }, "minItems": 1, "maxItems": 8 });
    spec(
        "solve_game",
        "Finds the Nash equilibria of a two-player game given both players' payoff matrices (rows: the row player's strategies; columns: the column player's).",
        json!({ "type": "object", "properties": { "row": matrix, "col": matrix,
                "method": { "type": "string", "enum": ["lemke_howson", "support_enumeration", "vertex_enumeration"] } },
                "required": ["row", "col"], "additionalProperties": false }),
    )
}

/// `propose`: a decision of the swarm's voters, with the certificate that proves it,
/// over `client`.
pub fn propose(client: ConsensusClient) -> FnTool {
    FnTool::new(propose_spec(), move |arguments, ctx: ToolContext| {
        let client = client.clone();
        async move {
            let body: ProposeBody = parse(arguments)?;
            to_json(&client.decide(body.into_request(), ctx.options()).await?)
        }
    })
}

fn propose_spec() -> ToolSpec {
    spec(
        "propose",
        "Asks the swarm's voters to decide on a proposal; answers the decision (commit or reject) with its signed certificate.",
        json!({ "type": "object", "properties": { "payload": { "type": "object" } },
                "required": ["payload"], "additionalProperties": false }),
    )
}

/// Where an agent's memory lives: a collection of the vector service (made on first
/// write, cosine, `dimension` long — the embedding model's).
#[derive(Clone)]
pub struct Memory {
    /// The vector service (its `embed` turns texts into vectors).
    pub client: VectorClient,
    /// The collection.
    pub collection: String,
    /// The embeddings' length.
    pub dimension: usize,
}

/// `remember`: writes a note to the agent's `memory`.
pub fn remember(memory: Memory) -> FnTool {
    let memory = Arc::new(memory);
    FnTool::new(remember_spec(), move |arguments, ctx: ToolContext| {
        let m = memory.clone();
        async move {
            let text = arguments["text"].as_str().unwrap_or_default().to_string();
            let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
            let point = || PointInput {
                id: PointId::Uuid(id),
                vector: VectorInput::Text(text.clone()),
                payload: json!({ "text": text }),
            };
            let written = m
                .client
                .upsert(m.collection.clone(), vec![point()], ctx.options())
                .await;
            if let Err(SwarmError::NotFound(_)) = written {
                let config = CollectionConfig {
                    dimension: m.dimension,
                    distance: Metric::Cosine,
                    hnsw: HnswParams::default(),
                };
                // Two first writes may race to create it: "exists" is as good.
                let _ = m
                    .client
                    .create(m.collection.clone(), config, ctx.options())
                    .await;
                m.client
                    .upsert(m.collection.clone(), vec![point()], ctx.options())
                    .await?;
            } else {
                written?;
            }
            Ok(json!({ "remembered": id.to_string() }))
        }
    })
}

fn remember_spec() -> ToolSpec {
    spec(
        "remember",
        "Stores a note in long-term memory, to be found later by meaning.",
        json!({ "type": "object", "properties": { "text": { "type": "string", "minLength": 1 } },
                "required": ["text"], "additionalProperties": false }),
    )
}

/// `search_memory`: the notes in `memory` nearest in meaning to a query, at most `limit`.
pub fn search_memory(memory: Memory, limit: usize) -> FnTool {
    let memory = Arc::new(memory);
    let limit = limit.max(1);
    FnTool::new(search_memory_spec(), move |arguments, ctx: ToolContext| {
        let m = memory.clone();
        async move {
            let query = arguments["query"].as_str().unwrap_or_default().to_string();
            let search = SearchQuery {
                limit,
                with_payload: true,
                ..SearchQuery::default()
            };
            let hits = match m
                .client
                .search(m.collection.clone(), search, Some(query), ctx.options())
                .await
            {
                Ok(hits) => hits,
                // Nothing remembered yet.
                Err(SwarmError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            let notes: Vec<Value> = hits
                .iter()
                .map(|h| json!({ "text": h.payload.as_ref().and_then(|p| p.get("text")).cloned().unwrap_or(Value::Null), "score": h.score }))
                .collect();
            Ok(json!({ "notes": notes }))
        }
    })
}

fn search_memory_spec() -> ToolSpec {
    spec(
        "search_memory",
        "Finds the stored notes closest in meaning to a query.",
        json!({ "type": "object", "properties": { "query": { "type": "string", "minLength": 1 } },
                "required": ["query"], "additionalProperties": false }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_schemas_are_valid_tool_specs() {
        for s in [
            solve_game_spec(),
            propose_spec(),
            remember_spec(),
            search_memory_spec(),
        ] {
            ToolSpec::new(&s.name, &s.description, Some(s.parameters.clone())).unwrap();
            let schema = jsonschema::validator_for(&s.parameters).unwrap();
            assert!(!schema.is_valid(&json!({ "unexpected": 1 })), "{}", s.name);
        }
        let game = json!({ "row": [[1, 0], [0, 1]], "col": [[1, 0], [0, 1]] });
        assert!(
            jsonschema::validator_for(&solve_game_spec().parameters)
                .unwrap()
                .is_valid(&game)
        );
    }
}
