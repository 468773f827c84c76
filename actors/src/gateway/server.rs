//! The gateway's actors: a [`GatewaySupervisor`] owns the listening socket and the router
//! and restarts the [`GatewayServer`] actor (which runs axum's server on a clone of that
//! socket) whenever it stops without being asked — a crash, or a kill — at most
//! [`MAX_RESTARTS`] times per [`RESTART_WINDOW`]. Stopping the supervisor stops taking
//! connections; requests in flight finish.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::watch;

use super::listen::{ConnectionLimits, serve};

/// Server restarts allowed within [`RESTART_WINDOW`].
pub const MAX_RESTARTS: usize = 5;
/// The window of [`MAX_RESTARTS`].
pub const RESTART_WINDOW: Duration = Duration::from_secs(10);

/// The name the server actor registers under, so an operator (or a test injecting a
/// fault) can find it: `swarm-gateway@<address>`.
pub fn server_name(local: std::net::SocketAddr) -> String {
    format!("swarm-gateway@{local}")
}

/// Runs axum's server until told to stop; stopping the actor (however it happens) ends
/// the server gracefully.
pub(crate) struct GatewayServer;

/// The server actor's state: how to end its server.
pub(crate) struct Serving {
    shutdown: watch::Sender<bool>,
}

impl Actor for GatewayServer {
    type Msg = ();
    type State = Serving;
    type Arguments = (
        std::net::TcpListener,
        axum::Router,
        ConnectionLimits,
        watch::Sender<usize>,
    );

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        (listener, router, limits, live): Self::Arguments,
    ) -> Result<Serving, ActorProcessingErr> {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        live.send_modify(|n| *n += 1);
        tokio::spawn(async move {
            serve(listener, router, limits, shutdown_rx).await;
            // Its in-flight requests are answered: one live server fewer.
            live.send_modify(|n| *n = n.saturating_sub(1));
        });
        Ok(Serving { shutdown })
    }

    async fn post_stop(
        &self,
        _: ActorRef<()>,
        state: &mut Serving,
    ) -> Result<(), ActorProcessingErr> {
        let _ = state.shutdown.send(true);
        Ok(())
    }
}

/// What the supervisor keeps to start a server again.
pub(crate) struct Supervising {
    listener: std::net::TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    name: String,
    restarts: VecDeque<Instant>,
    /// Servers running or still answering requests in flight.
    live: watch::Sender<usize>,
    /// The current server actor.
    server: Option<ActorRef<()>>,
    /// Set when the gateway is asked to stop: servers ending then are not restarted.
    stopping: bool,
}

/// Supervises the gateway's server actor.
pub(crate) struct GatewaySupervisor;

/// The supervisor's messages.
pub(crate) enum SupervisorMsg {
    /// Stop taking connections; requests in flight finish.
    Stop,
}

// Local only: never sent to another node.
impl ractor::Message for SupervisorMsg {}

async fn start_server(
    myself: &ActorRef<SupervisorMsg>,
    s: &mut Supervising,
) -> Result<(), ActorProcessingErr> {
    let listener = s.listener.try_clone()?;
    let (server, _) = Actor::spawn_linked(
        Some(s.name.clone()),
        GatewayServer,
        (listener, s.router.clone(), s.limits, s.live.clone()),
        myself.get_cell(),
    )
    .await?;
    s.server = Some(server);
    Ok(())
}

impl Actor for GatewaySupervisor {
    type Msg = SupervisorMsg;
    type State = Supervising;
    type Arguments = (
        std::net::TcpListener,
        axum::Router,
        ConnectionLimits,
        String,
        watch::Sender<usize>,
    );

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        (listener, router, limits, name, live): Self::Arguments,
    ) -> Result<Supervising, ActorProcessingErr> {
        let mut state = Supervising {
            listener,
            router,
            limits,
            name,
            restarts: VecDeque::new(),
            live,
            server: None,
            stopping: false,
        };
        start_server(&myself, &mut state).await?;
        Ok(state)
    }

    async fn post_stop(
        &self,
        _: ActorRef<SupervisorMsg>,
        state: &mut Supervising,
    ) -> Result<(), ActorProcessingErr> {
        state.stopping = true;
        if let Some(server) = state.server.take() {
            server.stop(None);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut Supervising,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisorMsg::Stop = msg;
        state.stopping = true;
        // post_stop stops the server actor, whose own post_stop ends axum's server
        // gracefully.
        myself.stop(None);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut Supervising,
    ) -> Result<(), ActorProcessingErr> {
        let why = match &event {
            SupervisionEvent::ActorFailed(_, e) => e.to_string(),
            SupervisionEvent::ActorTerminated(_, _, reason) => {
                reason.clone().unwrap_or_else(|| "stopped".into())
            }
            _ => return Ok(()),
        };
        let is_current = match &event {
            SupervisionEvent::ActorFailed(c, _) | SupervisionEvent::ActorTerminated(c, _, _) => {
                state
                    .server
                    .as_ref()
                    .is_some_and(|s| s.get_id() == c.get_id())
            }
            _ => false,
        };
        if state.stopping || !is_current {
            return Ok(());
        }
        let now = Instant::now();
        while state
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            state.restarts.pop_front();
        }
        if state.restarts.len() >= MAX_RESTARTS {
            tracing::error!(reason = %why, "gateway server stopped past its restart intensity; the gateway is down");
            myself.stop(Some(why));
            return Ok(());
        }
        state.restarts.push_back(now);
        tracing::warn!(reason = %why, "gateway server stopped unasked; restarting it");
        start_server(&myself, state).await
    }
}
