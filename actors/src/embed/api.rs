//! `POST /v1/embeddings`, compatible with OpenAI's API: `input` as a string or a list of
//! strings; `encoding_format` `float` (default) or `base64` (little-endian float32, what
//! the official clients ask for); the answer is a `list` of `embedding` objects with usage.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::EmbedClient;
use super::service::{EmbedRequest, EmbedResponse};
use crate::http::{ApiError, Call, Limits, ValidJson};

/// The request body (OpenAI's fields; `dimensions` is accepted only at the model's size).
#[derive(Debug, Deserialize)]
pub struct EmbeddingsBody {
    /// A string or a list of strings.
    pub input: Value,
    /// Model name (informational: the service's model answers).
    #[serde(default)]
    pub model: Option<String>,
    /// `float` or `base64`.
    #[serde(default)]
    pub encoding_format: Option<String>,
    /// Requested dimensions (must equal the model's, 384, when given).
    #[serde(default)]
    pub dimensions: Option<usize>,
    /// End-user id (accepted, unused).
    #[serde(default)]
    pub user: Option<String>,
}

/// How vectors are encoded in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON numbers.
    Float,
    /// Base64 of little-endian float32.
    Base64,
}

impl EmbeddingsBody {
    /// Validates into a request and the wanted encoding.
    pub fn into_request(self, dimension: usize) -> Result<(EmbedRequest, Encoding), String> {
        let inputs = match self.input {
            Value::String(s) => vec![s],
            Value::Array(items) if !items.is_empty() => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err("input must be a string or a list of strings (token-id input is not supported)".to_string()),
                })
                .collect::<Result<_, _>>()?,
            Value::Array(_) => return Err("input must not be empty".into()),
            _ => return Err("input must be a string or a list of strings".into()),
        };
        let encoding = match self.encoding_format.as_deref() {
            None | Some("float") => Encoding::Float,
            Some("base64") => Encoding::Base64,
            Some(other) => {
                return Err(format!(
                    "encoding_format must be float or base64, not `{other}`"
                ));
            }
        };
        if let Some(d) = self.dimensions
            && d != dimension
        {
            return Err(format!(
                "this model returns {dimension} dimensions; `dimensions` {d} is not supported"
            ));
        }
        Ok((EmbedRequest { inputs }, encoding))
    }
}

/// The OpenAI-shaped answer.
pub fn response_body(r: &EmbedResponse, encoding: Encoding) -> Value {
    let data: Vec<Value> = r
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = match encoding {
                Encoding::Float => json!(v),
                Encoding::Base64 => {
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": &*r.model,
        "usage": {"prompt_tokens": r.tokens, "total_tokens": r.tokens},
    })
}

/// all-MiniLM-L6-v2's vector length.
const DIMENSION: usize = 384;

/// `POST /v1/embeddings` (OpenAI-compatible).
pub fn routes(client: EmbedClient, _limits: &Limits) -> Router {
    Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(client)
}

async fn embeddings(
    State(client): State<EmbedClient>,
    Call(options): Call,
    ValidJson(body): ValidJson<EmbeddingsBody>,
) -> Result<Json<Value>, ApiError> {
    let (request, encoding) = body.into_request(DIMENSION).map_err(ApiError::invalid)?;
    let response = client.embed(request.inputs, options).await?;
    Ok(Json(response_body(&response, encoding)))
}
