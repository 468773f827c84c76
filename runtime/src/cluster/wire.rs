//! The swarm's wire format between nodes, version 2: what crosses the network when a
//! request hops to a service on another node. A pure codec (no sockets): frames are byte
//! vectors that the transport carries as opaque payloads.
//!
//! Every frame starts `"SWRM" | u16 version | u8 kind`, big-endian throughout. A node
//! reading a frame of another version refuses it with [`WireError::Version`], which names
//! both versions (the peer is then refused with a clear log line, never half-understood).
//!
//! - hello (kind 1): `u16 len + node name`.
//! - request (kind 2): `u64 request id | u32 remaining ms | u8 priority | u16 len +
//!   traceparent | u16 len + service | u16 len + calling node | u8 streamed (0, 1) |
//!   u32 len + payload`. The deadline travels as the time left, so clocks need not agree.
//! - reply (kind 3): `u64 request id | u8 status (0 ok, 1 error) | [u16 len + error code |
//!   u32 len + message] | load: u32 queued, u32 in flight, u32 slots, u32 µs per unit |
//!   u32 pieces sent | u32 len + payload`. Every reply carries the answering pool's load,
//!   for routing.
//! - piece (kind 4): `u64 request id | u32 sequence number | u32 len + bytes`: part of a
//!   streamed answer (an LLM's text as it is generated), sent to the calling node's stream
//!   receiver before the reply, which says how many were sent.
//! - cancel (kind 5): `u64 request id | u16 len + calling node`: the caller gave up (its
//!   deadline passed or it went away), so the answering node stops the work.
//!
//! v1 (session 10) had no calling node, streaming, piece count, piece or cancel frames.

use std::time::Duration;

use super::codec::{FieldReader, put_flag, put_long, put_short, put_text};
use crate::envelope::{Priority, RequestId};
use crate::error::ErrorCode;

/// The version this build speaks.
pub const WIRE_VERSION: u16 = 2;
/// The largest frame read (ractor_cluster's default inbound frame limit).
pub const MAX_FRAME: usize = 16 << 20;
const MAGIC: &[u8; 4] = b"SWRM";

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not a swarm frame.
    #[error("not a swarm frame (no `SWRM` tag)")]
    BadMagic,
    /// A frame of another wire version.
    #[error("the peer speaks swarm wire v{theirs}; this node speaks v{ours}")]
    Version {
        /// The frame's version.
        theirs: u16,
        /// [`WIRE_VERSION`].
        ours: u16,
    },
    /// A kind this version does not define, or not the kind expected.
    #[error("frame kind {0} is not the one expected")]
    Kind(u8),
    /// The frame ends before its last field.
    #[error("frame is truncated")]
    Truncated,
    /// The frame runs on after its last field.
    #[error("frame has {0} bytes after its last field")]
    Trailing(usize),
    /// A field is over its limit.
    #[error("{0} is over its limit")]
    TooLarge(&'static str),
    /// A field that must be text or a known value is not.
    #[error("{0} is not valid")]
    Invalid(&'static str),
}

/// A peer's greeting: who it is (its version is in the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The peer's node name.
    pub node: String,
}

/// A request crossing to another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRequest {
    /// The caller's request id.
    pub id: RequestId,
    /// Time left before the caller's deadline (whole milliseconds, rounded down).
    pub remaining: Duration,
    /// The request's priority.
    pub priority: Priority,
    /// The caller's W3C `traceparent`, so the hop stays in the caller's trace.
    pub traceparent: Option<String>,
    /// The service called.
    pub service: String,
    /// The calling node (where pieces of a streamed answer go, and whose cancel counts).
    pub from: String,
    /// Whether the caller takes the answer in pieces as it is made.
    pub streamed: bool,
    /// The service's request, in its own encoding.
    pub payload: Vec<u8>,
}

/// Part of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The request it belongs to.
    pub id: RequestId,
    /// Its place (0, 1, …), so a gap is seen.
    pub seq: u32,
    /// The service's piece, in its own encoding.
    pub bytes: Vec<u8>,
}

/// The caller no longer wants the answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    /// The request.
    pub id: RequestId,
    /// The calling node (request ids are unique per node).
    pub from: String,
}

/// The answering pool's load when it replied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Requests in its queue.
    pub queued: u32,
    /// Requests being handled.
    pub in_flight: u32,
    /// Requests it handles at once.
    pub slots: u32,
    /// Observed microseconds per unit of work (0: not observed yet).
    pub per_unit_us: u32,
}

/// The answer to a [`RemoteRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReply {
    /// The request answered.
    pub id: RequestId,
    /// The response's bytes, or the typed error.
    pub outcome: Result<Vec<u8>, (ErrorCode, String)>,
    /// The answering pool's load.
    pub load: Load,
    /// Pieces sent before this reply (0 unless the request was streamed).
    pub pieces: u32,
}

const HELLO: u8 = 1;
const REQUEST: u8 = 2;
const REPLY: u8 = 3;
const PIECE: u8 = 4;
const CANCEL: u8 = 5;

fn header(kind: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&WIRE_VERSION.to_be_bytes());
    out.push(kind);
    out
}

