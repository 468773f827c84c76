//! Service-to-service dependencies. A params parser declares one with
//! [`Section::dependency`](crate::config::Section::dependency): the YAML names the service
//! it uses, validation checks that the service exists, has the right type and forms no
//! cycle, start order follows the edges, and the runtime hands the dependant a typed
//! [`Client`] before its first worker is created.

use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};

use crate::client::Client;
use crate::config::yaml::Pos;
use crate::error::ServiceError;
use crate::service::Service;

/// A typed handle to another service of the swarm, resolved when the swarm starts.
pub struct Dependency<S: Service> {
    name: Arc<str>,
    slot: Arc<OnceLock<Client<S>>>,
}

impl<S: Service> Clone for Dependency<S> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            slot: self.slot.clone(),
        }
    }
}

impl<S: Service> std::fmt::Debug for Dependency<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependency")
            .field("name", &self.name)
            .field("resolved", &self.slot.get().is_some())
            .finish()
    }
}

impl<S: Service> Dependency<S> {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            slot: Arc::new(OnceLock::new()),
        }
    }

    /// The name of the service depended on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its client. Resolved before the dependant's first worker is created, so this only
    /// fails for a handle used outside a started swarm.
    pub fn client(&self) -> Result<Client<S>, ServiceError> {
        self.slot.get().cloned().ok_or_else(|| {
            ServiceError::Internal(format!(
                "dependency `{}` used before the swarm started it",
                self.name
            ))
        })
    }

    fn binder(&self) -> Binder {
        let slot = self.slot.clone();
        Arc::new(move |running: &dyn Any| {
            match super::client_of::<S>(running) {
                Some(client) => {
                    // A second bind (same handle, same pool) keeps the first client.
                    let _ = slot.set(client);
                    true
                }
                None => false,
            }
        })
    }
}

/// Gives a declared dependency its client: `true` when the running service has the type.
pub(crate) type Binder = Arc<dyn Fn(&dyn Any) -> bool + Send + Sync>;

/// A dependency as the config declared it, without its type.
#[derive(Clone)]
pub(crate) struct DeclaredDependency {
    /// Key path of the YAML key naming the service (`services.vector.params.embed`).
    pub(crate) key_path: String,
    /// Where that key's value is.
    pub(crate) pos: Pos,
    /// The service depended on.
    pub(crate) target: String,
    /// The service type the dependant expects there.
    pub(crate) type_id: TypeId,
    /// That type's name, for messages.
    pub(crate) type_label: &'static str,
    pub(crate) bind: Binder,
}

impl std::fmt::Debug for DeclaredDependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}", self.key_path, self.target)
    }
}

impl DeclaredDependency {
    pub(crate) fn of<S: Service>(key_path: String, pos: Pos, dependency: &Dependency<S>) -> Self {
        let full = std::any::type_name::<S>();
        Self {
            key_path,
            pos,
            target: dependency.name().to_string(),
            type_id: TypeId::of::<S>(),
            type_label: full.rsplit("::").next().unwrap_or(full),
            bind: dependency.binder(),
        }
    }
}

/// The order to start services in: every dependency before its dependants, otherwise
/// file order. `edges[i]` lists the indices service `i` depends on. `Err` holds one cycle
/// as indices, first repeated last.
pub(crate) fn start_order(edges: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        i: usize,
        edges: &[Vec<usize>],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Open => {
                let from = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(i);
                return Err(cycle);
            }
            Mark::New => {}
        }
        marks[i] = Mark::Open;
        path.push(i);
        for &d in &edges[i] {
            visit(d, edges, marks, path, order)?;
        }
        path.pop();
        marks[i] = Mark::Done;
        order.push(i);
        Ok(())
    }
    let mut marks = vec![Mark::New; edges.len()];
    let mut order = Vec::with_capacity(edges.len());
    for i in 0..edges.len() {
        visit(i, edges, &mut marks, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::start_order;

    #[test]
    fn dependencies_start_first_and_file_order_breaks_ties() {
        // 0 uses 2, 1 uses nothing, 2 uses 1.
        assert_eq!(start_order(&[vec![2], vec![], vec![1]]), Ok(vec![1, 2, 0]));
        assert_eq!(start_order(&[vec![], vec![]]), Ok(vec![0, 1]));
    }

    #[test]
    fn a_cycle_is_reported_with_its_members() {
        assert_eq!(
            start_order(&[vec![1], vec![2], vec![0]]),
            Err(vec![0, 1, 2, 0])
        );
        assert_eq!(start_order(&[vec![0]]), Err(vec![0, 0]));
    }
}
