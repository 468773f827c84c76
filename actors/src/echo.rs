//! The `echo` service: answers with the message it was given, optionally after a delay
//! (like httpbin's `/delay`), for smoke tests, examples and load tests of the runtime.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use swarm_runtime::cluster::RemoteCodec;
use swarm_runtime::cluster::codec::{FieldReader, put_long};
use swarm_runtime::cluster::wire::WireError;
use swarm_runtime::{
    CallOptions, Client, Registry, RequestContext, Service, ServiceError, SwarmError,
};

use crate::http::{ApiError, Call, HttpApi, Limits, ServiceClient, ValidJson};

/// The longest delay a request may ask for.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// An echo request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EchoRequest {
    /// The text to send back.
    pub message: String,
    /// Milliseconds to wait before answering (at most 60,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl EchoRequest {
    /// A request without delay.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            delay_ms: None,
        }
    }
}

/// An echo answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct EchoResponse {
    /// The text that was sent.
    pub message: String,
}

/// The echo service.
#[derive(Debug, Default)]
pub struct Echo;

/// The echo service's params (it takes none), for the Rust builder.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct EchoParams;

impl swarm_runtime::topology::ServiceParams for EchoParams {
    const TYPE: &'static str = "echo";
}

impl Service for Echo {
    type Request = EchoRequest;
    type Response = EchoResponse;

    async fn handle(
        &mut self,
        request: EchoRequest,
        _ctx: &RequestContext,
    ) -> Result<EchoResponse, ServiceError> {
        if let Some(ms) = request.delay_ms {
            let delay = Duration::from_millis(ms);
            if delay > MAX_DELAY {
                return Err(ServiceError::InvalidRequest(format!(
                    "delay_ms must be at most {}",
                    MAX_DELAY.as_millis()
                )));
            }
            tokio::time::sleep(delay).await;
        }
        Ok(EchoResponse {
            message: request.message,
        })
    }
}

/// The echo service's typed client.
#[derive(Clone)]
pub struct EchoClient(Client<Echo>);

impl ServiceClient for EchoClient {
    type Service = Echo;

    fn from_client(client: Client<Echo>) -> Self {
        Self(client)
    }
}

impl EchoClient {
    /// Sends `request` back, after its delay.
    pub async fn echo(
        &self,
        request: EchoRequest,
        options: CallOptions,
    ) -> Result<EchoResponse, SwarmError> {
        self.0.call_with(request, options).await
    }
}

/// `POST /v1/echo`.
pub fn routes(client: EchoClient, _limits: &Limits) -> Router {
    Router::new()
        .route("/v1/echo", post(echo))
        .with_state(client)
}

async fn echo(
    State(client): State<EchoClient>,
    Call(options): Call,
    ValidJson(request): ValidJson<EchoRequest>,
) -> Result<Json<EchoResponse>, ApiError> {
    Ok(Json(client.echo(request, options).await?))
}

/// Between nodes: request = `u32 len + message | u8 has delay | [u64 delay ms]`;
/// response = `u32 len + message`.
impl RemoteCodec for Echo {
    fn encode_request(request: &EchoRequest) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        put_long(&mut out, request.message.as_bytes(), "message")?;
        match request.delay_ms {
            Some(ms) => {
                out.push(1);
                out.extend_from_slice(&ms.to_be_bytes());
            }
            None => out.push(0),
        }
        Ok(out)
    }

    fn decode_request(bytes: &[u8]) -> Result<EchoRequest, WireError> {
        let mut r = FieldReader::new(bytes);
        let message = text(r.long("message")?)?;
        let delay_ms = match r.u8()? {
            0 => None,
            1 => Some(r.u64()?),
            _ => return Err(WireError::Invalid("delay flag")),
        };
        r.end()?;
        Ok(EchoRequest { message, delay_ms })
    }

    fn encode_response(response: &EchoResponse) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        put_long(&mut out, response.message.as_bytes(), "message")?;
        Ok(out)
    }

    fn decode_response(bytes: &[u8]) -> Result<EchoResponse, WireError> {
        let mut r = FieldReader::new(bytes);
        let message = text(r.long("message")?)?;
        r.end()?;
        Ok(EchoResponse { message })
    }
}

fn text(bytes: Vec<u8>) -> Result<String, WireError> {
    String::from_utf8(bytes).map_err(|_| WireError::Invalid("message"))
}

/// Registers service type `echo` (no params) with its route; it can run across nodes.
pub fn register(registry: &mut Registry) {
    registry
        .service::<Echo, _>("echo", |_params| Some(Arc::new(|| Ok(Echo))))
        .expose(HttpApi::new(routes))
        .remote();
}
