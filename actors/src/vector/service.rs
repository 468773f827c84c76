//! The actor shell: every worker shares one [`Catalog`]; searches take a collection's read
//! lock and writes its write lock, both on the blocking pool.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use swarm_runtime::config::{ByteSize, Section};
use swarm_runtime::{Registry, RequestContext, Service, ServiceError};

use super::core::catalog::SharedCollection;
use super::core::{
    Catalog, CollectionConfig, CollectionInfo, Filter, NewPoint, PointId, Record, ScoredPoint,
    SearchQuery, StoreOptions, VectorError,
};

/// Which points a deletion names.
#[derive(Debug, Clone)]
pub enum PointSelector {
    /// These ids.
    Ids(Vec<PointId>),
    /// Every point passing the filter.
    Filter(Filter),
}

/// A request to the vector service.
#[derive(Debug, Clone)]
pub enum VectorRequest {
    /// Create a collection.
    Create {
        /// Its name.
        name: String,
        /// Its settings.
        config: CollectionConfig,
    },
    /// Delete a collection.
    Drop {
        /// Its name.
        name: String,
    },
    /// A collection's sizes and settings.
    Info {
        /// Its name.
        name: String,
    },
    /// Every collection's name.
    List,
    /// Write points.
    Upsert {
        /// The collection.
        name: String,
        /// The points (vectors already resolved from text).
        points: Vec<NewPoint>,
    },
    /// Delete points.
    Delete {
        /// The collection.
        name: String,
        /// Which points.
        selector: PointSelector,
    },
    /// Nearest neighbours.
    Search {
        /// The collection.
        name: String,
        /// The search.
        query: Box<SearchQuery>,
    },
    /// One point.
    Get {
        /// The collection.
        name: String,
        /// The point's id.
        id: PointId,
    },
    /// Count points.
    Count {
        /// The collection.
        name: String,
        /// Only points passing this.
        filter: Option<Filter>,
    },
}

/// The vector service's answers.
#[derive(Debug, Clone)]
pub enum VectorResponse {
    /// A collection's sizes and settings.
    Info(CollectionInfo),
    /// Collection names.
    Names(Vec<String>),
    /// Points written or deleted.
    Changed(usize),
    /// Search hits, best first.
    Hits(Vec<ScoredPoint>),
    /// One point.
    Point(Record),
    /// A count.
    Count(usize),
    /// A collection was deleted.
    Dropped,
}

impl From<VectorError> for ServiceError {
    fn from(e: VectorError) -> Self {
        match e {
            VectorError::Invalid(_) | VectorError::Exists(_) => Self::InvalidRequest(e.to_string()),
            VectorError::NotFound(_) => Self::NotFound(e.to_string()),
            VectorError::Storage(_) => Self::Internal(e.to_string()),
        }
    }
}

/// The vector-search service.
pub struct VectorService {
    catalog: Arc<Catalog>,
}

impl VectorService {
    /// A service over a shared catalog.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self { catalog }
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

fn read<T>(c: &SharedCollection, f: impl FnOnce(&super::core::Collection) -> T) -> T {
    f(c.read().collection())
}

impl Service for VectorService {
    type Request = VectorRequest;
    type Response = VectorResponse;

    async fn handle(
        &mut self,
        req: VectorRequest,
        _ctx: &RequestContext,
    ) -> Result<VectorResponse, ServiceError> {
        let catalog = self.catalog.clone();
        match req {
            VectorRequest::List => Ok(VectorResponse::Names(catalog.names())),
            VectorRequest::Create { name, config } => {
                blocking(move || catalog.create(&name, config).map(VectorResponse::Info)).await
            }
            VectorRequest::Drop { name } => {
                blocking(move || {
                    catalog
                        .drop_collection(&name)
                        .map(|_| VectorResponse::Dropped)
                })
                .await
            }
            VectorRequest::Info { name } => {
                let c = catalog.get(&name)?;
                Ok(VectorResponse::Info(read(&c, |c| c.info())))
            }
            VectorRequest::Get { name, id } => {
                let c = catalog.get(&name)?;
                read(&c, |c| c.get(&id))
                    .map(VectorResponse::Point)
                    .ok_or_else(|| ServiceError::NotFound(format!("no point {id} in `{name}`")))
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
            VectorRequest::Search { name, query } => {
                let c = catalog.get(&name)?;
                blocking(move || read(&c, |c| c.search(&query)).map(VectorResponse::Hits)).await
            }
            VectorRequest::Upsert { name, points } => {
                let c = catalog.get(&name)?;
                blocking(move || c.write().upsert(points).map(VectorResponse::Changed)).await
            }
            VectorRequest::Delete { name, selector } => {
                let c = catalog.get(&name)?;
                blocking(move || {
                    let mut guard = c.write();
                    let ids = match selector {
                        PointSelector::Ids(ids) => ids,
                        PointSelector::Filter(f) => guard.collection().ids_matching(&f),
                    };
                    guard.delete(ids).map(VectorResponse::Changed)
                })
                .await
            }
        }
    }
}

/// Registers service type `vector` (params: `data_dir` — omit for in-memory collections —
/// `sync`, `snapshot_after`). Collections load when the pool starts.
pub fn register(registry: &mut Registry) {
    registry.service::<VectorService, _>("vector", |params: &Section<'_>| {
        let dir: Option<PathBuf> = params.value("data_dir");
        let defaults = StoreOptions::default();
        let options = StoreOptions {
            sync: params.or("sync", defaults.sync),
            snapshot_after_bytes: params
                .or("snapshot_after", ByteSize(defaults.snapshot_after_bytes))
                .0,
        };
        let shared: Arc<Mutex<Option<Arc<Catalog>>>> = Arc::new(Mutex::new(None));
        Some(Arc::new(move || {
            let mut slot = shared.lock();
            if let Some(c) = slot.as_ref() {
                return Ok(VectorService::new(c.clone()));
            }
            let catalog = Arc::new(
                Catalog::open(dir.clone(), options)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
            );
            *slot = Some(catalog.clone());
            Ok(VectorService::new(catalog))
        }))
    });
}
