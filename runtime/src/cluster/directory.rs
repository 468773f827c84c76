//! Which peers run which service, and whether they are alive: the calling side's view.
//!
//! A watcher actor follows the `swarm` process-group scope. When a peer's gateway joins
//! `svc/{name}` (ractor_cluster mirrors it once the session is up), the watcher greets it
//! with a hello frame; a peer of another wire version is refused with a log line and never
//! routed to. A heartbeat greets every known gateway each [`HEARTBEAT`]; one that has not
//! answered for [`DEAD_AFTER`] is marked dead at once, so calls in flight to it fail
//! `unavailable` and new calls go elsewhere, even when the network drops packets silently
//! and no connection ever closes. It is taken back when it answers again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::gateway::{GatewayMsg, SCOPE};
use super::wire::{Hello, Load, WIRE_VERSION, WireError};
use crate::scheduler::estimate::Ewma;

/// How often each peer gateway is greeted.
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(250);
/// A gateway silent this long is dead: its calls in flight fail `unavailable`.
pub(crate) const DEAD_AFTER: Duration = Duration::from_millis(1500);

/// One peer's gateway for one service.
pub(crate) struct Member {
    pub(crate) service: String,
    pub(crate) node: String,
    pub(crate) actor: ActorRef<GatewayMsg>,
    pub(crate) id: ActorId,
    /// The load its last reply reported.
    pub(crate) load: Mutex<Load>,
    /// Calls this node has in flight to it.
    pub(crate) in_flight: AtomicUsize,
    /// Heartbeat round trip, seconds.
    pub(crate) rtt: Ewma,
    alive: AtomicBool,
    last_answer: Mutex<Instant>,
    pinging: AtomicBool,
    /// Flips to true when it is found dead or leaves: calls in flight give up.
    pub(crate) lost: watch::Sender<bool>,
    pub(crate) peer: Arc<PeerStats>,
}

impl Member {
    pub(crate) fn alive(&self) -> bool {
        self.alive.load(Relaxed)
    }

    pub(crate) fn load(&self) -> Load {
        *self.load.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_dead(&self, why: &str) {
        if self.alive.swap(false, Relaxed) {
            tracing::warn!(peer = %self.node, service = %self.service, "{why}: its calls in flight fail `unavailable`, new calls go to other nodes");
        }
        let _ = self.lost.send_replace(true);
    }
}

/// Per-peer counts, for `/metrics`.
pub(crate) struct PeerStats {
    /// Calls in flight to the peer are bounded here, not in the transport (whose queues
    /// are unbounded): a call beyond it is answered `overloaded` at once.
    pub(crate) slots: Arc<Semaphore>,
    /// Calls by outcome (`ok` or an error code).
    pub(crate) outcomes: Mutex<BTreeMap<&'static str, u64>>,
    pub(crate) in_flight: AtomicU64,
}

impl PeerStats {
    pub(crate) fn count(&self, outcome: &'static str) {
        *self
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(outcome)
            .or_default() += 1;
    }
}

/// The calling side's view of every peer gateway.
pub(crate) struct Directory {
    pub(crate) node: String,
    hello: Vec<u8>,
    max_in_flight: usize,
    members: Mutex<Vec<Arc<Member>>>,
    peers: Mutex<BTreeMap<String, Arc<PeerStats>>>,
    stopped: AtomicBool,
    /// This node's receiver of streamed pieces.
    receiver: Mutex<Option<ActorRef<super::stream::StreamMsg>>>,
}

impl Directory {
    /// Starts following peers' gateways for node `node`.
    pub(crate) async fn start(
        node: &str,
        max_in_flight: usize,
    ) -> Result<(Arc<Self>, ActorRef<()>), String> {
        let hello = Hello {
            node: node.to_string(),
        }
        .encode()
        .map_err(|e| e.to_string())?;
        let directory = Arc::new(Self {
            node: node.to_string(),
            hello,
            max_in_flight: max_in_flight.max(1),
            members: Mutex::new(Vec::new()),
            peers: Mutex::new(BTreeMap::new()),
            stopped: AtomicBool::new(false),
            receiver: Mutex::new(None),
        });
        let (receiver, _) = Actor::spawn(None, super::stream::StreamReceiver, node.to_string())
            .await
            .map_err(|e| format!("cluster stream receiver failed to start: {e}"))?;
        *directory.receiver.lock().unwrap_or_else(|p| p.into_inner()) = Some(receiver);
        let (watcher, _) = Actor::spawn(None, Watcher, directory.clone())
            .await
            .map_err(|e| format!("cluster directory failed to start: {e}"))?;
        tokio::spawn(heartbeat(Arc::downgrade(&directory)));
        Ok((directory, watcher))
    }

