//! The gateway's own routes: `/health` and `/metrics`. Services bring the rest.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::app::GatewayState;

/// `GET /health`: 200 when every service is healthy, else 503 with per-service detail;
/// a service on several pools lists them (device, state, breaker), and `devices` lists
/// the GPUs found at start.
pub(crate) async fn health(State(state): State<GatewayState>) -> Response {
    let checks = state.swarm.health(state.config.health_timeout).await;
    let healthy = checks.iter().all(|(_, h)| h.healthy);
    let services: serde_json::Map<String, serde_json::Value> = checks
        .into_iter()
        .map(|(name, h)| {
            let mut entry = serde_json::json!({ "healthy": h.healthy, "detail": h.detail });
            let pools = state.swarm.pools(&name);
            if !pools.is_empty() {
                entry["pools"] = serde_json::json!(pools);
            }
            (name, entry)
        })
        .collect();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "services": services,
        "devices": state.swarm.gpus(),
    });
    if let Some(cluster) = state.swarm.cluster() {
        body["cluster"] = serde_json::json!(cluster);
    }
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(state): State<GatewayState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.swarm.render_metrics(),
    )
        .into_response()
}
