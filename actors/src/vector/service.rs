//! The actor shell: every worker shares one [`Catalog`]; searches take a collection's read
//! lock and writes its write lock, both on the blocking pool.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use swarm_runtime::config::{ByteSize, Section};
use swarm_runtime::{
    CallOptions, Commitment, Dependency, Registry, RequestContext, Service, ServiceError, telemetry,
};

use crate::embed::{EmbedClient, EmbedService};
use crate::http::ServiceClient;

use super::core::catalog::SharedCollection;
use super::core::{Catalog, NewPoint, PointId, StoreOptions, StoredCollection, VectorError};
pub use super::messages::{
    Near, PointInput, PointSelector, VectorInput, VectorRequest, VectorResponse,
};

impl From<VectorError> for ServiceError {
    fn from(e: VectorError) -> Self {
        match e {
            VectorError::Invalid(_) | VectorError::Exists(_) => Self::InvalidRequest(e.to_string()),
            VectorError::NotFound(_) => Self::NotFound(e.to_string()),
            VectorError::Storage(_) => Self::Internal(e.to_string()),
            VectorError::Corrupt(_) => Self::Unavailable(e.to_string()),
            VectorError::Expired(_) => Self::Timeout(e.to_string()),
            VectorError::Exhausted(_) => Self::Unavailable(e.to_string()),
        }
    }
}

/// The vector service's params, for the Rust builder (same keys as YAML).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VectorParams {
    /// Where collections live; in memory when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// The embedding service that turns texts into vectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed: Option<String>,
    /// Whether a write is fsynced before it is acknowledged (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<bool>,
}

impl swarm_runtime::topology::ServiceParams for VectorParams {
    const TYPE: &'static str = "vector";
}

/// The vector-search service.
pub struct VectorService {
    catalog: Arc<Catalog>,
    embed: Option<Dependency<EmbedService>>,
}

impl VectorService {
    /// A service over a shared catalog; texts go to `embed` when given.
    pub fn new(catalog: Arc<Catalog>, embed: Option<Dependency<EmbedService>>) -> Self {
        Self { catalog, embed }
    }

    /// Embeds `texts` within the request's deadline (one deadline for the whole request).
    async fn embed(
        &self,
        texts: Vec<String>,
        ctx: &RequestContext,
    ) -> Result<Vec<Vec<f32>>, ServiceError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let dependency = self.embed.as_ref().ok_or_else(|| {
            ServiceError::InvalidRequest(
                "`text` needs an embedding service, and this vector service has none (set `params.embed`); send `vector`".into(),
            )
        })?;
        let client = EmbedClient::from_client(dependency.client()?);
        let options = CallOptions {
            timeout: Some(
                ctx.deadline
                    .saturating_duration_since(tokio::time::Instant::now()),
            ),
            traceparent: telemetry::traceparent_of(&tracing::Span::current()),
            unsampled: !ctx.sampled,
            ..CallOptions::default()
        };
        Ok(client.embed(texts, options).await?.embeddings)
    }

    /// Points with every text replaced by its embedding.
    async fn resolve(
        &self,
        mut points: Vec<PointInput>,
        ctx: &RequestContext,
    ) -> Result<Vec<NewPoint>, ServiceError> {
        // Texts are moved out (not copied); their places are filled in order below.
        let texts: Vec<String> = points
            .iter_mut()
            .filter_map(|p| match &mut p.vector {
                VectorInput::Text(t) => Some(std::mem::take(t)),
                VectorInput::Vector(_) => None,
            })
            .collect();
        let mut embedded = self.embed(texts, ctx).await?.into_iter();
        Ok(points
            .into_iter()
            .map(|p| NewPoint {
                id: p.id,
                vector: match p.vector {
                    VectorInput::Vector(v) => v,
                    VectorInput::Text(_) => embedded.next().unwrap_or_default(),
                },
                payload: p.payload,
            })
            .collect())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VectorError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Internal(format!("vector task failed: {e}")))?
        .map_err(ServiceError::from)
}