    pub(crate) fn stop(&self) {
        self.stopped.store(true, Relaxed);
        if let Some(r) = self
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            r.stop(None);
        }
        for m in self.members().drain(..) {
            let _ = m.lost.send_replace(true);
        }
    }

    pub(crate) fn hello_frame(&self) -> Vec<u8> {
        self.hello.clone()
    }

    fn members(&self) -> MutexGuard<'_, Vec<Arc<Member>>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The gateways of `service` on other nodes, dead ones included.
    pub(crate) fn members_of(&self, service: &str) -> Vec<Arc<Member>> {
        self.members()
            .iter()
            .filter(|m| m.service == service)
            .cloned()
            .collect()
    }

    fn peer(&self, node: &str) -> Arc<PeerStats> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .entry(node.to_string())
            .or_insert_with(|| {
                Arc::new(PeerStats {
                    slots: Arc::new(Semaphore::new(self.max_in_flight)),
                    outcomes: Mutex::new(BTreeMap::new()),
                    in_flight: AtomicU64::new(0),
                })
            })
            .clone()
    }

    /// Greets a gateway that joined `group`; adds it when it speaks our version.
    async fn greet(self: Arc<Self>, group: String, cell: ActorCell) {
        let Some(service) = group.strip_prefix("svc/").map(str::to_string) else {
            return;
        };
        let actor: ActorRef<GatewayMsg> = cell.clone().into();
        // A loaded peer may miss a hello: try a few times before waiting for a rejoin.
        let mut node = None;
        for attempt in 1..=5u32 {
            let frame = self.hello.clone();
            let answer = actor
                .call(|port| GatewayMsg::Hello(frame, port), Some(DEAD_AFTER))
                .await;
            match answer {
                Ok(ractor::rpc::CallResult::Success(bytes)) => match Hello::decode(&bytes) {
                    Ok(hello) => {
                        node = Some(hello.node);
                        break;
                    }
                    Err(WireError::Version { theirs, ours }) => {
                        tracing::warn!(service = %service, "refusing peer gateway {:?}: it speaks swarm wire v{theirs}, we speak v{ours}", cell.get_id());
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(service = %service, error = %e, "refusing peer gateway: bad hello");
                        return;
                    }
                },
                // Gone (its session closed): nothing to greet.
                Err(_) | Ok(ractor::rpc::CallResult::SenderError) => return,
                Ok(ractor::rpc::CallResult::Timeout) => {
                    tokio::time::sleep(HEARTBEAT * attempt).await;
                }
            }
        }
        let Some(node) = node else {
            tracing::warn!(service = %service, "a peer gateway did not answer its hello; it is greeted again when it rejoins");
            return;
        };
        if node == self.node || self.stopped.load(Relaxed) {
            return;
        }
        let id = cell.get_id();
        let member = Arc::new(Member {
            service: service.clone(),
            peer: self.peer(&node),
            node: node.clone(),
            actor,
            id,
            load: Mutex::new(Load::default()),
            in_flight: AtomicUsize::new(0),
            rtt: Ewma::default(),
            alive: AtomicBool::new(true),
            last_answer: Mutex::new(Instant::now()),
            pinging: AtomicBool::new(false),
            lost: watch::channel(false).0,
        });
        let mut members = self.members();
        if !members.iter().any(|m| m.id == id) {
            tracing::info!(peer = %node, service = %service, "peer serves `{service}` (swarm wire v{WIRE_VERSION})");
            members.push(member);
        }
    }

    fn leave(&self, cells: &[ActorCell]) {
        let ids: Vec<ActorId> = cells.iter().map(ActorCell::get_id).collect();
        let mut members = self.members();
        members.retain(|m| {
            let gone = ids.contains(&m.id);
            if gone {
                m.mark_dead(&format!("peer `{}` left (`{}`)", m.node, m.service));
            }
            !gone
        });
    }

    /// `/metrics` lines: per-peer calls by outcome and calls in flight.
    pub(crate) fn render(&self) -> Vec<crate::service::MetricFamily> {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let (mut calls, mut in_flight, mut alive) = (String::new(), String::new(), String::new());
        for (node, stats) in peers.iter() {
            for (outcome, n) in stats
                .outcomes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                let _ = writeln!(
                    calls,
                    "swarm_cluster_peer_calls_total{{peer=\"{node}\",outcome=\"{outcome}\"}} {n}"
                );
            }
            let _ = writeln!(
                in_flight,
                "swarm_cluster_peer_in_flight{{peer=\"{node}\"}} {}",
                stats.in_flight.load(Relaxed)
            );
            let up = self.members().iter().any(|m| &m.node == node && m.alive());
            let _ = writeln!(
                alive,
                "swarm_cluster_peer_up{{peer=\"{node}\"}} {}",
                u8::from(up)
            );
        }
        vec![
            family(
                "swarm_cluster_peer_calls_total",
                "Calls this node sent to each peer, by outcome.",
                "counter",
                calls,
            ),
            family(
                "swarm_cluster_peer_in_flight",
                "Calls in flight from this node to each peer.",
                "gauge",
                in_flight,
            ),
            family(
                "swarm_cluster_peer_up",
                "1 while the peer's gateways answer heartbeats.",
                "gauge",
                alive,
            ),
        ]
    }
}

