//! What an agent can call: the [`Tool`] trait (a name, a JSON schema and an async call),
//! and the [`ToolBox`] that checks a call's arguments against the tool's schema before it
//! runs. A tool's failure is a value the model is shown, never a crash of the agent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use swarm_runtime::{CallOptions, SwarmError};
use tokio::time::Instant;

use crate::llm::tools::{ToolCall, ToolSpec};

/// Most bytes of a tool's result shown to the model (the rest is cut, and said so).
pub const MAX_RESULT_BYTES: usize = 4096;

/// Why a tool call failed; shown to the model as `{"error": …}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not follow the tool's schema, or the tool refused them.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
    /// The run's deadline passed before the tool answered.
    #[error("the tool ran out of time")]
    DeadlineExceeded,
    /// No tool of that name is available to this agent.
    #[error("no tool named `{0}`")]
    Unknown(String),
}

impl ToolError {
    /// A short name of the kind, for traces (`error.type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidArguments(_) => "invalid_arguments",
            Self::Failed(_) => "tool_failed",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Unknown(_) => "unknown_tool",
        }
    }
}

impl From<SwarmError> for ToolError {
    fn from(e: SwarmError) -> Self {
        match e {
            SwarmError::InvalidRequest(m) => Self::InvalidArguments(m),
            SwarmError::DeadlineExceeded => Self::DeadlineExceeded,
            other => Self::Failed(other.to_string()),
        }
    }
}

/// What a tool call runs under: the run's deadline and trace.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// When the run must end.
    pub deadline: Instant,
    /// The run's W3C traceparent, so service calls join its trace.
    pub traceparent: Option<String>,
}

impl ToolContext {
    /// Call options for a service call made by a tool: the time left, the run's trace.
    pub fn options(&self) -> CallOptions {
        CallOptions {
            timeout: Some(self.time_left()),
            // The tool's own span when traced, so the service call hangs beneath it.
            traceparent: swarm_runtime::telemetry::traceparent_of(&tracing::Span::current())
                .or_else(|| self.traceparent.clone()),
            ..CallOptions::default()
        }
    }

    /// Time left before the deadline.
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Tools a Rust program registered for the agents of its YAML configs.
static REGISTERED: std::sync::LazyLock<std::sync::RwLock<HashMap<String, Arc<dyn Tool>>>> =
    std::sync::LazyLock::new(Default::default);

/// Makes `tool` available by its name to the agents of swarms configured after this, in
/// this process (YAML: `tools: [its name]`), beside the built-in ones. An error when the
/// name is a built-in tool's; registering a name again replaces the tool.
pub fn register(tool: Arc<dyn Tool>) -> Result<(), String> {
    let name = tool.spec().name.clone();
    if super::service::BUILT_IN_TOOLS.contains(&name.as_str()) {
        return Err(format!("`{name}` is a built-in tool's name"));
    }
    REGISTERED
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name, tool);
    Ok(())
}

/// The registered tool named `name`.
pub fn registered(name: &str) -> Option<Arc<dyn Tool>> {
    REGISTERED
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(name)
        .cloned()
}

/// A tool an agent can call.
pub trait Tool: Send + Sync {
    /// Its name, description and argument schema, as the model sees them.
    fn spec(&self) -> &ToolSpec;

    /// Runs the tool with arguments already checked against its schema.
    fn call<'a>(
        &'a self,
        arguments: Value,
        ctx: &'a ToolContext,
    ) -> BoxFuture<'a, Result<Value, ToolError>>;
}

/// One finished call: its id and tool, and the result or the error.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// The call.
    pub call: ToolCall,
    /// What it gave.
    pub result: Result<Value, ToolError>,
}

impl ToolOutcome {
    /// The result as the model is shown it (in a `tool` message): `{"tool", "result"}`
    /// or `{"tool", "error"}`, cut to [`MAX_RESULT_BYTES`].
    pub fn for_model(&self) -> String {
        let tool = &self.call.name;
        let text = match &self.result {
            Ok(v) => json!({ "tool": tool, "result": v }).to_string(),
            Err(e) => json!({ "tool": tool, "error": e.to_string() }).to_string(),
        };
        if text.len() <= MAX_RESULT_BYTES {
            return text;
        }
        let mut end = MAX_RESULT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… (cut: {} bytes in all)", &text[..end], text.len())
    }
}

struct Checked {
    tool: Arc<dyn Tool>,
    schema: jsonschema::Validator,
}

/// An agent's tools, each with its compiled argument schema.
#[derive(Clone, Default)]
pub struct ToolBox {
    tools: Arc<Vec<Checked>>,
}

impl ToolBox {
    /// The tools; an error names a tool whose schema does not compile or a name used twice.
    pub fn new(tools: Vec<Arc<dyn Tool>>) -> Result<Self, String> {
        let mut checked: Vec<Checked> = Vec::with_capacity(tools.len());
        for tool in tools {
            let spec = tool.spec();
            if checked.iter().any(|c| c.tool.spec().name == spec.name) {
                return Err(format!("tool `{}` is given twice", spec.name));
            }
            let schema = jsonschema::validator_for(&spec.parameters)
                .map_err(|e| format!("tool `{}`: its parameters schema: {e}", spec.name))?;
            checked.push(Checked { tool, schema });
        }
        Ok(Self {
            tools: Arc::new(checked),
        })
    }

    /// The tools' specs, for the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|c| c.tool.spec().clone()).collect()
    }

    /// Whether there are no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Checks `call`'s arguments against its tool's schema, then runs it within the
    /// deadline. Never panics or hangs: every failure is in the outcome.
    pub async fn call(&self, call: ToolCall, ctx: &ToolContext) -> ToolOutcome {
        use tracing::Instrument as _;
        let span = tracing::info_span!("execute_tool",
            otel.name = %format!("execute_tool {}", call.name),
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %call.name,
            gen_ai.tool.call.id = %call.id,
            gen_ai.tool.call.arguments = tracing::field::Empty,
            gen_ai.tool.call.result = tracing::field::Empty,
            error.type = tracing::field::Empty);
        let content = swarm_runtime::telemetry::record_content();
        if content {
            span.record("gen_ai.tool.call.arguments", call.arguments.to_string());
        }
        let result = self.run(&call, ctx).instrument(span.clone()).await;
        match &result {
            Ok(v) if content => {
                span.record("gen_ai.tool.call.result", v.to_string());
            }
            Err(e) => {
                span.record("error.type", e.kind());
            }
            Ok(_) => {}
        }
        ToolOutcome { call, result }
    }

    async fn run(&self, call: &ToolCall, ctx: &ToolContext) -> Result<Value, ToolError> {
        let checked = self
            .tools
            .iter()
            .find(|c| c.tool.spec().name == call.name)
            .ok_or_else(|| ToolError::Unknown(call.name.clone()))?;
        let problems: Vec<String> = checked
            .schema
            .iter_errors(&call.arguments)
            .take(3)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(ToolError::InvalidArguments(problems.join("; ")));
        }
        match tokio::time::timeout_at(ctx.deadline, checked.tool.call(call.arguments.clone(), ctx))
            .await
        {
            Ok(result) => result,
            Err(_) => Err(ToolError::DeadlineExceeded),
        }
    }
}
