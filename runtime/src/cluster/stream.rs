//! Streamed answers across nodes (an LLM's text as it is generated). The calling node
//! registers the call's piece sink under its request id and names itself in the request
//! frame; the answering node casts each piece, in order, to the calling node's
//! [`StreamReceiver`] (process group `stream/{node}`), then sends the reply, which says
//! how many pieces it sent. Pieces and the reply can take different paths through the
//! transport, so the caller waits (bounded) until that many were delivered before it
//! answers: no piece is lost behind the final answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::RactorClusterMessage;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::codec::PieceSink;
use super::gateway::SCOPE;
use super::wire::Piece;
use crate::envelope::RequestId;

/// The process group of `node`'s stream receiver.
pub fn group_of(node: &str) -> String {
    format!("stream/{node}")
}

/// What crosses to a node's stream receiver. Variants are matched by name on the wire:
/// never rename one.
#[derive(RactorClusterMessage)]
pub enum StreamMsg {
    /// A piece frame.
    Piece(Vec<u8>),
}

/// A streamed call in flight on this node.
struct Open {
    sink: PieceSink,
    next: u32,
    delivered: watch::Sender<u32>,
}

/// Streamed calls in flight from this process, by request id (unique per process).
static OPEN: LazyLock<Mutex<HashMap<u64, Open>>> = LazyLock::new(Mutex::default);

fn open_calls() -> std::sync::MutexGuard<'static, HashMap<u64, Open>> {
    OPEN.lock().unwrap_or_else(|p| p.into_inner())
}

/// A streamed call's registration; dropping it forgets the stream (later pieces are
/// dropped).
pub(crate) struct OpenStream {
    id: u64,
    delivered: watch::Receiver<u32>,
}

/// Registers call `id`'s piece sink.
pub(crate) fn open(id: RequestId, sink: PieceSink) -> OpenStream {
    let (delivered, watch) = watch::channel(0);
    open_calls().insert(
        id.0,
        Open {
            sink,
            next: 0,
            delivered,
        },
    );
    OpenStream {
        id: id.0,
        delivered: watch,
    }
}

impl OpenStream {
    /// Waits until `n` pieces were delivered, or `until`; whether they all were.
    pub(crate) async fn delivered(&mut self, n: u32, until: Instant) -> bool {
        let all = self.delivered.wait_for(|d| *d >= n);
        matches!(tokio::time::timeout_at(until, all).await, Ok(Ok(_)))
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        open_calls().remove(&self.id);
    }
}

fn deliver(piece: Piece) {
    let mut calls = open_calls();
    let Some(call) = calls.get_mut(&piece.id.0) else {
        return; // The call ended or was given up: nobody reads this piece.
    };
    if piece.seq != call.next {
        tracing::warn!(request_id = %piece.id, expected = call.next, got = piece.seq,
            "a streamed piece arrived out of order; the rest of this stream is dropped");
        call.next = u32::MAX;
        return;
    }
    call.next += 1;
    // A sink whose reader went away refuses pieces; the caller's own drop cancels the call.
    let _ = (call.sink)(piece.bytes);
    call.delivered.send_replace(call.next);
}

/// A node's receiver of streamed pieces.
pub(crate) struct StreamReceiver;

impl Actor for StreamReceiver {
    type Msg = StreamMsg;
    type State = ();
    type Arguments = String;

    async fn pre_start(
        &self,
        myself: ActorRef<StreamMsg>,
        node: String,
    ) -> Result<(), ActorProcessingErr> {
        ractor::pg::join_scoped(SCOPE.to_string(), group_of(&node), vec![myself.get_cell()]);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<StreamMsg>,
        message: StreamMsg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let StreamMsg::Piece(frame) = message;
        match Piece::decode(&frame) {
            Ok(piece) => deliver(piece),
            Err(e) => tracing::warn!(error = %e, "refused a piece frame"),
        }
        Ok(())
    }
}

/// Sends `pieces` to `node`'s stream receiver in order, counting each in `sent`, until
/// the producer closes the channel. With no receiver known the pieces are drained (the
/// reply still carries the whole answer).
pub(crate) async fn forward(
    node: String,
    id: RequestId,
    mut pieces: mpsc::UnboundedReceiver<Vec<u8>>,
    sent: Arc<AtomicU32>,
) {
    let receiver: Option<ActorRef<StreamMsg>> =
        ractor::pg::get_scoped_members(&SCOPE.to_string(), &group_of(&node))
            .into_iter()
            .next()
            .map(Into::into);
    if receiver.is_none() {
        tracing::warn!(peer = %node, request_id = %id,
            "no stream receiver known for the calling node: its pieces go in the reply only");
    }
    while let Some(bytes) = pieces.recv().await {
        let Some(receiver) = &receiver else { continue };
        let seq = sent.load(Relaxed);
        let frame = match (Piece { id, seq, bytes }).encode() {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(error = %e, "a piece too large to send; the stream stops here");
                break;
            }
        };
        if receiver.cast(StreamMsg::Piece(frame)).is_err() {
            break;
        }
        sent.store(seq + 1, Relaxed);
    }
}
