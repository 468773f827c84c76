//! Errors on the collections routes in Qdrant's shape as well as the swarm's: the body
//! `{"error": {"code", "message"}}` gains `"status": {"error": message}` and `"time"`,
//! which is what Qdrant answers and its clients show. Only error answers are rewritten,
//! and only JSON ones small enough to be error bodies.

use axum::body::{Body, to_bytes};
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::http::ApiError;

/// Largest error body rewritten; anything larger passes unchanged.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Adds Qdrant's `status.error` to an error answer.
pub(super) async fn qdrant_shape(response: Response) -> Response {
    if response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        // Unreadable or oversized: the status still says what happened.
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    };
    let rewritten = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|mut json| {
            let message = json.pointer("/error/message")?.as_str()?.to_string();
            json["status"] = serde_json::json!({ "error": message });
            json["time"] = serde_json::json!(0.0);
            serde_json::to_vec(&json).ok()
        });
    match rewritten {
        Some(new) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(new))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// Any other path under a collection: a Qdrant operation the swarm does not serve
/// (recommend, discover, groups, facets, snapshots, aliases, …), answered 404 naming it.
pub(super) async fn not_supported(method: Method, uri: Uri) -> Response {
    ApiError::BadRequest {
        code: swarm_runtime::ErrorCode::NotFound,
        message: format!(
            "{method} {} is not supported by the swarm's Qdrant-compatible API (see the README's table of Qdrant operations)",
            uri.path()
        ),
    }
    .into_response()
}

/// A collection route asked with a method it does not take (e.g. Qdrant's `PATCH` to
/// update a collection's settings), answered here so that it carries Qdrant's shape.
pub(super) async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}