/// Passes a write's point of no return (see [`Commitment`]): from here it is applied and
/// answered, however long that takes; a write that cannot commit in time is not applied.
fn committed(commitment: &Commitment) -> Result<(), VectorError> {
    commitment.commit().map_err(|_| {
        VectorError::Expired(
            "the deadline passed before the write started; it was not applied".into(),
        )
    })
}

/// Runs `write` on the points `selector` names, under the collection's write lock, once
/// the request has committed; answers how many points it changed.
async fn write_selected(
    c: SharedCollection,
    commitment: Commitment,
    selector: PointSelector,
    write: impl FnOnce(&mut StoredCollection, Vec<PointId>) -> Result<usize, VectorError>
    + Send
    + 'static,
) -> Result<VectorResponse, ServiceError> {
    blocking(move || {
        let mut guard = c.write();
        committed(&commitment)?;
        let ids = match selector {
            PointSelector::Ids(ids) => ids,
            PointSelector::Filter(f) => guard.collection().ids_matching(&f),
        };
        write(&mut guard, ids).map(VectorResponse::Changed)
    })
    .await
}

fn read<T>(c: &SharedCollection, f: impl FnOnce(&super::core::Collection) -> T) -> T {
    f(c.read().collection())
}

impl Service for VectorService {
    type Request = VectorRequest;
    type Response = VectorResponse;

