//! Filters in binary (the layout is in [`super`]'s documentation): exact, and checked on
//! arrival against the limits [`Filter::parse`] enforces.

use std::collections::HashSet;

use serde_json::Value;
use swarm_runtime::cluster::codec::{
    FieldReader, put_count, put_json, put_opt, put_size, put_text,
};
use swarm_runtime::cluster::wire::{MAX_FRAME, WireError};

use super::fields::{PREALLOC, point_id, read_point_id, vec_for};
use crate::vector::core::PointId;
use crate::vector::core::filter::{
    Condition, Filter, MAX_CONDITIONS, MAX_DEPTH, MAX_HAS_ID, MAX_KEY_BYTES, MAX_KEY_PARTS,
    MinShould, Range,
};

/// Appends a filter as laid out in the `wire` module documentation.
pub(super) fn filter(out: &mut Vec<u8>, f: &Filter) -> Result<(), WireError> {
    conditions(out, &f.must)?;
    conditions(out, &f.should)?;
    conditions(out, &f.must_not)?;
    put_opt(out, f.min_should.as_ref(), |out, m| {
        put_size(out, m.min_count);
        conditions(out, &m.conditions)
    })
}

fn conditions(out: &mut Vec<u8>, list: &[Condition]) -> Result<(), WireError> {
    put_count(out, list.len(), MAX_FRAME, "filter conditions")?;
    list.iter().try_for_each(|c| condition(out, c))
}

fn values(out: &mut Vec<u8>, key: &str, list: &[Value]) -> Result<(), WireError> {
    put_text(out, key, "filter key")?;
    put_count(out, list.len(), MAX_FRAME, "match values")?;
    list.iter()
        .try_for_each(|v| put_json(out, v, "match value"))
}

fn range(out: &mut Vec<u8>, key: &str, r: &Range) -> Result<(), WireError> {
    put_text(out, key, "filter key")?;
    for bound in [r.gt, r.gte, r.lt, r.lte] {
        put_opt(out, bound.as_ref(), |out, b| {
            out.extend_from_slice(&b.to_bits().to_be_bytes());
            Ok(())
        })?;
    }
    Ok(())
}

fn condition(out: &mut Vec<u8>, c: &Condition) -> Result<(), WireError> {
    match c {
        Condition::Match { key, any } => {
            out.push(0);
            values(out, key, any)
        }
        Condition::Except { key, except } => {
            out.push(1);
            values(out, key, except)
        }
        Condition::Text { key, text: t } => {
            out.push(2);
            put_text(out, key, "filter key")?;
            put_text(out, t, "match text")
        }
        Condition::Range { key, range: r } => {
            out.push(3);
            range(out, key, r)
        }
        Condition::ValuesCount { key, range: r } => {
            out.push(4);
            range(out, key, r)
        }
        Condition::HasId(ids) => {
            out.push(5);
            // In order, so one filter always has one encoding.
            let mut sorted: Vec<&PointId> = ids.iter().collect();
            sorted.sort();
            put_count(out, sorted.len(), MAX_FRAME, "has_id")?;
            sorted.into_iter().for_each(|id| point_id(out, id));
            Ok(())
        }
        Condition::HasVector(present) => {
            out.extend_from_slice(&[6, u8::from(*present)]);
            Ok(())
        }
        Condition::IsEmpty(key) => {
            out.push(7);
            put_text(out, key, "filter key")
        }
        Condition::IsNull(key) => {
            out.push(8);
            put_text(out, key, "filter key")
        }
        Condition::NestedArray { key, filter: f } => {
            out.push(9);
            put_text(out, key, "filter key")?;
            filter(out, f)
        }
        Condition::Nested(f) => {
            out.push(10);
            filter(out, f)
        }
    }
}

/// Reads a filter written by [`filter`], within the limits [`Filter::parse`] enforces.
pub(super) fn read_filter(r: &mut FieldReader<'_>) -> Result<Filter, WireError> {
    let mut budget = MAX_CONDITIONS;
    read_filter_at(r, 0, &mut budget)
}

fn read_filter_at(
    r: &mut FieldReader<'_>,
    depth: usize,
    budget: &mut usize,
) -> Result<Filter, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooLarge("filter depth"));
    }
    Ok(Filter {
        must: read_conditions(r, depth, budget)?,
        should: read_conditions(r, depth, budget)?,
        must_not: read_conditions(r, depth, budget)?,
        min_should: r.opt(|r| {
            let min_count = r.size("min_count")?;
            Ok(MinShould {
                conditions: read_conditions(r, depth, budget)?,
                min_count,
            })
        })?,
    })
}

