//! The actor shell: every input text goes through one shared dynamic batcher in front of
//! the model, so concurrent requests share forward passes. The model loads once, when the
//! pool starts (a missing model fails start-up with how to fetch it).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use swarm_runtime::batcher::{BatchPolicy, BatchService, Batcher};
use swarm_runtime::config::Section;
use swarm_runtime::{Registry, RequestContext, Service, ServiceError};

use super::core::MiniLm;

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

/// The model as a batch service: a batch is one forward pass on the blocking pool.
pub struct ModelBatches {
    model: Arc<MiniLm>,
}

impl BatchService for ModelBatches {
    type Item = String;
    type Output = (Vec<f32>, usize);

    fn tokens(&self, text: &String) -> usize {
        self.model
            .count_tokens(text)
            .unwrap_or(self.model.max_tokens())
    }

    async fn run(&self, texts: Vec<String>) -> Result<Vec<(Vec<f32>, usize)>, ServiceError> {
        let model = self.model.clone();
        tokio::task::spawn_blocking(move || {
            model
                .embed_counted(&texts)
                .map(|(vs, counts)| vs.into_iter().zip(counts).collect())
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("embedding task failed: {e}")))?
        .map_err(|e| ServiceError::Internal(e.to_string()))
    }
}

/// The embedding service: forwards each input to the shared batcher.
pub struct EmbedService {
    batcher: Batcher<ModelBatches>,
    name: Arc<str>,
}

/// Most inputs in one request.
pub const MAX_INPUTS: usize = 2_048;

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
        let calls = req
            .inputs
            .into_iter()
            .map(|t| self.batcher.submit(t, ctx.deadline));
        let mut embeddings = Vec::new();
        let mut tokens = 0;
        for result in futures_join(calls).await {
            let (v, n) = result?;
            embeddings.push(v);
            tokens += n;
        }
        Ok(EmbedResponse {
            embeddings,
            tokens,
            model: self.name.clone(),
        })
    }
}

/// Awaits every future, keeping order (they run concurrently as spawned tasks would not
/// borrow; here they only wait on the batcher, so polling them together suffices).
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Registers service type `embed` (params: `model_dir`, `model_name`, `batch`).
pub fn register(registry: &mut Registry) {
    let mut registration = registry.service::<EmbedService, _>("embed", |params: &Section<'_>| {
        let dir: PathBuf = params.or("model_dir", PathBuf::from("models/all-MiniLM-L6-v2"));
        let name: Arc<str> = params
            .or("model_name", "all-MiniLM-L6-v2".to_string())
            .into();
        let policy = BatchPolicy::read(&params.section("batch"));
        let shared: Arc<OnceLock<Batcher<ModelBatches>>> = Arc::new(OnceLock::new());
        Some(Arc::new(move || {
            if let Some(b) = shared.get() {
                return Ok(EmbedService {
                    batcher: b.clone(),
                    name: name.clone(),
                });
            }
            let model = MiniLm::load(&dir).map_err(|e| ServiceError::Internal(e.to_string()))?;
            let batcher = shared.get_or_init(|| {
                Batcher::start(
                    Arc::new(ModelBatches {
                        model: Arc::new(model),
                    }),
                    policy,
                )
            });
            Ok(EmbedService {
                batcher: batcher.clone(),
                name: name.clone(),
            })
        }))
    });
    registration.expose(crate::http::HttpApi::new(super::api::routes));
}
