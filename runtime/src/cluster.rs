//! Many nodes as one swarm (issue 15, under way): the versioned wire format requests and
//! replies cross between nodes in, and a node on ractor_cluster that keeps its peers
//! connected (cookie, backoff, a table of peer states).

pub mod node;
pub mod wire;
