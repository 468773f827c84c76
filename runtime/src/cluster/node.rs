//! One node of a swarm spanning machines, on ractor_cluster: a `NodeServer` listening with
//! a cookie, a dialer per peer that reconnects with exponential backoff, and a table of
//! peers and their states (what `/health` shows). Between two peers only the one whose
//! name sorts first dials, so a pair never races two connections.
//!
//! A peer that opens a session but never authenticates refused the cookie (or is not a
//! swarm node): it is marked `refused` and logged; one that was ready and disconnects is
//! `lost` until its dialer reaches it again.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ractor::{Actor, ActorRef};
use ractor_cluster::node::{NodeConnectionMode, NodeServerSessionInformation};
use ractor_cluster::{NodeEventSubscription, NodeServer, NodeServerMessage};
use tokio::sync::{mpsc, watch};

/// A peer as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Its node name.
    pub node: String,
    /// Where it listens.
    pub address: SocketAddr,
}

/// How a node starts.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's name (unique in the swarm).
    pub node: String,
    /// Where it listens.
    pub listen: SocketAddr,
    /// The other nodes.
    pub peers: Vec<PeerConfig>,
    /// The shared secret peers authenticate with.
    pub cookie: String,
    /// First wait before redialing a peer; doubles up to `max_backoff`.
    pub backoff: Duration,
    /// Longest wait between dials.
    pub max_backoff: Duration,
    /// Mutual TLS between nodes, when set.
    pub tls: Option<super::tls::TlsFiles>,
}

/// Where a peer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    /// Not reached yet, or being dialed.
    Connecting,
    /// Authenticated; exchanging state.
    Connected,
    /// Ready for work.
    Ready,
    /// It closed the session before authenticating: a wrong cookie, or not a swarm node.
    Refused,
    /// It was connected and went away; being redialed.
    Lost,
}

/// A peer as `/health` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerView {
    /// Its node name.
    pub node: String,
    /// Where it listens.
    pub address: String,
    /// Where it stands.
    pub state: PeerState,
    /// Dials made since it was last ready.
    pub attempts: u32,
    /// Why the last dial or session failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The node server did not start (the port is taken, …).
    #[error("cluster node `{node}` cannot listen on {listen}: {why}")]
    Listen {
        /// This node.
        node: String,
        /// Its address.
        listen: SocketAddr,
        /// What failed.
        why: String,
    },
    /// The TLS files could not be used.
    #[error("cluster node `{node}`: TLS: {why}")]
    Tls {
        /// This node.
        node: String,
        /// What failed, naming the file.
        why: String,
    },
}

type Peers = Arc<Mutex<BTreeMap<String, PeerView>>>;

fn lock(peers: &Peers) -> MutexGuard<'_, BTreeMap<String, PeerView>> {
    // Every write leaves the table consistent, even one cut short by a panic.
    peers.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long a dialed session may take to authenticate before the dial counts as failed.
const HANDSHAKE: Duration = Duration::from_secs(5);

/// A running node.
pub struct ClusterNode {
    server: ActorRef<NodeServerMessage>,
    listen: SocketAddr,
    peers: Peers,
    changed: watch::Receiver<u64>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

enum Event {
    Opened(NodeServerSessionInformation),
    Authenticated(NodeServerSessionInformation),
    Ready(NodeServerSessionInformation),
    Disconnected(NodeServerSessionInformation),
}

struct Subscription(mpsc::UnboundedSender<Event>);

impl NodeEventSubscription for Subscription {
    fn node_session_opened(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Opened(ses));
    }
    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Disconnected(ses));
    }
    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Authenticated(ses));
    }
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Ready(ses));
    }
}

/// The node part of ractor_cluster's `node@host` name.
fn node_of(full: &str) -> &str {
    full.split('@').next().unwrap_or(full)
}

