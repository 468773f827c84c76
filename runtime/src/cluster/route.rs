//! The calling side of a service that runs on several nodes: each call goes to the node
//! with the soonest estimated completion — the scheduler's rule (`estimate.rs`) over this
//! node's pools and each live peer's last reported load plus its heartbeat round trip —
//! preferring this node on ties. A remote call carries the envelope (id, remaining time,
//! priority, traceparent) in a request frame and is bounded three ways: a per-peer limit
//! on calls in flight (`overloaded` beyond it), the caller's deadline, and the peer's
//! heartbeat (`unavailable` the moment it is found dead).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
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
use crate::metrics::{QueueGauge, ServiceMetrics};
use crate::pool::{DrainReport, Health, PoolSpec};
use crate::scheduler::Device;
use crate::scheduler::estimate::{self, PoolLoad};
use crate::topology::{BoxFuture, RunningService};

/// Routes one service's calls between this node and its peers.
pub(crate) struct ClusterRoute<S: RemoteCodec> {
    service: String,
    default_deadline: Duration,
    local: Option<Client<S>>,
    directory: Arc<Directory>,
}

enum Target {
    Local,
    Remote(Arc<Member>),
}

impl<S: RemoteCodec> ClusterRoute<S> {
    fn pick(&self, units: f64) -> Option<Target> {
        let now = Instant::now();
        let mut loads: Vec<PoolLoad> = self
            .local
            .as_ref()
            .map(|c| c.local_loads(now))
            .unwrap_or_default();
        let local = loads.len();
        let members = self.directory.members_of(&self.service);
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
        request: S::Request,
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
        let payload = S::encode_request(&request)
            .map_err(|e| SwarmError::InvalidRequest(format!("cannot send the request: {e}")))?;
        let traceparent =
            crate::telemetry::traceparent_of(&tracing::Span::current()).or(options.traceparent);
        let frame = RemoteRequest {
            id: RequestId::next(),
            remaining,
            priority: options.priority,
            traceparent,
            service: service.clone(),
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
        let answer = tokio::select! {
            a = member.actor.call(|port| GatewayMsg::Call(frame, port), Some(remaining)) => Some(a),
            _ = lost.wait_for(|l| *l) => None,
        };
        member.in_flight.fetch_sub(1, Relaxed);
        member.peer.in_flight.fetch_sub(1, Relaxed);
        let lost_msg = || format!("node `{}` was lost with the call in flight", member.node);
        let bytes = match answer {
            Some(Ok(CallResult::Success(bytes))) => bytes,
            Some(Ok(CallResult::Timeout)) => return Err(SwarmError::DeadlineExceeded),
            Some(Ok(CallResult::SenderError)) | Some(Err(_)) | None => {
                return Err(SwarmError::Unavailable(lost_msg()));
            }
        };
        let reply = RemoteReply::decode(&bytes).map_err(|e| {
            SwarmError::Unavailable(format!("node `{}` answered badly: {e}", member.node))
        })?;
        *member.load.lock().unwrap_or_else(|p| p.into_inner()) = reply.load;
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
            match self.pick(S::work_units(&request)) {
                None => Err(self.nobody()),
                Some(Target::Local) => match &self.local {
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
                Some(Target::Remote(member)) => {
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
        })
    }
}

/// A service as a node of a cluster runs it: this node's pools (when it is one of the
/// service's `nodes`), its gateway for peers, and the route in front of both.
pub(crate) struct ClusterService<S: crate::Service> {
    spec: PoolSpec,
    local: Option<Arc<dyn RunningService>>,
    gateway: Option<ractor::ActorRef<GatewayMsg>>,
    route: Arc<dyn ClusterCall<S>>,
    directory: Arc<Directory>,
}

/// Wraps a started (or absent) local service for the cluster: starts its gateway when it
/// runs here.
pub(crate) fn wrap<S: RemoteCodec>(
    spec: PoolSpec,
    local: Option<Arc<dyn RunningService>>,
    directory: Arc<Directory>,
) -> BoxFuture<'static, Result<Arc<dyn RunningService>, SwarmError>> {
    Box::pin(async move {
        let client = local
            .as_ref()
            .and_then(|l| crate::topology::client_of::<S>(l.as_any()));
        let gateway = match &client {
            Some(client) => {
                let state = super::gateway::GatewayState {
                    serve: super::gateway::serve(client.clone(), directory.node.clone()),
                    hello: directory.hello_frame(),
                    service: spec.name.clone(),
                };
                let (actor, _) = ractor::Actor::spawn(None, super::gateway::ServiceGateway, state)
                    .await
                    .map_err(|e| {
                        SwarmError::Internal(format!("gateway of `{}` failed: {e}", spec.name))
                    })?;
                Some(actor)
            }
            None => None,
        };
        let route = Arc::new(ClusterRoute::<S> {
            service: spec.name.clone(),
            default_deadline: spec.default_deadline,
            local: client,
            directory: directory.clone(),
        });
        Ok(Arc::new(ClusterService::<S> {
            spec,
            local,
            gateway,
            route,
            directory,
        }) as Arc<dyn RunningService>)
    })
}

impl<S: crate::Service> ClusterService<S> {
    pub(crate) fn client(&self) -> Client<S> {
        Client::cluster(self.route.clone())
    }
}

impl<S: crate::Service> RunningService for ClusterService<S> {
    fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    fn check(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            let local = match &self.local {
                Some(l) => Some(l.check().await),
                None => None,
            };
            let peers: Vec<String> = self
                .directory
                .members_of(&self.spec.name)
                .iter()
                .filter(|m| m.alive())
                .map(|m| m.node.clone())
                .collect();
            let healthy = local.as_ref().is_some_and(|h| h.healthy) || !peers.is_empty();
            let here = local.map_or("not run on this node".to_string(), |h| h.detail);
            Health {
                healthy,
                detail: format!("{here}; peers serving it: [{}]", peers.join(", ")),
            }
        })
    }

    fn metric_rows(&self, service: &str) -> Vec<(String, &ServiceMetrics, QueueGauge)> {
        self.local
            .as_ref()
            .map(|l| l.metric_rows(service))
            .unwrap_or_default()
    }

    fn families(&self, service: &str) -> Vec<crate::service::MetricFamily> {
        // Per-peer figures are the node's, printed once by the swarm.
        self.local
            .as_ref()
            .map(|l| l.families(service))
            .unwrap_or_default()
    }

    fn pools(&self) -> Vec<crate::scheduler::PoolStatus> {
        self.local.as_ref().map(|l| l.pools()).unwrap_or_default()
    }

    fn shutdown(&self, grace: Duration) -> BoxFuture<'_, DrainReport> {
        Box::pin(async move {
            // Peers stop routing here first; calls already admitted drain with the pool.
            if let Some(g) = &self.gateway {
                g.stop(None);
            }
            match &self.local {
                Some(l) => l.shutdown(grace).await,
                None => DrainReport::default(),
            }
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
