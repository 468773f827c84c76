//! `POST /v1/nash/solve`: `{"row": [[…]], "col": [[…]], "method": "…", …}` →
//! `{"equilibria": [{"row", "col", "payoffs"}], "degenerate", "method"}`.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::client::NashClient;
use super::core::{Game, Method, Options, Solution};
use super::service::NashRequest;
use crate::http::{ApiError, Call, Limits, ValidJson};

/// The JSON body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolveBody {
    /// Row player's payoffs.
    pub row: Vec<Vec<f64>>,
    /// Column player's payoffs.
    pub col: Vec<Vec<f64>>,
    /// The method (default `lemke_howson`).
    #[serde(default = "default_method")]
    pub method: Method,
    /// Lemke–Howson's initial label.
    #[serde(default)]
    pub initial_label: Option<usize>,
    /// Learning methods' iteration budget.
    #[serde(default)]
    pub iterations: Option<usize>,
    /// Learning methods' target epsilon.
    #[serde(default)]
    pub epsilon: Option<f64>,
}

fn default_method() -> Method {
    Method::LemkeHowson
}

/// Largest game accepted over HTTP, per side.
pub const MAX_STRATEGIES: usize = 1_000;

impl SolveBody {
    /// Validates the body into a request.
    pub fn into_request(self) -> Result<NashRequest, String> {
        if self.row.len() > MAX_STRATEGIES
            || self.row.first().is_some_and(|r| r.len() > MAX_STRATEGIES)
        {
            return Err(format!(
                "games are limited to {MAX_STRATEGIES} strategies per player"
            ));
        }
        let game = Game::new(&self.row, &self.col).map_err(|e| e.to_string())?;
        let defaults = Options::default();
        Ok(NashRequest {
            game: Arc::new(game),
            method: self.method,
            options: Options {
                initial_label: self.initial_label.unwrap_or(defaults.initial_label),
                iterations: self.iterations.unwrap_or(defaults.iterations),
                epsilon: self.epsilon.unwrap_or(defaults.epsilon),
            },
        })
    }
}

/// `POST /v1/nash/solve`.
pub fn routes(client: NashClient, _limits: &Limits) -> Router {
    Router::new()
        .route("/v1/nash/solve", post(solve))
        .with_state(client)
}

async fn solve(
    State(client): State<NashClient>,
    Call(options): Call,
    ValidJson(body): ValidJson<SolveBody>,
) -> Result<Json<Solution>, ApiError> {
    let request = body.into_request().map_err(ApiError::invalid)?;
    Ok(Json(client.solve(request, options).await?))
}
