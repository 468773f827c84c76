//! Many agent runs at once against a remote model pool (see `main.rs`): swarm `model`
//! serves the default model's chat API; swarm `agents` runs the agents, its `llm` a
//! remote pool pointed at `model`. Both are `swarm up` processes; this process only
//! sends the runs over HTTP and reads their memory from `/proc`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use swarm_benches::process::{SwarmProcess, free_port};

use crate::{median, task};

/// Sequences the model server decodes at once, and remote calls the agents' pool makes.
const SEQUENCES: u32 = 16;

/// One run's outcome: seconds, whether it answered, tool calls, tokens.
struct Outcome {
    seconds: f64,
    answered: bool,
    tool_calls: u64,
    tokens: u64,
    /// The run's report.
    report: serde_json::Value,
}

async fn one(http: &reqwest::Client, url: &str, i: u64) -> anyhow::Result<Outcome> {
    let t = Instant::now();
    let report: serde_json::Value = http
        .post(format!("{url}/v1/agents/solver/runs"))
        .json(&serde_json::json!({ "input": task(i) }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let n = |k: &str| report[k].as_u64().unwrap_or(0);
    Ok(Outcome {
        seconds: t.elapsed().as_secs_f64(),
        answered: report["stop"] == "answered",
        tool_calls: n("tool_calls"),
        tokens: n("prompt_tokens") + n("completion_tokens"),
        report,
    })
}

/// The model swarm's engine figures from its `/metrics`: busy seconds, tokens decoded
/// (prompt and generated), tokens generated.
async fn engine(http: &reqwest::Client, url: &str) -> anyhow::Result<[f64; 3]> {
    let names = [
        "swarm_llm_busy_seconds_total{",
        "swarm_llm_batch_tokens_total{",
        "swarm_llm_tokens_generated_total{",
    ];
    let v = crate::metrics(http, url, &names).await?;
    Ok([v[0], v[1], v[2]])
}

/// Prints the results (Markdown).
pub(crate) async fn run(swarm_bin: &str, models: &str, runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (model_port, agents_port) = (free_port()?, free_port()?);
    let path = format!("{models}/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let model_yaml = format!(
        "swarm:\n  name: model\ngateway:\n  listen: 127.0.0.1:{model_port}\n  request_timeout: 900s\nservices:\n  llm:\n    type: llm\n    deadline: 900s\n    params: {{ model: {path}, context: 2048, threads: 2, max_sequences: {SEQUENCES}, cache_bytes: 0 }}\n"
    );
    let model = SwarmProcess::start(swarm_bin, dir.path(), "model", &model_yaml, None, &[])
        .context("the model swarm (run `make models` first)")?;
    let agents_yaml = format!(
        "swarm:\n  name: agents\ngateway:\n  listen: 127.0.0.1:{agents_port}\n  request_timeout: 900s\nservices:\n  llm:\n    type: llm\n    deadline: 900s\n    pools:\n      - {{ name: model-swarm, device: remote, url: 'http://127.0.0.1:{model_port}/v1', max_concurrency: {SEQUENCES} }}\n{}",
        crate::agent_yaml(&format!("    concurrency: {runs}\n"))
    );
    let agents = SwarmProcess::start(swarm_bin, dir.path(), "agents", &agents_yaml, None, &[])?;
    let url = format!("http://127.0.0.1:{agents_port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .pool_max_idle_per_host(runs)
        .build()?;
    let alone = one(&http, &url, 0).await?;
    ensure!(
        alone.answered,
        "the first run did not answer: {}",
        alone.report
    );
    let idle = (agents.rss_mib(), model.rss_mib());

    let model_url = format!("http://127.0.0.1:{model_port}");
    let before = engine(&http, &model_url).await?;
    let start = Instant::now();
    let tasks: Vec<_> = (0..runs as u64)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move { one(&http, &url, i + 1).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    let mut failed = Vec::new();
    for t in tasks {
        match t.await? {
            Ok(o) => outcomes.push(o),
            Err(e) => failed.push(e.to_string()),
        }
    }
    let makespan = start.elapsed().as_secs_f64();
    let after = engine(&http, &model_url).await?;
    let [busy, decoded, generated] = [0, 1, 2].map(|i| after[i] - before[i]);
    let mut secs: Vec<f64> = outcomes.iter().map(|o| o.seconds).collect();
    secs.sort_by(f64::total_cmp);
    let p95 = secs
        .get(((secs.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0.0);
    let answered = outcomes.iter().filter(|o| o.answered).count();
    let tools: u64 = outcomes.iter().map(|o| o.tool_calls).sum();
    let tokens: u64 = outcomes.iter().map(|o| o.tokens).sum();
    let mib = |m: Option<f64>| m.map_or("?".into(), |m| format!("{m:.0}"));
    // VmHWM is kept loosely in step with VmRSS by the kernel: never show it below it.
    let peak = |p: Option<f64>, idle: Option<f64>| match (p, idle) {
        (Some(p), Some(i)) => Some(p.max(i)),
        (p, i) => p.or(i),
    };
    println!(
        "{runs} one-tool ReAct runs at once over HTTP; agents' llm = remote pool (max_concurrency {SEQUENCES}) → a second swarm's /v1/chat/completions (SmolLM2-135M Q4_1, {SEQUENCES} sequences, 2 threads); {} cores",
        std::thread::available_parallelism()?
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| runs answered / sent | {answered} / {runs} ({} failed) |",
        failed.len()
    );
    println!("| tool calls | {tools} |");
    println!("| wall time, all runs | {makespan:.1} s |");
    println!(
        "| throughput | {:.2} runs/s ({:.0} tokens/s, prompt + generated) |",
        outcomes.len() as f64 / makespan,
        tokens as f64 / makespan
    );
    println!(
        "| latency p50 / p95 | {:.1} s / {:.1} s |",
        median(secs.clone()),
        p95
    );
    println!(
        "| one run alone (before the load) | {:.2} s |",
        alone.seconds
    );
    println!(
        "| model engine busy | {:.0}% of the wall time; {:.0} tokens/s decoded ({:.0} prompt, {:.0} generated) |",
        busy / makespan * 100.0,
        decoded / makespan,
        (decoded - generated) / makespan,
        generated / makespan
    );
    println!(
        "| agents swarm memory: idle / peak | {} / {} MiB |",
        mib(idle.0),
        mib(peak(agents.peak_mib(), idle.0))
    );
    println!(
        "| model swarm memory: idle / peak | {} / {} MiB |",
        mib(idle.1),
        mib(peak(model.peak_mib(), idle.1))
    );
    for f in failed.iter().take(3) {
        eprintln!("failed: {f}");
    }
    Ok(())
}
