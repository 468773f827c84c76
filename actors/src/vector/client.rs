//! The vector service's typed client, for routes and Rust apps alike. Points and queries
//! may carry texts: the service embeds them through its `embed` dependency.

use swarm_runtime::{CallOptions, Client, SwarmError};

use super::core::{
    CollectionConfig, CollectionInfo, Filter, PayloadChange, PointId, Record, ScoredPoint,
    ScrollPage, ScrollQuery, SearchQuery,
};
use super::service::{
    Near, PointInput, PointSelector, VectorRequest, VectorResponse, VectorService,
};
use crate::http::ServiceClient;

/// Collections and points on the swarm's `vector` service.
#[derive(Clone)]
pub struct VectorClient(Client<VectorService>);

impl ServiceClient for VectorClient {
    type Service = VectorService;

    fn from_client(client: Client<VectorService>) -> Self {
        Self(client)
    }
}

fn out_of_shape() -> SwarmError {
    SwarmError::Internal("vector service answered out of shape".into())
}

impl VectorClient {
    async fn call(
        &self,
        request: VectorRequest,
        options: CallOptions,
    ) -> Result<VectorResponse, SwarmError> {
        self.0.call_with(request, options).await
    }

    /// Every collection's name.
    pub async fn list(&self, options: CallOptions) -> Result<Vec<String>, SwarmError> {
        match self.call(VectorRequest::List, options).await? {
            VectorResponse::Names(n) => Ok(n),
            _ => Err(out_of_shape()),
        }
    }

    /// Creates collection `name`.
    pub async fn create(
        &self,
        name: String,
        config: CollectionConfig,
        options: CallOptions,
    ) -> Result<CollectionInfo, SwarmError> {
        match self
            .call(VectorRequest::Create { name, config }, options)
            .await?
        {
            VectorResponse::Info(i) => Ok(i),
            _ => Err(out_of_shape()),
        }
    }

    /// Deletes collection `name` with its files.
    pub async fn drop_collection(
        &self,
        name: String,
        options: CallOptions,
    ) -> Result<(), SwarmError> {
        self.call(VectorRequest::Drop { name }, options)
            .await
            .map(drop)
    }

    /// Collection `name`'s sizes and settings.
    pub async fn info(
        &self,
        name: String,
        options: CallOptions,
    ) -> Result<CollectionInfo, SwarmError> {
        match self.call(VectorRequest::Info { name }, options).await? {
            VectorResponse::Info(i) => Ok(i),
            _ => Err(out_of_shape()),
        }
    }

    /// Writes `points` (texts are embedded first); how many were written.
    pub async fn upsert(
        &self,
        name: String,
        points: Vec<PointInput>,
        options: CallOptions,
    ) -> Result<usize, SwarmError> {
        match self
            .call(VectorRequest::Upsert { name, points }, options)
            .await?
        {
            VectorResponse::Changed(n) => Ok(n),
            _ => Err(out_of_shape()),
        }
    }

    /// The nearest points to `query`'s vector, or to `text` when given (embedded first).
    pub async fn search(
        &self,
        name: String,
        query: SearchQuery,
        text: Option<String>,
        options: CallOptions,
    ) -> Result<Vec<ScoredPoint>, SwarmError> {
        let request = VectorRequest::Search {
            name,
            query: Box::new(query),
            text,
        };
        match self.call(request, options).await? {
            VectorResponse::Hits(h) => Ok(h),
            _ => Err(out_of_shape()),
        }
    }

    /// Deletes the selected points; how many were deleted.
    pub async fn delete(
        &self,
        name: String,
        selector: PointSelector,
        options: CallOptions,
    ) -> Result<usize, SwarmError> {
        match self
            .call(VectorRequest::Delete { name, selector }, options)
            .await?
        {
            VectorResponse::Changed(n) => Ok(n),
            _ => Err(out_of_shape()),
        }
    }

    /// How many points pass `filter` (all when `None`).
    pub async fn count(
        &self,
        name: String,
        filter: Option<Filter>,
        options: CallOptions,
    ) -> Result<usize, SwarmError> {
        match self
            .call(VectorRequest::Count { name, filter }, options)
            .await?
        {
            VectorResponse::Count(n) => Ok(n),
            _ => Err(out_of_shape()),
        }
    }

    /// One point with its payload and vector.
    pub async fn get(
        &self,
        name: String,
        id: PointId,
        options: CallOptions,
    ) -> Result<Record, SwarmError> {
        match self.call(VectorRequest::Get { name, id }, options).await? {
            VectorResponse::Point(p) => Ok(p),
            _ => Err(out_of_shape()),
        }
    }

    /// The points with these ids that exist, in the order asked.
    pub async fn retrieve(
        &self,
        name: String,
        ids: Vec<PointId>,
        options: CallOptions,
    ) -> Result<Vec<Record>, SwarmError> {
        match self
            .call(VectorRequest::Retrieve { name, ids }, options)
            .await?
        {
            VectorResponse::Points(p) => Ok(p),
            _ => Err(out_of_shape()),
        }
    }

    /// Several searches under one read of the collection (texts embedded in one call);
    /// the hits of each, in order.
    pub async fn search_batch(
        &self,
        name: String,
        searches: Vec<(SearchQuery, Near)>,
        options: CallOptions,
    ) -> Result<Vec<Vec<ScoredPoint>>, SwarmError> {
        match self
            .call(VectorRequest::SearchBatch { name, searches }, options)
            .await?
        {
            VectorResponse::HitLists(h) => Ok(h),
            _ => Err(out_of_shape()),
        }
    }

    /// A page of points in id order, and where the next page starts.
    pub async fn scroll(
        &self,
        name: String,
        query: ScrollQuery,
        options: CallOptions,
    ) -> Result<ScrollPage, SwarmError> {
        match self
            .call(VectorRequest::Scroll { name, query }, options)
            .await?
        {
            VectorResponse::Page(p) => Ok(p),
            _ => Err(out_of_shape()),
        }
    }

    /// Changes the selected points' payloads; how many changed. Every listed id must
    /// exist, or nothing changes.
    pub async fn change_payload(
        &self,
        name: String,
        selector: PointSelector,
        change: PayloadChange,
        options: CallOptions,
    ) -> Result<usize, SwarmError> {
        let request = VectorRequest::ChangePayload {
            name,
            selector,
            change,
        };
        match self.call(request, options).await? {
            VectorResponse::Changed(n) => Ok(n),
            _ => Err(out_of_shape()),
        }
    }
}
