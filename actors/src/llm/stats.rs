//! An engine's figures for `/metrics`: tokens generated, time to first token and between
//! tokens, running and waiting sequences, batch tokens per step, KV cells used; and the
//! response cache's hits, misses and evictions.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use swarm_runtime::MetricFamily;
use swarm_runtime::metrics::Histogram;

use super::cache::ResponseCache;

/// Figures of one engine (replica), updated by its thread.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Tokens sampled.
    pub tokens_generated: AtomicU64,
    /// From admission to the first token.
    pub first_token: Histogram,
    /// Between two tokens of one sequence.
    pub inter_token: Histogram,
    /// Sequences generating now.
    pub running: AtomicU64,
    /// Sequences waiting for a place.
    pub waiting: AtomicU64,
    /// Decode steps run.
    pub steps: AtomicU64,
    /// Tokens in all steps (÷ steps: batch tokens per step).
    pub batch_tokens: AtomicU64,
    /// KV cells held by running sequences.
    pub kv_cells: AtomicU64,
    /// KV cells in the context.
    pub kv_capacity: AtomicU64,
    /// Microseconds the engine thread spent working (admitting, decoding, sampling),
    /// not waiting for jobs: the model's own time, apart from everything around it.
    pub busy_micros: AtomicU64,
}

/// The metric families of one service's `engines` (labelled by replica) and its cache.
pub fn families(
    service: &str,
    engines: &[&EngineStats],
    cache: Option<&ResponseCache>,
) -> Vec<MetricFamily> {
    type Read = fn(&EngineStats) -> f64;
    let plain: [(&'static str, &'static str, &'static str, Read); 8] = [
        (
            "swarm_llm_tokens_generated_total",
            "counter",
            "Tokens generated.",
            |s| s.tokens_generated.load(Relaxed) as f64,
        ),
        (
            "swarm_llm_sequences_running",
            "gauge",
            "Sequences generating now.",
            |s| s.running.load(Relaxed) as f64,
        ),
        (
            "swarm_llm_sequences_waiting",
            "gauge",
            "Sequences handed to an engine, waiting for a place.",
            |s| s.waiting.load(Relaxed) as f64,
        ),
        (
            "swarm_llm_steps_total",
            "counter",
            "Decode steps run.",
            |s| s.steps.load(Relaxed) as f64,
        ),
        (
            "swarm_llm_batch_tokens_total",
            "counter",
            "Tokens decoded in all steps (per step: divide by swarm_llm_steps_total).",
            |s| s.batch_tokens.load(Relaxed) as f64,
        ),
        (
            "swarm_llm_kv_cells_used",
            "gauge",
            "KV cells held by running sequences.",
            |s| s.kv_cells.load(Relaxed) as f64,
        ),
        (
            "swarm_llm_kv_cells_capacity",
            "gauge",
            "KV cells in the replica's context.",
            |s| s.kv_capacity.load(Relaxed) as f64,
        ),
        (
            "swarm_llm_busy_seconds_total",
            "counter",
            "Time the engine spent admitting, decoding and sampling (not waiting for work).",
            |s| s.busy_micros.load(Relaxed) as f64 / 1e6,
        ),
    ];
    let mut out: Vec<MetricFamily> = plain
        .into_iter()
        .map(|(name, kind, help, read)| {
            let mut samples = String::new();
            for (i, s) in engines.iter().enumerate() {
                let _ = writeln!(
                    samples,
                    "{name}{{service=\"{service}\",replica=\"{i}\"}} {}",
                    read(s)
                );
            }
            MetricFamily {
                name,
                help,
                kind,
                samples,
            }
        })
        .collect();
    type Pick = fn(&EngineStats) -> &Histogram;
    let timed: [(&'static str, &'static str, Pick); 2] = [
        (
            "swarm_llm_time_to_first_token_seconds",
            "From a sequence's admission to its first token.",
            |s| &s.first_token,
        ),
        (
            "swarm_llm_inter_token_seconds",
            "Between two tokens of one sequence.",
            |s| &s.inter_token,
        ),
    ];
    for (name, help, pick) in timed {
        let mut samples = String::new();
        for (i, s) in engines.iter().enumerate() {
            let labels = format!("service=\"{service}\",replica=\"{i}\"");
            pick(s).render_labelled(&mut samples, name, &labels);
        }
        out.push(MetricFamily {
            name,
            help,
            kind: "histogram",
            samples,
        });
    }
    if let Some(c) = cache {
        let cached: [(&'static str, &'static str, &'static str, u64); 4] = [
            (
                "swarm_llm_cache_hits_total",
                "counter",
                "Deterministic requests answered from the response cache.",
                c.hits.load(Relaxed),
            ),
            (
                "swarm_llm_cache_misses_total",
                "counter",
                "Deterministic requests the cache did not hold.",
                c.misses.load(Relaxed),
            ),
            (
                "swarm_llm_cache_evictions_total",
                "counter",
                "Answers let go to stay within the cache's budget.",
                c.evictions.load(Relaxed),
            ),
            (
                "swarm_llm_cache_bytes",
                "gauge",
                "Bytes the response cache holds.",
                c.bytes(),
            ),
        ];
        for (name, kind, help, value) in cached {
            let samples = format!("{name}{{service=\"{service}\"}} {value}\n");
            out.push(MetricFamily {
                name,
                help,
                kind,
                samples,
            });
        }
    }
    out
}
