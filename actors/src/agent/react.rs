//! The agent loop, ReAct style: think (one model turn, its reply constrained to tool
//! calls or an answer) → act (the calls, in parallel, each checked against its tool's
//! schema) → observe (each result or error goes back to the model as a `tool` message)
//! → … until the model answers. Bounded three ways: `max_turns` (the last turn has no
//! tools, so the model must answer), a token budget over the whole run (prompt and
//! completion tokens of every turn) and the run's deadline (each model and tool call
//! gets only the time left). A reply the model gets wrong is shown to it with the reason,
//! never a crash. A pure function of its inputs: no actors, easy to test and bench.

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use swarm_runtime::{CallOptions, SwarmError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::model::ChatModel;
use super::tool::{ToolBox, ToolContext, ToolError};
use crate::llm::tools::{self, ModelTurn, ToolCall, ToolChoice};
use crate::llm::{ChatMessage, FinishReason, ResponseFormat, Sampling, Usage};

/// An agent's settings.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// Its role (a name for events and traces).
    pub role: String,
    /// Its system prompt.
    pub system: String,
    /// Most model turns (the last one answers without tools).
    pub max_turns: u32,
    /// Most tokens (prompt and completion, all turns) the run may use.
    pub token_budget: u32,
    /// Most tokens one turn may generate.
    pub max_tokens: u32,
    /// Sampling temperature (0: greedy).
    pub temperature: f32,
    /// The final answer's shape (free text, or JSON of a schema).
    pub answer_format: ResponseFormat,
    /// Whether one turn may call several tools (off by default: small models repeat a
    /// call until the turn's tokens run out; a turn's calls always run at once).
    pub parallel_tool_calls: bool,
    /// Whether the model must call a tool until it has called one (OpenAI's
    /// `tool_choice: required`; the last turn still answers).
    pub require_tool: bool,
}

impl Default for AgentSpec {
    fn default() -> Self {
        Self {
            role: "agent".into(),
            system: "You are a helpful assistant.".into(),
            max_turns: 6,
            token_budget: 8192,
            max_tokens: 256,
            temperature: 0.0,
            answer_format: ResponseFormat::Text,
            parallel_tool_calls: false,
            require_tool: false,
        }
    }
}

/// What happened in a run, in order (also sent as it happens). More kinds may come:
/// match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A model turn began.
    TurnStarted {
        /// Its number, from 1.
        turn: u32,
    },
    /// The model asked for a call.
    ToolCallRequested {
        /// The turn.
        turn: u32,
        /// The call.
        call: ToolCall,
    },
    /// A call answered.
    ToolCallCompleted {
        /// The call's id.
        id: String,
        /// The tool.
        name: String,
        /// Its result.
        result: Value,
    },
    /// A call failed (bad arguments, the tool's error, no time left).
    ToolCallFailed {
        /// The call's id.
        id: String,
        /// The tool.
        name: String,
        /// Why.
        error: String,
    },
    /// The model's reply could not be read; it was told why.
    ReplyRefused {
        /// The turn.
        turn: u32,
        /// Why.
        reason: String,
    },
    /// The agent handed the conversation on.
    HandedOff {
        /// To whom.
        to: String,
    },
    /// Text the model generated (its reply as it comes, a piece at a time; tool calls
    /// are JSON). Sent live only: never in the report or the run log.
    TokenChunk {
        /// The turn.
        turn: u32,
        /// The piece.
        text: String,
    },
    /// The final answer.
    Answered {
        /// The answer.
        text: String,
    },
}

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model answered.
    Answered,
    /// The token budget ran out before an answer.
    TokenBudget,
    /// The deadline passed before an answer.
    Deadline,
    /// The model could not be called (the reason is in `error`).
    ModelFailed,
    /// The agent handed the conversation to another (`handoff_to`).
    Handoff,
}

