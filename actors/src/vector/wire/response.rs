//! Responses: a `u8` tag per variant, then its fields (the layout is in [`super`]'s
//! documentation).

use swarm_runtime::cluster::codec::FieldReader;
use swarm_runtime::cluster::wire::{MAX_FRAME, WireError};

use super::fields::{
    config, count, floats, name, opt, point_id, read_config, read_count, read_floats, read_opt,
    read_point_id, read_size, read_value, size, value, vec_for,
};
use crate::vector::core::{CollectionInfo, Record, ScoredPoint, ScrollPage};
use crate::vector::messages::VectorResponse;

fn record(out: &mut Vec<u8>, rec: &Record) -> Result<(), WireError> {
    point_id(out, &rec.id);
    value(out, &rec.payload)?;
    floats(out, &rec.vector)
}

fn read_record(r: &mut FieldReader<'_>) -> Result<Record, WireError> {
    Ok(Record {
        id: read_point_id(r)?,
        payload: read_value(r)?,
        vector: read_floats(r)?,
    })
}

fn records(out: &mut Vec<u8>, list: &[Record]) -> Result<(), WireError> {
    count(out, list.len(), "records")?;
    list.iter().try_for_each(|rec| record(out, rec))
}

fn read_records(r: &mut FieldReader<'_>) -> Result<Vec<Record>, WireError> {
    let n = read_count(r, MAX_FRAME, "records")?;
    (0..n).try_fold(vec_for(n), |mut list, _| {
        list.push(read_record(r)?);
        Ok(list)
    })
}

fn hits(out: &mut Vec<u8>, list: &[ScoredPoint]) -> Result<(), WireError> {
    count(out, list.len(), "hits")?;
    list.iter().try_for_each(|h| {
        point_id(out, &h.id);
        out.extend_from_slice(&h.score.to_bits().to_be_bytes());
        opt(out, h.payload.as_ref(), value)?;
        opt(out, h.vector.as_ref(), |out, v| floats(out, v))
    })
}

fn read_hits(r: &mut FieldReader<'_>) -> Result<Vec<ScoredPoint>, WireError> {
    let n = read_count(r, MAX_FRAME, "hits")?;
    (0..n).try_fold(vec_for(n), |mut list, _| {
        list.push(ScoredPoint {
            id: read_point_id(r)?,
            score: f32::from_bits(r.u32()?),
            payload: read_opt(r, read_value)?,
            vector: read_opt(r, read_floats)?,
        });
        Ok(list)
    })
}

/// Appends a response.
pub(super) fn encode_response(
    out: &mut Vec<u8>,
    response: &VectorResponse,
) -> Result<(), WireError> {
    match response {
        VectorResponse::Info(info) => {
            out.push(0);
            size(out, info.points_count);
            size(out, info.indexed_vectors_count);
            size(out, info.deleted_count);
            config(out, &info.config);
        }
        VectorResponse::Names(names) => {
            out.push(1);
            count(out, names.len(), "names")?;
            names.iter().try_for_each(|n| name(out, n))?;
        }
        VectorResponse::Changed(n) => {
            out.push(2);
            size(out, *n);
        }
        VectorResponse::Hits(list) => {
            out.push(3);
            hits(out, list)?;
        }
        VectorResponse::HitLists(lists) => {
            out.push(4);
            count(out, lists.len(), "hit lists")?;
            lists.iter().try_for_each(|list| hits(out, list))?;
        }
        VectorResponse::Page(page) => {
            out.push(5);
            records(out, &page.records)?;
            opt(out, page.next.as_ref(), |out, id| {
                point_id(out, id);
                Ok(())
            })?;
        }
        VectorResponse::Point(rec) => {
            out.push(6);
            record(out, rec)?;
        }
        VectorResponse::Points(list) => {
            out.push(7);
            records(out, list)?;
        }
        VectorResponse::Count(n) => {
            out.push(8);
            size(out, *n);
        }
        VectorResponse::Dropped => out.push(9),
    }
    Ok(())
}

/// Reads a response (the caller checks nothing follows).
pub(super) fn decode_response(r: &mut FieldReader<'_>) -> Result<VectorResponse, WireError> {
    Ok(match r.u8()? {
        0 => VectorResponse::Info(CollectionInfo {
            points_count: read_size(r, "points_count")?,
            indexed_vectors_count: read_size(r, "indexed_vectors_count")?,
            deleted_count: read_size(r, "deleted_count")?,
            config: read_config(r)?,
        }),
        1 => {
            let n = read_count(r, MAX_FRAME, "names")?;
            VectorResponse::Names((0..n).try_fold(vec_for(n), |mut names, _| {
                names.push(r.short("collection name")?);
                Ok::<_, WireError>(names)
            })?)
        }
        2 => VectorResponse::Changed(read_size(r, "changed")?),
        3 => VectorResponse::Hits(read_hits(r)?),
        4 => {
            let n = read_count(r, MAX_FRAME, "hit lists")?;
            VectorResponse::HitLists((0..n).try_fold(vec_for(n), |mut lists, _| {
                lists.push(read_hits(r)?);
                Ok::<_, WireError>(lists)
            })?)
        }
        5 => VectorResponse::Page(ScrollPage {
            records: read_records(r)?,
            next: read_opt(r, read_point_id)?,
        }),
        6 => VectorResponse::Point(read_record(r)?),
        7 => VectorResponse::Points(read_records(r)?),
        8 => VectorResponse::Count(read_size(r, "count")?),
        9 => VectorResponse::Dropped,
        _ => return Err(WireError::Invalid("vector response kind")),
    })
}
