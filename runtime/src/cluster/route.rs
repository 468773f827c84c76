//! The calling side of a service that runs on several nodes: each call goes to the node
//! with the soonest estimated completion — the scheduler's rule (`estimate.rs`) over this
//! node's pools and each live peer's last reported load plus its heartbeat round trip —
//! preferring this node on ties. A remote call carries the envelope (id, remaining time,
//! priority, traceparent) in a request frame and is bounded three ways: a per-peer limit
//! on calls in flight (`overloaded` beyond it), the caller's deadline, and the peer's
//! heartbeat (`unavailable` the moment it is found dead).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::rpc::CallResult;
use tokio::time::Instant;
use tracing::Instrument;

use super::codec::{RemoteCodec, error_from_wire};
use super::directory::{Directory, Member};
use super::gateway::GatewayMsg;
use super::wire::{RemoteReply, RemoteRequest};
use crate::client::{CallOptions, Client, ClusterCall};
use crate::envelope::{Reply, RequestId};
use crate::error::SwarmError;
use crate::pool::PoolSpec;
use crate::scheduler::Device;
use crate::scheduler::estimate::{self, PoolLoad};
use crate::topology::BoxFuture;

/// Routes one service's calls between this node and its peers.
pub(crate) struct ClusterRoute<S: RemoteCodec> {
    service: String,
    default_deadline: Duration,
    local: Option<Client<S>>,
    directory: Arc<Directory>,
    homes: Mutex<Homes>,
    turn: std::sync::atomic::AtomicUsize,
}

#[derive(Clone)]
enum Target {
    Local,
    Remote(Arc<Member>),
}

/// Where keyed state lives (`None`: this node), for [`RemoteCodec::affinity`]; the
/// oldest entries are forgotten past [`MAX_HOMES`] (a forgotten key is asked around).
#[derive(Default)]
struct Homes {
    node: HashMap<String, Option<String>>,
    order: VecDeque<String>,
}

const MAX_HOMES: usize = 65_536;

