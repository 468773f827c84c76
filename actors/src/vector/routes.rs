//! `/v1/collections/…`: Qdrant-shaped vector search over the typed [`VectorClient`].
//! Texts in points and queries travel to the service, which embeds them in the same
//! request (and trace).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::Value;

use super::api::{
    CountBody, CreateBody, DeleteBody, RetrieveBody, SearchBody, UpsertBody, envelope, info_body,
    record_body,
};
use super::client::VectorClient;
use super::core::PointId;
use crate::http::{ApiError, Call, Limits, ValidJson, limited};

type Answer = Result<Json<Value>, ApiError>;

/// The collection and point routes (point batches under the gateway's `points_limit`).
pub fn routes(client: VectorClient, limits: &Limits) -> Router {
    Router::new()
        .route("/v1/collections", get(list))
        .route("/v1/collections/{name}", put(create).get(info).delete(drop))
        .route("/v1/collections/{name}/exists", get(exists))
        .route(
            "/v1/collections/{name}/points",
            limited(put(upsert).post(retrieve), limits.points_limit),
        )
        .route("/v1/collections/{name}/points/search", post(search))
        .route("/v1/collections/{name}/points/delete", post(delete))
        .route("/v1/collections/{name}/points/count", post(count))
        .route("/v1/collections/{name}/points/{id}", get(get_point))
        .with_state(client)
}

/// `GET /v1/collections`.
async fn list(State(client): State<VectorClient>, Call(options): Call) -> Answer {
    let started = Instant::now();
    let collections: Vec<Value> = client
        .list(options)
        .await?
        .into_iter()
        .map(|n| serde_json::json!({ "name": n }))
        .collect();
    Ok(Json(envelope(
        serde_json::json!({ "collections": collections }),
        started,
    )))
}

/// `PUT /v1/collections/{name}`.
async fn create(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<CreateBody>,
) -> Answer {
    let started = Instant::now();
    let config = body.into_config().map_err(ApiError::invalid)?;
    client.create(name, config, options).await?;
    Ok(Json(envelope(true, started)))
}

/// `GET /v1/collections/{name}`.
async fn info(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
) -> Answer {
    let started = Instant::now();
    let info = client.info(name, options).await?;
    Ok(Json(envelope(info_body(&info), started)))
}

/// `GET /v1/collections/{name}/exists` (Qdrant's `collection_exists`).
async fn exists(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
) -> Answer {
    let started = Instant::now();
    let exists = client.list(options).await?.contains(&name);
    Ok(Json(envelope(
        serde_json::json!({ "exists": exists }),
        started,
    )))
}

/// `POST /v1/collections/{name}/points` (Qdrant's `retrieve`): the points with these
/// ids that exist, in the order asked.
async fn retrieve(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<RetrieveBody>,
) -> Answer {
    let started = Instant::now();
    let (ids, with_payload, with_vector) = body.parse().map_err(ApiError::invalid)?;
    let records: Vec<Value> = client
        .retrieve(name, ids, options)
        .await?
        .iter()
        .map(|r| record_body(r, with_payload, with_vector))
        .collect();
    Ok(Json(envelope(records, started)))
}

/// `DELETE /v1/collections/{name}`.
async fn drop(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
) -> Answer {
    let started = Instant::now();
    client.drop_collection(name, options).await?;
    Ok(Json(envelope(true, started)))
}

/// `PUT /v1/collections/{name}/points`.
async fn upsert(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<UpsertBody>,
) -> Answer {
    let started = Instant::now();
    let points = body.into_points().map_err(ApiError::invalid)?;
    let n = client.upsert(name, points, options).await?;
    Ok(Json(envelope(
        serde_json::json!({ "status": "completed", "points": n }),
        started,
    )))
}

/// `POST /v1/collections/{name}/points/search`.
async fn search(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<SearchBody>,
) -> Answer {
    let started = Instant::now();
    let (query, text) = body.into_query().map_err(ApiError::invalid)?;
    let hits = client.search(name, query, text, options).await?;
    Ok(Json(envelope(hits, started)))
}

/// `POST /v1/collections/{name}/points/delete`.
async fn delete(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<DeleteBody>,
) -> Answer {
    let started = Instant::now();
    let selector = body.into_selector().map_err(ApiError::invalid)?;
    let n = client.delete(name, selector, options).await?;
    Ok(Json(envelope(
        serde_json::json!({ "status": "completed", "deleted": n }),
        started,
    )))
}

/// `POST /v1/collections/{name}/points/count`.
async fn count(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<CountBody>,
) -> Answer {
    let started = Instant::now();
    let filter = body.into_filter().map_err(ApiError::invalid)?;
    let n = client.count(name, filter, options).await?;
    Ok(Json(envelope(serde_json::json!({ "count": n }), started)))
}

/// `GET /v1/collections/{name}/points/{id}`.
async fn get_point(
    State(client): State<VectorClient>,
    Path((name, id)): Path<(String, String)>,
    Call(options): Call,
) -> Answer {
    let started = Instant::now();
    let id_json = match id.parse::<u64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(id),
    };
    let id = PointId::from_json(&id_json).map_err(ApiError::invalid)?;
    let point = client.get(name, id, options).await?;
    Ok(Json(envelope(point, started)))
}
