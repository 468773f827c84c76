//! What passes between the service and an engine: a job (one sequence to generate) and the
//! events the engine sends back for it.

use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc;

use super::sampling::Sampling;

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its turn, or a stop sequence was reached.
    Stop,
    /// `max_tokens`, or the context's room, ran out.
    Length,
    /// The request's deadline passed.
    Deadline,
}

impl FinishReason {
    /// As OpenAI's `finish_reason` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::Deadline => "deadline",
        }
    }
}

/// Tokens used by one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

/// What the engine reports about a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// More text (never part of a stop sequence).
    Text(String),
    /// The end, with why and the token counts.
    Done(FinishReason, Usage),
    /// The engine could not run the job.
    Failed(String),
}

/// One sequence to generate.
pub struct Job {
    /// The prompt's tokens.
    pub prompt: Vec<LlamaToken>,
    /// How to pick tokens.
    pub sampling: Sampling,
    /// A grammar (GBNF) the output must follow, already checked.
    pub grammar: Option<String>,
    /// Most tokens to generate (checked to fit the context).
    pub max_tokens: u32,
    /// When to give up.
    pub deadline: std::time::Instant,
    /// Where events go; the job is cancelled (its KV cells freed) once nobody listens.
    pub events: mpsc::UnboundedSender<Event>,
    /// Fault injection (tests only): the engine thread panics when this sequence has
    /// generated this many tokens.
    #[cfg(feature = "fault-injection")]
    pub panic_after: Option<u32>,
}

impl Job {
    /// A job of `prompt` under `sampling` (and `grammar`, from
    /// [`ResponseFormat::grammar`](super::ResponseFormat::grammar)), reporting to `events`.
    pub fn new(
        prompt: Vec<LlamaToken>,
        sampling: Sampling,
        grammar: Option<String>,
        max_tokens: u32,
        deadline: std::time::Instant,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        Self {
            prompt,
            sampling,
            grammar,
            max_tokens,
            deadline,
            events,
            #[cfg(feature = "fault-injection")]
            panic_after: None,
        }
    }
}
