//! The llm response cache: hashing a canonical request (xxh3-128) and a hit, beside a
//! miss, in a cache holding 10,000 answers.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use swarm_actors::llm::cache::{CacheKey, ResponseCache};
use swarm_actors::llm::{ChatMessage, FinishReason, Generation, Prompt, Sampling, Usage};

fn cache(c: &mut Criterion) {
    let mut g = c.benchmark_group("llm_cache");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let prompt = Prompt::Chat(vec![
        ChatMessage {
            role: "system".into(),
            content: "You are a helpful assistant.".into(),
        },
        ChatMessage {
            role: "user".into(),
            content: "What is the capital of France? Answer in one word.".into(),
        },
    ]);
    let sampling = Sampling {
        temperature: 0.0,
        max_tokens: Some(64),
        ..Sampling::default()
    };
    let canonical =
        serde_json::to_vec(&("SmolLM2-135M-Instruct.Q4_1", &prompt, &sampling)).unwrap();
    let cache = ResponseCache::new(1 << 30);
    for i in 0..10_000u32 {
        let answer = Generation {
            text: format!("answer {i}: {}", "x".repeat(200)),
            finish_reason: FinishReason::Stop,
            usage: Usage {
                prompt_tokens: 30,
                completion_tokens: 60,
            },
            cached: false,
        };
        cache.put(CacheKey::of(&i.to_le_bytes()), answer);
    }
    let key = CacheKey::of(&canonical);
    cache.put(
        key,
        Generation {
            text: "Paris".into(),
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            cached: false,
        },
    );
    g.bench_function("key_of_request", |b| {
        b.iter(|| {
            CacheKey::of(
                &serde_json::to_vec(&("SmolLM2-135M-Instruct.Q4_1", &prompt, &sampling)).unwrap(),
            )
        })
    });
    g.bench_function("hit", |b| b.iter(|| cache.get(key).unwrap()));
    let absent = CacheKey::of(b"absent");
    g.bench_function("miss", |b| b.iter(|| cache.get(absent).is_none()));
    g.finish();
}

criterion_group!(benches, cache);
criterion_main!(benches);
