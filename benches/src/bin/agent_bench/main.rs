//! Agents, measured (`make bench-agent`). The task is a one-tool ReAct run: an agent
//! with `solve_game` (the swarm's Nash service) is asked to solve a 2×2 game; it must
//! call the tool on its first turn and answers on its second, on the default model
//! (SmolLM2-135M, greedy).
//!
//! - `agent-bench overhead [rounds]`: the framework's overhead per agent step against a
//!   direct model call, in one process. Each round runs the same task four ways, in
//!   rotating order: the model's own engine fed the run's exact prompts (no actors, no
//!   loop: the baseline), the ReAct loop as a plain function over the `llm` service's
//!   client, the `agent` service through its typed client, and `POST
//!   /v1/agents/solver/runs` through the gateway. Greedy decoding makes every way
//!   generate the same tokens (checked), so the differences are the framework's.
//! - `agent-bench concurrent SWARM_BIN [runs]`: `runs` runs at once (100 by default)
//!   against a swarm whose `llm` is a remote pool pointed at a second swarm's chat API
//!   (both `swarm up` processes): throughput, p50/p95 latency, peak memory of each.

mod concurrent;
mod overhead;

use anyhow::Context as _;

/// The agent's system prompt.
pub(crate) const SYSTEM: &str =
    "You solve two-player games with the solve_game tool, then state the equilibrium.";

/// The agent's YAML (under `services:`), its model being service `llm`.
pub(crate) fn agent_yaml(extra: &str) -> String {
    format!(
        "  nash:\n    type: nash\n  solver:\n    type: agent\n    deadline: 900s\n{extra}    params:\n      model: llm\n      system: \"{SYSTEM}\"\n      tools: [solve_game]\n      nash: nash\n      require_tool: true\n      max_turns: 2\n      max_tokens: 160\n"
    )
}

/// Task `i`: a 2×2 game with payoffs drawn from seed `i` (task 0 is the prisoner's
/// dilemma).
pub(crate) fn task(i: u64) -> String {
    use rand::{Rng, SeedableRng};
    let (a, b) = if i == 0 {
        ([[3, 0], [5, 1]], [[3, 5], [0, 1]])
    } else {
        let mut rng = rand::rngs::StdRng::seed_from_u64(i);
        let mut m = || [[0; 2]; 2].map(|r: [i32; 2]| r.map(|_| rng.random_range(0..10)));
        (m(), m())
    };
    format!(
        "Solve the game where the row player's payoffs are {a:?} and the column player's payoffs are {b:?}."
    )
}

/// The values of the samples in the `/metrics` of the swarm at `url` whose lines start
/// with each of `prefixes`, in order (one scrape).
pub(crate) async fn metrics(
    http: &reqwest::Client,
    url: &str,
    prefixes: &[&str],
) -> anyhow::Result<Vec<f64>> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    prefixes
        .iter()
        .map(|prefix| {
            let line = text
                .lines()
                .find(|l| l.starts_with(prefix))
                .with_context(|| format!("no {prefix} in /metrics"))?;
            Ok(line.rsplit(' ').next().unwrap_or_default().parse()?)
        })
        .collect()
}

/// The median of `v` (0 when empty).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: agent-bench overhead [rounds] | agent-bench concurrent SWARM_BIN [runs]";
    let models = std::env::var("SWARM_MODELS").unwrap_or_else(|_| "models".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("overhead") => {
            let rounds = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(7);
            rt.block_on(overhead::run(&models, rounds))
        }
        Some("concurrent") => {
            let bin = args.get(1).context(usage)?;
            let runs = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(100);
            rt.block_on(concurrent::run(bin, &models, runs))
        }
        _ => anyhow::bail!(usage),
    }
}
