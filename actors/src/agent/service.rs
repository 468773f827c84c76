//! The actor shell: service type `agent`, one supervised pool per agent. A request is a
//! run (an input, and optionally where its events go); its answer is the run's report.
//! A worker that panics mid-run is restarted by its supervisor and the caller gets
//! `worker_crashed` — the run fails, never hangs.
//!
//! ```yaml
//! negotiator:
//!   type: agent
//!   concurrency: 4            # runs at once per worker
//!   deadline: 120s            # a run's deadline
//!   params:
//!     model: llm              # the llm service it thinks with
//!     system: "You negotiate …"
//!     tools: [solve_game, propose, remember, search_memory]
//!     nash: nash              # for solve_game
//!     consensus: consensus    # for propose
//!     memory: { vector: vector, collection: negotiator, dimension: 384, recall: 3 }
//!     max_turns: 6
//!     token_budget: 8192
//!     max_tokens: 256         # per turn
//! ```

use std::sync::{Arc, OnceLock};

use swarm_runtime::config::Section;
use swarm_runtime::topology::Dependency;
use swarm_runtime::{Registry, RequestContext, Service, ServiceError};

use super::builtin::{self, Memory};
use super::react::{self, AgentSpec, Events, RunContext, RunReport};
use super::tool::{Tool, ToolBox};
use crate::consensus::{ConsensusClient, ConsensusService};
use crate::fhe::{FheClient, FheService};
use crate::fl::{FlClient, FlService};
use crate::http::ServiceClient;
use crate::llm::{LlmClient, LlmService, ResponseFormat};
use crate::nash::{NashClient, NashService};
use crate::vector::{VectorClient, VectorService};

/// The built-in tools' names.
pub const BUILT_IN_TOOLS: [&str; 7] = [
    "solve_game",
    "propose",
    "remember",
    "search_memory",
    "tally",
    "auction",
    "fl_submit",
];

/// A run to do.
#[derive(Debug, Clone)]
pub struct AgentRequest {
    /// The task.
    pub input: String,
    /// Where events go as they happen.
    pub events: Option<Events>,
    /// Agents this run may hand the conversation to (a handoff workflow's others).
    pub handoffs: Vec<String>,
}

/// Where an agent's memory lives (`params.memory`).
#[derive(Clone)]
struct MemoryPlan {
    vector: Dependency<VectorService>,
    collection: String,
    dimension: usize,
    recall: usize,
}

/// An HTTP tool as declared.
struct HttpToolPlan {
    spec: crate::llm::tools::ToolSpec,
    url: String,
    method: super::http_tool::Method,
    timeout: std::time::Duration,
}

/// What an agent's tools are made from (clients resolve once the swarm has started).
struct ToolPlan {
    names: Vec<String>,
    http: Vec<HttpToolPlan>,
    nash: Option<Dependency<NashService>>,
    consensus: Option<Dependency<ConsensusService>>,
    fhe: Option<Dependency<FheService>>,
    fl: Option<Dependency<FlService>>,
    memory: Option<MemoryPlan>,
}

impl ToolPlan {
    fn build(&self, role: &str) -> Result<ToolBox, ServiceError> {
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        let memory = |m: &MemoryPlan| -> Result<Memory, ServiceError> {
            Ok(Memory {
                client: VectorClient::from_client(m.vector.client()?),
                collection: m.collection.clone(),
                dimension: m.dimension,
            })
        };
        let missing = |what: &str| ServiceError::Internal(format!("no `{what}` for its tool"));
        for name in &self.names {
            let tool: Arc<dyn Tool> = match name.as_str() {
                "solve_game" => {
                    let nash = self.nash.as_ref().ok_or_else(|| missing("nash"))?;
                    Arc::new(builtin::solve_game(NashClient::from_client(nash.client()?)))
                }
                "propose" => {
                    let c = self
                        .consensus
                        .as_ref()
                        .ok_or_else(|| missing("consensus"))?;
                    Arc::new(builtin::propose(ConsensusClient::from_client(c.client()?)))
                }
                "remember" => {
                    let m = self.memory.as_ref().ok_or_else(|| missing("memory"))?;
                    Arc::new(builtin::remember(memory(m)?))
                }
                "search_memory" => {
                    let m = self.memory.as_ref().ok_or_else(|| missing("memory"))?;
                    Arc::new(builtin::search_memory(memory(m)?, m.recall))
                }
                "tally" | "auction" => {
                    let fhe = self.fhe.as_ref().ok_or_else(|| missing("fhe"))?;
                    let client = FheClient::from_client(fhe.client()?);
                    let made = if name == "tally" {
                        super::private_tools::tally(client)
                    } else {
                        super::private_tools::auction(client)
                    };
                    Arc::new(made.map_err(ServiceError::Internal)?)
                }
                "fl_submit" => {
                    let fl = self.fl.as_ref().ok_or_else(|| missing("fl"))?;
                    let client = FlClient::from_client(fl.client()?);
                    Arc::new(
                        super::private_tools::fl_submit(client, role.to_string())
                            .map_err(ServiceError::Internal)?,
                    )
                }
                other => super::tool::registered(other)
                    .ok_or_else(|| ServiceError::Internal(format!("unknown tool `{other}`")))?,
            };
            tools.push(tool);
        }
        for h in &self.http {
            let tool = super::http_tool::HttpTool::new(h.spec.clone(), &h.url, h.method, h.timeout)
                .map_err(ServiceError::Internal)?;
            tools.push(Arc::new(tool));
        }
        ToolBox::new(tools).map_err(ServiceError::Internal)
    }
}

