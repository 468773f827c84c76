//! Checks what ties services together, once every service is read: each declared
//! dependency names an existing service of the expected type, there is no cycle, and —
//! when a component (the gateway) serves routes — no two services of one exposed type
//! share a route prefix. Returns the start order.

use std::collections::HashMap;

use super::model::ServicePlan;
use super::reader::Diagnostics;
use crate::topology::dependency::start_order;

pub(super) fn check(services: &[ServicePlan], served: bool, diag: &Diagnostics) -> Vec<usize> {
    let index: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.spec.name.as_str(), i))
        .collect();
    let mut edges = vec![Vec::new(); services.len()];
    for (i, plan) in services.iter().enumerate() {
        for dep in &plan.dependencies {
            let Some(&j) = index.get(dep.target.as_str()) else {
                let mut names: Vec<&str> = index.keys().copied().collect();
                names.sort_unstable();
                diag.error(
                    dep.pos,
                    &dep.key_path,
                    format!(
                        "no service named `{}` (services: {})",
                        dep.target,
                        names.join(", ")
                    ),
                );
                continue;
            };
            if services[j].type_id != dep.type_id {
                diag.error(
                    dep.pos,
                    &dep.key_path,
                    format!(
                        "`{}` is a service of type `{}`; this key needs one running {}",
                        dep.target, services[j].type_name, dep.type_label
                    ),
                );
                continue;
            }
            edges[i].push(j);
        }
    }
    if served {
        check_prefixes(services, diag);
    }
    match start_order(&edges) {
        Ok(order) => order,
        Err(cycle) => {
            let names: Vec<&str> = cycle
                .iter()
                .map(|&i| services[i].spec.name.as_str())
                .collect();
            // Report at the key that closes the cycle.
            let (last, closing) = (cycle[cycle.len() - 2], cycle[cycle.len() - 1]);
            if let Some(dep) = services[last]
                .dependencies
                .iter()
                .find(|d| d.target == services[closing].spec.name)
            {
                diag.error(
                    dep.pos,
                    &dep.key_path,
                    format!("dependency cycle: {}", names.join(" → ")),
                );
            }
            Vec::new()
        }
    }
}

fn check_prefixes(services: &[ServicePlan], diag: &Diagnostics) {
    let mut seen: HashMap<(&str, Option<&str>), &str> = HashMap::new();
    for plan in services.iter().filter(|p| p.exposed && !p.routes_named) {
        let key = (plan.type_name.as_str(), plan.route_prefix.as_deref());
        if let Some(first) = seen.insert(key, &plan.spec.name) {
            let where_ = plan.route_prefix.as_deref().unwrap_or("/");
            diag.error(
                plan.pos,
                &format!("services.{}", plan.spec.name),
                format!(
                    "`{}` and `{first}` are both of type `{}` and would answer on the same routes under `{where_}`; give one of them its own `route_prefix` (such as `/{}`)",
                    plan.spec.name, plan.type_name, plan.spec.name
                ),
            );
            seen.insert(key, first);
        }
    }
}
