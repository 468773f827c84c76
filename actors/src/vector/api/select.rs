//! Qdrant's selectors and vector forms: which parts of a point an answer carries
//! (`with_payload`, `with_vector`), how a vector is given (a list, the unnamed vector
//! `{"": […]}`, or a `Document` to embed), and the shapes of records and hits.

use serde_json::{Map, Value};

use crate::vector::core::{PayloadChange, Record, ScoredPoint};
use crate::vector::service::VectorInput;

/// Which payload keys an answer carries (Qdrant's `with_payload`).
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadSelector {
    /// The whole payload.
    All,
    /// No payload.
    None,
    /// Only these keys (dotted paths allowed).
    Include(Vec<String>),
    /// All but these keys.
    Exclude(Vec<String>),
}

impl PayloadSelector {
    /// Parses `true`/`false`, a list of keys, `{"include": […]}` or `{"exclude": […]}`;
    /// `default` when absent.
    pub fn parse(v: Option<&Value>, default: Self) -> Result<Self, String> {
        let keys = |v: &Value, at: &str| -> Result<Vec<String>, String> {
            v.as_array()
                .and_then(|a| a.iter().map(|k| k.as_str().map(str::to_string)).collect())
                .ok_or_else(|| format!("{at}: expected a list of keys"))
        };
        match v {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(true)) => Ok(Self::All),
            Some(Value::Bool(false)) => Ok(Self::None),
            Some(list @ Value::Array(_)) => Ok(Self::Include(keys(list, "with_payload")?)),
            Some(Value::Object(o)) => match (o.get("include"), o.get("exclude")) {
                (Some(i), None) => Ok(Self::Include(keys(i, "with_payload.include")?)),
                (None, Some(e)) => Ok(Self::Exclude(keys(e, "with_payload.exclude")?)),
                _ => Err("with_payload: give `include` or `exclude`".into()),
            },
            Some(other) => Err(format!(
                "with_payload: expected a boolean, a list of keys or a selector, got {other}"
            )),
        }
    }

    /// Whether any payload is wanted (so the service reads it at all).
    pub fn wanted(&self) -> bool {
        *self != Self::None
    }

    /// The selected part of `payload`, or `None` when no payload is wanted.
    pub fn project(&self, payload: &Value) -> Option<Value> {
        match self {
            Self::All => Some(payload.clone()),
            Self::None => None,
            Self::Exclude(keys) => Some(PayloadChange::Delete(keys.clone()).apply(payload)),
            Self::Include(keys) => {
                let mut out = Map::new();
                for key in keys {
                    copy_path(payload, &mut out, &key.split('.').collect::<Vec<_>>());
                }
                Some(Value::Object(out))
            }
        }
    }
}

/// Copies the value at `path` in `from` to the same place in `to`.
fn copy_path(from: &Value, to: &mut Map<String, Value>, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(v) = from.get(*first) else {
        return;
    };
    if rest.is_empty() || !v.is_object() {
        if rest.is_empty() {
            to.insert(first.to_string(), v.clone());
        }
        return;
    }
    let slot = to
        .entry(first.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(inner) = slot {
        copy_path(v, inner, rest);
    }
}

/// Parses `with_vector`: a boolean, or a list of vector names (the swarm's collections
/// hold one unnamed vector, `""`).
pub fn with_vector(v: Option<&Value>) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Array(names)) => {
            for name in names {
                if name.as_str() != Some("") {
                    return Err(format!(
                        "with_vector: no vector named {name}: the swarm's collections hold one unnamed vector"
                    ));
                }
            }
            Ok(!names.is_empty())
        }
        Some(other) => Err(format!(
            "with_vector: expected a boolean or a list of names, got {other}"
        )),
    }
}

/// Checks `using` (a vector name): only the unnamed vector exists.
pub fn check_using(using: Option<&str>) -> Result<(), String> {
    match using {
        None | Some("") => Ok(()),
        Some(name) => Err(format!(
            "using: no vector named `{name}`: the swarm's collections hold one unnamed vector"
        )),
    }
}