fn family(
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: String,
) -> crate::service::MetricFamily {
    crate::service::MetricFamily {
        name,
        help,
        kind,
        samples,
    }
}

/// Greets every known gateway each [`HEARTBEAT`]; marks the silent ones dead.
async fn heartbeat(directory: std::sync::Weak<Directory>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(d) = directory.upgrade() else { return };
        if d.stopped.load(Relaxed) {
            return;
        }
        for m in d.members().iter() {
            let silent = m
                .last_answer
                .lock()
                .map(|t| t.elapsed())
                .unwrap_or_default();
            if silent > DEAD_AFTER {
                m.mark_dead(&format!(
                    "peer `{}` missed its heartbeats for {silent:?}",
                    m.node
                ));
            }
            if m.pinging.swap(true, Relaxed) {
                continue;
            }
            let (m, frame) = (m.clone(), d.hello.clone());
            tokio::spawn(async move {
                let sent = Instant::now();
                let answer = m
                    .actor
                    .call(|port| GatewayMsg::Hello(frame, port), Some(DEAD_AFTER))
                    .await;
                if let Ok(ractor::rpc::CallResult::Success(_)) = answer {
                    m.rtt.observe(sent.elapsed().as_secs_f64());
                    *m.last_answer.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                    if !m.alive.swap(true, Relaxed) {
                        let _ = m.lost.send_replace(false);
                        tracing::info!(peer = %m.node, service = %m.service, "peer answers again: it takes work again");
                    }
                }
                m.pinging.store(false, Relaxed);
            });
        }
    }
}

/// Follows the `swarm` scope's process groups.
struct Watcher;

impl Actor for Watcher {
    type Msg = ();
    type State = Arc<Directory>;
    type Arguments = Arc<Directory>;

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        directory: Arc<Directory>,
    ) -> Result<Arc<Directory>, ActorProcessingErr> {
        ractor::pg::monitor_scope(SCOPE.to_string(), myself.get_cell());
        for key in ractor::pg::which_scopes_and_groups() {
            if key.get_scope() != SCOPE {
                continue;
            }
            for cell in ractor::pg::get_scoped_members(&key.get_scope(), &key.get_group()) {
                if !cell.get_id().is_local() {
                    tokio::spawn(directory.clone().greet(key.get_group(), cell));
                }
            }
        }
        Ok(directory)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        event: SupervisionEvent,
        directory: &mut Arc<Directory>,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ProcessGroupChanged(change) = event {
            match change {
                ractor::pg::GroupChangeMessage::Join(scope, group, cells) if scope == SCOPE => {
                    for cell in cells.into_iter().filter(|c| !c.get_id().is_local()) {
                        tokio::spawn(directory.clone().greet(group.clone(), cell));
                    }
                }
                ractor::pg::GroupChangeMessage::Leave(scope, _, cells) if scope == SCOPE => {
                    directory.leave(&cells);
                }
                _ => {}
            }
        }
        Ok(())
    }
}
