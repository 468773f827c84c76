//! One running sequence inside an engine: its sampler, its place in the KV cells, its
//! prompt still to prefill, and what it has produced (text released past stop sequences).

use std::time::Instant;

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::job::{Event, FinishReason, Job, Usage};
use super::model::{Model, Utf8Pieces};
use super::stats::EngineStats;
use super::stop::StopMatcher;

/// Tokens the repetition penalties look back over.
const PENALTY_WINDOW: i32 = 64;

/// A sequence in an engine.
pub(super) struct Sequence {
    /// Its sequence id in the context (its KV cells).
    pub(super) id: i32,
    job: Job,
    sampler: LlamaSampler,
    /// Prompt tokens already sent to the model.
    prefilled: usize,
    /// The token to feed next, once the prompt is in.
    next: Option<LlamaToken>,
    /// Position of the next token.
    pos: i32,
    /// Where its logits are in the current batch.
    pub(super) logits_at: Option<i32>,
    generated: u32,
    pieces: Utf8Pieces,
    stops: StopMatcher,
    piece: Vec<u8>,
    last_token_at: Option<Instant>,
    admitted: Instant,
    /// A stop sequence ended it (its held-back text is part of that sequence).
    matched_stop: bool,
}

fn sampler(model: &Model, job: &Job) -> Result<LlamaSampler, String> {
    let s = &job.sampling;
    let mut chain = Vec::new();
    if let Some(grammar) = &job.grammar {
        chain.push(
            LlamaSampler::grammar(&model.llama, grammar, "root")
                .map_err(|e| format!("response_format: the grammar failed: {e}"))?,
        );
    }
    if s.presence_penalty != 0.0 || s.frequency_penalty != 0.0 {
        chain.push(LlamaSampler::penalties(
            model.vocab_size(),
            PENALTY_WINDOW,
            1.0,
            s.frequency_penalty,
            s.presence_penalty,
        ));
    }
    if s.temperature == 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if s.top_k > 0 {
            chain.push(LlamaSampler::top_k(
                i32::try_from(s.top_k).unwrap_or(i32::MAX),
            ));
        }
        if s.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(s.top_p, 1));
        }
        if s.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(s.min_p, 1));
        }
        chain.push(LlamaSampler::temp(s.temperature));
        // The seed is folded to 32 bits, as llama.cpp's samplers take it.
        let seed = s
            .seed
            .map_or_else(rand::random::<u32>, |s| (s ^ (s >> 32)) as u32);
        chain.push(LlamaSampler::dist(seed));
    }
    Ok(LlamaSampler::chain_simple(chain))
}

impl Sequence {
    /// Admits `job` as sequence `id`; `None` (the caller told why) if its sampler cannot
    /// be built.
    pub(super) fn admit(id: i32, job: Job, model: &Model) -> Option<Self> {
        let sampler = match sampler(model, &job) {
            Ok(s) => s,
            Err(why) => {
                let _ = job.events.send(Event::Failed(why));
                return None;
            }
        };
        let stops = StopMatcher::new(job.sampling.stop.clone());
        Some(Self {
            id,
            job,
            sampler,
            prefilled: 0,
            next: None,
            pos: 0,
            logits_at: None,
            generated: 0,
            pieces: Utf8Pieces::default(),
            stops,
            piece: Vec::new(),
            last_token_at: None,
            admitted: Instant::now(),
            matched_stop: false,
        })
    }

    /// KV cells it holds.
    pub(super) fn cells(&self) -> i32 {
        self.pos
    }

    /// Whether its caller stopped listening.
    pub(super) fn is_abandoned(&self) -> bool {
        self.job.events.is_closed()
    }

    /// Whether its deadline has passed.
    pub(super) fn is_expired(&self, now: Instant) -> bool {
        now >= self.job.deadline
    }

    /// Adds its next token (decoding) to `batch`; true if it did.
    pub(super) fn add_decode(&mut self, batch: &mut LlamaBatch) -> bool {
        let Some(token) = self.next.take() else {
            return false;
        };
        if batch.add(token, self.pos, &[self.id], true).is_err() {
            self.next = Some(token);
            return false;
        }
        self.logits_at = Some(batch.n_tokens() - 1);
        self.pos += 1;
        true
    }

    /// Adds up to `budget` prompt tokens to `batch`; returns how many.
    pub(super) fn add_prefill(&mut self, batch: &mut LlamaBatch, budget: usize) -> usize {
        let remaining = self.job.prompt.len() - self.prefilled;
        if self.next.is_some() || remaining == 0 || budget == 0 {
            return 0;
        }
        let n = remaining.min(budget);
        let last = self.prefilled + n == self.job.prompt.len();
        for i in 0..n {
            let token = self.job.prompt[self.prefilled + i];
            let wants_logits = last && i + 1 == n;
            if batch
                .add(token, self.pos, &[self.id], wants_logits)
                .is_err()
            {
                return i;
            }
            self.pos += 1;
        }
        self.prefilled += n;
        if last {
            self.logits_at = Some(batch.n_tokens() - 1);
        }
        n
    }

    /// Samples from this step's logits and passes the text on; `Some` when it is done.
    pub(super) fn sample(
        &mut self,
        ctx: &llama_cpp_2::context::LlamaContext<'_>,
        model: &Model,
        stats: &EngineStats,
    ) -> Option<FinishReason> {
        let at = self.logits_at.take()?;
        let token = self.sampler.sample(ctx, at);
        let now = Instant::now();
        match self.last_token_at {
            None => stats.first_token.observe(now - self.admitted),
            Some(t) => stats.inter_token.observe(now - t),
        }
        self.last_token_at = Some(now);
        stats
            .tokens_generated
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let vocab = model.llama.vocab();
        if vocab.is_eog(token) {
            return Some(FinishReason::Stop);
        }
        self.generated += 1;
        #[cfg(feature = "fault-injection")]
        if self.job.panic_after == Some(self.generated) {
            panic!("injected fault: the engine panics mid-generation");
        }
        self.piece.clear();
        vocab.token_to_piece_into(token, &mut self.piece, false, None);
        let text = self.pieces.push(&self.piece);
        let released = self.stops.push(&text);
        if !released.text.is_empty() {
            let _ = self.job.events.send(Event::Text(released.text));
        }
        if released.stopped {
            self.matched_stop = true;
            return Some(FinishReason::Stop);
        }
        if self.generated >= self.job.max_tokens {
            return Some(FinishReason::Length);
        }
        self.next = Some(token);
        None
    }

    /// Ends the sequence with an error.
    pub(super) fn fail(self, why: String) {
        let _ = self.job.events.send(Event::Failed(why));
    }

    /// Ends the sequence: text held back is released (unless a stop sequence ended it, of
    /// which it is part) and the caller told why.
    pub(super) fn finish(mut self, reason: FinishReason) {
        if !self.matched_stop {
            let rest = self.stops.finish();
            if !rest.is_empty() {
                let _ = self.job.events.send(Event::Text(rest));
            }
        }
        let usage = Usage {
            prompt_tokens: u32::try_from(self.job.prompt.len()).unwrap_or(u32::MAX),
            completion_tokens: self.generated,
        };
        let _ = self.job.events.send(Event::Done(reason, usage));
    }
}
