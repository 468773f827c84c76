//! `pools:` — one service on several pools, each with its device, workers, queue and
//! params (merged over the service's `params`). The service type's params parser runs
//! once per pool and learns where it runs from [`Section::placement`].

use std::sync::Arc;
use std::time::Duration;

use super::reader::{Diagnostics, FromNode, Section};
use super::yaml::{Node, Value};
use crate::pool::PoolSpec;
use crate::scheduler::{BreakerConfig, Device, Placement, RemoteTarget, Routing};
use crate::service::{HealthProbe, MetricsSource};
use crate::topology::ServiceStarter;
use crate::topology::dependency::DeclaredDependency;

/// One planned pool of a service.
pub struct PoolPlan {
    /// Its pool shape (the service's name, with `pool` set).
    pub spec: PoolSpec,
    /// Where it runs.
    pub placement: Placement,
    /// Added to its estimates for reaching it.
    pub transfer: Duration,
    /// When its breaker opens.
    pub breaker: BreakerConfig,
    pub(crate) starter: ServiceStarter,
    /// Work it runs outside its queue, in seconds (see `Section::load_probe`).
    pub(crate) background: Option<crate::service::LoadProbe>,
}

/// What the pools of one service gave besides their plans.
#[derive(Default)]
pub(crate) struct PoolExtras {
    pub(crate) dependencies: Vec<DeclaredDependency>,
    pub(crate) probes: Vec<HealthProbe>,
    pub(crate) metrics: Vec<MetricsSource>,
}

/// Reads `pools:` of the service read by `s`; `base` carries the service-level shape.
pub(crate) fn read_pools(
    s: &Section<'_>,
    base: &PoolSpec,
    params: Option<&Node>,
    parse: &dyn Fn(&Section<'_>) -> Option<ServiceStarter>,
    extras: &mut PoolExtras,
) -> Vec<PoolPlan> {
    let Some(node) = s.node("pools") else {
        return Vec::new();
    };
    let diag = s.diagnostics();
    let path = s.child_path("pools");
    let items = match &node.value {
        Value::Seq(items) if !items.is_empty() => items,
        _ => {
            diag.error(
                node.pos,
                &path,
                "expected a list of pools (`- name: cpu`, …)",
            );
            return Vec::new();
        }
    };
    let mut plans: Vec<PoolPlan> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ps = Section::new(diag, &format!("{path}[{i}]"), item);
        let Some((plan, name)) = read_pool(&ps, base, params, parse, extras) else {
            continue;
        };
        if names.contains(&name) {
            ps.error("name", format!("pool `{name}` is named twice"));
        }
        names.push(name);
        plans.push(plan);
    }
    plans
}

fn read_pool(
    ps: &Section<'_>,
    base: &PoolSpec,
    params: Option<&Node>,
    parse: &dyn Fn(&Section<'_>) -> Option<ServiceStarter>,
    extras: &mut PoolExtras,
) -> Option<(PoolPlan, String)> {
    let diag = ps.diagnostics();
    let name: Option<String> = ps.required("name");
    if let Some(n) = &name
        && (n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        ps.error("name", "pool names use letters, digits, `_` and `-`");
    }
    let device = ps.or("device", Device::Cpu);
    let remote = read_remote(ps, device);
    let workers = match device {
        Device::Remote => {
            if ps.node("workers").is_some() {
                ps.error(
                    "workers",
                    "a remote pool takes `max_concurrency`, not `workers`",
                );
            }
            1
        }
        _ => ps.or("workers", 1usize),
    };
    if !(1..=1024).contains(&workers) {
        ps.error("workers", "must be between 1 and 1024");
    }
    let concurrency = match &remote {
        Some(r) => r.max_concurrency,
        None => ps.or("concurrency", base.concurrency),
    };
    if remote.is_none() && !(1..=65_536).contains(&concurrency) {
        ps.error("concurrency", "must be between 1 and 65536");
    }
    let queue = ps.section("queue");
    let capacity = queue.or("capacity", base.capacity);
    if capacity == 0 {
        queue.error("capacity", "must be at least 1");
    }
    let overflow = queue.or("overflow", base.overflow);
    drop(queue);
    let default_transfer = match device {
        Device::Remote => Duration::from_millis(2),
        _ => Duration::ZERO,
    };
    let transfer = ps.or("transfer", default_transfer);
    let breaker = read_breaker(&ps.section("breaker"));
    let placement = Placement {
        pool: name.clone().unwrap_or_default(),
        device,
        remote,
    };
    let merged = merge(params, ps.node("params"));
    let starter = {
        let section = Section::new(diag, &ps.child_path("params"), &merged);
        diag.set_placement(placement.clone());
        let starter = parse(&section);
        diag.set_placement(Placement::default());
        starter
    };
    let background = diag.take_load();
    let name = name?;
    take_extras(diag, &name, extras);
    let spec = PoolSpec {
        workers,
        concurrency,
        capacity,
        overflow,
        pool: Some(name.clone()),
        ..base.clone()
    };
    Some((
        PoolPlan {
            spec,
            placement,
            transfer,
            breaker,
            starter: starter?,
            background,
        },
        name,
    ))
}

fn read_remote(ps: &Section<'_>, device: Device) -> Option<RemoteTarget> {
    if device != Device::Remote {
        for key in ["url", "api_key_env", "max_concurrency"] {
            if ps.node(key).is_some() {
                ps.error(
                    key,
                    format!("only remote pools take `{key}` (this one is `{device}`)"),
                );
            }
        }
        return None;
    }
    let url: Option<String> = ps.required("url");
    if let Some(u) = &url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        ps.error("url", format!("`{u}` is not an http:// or https:// URL"));
    }
    let api_key_env: Option<String> = ps.value("api_key_env");
    let max_concurrency = ps.or("max_concurrency", 16usize);
    if !(1..=4096).contains(&max_concurrency) {
        ps.error("max_concurrency", "must be between 1 and 4096");
    }
    Some(RemoteTarget {
        url: url?.trim_end_matches('/').to_string(),
        api_key_env,
        max_concurrency,
    })
}

