//! A service as one node of a cluster runs it: this node's pools (when it is one of the
//! service's `nodes`), the gateway that serves them to peers, and the route in front of
//! both — seen by the rest of the swarm as one running service.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::codec::RemoteCodec;
use super::directory::Directory;
use super::gateway::GatewayMsg;
use super::route::ClusterRoute;
use crate::client::{Client, ClusterCall};
use crate::error::SwarmError;
use crate::metrics::{QueueGauge, ServiceMetrics};
use crate::pool::{DrainReport, Health, PoolSpec};
use crate::topology::{BoxFuture, RunningService};

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
                    running: Default::default(),
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
        let route = Arc::new(ClusterRoute::<S>::new(&spec, client, directory.clone()));
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
