//! The framework's overhead per agent step against a direct model call (see `main.rs`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures_util::future::BoxFuture;
use swarm_actors::agent::builtin::solve_game;
use swarm_actors::agent::{AgentClient, AgentSpec, ChatModel, RunContext, RunReport, ToolBox};
use swarm_actors::http::ServiceClient as _;
use swarm_actors::llm::engine::{Engine, EngineConfig};
use swarm_actors::llm::job::{Event, Job};
use swarm_actors::llm::{ChatMessage, Generation, LlmClient, Model, Prompt, Sampling};
use swarm_actors::nash::NashClient;
use swarm_runtime::{CallOptions, Swarm, SwarmConfig, SwarmError};

use crate::{SYSTEM, median, task};

const THREADS: u32 = 2;
const CONTEXT: u32 = 2048;
const WAYS: [&str; 4] = [
    "model engine, the run's prompts (baseline)",
    "ReAct loop over the llm client",
    "agent service, typed client",
    "agent service, HTTP gateway",
];

/// One model call of a run, as the loop made it.
struct Recorded {
    messages: Vec<ChatMessage>,
    sampling: Sampling,
    text: String,
}

/// The `llm` client, keeping each call's prompt and reply.
struct Recording<'a> {
    llm: &'a LlmClient,
    calls: Mutex<Vec<Recorded>>,
}

impl ChatModel for Recording<'_> {
    fn generate<'b>(
        &'b self,
        messages: Vec<ChatMessage>,
        sampling: Sampling,
        options: CallOptions,
    ) -> BoxFuture<'b, Result<Generation, SwarmError>> {
        Box::pin(async move {
            let kept = (messages.clone(), sampling.clone());
            let reply = self
                .llm
                .generate(Prompt::Chat(messages), sampling, true, options)
                .await;
            if let (Ok(g), Ok(mut calls)) = (&reply, self.calls.lock()) {
                calls.push(Recorded {
                    messages: kept.0,
                    sampling: kept.1,
                    text: g.text.clone(),
                });
            }
            reply
        })
    }
}

/// The model alone: each prompt templated, tokenised, its grammar built and generated
/// on an engine of the service's shape; returns tokens generated.
async fn direct(engine: &Engine, calls: &[Recorded]) -> anyhow::Result<u32> {
    let mut generated = 0;
    for call in calls {
        let model = engine.model();
        let prompt = model.tokenize(&model.chat_prompt(&call.messages)?);
        let grammar = call.sampling.response_format.grammar()?;
        let max_tokens = call.sampling.max_tokens.unwrap_or(256);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let deadline = Instant::now() + Duration::from_secs(300);
        let job = Job::new(
            prompt,
            call.sampling.clone(),
            grammar,
            max_tokens,
            deadline,
            tx,
        );
        engine.submit(job)?;
        let mut text = String::new();
        loop {
            match rx.recv().await {
                Some(Event::Text(piece)) => text.push_str(&piece),
                Some(Event::Done(_, usage)) => {
                    generated += usage.completion_tokens;
                    break;
                }
                Some(Event::Failed(why)) => bail!("engine: {why}"),
                None => bail!("the engine stopped"),
            }
        }
        ensure!(
            text == call.text,
            "the engine's reply differs from the run's:\n{text}\n{}",
            call.text
        );
    }
    Ok(generated)
}

fn spec() -> AgentSpec {
    AgentSpec {
        role: "solver".into(),
        system: SYSTEM.into(),
        max_turns: 2,
        max_tokens: 160,
        require_tool: true,
        ..AgentSpec::default()
    }
}

fn context() -> RunContext<'static> {
    RunContext {
        deadline: tokio::time::Instant::now() + Duration::from_secs(300),
        traceparent: None,
        events: None,
        handoffs: &[],
    }
}

fn options() -> CallOptions {
    CallOptions {
        timeout: Some(Duration::from_secs(300)),
        ..CallOptions::default()
    }
}

/// Seconds the bench's own engine has been busy.
fn engine_busy(engine: &Engine) -> f64 {
    engine
        .stats()
        .busy_micros
        .load(std::sync::atomic::Ordering::Relaxed) as f64
        / 1e6
}

/// One run of the task.
struct Measured {
    /// Wall time.
    seconds: f64,
    /// The model engine's busy time within it.
    model: f64,
    /// Model turns.
    steps: u32,
    /// Tokens generated.
    tokens: u32,
}

/// Runs the task `way`, measuring the engine's busy time around it.
async fn measured(
    way: usize,
    engine: &Engine,
    recorded: &[Recorded],
    loop_parts: (&LlmClient, &ToolBox),
    agent: &AgentClient,
    url: &str,
    http: &reqwest::Client,
) -> anyhow::Result<Measured> {
    // The baseline runs on this process's engine; the other ways on the swarm's.
    let busy = async || -> anyhow::Result<f64> {
        if way == 0 {
            return Ok(engine_busy(engine));
        }
        let prefix = "swarm_llm_busy_seconds_total{service=\"llm\"";
        Ok(crate::metrics(http, url, &[prefix]).await?[0])
    };
    let busy_before = busy().await?;
    let (seconds, steps, tokens) =
        once(way, engine, recorded, loop_parts, agent, url, http).await?;
    let busy_after = busy().await?;
    Ok(Measured {
        seconds,
        model: busy_after - busy_before,
        steps,
        tokens,
    })
}

