//! Payload filters in Qdrant's shape: `must`, `should`, `must_not` over `match` and `range`
//! conditions (plus `has_id`, `is_empty` and nested filters), parsed once into a tree that
//! is evaluated per candidate during the graph search.

use std::collections::HashSet;

use serde_json::Value;

use super::PointId;

/// Longest `key`, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Most dotted parts in a `key`.
pub const MAX_KEY_PARTS: usize = 32;
/// Most ids in one `has_id`.
pub const MAX_HAS_ID: usize = 10_000;
/// Most conditions in a filter, nested ones included.
pub const MAX_CONDITIONS: usize = 1_024;
/// Deepest nesting of filters.
pub const MAX_DEPTH: usize = 16;

/// A parsed filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Every condition must hold.
    pub must: Vec<Condition>,
    /// At least one must hold (when any are given).
    pub should: Vec<Condition>,
    /// None may hold.
    pub must_not: Vec<Condition>,
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
    /// The number at `key` (or any number in an array there) lies in the range.
    Range {
        /// Dotted payload path.
        key: String,
        /// The bounds.
        range: Range,
    },
    /// The point's id is one of these (a set: one lookup per point, however many).
    HasId(HashSet<PointId>),
    /// `key` is missing, null or an empty array.
    IsEmpty(String),
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
    /// Parses a filter, naming the offending path on error (`filter.must[1].range.gt: …`).
    pub fn parse(v: &Value) -> Result<Self, String> {
        let mut budget = MAX_CONDITIONS;
        parse_filter(v, "filter", 0, &mut budget)
    }

    /// Whether a point with `id` and `payload` passes.
    pub fn matches(&self, id: &PointId, payload: &Value) -> bool {
        self.must.iter().all(|c| c.matches(id, payload))
            && (self.should.is_empty() || self.should.iter().any(|c| c.matches(id, payload)))
            && !self.must_not.iter().any(|c| c.matches(id, payload))
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
            Self::Range { key, range } => {
                values_at(payload, key).any(|v| v.as_f64().is_some_and(|x| range.contains(x)))
            }
            Self::HasId(ids) => ids.contains(id),
            Self::IsEmpty(key) => values_at(payload, key).all(Value::is_null),
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

/// The values at a dotted path; arrays along the way and at the end are flattened.
fn values_at<'a>(payload: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> + 'a {
    let mut current: Vec<&'a Value> = vec![payload];
    for part in key.split('.') {
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
    current.into_iter().flat_map(|v| match v {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        other => vec![other],
    })
}

fn parse_filter(v: &Value, path: &str, depth: usize, budget: &mut usize) -> Result<Filter, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: filters nest at most {MAX_DEPTH} deep"));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{path}: a filter must be an object"))?;
    let mut filter = Filter::default();
    for (k, conds) in obj {
        let list = match k.as_str() {
            "must" => &mut filter.must,
            "should" => &mut filter.should,
            "must_not" => &mut filter.must_not,
            other => {
                return Err(format!(
                    "{path}: unknown key `{other}` (expected must, should or must_not)"
                ));
            }
        };
        let here = format!("{path}.{k}");
        match conds {
            Value::Array(items) => {
                for (i, c) in items.iter().enumerate() {
                    list.push(parse_condition(c, &format!("{here}[{i}]"), depth, budget)?);
                }
            }
            Value::Object(_) => list.push(parse_condition(conds, &here, depth, budget)?),
            Value::Null => {}
            _ => return Err(format!("{here}: expected a list of conditions")),
        }
    }
    Ok(filter)
}

