//! The engine thread under an injected fault: a replica whose engine panics mid-stream
//! gives every caller an error (their event channels close, no hang) and the next job
//! starts a fresh engine thread that serves it.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use swarm_actors::llm::engine::{Engine, EngineConfig};
use swarm_actors::llm::job::{Event, FinishReason, Job};
use swarm_actors::llm::{Model, Sampling};
use swarm_test_util::within;
use tokio::sync::mpsc;

fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn job(
    model: &Model,
    prompt: &str,
    panic_after: Option<u32>,
) -> (Job, mpsc::UnboundedReceiver<Event>) {
    let (events, rx) = mpsc::unbounded_channel();
    let job = Job {
        prompt: model.tokenize(prompt),
        sampling: Sampling {
            temperature: 0.0,
            ..Sampling::default()
        },
        grammar: None,
        max_tokens: 40,
        deadline: Instant::now() + Duration::from_secs(120),
        events,
        panic_after,
    };
    (job, rx)
}

/// Events until the channel closes: text, then how it ended (`None`: it closed unended).
async fn drain(mut rx: mpsc::UnboundedReceiver<Event>) -> (String, Option<Event>) {
    let mut text = String::new();
    while let Some(e) = within(rx.recv()).await {
        match e {
            Event::Text(t) => text.push_str(&t),
            end => return (text, Some(end)),
        }
    }
    (text, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_engine_fails_its_callers_and_the_next_job_gets_a_fresh_one() {
    let model = Model::load(&model_path()).unwrap();
    let config = EngineConfig {
        max_sequences: 2,
        context: 256,
        max_batch_tokens: 64,
        threads: 2,
    };
    let engine = Engine::start(model.clone(), config).unwrap();

    let (faulty, faulty_rx) = job(&model, "Count from one to twenty:", Some(5));
    let (bystander, bystander_rx) = job(&model, "Name three colours:", None);
    engine.submit(bystander).unwrap();
    engine.submit(faulty).unwrap();
    let ((_, faulty_end), (_, bystander_end)) = tokio::join!(drain(faulty_rx), drain(bystander_rx));
    // Both callers learn the engine is gone: their channels close without an ending.
    assert_eq!(faulty_end, None);
    assert!(bystander_end.is_none() || matches!(bystander_end, Some(Event::Done(..))));

    let (next, next_rx) = job(&model, "Name three colours:", None);
    engine.submit(next).unwrap();
    let (text, end) = drain(next_rx).await;
    assert!(
        matches!(
            end,
            Some(Event::Done(FinishReason::Stop | FinishReason::Length, _))
        ),
        "{end:?}"
    );
    assert!(!text.is_empty());
    assert_eq!(
        engine.restarts.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
