//! Parsing Qdrant's `Filter` JSON into [`Filter`], with limits on its size and a message
//! naming the path of whatever is wrong or not supported.

use serde_json::{Map, Value};

use super::PointId;
use super::filter::{Condition, Filter, MinShould, Range};

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

/// Qdrant conditions the swarm does not evaluate: answered 422 naming them.
const UNSUPPORTED: [&str; 3] = ["geo_bounding_box", "geo_radius", "geo_polygon"];

pub(super) fn parse(v: &Value) -> Result<Filter, String> {
    let mut budget = MAX_CONDITIONS;
    parse_filter(v, "filter", 0, &mut budget)
}

/// The object's entries without the null ones (clients send absent fields as null).
fn present(obj: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    obj.iter().filter(|(_, v)| !v.is_null())
}

fn parse_filter(v: &Value, path: &str, depth: usize, budget: &mut usize) -> Result<Filter, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: filters nest at most {MAX_DEPTH} deep"));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{path}: a filter must be an object"))?;
    let mut filter = Filter::default();
    for (k, conds) in present(obj) {
        let here = format!("{path}.{k}");
        let list = match k.as_str() {
            "must" => &mut filter.must,
            "should" => &mut filter.should,
            "must_not" => &mut filter.must_not,
            "min_should" => {
                filter.min_should = Some(parse_min_should(conds, &here, depth, budget)?);
                continue;
            }
            other => {
                return Err(format!(
                    "{path}: unknown key `{other}` (expected must, should, must_not or min_should)"
                ));
            }
        };
        *list = parse_conditions(conds, &here, depth, budget)?;
    }
    Ok(filter)
}

fn parse_conditions(
    v: &Value,
    path: &str,
    depth: usize,
    budget: &mut usize,
) -> Result<Vec<Condition>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, c)| parse_condition(c, &format!("{path}[{i}]"), depth, budget))
            .collect(),
        Value::Object(_) => Ok(vec![parse_condition(v, path, depth, budget)?]),
        _ => Err(format!("{path}: expected a list of conditions")),
    }
}

fn parse_min_should(
    v: &Value,
    path: &str,
    depth: usize,
    budget: &mut usize,
) -> Result<MinShould, String> {
    let conditions = v
        .get("conditions")
        .ok_or_else(|| format!("{path}: expected {{\"conditions\": […], \"min_count\": n}}"))?;
    let min_count = v
        .get("min_count")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("{path}.min_count: expected a non-negative integer"))?;
    Ok(MinShould {
        conditions: parse_conditions(conditions, &format!("{path}.conditions"), depth, budget)?,
        min_count: usize::try_from(min_count).unwrap_or(usize::MAX),
    })
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
    let fields: Map<String, Value> = present(obj).map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(geo) = UNSUPPORTED.iter().find(|g| fields.contains_key(**g)) {
        return Err(format!(
            "{path}: `{geo}` conditions are not supported by the swarm"
        ));
    }
    if ["must", "should", "must_not", "min_should"]
        .iter()
        .any(|k| fields.contains_key(*k))
    {
        let nested = parse_filter(v, path, depth + 1, budget)?;
        return Ok(Condition::Nested(Box::new(nested)));
    }
    if let Some(ids) = fields.get("has_id") {
        return parse_has_id(ids, path);
    }
    if let Some(name) = fields.get("has_vector") {
        let name = name
            .as_str()
            .ok_or_else(|| format!("{path}.has_vector: expected a vector name"))?;
        return Ok(Condition::HasVector(name.is_empty()));
    }
    if let Some(n) = fields.get("nested") {
        let key = key_of(n, &format!("{path}.nested"))?;
        let inner = n
            .get("filter")
            .ok_or_else(|| format!("{path}.nested: expected {{\"key\", \"filter\"}}"))?;
        let filter = parse_filter(inner, &format!("{path}.nested.filter"), depth + 1, budget)?;
        return Ok(Condition::NestedArray {
            key,
            filter: Box::new(filter),
        });
    }
    if let Some(e) = fields.get("is_empty") {
        return Ok(Condition::IsEmpty(key_of(e, &format!("{path}.is_empty"))?));
    }
    if let Some(e) = fields.get("is_null") {
        return Ok(Condition::IsNull(key_of(e, &format!("{path}.is_null"))?));
    }
    let key = key_of(v, path)?;
    if let Some(m) = fields.get("match") {
        return parse_match(key, m, &format!("{path}.match"));
    }
    if let Some(r) = fields.get("range") {
        return Ok(Condition::Range {
            key,
            range: parse_range(r, &format!("{path}.range"))?,
        });
    }
    if let Some(r) = fields.get("values_count") {
        return Ok(Condition::ValuesCount {
            key,
            range: parse_range(r, &format!("{path}.values_count"))?,
        });
    }
    let named: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "key")
        .collect();
    Err(match named.as_slice() {
        [] => format!("{path}: a condition with `key` needs `match`, `range` or `values_count`"),
        other => format!(
            "{path}: unknown or unsupported condition `{}`",
            other.join("`, `")
        ),
    })
}

fn parse_has_id(ids: &Value, path: &str) -> Result<Condition, String> {
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
    Ok(Condition::HasId(parsed))
}

