//! swarm-actors: the services a swarm runs and the gateway in front of them.
//!
//! [`registry()`] returns a [`swarm_runtime::Registry`] with every built-in service type
//! and the `gateway` section, ready for [`swarm_runtime::SwarmConfig::from_file`].

pub mod agent;
pub mod consensus;
pub mod devices;
pub mod echo;
pub mod embed;
pub mod fhe;
pub mod fl;
pub mod gateway;
pub mod http;
pub mod llm;
pub mod nash;
pub mod remote;
pub mod vector;

/// A registry with every built-in service type (`echo`, `nash`, `fl`, `consensus`, `embed`, `vector`, `llm`) and the `gateway` section.
pub fn registry() -> swarm_runtime::Registry {
    let mut registry = swarm_runtime::Registry::new();
    echo::register(&mut registry);
    nash::service::register(&mut registry);
    fl::service::register(&mut registry);
    fhe::service::register(&mut registry);
    consensus::service::register(&mut registry);
    embed::service::register(&mut registry);
    vector::service::register(&mut registry);
    llm::service::register(&mut registry);
    agent::service::register(&mut registry);
    agent::workflow::register(&mut registry);
    agent::runs::register(&mut registry);
    gateway::register(&mut registry);
    registry.device_detector(std::sync::Arc::new(devices::cuda_devices));
    registry
}
