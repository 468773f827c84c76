//! The actor shell: every input text goes through one shared dynamic batcher in front
//! of the model, so concurrent requests share forward passes; a batch is tokenised (each
//! text once) and run on the blocking pool.
//! The model loads once, when the pool starts, off the async threads (a missing model
//! fails start-up with how to fetch it).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use swarm_runtime::batcher::{BatchPolicy, BatchService, Batcher};
use swarm_runtime::config::Section;
use swarm_runtime::{Registry, RequestContext, Service, ServiceError};

use super::core::MiniLm;
use crate::remote::OpenAiServer;

/// Texts to embed.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    /// The inputs, in order.
    pub inputs: Vec<String>,
}

/// Embeddings and token usage.
#[derive(Debug, Clone)]
pub struct EmbedResponse {
    /// One unit vector per input, in order.
    pub embeddings: Vec<Vec<f32>>,
    /// Tokens consumed (after truncation).
    pub tokens: usize,
    /// The model's name.
    pub model: Arc<str>,
}

/// The model as a batch service: a batch is tokenised and run in one go on the blocking
/// pool, so each text is tokenised exactly once and never on an async thread.
pub struct ModelBatches {
    model: Arc<MiniLm>,
    name: String,
    /// The pool's own threads (`params.threads`); the process-wide pool when `None`.
    threads: Option<Arc<rayon::ThreadPool>>,
}

impl BatchService for ModelBatches {
    type Item = String;
    type Output = (Vec<f32>, usize);

    /// An upper bound without tokenising: WordPiece makes at most one token per byte,
    /// plus `[CLS]` and `[SEP]`, and truncates at the model's limit.
    fn tokens(&self, text: &String) -> usize {
        (text.len() + 2).min(self.model.max_tokens())
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, texts: Vec<String>) -> Result<Vec<(Vec<f32>, usize)>, ServiceError> {
        let (model, threads) = (self.model.clone(), self.threads.clone());
        tokio::task::spawn_blocking(move || {
            let run = || model.embed_counted(&texts);
            let result = match &threads {
                Some(pool) => pool.install(run),
                None => run(),
            };
            result.map(|(vectors, counts)| vectors.into_iter().zip(counts).collect())
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("embedding task failed: {e}")))?
        .map_err(|e| ServiceError::Internal(e.to_string()))
    }
}

/// The embedding service: forwards each text to the shared batcher. It mostly waits, so
/// a worker runs many requests at once (its type's default `concurrency` is
/// [`CONCURRENCY`]); the batcher is the queue that bounds the work. In a remote pool it
/// asks an OpenAI-compatible server's `/v1/embeddings` instead.
#[derive(Clone)]
pub struct EmbedService {
    backend: Backend,
    name: Arc<str>,
}

#[derive(Clone)]
enum Backend {
    Local(Batcher<ModelBatches>),
    Remote(Arc<OpenAiServer>),
}

/// The embedding service's params, for the Rust builder (same keys as YAML; the batch
/// policy keeps its defaults unless given).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmbedParams {
    /// The model's directory (`make models` fetches it into `models/all-MiniLM-L6-v2`).
    pub model_dir: PathBuf,
    /// The name answers carry.
    pub model_name: String,
}

impl swarm_runtime::topology::ServiceParams for EmbedParams {
    const TYPE: &'static str = "embed";
}

/// Most inputs in one request.
pub const MAX_INPUTS: usize = 2_048;

/// Requests one embed worker runs at once unless the YAML sets `concurrency`.
pub const CONCURRENCY: usize = 256;

impl Service for EmbedService {
    type Request = EmbedRequest;
    type Response = EmbedResponse;

    async fn handle(
        &mut self,
        req: EmbedRequest,
        ctx: &RequestContext,
    ) -> Result<EmbedResponse, ServiceError> {
        if req.inputs.is_empty() || req.inputs.len() > MAX_INPUTS {
            return Err(ServiceError::InvalidRequest(format!(
                "input must hold 1 to {MAX_INPUTS} texts"
            )));
        }
        let batcher = match &self.backend {
            Backend::Local(batcher) => batcher,
            Backend::Remote(server) => {
                return remote_embed(server, &self.name, req.inputs, ctx.deadline).await;
            }
        };
        let calls = req
            .inputs
            .into_iter()
            .map(|text| batcher.submit(text, ctx.deadline));
        let mut embeddings = Vec::new();
        let mut tokens = 0;
        for result in futures_util::future::join_all(calls).await {
            let (vector, used) = result?;
            embeddings.push(vector);
            tokens += used;
        }
        Ok(EmbedResponse {
            embeddings,
            tokens,
            model: self.name.clone(),
        })
    }

