//! The Nash solver service: agents negotiating pose a bimatrix game; the solver answers
//! with equilibria. `core` is pure (tested and benchmarked without actors); `service` is
//! the actor shell on the runtime; `api` is the HTTP route.

pub mod api;
pub mod core;
pub mod service;

pub use service::{NashRequest, NashService};
