//! The runtime shell: each worker is a replica owning one engine (the model is loaded once
//! per process and shared); a worker runs up to `concurrency` requests at once, each one
//! sequence in its engine, so requests beyond that wait in the runtime's bounded queue
//! under its overflow policy (generation itself: `local.rs`). In a remote pool a worker
//! sends its requests to an OpenAI-compatible server instead (`remote.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use swarm_runtime::config::{ByteSize, Section};
use swarm_runtime::{MetricFamily, Registry, RequestContext, Service, ServiceError};
use tokio::sync::mpsc;

use super::cache::ResponseCache;
use super::engine::{Engine, EngineConfig};
use super::job::{FinishReason, Usage};
use super::model::{ChatMessage, Model, Offload};
use super::remote::RemoteLlm;
use super::sampling::Sampling;
use super::stats::EngineStats;
use crate::remote::OpenAiServer;
use swarm_runtime::scheduler::{Device, RemoteTarget};

/// What to continue.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Prompt {
    /// Chat messages, rendered with the model's chat template.
    Chat(Vec<ChatMessage>),
    /// Raw text, continued as it is.
    Text(String),
}

/// A request to the `llm` service.
#[derive(Debug, Clone)]
pub enum LlmRequest {
    /// Generate text.
    Generate(Box<Generate>),
    /// Say which model this is and its limits.
    Describe,
}

/// The `llm` service's answers.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmResponse {
    /// A finished generation.
    Generated(Generation),
    /// The model and its limits.
    Described(ModelInfo),
}

/// The model a service runs, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// Its name (the GGUF file's stem).
    pub name: String,
    /// Tokens one sequence holds (prompt plus output).
    pub context: u32,
    /// Sequences one replica generates at once.
    pub max_sequences: u32,
}

/// A generation request.
#[derive(Debug, Clone)]
pub struct Generate {
    /// The prompt.
    pub prompt: Prompt,
    /// How to sample.
    pub sampling: Sampling,
    /// Where text goes as it is generated (streaming); `None` answers it all at the end.
    pub stream: Option<mpsc::UnboundedSender<String>>,
    /// Whether a deterministic answer may come from (and go to) the cache.
    pub cache: bool,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated text (without any stop sequence).
    pub text: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Token counts.
    pub usage: Usage,
    /// Answered from the cache.
    pub cached: bool,
}

/// The `llm` service's params, for the Rust builder (same keys as YAML).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LlmParams {
    /// The GGUF file.
    pub model: PathBuf,
    /// Sequences one replica generates at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sequences: Option<u32>,
    /// KV cells per sequence (prompt plus output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<u32>,
    /// Tokens per decode step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch_tokens: Option<u32>,
    /// llama.cpp threads per replica.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Response cache budget (0 turns it off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_bytes: Option<u64>,
}

impl swarm_runtime::topology::ServiceParams for LlmParams {
    const TYPE: &'static str = "llm";
}

/// A replica's handle: its engine and the service's shared cache — or, in a remote pool,
/// the remote server.
#[derive(Clone)]
pub struct LlmService {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Local {
        engine: Arc<Engine>,
        cache: Option<Arc<ResponseCache>>,
    },
    Remote(Arc<RemoteLlm>, ModelInfo),
}

/// Units a generation is estimated at when it sets no `max_tokens` (for the scheduler).
const DEFAULT_UNITS: u32 = 256;

/// Requests one replica runs at once unless the YAML sets `concurrency` (match it to
/// `params.max_sequences`: more wait inside the engine, fewer leave sequences unused).
pub const CONCURRENCY: usize = 8;

impl LlmService {
    /// A replica over `engine`, sharing `cache`.
    pub fn new(engine: Arc<Engine>, cache: Option<Arc<ResponseCache>>) -> Self {
        Self {
            backend: Backend::Local { engine, cache },
        }
    }

    /// A remote pool's worker, describing itself as `info`.
    pub fn remote(remote: Arc<RemoteLlm>, info: ModelInfo) -> Self {
        Self {
            backend: Backend::Remote(remote, info),
        }
    }
}

impl Service for LlmService {
    type Request = LlmRequest;
    type Response = LlmResponse;

    async fn handle(
        &mut self,
        req: LlmRequest,
        ctx: &RequestContext,
    ) -> Result<LlmResponse, ServiceError> {
        match (req, &self.backend) {
            (LlmRequest::Describe, Backend::Local { engine, .. }) => {
                let config = engine.config();
                Ok(LlmResponse::Described(ModelInfo {
                    name: engine.model().name.clone(),
                    context: config.context,
                    max_sequences: config.max_sequences,
                }))
            }
            (LlmRequest::Describe, Backend::Remote(_, info)) => {
                Ok(LlmResponse::Described(info.clone()))
            }
            (LlmRequest::Generate(req), Backend::Local { engine, cache }) => {
                super::local::generate(engine, cache.as_deref(), *req, ctx)
                    .await
                    .map(LlmResponse::Generated)
            }
            (LlmRequest::Generate(req), Backend::Remote(remote, _)) => {
                req.sampling
                    .validate()
                    .map_err(ServiceError::InvalidRequest)?;
                remote
                    .generate(&req, ctx.deadline)
                    .await
                    .map(LlmResponse::Generated)
            }
        }
    }

