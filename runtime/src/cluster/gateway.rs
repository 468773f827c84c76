//! The answering side of a call between nodes: one [`ServiceGateway`] actor per service a
//! node runs for its peers, joined to process group `svc/{name}` of scope `swarm`, which
//! ractor_cluster mirrors on every connected node. A call arrives as a request frame, is
//! admitted into the local service's bounded queue with its own deadline, priority and
//! overflow policy (a full `reject` queue answers `overloaded` at once), and is answered
//! with one reply frame carrying the pool's load. Every decoded request is answered. A
//! cancel frame from the caller stops its request's work (its queue slot or worker).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use tracing::Instrument;

use super::codec::{RemoteCodec, error_to_wire};
use super::wire::{Cancel, Hello, Load, RemoteReply, RemoteRequest, WireError};
use crate::client::{CallOptions, Client};
use crate::error::{ErrorCode, SwarmError};
use crate::topology::BoxFuture;

/// The process-group scope every swarm group lives in.
pub const SCOPE: &str = "swarm";

/// The process group of service `name`'s gateways.
pub fn group_of(name: &str) -> String {
    format!("svc/{name}")
}

/// What crosses to a service gateway. Variants are matched by name on the wire: never
/// rename one (add new ones instead).
#[derive(RactorClusterMessage)]
pub enum GatewayMsg {
    /// The caller's hello frame; answered with this node's (a heartbeat as well).
    #[rpc]
    Hello(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// A request frame; answered with a reply frame.
    #[rpc]
    Call(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// A cancel frame: the caller gave up on a request.
    Cancel(Vec<u8>),
}

/// Runs one decoded request on the local service and builds its reply.
pub(crate) type Serve = Arc<dyn Fn(RemoteRequest) -> BoxFuture<'static, RemoteReply> + Send + Sync>;

/// Serves requests for `client`'s service (a local client: a served call never hops on).
pub(crate) fn serve<S: RemoteCodec>(client: Client<S>, node: String) -> Serve {
    Arc::new(move |request: RemoteRequest| {
        let client = client.clone();
        let node = node.clone();
        Box::pin(async move {
            let span = tracing::info_span!("swarm.remote.serve", service = %request.service,
                node = %node, request_id = %request.id);
            if let Some(parent) = &request.traceparent {
                crate::telemetry::set_remote_parent(&span, parent);
            }
            let id = request.id;
            let sent = Arc::new(AtomicU32::new(0));
            let mut forwarder = None;
            let outcome = async {
                let mut message = S::decode_request(&request.payload).map_err(|e| {
                    SwarmError::InvalidRequest(format!("the request's payload: {e}"))
                })?;
                if request.streamed {
                    if let Some(pieces) = S::open_stream(&mut message) {
                        let forward =
                            super::stream::forward(request.from.clone(), id, pieces, sent.clone());
                        forwarder = Some(tokio::spawn(forward));
                    }
                }
                let options = CallOptions {
                    timeout: Some(request.remaining),
                    priority: request.priority,
                    traceparent: request.traceparent.clone(),
                    unsampled: false,
                };
                let response = client.dispatch(message, options).await?;
                S::encode_response(&response)
                    .map_err(|e| SwarmError::Internal(format!("encoding the response: {e}")))
            }
            .instrument(span)
            .await;
            if let Some(mut forwarder) = forwarder {
                // The request (and its piece sender) is gone once answered, so the
                // forwarder ends; bounded all the same, in case a service kept it.
                let bound = tokio::time::sleep(super::directory::DEAD_AFTER);
                tokio::select! {
                    _ = &mut forwarder => {}
                    () = bound => forwarder.abort(),
                }
            }
            RemoteReply {
                id,
                outcome: outcome.map_err(|e| error_to_wire(&e)),
                load: client.wire_load(),
                pieces: sent.load(Relaxed),
            }
        })
    })
}

/// A service's gateway actor.
pub(crate) struct ServiceGateway;

/// A gateway's state: how to serve, and this node's hello frame.
pub(crate) struct GatewayState {
    pub(crate) serve: Serve,
    pub(crate) hello: Vec<u8>,
    pub(crate) service: String,
    /// Requests being served, by calling node and request id, so a cancel can stop one.
    pub(crate) running: Arc<Mutex<HashMap<(String, u64), tokio::task::AbortHandle>>>,
}

type Running = Arc<Mutex<HashMap<(String, u64), tokio::task::AbortHandle>>>;

fn running(
    map: &Running,
) -> std::sync::MutexGuard<'_, HashMap<(String, u64), tokio::task::AbortHandle>> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}

impl Actor for ServiceGateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayState;

    async fn pre_start(
        &self,
        myself: ActorRef<GatewayMsg>,
        state: GatewayState,
    ) -> Result<GatewayState, ActorProcessingErr> {
        ractor::pg::join_scoped(
            SCOPE.to_string(),
            group_of(&state.service),
            vec![myself.get_cell()],
        );
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<GatewayMsg>,
        message: GatewayMsg,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            GatewayMsg::Hello(frame, port) => {
                if let Err(WireError::Version { theirs, ours }) = Hello::decode(&frame) {
                    tracing::warn!(
                        service = %state.service,
                        "refusing a peer: it speaks swarm wire v{theirs}, this node speaks v{ours}"
                    );
                }
                let _ = port.send(state.hello.clone());
            }
            GatewayMsg::Call(frame, port) => match RemoteRequest::decode(&frame) {
                Ok(request) => {
                    let serve = state.serve.clone();
                    let key = (request.from.clone(), request.id.0);
                    let map = state.running.clone();
                    let done_key = key.clone();
                    // Handled off the actor, so one slow call never holds up the next.
                    let task = tokio::spawn(async move {
                        let reply = serve(request).await;
                        running(&map).remove(&done_key);
                        let _ = port.send(encode_or_internal(&reply));
                    });
                    let mut map = running(&state.running);
                    if !task.is_finished() {
                        map.insert(key, task.abort_handle());
                    }
                }
                Err(e) => {
                    tracing::warn!(service = %state.service, error = %e, "refused a request frame");
                    let code = match e {
                        WireError::Version { .. } => ErrorCode::Unavailable,
                        _ => ErrorCode::InvalidRequest,
                    };
                    let reply = RemoteReply {
                        id: crate::RequestId(0),
                        outcome: Err((code, format!("request frame refused: {e}"))),
                        load: Load::default(),
                        pieces: 0,
                    };
                    let _ = port.send(encode_or_internal(&reply));
                }
            },
            GatewayMsg::Cancel(frame) => match Cancel::decode(&frame) {
                // Dropping the served call closes its reply port: the pool frees its queue
                // slot or cancels its handler, as for a local caller that goes away.
                Ok(cancel) => {
                    if let Some(task) = running(&state.running).remove(&(cancel.from, cancel.id.0))
                    {
                        task.abort();
                    }
                }
                Err(e) => {
                    tracing::warn!(service = %state.service, error = %e, "refused a cancel frame")
                }
            },
        }
        Ok(())
    }
}

/// The reply's frame; one too large to send becomes an `internal` error frame.
fn encode_or_internal(reply: &RemoteReply) -> Vec<u8> {
    reply.encode().unwrap_or_else(|e| {
        let fallback = RemoteReply {
            id: reply.id,
            outcome: Err((ErrorCode::Internal, format!("reply not sendable: {e}"))),
            load: reply.load,
            pieces: reply.pieces,
        };
        fallback.encode().unwrap_or_default()
    })
}
