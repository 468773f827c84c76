//! The router and its middleware, in order: trace span (continuing an incoming
//! `traceparent`) → auth (on everything but `/health`) → body limit → handler.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use swarm_runtime::{Client, Swarm, telemetry};
use tracing::Instrument;

use super::auth::ApiKeys;
use super::config::GatewayConfig;
use super::error::ApiError;
use super::{routes, vector_routes as vr};
use crate::consensus::ConsensusService;
use crate::echo::Echo;
use crate::embed::EmbedService;
use crate::fl::FlService;
use crate::nash::NashService;
use crate::vector::VectorService;

/// What every handler can reach.
#[derive(Clone)]
pub struct GatewayState {
    pub(crate) swarm: Swarm,
    pub(crate) config: Arc<GatewayConfig>,
    pub(crate) keys: Arc<ApiKeys>,
    pub(crate) echo: Option<Client<Echo>>,
    pub(crate) nash: Option<Client<NashService>>,
    pub(crate) fl: Option<Client<FlService>>,
    pub(crate) consensus: Option<Client<ConsensusService>>,
    pub(crate) embed: Option<Client<EmbedService>>,
    pub(crate) vector: Option<Client<VectorService>>,
}

impl GatewayState {
    /// State for a gateway in front of `swarm`.
    pub fn new(swarm: Swarm, config: GatewayConfig, keys: ApiKeys) -> Self {
        Self {
            echo: swarm.client_of_type("echo"),
            nash: swarm.client_of_type("nash"),
            fl: swarm.client_of_type("fl"),
            consensus: swarm.client_of_type("consensus"),
            embed: swarm.client_of_type("embed"),
            vector: swarm.client_of_type("vector"),
            swarm,
            config: Arc::new(config),
            keys: Arc::new(keys),
        }
    }
}

/// The gateway's router; tests call it without a socket.
pub fn app(state: GatewayState) -> Router {
    let body_limit = usize::try_from(state.config.body_limit).unwrap_or(usize::MAX);
    let upload_limit = usize::try_from(state.config.upload_limit).unwrap_or(usize::MAX);
    let protected = Router::new()
        .route("/metrics", get(routes::metrics))
        .route("/v1/echo", post(routes::echo))
        .route("/v1/nash/solve", post(routes::nash_solve))
        .route("/v1/embeddings", post(routes::embeddings))
        .route("/v1/consensus/proposals", post(routes::consensus_propose))
        .route("/v1/consensus/voters", get(routes::consensus_voters))
        .route("/v1/consensus/verify", post(routes::consensus_verify))
        .route("/v1/fl/rounds", post(routes::fl_open))
        .route("/v1/fl/rounds/{id}", get(routes::fl_get))
        .route(
            "/v1/fl/rounds/{id}/updates",
            post(routes::fl_submit).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/v1/collections", get(vr::list))
        .route(
            "/v1/collections/{name}",
            put(vr::create).get(vr::info).delete(vr::drop),
        )
        .route(
            "/v1/collections/{name}/points",
            put(vr::upsert).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/v1/collections/{name}/points/search", post(vr::search))
        .route("/v1/collections/{name}/points/delete", post(vr::delete))
        .route("/v1/collections/{name}/points/count", post(vr::count))
        .route("/v1/collections/{name}/points/{id}", get(vr::get_point))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .route("/health", get(routes::health))
        .merge(protected)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(trace_request))
        .with_state(state)
}

async fn trace_request(request: Request, next: Next) -> Response {
    let route = request.uri().path().to_string();
    let span = tracing::info_span!("gateway", otel.name = %format!("{} {route}", request.method()),
        otel.kind = "server", http.request.method = %request.method(), url.path = %route,
        http.response.status_code = tracing::field::Empty);
    if let Some(tp) = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        telemetry::set_remote_parent(&span, tp);
    }
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

async fn require_key(State(state): State<GatewayState>, request: Request, next: Next) -> Response {
    if !state.keys.enabled() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(key) if state.keys.accepts(key.as_bytes()) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}