    fn work_units(req: &LlmRequest) -> f64 {
        match req {
            LlmRequest::Generate(g) => f64::from(g.sampling.max_tokens.unwrap_or(DEFAULT_UNITS)),
            LlmRequest::Describe => 1.0,
        }
    }

    fn concurrent_copy(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// Engines of one service (one per replica, re-made when a replica restarts), for metrics.
type Replicas = Arc<std::sync::Mutex<Vec<std::sync::Weak<Engine>>>>;

fn families(
    service: &str,
    replicas: &Replicas,
    cache: Option<&ResponseCache>,
) -> Vec<MetricFamily> {
    let engines: Vec<Arc<Engine>> = replicas
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .collect();
    let stats: Vec<&EngineStats> = engines.iter().map(|e| e.stats().as_ref()).collect();
    super::stats::families(service, &stats, cache)
}

/// A remote pool's workers: the model name sent is `params.model` (a `.gguf` path
/// sends its file stem; absent, `default`).
fn remote_factory(
    target: RemoteTarget,
    model: Option<PathBuf>,
    context: u32,
) -> swarm_runtime::ServiceFactory<LlmService> {
    let name = match &model {
        Some(p) if p.extension().is_some_and(|e| e == "gguf") => p
            .file_stem()
            .map_or_else(|| "default".into(), |s| s.to_string_lossy().into_owned()),
        Some(p) => p.to_string_lossy().into_owned(),
        None => "default".to_string(),
    };
    let info = ModelInfo {
        name: name.clone(),
        context,
        max_sequences: u32::try_from(target.max_concurrency).unwrap_or(u32::MAX),
    };
    Arc::new(move || {
        let server = OpenAiServer::new(&target).map_err(ServiceError::Internal)?;
        let remote = Arc::new(RemoteLlm::new(server, name.clone()));
        Ok(LlmService::remote(remote, info.clone()))
    })
}

/// Registers service type `llm` (params: `model`, the GGUF file — required;
/// `max_sequences` 8, `context` 2048, `max_batch_tokens` 512, `threads` (all cores),
/// `cache_bytes` 64MiB, `n_gpu_layers` (all on a `cuda:N` pool, else 0)) with its
/// OpenAI-compatible routes. In a remote pool (`device: remote`) `model` is optional and
/// names the model asked of the server.
pub fn register(registry: &mut Registry) {
    let mut registration = registry.service::<LlmService, _>("llm", |params: &Section<'_>| {
        let placement = params.placement();
        let model: Option<PathBuf> = match placement.device {
            Device::Remote => params.value("model"),
            _ => params.required("model"),
        };
        let max_sequences = params.or("max_sequences", 8u32);
        let context = params.or("context", 2048u32);
        let max_batch_tokens = params.or("max_batch_tokens", 512u32);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let threads = params.or("threads", cores);
        let cache_bytes = params.or("cache_bytes", ByteSize(64 << 20)).0;
        let gpu_layers = match placement.device {
            Device::Cuda(_) => params.or("n_gpu_layers", 999u32),
            _ => params.or("n_gpu_layers", 0u32),
        };
        if !(1..=256).contains(&max_sequences) {
            params.error("max_sequences", "must be between 1 and 256");
        }
        if !(16..=131_072).contains(&context) {
            params.error("context", "must be between 16 and 131072");
        }
        if max_batch_tokens < max_sequences + 1 || max_batch_tokens > 65_536 {
            params.error(
                "max_batch_tokens",
                "must be more than max_sequences and at most 65536",
            );
        }
        if !(1..=1024).contains(&threads) {
            params.error("threads", "must be between 1 and 1024");
        }
        if let Some(target) = placement.remote {
            return Some(remote_factory(target, model, context));
        }
        let offload = Offload {
            gpu_layers,
            main_gpu: match placement.device {
                Device::Cuda(n) => n,
                _ => 0,
            },
        };
        let config = EngineConfig {
            max_sequences,
            context,
            max_batch_tokens,
            threads,
        };
        let model = model?;
        let cache = (cache_bytes > 0).then(|| Arc::new(ResponseCache::new(cache_bytes)));
        let replicas: Replicas = Default::default();
        let (seen, cached) = (replicas.clone(), cache.clone());
        params.metrics_source(Arc::new(move |service| {
            families(service, &seen, cached.as_deref())
        }));
        Some(Arc::new(move || {
            let loaded = Model::load_on(&model, offload).map_err(ServiceError::from)?;
            let engine = Arc::new(Engine::start(loaded, config).map_err(ServiceError::from)?);
            let mut all = replicas.lock().unwrap_or_else(|p| p.into_inner());
            all.retain(|e| e.strong_count() > 0);
            all.push(Arc::downgrade(&engine));
            Ok(LlmService::new(engine, cache.clone()))
        }))
    });
    registration.concurrency(CONCURRENCY);
    registration.expose(crate::http::HttpApi::new(super::api::routes));
    registration.remote();
}
