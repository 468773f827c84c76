//! Point bodies: upsert (a list of points or Qdrant's column `batch`), retrieve, scroll,
//! count, delete, the four payload updates, and payload-index requests.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::select::{PayloadSelector, vector_input, with_vector};
use crate::vector::core::{Filter, PayloadChange, PointId, ScrollQuery};
use crate::vector::service::{PointInput, PointSelector, VectorInput};

/// Most ids in one retrieve, and most points in one scroll page.
pub const MAX_RETRIEVE: usize = 10_000;

fn ids_of(values: &[Value], at: &str) -> Result<Vec<PointId>, String> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| PointId::from_json(v).map_err(|e| format!("{at}[{i}]: {e}")))
        .collect()
}

/// Refuses a Qdrant option the swarm does not implement when it is set.
fn unsupported(given: &Option<Value>, what: &str) -> Result<(), String> {
    match given {
        Some(v) if !v.is_null() => Err(format!("`{what}` is not supported by the swarm")),
        _ => Ok(()),
    }
}

/// One point in an upsert body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointBody {
    id: Value,
    vector: Option<Value>,
    /// The swarm's addition: a text to embed instead of `vector`.
    text: Option<String>,
    #[serde(default)]
    payload: Value,
}

/// Qdrant's column form: ids, vectors and payloads side by side.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchColumns {
    ids: Vec<Value>,
    vectors: Value,
    payloads: Option<Vec<Value>>,
}

/// `PUT /v1/collections/{name}/points`: `{"points": […]}` or `{"batch": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertBody {
    points: Option<Vec<PointBody>>,
    batch: Option<BatchColumns>,
    update_filter: Option<Value>,
    /// `upsert` (the default) only.
    update_mode: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

impl UpsertBody {
    /// The points, each with its vector or its text.
    pub fn into_points(self) -> Result<Vec<PointInput>, String> {
        unsupported(&self.update_filter, "update_filter")?;
        if let Some(mode) = self.update_mode.as_deref().filter(|m| *m != "upsert") {
            return Err(format!(
                "`update_mode: {mode}` is not supported by the swarm (upsert only)"
            ));
        }
        let points = match (self.points, self.batch) {
            (Some(points), None) => points,
            (None, Some(batch)) => columns(batch)?,
            _ => return Err("give exactly one of `points` and `batch`".into()),
        };
        if points.is_empty() {
            return Err("`points` must not be empty".into());
        }
        points
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let id = PointId::from_json(&p.id).map_err(|e| format!("points[{i}].id: {e}"))?;
                let vector = match (p.vector, p.text) {
                    (Some(v), None) => vector_input(&v, &format!("points[{i}].vector"))?,
                    (None, Some(t)) => VectorInput::Text(t),
                    _ => {
                        return Err(format!(
                            "points[{i}]: give exactly one of `vector` and `text`"
                        ));
                    }
                };
                Ok(PointInput {
                    id,
                    vector,
                    payload: p.payload,
                })
            })
            .collect()
    }
}

/// The column form as points.
fn columns(batch: BatchColumns) -> Result<Vec<PointBody>, String> {
    let n = batch.ids.len();
    // Vectors come as a list, or as `{"": list}` for the unnamed vector.
    let vectors = match batch.vectors {
        Value::Array(list) => list,
        Value::Object(mut o) if o.len() == 1 && o.contains_key("") => match o.remove("") {
            Some(Value::Array(list)) => list,
            _ => return Err("batch.vectors[\"\"]: expected a list of vectors".into()),
        },
        _ => {
            return Err(
                "batch.vectors: expected a list of vectors (named vectors are not supported)"
                    .into(),
            );
        }
    };
    let payloads = batch.payloads.unwrap_or_else(|| vec![Value::Null; n]);
    if vectors.len() != n || payloads.len() != n {
        return Err(format!(
            "batch: {n} ids, {} vectors and {} payloads; the lengths must agree",
            vectors.len(),
            payloads.len()
        ));
    }
    Ok(batch
        .ids
        .into_iter()
        .zip(vectors)
        .zip(payloads)
        .map(|((id, vector), payload)| PointBody {
            id,
            vector: Some(vector),
            text: None,
            payload,
        })
        .collect())
}

/// A points selector: `{"points": [ids]}` or `{"filter": {…}}` (delete, clear payload).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectorBody {
    points: Option<Vec<Value>>,
    filter: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

/// `POST /v1/collections/{name}/points/delete`.
pub type DeleteBody = SelectorBody;

impl SelectorBody {
    /// Which points.
    pub fn into_selector(self) -> Result<PointSelector, String> {
        selector(self.points, self.filter)
    }
}

