//! Responses: a `u8` tag per variant, then its fields (the layout is in [`super`]'s
//! documentation).

use swarm_runtime::cluster::codec::{FieldReader, put_count, put_json, put_opt, put_size};
use swarm_runtime::cluster::wire::{MAX_FRAME, WireError};

use super::fields::{
    config, floats, name, point_id, read_config, read_floats, read_point_id, vec_for,
};
use crate::vector::core::{CollectionInfo, Record, ScoredPoint, ScrollPage};
use crate::vector::messages::VectorResponse;

fn record(out: &mut Vec<u8>, rec: &Record) -> Result<(), WireError> {
    point_id(out, &rec.id);
    put_json(out, &rec.payload, "payload")?;
    floats(out, &rec.vector)
}

fn read_record(r: &mut FieldReader<'_>) -> Result<Record, WireError> {
    Ok(Record {
        id: read_point_id(r)?,
        payload: r.json("payload")?,
        vector: read_floats(r)?,
    })
}

fn records(out: &mut Vec<u8>, list: &[Record]) -> Result<(), WireError> {
    put_count(out, list.len(), MAX_FRAME, "records")?;
    list.iter().try_for_each(|rec| record(out, rec))
}

fn read_records(r: &mut FieldReader<'_>) -> Result<Vec<Record>, WireError> {
    let n = r.count(MAX_FRAME, "records")?;
    (0..n).try_fold(vec_for(n), |mut list, _| {
        list.push(read_record(r)?);
        Ok(list)
    })
}

fn hits(out: &mut Vec<u8>, list: &[ScoredPoint]) -> Result<(), WireError> {
    put_count(out, list.len(), MAX_FRAME, "hits")?;
    list.iter().try_for_each(|h| {
        point_id(out, &h.id);
        out.extend_from_slice(&h.score.to_bits().to_be_bytes());
        put_opt(out, h.payload.as_ref(), |out, v| {
            put_json(out, v, "payload")
        })?;
        put_opt(out, h.vector.as_ref(), |out, v| floats(out, v))
    })
}

fn read_hits(r: &mut FieldReader<'_>) -> Result<Vec<ScoredPoint>, WireError> {
    let n = r.count(MAX_FRAME, "hits")?;
    (0..n).try_fold(vec_for(n), |mut list, _| {
        list.push(ScoredPoint {
            id: read_point_id(r)?,
            score: f32::from_bits(r.u32()?),
            payload: r.opt(|r| r.json("payload"))?,
            vector: r.opt(read_floats)?,
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
            put_size(out, info.points_count);
            put_size(out, info.indexed_vectors_count);
            put_size(out, info.deleted_count);
            config(out, &info.config);
        }
        VectorResponse::Names(names) => {
            out.push(1);
            put_count(out, names.len(), MAX_FRAME, "names")?;
            names.iter().try_for_each(|n| name(out, n))?;
        }
        VectorResponse::Changed(n) => {
            out.push(2);
            put_size(out, *n);
        }
        VectorResponse::Hits(list) => {
            out.push(3);
            hits(out, list)?;
        }
        VectorResponse::HitLists(lists) => {
            out.push(4);
            put_count(out, lists.len(), MAX_FRAME, "hit lists")?;
            lists.iter().try_for_each(|list| hits(out, list))?;
        }
        VectorResponse::Page(page) => {
            out.push(5);
            records(out, &page.records)?;
            put_opt(out, page.next.as_ref(), |out, id| {
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
            put_size(out, *n);
        }
        VectorResponse::Dropped => out.push(9),
    }
    Ok(())
}

/// Reads a response (the caller checks nothing follows).
pub(super) fn decode_response(r: &mut FieldReader<'_>) -> Result<VectorResponse, WireError> {
    Ok(match r.u8()? {
        0 => VectorResponse::Info(CollectionInfo {
            points_count: r.size("points_count")?,
            indexed_vectors_count: r.size("indexed_vectors_count")?,
            deleted_count: r.size("deleted_count")?,
            config: read_config(r)?,
        }),
        1 => {
            let n = r.count(MAX_FRAME, "names")?;
            VectorResponse::Names((0..n).try_fold(vec_for(n), |mut names, _| {
                names.push(r.short("collection name")?);
                Ok::<_, WireError>(names)
            })?)
        }
        2 => VectorResponse::Changed(r.size("changed")?),
        3 => VectorResponse::Hits(read_hits(r)?),
        4 => {
            let n = r.count(MAX_FRAME, "hit lists")?;
            VectorResponse::HitLists((0..n).try_fold(vec_for(n), |mut lists, _| {
                lists.push(read_hits(r)?);
                Ok::<_, WireError>(lists)
            })?)
        }
        5 => VectorResponse::Page(ScrollPage {
            records: read_records(r)?,
            next: r.opt(read_point_id)?,
        }),
        6 => VectorResponse::Point(read_record(r)?),
        7 => VectorResponse::Points(read_records(r)?),
        8 => VectorResponse::Count(r.size("count")?),
        9 => VectorResponse::Dropped,
        _ => return Err(WireError::Invalid("vector response kind")),
    })
}