fn read_breaker(s: &Section<'_>) -> BreakerConfig {
    let d = BreakerConfig::default();
    let failures = s.or("failures", d.failures);
    if failures == 0 {
        s.error("failures", "must be at least 1");
    }
    let window = s.or("window", d.window);
    let cooldown = s.or("cooldown", d.cooldown);
    for (key, value) in [("window", window), ("cooldown", cooldown)] {
        if value.is_zero() {
            s.error(key, "must be greater than zero");
        }
    }
    BreakerConfig {
        failures,
        window,
        cooldown,
    }
}

/// The service's params with the pool's on top (a pool's key replaces the service's).
fn merge(service: Option<&Node>, pool: Option<&Node>) -> Node {
    let entries = |n: Option<&Node>| match n.map(|n| &n.value) {
        Some(Value::Map(e)) => e.clone(),
        _ => Vec::new(),
    };
    let theirs = entries(pool);
    let mut merged: Vec<_> = entries(service)
        .into_iter()
        .filter(|(k, _)| !theirs.iter().any(|(t, _)| t.name == k.name))
        .collect();
    merged.extend(theirs);
    Node {
        pos: pool.or(service).map(|n| n.pos).unwrap_or_default(),
        value: Value::Map(merged),
    }
}

/// Moves what the parser declared for one pool into the service's lists: dependencies
/// once, health probes prefixed with the pool, metric samples labelled with it.
fn take_extras(diag: &Diagnostics, pool: &str, extras: &mut PoolExtras) {
    for d in diag.take_declared() {
        if !extras.dependencies.iter().any(|e| e.target == d.target) {
            extras.dependencies.push(d);
        }
    }
    for probe in diag.take_probes() {
        let pool = pool.to_string();
        extras.probes.push(Arc::new(move || {
            probe().map_err(|e| format!("pool {pool}: {e}"))
        }));
    }
    for source in diag.take_metrics() {
        let pool = pool.to_string();
        extras.metrics.push(Arc::new(move |service: &str| {
            let mut families = source(service);
            for f in &mut families {
                f.samples = with_pool_label(&f.samples, &pool);
            }
            families
        }));
    }
}

/// Adds `pool="…"` to every sample line.
fn with_pool_label(samples: &str, pool: &str) -> String {
    let mut out = String::with_capacity(samples.len() + 16);
    for line in samples.lines() {
        match line.find('{') {
            Some(i) => {
                out.push_str(&line[..=i]);
                out.push_str(&format!("pool=\"{pool}\","));
                out.push_str(&line[i + 1..]);
            }
            None => match line.split_once(' ') {
                Some((name, value)) => out.push_str(&format!("{name}{{pool=\"{pool}\"}} {value}")),
                None => out.push_str(line),
            },
        }
        out.push('\n');
    }
    out
}

impl FromNode for Device {
    fn from_node(node: &Node) -> Result<Self, String> {
        let text = String::from_node(node)?;
        Device::parse(&text)
            .ok_or_else(|| format!("unknown device `{text}` (expected cpu, cuda:N or remote)"))
    }
}

impl FromNode for Routing {
    fn from_node(node: &Node) -> Result<Self, String> {
        let text = String::from_node(node)?;
        Routing::from_name(&text)
            .ok_or_else(|| format!("unknown routing `{text}` (expected estimate or round_robin)"))
    }
}

#[cfg(test)]
mod tests {
    use super::with_pool_label;

    #[test]
    fn pool_labels_go_first_in_every_sample() {
        let text = "a{service=\"llm\"} 1\nb 2\n";
        assert_eq!(
            with_pool_label(text, "cpu"),
            "a{pool=\"cpu\",service=\"llm\"} 1\nb{pool=\"cpu\"} 2\n"
        );
    }
}
