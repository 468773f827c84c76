//! Tools declared in YAML that call an HTTP endpoint: `POST` sends the arguments as the
//! JSON body, `GET` as query parameters; the answer is the response's JSON (or its text).
//! A status other than 2xx is the tool's error, with the start of the body.
//!
//! ```yaml
//! http_tools:
//!   exchange_rate:
//!     url: http://rates.internal/v1/rate
//!     method: GET
//!     timeout: 5s
//!     description: The exchange rate between two currencies.
//!     parameters: { type: object, properties: { from: { type: string }, to: { type: string } }, required: [from, to] }
//! ```

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::tool::{Tool, ToolContext, ToolError};
use crate::llm::tools::ToolSpec;

/// How an HTTP tool sends its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// As query parameters.
    Get,
    /// As a JSON body.
    Post,
}

/// A tool backed by an HTTP endpoint.
pub struct HttpTool {
    spec: ToolSpec,
    url: String,
    method: Method,
    timeout: Duration,
    client: reqwest::Client,
}

/// Most bytes of an error response quoted in the tool's error.
const QUOTED: usize = 200;

impl HttpTool {
    /// The tool `spec`, calling `url` with `method`, each call bounded by `timeout` (and the
    /// run's deadline).
    pub fn new(
        spec: ToolSpec,
        url: &str,
        method: Method,
        timeout: Duration,
    ) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("url `{url}`: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("url `{url}`: must be http or https"));
        }
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            spec,
            url: url.to_string(),
            method,
            timeout,
            client,
        })
    }
}

fn query(arguments: &Value) -> Vec<(String, String)> {
    arguments
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Tool for HttpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call<'a>(
        &'a self,
        arguments: Value,
        ctx: &'a ToolContext,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        Box::pin(async move {
            let timeout = self.timeout.min(ctx.time_left());
            let request = match self.method {
                Method::Get => self.client.get(&self.url).query(&query(&arguments)),
                Method::Post => self.client.post(&self.url).json(&arguments),
            };
            let mut request = request.timeout(timeout);
            if let Some(tp) = ctx.options().traceparent {
                request = request.header("traceparent", tp);
            }
            let response = request.send().await.map_err(|e| {
                if e.is_timeout() {
                    ToolError::DeadlineExceeded
                } else {
                    ToolError::Failed(format!("{}: {e}", self.url))
                }
            })?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| ToolError::Failed(format!("{}: reading the answer: {e}", self.url)))?;
            if !status.is_success() {
                let mut end = text.len().min(QUOTED);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                return Err(ToolError::Failed(format!(
                    "HTTP {status}: {}",
                    &text[..end]
                )));
            }
            Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
    }
}
