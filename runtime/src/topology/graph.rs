//! Draws a planned swarm as Graphviz DOT (`swarm graph`) or as a tree for the terminal
//! (`--format text`): each service is one pool node (type, worker count, queue and
//! supervision), stages in front of its workers (a batcher) and its named parts (an
//! agent's tools) hang off it, components point
//! at what they expose, and dependencies are bold `uses` edges. A pool of 64 workers is
//! one node, so the picture stays readable as swarms grow.

use std::fmt::Write as _;

use crate::config::{PoolPlan, ServicePlan, SwarmConfig};

fn supervisor_label(p: &ServicePlan) -> String {
    let s = &p.spec.supervision;
    format!(
        "{} (max {} restarts / {:?}, backoff {:?}..{:?})",
        s.strategy.name(),
        s.intensity.max_restarts,
        s.intensity.within,
        s.backoff.initial,
        s.backoff.max
    )
}

fn queue_label(p: &ServicePlan) -> String {
    format!(
        "capacity {}, overflow {}, deadline {:?}",
        p.spec.capacity,
        p.spec.overflow.name(),
        p.spec.default_deadline
    )
}

fn workers_label(p: &ServicePlan) -> String {
    if !p.pools.is_empty() {
        return format!("{} pools, routing {}", p.pools.len(), p.routing.name());
    }
    count_workers(p.spec.workers)
}

fn count_workers(n: usize) -> String {
    match n {
        1 => "1 worker".to_string(),
        n => format!("{n} workers"),
    }
}

/// `pool gpu0 on cuda:0: 1 worker × 8, queue 256 reject` (remote: the URL).
fn pool_label(pool: &PoolPlan) -> String {
    let place = &pool.placement;
    let runs = match &place.remote {
        Some(r) => format!("{} at most {} at once", r.url, r.max_concurrency),
        None => format!(
            "{} × {} at once",
            count_workers(pool.spec.workers),
            pool.spec.concurrency
        ),
    };
    format!(
        "pool {} on {}: {runs}, queue {} {}",
        place.pool,
        place.device,
        pool.spec.capacity,
        pool.spec.overflow.name()
    )
}

