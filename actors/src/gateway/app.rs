//! The router and its middleware, outermost first: trace span named by the matched route
//! (continuing an incoming `traceparent`) and limits in the request's extensions → auth
//! (on everything but `/health`, unknown routes included) → body limit → the service's
//! handler. The gateway names
//! no service: it mounts the [`HttpApi`] of every service that has one.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use swarm_runtime::{Swarm, SwarmError, telemetry};
use tracing::Instrument;

use super::auth::ApiKeys;
use super::config::GatewayConfig;
use super::routes;
use crate::http::{ApiError, AppliedBodyLimit, HttpApi, Limits, Unsampled};

/// What the gateway's own routes (`/health`, `/metrics`) and its auth layer reach. One
/// `Arc`: axum clones route state per request.
#[derive(Clone)]
pub struct GatewayState(Arc<GatewayParts>);

/// The parts of [`GatewayState`].
pub struct GatewayParts {
    pub(crate) swarm: Swarm,
    pub(crate) config: GatewayConfig,
    pub(crate) keys: ApiKeys,
}

impl std::ops::Deref for GatewayState {
    type Target = GatewayParts;
    fn deref(&self) -> &GatewayParts {
        &self.0
    }
}

impl GatewayState {
    /// State for a gateway in front of `swarm`.
    pub fn new(swarm: Swarm, config: GatewayConfig, keys: ApiKeys) -> Self {
        Self(Arc::new(GatewayParts {
            swarm,
            config,
            keys,
        }))
    }

    fn limits(&self) -> Limits {
        Limits {
            request_timeout: self.config.request_timeout,
            body_limit: self.config.body_limit,
            upload_limit: self.config.upload_limit,
            points_limit: self.config.points_limit,
        }
    }
}

/// The gateway's router; tests call it without a socket. Fails when two services'
/// routes collide.
pub fn app(state: GatewayState) -> Result<Router, SwarmError> {
    let limits = state.limits();
    let mut protected = Router::new()
        .route("/metrics", get(routes::metrics))
        .with_state(state.clone());
    for service in state.swarm.services() {
        let Some(api) = state.swarm.attachment::<HttpApi>(&service.name) else {
            continue;
        };
        let routes = api.router(&state.swarm, &service.name, &limits)?;
        let prefix = service.route_prefix.clone();
        // axum panics on overlapping routes; a collision becomes a start-up error instead.
        protected = std::panic::catch_unwind(AssertUnwindSafe(move || match prefix {
            Some(p) => protected.nest(&p, routes),
            None => protected.merge(routes),
        }))
        .map_err(|_| {
            SwarmError::Unavailable(format!(
                "the routes of service `{}` collide with routes already mounted; give it a `route_prefix`",
                service.name
            ))
        })?;
    }
    let body_limit = usize::try_from(limits.body_limit).unwrap_or(usize::MAX);
    let keys_enabled = state.keys.enabled();
    let router = Router::new()
        .route("/health", get(routes::health))
        .with_state(state.clone())
        .merge(protected)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit));
    // With keys, everything but /health needs one — unknown routes too (401 before 404,
    // so the API's shape is not probed without a key). Without keys: no layer, no cost.
    let router = if keys_enabled {
        router.layer(middleware::from_fn_with_state(state, require_key))
    } else {
        router
    };
    Ok(router.layer(middleware::from_fn_with_state(limits, trace_request)))
}

/// Opens the request's span (when sampled) and puts the gateway's limits in its
/// extensions.
async fn trace_request(State(limits): State<Limits>, mut request: Request, next: Next) -> Response {
    let extensions = request.extensions_mut();
    extensions.insert(limits);
    extensions.insert(AppliedBodyLimit(limits.body_limit));
    // The matched route keeps span names few (`PUT /v1/collections/{name}/points`);
    // the raw path stays an attribute.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched route", MatchedPath::as_str);
    let method = request.method();
    let span = tracing::info_span!("gateway", otel.name = %format!("{method} {route}"),
        otel.kind = "server", http.request.method = %method, http.route = %route,
        url.path = %request.uri().path(), http.response.status_code = tracing::field::Empty);
    if let Some(tp) = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        telemetry::set_remote_parent(&span, tp);
    }
    // The sampler decides once, here; an unsampled request records no span anywhere.
    if !telemetry::records(&span) {
        request.extensions_mut().insert(Unsampled);
        return next.run(request).await;
    }
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

async fn require_key(State(state): State<GatewayState>, request: Request, next: Next) -> Response {
    let open = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == "/health");
    if open || !state.keys.enabled() {
        return next.run(request).await;
    }
    // The scheme is case-insensitive (RFC 7235): `bearer`, `Bearer`, `BEARER`. Qdrant's
    // clients send the key as `api-key` instead.
    let headers = request.headers();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .or_else(|| {
            headers
                .get("api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        });
    match presented {
        Some(key) if state.keys.accepts(key.as_bytes()) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}
