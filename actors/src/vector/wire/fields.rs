//! The fields of vector messages beyond the runtime's own (text, counts, sizes, options
//! and JSON values are `swarm_runtime::cluster::codec`'s): point ids, `f32` vectors,
//! collection names and settings.

use swarm_runtime::cluster::codec::{FieldReader, put_count, put_short, put_size};
use swarm_runtime::cluster::wire::{MAX_FRAME, WireError};

use crate::vector::core::{CollectionConfig, HnswParams, Metric, PointId};

/// Items preallocated for a count read off the wire; more grow as they actually arrive.
pub(super) const PREALLOC: usize = 1024;

/// A vector for `n` items read off the wire, preallocated only up to [`PREALLOC`].
pub(super) fn vec_for<T>(n: usize) -> Vec<T> {
    Vec::with_capacity(n.min(PREALLOC))
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
    put_count(out, v.len(), MAX_FRAME, "vector")?;
    out.reserve(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_bits().to_be_bytes());
    }
    Ok(())
}

/// Reads `f32`s written by [`floats`] (the bytes are there before anything is allocated).
pub(super) fn read_floats(r: &mut FieldReader<'_>) -> Result<Vec<f32>, WireError> {
    let n = r.count(MAX_FRAME / 4, "vector")?;
    Ok(r.take(n * 4)?
        .chunks_exact(4)
        .map(|c| f32::from_bits(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect())
}

/// Appends a collection name: `u16` length, then UTF-8 (at most 256 bytes).
pub(super) fn name(out: &mut Vec<u8>, n: &str) -> Result<(), WireError> {
    put_short(out, n, "collection name")
}

/// Appends a collection's settings: dimension, metric, then the HNSW parameters.
pub(super) fn config(out: &mut Vec<u8>, c: &CollectionConfig) {
    put_size(out, c.dimension);
    out.push(match c.distance {
        Metric::Cosine => 0,
        Metric::Dot => 1,
        Metric::Euclid => 2,
    });
    put_size(out, c.hnsw.m);
    put_size(out, c.hnsw.ef_construction);
    put_size(out, c.hnsw.ef_search);
}

/// Reads settings written by [`config`] (checked later, where they are used).
pub(super) fn read_config(r: &mut FieldReader<'_>) -> Result<CollectionConfig, WireError> {
    Ok(CollectionConfig {
        dimension: r.size("dimension")?,
        distance: match r.u8()? {
            0 => Metric::Cosine,
            1 => Metric::Dot,
            2 => Metric::Euclid,
            _ => return Err(WireError::Invalid("metric")),
        },
        hnsw: HnswParams {
            m: r.size("hnsw.m")?,
            ef_construction: r.size("hnsw.ef_construction")?,
            ef_search: r.size("hnsw.ef_search")?,
        },
    })
}

/// Appends a count, then each id.
pub(super) fn ids(out: &mut Vec<u8>, list: &[PointId]) -> Result<(), WireError> {
    put_count(out, list.len(), MAX_FRAME, "ids")?;
    list.iter().for_each(|id| point_id(out, id));
    Ok(())
}

/// Reads ids written by [`ids`].
pub(super) fn read_ids(r: &mut FieldReader<'_>) -> Result<Vec<PointId>, WireError> {
    let n = r.count(MAX_FRAME, "ids")?;
    (0..n).try_fold(vec_for(n), |mut list, _| {
        list.push(read_point_id(r)?);
        Ok(list)
    })
}
