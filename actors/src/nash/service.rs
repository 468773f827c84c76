//! The actor shell: a validated request in, a [`Solution`] out. Solving is CPU-bound, so
//! it runs on tokio's blocking pool with a budget that ends at the request's deadline
//! (and is cancelled if the caller goes away).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use swarm_runtime::{Registry, RequestContext, Service, ServiceError};

use crate::http::HttpApi;

use super::core::{Budget, Game, Method, NashError, Options, Solution, solve};

/// A game to solve, already validated.
#[derive(Debug, Clone)]
pub struct NashRequest {
    /// The game.
    pub game: Arc<Game>,
    /// The method.
    pub method: Method,
    /// Method options.
    pub options: Options,
}

/// The Nash service's params (it takes none), for the Rust builder.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct NashParams;

impl swarm_runtime::topology::ServiceParams for NashParams {
    const TYPE: &'static str = "nash";
}

/// The Nash solver service (stateless).
#[derive(Debug, Default)]
pub struct NashService;

impl From<NashError> for ServiceError {
    fn from(e: NashError) -> Self {
        match e {
            NashError::DeadlineExceeded => ServiceError::Timeout(e.to_string()),
            other => ServiceError::InvalidRequest(other.to_string()),
        }
    }
}

/// Cancels the blocking work when the handler's future is dropped.
struct CancelOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Service for NashService {
    type Request = NashRequest;
    type Response = Solution;

    async fn handle(
        &mut self,
        req: NashRequest,
        ctx: &RequestContext,
    ) -> Result<Solution, ServiceError> {
        let budget = Budget::until(ctx.deadline.into_std());
        let _cancel = CancelOnDrop(budget.cancel_flag());
        let work =
            tokio::task::spawn_blocking(move || solve(&req.game, req.method, req.options, &budget));
        match work.await {
            Ok(result) => result.map_err(ServiceError::from),
            Err(e) => Err(ServiceError::Internal(format!("solver task failed: {e}"))),
        }
    }
}

/// Registers service type `nash` (no params) with its route.
pub fn register(registry: &mut Registry) {
    registry
        .service::<NashService, _>("nash", |_params| Some(Arc::new(|| Ok(NashService))))
        .remote()
        .expose(HttpApi::new(super::api::routes));
}