/// How a run went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The agent's role.
    pub role: String,
    /// The task it was given.
    pub input: String,
    /// The answer, when there is one.
    pub answer: Option<String>,
    /// Why it ended.
    pub stop: StopReason,
    /// The model's error, when it failed.
    pub error: Option<String>,
    /// The agent it handed the conversation to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_to: Option<String>,
    /// Model turns taken.
    pub turns: u32,
    /// Tool calls made.
    pub tool_calls: u32,
    /// Tokens used, all turns.
    pub prompt_tokens: u32,
    /// Tokens generated, all turns.
    pub completion_tokens: u32,
    /// What happened, in order.
    pub events: Vec<Event>,
}

/// Where a run reports its events as they happen.
pub type Events = mpsc::UnboundedSender<Event>;

struct Run<'a> {
    report: RunReport,
    events: Option<&'a Events>,
}

impl Run<'_> {
    fn emit(&mut self, event: Event) {
        if let Some(tx) = self.events {
            let _ = tx.send(event.clone());
        }
        self.report.events.push(event);
    }

    fn used(&self) -> u32 {
        self.report.prompt_tokens + self.report.completion_tokens
    }

    fn add(&mut self, usage: Usage) {
        self.report.prompt_tokens += usage.prompt_tokens;
        self.report.completion_tokens += usage.completion_tokens;
    }

    fn end(mut self, stop: StopReason, answer: Option<String>) -> RunReport {
        if let Some(text) = &answer {
            self.emit(Event::Answered { text: text.clone() });
        }
        self.report.stop = stop;
        self.report.answer = answer;
        self.report
    }
}

/// The run's bounds and where its events go.
pub struct RunContext<'a> {
    /// When the run must end.
    pub deadline: Instant,
    /// The trace the run's calls join.
    pub traceparent: Option<String>,
    /// Where events go as they happen (they are in the report too).
    pub events: Option<&'a Events>,
    /// Agents it may hand the conversation to (a `transfer_to_{name}` tool each).
    pub handoffs: &'a [String],
}

/// The tool that hands the conversation to `agent`.
pub fn transfer_tool(agent: &str) -> String {
    format!("transfer_to_{agent}")
}

/// Runs `agent` on `input` with `model` and `tools`, in one `invoke_agent` span (the
/// OpenTelemetry GenAI conventions: a `chat` span per model call, an `execute_tool` span
/// per tool call; contents only with `telemetry.record_content`).
pub async fn run(
    agent: &AgentSpec,
    model: &dyn ChatModel,
    tools: &ToolBox,
    input: &str,
    ctx: RunContext<'_>,
) -> RunReport {
    let span = tracing::info_span!("invoke_agent",
        otel.name = %format!("invoke_agent {}", agent.role),
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = %agent.role,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty);
    let report = run_turns(agent, model, tools, input, ctx)
        .instrument(span.clone())
        .await;
    span.record("gen_ai.usage.input_tokens", report.prompt_tokens);
    span.record("gen_ai.usage.output_tokens", report.completion_tokens);
    report
}

