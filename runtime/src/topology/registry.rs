//! Service types and component sections an app makes available to its YAML.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Component, RunningService, ServiceStarter};
use crate::config::Section;
use crate::pool::ServicePool;
use crate::service::{Service, ServiceFactory};

type ServiceParser = Arc<dyn Fn(&Section<'_>) -> Option<ServiceStarter> + Send + Sync>;
type ComponentParser = Arc<dyn Fn(&Section<'_>) -> Option<Arc<dyn Component>> + Send + Sync>;

/// What a config may name: service types (`type: echo`) and component sections (`gateway:`).
#[derive(Default, Clone)]
pub struct Registry {
    services: BTreeMap<String, ServiceParser>,
    components: Vec<(String, ComponentParser)>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers service type `type_name`. `parse` reads the service's `params` section
    /// (recording errors there) and returns the factory that creates one service per worker.
    pub fn service<S, P>(&mut self, type_name: &str, parse: P) -> &mut Self
    where
        S: Service,
        P: Fn(&Section<'_>) -> Option<ServiceFactory<S>> + Send + Sync + 'static,
    {
        let parser: ServiceParser = Arc::new(move |params: &Section<'_>| {
            let factory = parse(params)?;
            let starter: ServiceStarter = Arc::new(move |spec, parent| {
                let factory = factory.clone();
                Box::pin(async move {
                    let pool = ServicePool::<S>::start(spec, factory, parent).await?;
                    Ok(Arc::new(pool) as Arc<dyn RunningService>)
                })
            });
            Some(starter)
        });
        self.services.insert(type_name.to_string(), parser);
        self
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

    pub(crate) fn service_parser(&self, type_name: &str) -> Option<&ServiceParser> {
        self.services.get(type_name)
    }

    pub(crate) fn service_types(&self) -> Vec<&str> {
        self.services.keys().map(String::as_str).collect()
    }

    pub(crate) fn component_parsers(&self) -> impl Iterator<Item = (&str, &ComponentParser)> {
        self.components.iter().map(|(s, p)| (s.as_str(), p))
    }
}