/// A point's or query's vector as Qdrant clients send it: a list of numbers, the unnamed
/// vector as `{"": […]}`, or a `Document` (`{"text", "model"}`) that the vector service
/// embeds with its `embed` service (the `model` is not checked).
pub fn vector_input(v: &Value, at: &str) -> Result<VectorInput, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .map(VectorInput::Vector)
            .ok_or_else(|| {
                format!("{at}: expected a list of numbers (multivectors are not supported)")
            }),
        Value::Object(o) => {
            if let Some(text) = o.get("text").and_then(Value::as_str) {
                return Ok(VectorInput::Text(text.to_string()));
            }
            match (o.len(), o.get("")) {
                (1, Some(inner)) => vector_input(inner, &format!("{at}[\"\"]")),
                _ if o.contains_key("indices") => Err(format!(
                    "{at}: sparse vectors are not supported by the swarm"
                )),
                _ => Err(format!(
                    "{at}: named vectors ({}) are not supported: the swarm's collections hold one unnamed vector",
                    o.keys()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        other => Err(format!("{at}: expected a vector, got {other}")),
    }
}

/// A record in Qdrant's shape with the selected payload and, when asked, the vector.
pub fn record_body(r: &Record, payload: &PayloadSelector, with_vector: bool) -> Value {
    let mut out = serde_json::json!({ "id": r.id });
    if let Some(p) = payload.project(&r.payload) {
        out["payload"] = p;
    }
    if with_vector {
        out["vector"] = serde_json::json!(r.vector);
    }
    out
}

/// A hit in Qdrant's `ScoredPoint` shape. `version` (the operation that last wrote the
/// point, in Qdrant) is always 0: the swarm keeps no per-point version.
pub fn scored_body(h: &ScoredPoint, payload: &PayloadSelector) -> Value {
    let mut out = serde_json::json!({ "id": h.id, "version": 0, "score": h.score });
    if let Some(p) = h.payload.as_ref().and_then(|p| payload.project(p)) {
        out["payload"] = p;
    }
    if let Some(v) = &h.vector {
        out["vector"] = serde_json::json!(v);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payload_selectors_project_as_qdrant_does() {
        let p = json!({ "a": 1, "b": { "c": 2, "d": 3 }, "e": [1, 2] });
        let parse = |v: Value| PayloadSelector::parse(Some(&v), PayloadSelector::None).unwrap();
        assert_eq!(parse(json!(true)).project(&p), Some(p.clone()));
        assert_eq!(parse(json!(false)).project(&p), None);
        assert_eq!(
            parse(json!(["a", "b.d"])).project(&p),
            Some(json!({ "a": 1, "b": { "d": 3 } }))
        );
        assert_eq!(
            parse(json!({ "include": ["e"] })).project(&p),
            Some(json!({ "e": [1, 2] }))
        );
        assert_eq!(
            parse(json!({ "exclude": ["b"] })).project(&p),
            Some(json!({ "a": 1, "e": [1, 2] }))
        );
        assert!(PayloadSelector::parse(Some(&json!(3)), PayloadSelector::All).is_err());
        assert_eq!(
            PayloadSelector::parse(None, PayloadSelector::All).unwrap(),
            PayloadSelector::All
        );
    }

    #[test]
    fn vectors_come_as_lists_unnamed_objects_or_documents() {
        let v = |j: Value| vector_input(&j, "vector");
        assert!(
            matches!(v(json!([1, 2.5])).unwrap(), VectorInput::Vector(x) if x == vec![1.0, 2.5])
        );
        assert!(matches!(v(json!({ "": [1] })).unwrap(), VectorInput::Vector(x) if x == vec![1.0]));
        assert!(
            matches!(v(json!({ "text": "hi", "model": "m" })).unwrap(), VectorInput::Text(t) if t == "hi")
        );
        assert!(
            v(json!({ "image": [1] }))
                .unwrap_err()
                .contains("named vectors (`image`)")
        );
        assert!(
            v(json!({ "indices": [1], "values": [1] }))
                .unwrap_err()
                .contains("sparse")
        );
        assert!(v(json!([[1], [2]])).unwrap_err().contains("multivectors"));
        assert!(with_vector(Some(&json!(["other"]))).is_err());
        assert!(with_vector(Some(&json!([""]))).unwrap());
    }
}