/// The frame's kind, after checking its tag and version.
fn open(frame: &[u8], expected: u8) -> Result<FieldReader<'_>, WireError> {
    if frame.len() > MAX_FRAME + 1024 {
        return Err(WireError::TooLarge("frame"));
    }
    let mut r = FieldReader::new(frame);
    if r.take(4).map_err(|_| WireError::BadMagic)? != MAGIC {
        return Err(WireError::BadMagic);
    }
    let version = r.u16()?;
    if version != WIRE_VERSION {
        return Err(WireError::Version {
            theirs: version,
            ours: WIRE_VERSION,
        });
    }
    match r.u8()? {
        k if k == expected => Ok(r),
        k => Err(WireError::Kind(k)),
    }
}

fn priority_byte(p: Priority) -> u8 {
    match p {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
    }
}

fn priority_of(b: u8) -> Result<Priority, WireError> {
    match b {
        0 => Ok(Priority::Low),
        1 => Ok(Priority::Normal),
        2 => Ok(Priority::High),
        _ => Err(WireError::Invalid("priority")),
    }
}

impl Hello {
    /// The frame.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = header(HELLO);
        put_short(&mut out, &self.node, "node name")?;
        Ok(out)
    }

    /// Reads a frame; another version is [`WireError::Version`].
    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        let mut r = open(frame, HELLO)?;
        let node = r.short("node name")?;
        r.end()?;
        Ok(Self { node })
    }
}

impl RemoteRequest {
    /// The frame.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = header(REQUEST);
        out.extend_from_slice(&self.id.0.to_be_bytes());
        let ms = u32::try_from(self.remaining.as_millis()).unwrap_or(u32::MAX);
        out.extend_from_slice(&ms.to_be_bytes());
        out.push(priority_byte(self.priority));
        put_short(
            &mut out,
            self.traceparent.as_deref().unwrap_or(""),
            "traceparent",
        )?;
        put_short(&mut out, &self.service, "service name")?;
        put_short(&mut out, &self.from, "node name")?;
        put_flag(&mut out, self.streamed);
        put_long(&mut out, &self.payload, "payload")?;
        Ok(out)
    }

    /// Reads a frame; another version is [`WireError::Version`].
    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        let mut r = open(frame, REQUEST)?;
        let id = RequestId(r.u64()?);
        let remaining = Duration::from_millis(u64::from(r.u32()?));
        let priority = priority_of(r.u8()?)?;
        let traceparent = Some(r.short("traceparent")?).filter(|t| !t.is_empty());
        let service = r.short("service name")?;
        let from = r.short("node name")?;
        let streamed = r.flag("streamed flag")?;
        let payload = r.long("payload")?;
        r.end()?;
        Ok(Self {
            id,
            remaining,
            priority,
            traceparent,
            service,
            from,
            streamed,
            payload,
        })
    }
}

impl RemoteReply {
    /// The frame.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = header(REPLY);
        out.extend_from_slice(&self.id.0.to_be_bytes());
        let payload: &[u8] = match &self.outcome {
            Ok(bytes) => {
                out.push(0);
                bytes
            }
            Err((code, message)) => {
                out.push(1);
                put_short(&mut out, code.as_str(), "error code")?;
                put_text(&mut out, message, "error message")?;
                &[]
            }
        };
        let l = self.load;
        for v in [l.queued, l.in_flight, l.slots, l.per_unit_us, self.pieces] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        put_long(&mut out, payload, "payload")?;
        Ok(out)
    }

    /// Reads a frame; another version is [`WireError::Version`]. An error code this build
    /// does not know reads as `internal`, its message kept.
    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        let mut r = open(frame, REPLY)?;
        let id = RequestId(r.u64()?);
        let error = match r.u8()? {
            0 => None,
            1 => {
                let code = r.short("error code")?;
                let message = r.text("error message")?;
                let code = ErrorCode::ALL
                    .into_iter()
                    .find(|c| c.as_str() == code)
                    .unwrap_or(ErrorCode::Internal);
                Some((code, message))
            }
            _ => return Err(WireError::Invalid("reply status")),
        };
        let load = Load {
            queued: r.u32()?,
            in_flight: r.u32()?,
            slots: r.u32()?,
            per_unit_us: r.u32()?,
        };
        let pieces = r.u32()?;
        let payload = r.long("payload")?;
        r.end()?;
        let outcome = match error {
            None => Ok(payload),
            Some(e) => Err(e),
        };
        Ok(Self {
            id,
            outcome,
            load,
            pieces,
        })
    }
}

impl Piece {
    /// The frame.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = header(PIECE);
        out.extend_from_slice(&self.id.0.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        put_long(&mut out, &self.bytes, "piece")?;
        Ok(out)
    }

    /// Reads a frame; another version is [`WireError::Version`].
    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        let mut r = open(frame, PIECE)?;
        let id = RequestId(r.u64()?);
        let seq = r.u32()?;
        let bytes = r.long("piece")?;
        r.end()?;
        Ok(Self { id, seq, bytes })
    }
}

impl Cancel {
    /// The frame.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = header(CANCEL);
        out.extend_from_slice(&self.id.0.to_be_bytes());
        put_short(&mut out, &self.from, "node name")?;
        Ok(out)
    }

    /// Reads a frame; another version is [`WireError::Version`].
    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        let mut r = open(frame, CANCEL)?;
        let id = RequestId(r.u64()?);
        let from = r.short("node name")?;
        r.end()?;
        Ok(Self { id, from })
    }
}