/// The non-empty string `key` of an object, within [`MAX_KEY_BYTES`] and
/// [`MAX_KEY_PARTS`].
fn key_of(v: &Value, path: &str) -> Result<String, String> {
    let key = v
        .get("key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| format!("{path}: a condition needs a non-empty string `key`"))?;
    if key.len() > MAX_KEY_BYTES || key.split('.').count() > MAX_KEY_PARTS {
        return Err(format!(
            "{path}.key: a key is at most {MAX_KEY_BYTES} bytes and {MAX_KEY_PARTS} dotted parts"
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
    let obj = m
        .as_object()
        .ok_or_else(|| format!("{path}: expected an object"))?;
    let (kind, v) = present(obj)
        .next()
        .ok_or_else(|| format!("{path}: expected `value`, `any`, `except` or `text`"))?;
    match kind.as_str() {
        "value" => Ok(Condition::Match {
            key,
            any: vec![scalar(v, format!("{path}.value"))?],
        }),
        "any" => Ok(Condition::Match {
            key,
            any: list(v, &format!("{path}.any"))?,
        }),
        "except" => Ok(Condition::Except {
            key,
            except: list(v, &format!("{path}.except"))?,
        }),
        "text" => Ok(Condition::Text {
            key,
            text: v
                .as_str()
                .ok_or_else(|| format!("{path}.text: expected a string"))?
                .to_string(),
        }),
        other => Err(format!(
            "{path}: `match.{other}` is not supported by the swarm (value, any, except, text)"
        )),
    }
}

fn parse_range(r: &Value, path: &str) -> Result<Range, String> {
    let obj = r
        .as_object()
        .ok_or_else(|| format!("{path}: expected an object of bounds"))?;
    let mut range = Range::default();
    let mut any = false;
    for (k, v) in present(obj) {
        if v.is_string() {
            return Err(format!(
                "{path}.{k}: date-time ranges are not supported by the swarm; store and compare numbers (e.g. Unix seconds)"
            ));
        }
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
        any = true;
    }
    if !any {
        return Err(format!("{path}: give at least one of gt, gte, lt, lte"));
    }
    Ok(range)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn passes(filter: Value, payload: Value) -> bool {
        Filter::parse(&filter)
            .unwrap()
            .matches(&PointId::Num(1), &payload)
    }

    #[test]
    fn the_conditions_added_for_qdrant_clients_hold() {
        let p = json!({ "tags": ["a", "b", "c"], "note": null, "title": "the quick fox",
            "dogs": [{ "name": "rex", "age": 3 }, { "name": "max", "age": 9 }] });
        let count = |r: Value| json!({ "must": [{ "key": "tags", "values_count": r }] });
        assert!(passes(count(json!({ "gte": 3 })), p.clone()));
        assert!(!passes(count(json!({ "gt": 3 })), p.clone()));
        assert!(passes(
            json!({ "must": [{ "is_null": { "key": "note" } }] }),
            p.clone()
        ));
        assert!(!passes(
            json!({ "must": [{ "is_null": { "key": "absent" } }] }),
            p.clone()
        ));
        assert!(passes(
            json!({ "must": [{ "is_empty": { "key": "absent" } }] }),
            p.clone()
        ));
        let text = |t: &str| json!({ "must": [{ "key": "title", "match": { "text": t } }] });
        assert!(passes(text("quick"), p.clone()));
        assert!(!passes(text("slow"), p.clone()));
        // `nested`: one element must pass the whole inner filter (rex is 3, max is 9).
        let dog = |name: &str, gte: u64| {
            json!({ "must": [{ "nested": { "key": "dogs", "filter": { "must": [
                { "key": "name", "match": { "value": name } },
                { "key": "age", "range": { "gte": gte } } ] } } }] })
        };
        assert!(passes(dog("max", 5), p.clone()));
        assert!(!passes(dog("rex", 5), p.clone()));
        // Without `nested`, `dogs[].age` reaches every element.
        assert!(passes(
            json!({ "must": [{ "key": "dogs[].age", "range": { "gte": 9 } }] }),
            p.clone()
        ));
        let min = |n: u64| {
            json!({ "min_should": { "min_count": n, "conditions": [
                { "key": "tags", "match": { "value": "a" } },
                { "key": "tags", "match": { "value": "z" } },
                { "key": "title", "match": { "text": "fox" } } ] } })
        };
        assert!(passes(min(2), p.clone()));
        assert!(!passes(min(3), p.clone()));
        assert!(passes(json!({ "must": [{ "has_vector": "" }] }), p.clone()));
        // Null fields, as clients send absent ones, are ignored.
        assert!(passes(
            json!({ "must": [{ "key": "title", "match": { "text": "fox" },
            "range": null, "geo_radius": null }], "should": null, "min_should": null }),
            p
        ));
    }

    #[test]
    fn unsupported_conditions_are_named() {
        for (filter, says) in [
            (
                json!({ "must": [{ "key": "loc", "geo_radius": { "center": {}, "radius": 1 } }] }),
                "`geo_radius` conditions are not supported",
            ),
            (
                json!({ "must": [{ "key": "t", "range": { "gt": "2023-01-01T00:00:00Z" } }] }),
                "date-time ranges are not supported",
            ),
            (
                json!({ "must": [{ "key": "t", "match": { "phrase": "a b" } }] }),
                "`match.phrase` is not supported",
            ),
            (
                json!({ "must": [{ "key": "t", "frobnicate": 1 }] }),
                "unsupported condition `frobnicate`",
            ),
        ] {
            let err = Filter::parse(&filter).unwrap_err();
            assert!(err.contains(says), "{err}");
            assert!(err.starts_with("filter.must[0]"), "{err}");
        }
    }
}
