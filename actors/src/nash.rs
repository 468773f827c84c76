//! The Nash solver service: agents negotiating pose a bimatrix game; the solver answers
//! with equilibria. `core` is pure (tested and benchmarked without actors); `service` is
//! the actor shell on the runtime; `client` its typed client; `api` the HTTP route.

pub mod api;
pub mod client;
pub mod core;
pub mod service;
pub mod wire;

pub use client::NashClient;
pub use service::{NashParams, NashRequest, NashService};
