//! Tools from typed functions: the parameters' JSON schema is made from the argument type
//! (`#[derive(Deserialize, JsonSchema)]`), the arguments arrive as that type and the
//! result goes back as JSON. No `Tool` impl to write — what `#[tool]` gives in rig and a
//! typed function gives in the OpenAI Agents SDK.
//!
//! ```
//! use swarm_actors::agent::{FnTool, ToolBox, ToolError};
//!
//! /// Two numbers to add.
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Add {
//!     /// The first.
//!     a: f64,
//!     /// The second.
//!     b: f64,
//! }
//!
//! let add = FnTool::typed("add", "Adds two numbers.", |args: Add, _ctx| async move {
//!     Ok::<_, ToolError>(args.a + args.b)
//! })
//! .unwrap();
//! let tools = ToolBox::new(vec![std::sync::Arc::new(add)]).unwrap();
//! assert_eq!(tools.specs()[0].parameters["required"], serde_json::json!(["a", "b"]));
//! ```

use std::future::Future;

use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::tool::{Tool, ToolContext, ToolError};
use crate::llm::tools::ToolSpec;

type Run = dyn Fn(Value, ToolContext) -> BoxFuture<'static, Result<Value, ToolError>> + Send + Sync;

/// A tool made of a spec and an async function.
pub struct FnTool {
    spec: ToolSpec,
    run: Box<Run>,
}

impl FnTool {
    /// A tool of `spec` that runs `f` on the arguments as JSON (already checked against
    /// the spec's schema).
    pub fn new<F, Fut>(spec: ToolSpec, f: F) -> Self
    where
        F: Fn(Value, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ToolError>> + Send + 'static,
    {
        Self {
            spec,
            run: Box::new(move |args, ctx| Box::pin(f(args, ctx))),
        }
    }

    /// A tool named `name` whose parameters are `A` (its schema made from the type) and
    /// whose result is `R`, serialised. An error when the name is not a valid tool name
    /// or `A` is not a JSON object.
    pub fn typed<A, R, F, Fut>(name: &str, description: &str, f: F) -> Result<Self, String>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        R: Serialize,
        F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    {
        let spec = ToolSpec::new(name, description, Some(schema_of::<A>()))?;
        let f = std::sync::Arc::new(f);
        Ok(Self::new(spec, move |args, ctx| {
            let f = f.clone();
            async move {
                let args: A = serde_json::from_value(args)
                    .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
                let result = f(args, ctx).await?;
                serde_json::to_value(result).map_err(|e| ToolError::Failed(e.to_string()))
            }
        }))
    }
}

impl Tool for FnTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call<'a>(
        &'a self,
        arguments: Value,
        ctx: &'a ToolContext,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        (self.run)(arguments, ctx.clone())
    }
}

/// `A`'s JSON schema as a tool's parameters: sub-schemas inlined (no `$ref` for the
/// grammar to follow), without `$schema`, the type's title and description (the tool
/// has its own) and the numeric `format`s (`int64`,
/// `double`, …) that only annotate.
pub fn schema_of<A: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<A>().to_value();
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
        map.remove("title");
        // The tool's own description is what the model is told.
        map.remove("description");
    }
    strip_annotations(&mut schema);
    schema
}

fn strip_annotations(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let numeric = matches!(
                map.get("type").and_then(Value::as_str),
                Some("integer" | "number")
            );
            if numeric {
                map.remove("format");
            }
            for child in map.values_mut() {
                strip_annotations(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_annotations),
        _ => {}
    }
}
