//! The HTTP gateway, configured by the top-level `gateway:` section: a supervised actor
//! (`server.rs`) runs axum's server over the router of every service's routes (`app.rs`);
//! a server that stops unasked is restarted on the same socket. Stopping the gateway
//! stops taking connections while requests in flight finish.

mod app;
mod auth;
mod config;
mod listen;
mod routes;
mod server;

use std::sync::Arc;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use swarm_runtime::topology::{BoxFuture, Component, RunningComponent};
use swarm_runtime::{Registry, Swarm, SwarmError};
use tokio::sync::watch;

pub use app::{GatewayState, app};
pub use auth::ApiKeys;
pub use config::GatewayConfig;
pub use listen::ConnectionLimits;
use server::{GatewaySupervisor, SupervisorMsg};
pub use server::{MAX_RESTARTS, RESTART_WINDOW, server_name};

/// Adds the gateway to a swarm built in Rust.
pub trait WithGateway {
    /// Sets the `gateway:` section from `config`.
    fn gateway(self, config: &GatewayConfig) -> Self;
}

impl WithGateway for swarm_runtime::topology::SwarmBuilder {
    fn gateway(self, config: &GatewayConfig) -> Self {
        self.section("gateway", config.to_section())
    }
}

/// Registers the `gateway` section.
pub fn register(registry: &mut Registry) {
    registry.component("gateway", |section| {
        config::GatewayConfig::read(section).map(|c| Arc::new(c) as Arc<dyn Component>)
    });
}

impl Component for GatewayConfig {
    fn summary(&self) -> String {
        format!(
            "HTTP on {} (body limit {} bytes)",
            self.listen, self.body_limit
        )
    }

    fn start(
        &self,
        swarm: Swarm,
    ) -> BoxFuture<'static, Result<Box<dyn RunningComponent>, SwarmError>> {
        let config = self.clone();
        Box::pin(async move {
            let keys = ApiKeys::load(&config.auth).map_err(SwarmError::Unavailable)?;
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| {
                    SwarmError::Unavailable(format!(
                        "gateway cannot listen on {}: {e}",
                        config.listen
                    ))
                })?;
            let local = listener
                .local_addr()
                .map_err(|e| SwarmError::Unavailable(e.to_string()))?;
            let limits = ConnectionLimits {
                max_connections: config.max_connections,
                header_timeout: config.header_timeout,
            };
            let router = app(GatewayState::new(swarm, config, keys))?;
            let listener = listener
                .into_std()
                .map_err(|e| SwarmError::Unavailable(format!("gateway listener: {e}")))?;
            let (live, live_rx) = watch::channel(0usize);
            let (supervisor, join) = Actor::spawn(
                None,
                GatewaySupervisor,
                (listener, router, limits, server_name(local), live),
            )
            .await
            .map_err(|e| SwarmError::Unavailable(format!("gateway failed to start: {e}")))?;
            Ok(Box::new(RunningGateway {
                supervisor,
                local,
                join: Mutex::new(Some(join)),
                live: live_rx,
            }) as Box<dyn RunningComponent>)
        })
    }
}

struct RunningGateway {
    supervisor: ActorRef<SupervisorMsg>,
    local: std::net::SocketAddr,
    join: Mutex<Option<tokio::task::JoinHandle<()>>>,
    live: watch::Receiver<usize>,
}

impl RunningComponent for RunningGateway {
    fn ready_line(&self) -> String {
        format!("gateway listening on http://{}", self.local)
    }

    fn begin_shutdown(&self) {
        let _ = self.supervisor.send_message(SupervisorMsg::Stop);
    }

    fn stopped(&self) -> BoxFuture<'_, ()> {
        let join = self.join.lock().take();
        let mut live = self.live.clone();
        Box::pin(async move {
            // The supervisor first (no restart after this), then every server's requests.
            if let Some(join) = join {
                let _ = join.await;
            }
            let _ = live.wait_for(|n| *n == 0).await;
        })
    }
}