    fn work_units(req: &EmbedRequest) -> f64 {
        req.inputs.len() as f64
    }

    fn concurrent_copy(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// Embeds on a remote server: one POST for all inputs, answers put back in input order
/// and normalised (the service's answers are unit vectors whoever computed them).
async fn remote_embed(
    server: &OpenAiServer,
    model: &Arc<str>,
    inputs: Vec<String>,
    deadline: tokio::time::Instant,
) -> Result<EmbedResponse, ServiceError> {
    let n = inputs.len();
    let body = serde_json::json!({ "input": inputs, "model": &**model });
    let answer = server.json("/v1/embeddings", &body, deadline).await?;
    let bad = |why: &str| ServiceError::Internal(format!("remote embeddings: {why}"));
    let data = answer
        .get("data")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| bad("no `data` list"))?;
    let mut embeddings: Vec<Option<Vec<f32>>> = vec![None; n];
    for (k, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(serde_json::Value::as_u64)
            .map_or(k, |i| i as usize);
        let vector: Vec<f32> =
            serde_json::from_value(item.get("embedding").cloned().unwrap_or_default())
                .map_err(|_| bad("an embedding is not a list of numbers"))?;
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        let unit = vector
            .iter()
            .map(|x| if norm > 0.0 { x / norm } else { *x })
            .collect();
        *embeddings
            .get_mut(index)
            .ok_or_else(|| bad("an index is out of range"))? = Some(unit);
    }
    let embeddings: Option<Vec<Vec<f32>>> = embeddings.into_iter().collect();
    let tokens = answer
        .pointer("/usage/prompt_tokens")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    Ok(EmbedResponse {
        embeddings: embeddings.ok_or_else(|| bad("an input has no embedding"))?,
        tokens: tokens as usize,
        model: model.clone(),
    })
}

/// Registers service type `embed` (params: `model_dir`, `model_name`, `batch`, `threads`
/// — the pool's own compute threads, else the process-wide pool) with its
/// route; each worker runs up to [`CONCURRENCY`] requests at once by default.
pub fn register(registry: &mut Registry) {
    let mut registration = registry.service::<EmbedService, _>("embed", |params: &Section<'_>| {
        let dir: PathBuf = params.or("model_dir", PathBuf::from("models/all-MiniLM-L6-v2"));
        let name: Arc<str> = params
            .or("model_name", "all-MiniLM-L6-v2".to_string())
            .into();
        let policy = BatchPolicy::read(&params.section("batch"));
        let threads: Option<usize> = params.value("threads");
        if threads.is_some_and(|t| !(1..=1024).contains(&t)) {
            params.error("threads", "must be between 1 and 1024");
        }
        if let Some(target) = params.placement().remote {
            return Some(Arc::new(move || {
                let server = OpenAiServer::new(&target).map_err(ServiceError::Internal)?;
                Ok(EmbedService {
                    backend: Backend::Remote(Arc::new(server)),
                    name: name.clone(),
                })
            }));
        }
        let shared: Arc<OnceLock<EmbedService>> = Arc::new(OnceLock::new());
        Some(Arc::new(move || {
            if let Some(s) = shared.get() {
                return Ok(s.clone());
            }
            // The first call runs on the blocking pool (the runtime's start-up warm-up).
            let model =
                Arc::new(MiniLm::load(&dir).map_err(|e| ServiceError::Internal(e.to_string()))?);
            let threads = match threads {
                Some(n) => Some(Arc::new(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(n)
                        .thread_name(|i| format!("embed-{i}"))
                        .build()
                        .map_err(|e| ServiceError::Internal(format!("embed threads: {e}")))?,
                )),
                None => None,
            };
            let service = shared.get_or_init(|| EmbedService {
                backend: Backend::Local(Batcher::start(
                    Arc::new(ModelBatches {
                        model,
                        name: format!("{name} batcher"),
                        threads,
                    }),
                    policy,
                )),
                name: name.clone(),
            });
            Ok(service.clone())
        }))
    });
    registration
        .concurrency(CONCURRENCY)
        .expose(crate::http::HttpApi::new(super::api::routes))
        .remote();
}
