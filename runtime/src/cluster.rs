//! Many nodes as one swarm, on ractor_cluster. A request's journey across nodes:
//! ① a typed client's route (`route.rs`) picks the node with the soonest estimated
//! completion among this one and the live peers the directory knows (`directory.rs`),
//! ② the envelope and the service's own encoding (`codec.rs`) travel in a versioned
//! request frame (`wire.rs`), ③ the peer's service gateway (`gateway.rs`) admits it into
//! its local bounded queue, ④ one reply frame comes back with the answer or a typed
//! error and the pool's load (pieces of a streamed answer come ahead of it, `stream.rs`;
//! a caller that gives up sends a cancel). `node.rs` keeps the peers connected (cookie,
//! backoff).

pub mod codec;
pub(crate) mod directory;
pub mod gateway;
mod json;
pub mod node;
pub(crate) mod route;
pub(crate) mod service;
pub mod stream;
pub mod tls;
pub mod wire;

pub use codec::RemoteCodec;
