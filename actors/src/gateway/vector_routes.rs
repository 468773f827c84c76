//! `/v1/collections/…`: Qdrant-shaped vector search. Texts in points and queries are
//! embedded through the embedding service first, in the same trace.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::Value;
use swarm_runtime::SwarmError;

use super::app::GatewayState;
use super::error::ApiError;
use super::routes::{ValidJson, call_options, unavailable};
use crate::embed::service::EmbedRequest;
use crate::vector::api::{
    CountBody, CreateBody, DeleteBody, SearchBody, UpsertBody, envelope, info_body, resolve,
};
use crate::vector::core::PointId;
use crate::vector::{VectorRequest, VectorResponse};

type Answer = Result<Json<Value>, ApiError>;

fn invalid(message: String) -> ApiError {
    ApiError::Swarm(SwarmError::InvalidRequest(message))
}

async fn call(
    state: &GatewayState,
    headers: &HeaderMap,
    req: VectorRequest,
) -> Result<VectorResponse, ApiError> {
    let client = state.vector.as_ref().ok_or_else(|| unavailable("vector"))?;
    Ok(client.call_with(req, call_options(state, headers)?).await?)
}

async fn embed(
    state: &GatewayState,
    headers: &HeaderMap,
    texts: Vec<String>,
) -> Result<Vec<Vec<f32>>, ApiError> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let client = state.embed.as_ref().ok_or_else(|| {
        invalid("`text` needs the embedding service, and this swarm has none; send `vector`".into())
    })?;
    let response = client
        .call_with(
            EmbedRequest { inputs: texts },
            call_options(state, headers)?,
        )
        .await?;
    Ok(response.embeddings)
}

fn unexpected() -> ApiError {
    ApiError::Swarm(SwarmError::Internal(
        "vector service answered out of shape".into(),
    ))
}

/// `GET /v1/collections`.
pub(crate) async fn list(State(state): State<GatewayState>, headers: HeaderMap) -> Answer {
    let started = Instant::now();
    let VectorResponse::Names(names) = call(&state, &headers, VectorRequest::List).await? else {
        return Err(unexpected());
    };
    let collections: Vec<Value> = names
        .into_iter()
        .map(|n| serde_json::json!({ "name": n }))
        .collect();
    Ok(Json(envelope(
        serde_json::json!({ "collections": collections }),
        started,
    )))
}

/// `PUT /v1/collections/{name}`.
pub(crate) async fn create(
    State(state): State<GatewayState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<CreateBody>,
) -> Answer {
    let started = Instant::now();
    let config = body.into_config().map_err(invalid)?;
    call(&state, &headers, VectorRequest::Create { name, config }).await?;
    Ok(Json(envelope(true, started)))
}

/// `GET /v1/collections/{name}`.
pub(crate) async fn info(
    State(state): State<GatewayState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let started = Instant::now();
    let VectorResponse::Info(info) = call(&state, &headers, VectorRequest::Info { name }).await?
    else {
        return Err(unexpected());
    };
    Ok(Json(envelope(info_body(&info), started)))
}

/// `DELETE /v1/collections/{name}`.
pub(crate) async fn drop(
    State(state): State<GatewayState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let started = Instant::now();
    call(&state, &headers, VectorRequest::Drop { name }).await?;
    Ok(Json(envelope(true, started)))
}

/// `PUT /v1/collections/{name}/points`.
pub(crate) async fn upsert(
    State(state): State<GatewayState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<UpsertBody>,
) -> Answer {
    let started = Instant::now();
    let (pending, texts) = body.split().map_err(invalid)?;
    let points = resolve(pending, embed(&state, &headers, texts).await?);
    let VectorResponse::Changed(n) =
        call(&state, &headers, VectorRequest::Upsert { name, points }).await?
    else {
        return Err(unexpected());
    };
    Ok(Json(envelope(
        serde_json::json!({ "status": "completed", "points": n }),
        started,
    )))
}

/// `POST /v1/collections/{name}/points/search`.
pub(crate) async fn search(
    State(state): State<GatewayState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<SearchBody>,
) -> Answer {
    let started = Instant::now();
    let embedded = match body.text().map_err(invalid)? {
        Some(text) => embed(&state, &headers, vec![text])
            .await?
            .into_iter()
            .next(),
        None => None,
    };
    let query = Box::new(body.into_query(embedded).map_err(invalid)?);
    let VectorResponse::Hits(hits) =
        call(&state, &headers, VectorRequest::Search { name, query }).await?
    else {
        return Err(unexpected());
    };
    Ok(Json(envelope(hits, started)))
}

/// `POST /v1/collections/{name}/points/delete`.
pub(crate) async fn delete(
    State(state): State<GatewayState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<DeleteBody>,
) -> Answer {
    let started = Instant::now();
    let selector = body.into_selector().map_err(invalid)?;
    let VectorResponse::Changed(n) =
        call(&state, &headers, VectorRequest::Delete { name, selector }).await?
    else {
        return Err(unexpected());
    };
    Ok(Json(envelope(
        serde_json::json!({ "status": "completed", "deleted": n }),
        started,
    )))
}

/// `POST /v1/collections/{name}/points/count`.
pub(crate) async fn count(
    State(state): State<GatewayState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<CountBody>,
) -> Answer {
    let started = Instant::now();
    let filter = body.into_filter().map_err(invalid)?;
    let VectorResponse::Count(n) =
        call(&state, &headers, VectorRequest::Count { name, filter }).await?
    else {
        return Err(unexpected());
    };
    Ok(Json(envelope(serde_json::json!({ "count": n }), started)))
}

/// `GET /v1/collections/{name}/points/{id}`.
pub(crate) async fn get_point(
    State(state): State<GatewayState>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let started = Instant::now();
    let id_json = match id.parse::<u64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(id),
    };
    let id = PointId::from_json(&id_json).map_err(invalid)?;
    let VectorResponse::Point(p) = call(&state, &headers, VectorRequest::Get { name, id }).await?
    else {
        return Err(unexpected());
    };
    Ok(Json(envelope(p, started)))
}