fn parse_condition(
    v: &Value,
    path: &str,
    depth: usize,
    budget: &mut usize,
) -> Result<Condition, String> {
    *budget = budget
        .checked_sub(1)
        .ok_or_else(|| format!("{path}: a filter holds at most {MAX_CONDITIONS} conditions"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{path}: a condition must be an object"))?;
    if obj.contains_key("must") || obj.contains_key("should") || obj.contains_key("must_not") {
        let nested = parse_filter(v, path, depth + 1, budget)?;
        return Ok(Condition::Nested(Box::new(nested)));
    }
    if let Some(ids) = obj.get("has_id") {
        let ids = ids
            .as_array()
            .ok_or_else(|| format!("{path}.has_id: expected a list of ids"))?;
        if ids.len() > MAX_HAS_ID {
            return Err(format!(
                "{path}.has_id: at most {MAX_HAS_ID} ids, got {}",
                ids.len()
            ));
        }
        let parsed = ids
            .iter()
            .enumerate()
            .map(|(i, id)| PointId::from_json(id).map_err(|e| format!("{path}.has_id[{i}]: {e}")))
            .collect::<Result<_, _>>()?;
        return Ok(Condition::HasId(parsed));
    }
    if let Some(e) = obj.get("is_empty").or_else(|| obj.get("is_null")) {
        let key = e
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{path}.is_empty: expected {{\"key\": \"…\"}}"))?;
        return Ok(Condition::IsEmpty(checked_key(
            key,
            &format!("{path}.is_empty.key"),
        )?));
    }
    let key = obj
        .get("key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| format!("{path}: a condition needs a non-empty string `key`"))?;
    let key = checked_key(key, &format!("{path}.key"))?;
    if let Some(m) = obj.get("match") {
        return parse_match(key, m, &format!("{path}.match"));
    }
    if let Some(r) = obj.get("range") {
        return Ok(Condition::Range {
            key,
            range: parse_range(r, &format!("{path}.range"))?,
        });
    }
    Err(format!(
        "{path}: a condition with `key` needs `match` or `range`"
    ))
}

/// A key within [`MAX_KEY_BYTES`] and [`MAX_KEY_PARTS`].
fn checked_key(key: &str, path: &str) -> Result<String, String> {
    if key.len() > MAX_KEY_BYTES || key.split('.').count() > MAX_KEY_PARTS {
        return Err(format!(
            "{path}: a key is at most {MAX_KEY_BYTES} bytes and {MAX_KEY_PARTS} dotted parts"
        ));
    }
    Ok(key.to_string())
}

fn parse_match(key: String, m: &Value, path: &str) -> Result<Condition, String> {
    let scalar = |v: &Value, at: String| match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(v.clone()),
        _ => Err(format!(
            "{at}: match values are strings, numbers or booleans"
        )),
    };
    let list = |v: &Value, at: &str| -> Result<Vec<Value>, String> {
        v.as_array()
            .ok_or_else(|| format!("{at}: expected a list"))?
            .iter()
            .enumerate()
            .map(|(i, x)| scalar(x, format!("{at}[{i}]")))
            .collect()
    };
    if let Some(v) = m.get("value") {
        return Ok(Condition::Match {
            key,
            any: vec![scalar(v, format!("{path}.value"))?],
        });
    }
    if let Some(v) = m.get("any") {
        return Ok(Condition::Match {
            key,
            any: list(v, &format!("{path}.any"))?,
        });
    }
    if let Some(v) = m.get("except") {
        return Ok(Condition::Except {
            key,
            except: list(v, &format!("{path}.except"))?,
        });
    }
    Err(format!("{path}: expected `value`, `any` or `except`"))
}

fn parse_range(r: &Value, path: &str) -> Result<Range, String> {
    let obj = r
        .as_object()
        .ok_or_else(|| format!("{path}: expected an object of bounds"))?;
    let mut range = Range::default();
    for (k, v) in obj {
        let x = v
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("{path}.{k}: a bound must be a finite number"))?;
        match k.as_str() {
            "gt" => range.gt = Some(x),
            "gte" => range.gte = Some(x),
            "lt" => range.lt = Some(x),
            "lte" => range.lte = Some(x),
            other => {
                return Err(format!(
                    "{path}: unknown bound `{other}` (gt, gte, lt, lte)"
                ));
            }
        }
    }
    if obj.is_empty() {
        return Err(format!("{path}: give at least one of gt, gte, lt, lte"));
    }
    Ok(range)
}
