//! swarm-actors: the services a swarm runs and the gateway in front of them.
//!
//! [`registry()`] returns a [`swarm_runtime::Registry`] with every built-in service type
//! and the `gateway` section, ready for [`swarm_runtime::SwarmConfig::from_file`].

pub mod echo;
pub mod gateway;

/// A registry with every built-in service type (`echo`) and the `gateway` section.
pub fn registry() -> swarm_runtime::Registry {
    let mut registry = swarm_runtime::Registry::new();
    echo::register(&mut registry);
    gateway::register(&mut registry);
    registry
}
