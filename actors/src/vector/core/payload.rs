//! Qdrant's four payload updates as one pure function from the old payload to the new.

use serde_json::{Map, Value};

/// A change to points' payloads.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadChange {
    /// Set these keys, keeping the others (Qdrant's `set_payload`); with `key`, into the
    /// object at that dotted path, made if missing.
    Set {
        /// Keys and values to set.
        payload: Map<String, Value>,
        /// Where to set them (a dotted path of objects); the top level when `None`.
        key: Option<String>,
    },
    /// Replace the whole payload (`overwrite_payload`).
    Overwrite(Map<String, Value>),
    /// Remove these keys, dotted paths included (`delete_payload`).
    Delete(Vec<String>),
    /// Remove every key (`clear_payload`).
    Clear,
}

impl PayloadChange {
    /// The payload after the change.
    pub fn apply(&self, old: &Value) -> Value {
        match self {
            Self::Set { payload, key } => {
                let mut new = as_object(old);
                let path: Vec<&str> = key
                    .as_deref()
                    .map(|k| k.split('.').map(strip_brackets).collect())
                    .unwrap_or_default();
                set_at(&mut new, &path, payload);
                Value::Object(new)
            }
            Self::Overwrite(payload) => Value::Object(payload.clone()),
            Self::Delete(keys) => {
                let mut new = old.clone();
                for key in keys {
                    let parts: Vec<&str> = key.split('.').map(strip_brackets).collect();
                    remove_at(&mut new, &parts);
                }
                new
            }
            Self::Clear => Value::Object(Map::new()),
        }
    }
}

/// `a[]` in a path means "each element of the array at `a`", which is how arrays are
/// walked anyway.
fn strip_brackets(part: &str) -> &str {
    part.strip_suffix("[]").unwrap_or(part)
}

fn as_object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Sets `payload`'s keys in the object at `path`, replacing whatever is not an object on
/// the way.
fn set_at(at: &mut Map<String, Value>, path: &[&str], payload: &Map<String, Value>) {
    let Some((first, rest)) = path.split_first() else {
        for (k, v) in payload {
            at.insert(k.clone(), v.clone());
        }
        return;
    };
    let slot = at
        .entry(first.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(next) = slot {
        set_at(next, rest, payload);
    }
}

fn remove_at(v: &mut Value, parts: &[&str]) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    match v {
        Value::Object(map) if rest.is_empty() => {
            map.remove(*first);
        }
        Value::Object(map) => {
            if let Some(next) = map.get_mut(*first) {
                remove_at(next, rest);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| remove_at(i, parts)),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn set_merges_and_overwrite_replaces() {
        let old = json!({ "a": 1, "b": { "c": 2 } });
        let set = PayloadChange::Set {
            payload: map(json!({ "a": 5, "d": true })),
            key: None,
        };
        assert_eq!(
            set.apply(&old),
            json!({ "a": 5, "b": { "c": 2 }, "d": true })
        );
        let nested = PayloadChange::Set {
            payload: map(json!({ "e": 3 })),
            key: Some("b".into()),
        };
        assert_eq!(
            nested.apply(&old),
            json!({ "a": 1, "b": { "c": 2, "e": 3 } })
        );
        let made = PayloadChange::Set {
            payload: map(json!({ "z": 0 })),
            key: Some("a.x".into()),
        };
        assert_eq!(
            made.apply(&old),
            json!({ "a": { "x": { "z": 0 } }, "b": { "c": 2 } })
        );
        assert_eq!(
            PayloadChange::Overwrite(map(json!({ "only": 1 }))).apply(&old),
            json!({ "only": 1 })
        );
        assert_eq!(set.apply(&Value::Null), json!({ "a": 5, "d": true }));
    }

    #[test]
    fn delete_removes_dotted_keys_through_arrays_and_clear_empties() {
        let old = json!({ "a": 1, "b": { "c": 2, "k": 0 }, "l": [{ "x": 1, "y": 2 }, { "x": 3 }] });
        let delete = PayloadChange::Delete(vec![
            "a".into(),
            "b.c".into(),
            "l[].x".into(),
            "nope.q".into(),
        ]);
        assert_eq!(
            delete.apply(&old),
            json!({ "b": { "k": 0 }, "l": [{ "y": 2 }, {}] })
        );
        assert_eq!(PayloadChange::Clear.apply(&old), json!({}));
    }
}
