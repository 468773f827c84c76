//! Requests: a `u8` tag per variant, then its fields (the layout is in [`super`]'s
//! documentation).

use swarm_runtime::cluster::codec::{
    FieldReader, put_count, put_json, put_json_object, put_opt, put_size, put_text,
};
use swarm_runtime::cluster::wire::{MAX_FRAME, WireError};

use super::fields::{
    config, floats, ids, name, point_id, read_config, read_floats, read_ids, read_point_id, vec_for,
};
use super::filter::{filter, read_filter};
use crate::vector::core::{PayloadChange, ScrollQuery, SearchQuery};
use crate::vector::messages::{Near, PointInput, PointSelector, VectorInput, VectorRequest};

fn selector(out: &mut Vec<u8>, s: &PointSelector) -> Result<(), WireError> {
    match s {
        PointSelector::Ids(list) => {
            out.push(0);
            ids(out, list)
        }
        PointSelector::Filter(f) => {
            out.push(1);
            filter(out, f)
        }
    }
}

fn read_selector(r: &mut FieldReader<'_>) -> Result<PointSelector, WireError> {
    match r.u8()? {
        0 => read_ids(r).map(PointSelector::Ids),
        1 => read_filter(r).map(PointSelector::Filter),
        _ => Err(WireError::Invalid("point selector kind")),
    }
}

fn query(out: &mut Vec<u8>, q: &SearchQuery) -> Result<(), WireError> {
    floats(out, &q.vector)?;
    put_size(out, q.limit);
    put_size(out, q.offset);
    put_opt(out, q.filter.as_ref(), filter)?;
    put_opt(out, q.score_threshold.as_ref(), |out, t| {
        out.extend_from_slice(&t.to_bits().to_be_bytes());
        Ok(())
    })?;
    put_opt(out, q.ef.as_ref(), |out, ef| {
        put_size(out, *ef);
        Ok(())
    })?;
    out.push(u8::from(q.exact) | u8::from(q.with_payload) << 1 | u8::from(q.with_vector) << 2);
    Ok(())
}

fn read_query(r: &mut FieldReader<'_>) -> Result<SearchQuery, WireError> {
    let mut q = SearchQuery {
        vector: read_floats(r)?,
        limit: r.size("limit")?,
        offset: r.size("offset")?,
        filter: r.opt(read_filter)?,
        score_threshold: r.opt(|r| r.u32().map(f32::from_bits))?,
        ef: r.opt(|r| r.size("ef"))?,
        ..SearchQuery::default()
    };
    let flags = r.u8()?;
    if flags > 7 {
        return Err(WireError::Invalid("search flags"));
    }
    (q.exact, q.with_payload, q.with_vector) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
    Ok(q)
}

fn change(out: &mut Vec<u8>, c: &PayloadChange) -> Result<(), WireError> {
    match c {
        PayloadChange::Set { payload, key } => {
            out.push(0);
            put_json_object(out, payload, "payload")?;
            put_opt(out, key.as_ref(), |out, k| put_text(out, k, "payload key"))
        }
        PayloadChange::Overwrite(payload) => {
            out.push(1);
            put_json_object(out, payload, "payload")
        }
        PayloadChange::Delete(keys) => {
            out.push(2);
            put_count(out, keys.len(), MAX_FRAME, "payload keys")?;
            keys.iter()
                .try_for_each(|k| put_text(out, k, "payload key"))
        }
        PayloadChange::Clear => {
            out.push(3);
            Ok(())
        }
    }
}

fn read_change(r: &mut FieldReader<'_>) -> Result<PayloadChange, WireError> {
    Ok(match r.u8()? {
        0 => PayloadChange::Set {
            payload: r.json_object("payload")?,
            key: r.opt(|r| r.text("payload key"))?,
        },
        1 => PayloadChange::Overwrite(r.json_object("payload")?),
        2 => {
            let n = r.count(MAX_FRAME, "payload keys")?;
            PayloadChange::Delete((0..n).try_fold(vec_for(n), |mut keys, _| {
                keys.push(r.text("payload key")?);
                Ok::<_, WireError>(keys)
            })?)
        }
        3 => PayloadChange::Clear,
        _ => return Err(WireError::Invalid("payload change kind")),
    })
}

