//! The agent loop's mechanics, with a scripted model (a fault injected by this test: a
//! model that replies from a fixed list and records what it was sent) and real tools:
//! a call's result goes back to the model, bad arguments and a failing tool are errors
//! the model is shown, an unreadable reply is refused with the reason, calls of one turn
//! run at once, the last turn has no tools, and the token budget and deadline end a run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use swarm_actors::agent::{
    AgentSpec, ChatModel, Event, FnTool, RunContext, StopReason, Tool, ToolBox, ToolContext,
    ToolError,
};
use swarm_actors::llm::tools::ToolSpec;
use swarm_actors::llm::{ChatMessage, FinishReason, Generation, ResponseFormat, Sampling, Usage};
use swarm_runtime::{CallOptions, SwarmError};
use tokio::time::Instant;

/// The injected fault: replies from a script, recording each prompt and format.
struct ScriptedModel {
    replies: Mutex<Vec<String>>,
    seen: Mutex<Vec<(Vec<ChatMessage>, ResponseFormat)>>,
    tokens_per_turn: u32,
}

impl ScriptedModel {
    fn new(replies: &[&str]) -> Self {
        Self {
            replies: Mutex::new(replies.iter().rev().map(|r| r.to_string()).collect()),
            seen: Mutex::default(),
            tokens_per_turn: 10,
        }
    }
}

impl ChatModel for ScriptedModel {
    fn generate<'a>(
        &'a self,
        messages: Vec<ChatMessage>,
        sampling: Sampling,
        _options: CallOptions,
    ) -> BoxFuture<'a, Result<Generation, SwarmError>> {
        self.seen
            .lock()
            .unwrap()
            .push((messages, sampling.response_format));
        let text = self
            .replies
            .lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| r#"{"content":"out of script"}"#.into());
        let usage = Usage {
            prompt_tokens: self.tokens_per_turn,
            completion_tokens: self.tokens_per_turn,
        };
        Box::pin(async move {
            Ok(Generation {
                text,
                finish_reason: FinishReason::Stop,
                usage,
                cached: false,
            })
        })
    }
}

/// `add`'s arguments (its schema is made from this type).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    a: i64,
    b: i64,
}

/// A real tool: adds two integers (a typed function).
fn add() -> FnTool {
    FnTool::typed("add", "Adds two integers.", |args: AddArgs, _| async move {
        Ok::<_, ToolError>(args.a + args.b)
    })
    .unwrap()
}

/// A tool that fails, or waits at a barrier shared with another call, or never answers.
struct Other(ToolSpec, Behaviour);

enum Behaviour {
    Fails,
    Meets(Arc<tokio::sync::Barrier>),
    Hangs,
}

impl Other {
    fn new(name: &str, b: Behaviour) -> Self {
        Self(ToolSpec::new(name, "A test tool.", None).unwrap(), b)
    }
}

impl Tool for Other {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }
    fn call<'a>(&'a self, _: Value, _: &'a ToolContext) -> BoxFuture<'a, Result<Value, ToolError>> {
        Box::pin(async move {
            match &self.1 {
                Behaviour::Fails => Err(ToolError::Failed("the disk is full".into())),
                Behaviour::Meets(b) => {
                    b.wait().await;
                    Ok(json!("met"))
                }
                Behaviour::Hangs => std::future::pending().await,
            }
        })
    }
}

fn toolbox(extra: Vec<Arc<dyn Tool>>) -> ToolBox {
    let mut tools: Vec<Arc<dyn Tool>> = vec![Arc::new(add())];
    tools.extend(extra);
    ToolBox::new(tools).unwrap()
}

async fn run(
    spec: &AgentSpec,
    model: &ScriptedModel,
    tools: &ToolBox,
    within: Duration,
) -> swarm_actors::agent::RunReport {
    let ctx = RunContext {
        deadline: Instant::now() + within,
        traceparent: None,
        events: None,
        handoffs: &[],
    };
    swarm_actors::agent::react::run(spec, model, tools, "Add 2 and 3.", ctx).await
}

