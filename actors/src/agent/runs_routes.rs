//! `POST /v1/runs` (202 and the run), `GET /v1/runs/{id}`, `DELETE /v1/runs/{id}`
//! (cancel) and `GET /v1/runs/{id}/events` (server-sent events: everything so far,
//! then live, ending with `run_completed`, `run_failed` or `run_cancelled`).

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, StreamExt as _};
use serde::Deserialize;
use serde_json::Value;
use swarm_runtime::{CallOptions, Client, SwarmError};
use tokio::sync::broadcast;

use super::run_log::Target;
use super::runs::{RunView, RunsRequest, RunsResponse, RunsService, Status};
use crate::http::{ApiError, Call, Limits, ValidJson};

/// The body of `POST /v1/runs`: a `workflow` or an `agent`, and the `input`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The workflow to run.
    #[serde(default)]
    pub workflow: Option<String>,
    /// The agent to run.
    #[serde(default)]
    pub agent: Option<String>,
    /// The task.
    pub input: String,
}

/// The routes over the runs service's client.
pub fn routes(client: Client<RunsService>, _limits: &Limits) -> Router {
    Router::new()
        .route("/v1/runs", post(start))
        .route("/v1/runs/{id}", get(read).delete(cancel))
        .route("/v1/runs/{id}/events", get(events))
        .with_state(client)
}

async fn view(
    client: &Client<RunsService>,
    request: RunsRequest,
    options: CallOptions,
) -> Result<RunView, ApiError> {
    match client.call_with(request, options).await? {
        RunsResponse::View(v) => Ok(v),
        RunsResponse::Watch(..) => {
            Err(SwarmError::Internal("runs answered out of shape".into()).into())
        }
    }
}

async fn start(
    State(client): State<Client<RunsService>>,
    Call(options): Call,
    ValidJson(body): ValidJson<StartBody>,
) -> Result<Response, ApiError> {
    let target = match (body.workflow, body.agent) {
        (Some(w), None) => Target::Workflow(w),
        (None, Some(a)) => Target::Agent(a),
        _ => return Err(ApiError::invalid("give one of `workflow` or `agent`")),
    };
    if body.input.trim().is_empty() {
        return Err(ApiError::invalid("input: must not be empty"));
    }
    let run = view(
        &client,
        RunsRequest::Start {
            target,
            input: body.input,
        },
        options,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(run)).into_response())
}

async fn read(
    State(client): State<Client<RunsService>>,
    Call(options): Call,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(view(&client, RunsRequest::Get(id), options).await?))
}

async fn cancel(
    State(client): State<Client<RunsService>>,
    Call(options): Call,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(view(&client, RunsRequest::Cancel(id), options).await?))
}

fn is_end(event: &Value) -> bool {
    matches!(
        event["type"].as_str(),
        Some("run_completed" | "run_failed" | "run_cancelled")
    )
}

async fn events(
    State(client): State<Client<RunsService>>,
    Call(options): Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let RunsResponse::Watch(history, rx, status) =
        client.call_with(RunsRequest::Watch(id), options).await?
    else {
        return Err(SwarmError::Internal("runs answered out of shape".into()).into());
    };
    let ended = status != Status::Running || history.iter().any(is_end);
    let live = stream::unfold((rx, ended), |(mut rx, ended)| async move {
        if ended {
            return None;
        }
        let event = match rx.recv().await {
            Ok(event) => event,
            // A watcher too slow for the run is told what it missed, never left unaware.
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                serde_json::json!({ "type": "events_missed", "count": missed })
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        let end = is_end(&event);
        Some((event, (rx, end)))
    });
    let all = stream::iter(history)
        .chain(live)
        .map(|e| Ok::<_, Infallible>(SseEvent::default().data(e.to_string())));
    Ok(Sse::new(all)
        .keep_alive(KeepAlive::default())
        .into_response())
}
