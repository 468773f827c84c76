//! The fields every vector message is built from: text, counts, sizes, options, point
//! ids, `f32` vectors, JSON values in binary, collection names and settings.

use serde_json::{Map, Number, Value};
use swarm_runtime::cluster::codec::{FieldReader, put_long, put_short};
use swarm_runtime::cluster::wire::{MAX_FRAME, WireError};

use crate::vector::core::{CollectionConfig, HnswParams, Metric, PointId};

/// The deepest JSON value (arrays and objects within each other) that crosses.
pub const MAX_VALUE_DEPTH: usize = 256;

/// Items preallocated for a count read off the wire; more grow as they actually arrive.
pub(super) const PREALLOC: usize = 1024;

/// Appends text: `u32` length, then UTF-8.
pub(super) fn text(out: &mut Vec<u8>, s: &str, what: &'static str) -> Result<(), WireError> {
    put_long(out, s.as_bytes(), what)
}

/// Reads text written by [`text`].
pub(super) fn read_text(r: &mut FieldReader<'_>, what: &'static str) -> Result<String, WireError> {
    String::from_utf8(r.long(what)?).map_err(|_| WireError::Invalid(what))
}

/// Appends a `u32` count (each counted item takes at least one byte of a frame).
pub(super) fn count(out: &mut Vec<u8>, n: usize, what: &'static str) -> Result<(), WireError> {
    if n > MAX_FRAME {
        return Err(WireError::TooLarge(what));
    }
    out.extend_from_slice(&(n as u32).to_be_bytes());
    Ok(())
}

/// Reads a count written by [`count`], refusing one over `limit`.
pub(super) fn read_count(
    r: &mut FieldReader<'_>,
    limit: usize,
    what: &'static str,
) -> Result<usize, WireError> {
    let n = r.u32()? as usize;
    if n > limit.min(MAX_FRAME) {
        return Err(WireError::TooLarge(what));
    }
    Ok(n)
}

/// A vector for `n` items read off the wire, preallocated only up to [`PREALLOC`].
pub(super) fn vec_for<T>(n: usize) -> Vec<T> {
    Vec::with_capacity(n.min(PREALLOC))
}

/// Appends a size as a `u64`.
pub(super) fn size(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_be_bytes());
}

/// Reads a size written by [`size`].
pub(super) fn read_size(r: &mut FieldReader<'_>, what: &'static str) -> Result<usize, WireError> {
    usize::try_from(r.u64()?).map_err(|_| WireError::Invalid(what))
}

/// Reads a `u8` flag: 0 or 1.
pub(super) fn flag(r: &mut FieldReader<'_>, what: &'static str) -> Result<bool, WireError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(WireError::Invalid(what)),
    }
}

/// Appends an optional field: `u8` 0, or `u8` 1 then the value as `put` writes it.
pub(super) fn opt<T>(
    out: &mut Vec<u8>,
    v: Option<&T>,
    put: impl FnOnce(&mut Vec<u8>, &T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    match v {
        Some(v) => {
            out.push(1);
            put(out, v)
        }
        None => {
            out.push(0);
            Ok(())
        }
    }
}

/// Reads an optional field written by [`opt`].
pub(super) fn read_opt<'a, T>(
    r: &mut FieldReader<'a>,
    read: impl FnOnce(&mut FieldReader<'a>) -> Result<T, WireError>,
) -> Result<Option<T>, WireError> {
    if flag(r, "option flag")? {
        read(r).map(Some)
    } else {
        Ok(None)
    }
}

/// Appends a point id: `u8` 0 + `u64`, or `u8` 1 + the UUID's 16 bytes.
pub(super) fn point_id(out: &mut Vec<u8>, id: &PointId) {
    match id {
        PointId::Num(n) => {
            out.push(0);
            out.extend_from_slice(&n.to_be_bytes());
        }
        PointId::Uuid(u) => {
            out.push(1);
            out.extend_from_slice(u.as_bytes());
        }
    }
}

/// Reads a point id written by [`point_id`].
pub(super) fn read_point_id(r: &mut FieldReader<'_>) -> Result<PointId, WireError> {
    match r.u8()? {
        0 => Ok(PointId::Num(r.u64()?)),
        1 => {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(r.take(16)?);
            Ok(PointId::Uuid(uuid::Uuid::from_bytes(bytes)))
        }
        _ => Err(WireError::Invalid("point id kind")),
    }
}

/// Appends `f32`s: a count, then each one's bits.
pub(super) fn floats(out: &mut Vec<u8>, v: &[f32]) -> Result<(), WireError> {
    count(out, v.len(), "vector")?;
    out.reserve(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_bits().to_be_bytes());
    }
    Ok(())
}