fn read_conditions(
    r: &mut FieldReader<'_>,
    depth: usize,
    budget: &mut usize,
) -> Result<Vec<Condition>, WireError> {
    let n = r.count(*budget, "filter conditions")?;
    let mut list = Vec::with_capacity(n);
    for _ in 0..n {
        *budget = budget
            .checked_sub(1)
            .ok_or(WireError::TooLarge("filter conditions"))?;
        list.push(read_condition(r, depth, budget)?);
    }
    Ok(list)
}

fn read_key(r: &mut FieldReader<'_>) -> Result<String, WireError> {
    let key = r.text("filter key")?;
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.split('.').count() > MAX_KEY_PARTS {
        return Err(WireError::Invalid("filter key"));
    }
    Ok(key)
}

fn read_values(r: &mut FieldReader<'_>) -> Result<Vec<Value>, WireError> {
    let n = r.count(MAX_FRAME, "match values")?;
    let mut list = vec_for(n);
    for _ in 0..n {
        match r.json("match value")? {
            v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)) => list.push(v),
            _ => return Err(WireError::Invalid("match value")),
        }
    }
    Ok(list)
}

fn read_range(r: &mut FieldReader<'_>) -> Result<Range, WireError> {
    let mut bound = || {
        r.opt(|r| {
            Some(r.f64()?)
                .filter(|b| b.is_finite())
                .ok_or(WireError::Invalid("range bound"))
        })
    };
    let range = Range {
        gt: bound()?,
        gte: bound()?,
        lt: bound()?,
        lte: bound()?,
    };
    if range == Range::default() {
        return Err(WireError::Invalid("range without bounds"));
    }
    Ok(range)
}

fn read_condition(
    r: &mut FieldReader<'_>,
    depth: usize,
    budget: &mut usize,
) -> Result<Condition, WireError> {
    Ok(match r.u8()? {
        0 => Condition::Match {
            key: read_key(r)?,
            any: read_values(r)?,
        },
        1 => Condition::Except {
            key: read_key(r)?,
            except: read_values(r)?,
        },
        2 => Condition::Text {
            key: read_key(r)?,
            text: r.text("match text")?,
        },
        3 => Condition::Range {
            key: read_key(r)?,
            range: read_range(r)?,
        },
        4 => Condition::ValuesCount {
            key: read_key(r)?,
            range: read_range(r)?,
        },
        5 => {
            let n = r.count(MAX_HAS_ID, "has_id")?;
            let mut ids = HashSet::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                ids.insert(read_point_id(r)?);
            }
            Condition::HasId(ids)
        }
        6 => Condition::HasVector(r.flag("has_vector")?),
        7 => Condition::IsEmpty(read_key(r)?),
        8 => Condition::IsNull(read_key(r)?),
        9 => Condition::NestedArray {
            key: read_key(r)?,
            filter: Box::new(read_filter_at(r, depth + 1, budget)?),
        },
        10 => Condition::Nested(Box::new(read_filter_at(r, depth + 1, budget)?)),
        _ => return Err(WireError::Invalid("filter condition kind")),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn arrival_rechecks_filters_and_depth() {
        let decode = |f: &Filter| {
            let mut bytes = Vec::new();
            filter(&mut bytes, f).unwrap();
            read_filter(&mut FieldReader::new(&bytes))
        };
        let with = |c: Condition| Filter {
            must: vec![c],
            ..Filter::default()
        };
        let range = |range| Condition::Range {
            key: "k".into(),
            range,
        };
        let nan = Range {
            gt: Some(f64::NAN),
            ..Range::default()
        };
        assert!(decode(&with(range(nan))).is_err());
        assert!(decode(&with(range(Range::default()))).is_err());
        assert!(decode(&with(Condition::IsNull(String::new()))).is_err());
        let object = Condition::Match {
            key: "k".into(),
            any: vec![json!({})],
        };
        assert!(decode(&with(object)).is_err());
        let mut deep = Filter::default();
        for _ in 0..=MAX_DEPTH {
            deep = with(Condition::Nested(Box::new(deep)));
        }
        assert_eq!(decode(&deep), Err(WireError::TooLarge("filter depth")));
        let many = Filter {
            must: vec![Condition::HasVector(true); 1025],
            ..Filter::default()
        };
        assert!(decode(&many).is_err());
    }
}
