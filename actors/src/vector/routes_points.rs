//! The point routes under `/v1/collections/{name}/points`: writes, reads, searches and
//! payload updates, each answered in Qdrant's envelope.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::api::{
    BatchBody, CountBody, DeleteBody, DeletePayloadBody, ParsedSearch, PayloadSelector, QueryBody,
    RetrieveBody, ScrollBody, SearchBody, SelectorBody, SetPayloadBody, UpsertBody, envelope,
    record_body, scored_body,
};
use super::client::VectorClient;
use super::core::{PayloadChange, PointId, ScoredPoint};
use super::routes::{Answer, updated};
use super::service::PointSelector;
use crate::http::{ApiError, Call, ValidJson};
use swarm_runtime::CallOptions;

/// `PUT /v1/collections/{name}/points`.
pub(super) async fn upsert(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<UpsertBody>,
) -> Answer {
    let started = Instant::now();
    let points = body.into_points().map_err(ApiError::invalid)?;
    let n = client.upsert(name, points, options).await?;
    Ok(updated(serde_json::json!({ "points": n }), started))
}

/// `POST /v1/collections/{name}/points` (Qdrant's `retrieve`): the points with these
/// ids that exist, in the order asked.
pub(super) async fn retrieve(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<RetrieveBody>,
) -> Answer {
    let started = Instant::now();
    let (ids, payload, with_vector) = body.parse().map_err(ApiError::invalid)?;
    let records: Vec<Value> = client
        .retrieve(name, ids, options)
        .await?
        .iter()
        .map(|r| record_body(r, &payload, with_vector))
        .collect();
    Ok(Json(envelope(records, started)))
}

/// `POST /v1/collections/{name}/points/scroll`: a page in id order and the id the next
/// page starts at (`null` after the last).
pub(super) async fn scroll(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<ScrollBody>,
) -> Answer {
    let started = Instant::now();
    let (query, payload, with_vector) = body.parse().map_err(ApiError::invalid)?;
    let page = client.scroll(name, query, options).await?;
    let points: Vec<Value> = page
        .records
        .iter()
        .map(|r| record_body(r, &payload, with_vector))
        .collect();
    Ok(Json(envelope(
        serde_json::json!({ "points": points, "next_page_offset": page.next }),
        started,
    )))
}

/// Runs parsed searches as one batch; the hits of each, in Qdrant's shape.
async fn run(
    client: &VectorClient,
    name: String,
    searches: Vec<ParsedSearch>,
    options: CallOptions,
) -> Result<Vec<Vec<Value>>, ApiError> {
    let (queries, selectors): (Vec<_>, Vec<PayloadSelector>) = searches
        .into_iter()
        .map(|s| ((s.query, s.near), s.payload))
        .unzip();
    let lists = client.search_batch(name, queries, options).await?;
    Ok(lists
        .iter()
        .zip(&selectors)
        .map(|(hits, payload): (&Vec<ScoredPoint>, _)| {
            hits.iter().map(|h| scored_body(h, payload)).collect()
        })
        .collect())
}

/// `POST /v1/collections/{name}/points/search`: a list of hits.
pub(super) async fn search(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<SearchBody>,
) -> Answer {
    let started = Instant::now();
    let search = body.parse().map_err(ApiError::invalid)?;
    let hits = run(&client, name, vec![search], options).await?;
    Ok(Json(envelope(hits.into_iter().next(), started)))
}

/// `POST /v1/collections/{name}/points/search/batch`: a list of hit lists.
pub(super) async fn search_batch(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<BatchBody<SearchBody>>,
) -> Answer {
    let started = Instant::now();
    let searches = body.parse(SearchBody::parse).map_err(ApiError::invalid)?;
    Ok(Json(envelope(
        run(&client, name, searches, options).await?,
        started,
    )))
}

/// `POST /v1/collections/{name}/points/query`: `{"points": hits}`.
pub(super) async fn query(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<QueryBody>,
) -> Answer {
    let started = Instant::now();
    let search = body.parse().map_err(ApiError::invalid)?;
    let hits = run(&client, name, vec![search], options).await?;
    let points = hits.into_iter().next().unwrap_or_default();
    Ok(Json(envelope(
        serde_json::json!({ "points": points }),
        started,
    )))
}

/// `POST /v1/collections/{name}/points/query/batch`: `[{"points": hits}, …]`.
pub(super) async fn query_batch(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<BatchBody<QueryBody>>,
) -> Answer {
    let started = Instant::now();
    let searches = body.parse(QueryBody::parse).map_err(ApiError::invalid)?;
    let answers: Vec<Value> = run(&client, name, searches, options)
        .await?
        .into_iter()
        .map(|points| serde_json::json!({ "points": points }))
        .collect();
    Ok(Json(envelope(answers, started)))
}

/// `POST /v1/collections/{name}/points/delete`.
pub(super) async fn delete(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<DeleteBody>,
) -> Answer {
    let started = Instant::now();
    let selector = body.into_selector().map_err(ApiError::invalid)?;
    let n = client.delete(name, selector, options).await?;
    Ok(updated(serde_json::json!({ "deleted": n }), started))
}

/// Applies a payload change and answers Qdrant's `UpdateResult`.
async fn change(
    client: VectorClient,
    name: String,
    options: CallOptions,
    parsed: Result<(PointSelector, PayloadChange), String>,
) -> Answer {
    let started = Instant::now();
    let (selector, change) = parsed.map_err(ApiError::invalid)?;
    let n = client
        .change_payload(name, selector, change, options)
        .await?;
    Ok(updated(serde_json::json!({ "changed": n }), started))
}

/// `POST /v1/collections/{name}/points/payload` (`set_payload`: merge keys).
pub(super) async fn set_payload(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<SetPayloadBody>,
) -> Answer {
    change(client, name, options, body.into_change(false)).await
}

/// `PUT /v1/collections/{name}/points/payload` (`overwrite_payload`).
pub(super) async fn overwrite_payload(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<SetPayloadBody>,
) -> Answer {
    change(client, name, options, body.into_change(true)).await
}

/// `POST /v1/collections/{name}/points/payload/delete` (remove keys).
pub(super) async fn delete_payload(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<DeletePayloadBody>,
) -> Answer {
    change(client, name, options, body.into_change()).await
}

/// `POST /v1/collections/{name}/points/payload/clear`.
pub(super) async fn clear_payload(
    State(client): State<VectorClient>,
    Path(name): Path<String>,
    Call(options): Call,
    ValidJson(body): ValidJson<SelectorBody>,
) -> Answer {
    let parsed = body.into_selector().map(|s| (s, PayloadChange::Clear));
    change(client, name, options, parsed).await
}

/// `POST /v1/collections/{name}/points/count`.
pub(super) async fn count(
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
pub(super) async fn get_point(
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