impl ClusterNode {
    /// Starts listening and dialing the peers this node dials (those whose names sort
    /// after its own).
    pub async fn start(config: NodeConfig) -> Result<Self, ClusterError> {
        let listen_err = |why: String| ClusterError::Listen {
            node: config.node.clone(),
            listen: config.listen,
            why,
        };
        let tls = match &config.tls {
            Some(files) => {
                Some(
                    super::tls::NodeTls::load(files).map_err(|why| ClusterError::Tls {
                        node: config.node.clone(),
                        why,
                    })?,
                )
            }
            None => None,
        };
        let server = NodeServer::new(
            config.listen.port(),
            config.cookie.clone(),
            config.node.clone(),
            config.listen.ip().to_string(),
            tls.as_ref()
                .map(|t| ractor_cluster::IncomingEncryptionMode::Tls(t.acceptor.clone())),
            Some(NodeConnectionMode::Isolated),
        )
        .with_listen_addr(config.listen.ip());
        let (server, _) = Actor::spawn(None, server, ())
            .await
            .map_err(|e| listen_err(e.to_string()))?;
        let peers: Peers = Arc::new(Mutex::new(
            config
                .peers
                .iter()
                .map(|p| {
                    let view = PeerView {
                        node: p.node.clone(),
                        address: p.address.to_string(),
                        state: PeerState::Connecting,
                        attempts: 0,
                        last_error: None,
                    };
                    (p.node.clone(), view)
                })
                .collect(),
        ));
        let (changed_tx, changed) = watch::channel(0u64);
        let (stop, _) = watch::channel(false);
        let (events_tx, events) = mpsc::unbounded_channel();
        server
            .cast(NodeServerMessage::SubscribeToEvents {
                id: "swarm-peers".into(),
                subscription: Box::new(Subscription(events_tx)),
            })
            .map_err(|e| listen_err(e.to_string()))?;
        let changed_tx = Arc::new(changed_tx);
        let mut tasks = vec![tokio::spawn(track(
            events,
            config.clone(),
            peers.clone(),
            changed_tx.clone(),
        ))];
        for peer in config.peers.iter().filter(|p| config.node < p.node) {
            tasks.push(tokio::spawn(dial(
                server.clone(),
                peer.clone(),
                tls.as_ref().map(|t| t.connector.clone()),
                config.clone(),
                peers.clone(),
                changed_tx.subscribe(),
                changed_tx.clone(),
                stop.subscribe(),
            )));
        }
        tracing::info!(node = %config.node, listen = %config.listen, peers = config.peers.len(), "cluster node listening");
        Ok(Self {
            server,
            listen: config.listen,
            peers,
            changed,
            stop,
            tasks,
        })
    }

    /// Every configured peer and where it stands.
    pub fn peers(&self) -> Vec<PeerView> {
        lock(&self.peers).values().cloned().collect()
    }

