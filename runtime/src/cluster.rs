//! Many nodes as one swarm (issue 15, under way): so far the versioned wire format that
//! requests and replies cross between nodes in.

pub mod wire;