#[tokio::test]
async fn a_result_goes_back_to_the_model_and_it_answers() {
    let model = ScriptedModel::new(&[
        r#"{"tool_calls": [{"function": "add", "parameters": {"a": 2, "b": 3}}]}"#,
        r#"{"content": "2 + 3 = 5"}"#,
    ]);
    let report = run(
        &AgentSpec::default(),
        &model,
        &toolbox(vec![]),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        (report.stop, report.answer.as_deref()),
        (StopReason::Answered, Some("2 + 3 = 5"))
    );
    assert_eq!((report.turns, report.tool_calls), (2, 1));
    assert_eq!((report.prompt_tokens, report.completion_tokens), (20, 20));
    let kinds: Vec<&str> = report
        .events
        .iter()
        .map(|e| match e {
            Event::TurnStarted { .. } => "turn",
            Event::ToolCallRequested { .. } => "requested",
            Event::ToolCallCompleted { .. } => "completed",
            Event::ToolCallFailed { .. } => "failed",
            Event::ReplyRefused { .. } => "refused",
            Event::Answered { .. } => "answered",
            Event::HandedOff { .. } => "handed off",
            Event::TokenChunk { .. } => "chunk",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["turn", "requested", "completed", "turn", "answered"]
    );
    assert!(
        matches!(&report.events[2], Event::ToolCallCompleted { name, result, .. } if name == "add" && *result == json!(5))
    );
    // Turn 2 saw the call as the model wrote it and the result as a tool message.
    let seen = model.seen.lock().unwrap();
    let second = &seen[1].0;
    assert_eq!(second[0].role, "system");
    assert!(second[0].content.contains("You can use these tools"));
    assert_eq!(second[3].role, "tool");
    assert_eq!(
        serde_json::from_str::<Value>(&second[3].content).unwrap(),
        json!({ "tool": "add", "result": 5 })
    );
    assert!(matches!(seen[0].1, ResponseFormat::JsonSchema(_)));
}

#[tokio::test]
async fn bad_arguments_a_failing_tool_and_an_unreadable_reply_are_shown_to_the_model() {
    let model = ScriptedModel::new(&[
        r#"{"tool_calls": [{"function": "add", "parameters": {"a": "two", "b": 3}}, {"function": "flaky", "parameters": {}}]}"#,
        r#"{"tool_calls": [{"function": "add", "parameters": {"a": 2, "#,
        r#"{"content": "done"}"#,
    ]);
    let tools = toolbox(vec![Arc::new(Other::new("flaky", Behaviour::Fails))]);
    let report = run(
        &AgentSpec::default(),
        &model,
        &tools,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(report.stop, StopReason::Answered);
    let failed: Vec<String> = report
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCallFailed { name, error, .. } => Some(format!("{name}: {error}")),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed[0].starts_with("add: invalid arguments: /a: ") && failed[0].contains("integer"),
        "{failed:?}"
    );
    assert_eq!(failed[1], "flaky: the disk is full");
    assert!(report.events.iter().any(|e| matches!(e, Event::ReplyRefused { turn: 2, reason } if reason.contains("not valid JSON"))));
    let seen = model.seen.lock().unwrap();
    let errors: Vec<Value> = seen[1]
        .0
        .iter()
        .filter(|m| m.role == "tool")
        .map(|m| serde_json::from_str(&m.content).unwrap())
        .collect();
    assert_eq!(
        errors[1],
        json!({ "tool": "flaky", "error": "the disk is full" })
    );
    let told = &seen[2].0.last().unwrap();
    assert_eq!(told.role, "user");
    assert!(
        told.content
            .starts_with("Your reply could not be read: the reply is not valid JSON"),
        "{}",
        told.content
    );
}

#[tokio::test]
async fn calls_of_one_turn_run_at_once() {
    // Each call waits until both are running: run one after the other, they would hang
    // until the deadline.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let tools = toolbox(vec![
        Arc::new(Other::new("left", Behaviour::Meets(barrier.clone()))),
        Arc::new(Other::new("right", Behaviour::Meets(barrier))),
    ]);
    let model = ScriptedModel::new(&[
        r#"{"tool_calls": [{"function": "left", "parameters": {}}, {"function": "right", "parameters": {}}]}"#,
        r#"{"content": "both met"}"#,
    ]);
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        run(
            &AgentSpec::default(),
            &model,
            &tools,
            Duration::from_secs(60),
        ),
    )
    .await
    .unwrap();
    let met = report
        .events
        .iter()
        .filter(|e| matches!(e, Event::ToolCallCompleted { result, .. } if *result == json!("met")))
        .count();
    assert_eq!((met, report.answer.as_deref()), (2, Some("both met")));
}

#[tokio::test]
async fn the_last_turn_has_no_tools_and_the_budget_ends_a_run() {
    let calls = r#"{"tool_calls": [{"function": "add", "parameters": {"a": 1, "b": 1}}]}"#;
    let model = ScriptedModel::new(&[calls, calls, "Two, finally."]);
    let spec = AgentSpec {
        max_turns: 3,
        ..AgentSpec::default()
    };
    let report = run(&spec, &model, &toolbox(vec![]), Duration::from_secs(10)).await;
    assert_eq!(
        (report.stop, report.turns, report.answer.as_deref()),
        (StopReason::Answered, 3, Some("Two, finally."))
    );
    let (last_format, last_system) = {
        let seen = model.seen.lock().unwrap();
        (seen[2].1.clone(), seen[2].0[0].content.clone())
    };
    assert_eq!(
        last_format,
        ResponseFormat::Text,
        "the last turn is free text"
    );
    assert!(!last_system.contains("You can use these tools"));

    // 20 tokens a turn against a budget of 40: the third turn never starts.
    let model = ScriptedModel::new(&[calls, calls, calls]);
    let spec = AgentSpec {
        token_budget: 40,
        ..AgentSpec::default()
    };
    let report = run(&spec, &model, &toolbox(vec![]), Duration::from_secs(10)).await;
    assert_eq!(
        (report.stop, report.turns, report.answer),
        (StopReason::TokenBudget, 2, None)
    );
}