    async fn handle(
        &mut self,
        req: VectorRequest,
        ctx: &RequestContext,
    ) -> Result<VectorResponse, ServiceError> {
        let catalog = self.catalog.clone();
        match req {
            // The catalog's map is only ever locked for a lookup. A collection's lock can be
            // held by a write (a compaction runs inside one), so everything that takes it,
            // reads included, runs on the blocking pool.
            VectorRequest::List => Ok(VectorResponse::Names(catalog.names())),
            VectorRequest::Create { name, config } => {
                let commitment = ctx.commitment.clone();
                blocking(move || {
                    committed(&commitment)?;
                    catalog.create(&name, config).map(VectorResponse::Info)
                })
                .await
            }
            VectorRequest::Drop { name } => {
                let commitment = ctx.commitment.clone();
                blocking(move || {
                    committed(&commitment)?;
                    catalog
                        .drop_collection(&name)
                        .map(|_| VectorResponse::Dropped)
                })
                .await
            }
            VectorRequest::Info { name } => {
                let c = catalog.get(&name)?;
                blocking(move || Ok(VectorResponse::Info(read(&c, |c| c.info())))).await
            }
            VectorRequest::Get { name, id } => {
                let c = catalog.get(&name)?;
                let point = blocking(move || Ok(read(&c, |c| c.get(&id)))).await?;
                point
                    .map(VectorResponse::Point)
                    .ok_or_else(|| ServiceError::NotFound(format!("no point {id} in `{name}`")))
            }
            VectorRequest::Retrieve { name, ids } => {
                let c = catalog.get(&name)?;
                let found = blocking(move || {
                    Ok(read(&c, |c| {
                        ids.iter().filter_map(|id| c.get(id)).collect()
                    }))
                })
                .await?;
                Ok(VectorResponse::Points(found))
            }
            VectorRequest::Count { name, filter } => {
                let c = catalog.get(&name)?;
                blocking(move || {
                    Ok(VectorResponse::Count(read(&c, |c| {
                        c.count(filter.as_ref())
                    })))
                })
                .await
            }
            VectorRequest::Search {
                name,
                mut query,
                text,
            } => {
                let c = catalog.get(&name)?;
                if let Some(text) = text {
                    query.vector = self.embed(vec![text], ctx).await?.pop().unwrap_or_default();
                }
                blocking(move || read(&c, |c| c.search(&query)).map(VectorResponse::Hits)).await
            }
            VectorRequest::SearchBatch { name, mut searches } => {
                let c = catalog.get(&name)?;
                let texts: Vec<String> = searches
                    .iter_mut()
                    .filter_map(|(_, near)| match near {
                        Near::Text(t) => Some(std::mem::take(t)),
                        _ => None,
                    })
                    .collect();
                let mut embedded = self.embed(texts, ctx).await?.into_iter();
                for (query, near) in &mut searches {
                    if matches!(near, Near::Text(_)) {
                        query.vector = embedded.next().unwrap_or_default();
                    }
                }
                blocking(move || {
                    read(&c, |c| {
                        searches
                            .iter()
                            .map(|(query, near)| match near {
                                Near::Point(id) => c.search_by_point(id, query),
                                Near::Vector | Near::Text(_) => c.search(query),
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map(VectorResponse::HitLists)
                })
                .await
            }
            VectorRequest::Scroll { name, query } => {
                let c = catalog.get(&name)?;
                blocking(move || Ok(VectorResponse::Page(read(&c, |c| c.scroll(&query))))).await
            }
            VectorRequest::ChangePayload {
                name,
                selector,
                change,
            } => {
                let c = catalog.get(&name)?;
                write_selected(c, ctx.commitment.clone(), selector, move |store, ids| {
                    store.change_payload(&ids, &change)
                })
                .await
            }
            VectorRequest::Upsert { name, points } => {
                let c = catalog.get(&name)?;
                let points = self.resolve(points, ctx).await?;
                let commitment = ctx.commitment.clone();
                blocking(move || {
                    let mut guard = c.write();
                    committed(&commitment)?;
                    guard.upsert(points).map(VectorResponse::Changed)
                })
                .await
            }
            VectorRequest::Delete { name, selector } => {
                let c = catalog.get(&name)?;
                write_selected(c, ctx.commitment.clone(), selector, |store, ids| {
                    store.delete(ids)
                })
                .await
            }
        }
    }
}

/// Registers service type `vector` (params: `data_dir` — omit for in-memory collections —
/// `sync`, `snapshot_after`, and `embed`, the embedding service that turns texts into
/// vectors) with its routes; reachable from other nodes (see [`super::wire`]). Collections
/// load when the pool starts.
pub fn register(registry: &mut Registry) {
    let mut registration =
        registry.service::<VectorService, _>("vector", |params: &Section<'_>| {
            let dir: Option<PathBuf> = params.value("data_dir");
            let embed = params.dependency::<EmbedService>("embed");
            let defaults = StoreOptions::default();
            let options = StoreOptions {
                sync: params.or("sync", defaults.sync),
                snapshot_after_bytes: params
                    .or("snapshot_after", ByteSize(defaults.snapshot_after_bytes))
                    .0,
            };
            let shared: Arc<Mutex<Option<Arc<Catalog>>>> = Arc::new(Mutex::new(None));
            let probed = shared.clone();
            params.health_probe(Arc::new(move || {
                // Held only while the catalog opens at start: nothing to report yet.
                let Some(slot) = probed.try_lock() else {
                    return Ok(());
                };
                let broken = slot.as_ref().map(|c| c.broken()).unwrap_or_default();
                if broken.is_empty() {
                    return Ok(());
                }
                let names: Vec<String> = broken
                    .into_iter()
                    .map(|(n, why)| format!("`{n}` ({why})"))
                    .collect();
                Err(format!("collections not served: {}", names.join(", ")))
            }));
            Some(Arc::new(move || {
                let mut slot = shared.lock();
                if let Some(c) = slot.as_ref() {
                    return Ok(VectorService::new(c.clone(), embed.clone()));
                }
                let catalog = Arc::new(
                    Catalog::open(dir.clone(), options)
                        .map_err(|e| ServiceError::Internal(e.to_string()))?,
                );
                *slot = Some(catalog.clone());
                Ok(VectorService::new(catalog, embed.clone()))
            }))
        });
    registration
        .expose(crate::http::HttpApi::new(super::routes::routes))
        .remote();
}