/// Appends a request.
pub(super) fn encode_request(out: &mut Vec<u8>, request: &VectorRequest) -> Result<(), WireError> {
    match request {
        VectorRequest::Create { name: n, config: c } => {
            out.push(0);
            name(out, n)?;
            config(out, c);
        }
        VectorRequest::Drop { name: n } => {
            out.push(1);
            name(out, n)?;
        }
        VectorRequest::Info { name: n } => {
            out.push(2);
            name(out, n)?;
        }
        VectorRequest::List => out.push(3),
        VectorRequest::Upsert { name: n, points } => {
            out.push(4);
            name(out, n)?;
            put_count(out, points.len(), MAX_FRAME, "points")?;
            for p in points {
                point_id(out, &p.id);
                match &p.vector {
                    VectorInput::Vector(v) => {
                        out.push(0);
                        floats(out, v)?;
                    }
                    VectorInput::Text(t) => {
                        out.push(1);
                        put_text(out, t, "point text")?;
                    }
                }
                put_json(out, &p.payload, "payload")?;
            }
        }
        VectorRequest::Delete {
            name: n,
            selector: s,
        } => {
            out.push(5);
            name(out, n)?;
            selector(out, s)?;
        }
        VectorRequest::Search {
            name: n,
            query: q,
            text: t,
        } => {
            out.push(6);
            name(out, n)?;
            query(out, q)?;
            put_opt(out, t.as_ref(), |out, t| put_text(out, t, "search text"))?;
        }
        VectorRequest::Get { name: n, id } => {
            out.push(7);
            name(out, n)?;
            point_id(out, id);
        }
        VectorRequest::Retrieve { name: n, ids: list } => {
            out.push(8);
            name(out, n)?;
            ids(out, list)?;
        }
        VectorRequest::SearchBatch { name: n, searches } => {
            out.push(9);
            name(out, n)?;
            put_count(out, searches.len(), MAX_FRAME, "searches")?;
            for (q, near) in searches {
                query(out, q)?;
                match near {
                    Near::Vector => out.push(0),
                    Near::Text(t) => {
                        out.push(1);
                        put_text(out, t, "search text")?;
                    }
                    Near::Point(id) => {
                        out.push(2);
                        point_id(out, id);
                    }
                }
            }
        }
        VectorRequest::Scroll { name: n, query: q } => {
            out.push(10);
            name(out, n)?;
            put_opt(out, q.offset.as_ref(), |out, id| {
                point_id(out, id);
                Ok(())
            })?;
            put_size(out, q.limit);
            put_opt(out, q.filter.as_ref(), filter)?;
        }
        VectorRequest::ChangePayload {
            name: n,
            selector: s,
            change: c,
        } => {
            out.push(11);
            name(out, n)?;
            selector(out, s)?;
            change(out, c)?;
        }
        VectorRequest::Count { name: n, filter: f } => {
            out.push(12);
            name(out, n)?;
            put_opt(out, f.as_ref(), filter)?;
        }
    }
    Ok(())
}

/// Reads a request (the caller checks nothing follows).
pub(super) fn decode_request(r: &mut FieldReader<'_>) -> Result<VectorRequest, WireError> {
    let tag = r.u8()?;
    match tag {
        3 => return Ok(VectorRequest::List),
        13.. => return Err(WireError::Invalid("vector request kind")),
        _ => {}
    }
    let name = r.short("collection name")?;
    Ok(match tag {
        0 => VectorRequest::Create {
            name,
            config: read_config(r)?,
        },
        1 => VectorRequest::Drop { name },
        2 => VectorRequest::Info { name },
        4 => {
            let n = r.count(MAX_FRAME, "points")?;
            let mut points = vec_for(n);
            for _ in 0..n {
                points.push(PointInput {
                    id: read_point_id(r)?,
                    vector: match r.u8()? {
                        0 => VectorInput::Vector(read_floats(r)?),
                        1 => VectorInput::Text(r.text("point text")?),
                        _ => return Err(WireError::Invalid("point vector kind")),
                    },
                    payload: r.json("payload")?,
                });
            }
            VectorRequest::Upsert { name, points }
        }
        5 => VectorRequest::Delete {
            name,
            selector: read_selector(r)?,
        },
        6 => VectorRequest::Search {
            name,
            query: Box::new(read_query(r)?),
            text: r.opt(|r| r.text("search text"))?,
        },
        7 => VectorRequest::Get {
            name,
            id: read_point_id(r)?,
        },
        8 => VectorRequest::Retrieve {
            name,
            ids: read_ids(r)?,
        },
        9 => {
            let n = r.count(MAX_FRAME, "searches")?;
            let mut searches = vec_for(n);
            for _ in 0..n {
                let q = read_query(r)?;
                let near = match r.u8()? {
                    0 => Near::Vector,
                    1 => Near::Text(r.text("search text")?),
                    2 => Near::Point(read_point_id(r)?),
                    _ => return Err(WireError::Invalid("search near kind")),
                };
                searches.push((q, near));
            }
            VectorRequest::SearchBatch { name, searches }
        }
        10 => VectorRequest::Scroll {
            name,
            query: ScrollQuery {
                offset: r.opt(read_point_id)?,
                limit: r.size("limit")?,
                filter: r.opt(read_filter)?,
            },
        },
        11 => VectorRequest::ChangePayload {
            name,
            selector: read_selector(r)?,
            change: read_change(r)?,
        },
        12 => VectorRequest::Count {
            name,
            filter: r.opt(read_filter)?,
        },
        _ => return Err(WireError::Invalid("vector request kind")),
    })
}