/// Runs the task `way`; returns (seconds, model turns, tokens generated).
async fn once(
    way: usize,
    engine: &Engine,
    recorded: &[Recorded],
    loop_parts: (&LlmClient, &ToolBox),
    agent: &AgentClient,
    url: &str,
    http: &reqwest::Client,
) -> anyhow::Result<(f64, u32, u32)> {
    let input = task(0);
    let t = Instant::now();
    let report: RunReport = match way {
        0 => {
            let tokens = direct(engine, recorded).await?;
            return Ok((t.elapsed().as_secs_f64(), recorded.len() as u32, tokens));
        }
        1 => {
            let (llm, tools) = loop_parts;
            swarm_actors::agent::react::run(&spec(), llm, tools, &input, context()).await
        }
        2 => agent.run(&input, options()).await?,
        _ => {
            http.post(format!("{url}/v1/agents/solver/runs"))
                .json(&serde_json::json!({ "input": input }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?
        }
    };
    let took = t.elapsed().as_secs_f64();
    ensure!(
        report.answer.is_some(),
        "way {way} did not answer: {report:?}"
    );
    Ok((took, report.turns, report.completion_tokens))
}

/// Prints the table (Markdown).
pub(crate) async fn run(models: &str, rounds: usize) -> anyhow::Result<()> {
    let path = format!("{models}/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\n  request_timeout: 600s\nservices:\n  llm:\n    type: llm\n    params: {{ model: {path}, context: {CONTEXT}, threads: {THREADS}, cache_bytes: 0 }}\n{}",
        crate::agent_yaml("")
    );
    let config = SwarmConfig::from_yaml(&yaml, "agent-bench.yaml", &swarm_actors::registry())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let swarm = Swarm::start(config)
        .await
        .context("start (run `make models` first)")?;
    let line = swarm
        .ready_lines()
        .into_iter()
        .find(|l| l.contains("http://"));
    let url = line
        .and_then(|l| l.find("http://").map(|i| l[i..].to_string()))
        .context("no gateway")?;
    let llm = LlmClient::of(&swarm, "llm")?;
    let agent = AgentClient::of(&swarm, "solver")?;
    let nash = NashClient::of(&swarm, "nash")?;
    let tools = ToolBox::new(vec![Arc::new(solve_game(nash))]).map_err(anyhow::Error::msg)?;
    let engine = Engine::start(
        Model::load(std::path::Path::new(&path))?,
        EngineConfig {
            max_sequences: 8,
            context: CONTEXT,
            max_batch_tokens: 512,
            threads: THREADS,
        },
    )?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;

    // The run's prompts, recorded once (greedy: every run makes the same ones).
    let recording = Recording {
        llm: &llm,
        calls: Mutex::new(Vec::new()),
    };
    let first =
        swarm_actors::agent::react::run(&spec(), &recording, &tools, &task(0), context()).await;
    ensure!(
        first.tool_calls == 1 && first.answer.is_some(),
        "the task did not go as planned: {first:?}"
    );
    let recorded = recording
        .calls
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;

    let mut runs: Vec<Vec<Measured>> = (0..WAYS.len()).map(|_| Vec::new()).collect();
    for round in 0..=rounds {
        for k in 0..WAYS.len() {
            // Rotate the order so no way always runs on a warmer (or busier) machine.
            let way = (k + round) % WAYS.len();
            let m = measured(way, &engine, &recorded, (&llm, &tools), &agent, &url, &http).await?;
            ensure!(
                m.tokens == runs[0].first().map_or(m.tokens, |d| d.tokens) || way == 0,
                "way {way} generated {} tokens",
                m.tokens
            );
            if round > 0 {
                runs[way].push(m);
            }
        }
        eprintln!("round {round}/{rounds} done");
    }
    let first = runs[0].first().context("no rounds")?;
    let (steps, tokens) = (f64::from(first.steps.max(1)), first.tokens);
    let med = |way: usize, f: fn(&Measured) -> f64| median(runs[way].iter().map(f).collect());
    // Outside the model: wall time less the engine's busy time, in the same run.
    let outside = |m: &Measured| m.seconds - m.model;
    println!(
        "One-tool ReAct run ({steps} model turns, 1 solve_game call, {tokens} tokens generated), SmolLM2-135M Q4_1, {THREADS} threads, {rounds} rounds; medians; \"outside\" = wall time less the engine's busy time in the same run"
    );
    println!(
        "| way | per run ms | model (engine busy) ms | outside the model ms | overhead per step ms | overhead / step | wall-clock difference per step ms (paired, IQR) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let base = med(0, outside);
    for (way, name) in WAYS.iter().enumerate() {
        let (run_ms, model_ms, out_ms) = (
            med(way, |m| m.seconds) * 1e3,
            med(way, |m| m.model) * 1e3,
            med(way, outside) * 1e3,
        );
        if way == 0 {
            println!("| {name} | {run_ms:.1} | {model_ms:.1} | {out_ms:.2} | — | — | — |");
        } else {
            let over = (out_ms - base * 1e3) / steps;
            // Wall time against the same round's baseline: includes the model's own
            // run-to-run noise, so only its spread is shown.
            let mut paired: Vec<f64> = runs[way]
                .iter()
                .zip(&runs[0])
                .map(|(w, d)| (w.seconds - d.seconds) / steps * 1e3)
                .collect();
            paired.sort_by(f64::total_cmp);
            let q = |f: f64| paired[((paired.len() - 1) as f64 * f).round() as usize];
            println!(
                "| {name} | {run_ms:.1} | {model_ms:.1} | {out_ms:.2} | {over:.2} | {:.3}% | {:.0} ({:.0} … {:.0}) |",
                over / (run_ms / steps) * 100.0,
                q(0.5),
                q(0.25),
                q(0.75)
            );
        }
    }
    swarm.shutdown().await;
    Ok(())
}