impl<S: RemoteCodec> ClusterRoute<S> {
    pub(crate) fn new(
        spec: &PoolSpec,
        local: Option<Client<S>>,
        directory: Arc<Directory>,
    ) -> Self {
        Self {
            service: spec.name.clone(),
            default_deadline: spec.default_deadline,
            local,
            directory,
            homes: Mutex::new(Homes::default()),
            turn: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn pick(&self, units: f64) -> Option<Target> {
        let now = Instant::now();
        let mut loads: Vec<PoolLoad> = self
            .local
            .as_ref()
            .map(|c| c.local_loads(now))
            .unwrap_or_default();
        let local = loads.len();
        let mut members = self.directory.members_of(&self.service);
        // Peers that tie are taken in turn (this node still wins its ties).
        if !members.is_empty() {
            let turn = self.turn.fetch_add(1, Relaxed) % members.len();
            members.rotate_left(turn);
        }
        for m in &members {
            let l = m.load();
            loads.push(PoolLoad {
                queued: l.queued as usize,
                in_flight: (l.in_flight as usize).max(m.in_flight.load(Relaxed)),
                slots: (l.slots as usize).max(1),
                per_unit: (l.per_unit_us > 0).then(|| f64::from(l.per_unit_us) / 1e6),
                mean_units: None,
                transfer: m.rtt.get().unwrap_or(0.0),
                stalled: 0.0,
                background: 0.0,
                device: Device::Remote,
                eligible: m.alive() && m.peer.slots.available_permits() > 0,
            });
        }
        let choice = estimate::choose(&loads, units)?;
        Some(match choice.index.checked_sub(local) {
            None => Target::Local,
            Some(i) => Target::Remote(members[i].clone()),
        })
    }

    fn nobody(&self) -> SwarmError {
        let members = self.directory.members_of(&self.service);
        let known: Vec<String> = members
            .iter()
            .map(|m| {
                let state = if m.alive() { "busy" } else { "dead" };
                format!("{} ({state})", m.node)
            })
            .collect();
        match (&self.local, known.is_empty()) {
            (Some(_), _) => SwarmError::Unavailable(format!(
                "no node can take `{}` now: this node's pools are not serving; peers: [{}]",
                self.service,
                known.join(", ")
            )),
            (None, true) => {
                SwarmError::Unavailable(format!("no node running `{}` is connected", self.service))
            }
            (None, false) => SwarmError::Unavailable(format!(
                "no node running `{}` can take work now: [{}]",
                self.service,
                known.join(", ")
            )),
        }
    }

    async fn remote(
        &self,
        member: &Member,
        mut request: S::Request,
        deadline: Instant,
        options: CallOptions,
    ) -> Reply<S::Response> {
        let service = &self.service;
        let Ok(_permit) = member.peer.slots.clone().try_acquire_owned() else {
            return Err(SwarmError::Overloaded {
                service: service.clone(),
                retry_after: Duration::from_millis(50),
            });
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(SwarmError::DeadlineExceeded);
        }
        let sink = S::take_stream(&mut request);
        let payload = S::encode_request(&request)
            .map_err(|e| SwarmError::InvalidRequest(format!("cannot send the request: {e}")))?;
        let traceparent =
            crate::telemetry::traceparent_of(&tracing::Span::current()).or(options.traceparent);
        let id = RequestId::next();
        let mut stream = sink.map(|sink| super::stream::open(id, sink));
        let frame = RemoteRequest {
            id,
            remaining,
            priority: options.priority,
            traceparent,
            service: service.clone(),
            from: self.directory.node.clone(),
            streamed: stream.is_some(),
            payload,
        }
        .encode()
        .map_err(|e| SwarmError::InvalidRequest(format!("cannot send the request: {e}")))?;
        let mut lost = member.lost.subscribe();
        if *lost.borrow() {
            return Err(SwarmError::Unavailable(format!(
                "node `{}` is lost",
                member.node
            )));
        }
        member.in_flight.fetch_add(1, Relaxed);
        member.peer.in_flight.fetch_add(1, Relaxed);
        // Until the answer is in, giving up (the deadline, or this future dropped) tells
        // the peer to stop the work.
        let mut cancel = CancelOnDrop {
            actor: Some(member.actor.clone()),
            id,
            from: &self.directory.node,
        };
        let answer = tokio::select! {
            a = member.actor.call(|port| GatewayMsg::Call(frame, port), Some(remaining)) => Some(a),
            _ = lost.wait_for(|l| *l) => None,
        };
        member.in_flight.fetch_sub(1, Relaxed);
        member.peer.in_flight.fetch_sub(1, Relaxed);
        let lost_msg = || format!("node `{}` was lost with the call in flight", member.node);
        let bytes = match answer {
            Some(Ok(CallResult::Success(bytes))) => {
                cancel.actor = None;
                bytes
            }
            Some(Ok(CallResult::Timeout)) => return Err(SwarmError::DeadlineExceeded),
            Some(Ok(CallResult::SenderError)) | Some(Err(_)) | None => {
                return Err(SwarmError::Unavailable(lost_msg()));
            }
        };
        let reply = RemoteReply::decode(&bytes).map_err(|e| {
            SwarmError::Unavailable(format!("node `{}` answered badly: {e}", member.node))
        })?;
        *member.load.lock().unwrap_or_else(|p| p.into_inner()) = reply.load;
        if let Some(stream) = &mut stream {
            let until = Instant::now() + super::directory::DEAD_AFTER;
            if !stream.delivered(reply.pieces, until).await {
                tracing::warn!(peer = %member.node, "pieces of a streamed answer did not all arrive");
            }
        }
        match reply.outcome {
            Ok(bytes) => S::decode_response(&bytes).map_err(|e| {
                SwarmError::Internal(format!("node `{}` sent a bad response: {e}", member.node))
            }),
            Err((code, message)) => Err(error_from_wire(code, &message, service)),
        }
    }
}

impl<S: RemoteCodec> ClusterCall<S> for ClusterRoute<S> {
    fn service(&self) -> &str {
        &self.service
    }

    fn default_deadline(&self) -> Duration {
        self.default_deadline
    }

    fn call(
        &self,
        request: S::Request,
        deadline: Instant,
        options: CallOptions,
    ) -> BoxFuture<'_, Reply<S::Response>> {
        Box::pin(async move {
            let key = S::affinity(&request).map(std::borrow::Cow::into_owned);
            let home = key.as_deref().and_then(|k| self.home(k));
            let (reply, ran_on) = match (key.as_deref(), home) {
                (Some(_), Some(None)) => (
                    self.run(Target::Local, request, deadline, options).await,
                    Some(Target::Local),
                ),
                (Some(k), Some(Some(node))) => {
                    let member = self
                        .directory
                        .members_of(&self.service)
                        .into_iter()
                        .find(|m| m.node == node && m.alive());
                    match member {
                        Some(m) => {
                            let t = Target::Remote(m);
                            (
                                self.run(t.clone(), request, deadline, options).await,
                                Some(t),
                            )
                        }
                        None => (
                            Err(SwarmError::Unavailable(format!(
                                "`{k}` of `{}` lives on node `{node}`, which is not reachable now",
                                self.service
                            ))),
                            None,
                        ),
                    }
                }
                (Some(_), None) => self.ask_around(request, deadline, options).await,
                (None, _) => match self.pick(S::work_units(&request)) {
                    None => (Err(self.nobody()), None),
                    Some(t) => (
                        self.run(t.clone(), request, deadline, options).await,
                        Some(t),
                    ),
                },
            };
            if let (Ok(response), Some(t)) = (&reply, ran_on) {
                if let Some(created) = S::created(response) {
                    self.remember(&created, &t);
                }
                if let Some(k) = key.as_deref() {
                    self.remember(k, &t);
                }
            }
            reply
        })
    }
}

impl<S: RemoteCodec> ClusterRoute<S> {
    /// Runs the call on `target`.
    async fn run(
        &self,
        target: Target,
        request: S::Request,
        deadline: Instant,
        options: CallOptions,
    ) -> Reply<S::Response> {
        match target {
            Target::Local => match &self.local {
                Some(local) => {
                    let timeout = deadline.saturating_duration_since(Instant::now());
                    let options = CallOptions {
                        timeout: Some(timeout),
                        ..options
                    };
                    local.dispatch(request, options).await
                }
                None => Err(self.nobody()),
            },
            Target::Remote(member) => {
                tracing::Span::current().record("route", member.node.as_str());
                let span = tracing::info_span!("swarm.remote.call", service = %self.service, peer = %member.node);
                let reply = self
                    .remote(&member, request, deadline, options)
                    .instrument(span)
                    .await;
                member.peer.count(match &reply {
                    Ok(_) => "ok",
                    Err(e) => e.code().as_str(),
                });
                reply
            }
        }
    }

