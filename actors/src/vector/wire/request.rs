//! Requests: a `u8` tag per variant, then its fields (the layout is in [`super`]'s
//! documentation).

use swarm_runtime::cluster::codec::FieldReader;
use swarm_runtime::cluster::wire::{MAX_FRAME, WireError};

use super::fields::{
    config, count, floats, ids, name, object, opt, point_id, read_config, read_count, read_floats,
    read_ids, read_object, read_opt, read_point_id, read_size, read_text, read_value, size, text,
    value, vec_for,
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
    size(out, q.limit);
    size(out, q.offset);
    opt(out, q.filter.as_ref(), filter)?;
    opt(out, q.score_threshold.as_ref(), |out, t| {
        out.extend_from_slice(&t.to_bits().to_be_bytes());
        Ok(())
    })?;
    opt(out, q.ef.as_ref(), |out, ef| {
        size(out, *ef);
        Ok(())
    })?;
    out.push(u8::from(q.exact) | u8::from(q.with_payload) << 1 | u8::from(q.with_vector) << 2);
    Ok(())
}

fn read_query(r: &mut FieldReader<'_>) -> Result<SearchQuery, WireError> {
    let mut q = SearchQuery {
        vector: read_floats(r)?,
        limit: read_size(r, "limit")?,
        offset: read_size(r, "offset")?,
        filter: read_opt(r, read_filter)?,
        score_threshold: read_opt(r, |r| r.u32().map(f32::from_bits))?,
        ef: read_opt(r, |r| read_size(r, "ef"))?,
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
            object(out, payload)?;
            opt(out, key.as_ref(), |out, k| text(out, k, "payload key"))
        }
        PayloadChange::Overwrite(payload) => {
            out.push(1);
            object(out, payload)
        }
        PayloadChange::Delete(keys) => {
            out.push(2);
            count(out, keys.len(), "payload keys")?;
            keys.iter().try_for_each(|k| text(out, k, "payload key"))
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
            payload: read_object(r)?,
            key: read_opt(r, |r| read_text(r, "payload key"))?,
        },
        1 => PayloadChange::Overwrite(read_object(r)?),
        2 => {
            let n = read_count(r, MAX_FRAME, "payload keys")?;
            PayloadChange::Delete((0..n).try_fold(vec_for(n), |mut keys, _| {
                keys.push(read_text(r, "payload key")?);
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
            count(out, points.len(), "points")?;
            for p in points {
                point_id(out, &p.id);
                match &p.vector {
                    VectorInput::Vector(v) => {
                        out.push(0);
                        floats(out, v)?;
                    }
                    VectorInput::Text(t) => {
                        out.push(1);
                        text(out, t, "point text")?;
                    }
                }
                value(out, &p.payload)?;
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
            opt(out, t.as_ref(), |out, t| text(out, t, "search text"))?;
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
            count(out, searches.len(), "searches")?;
            for (q, near) in searches {
                query(out, q)?;
                match near {
                    Near::Vector => out.push(0),
                    Near::Text(t) => {
                        out.push(1);
                        text(out, t, "search text")?;
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
            opt(out, q.offset.as_ref(), |out, id| {
                point_id(out, id);
                Ok(())
            })?;
            size(out, q.limit);
            opt(out, q.filter.as_ref(), filter)?;
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
            opt(out, f.as_ref(), filter)?;
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
            let n = read_count(r, MAX_FRAME, "points")?;
            let mut points = vec_for(n);
            for _ in 0..n {
                points.push(PointInput {
                    id: read_point_id(r)?,
                    vector: match r.u8()? {
                        0 => VectorInput::Vector(read_floats(r)?),
                        1 => VectorInput::Text(read_text(r, "point text")?),
                        _ => return Err(WireError::Invalid("point vector kind")),
                    },
                    payload: read_value(r)?,
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
            text: read_opt(r, |r| read_text(r, "search text"))?,
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
            let n = read_count(r, MAX_FRAME, "searches")?;
            let mut searches = vec_for(n);
            for _ in 0..n {
                let q = read_query(r)?;
                let near = match r.u8()? {
                    0 => Near::Vector,
                    1 => Near::Text(read_text(r, "search text")?),
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
                offset: read_opt(r, read_point_id)?,
                limit: read_size(r, "limit")?,
                filter: read_opt(r, read_filter)?,
            },
        },
        11 => VectorRequest::ChangePayload {
            name,
            selector: read_selector(r)?,
            change: read_change(r)?,
        },
        12 => VectorRequest::Count {
            name,
            filter: read_opt(r, read_filter)?,
        },
        _ => return Err(WireError::Invalid("vector request kind")),
    })
}