    /// Waits until `ready(peers)` holds or `timeout` passes; whether it held.
    pub async fn wait_until(&self, timeout: Duration, ready: impl Fn(&[PeerView]) -> bool) -> bool {
        let mut changed = self.changed.clone();
        tokio::time::timeout(timeout, async {
            loop {
                if ready(&self.peers()) {
                    return;
                }
                if changed.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await
        .is_ok()
    }

    /// Stops dialing and closes every session and the listener; returns once the listen
    /// address is free again (at most 5 s), so a node can be restarted on it at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.abort();
        }
        self.server.stop(None);
        let _ = self
            .server
            .get_cell()
            .wait(Some(Duration::from_secs(5)))
            .await;
        // The listener is a child of the server and stops after it: wait for its socket.
        let listen = self.listen;
        let _ = tokio::time::timeout(Duration::from_secs(5), async move {
            while std::net::TcpListener::bind(listen).is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

/// Keeps the peer table current from the node server's session events.
async fn track(
    mut events: mpsc::UnboundedReceiver<Event>,
    config: NodeConfig,
    peers: Peers,
    changed: Arc<watch::Sender<u64>>,
) {
    let by_address: HashMap<String, String> = config
        .peers
        .iter()
        .map(|p| (p.address.to_string(), p.node.clone()))
        .collect();
    // Sessions by node id: which peer, and whether it authenticated.
    let mut sessions: HashMap<u64, (Option<String>, bool)> = HashMap::new();
    // Peers that authenticated with this node's cookie at least once: a session of theirs
    // closed before authenticating is a peer going down mid-handshake, not a refusal.
    let mut met: std::collections::HashSet<String> = std::collections::HashSet::new();
    while let Some(event) = events.recv().await {
        let named = |ses: &NodeServerSessionInformation| {
            ses.peer_name
                .as_ref()
                .map(|n| node_of(&n.name).to_string())
                .or_else(|| by_address.get(&ses.peer_addr).cloned())
        };
        let (peer, state) = match event {
            Event::Opened(ses) => {
                sessions.insert(ses.node_id, (named(&ses), false));
                continue;
            }
            Event::Authenticated(ses) => {
                let peer = named(&ses);
                met.extend(peer.clone());
                sessions.insert(ses.node_id, (peer.clone(), true));
                (peer, PeerState::Connected)
            }
            Event::Ready(ses) => (named(&ses), PeerState::Ready),
            Event::Disconnected(ses) => {
                let (known, authenticated) = sessions
                    .remove(&ses.node_id)
                    .unwrap_or((None, ses.peer_name.is_some()));
                let peer = known.or_else(|| named(&ses));
                let known = peer.as_ref().is_some_and(|p| met.contains(p));
                if authenticated || known {
                    (peer, PeerState::Lost)
                } else {
                    (peer, PeerState::Refused)
                }
            }
        };
        let Some(peer) = peer else {
            continue;
        };
        let mut table = lock(&peers);
        let Some(view) = table.get_mut(&peer) else {
            continue;
        };
        // One session of a pair closing while another is up (a lost election) is not news.
        if matches!(state, PeerState::Lost | PeerState::Refused)
            && matches!(view.state, PeerState::Ready | PeerState::Connected)
            && sessions
                .values()
                .any(|(p, a)| *a && p.as_deref() == Some(peer.as_str()))
        {
            continue;
        }
        match state {
            PeerState::Refused => {
                view.last_error = Some("the peer closed the session before authenticating: a wrong cookie, or not a swarm node".into());
                tracing::warn!(node = %config.node, peer = %peer, address = %view.address, "cluster peer refused the handshake (wrong cookie, or not a swarm node)");
            }
            PeerState::Lost => {
                tracing::warn!(node = %config.node, peer = %peer, "cluster peer lost")
            }
            PeerState::Ready => {
                view.attempts = 0;
                view.last_error = None;
                tracing::info!(node = %config.node, peer = %peer, "cluster peer ready");
            }
            _ => {}
        }
        view.state = state;
        drop(table);
        changed.send_modify(|n| *n += 1);
    }
}

/// Dials `peer` whenever it is not connected, waiting `backoff` (doubling, jittered, up
/// to `max_backoff`) between attempts; resets once the peer is ready.
#[allow(clippy::too_many_arguments)]
async fn dial(
    server: ActorRef<NodeServerMessage>,
    peer: PeerConfig,
    tls: Option<tokio_rustls::TlsConnector>,
    config: NodeConfig,
    peers: Peers,
    mut changed: watch::Receiver<u64>,
    notify: Arc<watch::Sender<u64>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = config.backoff;
    loop {
        if *stop.borrow() {
            return;
        }
        let state = lock(&peers).get(&peer.node).map(|v| v.state);
        match state {
            Some(PeerState::Connected | PeerState::Ready) => {
                wait = config.backoff;
                // Up: wait for news (a loss), or the stop.
                tokio::select! {
                    _ = changed.changed() => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
            None => return,
            _ => {}
        }
        let result = match &tls {
            None => ractor_cluster::client_connect(&server, peer.address)
                .await
                .map_err(|e| e.to_string()),
            Some(connector) => match super::tls::server_name(&peer.node) {
                Ok(name) => ractor_cluster::client_connect_enc(
                    &server,
                    peer.address,
                    connector.clone(),
                    name,
                )
                .await
                .map_err(|e| format!("TLS: {e}")),
                Err(e) => Err(e),
            },
        };
        if let Some(view) = lock(&peers).get_mut(&peer.node) {
            view.attempts = view.attempts.saturating_add(1);
            if let Err(e) = &result {
                view.last_error = Some(format!("cannot connect to {}: {e}", peer.address));
            }
        }
        notify.send_modify(|n| *n += 1);
        if result.is_ok() {
            // Give the handshake its time before judging the dial (no second session).
            let before = state;
            let settled = async {
                loop {
                    let now = lock(&peers).get(&peer.node).map(|v| v.state);
                    if now != before && now != Some(PeerState::Connecting) {
                        return;
                    }
                    if changed.changed().await.is_err() {
                        return;
                    }
                }
            };
            let _ = tokio::time::timeout(HANDSHAKE, settled).await;
            if matches!(
                lock(&peers).get(&peer.node).map(|v| v.state),
                Some(PeerState::Connected | PeerState::Ready)
            ) {
                continue;
            }
        }
        // ±20% so that peers that lost each other together do not redial in step.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = 0.8 + f64::from(nanos % 400) / 1000.0;
        let pause = wait.mul_f64(jitter);
        wait = (wait * 2).min(config.max_backoff);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}
