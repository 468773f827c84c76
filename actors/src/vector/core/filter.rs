//! Payload filters in Qdrant's shape: `must`, `should`, `must_not` and `min_should` over
//! `match`, `range`, `values_count`, `is_empty`, `is_null`, `has_id`, `has_vector`,
//! `nested` and nested filters, parsed once (see [`super::filter_parse`]) into a tree that
//! is evaluated per candidate during the graph search.

use std::collections::HashSet;

use serde_json::Value;

use super::PointId;

pub use super::filter_parse::{
    MAX_CONDITIONS, MAX_DEPTH, MAX_HAS_ID, MAX_KEY_BYTES, MAX_KEY_PARTS,
};

/// A parsed filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Every condition must hold.
    pub must: Vec<Condition>,
    /// At least one must hold (when any are given).
    pub should: Vec<Condition>,
    /// None may hold.
    pub must_not: Vec<Condition>,
    /// At least `min_count` of these must hold (Qdrant's `min_should`).
    pub min_should: Option<MinShould>,
}

/// At least `min_count` of `conditions`.
#[derive(Debug, Clone, PartialEq)]
pub struct MinShould {
    /// The conditions.
    pub conditions: Vec<Condition>,
    /// How many must hold.
    pub min_count: usize,
}

/// One condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The value at `key` (or any element of an array there) equals one of `any`.
    Match {
        /// Dotted payload path.
        key: String,
        /// Accepted values (one for `{"value": v}`).
        any: Vec<Value>,
    },
    /// The value at `key` exists and equals none of `except`.
    Except {
        /// Dotted payload path.
        key: String,
        /// Refused values.
        except: Vec<Value>,
    },
    /// A string at `key` (or in an array there) contains `text` (Qdrant's `match.text`
    /// on a field without a full-text index: a substring match).
    Text {
        /// Dotted payload path.
        key: String,
        /// The substring.
        text: String,
    },
    /// The number at `key` (or any number in an array there) lies in the range.
    Range {
        /// Dotted payload path.
        key: String,
        /// The bounds.
        range: Range,
    },
    /// The number of values at `key` (an array's length, 1 for a scalar) lies in the range.
    ValuesCount {
        /// Dotted payload path.
        key: String,
        /// The bounds.
        range: Range,
    },
    /// The point's id is one of these (a set: one lookup per point, however many).
    HasId(HashSet<PointId>),
    /// Whether the point has the named vector (only the unnamed one, `""`, exists).
    HasVector(bool),
    /// `key` is missing, null or an empty array.
    IsEmpty(String),
    /// `key` exists and is null.
    IsNull(String),
    /// Some object in the array at `key` passes `filter` on its own (Qdrant's `nested`).
    NestedArray {
        /// Dotted payload path of the array.
        key: String,
        /// The filter each element is tried against, keys relative to the element.
        filter: Box<Filter>,
    },
    /// A nested filter.
    Nested(Box<Filter>),
}

/// Numeric bounds; each one optional.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Range {
    /// Strictly greater than.
    pub gt: Option<f64>,
    /// Greater than or equal.
    pub gte: Option<f64>,
    /// Strictly less than.
    pub lt: Option<f64>,
    /// Less than or equal.
    pub lte: Option<f64>,
}

impl Range {
    fn contains(&self, x: f64) -> bool {
        self.gt.is_none_or(|b| x > b)
            && self.gte.is_none_or(|b| x >= b)
            && self.lt.is_none_or(|b| x < b)
            && self.lte.is_none_or(|b| x <= b)
    }
}

impl Filter {
    /// Parses a filter, naming the offending path on error (`filter.must[1].range.gt: …`);
    /// a condition the swarm does not support is named as such.
    pub fn parse(v: &Value) -> Result<Self, String> {
        super::filter_parse::parse(v)
    }

    /// Whether a point with `id` and `payload` passes.
    pub fn matches(&self, id: &PointId, payload: &Value) -> bool {
        self.must.iter().all(|c| c.matches(id, payload))
            && (self.should.is_empty() || self.should.iter().any(|c| c.matches(id, payload)))
            && !self.must_not.iter().any(|c| c.matches(id, payload))
            && self.min_should.as_ref().is_none_or(|m| {
                m.conditions
                    .iter()
                    .filter(|c| c.matches(id, payload))
                    .take(m.min_count)
                    .count()
                    >= m.min_count
            })
    }
}

impl Condition {
    fn matches(&self, id: &PointId, payload: &Value) -> bool {
        match self {
            Self::Match { key, any } => {
                values_at(payload, key).any(|v| any.iter().any(|a| same(a, v)))
            }
            Self::Except { key, except } => {
                let mut found = values_at(payload, key).peekable();
                found.peek().is_some() && found.all(|v| !except.iter().any(|e| same(e, v)))
            }
            Self::Text { key, text } => values_at(payload, key)
                .any(|v| v.as_str().is_some_and(|s| s.contains(text.as_str()))),
            Self::Range { key, range } => {
                values_at(payload, key).any(|v| v.as_f64().is_some_and(|x| range.contains(x)))
            }
            Self::ValuesCount { key, range } => {
                let n: usize = raw_values_at(payload, key)
                    .iter()
                    .map(|v| match v {
                        Value::Array(items) => items.len(),
                        Value::Null => 0,
                        _ => 1,
                    })
                    .sum();
                range.contains(n as f64)
            }
            Self::HasId(ids) => ids.contains(id),
            Self::HasVector(present) => *present,
            Self::IsEmpty(key) => values_at(payload, key).all(Value::is_null),
            Self::IsNull(key) => raw_values_at(payload, key).iter().any(|v| v.is_null()),
            Self::NestedArray { key, filter } => {
                values_at(payload, key).any(|element| filter.matches(id, element))
            }
            Self::Nested(f) => f.matches(id, payload),
        }
    }
}

/// Numbers compare by value (1 matches 1.0); everything else by JSON equality.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The values at a dotted path (`a[]` is read as `a`); arrays along the way are walked
/// into, the value at the end is returned as it is.
fn raw_values_at<'a>(payload: &'a Value, key: &str) -> Vec<&'a Value> {
    let mut current: Vec<&'a Value> = vec![payload];
    for part in key.split('.') {
        let part = part.strip_suffix("[]").unwrap_or(part);
        let mut next = Vec::new();
        for v in current {
            match v {
                Value::Object(map) => next.extend(map.get(part)),
                Value::Array(items) => next.extend(
                    items
                        .iter()
                        .filter_map(|i| i.as_object().and_then(|m| m.get(part))),
                ),
                _ => {}
            }
        }
        current = next;
    }
    current
}

/// The values at a dotted path, arrays at the end flattened into their elements.
fn values_at<'a>(payload: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> + 'a {
    raw_values_at(payload, key)
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
}
