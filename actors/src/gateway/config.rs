//! The `gateway:` section.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use swarm_runtime::config::{ByteSize, Section};

/// Where API keys come from. Keys are never written inline in YAML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// An environment variable holding comma-separated keys.
    pub keys_env: Option<String>,
    /// A file with one key per line (`#` starts a comment).
    pub keys_file: Option<PathBuf>,
}

/// The gateway's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes.
    pub body_limit: u64,
    /// Largest accepted model upload (FL updates), in bytes.
    pub upload_limit: u64,
    /// Largest accepted point batch (vector upserts), in bytes.
    pub points_limit: u64,
    /// Deadline for a request through the gateway, unless the client sends a shorter
    /// `x-swarm-timeout-ms`.
    pub request_timeout: Duration,
    /// Per-service bound on `/health` checks.
    pub health_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// API keys.
    pub auth: AuthConfig,
}

impl GatewayConfig {
    /// Defaults: 127.0.0.1:8080, 1 MiB bodies, 30 s requests, 1 s health checks, no keys.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            body_limit: 1 << 20,
            upload_limit: 64 << 20,
            points_limit: 32 << 20,
            request_timeout: Duration::from_secs(30),
            health_timeout: Duration::from_secs(1),
            max_connections: 1_024,
            header_timeout: Duration::from_secs(10),
            auth: AuthConfig::default(),
        }
    }

    /// Reads the section, recording errors in its diagnostics.
    pub(crate) fn read(s: &Section<'_>) -> Option<Self> {
        let listen: Option<SocketAddr> = s.required("listen");
        let body_limit = s.or("body_limit", ByteSize(1 << 20)).0;
        let upload_limit = s.or("upload_limit", ByteSize(64 << 20)).0;
        let points_limit = s.or("points_limit", ByteSize(32 << 20)).0;
        let request_timeout = s.or("request_timeout", Duration::from_secs(30));
        let health_timeout = s.or("health_timeout", Duration::from_secs(1));
        let max_connections = s.or("max_connections", 1_024usize);
        if !(1..=1_000_000).contains(&max_connections) {
            s.error("max_connections", "must be between 1 and 1000000");
        }
        let header_timeout = s.or("header_timeout", Duration::from_secs(10));
        if header_timeout.is_zero() {
            s.error("header_timeout", "must be greater than zero");
        }
        let auth = s.section("auth");
        let keys_env: Option<String> = auth.value("keys_env");
        let keys_file: Option<PathBuf> = auth.value("keys_file");
        if auth.node("keys").is_some() {
            auth.error(
                "keys",
                "API keys are never written in the config; use keys_env or keys_file",
            );
        }
        drop(auth);
        Some(Self {
            listen: listen?,
            body_limit,
            upload_limit,
            points_limit,
            request_timeout,
            health_timeout,
            max_connections,
            header_timeout,
            auth: AuthConfig {
                keys_env,
                keys_file,
            },
        })
    }
}

impl GatewayConfig {
    /// The `gateway:` section as YAML would write it, for [`swarm_runtime::topology::SwarmBuilder`].
    pub fn to_section(&self) -> serde_json::Value {
        use swarm_runtime::topology::duration;
        let mut auth = serde_json::Map::new();
        if let Some(env) = &self.auth.keys_env {
            auth.insert("keys_env".into(), env.clone().into());
        }
        if let Some(file) = &self.auth.keys_file {
            auth.insert("keys_file".into(), file.display().to_string().into());
        }
        serde_json::json!({
            "listen": self.listen.to_string(),
            "body_limit": self.body_limit,
            "upload_limit": self.upload_limit,
            "points_limit": self.points_limit,
            "request_timeout": duration(self.request_timeout),
            "health_timeout": duration(self.health_timeout),
            "max_connections": self.max_connections,
            "header_timeout": duration(self.header_timeout),
            "auth": auth,
        })
    }
}