fn selector(points: Option<Vec<Value>>, filter: Option<Value>) -> Result<PointSelector, String> {
    match (points, filter.filter(|f| !f.is_null())) {
        (Some(ids), None) => ids_of(&ids, "points").map(PointSelector::Ids),
        (None, Some(f)) => Filter::parse(&f).map(PointSelector::Filter),
        _ => Err("give exactly one of `points` and `filter`".into()),
    }
}

/// `POST` (set) or `PUT` (overwrite) `/v1/collections/{name}/points/payload`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPayloadBody {
    payload: Map<String, Value>,
    points: Option<Vec<Value>>,
    filter: Option<Value>,
    key: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

impl SetPayloadBody {
    /// Which points, and the change: a merge (`overwrite` false) or a replacement.
    pub fn into_change(self, overwrite: bool) -> Result<(PointSelector, PayloadChange), String> {
        let which = selector(self.points, self.filter)?;
        let change = match (overwrite, self.key) {
            (false, key) => PayloadChange::Set {
                payload: self.payload,
                key: key.filter(|k| !k.is_empty()),
            },
            (true, None) => PayloadChange::Overwrite(self.payload),
            (true, Some(_)) => return Err("`key` is not accepted when overwriting".into()),
        };
        Ok((which, change))
    }
}

/// `POST /v1/collections/{name}/points/payload/delete`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletePayloadBody {
    keys: Vec<String>,
    points: Option<Vec<Value>>,
    filter: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

impl DeletePayloadBody {
    /// Which points, and the keys to remove.
    pub fn into_change(self) -> Result<(PointSelector, PayloadChange), String> {
        Ok((
            selector(self.points, self.filter)?,
            PayloadChange::Delete(self.keys),
        ))
    }
}

/// `POST /v1/collections/{name}/points` (Qdrant's `retrieve`): points by id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrieveBody {
    ids: Vec<Value>,
    with_payload: Option<Value>,
    with_vector: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    consistency: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

impl RetrieveBody {
    /// The ids and what to return (Qdrant's defaults: payload yes, vector no).
    pub fn parse(self) -> Result<(Vec<PointId>, PayloadSelector, bool), String> {
        if self.ids.len() > MAX_RETRIEVE {
            return Err(format!("ids: at most {MAX_RETRIEVE} ids in one request"));
        }
        Ok((
            ids_of(&self.ids, "ids")?,
            PayloadSelector::parse(self.with_payload.as_ref(), PayloadSelector::All)?,
            with_vector(self.with_vector.as_ref())?,
        ))
    }
}

/// `POST /v1/collections/{name}/points/scroll`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrollBody {
    offset: Option<Value>,
    limit: Option<usize>,
    filter: Option<Value>,
    with_payload: Option<Value>,
    with_vector: Option<Value>,
    order_by: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

impl ScrollBody {
    /// The page wanted and what to return (payload yes, vector no, ten points).
    pub fn parse(self) -> Result<(ScrollQuery, PayloadSelector, bool), String> {
        unsupported(&self.order_by, "order_by")?;
        let limit = self.limit.unwrap_or(10);
        if !(1..=MAX_RETRIEVE).contains(&limit) {
            return Err(format!("`limit` must be between 1 and {MAX_RETRIEVE}"));
        }
        let offset = match self.offset {
            None | Some(Value::Null) => None,
            Some(v) => Some(PointId::from_json(&v).map_err(|e| format!("offset: {e}"))?),
        };
        let query = ScrollQuery {
            offset,
            limit,
            filter: self.filter.as_ref().map(Filter::parse).transpose()?,
        };
        Ok((
            query,
            PayloadSelector::parse(self.with_payload.as_ref(), PayloadSelector::All)?,
            with_vector(self.with_vector.as_ref())?,
        ))
    }
}

/// `POST /v1/collections/{name}/points/count`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountBody {
    filter: Option<Value>,
    /// Accepted for Qdrant compatibility; counts here are always exact.
    #[serde(default)]
    #[allow(dead_code)]
    exact: Option<bool>,
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

impl CountBody {
    /// The filter, parsed.
    pub fn into_filter(self) -> Result<Option<Filter>, String> {
        self.filter.as_ref().map(Filter::parse).transpose()
    }
}

/// `PUT /v1/collections/{name}/index`: accepted so that code creating payload indexes
/// runs; the swarm evaluates filters by reading payloads and keeps no payload index.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexBody {
    /// The payload key.
    pub field_name: String,
    #[serde(default)]
    #[allow(dead_code)]
    field_schema: Option<Value>,
}