async fn run_turns(
    agent: &AgentSpec,
    model: &dyn ChatModel,
    tools: &ToolBox,
    input: &str,
    ctx: RunContext<'_>,
) -> RunReport {
    let mut run = Run {
        report: RunReport {
            role: agent.role.clone(),
            input: input.to_string(),
            answer: None,
            stop: StopReason::Answered,
            error: None,
            handoff_to: None,
            turns: 0,
            tool_calls: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            events: Vec::new(),
        },
        events: ctx.events,
    };
    let mut specs = tools.specs();
    for target in ctx.handoffs {
        let name = transfer_tool(target);
        let about = format!("Hands the conversation to {target}, who carries on with it.");
        if let Ok(spec) = tools::ToolSpec::new(&name, &about, None) {
            specs.push(spec);
        }
    }
    let tool_ctx = ToolContext {
        deadline: ctx.deadline,
        traceparent: ctx.traceparent.clone(),
    };
    let mut messages = vec![
        ChatMessage {
            role: "system".into(),
            content: agent.system.clone(),
        },
        ChatMessage {
            role: "user".into(),
            content: input.to_string(),
        },
    ];
    let mut refused: Vec<usize> = Vec::new();
    for turn in 1..=agent.max_turns.max(1) {
        if Instant::now() >= ctx.deadline {
            return run.end(StopReason::Deadline, None);
        }
        let left = agent.token_budget.saturating_sub(run.used());
        if left == 0 {
            return run.end(StopReason::TokenBudget, None);
        }
        let last = turn >= agent.max_turns;
        let choice = if specs.is_empty() || last {
            ToolChoice::None
        } else if agent.require_tool && run.report.tool_calls == 0 {
            ToolChoice::Required
        } else {
            ToolChoice::Auto
        };
        let mut shown: Vec<ChatMessage> = if last {
            // The final answer is not shown the replies that could not be read (a small
            // model repeats the complaint instead of answering).
            messages
                .iter()
                .enumerate()
                .filter(|(i, _)| !refused.contains(i))
                .map(|(_, m)| m.clone())
                .collect()
        } else {
            messages.clone()
        };
        if last && !specs.is_empty() && turn > 1 {
            shown.push(ChatMessage {
                role: "user".into(),
                content: "Now give your final answer in plain words, without calling tools.".into(),
            });
        }
        let (prompt, format) = tools::prepare(
            shown,
            &specs,
            &choice,
            agent.parallel_tool_calls,
            agent.answer_format.clone(),
        );
        let sampling = Sampling {
            temperature: agent.temperature,
            max_tokens: Some(agent.max_tokens.min(left).max(1)),
            response_format: format,
            ..Sampling::default()
        };
        run.emit(Event::TurnStarted { turn });
        run.report.turns = turn;
        let chat = tracing::info_span!("chat",
            otel.name = "chat",
            gen_ai.operation.name = "chat",
            gen_ai.agent.name = %agent.role,
            gen_ai.request.max_tokens = sampling.max_tokens.unwrap_or(0),
            gen_ai.request.temperature = f64::from(sampling.temperature),
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            gen_ai.response.finish_reasons = tracing::field::Empty,
            gen_ai.input.messages = tracing::field::Empty,
            gen_ai.output.messages = tracing::field::Empty);
        if swarm_runtime::telemetry::record_content() {
            let shown: Vec<Value> = prompt
                .iter()
                .map(|m| serde_json::json!({ "role": m.role, "content": m.content }))
                .collect();
            chat.record("gen_ai.input.messages", Value::Array(shown).to_string());
        }
        let options = CallOptions {
            timeout: Some(tool_ctx.time_left()),
            traceparent: swarm_runtime::telemetry::traceparent_of(&chat)
                .or_else(|| ctx.traceparent.clone()),
            ..CallOptions::default()
        };
        let answer = match ctx.events {
            Some(events) => {
                let (pieces, mut rx) = mpsc::unbounded_channel();
                let generate = model
                    .generate_streamed(prompt, sampling, options, pieces)
                    .instrument(chat.clone());
                let forward = async {
                    while let Some(text) = rx.recv().await {
                        let _ = events.send(Event::TokenChunk { turn, text });
                    }
                };
                tokio::join!(generate, forward).0
            }
            None => {
                model
                    .generate(prompt, sampling, options)
                    .instrument(chat.clone())
                    .await
            }
        };
        if let Ok(g) = &answer {
            chat.record("gen_ai.usage.input_tokens", g.usage.prompt_tokens);
            chat.record("gen_ai.usage.output_tokens", g.usage.completion_tokens);
            chat.record("gen_ai.response.finish_reasons", g.finish_reason.as_str());
            if swarm_runtime::telemetry::record_content() {
                chat.record("gen_ai.output.messages", g.text.as_str());
            }
        }
        let generation = match answer {
            Ok(g) => g,
            Err(SwarmError::DeadlineExceeded) => return run.end(StopReason::Deadline, None),
            Err(e) => {
                run.report.error = Some(e.to_string());
                return run.end(StopReason::ModelFailed, None);
            }
        };
        run.add(generation.usage);
        if choice == ToolChoice::None {
            return run.end(StopReason::Answered, Some(generation.text));
        }
        let read = tools::read_reply(&generation.text, &specs).or_else(|why| {
            // An answer cut by `max_tokens` is still the answer so far, as free text is.
            match cut_answer(&generation.text) {
                Some(text) if generation.finish_reason == FinishReason::Length => {
                    Ok(ModelTurn::Answer(text))
                }
                _ => Err(why),
            }
        });
        match read {
            Ok(ModelTurn::Answer(text)) => return run.end(StopReason::Answered, Some(text)),
            Ok(ModelTurn::Calls(calls)) => {
                let handoff = calls.iter().find_map(|c| {
                    ctx.handoffs
                        .iter()
                        .find(|t| transfer_tool(t) == c.name)
                        .cloned()
                });
                if let Some(target) = handoff {
                    run.emit(Event::HandedOff { to: target.clone() });
                    run.report.handoff_to = Some(target);
                    return run.end(StopReason::Handoff, None);
                }
                messages.push(ChatMessage {
                    role: "assistant".into(),
                    content: tools::calls_as_text(&calls),
                });
                act(&mut run, &mut messages, tools, calls, turn, &tool_ctx).await;
            }
            Err(reason) => {
                refused.extend([messages.len(), messages.len() + 1]);
                messages.push(ChatMessage {
                    role: "assistant".into(),
                    content: generation.text.clone(),
                });
                messages.push(ChatMessage {
                    role: "user".into(),
                    content: format!(
                        "Your reply could not be read: {reason}. Reply with tool calls or an answer, in the JSON form given."
                    ),
                });
                run.emit(Event::ReplyRefused { turn, reason });
            }
        }
    }
    // Not reached: the last turn answers. Kept for a `max_turns` of 0.
    run.end(StopReason::TokenBudget, None)
}

