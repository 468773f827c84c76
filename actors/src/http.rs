//! The seam between services and the HTTP gateway. A service type exposes its routes by
//! attaching an [`HttpApi`] when it registers (`registry.service(..).expose(HttpApi::new(routes))`);
//! the gateway mounts the routes of every configured service of such a type, under the
//! service's `route_prefix` when it has one, and names no service itself. Handlers use
//! the extractors here ([`Call`], [`ValidJson`], [`RawBody`]) and answer errors as
//! [`ApiError`]; they reach their service through a typed [`ServiceClient`].

mod error;
mod extract;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::MethodRouter;
use swarm_runtime::{Client, Service, Swarm, SwarmError};

pub use error::{ApiError, status_of};
pub(crate) use extract::{AppliedBodyLimit, Unsampled};
pub use extract::{Call, Limits, RawBody, ValidJson, ValidQuery, parse_json};

/// A typed client of one service: what routes and Rust apps call.
pub trait ServiceClient: Clone + Send + Sync + Sized + 'static {
    /// The service it speaks to.
    type Service: Service;

    /// Wraps the runtime's client.
    fn from_client(client: Client<Self::Service>) -> Self;

    /// The client of service `name` in `swarm`; an error when the swarm has no service of
    /// that name, or one of another type.
    fn of(swarm: &Swarm, name: &str) -> Result<Self, SwarmError> {
        swarm.client::<Self::Service>(name).map(Self::from_client)
    }
}

impl<S: Service> ServiceClient for Client<S> {
    type Service = S;

    fn from_client(client: Client<S>) -> Self {
        client
    }
}

type Mount = dyn Fn(&Swarm, &str, &Limits) -> Result<Router, SwarmError> + Send + Sync;

/// A service type's HTTP routes: a function from the service's typed client (and the
/// gateway's limits) to an axum router with its state applied.
#[derive(Clone)]
pub struct HttpApi {
    mount: Arc<Mount>,
}

impl HttpApi {
    /// Routes built by `routes` from the client of each service of this type.
    pub fn new<C, F>(routes: F) -> Self
    where
        C: ServiceClient,
        F: Fn(C, &Limits) -> Router + Send + Sync + 'static,
    {
        Self {
            mount: Arc::new(move |swarm, name, limits| Ok(routes(C::of(swarm, name)?, limits))),
        }
    }

    /// Routes built by `routes` from each service's typed client and its name (for
    /// types whose routes name the service, such as `/v1/agents/{name}/runs`).
    pub fn named<C, F>(routes: F) -> Self
    where
        C: ServiceClient,
        F: Fn(C, &str, &Limits) -> Router + Send + Sync + 'static,
    {
        Self {
            mount: Arc::new(move |swarm, name, limits| {
                Ok(routes(C::of(swarm, name)?, name, limits))
            }),
        }
    }

    /// The router for service `name` of `swarm`.
    pub(crate) fn router(
        &self,
        swarm: &Swarm,
        name: &str,
        limits: &Limits,
    ) -> Result<Router, SwarmError> {
        (self.mount)(swarm, name, limits)
    }
}

/// `route` with the gateway's upload limit instead of its body limit (model updates).
pub fn upload_limited<S>(route: MethodRouter<S>, limits: &Limits) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    limited(route, limits.upload_limit)
}

/// `route` with a body limit of its own, `bytes` (point batches take the gateway's
/// `points_limit`).
pub fn limited<S>(route: MethodRouter<S>, bytes: u64) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    route
        .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(
            usize::try_from(bytes).unwrap_or(usize::MAX),
        ))
        .layer::<_, std::convert::Infallible>(axum::Extension(AppliedBodyLimit(bytes)))
}