/// Escapes a label for a double-quoted DOT string.
fn dot(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The plan as a Graphviz digraph.
pub fn render_dot(config: &SwarmConfig) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot(&config.name));
    let _ = writeln!(
        out,
        "  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];"
    );
    let _ = writeln!(
        out,
        "  \"root\" [shape=doubleoctagon, label=\"root supervisor\\n{}\"];",
        dot(&config.name)
    );
    if let Some(c) = &config.cluster {
        let _ = writeln!(
            out,
            "  \"node:{0}\" [shape=component, label=\"node {0}\\n{1}\"];\n  \"node:{0}\" -> \"root\" [label=\"hosts\"];",
            dot(&c.node),
            dot(&c.listen.to_string())
        );
        for p in &c.peers {
            let _ = writeln!(
                out,
                "  \"node:{1}\" [shape=component, style=dashed, label=\"node {1}\\n{2}\"];\n  \"node:{0}\" -> \"node:{1}\" [dir=both, style=dotted, label=\"peer\"];",
                dot(&c.node),
                dot(&p.node),
                dot(&p.address.to_string())
            );
        }
    }
    for c in &config.components {
        let _ = writeln!(
            out,
            "  \"component:{0}\" [shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0fe\", label=\"{0}\\n{1}\"];",
            dot(&c.section),
            dot(&c.summary())
        );
    }
    for p in &config.services {
        let n = dot(&p.spec.name);
        let prefix = p
            .route_prefix
            .as_deref()
            .map(|r| format!("\\nroutes under {}", dot(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  \"{n}\" [shape=box3d, label=\"{n} ({})\\n{}\\nqueue: {}\\nsupervisor: {}{prefix}\"];",
            dot(&p.type_name),
            workers_label(p),
            dot(&queue_label(p)),
            dot(&supervisor_label(p))
        );
        let _ = writeln!(
            out,
            "  \"root\" -> \"{n}\" [style=dashed, label=\"supervises\"];"
        );
        for (i, pool) in p.pools.iter().enumerate() {
            let shape = if pool.placement.device.is_local() {
                "box"
            } else {
                "box, style=dashed"
            };
            let _ = writeln!(
                out,
                "  \"{n}:pool{i}\" [shape={shape}, label=\"{}\"];\n  \"{n}\" -> \"{n}:pool{i}\" [label=\"routes to\"];",
                dot(&pool_label(pool))
            );
        }
        for (i, stage) in p.stages.iter().enumerate() {
            let _ = writeln!(
                out,
                "  \"{n}:stage{i}\" [shape=cds, label=\"{}\"];\n  \"{n}\" -> \"{n}:stage{i}\" [label=\"workers submit to\"];",
                dot(stage)
            );
        }
        for (kind, name) in &p.parts {
            let (kind, name) = (dot(kind), dot(name));
            let _ = writeln!(
                out,
                "  \"{n}:{kind}:{name}\" [shape=note, label=\"{kind} {name}\"];\n  \"{n}\" -> \"{n}:{kind}:{name}\" [label=\"{kind}\"];"
            );
        }
        for dep in p.dependencies() {
            let _ = writeln!(
                out,
                "  \"{n}\" -> \"{}\" [style=bold, color=\"#1a73e8\", label=\"uses\"];",
                dot(dep)
            );
        }
        if let Some(c) = &config.cluster {
            for node in &p.nodes {
                let _ = writeln!(
                    out,
                    "  \"node:{}\" -> \"{n}\" [style=dotted, label=\"runs\"];",
                    dot(node)
                );
            }
            if !p.nodes.is_empty() && !p.runs_on(Some(&c.node)) {
                let _ = writeln!(out, "  \"{n}\" [style=dashed];");
            }
        }
        if p.exposed {
            for c in &config.components {
                let _ = writeln!(out, "  \"component:{}\" -> \"{n}\";", dot(&c.section));
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The plan as an indented tree.
pub fn render_text(config: &SwarmConfig) -> String {
    let mut out = format!("swarm {} ({})\n", config.name, config.origin);
    if let Some(c) = &config.cluster {
        let peers: Vec<String> = c
            .peers
            .iter()
            .map(|p| format!("{} at {}", p.node, p.address))
            .collect();
        let _ = writeln!(
            out,
            "├─ cluster: node {} on {} (these services); peers: {}",
            c.node,
            c.listen,
            if peers.is_empty() {
                "none".to_string()
            } else {
                peers.join(", ")
            }
        );
    }
    for c in &config.components {
        let _ = writeln!(out, "├─ {}: {}", c.section, c.summary());
    }
    let _ = writeln!(out, "└─ root supervisor");
    let count = config.services.len();
    for (i, p) in config.services.iter().enumerate() {
        let (branch, indent) = if i + 1 == count {
            ("└─", "   ")
        } else {
            ("├─", "│  ")
        };
        let _ = writeln!(
            out,
            "   {branch} {} [{}] {}, supervisor {}",
            p.spec.name,
            p.type_name,
            workers_label(p),
            supervisor_label(p)
        );
        let mut rows = vec![format!("queue: {}", queue_label(p))];
        rows.extend(p.pools.iter().map(pool_label));
        rows.extend(p.stages.iter().cloned());
        if let Some(prefix) = &p.route_prefix {
            rows.push(format!("routes under {prefix}"));
        }
        if let Some(c) = &config.cluster
            && !p.nodes.is_empty()
        {
            let here = if p.runs_on(Some(&c.node)) {
                "a pool here; calls go to the node with the shortest expected wait"
            } else {
                "no pool here: calls go to those nodes"
            };
            rows.push(format!("runs on nodes {} ({here})", p.nodes.join(", ")));
        }
        let mut kinds: Vec<&str> = Vec::new();
        for (kind, _) in &p.parts {
            if !kinds.contains(&kind.as_str()) {
                kinds.push(kind);
            }
        }
        for kind in kinds {
            let names: Vec<&str> = p
                .parts
                .iter()
                .filter(|(k, _)| k == kind)
                .map(|(_, n)| n.as_str())
                .collect();
            rows.push(format!("{kind}s: {}", names.join(", ")));
        }
        let deps: Vec<&str> = p.dependencies().collect();
        if !deps.is_empty() {
            rows.push(format!("uses: {}", deps.join(", ")));
        }
        for (r, row) in rows.iter().enumerate() {
            let b = if r + 1 == rows.len() {
                "└─"
            } else {
                "├─"
            };
            let _ = writeln!(out, "   {indent}{b} {row}");
        }
    }
    out
}