    /// A key this node has not seen: tries this node, then each live peer, until one
    /// knows it (`not_found` means the call changed nothing there, so the next may try).
    async fn ask_around(
        &self,
        request: S::Request,
        deadline: Instant,
        options: CallOptions,
    ) -> (Reply<S::Response>, Option<Target>) {
        let mut targets: Vec<Target> = self.local.iter().map(|_| Target::Local).collect();
        targets.extend(
            self.directory
                .members_of(&self.service)
                .into_iter()
                .filter(|m| m.alive())
                .map(Target::Remote),
        );
        let mut last = (Err(self.nobody()), None);
        for t in targets {
            let reply = self
                .run(t.clone(), request.clone(), deadline, options.clone())
                .await;
            let not_here = matches!(reply, Err(SwarmError::NotFound(_)));
            last = (reply, Some(t));
            if !not_here {
                break;
            }
        }
        last
    }

    fn homes(&self) -> std::sync::MutexGuard<'_, Homes> {
        self.homes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn home(&self, key: &str) -> Option<Option<String>> {
        self.homes().node.get(key).cloned()
    }

    fn remember(&self, key: &str, target: &Target) {
        let node = match target {
            Target::Local => None,
            Target::Remote(m) => Some(m.node.clone()),
        };
        let mut homes = self.homes();
        if homes.node.insert(key.to_string(), node).is_none() {
            homes.order.push_back(key.to_string());
            if homes.order.len() > MAX_HOMES
                && let Some(old) = homes.order.pop_front()
            {
                homes.node.remove(&old);
            }
        }
    }
}

/// Sends a cancel frame for a remote call unless disarmed (its answer came).
struct CancelOnDrop<'a> {
    actor: Option<ractor::ActorRef<GatewayMsg>>,
    id: RequestId,
    from: &'a str,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        let Some(actor) = self.actor.take() else {
            return;
        };
        let frame = super::wire::Cancel {
            id: self.id,
            from: self.from.to_string(),
        }
        .encode();
        if let Ok(frame) = frame {
            let _ = actor.cast(GatewayMsg::Cancel(frame));
        }
    }
}
