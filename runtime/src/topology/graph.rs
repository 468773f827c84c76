//! Draws a planned swarm: services, pools, queues and the supervision tree, as Graphviz
//! DOT (`swarm graph`) or as a tree for the terminal (`--format text`).

use std::fmt::Write as _;

use crate::config::{ServicePlan, SwarmConfig};

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

/// The plan as a Graphviz digraph.
pub fn render_dot(config: &SwarmConfig) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", config.name);
    let _ = writeln!(out, "  rankdir=LR;\n  node [fontname=\"Helvetica\"];");
    let _ = writeln!(
        out,
        "  \"root\" [shape=doubleoctagon, label=\"root supervisor\\n{}\"];",
        config.name
    );
    for c in &config.components {
        let _ = writeln!(
            out,
            "  \"component:{0}\" [shape=box, style=rounded, label=\"{0}\\n{1}\"];",
            c.section,
            c.summary()
        );
    }
    for p in &config.services {
        let n = &p.spec.name;
        let _ = writeln!(
            out,
            "  subgraph \"cluster_{n}\" {{\n    label=\"{n} ({})\";",
            p.type_name
        );
        let _ = writeln!(
            out,
            "    \"{n}:supervisor\" [shape=hexagon, label=\"supervisor\\n{}\"];",
            supervisor_label(p)
        );
        let _ = writeln!(
            out,
            "    \"{n}:queue\" [shape=cylinder, label=\"queue\\n{}\"];",
            queue_label(p)
        );
        for w in 0..p.spec.workers {
            let _ = writeln!(
                out,
                "    \"{n}:worker{w}\" [shape=ellipse, label=\"worker {w}\"];"
            );
        }
        let _ = writeln!(out, "  }}");
        let _ = writeln!(
            out,
            "  \"root\" -> \"{n}:supervisor\" [style=dashed, label=\"supervises\"];"
        );
        for w in 0..p.spec.workers {
            let _ = writeln!(
                out,
                "  \"{n}:supervisor\" -> \"{n}:worker{w}\" [style=dashed];"
            );
            let _ = writeln!(
                out,
                "  \"{n}:queue\" -> \"{n}:worker{w}\" [label=\"pull\"];"
            );
        }
        for c in &config.components {
            let _ = writeln!(out, "  \"component:{}\" -> \"{n}:queue\";", c.section);
        }
    }
    out.push_str("}\n");
    out
}

/// The plan as an indented tree.
pub fn render_text(config: &SwarmConfig) -> String {
    let mut out = format!("swarm {} ({})\n", config.name, config.origin);
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
            "   {branch} {} [{}] supervisor {}",
            p.spec.name,
            p.type_name,
            supervisor_label(p)
        );
        let _ = writeln!(out, "   {indent}├─ queue: {}", queue_label(p));
        for w in 0..p.spec.workers {
            let b = if w + 1 == p.spec.workers {
                "└─"
            } else {
                "├─"
            };
            let _ = writeln!(out, "   {indent}{b} worker {w}");
        }
    }
    out
}