/// An agent: its settings, its model and its tools.
#[derive(Clone)]
pub struct AgentService {
    spec: Arc<AgentSpec>,
    model: Dependency<LlmService>,
    plan: Arc<ToolPlan>,
    tools: Arc<OnceLock<ToolBox>>,
}

impl AgentService {
    fn tools(&self) -> Result<ToolBox, ServiceError> {
        if let Some(t) = self.tools.get() {
            return Ok(t.clone());
        }
        let built = self.plan.build(&self.spec.role)?;
        Ok(self.tools.get_or_init(|| built).clone())
    }
}

impl Service for AgentService {
    type Request = AgentRequest;
    type Response = RunReport;

    async fn handle(
        &mut self,
        request: AgentRequest,
        ctx: &RequestContext,
    ) -> Result<RunReport, ServiceError> {
        let model = LlmClient::from_client(self.model.client()?);
        let tools = self.tools()?;
        let span = tracing::Span::current();
        let run = RunContext {
            deadline: ctx.deadline,
            traceparent: swarm_runtime::telemetry::traceparent_of(&span),
            events: request.events.as_ref(),
            handoffs: &request.handoffs,
        };
        Ok(react::run(&self.spec, &model, &tools, &request.input, run).await)
    }

    fn concurrent_copy(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// `params.http_tools`: each checked at its line (name, url, method, schema).
fn http_tools(params: &Section<'_>) -> Vec<HttpToolPlan> {
    use super::http_tool::Method;
    let section = params.section("http_tools");
    let mut plans = Vec::new();
    for (key, _) in section.entries() {
        let t = section.section(&key.name);
        let url: Option<String> = t.required("url");
        let method = match t
            .or("method", "POST".to_string())
            .to_ascii_uppercase()
            .as_str()
        {
            "GET" => Method::Get,
            "POST" => Method::Post,
            other => {
                t.error("method", format!("unknown method `{other}` (GET or POST)"));
                Method::Post
            }
        };
        let timeout = t.or("timeout", std::time::Duration::from_secs(10));
        let description: String = t.or("description", String::new());
        let parameters: Option<serde_json::Value> = t.value("parameters");
        let spec = match crate::llm::tools::ToolSpec::new(&key.name, &description, parameters) {
            Ok(spec) => spec,
            Err(e) => {
                t.error("parameters", e);
                continue;
            }
        };
        if let Err(e) = jsonschema::validator_for(&spec.parameters) {
            t.error("parameters", format!("not a valid JSON schema: {e}"));
        }
        let Some(url) = url else { continue };
        if let Err(e) = super::http_tool::HttpTool::new(spec.clone(), &url, method, timeout) {
            t.error("url", e);
            continue;
        }
        plans.push(HttpToolPlan {
            spec,
            url,
            method,
            timeout,
        });
    }
    plans
}

/// `answer_schema`: the JSON schema the final answer must match (free text without it),
/// checked here: it must compile and turn into a grammar.
fn answer_format(params: &Section<'_>) -> ResponseFormat {
    let Some(schema) = params.value::<serde_json::Value>("answer_schema") else {
        return ResponseFormat::Text;
    };
    let format = ResponseFormat::JsonSchema(schema.clone());
    if !schema.is_object() {
        params.error("answer_schema", "must be a JSON schema (a mapping)");
    } else if let Err(e) = jsonschema::validator_for(&schema) {
        params.error("answer_schema", format!("not a valid JSON schema: {e}"));
    } else if let Err(e) = format.grammar() {
        params.error(
            "answer_schema",
            format!("no grammar can be made of it: {e}"),
        );
    } else {
        return format;
    }
    ResponseFormat::Text
}

fn memory_plan(params: &Section<'_>) -> Option<MemoryPlan> {
    params.node("memory")?;
    let m = params.section("memory");
    let collection: String = m.required("collection")?;
    let dimension = m.or("dimension", 384usize);
    let recall = m.or("recall", 3usize);
    if !(1..=65_536).contains(&dimension) {
        m.error("dimension", "must be between 1 and 65536");
    }
    if !(1..=100).contains(&recall) {
        m.error("recall", "must be between 1 and 100");
    }
    Some(MemoryPlan {
        vector: m.dependency::<VectorService>("vector")?,
        collection,
        dimension,
        recall,
    })
}

/// Registers service type `agent` (params in the module doc). Unknown tools, and tools
/// whose service is not given, are config errors at their line.
pub fn register(registry: &mut Registry) {
    let mut registration = registry.service::<AgentService, _>("agent", |params: &Section<'_>| {
        let model = params.dependency::<LlmService>("model");
        if params.node("model").is_none() {
            // Reports the missing key at the params' line.
            let _: Option<String> = params.required("model");
        }
        let d = AgentSpec::default();
        let spec = AgentSpec {
            role: params.or(
                "role",
                params
                    .path()
                    .rsplit('.')
                    .nth(1)
                    .unwrap_or("agent")
                    .to_string(),
            ),
            system: params.or("system", d.system),
            max_turns: params.or("max_turns", d.max_turns),
            token_budget: params.or("token_budget", d.token_budget),
            max_tokens: params.or("max_tokens", d.max_tokens),
            temperature: params.or("temperature", 0.0f64) as f32,
            answer_format: answer_format(params),
            parallel_tool_calls: params.or("parallel_tool_calls", d.parallel_tool_calls),
            require_tool: params.or("require_tool", d.require_tool),
        };
        if !(1..=64).contains(&spec.max_turns) {
            params.error("max_turns", "must be between 1 and 64");
        }
        if !(0.0..=2.0).contains(&spec.temperature) {
            params.error("temperature", "must be between 0 and 2");
        }
        let names: Vec<String> = params.or("tools", Vec::new());
        let nash = params.dependency::<NashService>("nash");
        let consensus = params.dependency::<ConsensusService>("consensus");
        let fhe = params.dependency::<FheService>("fhe");
        let fl = params.dependency::<FlService>("fl");
        let memory = memory_plan(params);
        for name in &names {
            let needs = match name.as_str() {
                "solve_game" => nash.is_none().then_some("nash"),
                "propose" => consensus.is_none().then_some("consensus"),
                "remember" | "search_memory" => memory.is_none().then_some("memory"),
                "tally" | "auction" => fhe.is_none().then_some("fhe"),
                "fl_submit" => fl.is_none().then_some("fl"),
                other if super::tool::registered(other).is_some() => None,
                other => {
                    params.error(
                        "tools",
                        format!(
                            "unknown tool `{other}` (built in: {}; a Rust program adds its own with agent::tool::register)",
                            BUILT_IN_TOOLS.join(", ")
                        ),
                    );
                    None
                }
            };
            if let Some(key) = needs {
                params.error("tools", format!("tool `{name}` needs `{key}`"));
            }
        }
        let http = http_tools(params);
        for name in names.iter().chain(http.iter().map(|h| &h.spec.name)) {
            params.part("tool", name);
        }
        let plan = Arc::new(ToolPlan {
            names,
            http,
            nash,
            consensus,
            fhe,
            fl,
            memory,
        });
        let model = model?;
        let spec = Arc::new(spec);
        Some(Arc::new(move || {
            Ok(AgentService {
                spec: spec.clone(),
                model: model.clone(),
                plan: plan.clone(),
                tools: Arc::default(),
            })
        }))
    });
    registration.concurrency(16);
    registration.expose_named(crate::http::HttpApi::named(super::client::routes));
}
