//! The HTTP gateway: an actor like the others, configured by the top-level `gateway:`
//! section. It owns the listener and the axum server; stopping it stops taking
//! connections while requests in flight finish.

mod app;
mod auth;
mod config;
mod routes;

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use swarm_runtime::topology::{BoxFuture, Component, RunningComponent};
use swarm_runtime::{Registry, Swarm, SwarmError};
use tokio::sync::watch;

pub use app::{GatewayState, app};
pub use auth::ApiKeys;
pub use config::GatewayConfig;

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
            let router = app(GatewayState::new(swarm, config, keys))?;
            let (actor, _) = Actor::spawn(None, GatewayActor, (listener, router))
                .await
                .map_err(|e| SwarmError::Unavailable(format!("gateway failed to start: {e}")))?;
            let stopped = ractor::call!(actor, GatewayMsg::StoppedSignal)
                .map_err(|e| SwarmError::Unavailable(format!("gateway failed to start: {e}")))?;
            Ok(Box::new(RunningGateway {
                actor,
                local,
                stopped,
            }) as Box<dyn RunningComponent>)
        })
    }
}

/// Messages the gateway actor accepts.
pub enum GatewayMsg {
    /// Stop accepting connections; requests in flight finish.
    BeginShutdown,
    /// Asks for a receiver that turns `true` once the server has stopped.
    StoppedSignal(ractor::RpcReplyPort<watch::Receiver<bool>>),
}

struct GatewayActor;

/// The gateway actor's state: the server task's controls.
pub struct GatewayActorState {
    shutdown: watch::Sender<bool>,
    stopped: watch::Receiver<bool>,
}

impl Actor for GatewayActor {
    type Msg = GatewayMsg;
    type State = GatewayActorState;
    type Arguments = (tokio::net::TcpListener, axum::Router);

    async fn pre_start(
        &self,
        _myself: ActorRef<GatewayMsg>,
        (listener, router): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let (stopped_tx, stopped) = watch::channel(false);
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "gateway server failed");
            }
            let _ = stopped_tx.send(true);
        });
        Ok(GatewayActorState { shutdown, stopped })
    }

    async fn handle(
        &self,
        myself: ActorRef<GatewayMsg>,
        msg: GatewayMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GatewayMsg::BeginShutdown => {
                let _ = state.shutdown.send(true);
                myself.stop(None);
            }
            GatewayMsg::StoppedSignal(reply) => {
                let _ = reply.send(state.stopped.clone());
            }
        }
        Ok(())
    }
}

struct RunningGateway {
    actor: ActorRef<GatewayMsg>,
    local: std::net::SocketAddr,
    stopped: watch::Receiver<bool>,
}

impl RunningComponent for RunningGateway {
    fn ready_line(&self) -> String {
        format!("gateway listening on http://{}", self.local)
    }

    fn begin_shutdown(&self) {
        let _ = self.actor.send_message(GatewayMsg::BeginShutdown);
    }

    fn stopped(&self) -> BoxFuture<'_, ()> {
        let mut stopped = self.stopped.clone();
        Box::pin(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
    }
}