/// Reads `f32`s written by [`floats`] (the bytes are there before anything is allocated).
pub(super) fn read_floats(r: &mut FieldReader<'_>) -> Result<Vec<f32>, WireError> {
    let n = read_count(r, MAX_FRAME / 4, "vector")?;
    Ok(r.take(n * 4)?
        .chunks_exact(4)
        .map(|c| f32::from_bits(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect())
}

/// Appends a JSON value as laid out in the `wire` module documentation.
pub(super) fn value(out: &mut Vec<u8>, v: &Value) -> Result<(), WireError> {
    value_at(out, v, 0)
}

fn value_at(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), WireError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(WireError::TooLarge("payload depth"));
    }
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => out.push(1 + u8::from(*b)),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => {
                out.push(3);
                out.extend_from_slice(&u.to_be_bytes());
            }
            (None, Some(i), _) => {
                out.push(4);
                out.extend_from_slice(&i.to_be_bytes());
            }
            (None, None, f) => {
                out.push(5);
                let f = f.ok_or(WireError::Invalid("payload number"))?;
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
        },
        Value::String(s) => {
            out.push(6);
            text(out, s, "payload string")?;
        }
        Value::Array(items) => {
            out.push(7);
            count(out, items.len(), "payload array")?;
            for item in items {
                value_at(out, item, depth + 1)?;
            }
        }
        Value::Object(map) => {
            out.push(8);
            object_at(out, map, depth + 1)?;
        }
    }
    Ok(())
}

/// Appends a JSON object's entries (the body of a value tagged 8).
pub(super) fn object(out: &mut Vec<u8>, map: &Map<String, Value>) -> Result<(), WireError> {
    object_at(out, map, 0)
}

fn object_at(out: &mut Vec<u8>, map: &Map<String, Value>, depth: usize) -> Result<(), WireError> {
    count(out, map.len(), "payload object")?;
    for (k, v) in map {
        text(out, k, "payload key")?;
        value_at(out, v, depth)?;
    }
    Ok(())
}

/// Reads a JSON value written by [`value`].
pub(super) fn read_value(r: &mut FieldReader<'_>) -> Result<Value, WireError> {
    read_value_at(r, 0)
}

fn read_value_at(r: &mut FieldReader<'_>, depth: usize) -> Result<Value, WireError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(WireError::TooLarge("payload depth"));
    }
    Ok(match r.u8()? {
        0 => Value::Null,
        1 => Value::Bool(false),
        2 => Value::Bool(true),
        3 => Value::Number(r.u64()?.into()),
        4 => Value::Number((r.u64()? as i64).into()),
        5 => Value::Number(Number::from_f64(r.f64()?).ok_or(WireError::Invalid("payload number"))?),
        6 => Value::String(read_text(r, "payload string")?),
        7 => {
            let n = read_count(r, MAX_FRAME, "payload array")?;
            let mut items = vec_for(n);
            for _ in 0..n {
                items.push(read_value_at(r, depth + 1)?);
            }
            Value::Array(items)
        }
        8 => Value::Object(read_object_at(r, depth + 1)?),
        _ => return Err(WireError::Invalid("payload value kind")),
    })
}

/// Reads a JSON object's entries written by [`object`].
pub(super) fn read_object(r: &mut FieldReader<'_>) -> Result<Map<String, Value>, WireError> {
    read_object_at(r, 0)
}

fn read_object_at(r: &mut FieldReader<'_>, depth: usize) -> Result<Map<String, Value>, WireError> {
    let n = read_count(r, MAX_FRAME, "payload object")?;
    let mut map = Map::new();
    for _ in 0..n {
        let key = read_text(r, "payload key")?;
        map.insert(key, read_value_at(r, depth)?);
    }
    Ok(map)
}

/// Appends a collection name: `u16` length, then UTF-8 (at most 256 bytes).
pub(super) fn name(out: &mut Vec<u8>, n: &str) -> Result<(), WireError> {
    put_short(out, n, "collection name")
}

/// Appends a collection's settings: dimension, metric, then the HNSW parameters.
pub(super) fn config(out: &mut Vec<u8>, c: &CollectionConfig) {
    size(out, c.dimension);
    out.push(match c.distance {
        Metric::Cosine => 0,
        Metric::Dot => 1,
        Metric::Euclid => 2,
    });
    size(out, c.hnsw.m);
    size(out, c.hnsw.ef_construction);
    size(out, c.hnsw.ef_search);
}

/// Reads settings written by [`config`] (checked later, where they are used).
pub(super) fn read_config(r: &mut FieldReader<'_>) -> Result<CollectionConfig, WireError> {
    Ok(CollectionConfig {
        dimension: read_size(r, "dimension")?,
        distance: match r.u8()? {
            0 => Metric::Cosine,
            1 => Metric::Dot,
            2 => Metric::Euclid,
            _ => return Err(WireError::Invalid("metric")),
        },
        hnsw: HnswParams {
            m: read_size(r, "hnsw.m")?,
            ef_construction: read_size(r, "hnsw.ef_construction")?,
            ef_search: read_size(r, "hnsw.ef_search")?,
        },
    })
}

/// Appends a count, then each id.
pub(super) fn ids(out: &mut Vec<u8>, list: &[PointId]) -> Result<(), WireError> {
    count(out, list.len(), "ids")?;
    list.iter().for_each(|id| point_id(out, id));
    Ok(())
}

/// Reads ids written by [`ids`].
pub(super) fn read_ids(r: &mut FieldReader<'_>) -> Result<Vec<PointId>, WireError> {
    let n = read_count(r, MAX_FRAME, "ids")?;
    (0..n).try_fold(vec_for(n), |mut list, _| {
        list.push(read_point_id(r)?);
        Ok(list)
    })
}
