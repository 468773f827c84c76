//! Agents: LLM-driven actors whose tools are the swarm's services. A pure core — the
//! ReAct loop (`react`), tools with schema-checked arguments (`tool`), the built-in tools
//! over the services' typed clients (`builtin`), the model seam (`model`) — and the actor
//! shell, service type `agent` (`service`): each agent a supervised pool. Workflows
//! (`workflow`, service type `workflow`) say who does what: sequential, parallel, router
//! and vote.

pub mod builtin;
pub mod client;
pub mod fn_tool;
pub mod http_tool;
pub mod model;
pub mod private_tools;
pub mod react;
pub mod run_log;
pub mod runs;
pub mod runs_routes;
pub mod service;
pub mod tool;
pub mod workflow;

pub use client::{AgentClient, WorkflowClient};
pub use fn_tool::FnTool;
pub use model::ChatModel;
pub use react::{AgentSpec, Event, RunContext, RunReport, StopReason};
pub use service::{AgentRequest, AgentService};
pub use tool::{Tool, ToolBox, ToolContext, ToolError, ToolOutcome};
