//! Search bodies: Qdrant's universal `points/query`, the older `points/search`, and the
//! batch forms of both, each parsed into a [`SearchQuery`] plus what its vector comes from.

use serde::Deserialize;
use serde_json::Value;

use super::MAX_LIMIT;
use super::select::{PayloadSelector, check_using, vector_input, with_vector};
use crate::vector::core::{Filter, PointId, SearchQuery};
use crate::vector::service::{Near, VectorInput};

/// Most searches in one batch.
pub const MAX_BATCH: usize = 1_000;

/// Qdrant's search `params`. `quantization`, `indexed_only` and `acorn` are accepted and
/// change nothing: the swarm keeps full-precision vectors, all of them in the graph.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    hnsw_ef: Option<usize>,
    #[serde(default)]
    exact: Option<bool>,
    #[serde(default)]
    #[allow(dead_code)]
    quantization: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    indexed_only: Option<bool>,
    #[serde(default)]
    #[allow(dead_code)]
    acorn: Option<Value>,
}

/// One parsed search.
#[derive(Debug)]
pub struct ParsedSearch {
    /// The search (its vector empty unless `near` is [`Near::Vector`]).
    pub query: SearchQuery,
    /// What the vector comes from.
    pub near: Near,
    /// Which payload keys the hits carry.
    pub payload: PayloadSelector,
}

/// The options both search bodies share (read flattened into each).
#[derive(Debug, Default, Deserialize)]
pub struct SearchOptions {
    limit: Option<usize>,
    offset: Option<usize>,
    filter: Option<Value>,
    score_threshold: Option<f32>,
    with_payload: Option<Value>,
    with_vector: Option<Value>,
    params: Option<SearchParams>,
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

impl SearchOptions {
    fn search(&self, near: Near, vector: Vec<f32>) -> Result<ParsedSearch, String> {
        let limit = self.limit.unwrap_or(10);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(format!("`limit` must be between 1 and {MAX_LIMIT}"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_LIMIT {
            return Err(format!("`offset` must be at most {MAX_LIMIT}"));
        }
        if self.score_threshold.is_some_and(|t| !t.is_finite()) {
            return Err("`score_threshold` must be a finite number".into());
        }
        let params = self.params.as_ref();
        let ef = params.and_then(|p| p.hnsw_ef);
        if ef.is_some_and(|ef| !(1..=4_096).contains(&ef)) {
            return Err("`params.hnsw_ef` must be between 1 and 4096".into());
        }
        let payload = PayloadSelector::parse(self.with_payload.as_ref(), PayloadSelector::None)?;
        let query = SearchQuery {
            vector,
            limit,
            offset,
            filter: self.filter.as_ref().map(Filter::parse).transpose()?,
            score_threshold: self.score_threshold,
            ef,
            exact: params.and_then(|p| p.exact).unwrap_or(false),
            with_payload: payload.wanted(),
            with_vector: with_vector(self.with_vector.as_ref())?,
        };
        Ok(ParsedSearch {
            query,
            near,
            payload,
        })
    }
}

fn near_of(input: VectorInput) -> (Near, Vec<f32>) {
    match input {
        VectorInput::Vector(v) => (Near::Vector, v),
        VectorInput::Text(t) => (Near::Text(t), Vec::new()),
    }
}

/// `POST /v1/collections/{name}/points/search` (Qdrant's older search API).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    vector: Option<Value>,
    /// The swarm's addition: a text to embed instead of `vector`.
    text: Option<String>,
    #[serde(flatten)]
    options: SearchOptions,
}

impl SearchBody {
    /// The search.
    pub fn parse(&self) -> Result<ParsedSearch, String> {
        let (near, vector) = match (&self.vector, &self.text) {
            (Some(v), None) => {
                // The older API names a vector as `{"name", "vector"}`.
                let v = match v.get("vector") {
                    Some(inner) => {
                        check_using(v.get("name").and_then(Value::as_str))?;
                        inner
                    }
                    None => v,
                };
                near_of(vector_input(v, "vector")?)
            }
            (None, Some(t)) => (Near::Text(t.clone()), Vec::new()),
            _ => return Err("give exactly one of `vector` and `text`".into()),
        };
        self.options.search(near, vector)
    }
}

/// `POST /v1/collections/{name}/points/query` (Qdrant's universal query API): `query`
/// is a vector, `{"nearest": …}`, a point id (its vector; the point itself is left out)
/// or a `Document` to embed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    query: Option<Value>,
    /// The swarm's addition: a text to embed instead of `query`.
    text: Option<String>,
    using: Option<String>,
    prefetch: Option<Value>,
    lookup_from: Option<Value>,
    #[serde(flatten)]
    options: SearchOptions,
}

impl QueryBody {
    /// The search.
    pub fn parse(&self) -> Result<ParsedSearch, String> {
        check_using(self.using.as_deref())?;
        for (given, what) in [
            (&self.prefetch, "prefetch"),
            (&self.lookup_from, "lookup_from"),
        ] {
            if given.as_ref().is_some_and(|v| !v.is_null()) {
                return Err(format!("`{what}` is not supported by the swarm"));
            }
        }
        let (near, vector) = match (&self.query, &self.text) {
            (Some(q), None) => query_target(q, "query")?,
            (None, Some(t)) => (Near::Text(t.clone()), Vec::new()),
            (None, None) => {
                return Err(
                    "`query` is required (to read points in id order, use points/scroll)".into(),
                );
            }
            (Some(_), Some(_)) => return Err("give one of `query` and `text`".into()),
        };
        self.options.search(near, vector)
    }
}

/// What a `query` is near.
fn query_target(q: &Value, at: &str) -> Result<(Near, Vec<f32>), String> {
    match q {
        Value::Number(_) | Value::String(_) => {
            let id = PointId::from_json(q).map_err(|e| format!("{at}: {e}"))?;
            Ok((Near::Point(id), Vec::new()))
        }
        Value::Object(o) if o.contains_key("nearest") => {
            query_target(&o["nearest"], &format!("{at}.nearest"))
        }
        Value::Object(o) if !o.contains_key("text") && !o.contains_key("") => {
            let kind = o.keys().next().map(String::as_str).unwrap_or("{}");
            Err(format!(
                "{at}: `{kind}` queries are not supported by the swarm (a vector, `nearest`, a point id or a document)"
            ))
        }
        _ => Ok(near_of(vector_input(q, at)?)),
    }
}

/// `{"searches": […]}`: the batch form of either body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody<T> {
    searches: Vec<T>,
}

impl<T> BatchBody<T> {
    /// Each search parsed by `parse`, errors naming the search's index.
    pub fn parse(
        &self,
        parse: impl Fn(&T) -> Result<ParsedSearch, String>,
    ) -> Result<Vec<ParsedSearch>, String> {
        if self.searches.len() > MAX_BATCH {
            return Err(format!("at most {MAX_BATCH} searches in one batch"));
        }
        self.searches
            .iter()
            .enumerate()
            .map(|(i, s)| parse(s).map_err(|e| format!("searches[{i}]: {e}")))
            .collect()
    }
}
