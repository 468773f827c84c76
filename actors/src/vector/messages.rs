//! The vector service's typed messages: what the client asks and what it is answered.

use super::core::{
    CollectionConfig, CollectionInfo, Filter, PayloadChange, PointId, Record, ScoredPoint,
    ScrollPage, ScrollQuery, SearchQuery,
};

/// Which points a deletion names.
#[derive(Debug, Clone)]
pub enum PointSelector {
    /// These ids.
    Ids(Vec<PointId>),
    /// Every point passing the filter.
    Filter(Filter),
}

/// What a search's vector comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Near {
    /// The query's own vector.
    Vector,
    /// A text, embedded by the service's `embed` dependency in the same request.
    Text(String),
    /// An existing point's vector; that point is left out of the hits.
    Point(PointId),
}

/// A point's vector, or a text for the embedding service to turn into one.
#[derive(Debug, Clone)]
pub enum VectorInput {
    /// The vector itself.
    Vector(Vec<f32>),
    /// A text, embedded by the service's `embed` dependency in the same request.
    Text(String),
}

/// A point to write.
#[derive(Debug, Clone)]
pub struct PointInput {
    /// Its id.
    pub id: PointId,
    /// Its vector or text.
    pub vector: VectorInput,
    /// Its payload (a JSON object, or null).
    pub payload: serde_json::Value,
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
        /// The points, with vectors or texts.
        points: Vec<PointInput>,
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
        /// The search (its vector is filled from `text` when given).
        query: Box<SearchQuery>,
        /// A text to search by instead of the query's vector.
        text: Option<String>,
    },
    /// One point.
    Get {
        /// The collection.
        name: String,
        /// The point's id.
        id: PointId,
    },
    /// The points with these ids that exist, in the order asked (Qdrant's `retrieve`).
    Retrieve {
        /// The collection.
        name: String,
        /// The ids.
        ids: Vec<PointId>,
    },
    /// Several searches under one read of the collection, texts embedded in one call.
    SearchBatch {
        /// The collection.
        name: String,
        /// Each search, with what its vector comes from.
        searches: Vec<(SearchQuery, Near)>,
    },
    /// A page of points in id order (Qdrant's `scroll`).
    Scroll {
        /// The collection.
        name: String,
        /// Which page.
        query: ScrollQuery,
    },
    /// Change payloads (set, overwrite, delete keys, clear).
    ChangePayload {
        /// The collection.
        name: String,
        /// Which points (every listed id must exist).
        selector: PointSelector,
        /// The change.
        change: PayloadChange,
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
    /// The hits of each search of a batch, in order.
    HitLists(Vec<Vec<ScoredPoint>>),
    /// A page of a scroll.
    Page(ScrollPage),
    /// One point.
    Point(Record),
    /// Points found by id.
    Points(Vec<Record>),
    /// A count.
    Count(usize),
    /// A collection was deleted.
    Dropped,
}
