//! `/v1/collections/…`: Qdrant's REST API for what the swarm supports, over the typed
//! [`VectorClient`]. Texts in points and queries travel to the service, which embeds them
//! in the same request (and trace). Errors here carry Qdrant's `status.error` too (see
//! [`super::qdrant_error`]).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::routing::{any, delete, get, post, put};
use axum::{Json, Router};
use serde_json::Value;

use super::api::{CreateBody, IndexBody, envelope, info_body};
use super::client::VectorClient;
use super::qdrant_error::{method_not_allowed, not_supported, qdrant_shape};
use super::routes_points as points;
use crate::http::{ApiError, Call, Limits, ValidJson, limited};

/// A JSON answer or an error.
pub(super) type Answer = Result<Json<Value>, ApiError>;

/// The collection and point routes (point batches under the gateway's `points_limit`).
pub fn routes(client: VectorClient, limits: &Limits) -> Router {
    let batch = |route| limited(route, limits.points_limit);
    Router::new()
        .route("/v1/collections", get(list))
        .route(
            "/v1/collections/{name}",
            put(create)
                .get(info)
                .delete(drop)
                .fallback(method_not_allowed),
        )
        .route("/v1/collections/{name}/exists", get(exists))
        .route("/v1/collections/{name}/index", put(create_index))
        .route("/v1/collections/{name}/index/{field}", delete(drop_index))
        .route(
            "/v1/collections/{name}/points",
            batch(put(points::upsert).post(points::retrieve)),
        )
        .route("/v1/collections/{name}/points/search", post(points::search))
        .route(
            "/v1/collections/{name}/points/search/batch",
            batch(post(points::search_batch)),
        )
        .route("/v1/collections/{name}/points/query", post(points::query))
        .route(
            "/v1/collections/{name}/points/query/batch",
            batch(post(points::query_batch)),
        )
        .route("/v1/collections/{name}/points/scroll", post(points::scroll))
        .route("/v1/collections/{name}/points/delete", post(points::delete))
        .route("/v1/collections/{name}/points/count", post(points::count))
        .route(
            "/v1/collections/{name}/points/payload",
            batch(post(points::set_payload).put(points::overwrite_payload)),
        )
        .route(
            "/v1/collections/{name}/points/payload/delete",
            post(points::delete_payload),
        )
        .route(
            "/v1/collections/{name}/points/payload/clear",
            post(points::clear_payload),
        )
        .route(
            "/v1/collections/{name}/points/{id}",
            get(points::get_point).fallback(not_supported),
        )
        .route("/v1/collections/{name}/{*rest}", any(not_supported))
        .with_state(client)
        .layer(axum::middleware::map_response(qdrant_shape))
}

/// Qdrant's `UpdateResult` (`status: completed`: every write here is applied before it
/// is answered, `wait` or not), with the swarm's counts beside it.
pub(super) fn updated(extra: Value, started: Instant) -> Json<Value> {
    let mut result = serde_json::json!({ "operation_id": null, "status": "completed" });
    if let (Some(r), Value::Object(more)) = (result.as_object_mut(), extra) {
        r.extend(more);
    }
    Json(envelope(result, started))
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

/// `PUT /v1/collections/{name}/index`: accepted for an existing collection and changes
/// nothing (filters read payloads directly; there is no payload index to build).
async fn create_index(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<IndexBody>,
) -> Answer {
    let started = Instant::now();
    if body.field_name.is_empty() {
        return Err(ApiError::invalid("`field_name` must not be empty"));
    }
    client.info(name, options).await?;
    Ok(updated(Value::Null, started))
}

/// `DELETE /v1/collections/{name}/index/{field}`: as [`create_index`].
async fn drop_index(
    State(client): State<VectorClient>,
    Path((name, _field)): Path<(String, String)>,
    Call(options): Call,
) -> Answer {
    let started = Instant::now();
    client.info(name, options).await?;
    Ok(updated(Value::Null, started))
}
