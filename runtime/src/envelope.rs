//! The envelope every request travels in: the typed message plus what the runtime needs
//! to answer it exactly once (id, deadline, priority, trace context, reply port, stamps).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::commitment::Commitment;
use crate::error::SwarmError;

/// A process-unique request id, shown as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

impl RequestId {
    /// The next id from a process-wide counter (seeded from the clock so restarts differ).
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let seed = *SEED.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
                << 20
        });
        Self(seed.wrapping_add(n))
    }
}

static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// How urgent a request is. Carried with the request and recorded on its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Priority {
    /// Background work.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Interactive work.
    High,
}

/// The result a caller receives.
pub type Reply<T> = Result<T, SwarmError>;

/// A request in flight: message, metadata and the port its answer goes to.
pub struct Envelope<Req, Resp> {
    /// Request id, for logs and spans.
    pub id: RequestId,
    /// When the caller stops waiting.
    pub deadline: Instant,
    /// How urgent the request is.
    pub priority: Priority,
    /// The W3C `traceparent` of the caller's span, for crossing process boundaries.
    pub traceparent: Option<String>,
    /// The caller's span; queue-wait and worker spans are its children.
    pub span: tracing::Span,
    /// The span covering the time spent queued; closed when a worker takes the request.
    pub(crate) queue_span: tracing::Span,
    /// The typed message.
    pub message: Req,
    /// When the request entered the runtime.
    pub received: Instant,
    /// When the request entered the queue.
    pub(crate) enqueued: Instant,
    /// How many times the request has been retried after a worker crash.
    pub(crate) attempt: u8,
    /// Whether its work has passed the point of no return (shared with the caller).
    pub commitment: Commitment,
    reply: oneshot::Sender<Reply<Resp>>,
}

impl<Req, Resp> Envelope<Req, Resp> {
    /// Creates an envelope and the receiver its answer will arrive on.
    pub fn new(
        message: Req,
        deadline: Instant,
        priority: Priority,
        span: tracing::Span,
        traceparent: Option<String>,
    ) -> (Self, oneshot::Receiver<Reply<Resp>>) {
        let (tx, rx) = oneshot::channel();
        let now = Instant::now();
        let env = Self {
            id: RequestId::next(),
            deadline,
            priority,
            traceparent,
            span,
            queue_span: tracing::Span::none(),
            message,
            received: now,
            enqueued: now,
            attempt: 0,
            commitment: Commitment::new(deadline),
            reply: tx,
        };
        (env, rx)
    }

    /// Answers the caller. Consumes the envelope, so a request is answered at most once.
    pub fn answer(self, reply: Reply<Resp>) {
        // The caller may have given up (deadline); nobody is left to tell.
        let _ = self.reply.send(reply);
    }

    /// Splits the envelope into its message and a port that answers it.
    pub(crate) fn open(self) -> (Req, ReplyPort<Resp>, Meta) {
        let meta = Meta {
            id: self.id,
            deadline: self.deadline,
            priority: self.priority,
            span: self.span,
            received: self.received,
            enqueued: self.enqueued,
            attempt: self.attempt,
            commitment: self.commitment,
        };
        (self.message, ReplyPort(self.reply), meta)
    }

    /// Reassembles an envelope from its parts (used to retry a crashed request).
    pub(crate) fn close(message: Req, port: ReplyPort<Resp>, meta: Meta) -> Self {
        Self {
            id: meta.id,
            deadline: meta.deadline,
            priority: meta.priority,
            traceparent: None,
            span: meta.span,
            queue_span: tracing::Span::none(),
            message,
            received: meta.received,
            enqueued: meta.enqueued,
            attempt: meta.attempt,
            commitment: meta.commitment,
            reply: port.0,
        }
    }

    /// True when the caller has stopped waiting.
    pub fn is_abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}

/// An envelope's metadata once its message has been taken out.
pub(crate) struct Meta {
    pub(crate) id: RequestId,
    pub(crate) deadline: Instant,
    pub(crate) priority: Priority,
    pub(crate) span: tracing::Span,
    pub(crate) received: Instant,
    pub(crate) enqueued: Instant,
    pub(crate) attempt: u8,
    pub(crate) commitment: Commitment,
}

/// The port an answer goes to.
pub(crate) struct ReplyPort<Resp>(oneshot::Sender<Reply<Resp>>);

impl<Resp> ReplyPort<Resp> {
    pub(crate) fn send(self, reply: Reply<Resp>) {
        let _ = self.0.send(reply);
    }

    /// Completes when the caller stops waiting (deadline passed, or its future dropped).
    pub(crate) async fn closed(&mut self) {
        self.0.closed().await;
    }
}

/// Something queued that can be answered with an error without knowing its type.
pub trait Rejectable: Send + 'static {
    /// Answers the request with `err`.
    fn reject(self, err: SwarmError);

    /// How urgent it is (the queue serves higher priorities first).
    fn priority(&self) -> Priority {
        Priority::Normal
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Rejectable for Envelope<Req, Resp> {
    fn reject(self, err: SwarmError) {
        self.answer(Err(err));
    }

    fn priority(&self) -> Priority {
        self.priority
    }
}
