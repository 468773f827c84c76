//! Service types and component sections an app makes available to its YAML.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Component, GroupStarter, RunningService, ServiceStarter};
use crate::config::Section;
use crate::error::SwarmError;
use crate::pool::ServicePool;
use crate::scheduler::{DeviceDetector, GpuInfo};
use crate::service::{Service, ServiceFactory};

type ServiceParser = Arc<dyn Fn(&Section<'_>) -> Option<ServiceStarter> + Send + Sync>;
type ComponentParser = Arc<dyn Fn(&Section<'_>) -> Option<Arc<dyn Component>> + Send + Sync>;

/// Values attached to a service type at registration, found again by their type on the
/// running swarm ([`crate::Swarm::attachment`]). The runtime never looks inside: this is
/// how a layer above it (the HTTP gateway) keeps what it needs per service type.
#[derive(Clone, Default)]
pub struct Attachments(Vec<Arc<dyn Any + Send + Sync>>);

impl Attachments {
    /// The attached value of type `T`, if any.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.iter().find_map(|a| a.downcast_ref::<T>())
    }
}

/// A registered service type.
#[derive(Clone)]
pub(crate) struct ServiceEntry {
    pub(crate) parser: ServiceParser,
    pub(crate) type_id: TypeId,
    pub(crate) attachments: Attachments,
    /// Whether the type serves an external interface at the service's `route_prefix`.
    pub(crate) exposed: bool,
    /// Whether each service's routes name the service (so two never collide).
    pub(crate) routes_named: bool,
    /// Requests per worker at once unless the YAML says `concurrency`.
    pub(crate) concurrency: usize,
    /// Assembles the routed service when it runs on several pools.
    pub(crate) group: GroupStarter,
    /// Wraps the service for a cluster, when its type can cross nodes.
    pub(crate) cluster: Option<super::ClusterWrapper>,
}

/// What [`Registry::service`] returns: attach more to the type just registered.
pub struct ServiceTypeRegistration<'r, S> {
    entry: &'r mut ServiceEntry,
    service: std::marker::PhantomData<fn() -> S>,
}

impl<S: crate::cluster::RemoteCodec> ServiceTypeRegistration<'_, S> {
    /// Lets services of this type run across nodes (`nodes:` in YAML): its requests and
    /// responses cross in the type's [`crate::cluster::RemoteCodec`] encoding.
    pub fn remote(&mut self) -> &mut Self {
        self.entry.cluster = Some(Arc::new(crate::cluster::service::wrap::<S>));
        self
    }
}

impl<S> ServiceTypeRegistration<'_, S> {
    /// Attaches `value` to the type (replacing an earlier value of the same type).
    pub fn attach<T: Any + Send + Sync>(&mut self, value: T) -> &mut Self {
        self.entry.attachments.0.retain(|a| !a.is::<T>());
        self.entry.attachments.0.push(Arc::new(value));
        self
    }

    /// Requests each worker of this type runs at once unless the YAML sets `concurrency`
    /// (the type's [`Service::concurrent_copy`] must give copies for it to matter).
    pub fn concurrency(&mut self, per_worker: usize) -> &mut Self {
        self.entry.concurrency = per_worker.max(1);
        self
    }

    /// Attaches an external interface (HTTP routes) served at each service's
    /// `route_prefix`: validation then refuses two services of this type on one prefix.
    pub fn expose<T: Any + Send + Sync>(&mut self, api: T) -> &mut Self {
        self.entry.exposed = true;
        self.attach(api)
    }

    /// Attaches an external interface whose routes name the service
    /// (`/v1/agents/{name}/runs`): services of this type never collide on a prefix.
    pub fn expose_named<T: Any + Send + Sync>(&mut self, api: T) -> &mut Self {
        self.entry.routes_named = true;
        self.expose(api)
    }
}

/// What a config may name: service types (`type: echo`) and component sections (`gateway:`).
#[derive(Default, Clone)]
pub struct Registry {
    services: BTreeMap<String, ServiceEntry>,
    components: Vec<(String, ComponentParser)>,
    devices: Option<DeviceDetector>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers service type `type_name`. `parse` reads the service's `params` section,
    /// records every problem there, and returns the factory that creates one service per
    /// worker; returning `None` without recording an error is itself reported. The first
    /// instance is created on the blocking pool, so loads done by a factory (a model, a
    /// data directory) never run on an async thread.
    pub fn service<S, P>(&mut self, type_name: &str, parse: P) -> ServiceTypeRegistration<'_, S>
    where
        S: Service,
        P: Fn(&Section<'_>) -> Option<ServiceFactory<S>> + Send + Sync + 'static,
    {
        let parser: ServiceParser = Arc::new(move |params: &Section<'_>| {
            let factory = parse(params)?;
            let starter: ServiceStarter = Arc::new(move |spec, parent| {
                let factory = factory.clone();
                Box::pin(async move {
                    let first = factory.clone();
                    tokio::task::spawn_blocking(move || first().map(drop))
                        .await
                        .map_err(|e| SwarmError::Internal(format!("start-up task failed: {e}")))?
                        .map_err(|e| {
                            SwarmError::Unavailable(format!(
                                "service `{}` failed to start: {e}",
                                spec.name
                            ))
                        })?;
                    let pool = ServicePool::<S>::start(spec, factory, parent).await?;
                    Ok(Arc::new(pool) as Arc<dyn RunningService>)
                })
            });
            Some(starter)
        });
        let entry = ServiceEntry {
            parser,
            type_id: TypeId::of::<S>(),
            attachments: Attachments::default(),
            exposed: false,
            routes_named: false,
            concurrency: 1,
            group: Arc::new(crate::scheduler::PooledService::<S>::assemble),
            cluster: None,
        };
        // Registering a type name again replaces the earlier registration.
        let slot = self
            .services
            .entry(type_name.to_string())
            .or_insert_with(|| entry.clone());
        *slot = entry;
        ServiceTypeRegistration {
            entry: slot,
            service: std::marker::PhantomData,
        }
    }

    /// Registers a top-level section (such as `gateway`) read by `parse`.
    pub fn component<P>(&mut self, section: &str, parse: P) -> &mut Self
    where
        P: Fn(&Section<'_>) -> Option<Arc<dyn Component>> + Send + Sync + 'static,
    {
        self.components.retain(|(s, _)| s != section);
        self.components.push((section.to_string(), Arc::new(parse)));
        self
    }

    /// Sets how GPUs are found at start (the app's GPU backend lists them); without one,
    /// none are, and every `cuda:N` pool is reported absent.
    pub fn device_detector(&mut self, detect: DeviceDetector) -> &mut Self {
        self.devices = Some(detect);
        self
    }

    pub(crate) fn devices(&self) -> DeviceDetector {
        self.devices
            .clone()
            .unwrap_or_else(|| Arc::new(Vec::<GpuInfo>::new))
    }

    pub(crate) fn service_entry(&self, type_name: &str) -> Option<&ServiceEntry> {
        self.services.get(type_name)
    }

    pub(crate) fn service_types(&self) -> Vec<&str> {
        self.services.keys().map(String::as_str).collect()
    }

    pub(crate) fn component_parsers(&self) -> impl Iterator<Item = (&str, &ComponentParser)> {
        self.components.iter().map(|(s, p)| (s.as_str(), p))
    }
}