#[tokio::test(start_paused = true)]
async fn a_tool_that_never_answers_is_cut_at_the_deadline() {
    let tools = toolbox(vec![Arc::new(Other::new("stuck", Behaviour::Hangs))]);
    let model =
        ScriptedModel::new(&[r#"{"tool_calls": [{"function": "stuck", "parameters": {}}]}"#]);
    let report = run(
        &AgentSpec::default(),
        &model,
        &tools,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(report.stop, StopReason::Deadline);
    assert!(report.events.iter().any(|e| matches!(e, Event::ToolCallFailed { name, error, .. } if name == "stuck" && error == "the tool ran out of time")));
}

#[test]
fn a_toolbox_refuses_a_repeated_name_and_a_broken_schema() {
    let twice: Vec<Arc<dyn Tool>> = vec![Arc::new(add()), Arc::new(add())];
    assert!(ToolBox::new(twice).err().unwrap().contains("given twice"));
    let broken = FnTool::new(
        ToolSpec {
            name: "broken".into(),
            description: String::new(),
            parameters: json!({ "type": "object", "properties": { "a": { "type": 7 } } }),
        },
        |_, _| async { Ok(json!(null)) },
    );
    assert!(
        ToolBox::new(vec![Arc::new(broken)])
            .err()
            .unwrap()
            .starts_with("tool `broken`: its parameters schema")
    );
}

#[tokio::test]
async fn a_transfer_call_hands_the_conversation_over() {
    let model = ScriptedModel::new(&[
        r#"{"tool_calls": [{"function": "transfer_to_billing", "parameters": {}}]}"#,
    ]);
    let handoffs = vec!["billing".to_string(), "tech".to_string()];
    let ctx = RunContext {
        deadline: Instant::now() + Duration::from_secs(10),
        traceparent: None,
        events: None,
        handoffs: &handoffs,
    };
    let report = swarm_actors::agent::react::run(
        &AgentSpec::default(),
        &model,
        &toolbox(vec![]),
        "My invoice is wrong.",
        ctx,
    )
    .await;
    assert_eq!(
        (report.stop, report.handoff_to.as_deref()),
        (StopReason::Handoff, Some("billing"))
    );
    assert_eq!(report.tool_calls, 0, "a transfer is not a tool call");
    assert!(matches!(report.events.last(), Some(Event::HandedOff { to }) if to == "billing"));
    let seen = model.seen.lock().unwrap();
    assert!(
        seen[0].0[0].content.contains("transfer_to_tech"),
        "the model is told of each transfer"
    );
}

/// A trip to plan: nested and enumerated fields, documented.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Trip {
    /// Where to.
    city: String,
    /// How many nights.
    nights: u32,
    mode: Mode,
    budget: Option<Budget>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Train,
    Plane,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Budget {
    amount: f64,
}

#[tokio::test]
async fn a_typed_function_is_a_tool_with_its_schema_made_from_the_type() {
    let plan = FnTool::typed("plan_trip", "Plans a trip.", |t: Trip, _| async move {
        let mode = match t.mode {
            Mode::Train => "train",
            Mode::Plane => "plane",
        };
        Ok::<_, ToolError>(json!({ "to": t.city, "nights": t.nights, "by": mode,
            "budget": t.budget.map(|b| b.amount) }))
    })
    .unwrap();
    let spec = plan.spec().clone();
    assert_eq!(
        spec.parameters,
        json!({
            "type": "object",
            "properties": {
                "city": { "type": "string", "description": "Where to." },
                "nights": { "type": "integer", "minimum": 0, "description": "How many nights." },
                "mode": { "type": "string", "enum": ["train", "plane"] },
                "budget": { "type": ["object", "null"],
                    "properties": { "amount": { "type": "number" } }, "required": ["amount"] }
            },
            "required": ["city", "nights", "mode"],
            "additionalProperties": false
        })
    );
    // The model's reply can be constrained to a call of it.
    let (_, format) = swarm_actors::llm::tools::prepare(
        vec![],
        &[spec],
        &swarm_actors::llm::tools::ToolChoice::Required,
        false,
        ResponseFormat::Text,
    );
    let grammar = format.grammar().unwrap().unwrap();
    assert!(grammar.contains("plane"), "{grammar}");
    let tools = ToolBox::new(vec![Arc::new(plan)]).unwrap();
    let ctx = ToolContext {
        deadline: Instant::now() + Duration::from_secs(10),
        traceparent: None,
    };
    let call = |arguments: Value| swarm_actors::llm::tools::ToolCall {
        id: "c".into(),
        name: "plan_trip".into(),
        arguments,
    };
    let done = tools
        .call(
            call(json!({ "city": "Oslo", "nights": 2, "mode": "train" })),
            &ctx,
        )
        .await;
    assert_eq!(
        done.result,
        Ok(json!({ "to": "Oslo", "nights": 2, "by": "train", "budget": null }))
    );
    let refused = tools
        .call(
            call(json!({ "city": "Oslo", "nights": -1, "mode": "car" })),
            &ctx,
        )
        .await;
    assert!(
        matches!(refused.result, Err(ToolError::InvalidArguments(_))),
        "{:?}",
        refused.result
    );
}
