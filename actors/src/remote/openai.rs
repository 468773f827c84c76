//! One remote OpenAI-compatible server: POST JSON, or POST and read server-sent events.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use swarm_runtime::ServiceError;
use swarm_runtime::scheduler::RemoteTarget;
use tokio::time::Instant;

use super::{RetryBudget, SseParser};

/// Why a remote call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The server refused the request as sent (4xx): retrying it unchanged fails again.
    #[error("{0}")]
    Refused(String),
    /// Unreachable, or answering 5xx/429, or cut off mid-answer: the pool is unwell.
    #[error("{0}")]
    Unreachable(String),
    /// An answer that does not follow the OpenAI API.
    #[error("{0}")]
    Protocol(String),
    /// The caller's deadline passed.
    #[error("the remote pool did not answer before the deadline")]
    Deadline,
}

impl From<RemoteError> for ServiceError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Refused(m) => Self::InvalidRequest(m),
            RemoteError::Unreachable(m) => Self::Unavailable(m),
            RemoteError::Protocol(m) => Self::Internal(m),
            RemoteError::Deadline => Self::Timeout(e.to_string()),
        }
    }
}

/// Retries after the first attempt, budget permitting.
const MAX_RETRIES: u32 = 2;

/// A remote server and the connections to it.
pub struct OpenAiServer {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
    budget: RetryBudget,
}

impl std::fmt::Debug for OpenAiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("OpenAiServer")
            .field("base", &self.base)
            .finish()
    }
}

/// The server's root: OpenAI's clients take a base URL ending in `/v1`
/// (`https://api.openai.com/v1`), and the paths here start with `/v1/`, so a trailing
/// `/v1` (or `/`) is dropped rather than doubled.
fn base_url(url: &str) -> String {
    let url = url.trim_end_matches('/');
    url.strip_suffix("/v1").unwrap_or(url).to_string()
}

impl OpenAiServer {
    /// A client for `target`; fails when its API key variable is not set.
    pub fn new(target: &RemoteTarget) -> Result<Self, String> {
        let key = match &target.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                format!("the environment variable `{var}` (api_key_env) is not set")
            })?),
            None => None,
        };
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(target.max_concurrency)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: base_url(&target.url),
            key,
            budget: RetryBudget::new(0.2, 10),
        })
    }

    /// POSTs `body` to `path` and reads the JSON answer.
    pub async fn json(
        &self,
        path: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<Value, RemoteError> {
        let resp = self.send(path, body, deadline).await?;
        let bytes = tokio::time::timeout_at(deadline, resp.bytes())
            .await
            .map_err(|_| RemoteError::Deadline)?
            .map_err(|e| RemoteError::Unreachable(format!("remote answer cut off: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RemoteError::Protocol(format!("remote answer is not JSON: {e}")))
    }

    /// POSTs `body` to `path` and hands each streamed event to `on_event` until `[DONE]`
    /// or until it returns false. Retries happen only before the first event.
    pub async fn stream(
        &self,
        path: &str,
        body: &Value,
        deadline: Instant,
        mut on_event: impl FnMut(Value) -> bool,
    ) -> Result<(), RemoteError> {
        let resp = self.send(path, body, deadline).await?;
        let mut bytes = resp.bytes_stream();
        let mut parser = SseParser::default();
        loop {
            let chunk = match tokio::time::timeout_at(deadline, bytes.next()).await {
                Err(_) => return Err(RemoteError::Deadline),
                Ok(None) => return Ok(()),
                Ok(Some(chunk)) => chunk
                    .map_err(|e| RemoteError::Unreachable(format!("remote stream cut off: {e}")))?,
            };
            for data in parser.push(&chunk) {
                if data.trim() == "[DONE]" {
                    return Ok(());
                }
                let event = serde_json::from_str(&data).map_err(|e| {
                    RemoteError::Protocol(format!("remote stream event is not JSON: {e}"))
                })?;
                if !on_event(event) {
                    return Ok(());
                }
            }
        }
    }

    async fn send(
        &self,
        path: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<reqwest::Response, RemoteError> {
        self.budget.deposit();
        let mut retries = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RemoteError::Deadline);
            }
            let mut req = self
                .http
                .post(format!("{}{path}", self.base))
                .json(body)
                .timeout(left);
            if let Some(key) = &self.key {
                req = req.bearer_auth(key);
            }
            let failure = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let text = tokio::time::timeout_at(deadline, resp.text())
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    let why = format!("remote pool answered {status}: {}", error_message(&text));
                    if status.is_client_error() && status.as_u16() != 429 {
                        return Err(RemoteError::Refused(why));
                    }
                    RemoteError::Unreachable(why)
                }
                Err(e) if e.is_timeout() => return Err(RemoteError::Deadline),
                Err(e) => RemoteError::Unreachable(format!("remote pool unreachable: {e}")),
            };
            retries += 1;
            // 25 ms, then 50 ms.
            let backoff = Duration::from_millis(25 << (retries - 1));
            if retries > MAX_RETRIES
                || Instant::now() + backoff >= deadline
                || !self.budget.try_withdraw()
            {
                return Err(failure);
            }
            tracing::debug!(retry = retries, error = %failure, "retrying on the remote pool");
            tokio::time::sleep(backoff).await;
        }
    }
}

/// The message of an OpenAI-style error body, or the body itself (shortened).
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    if let Some(m) = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(Value::as_str)
    {
        return m.to_string();
    }
    body.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_base_url_with_or_without_v1_reaches_the_same_paths() {
        for url in [
            "http://h:1",
            "http://h:1/",
            "http://h:1/v1",
            "http://h:1/v1/",
        ] {
            assert_eq!(super::base_url(url), "http://h:1", "{url}");
        }
        assert_eq!(super::base_url("http://h:1/proxy/v1"), "http://h:1/proxy");
    }
}