/// The text of an answer cut off mid-string: `{"content": "…` up to the cut.
fn cut_answer(reply: &str) -> Option<String> {
    let rest = reply.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest
        .strip_prefix("\"content\"")?
        .trim_start()
        .strip_prefix(':')?;
    let body = rest.trim_start().strip_prefix('"')?;
    // Close the string and let JSON undo the escapes; a cut escape (`\`, `\u00`) is
    // dropped by trying a few characters shorter.
    let ends: Vec<usize> = body
        .char_indices()
        .map(|(i, _)| i)
        .chain([body.len()])
        .collect();
    ends.iter()
        .rev()
        .take(7)
        .find_map(|&end| serde_json::from_str::<String>(&format!("\"{}\"", &body[..end])).ok())
}

/// Runs `calls` at once; each result or error becomes a `tool` message.
async fn act(
    run: &mut Run<'_>,
    messages: &mut Vec<ChatMessage>,
    tools: &ToolBox,
    calls: Vec<ToolCall>,
    turn: u32,
    ctx: &ToolContext,
) {
    for call in &calls {
        run.emit(Event::ToolCallRequested {
            turn,
            call: call.clone(),
        });
    }
    run.report.tool_calls += calls.len() as u32;
    let outcomes = join_all(calls.into_iter().map(|c| tools.call(c, ctx))).await;
    for outcome in outcomes {
        messages.push(ChatMessage {
            role: "tool".into(),
            content: outcome.for_model(),
        });
        let (id, name) = (outcome.call.id.clone(), outcome.call.name.clone());
        run.emit(match outcome.result {
            Ok(result) => Event::ToolCallCompleted { id, name, result },
            Err(
                e @ (ToolError::InvalidArguments(_)
                | ToolError::Failed(_)
                | ToolError::DeadlineExceeded
                | ToolError::Unknown(_)),
            ) => Event::ToolCallFailed {
                id,
                name,
                error: e.to_string(),
            },
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::cut_answer;

    #[test]
    fn an_answer_cut_mid_string_is_read_up_to_the_cut() {
        assert_eq!(
            cut_answer(r#"{"content": "Paris is the cap"#).unwrap(),
            "Paris is the cap"
        );
        assert_eq!(
            cut_answer(r#"{"content":"line\nnext \"q"#).unwrap(),
            "line\nnext \"q"
        );
        assert_eq!(cut_answer(r#"{"content": "caf\u00"#).unwrap(), "caf");
        assert_eq!(cut_answer(r#"{"content": "end\"#).unwrap(), "end");
        assert_eq!(cut_answer(r#"{"tool_calls": [{"function": "x"#), None);
    }
}
