//! Reading points in id order (Qdrant's `scroll`) and changing their payloads in place
//! (the graph is untouched: payloads are not indexed).

use serde_json::Value;

use super::collection::{Record, ScoredPoint, SearchQuery};
use super::filter::Condition;
use super::payload::PayloadChange;
use super::{Collection, Filter, PointId, VectorError};

/// One page of a scroll.
#[derive(Debug, Clone, Default)]
pub struct ScrollQuery {
    /// The first id to return (inclusive); the smallest when absent.
    pub offset: Option<PointId>,
    /// Points wanted.
    pub limit: usize,
    /// Only points that pass.
    pub filter: Option<Filter>,
}

/// The points of one page and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrollPage {
    /// Points in id order (numbers before UUIDs, as in Qdrant).
    pub records: Vec<Record>,
    /// The id to pass as the next page's `offset`; `None` on the last page.
    pub next: Option<PointId>,
}

impl Collection {
    /// Up to `limit` live points passing the filter, from `offset` on, in id order.
    pub fn scroll(&self, q: &ScrollQuery) -> ScrollPage {
        let from = match q.offset {
            Some(id) => std::ops::Bound::Included(id),
            None => std::ops::Bound::Unbounded,
        };
        let mut passing = self
            .by_id
            .range((from, std::ops::Bound::Unbounded))
            .filter_map(|(_, &slot)| self.slots[slot].as_ref().map(|s| (slot, s)))
            .filter(|(_, s)| {
                q.filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&s.id, &s.payload))
            });
        let records = passing
            .by_ref()
            .take(q.limit)
            .map(|(slot, s)| Record {
                id: s.id,
                payload: s.payload.clone(),
                vector: self.vector(slot).to_vec(),
            })
            .collect();
        ScrollPage {
            records,
            next: passing.next().map(|(_, s)| s.id),
        }
    }

    /// The nearest points to the stored point `id` (which is left out), as Qdrant answers
    /// a query given as a point id.
    pub fn search_by_point(
        &self,
        id: &PointId,
        q: &SearchQuery,
    ) -> Result<Vec<ScoredPoint>, VectorError> {
        let slot = self
            .by_id
            .get(id)
            .copied()
            .ok_or_else(|| VectorError::NotFound(format!("no point with id {id}")))?;
        let mut itself = std::collections::HashSet::new();
        itself.insert(*id);
        let mut filter = Filter {
            must_not: vec![Condition::HasId(itself)],
            ..Filter::default()
        };
        if let Some(f) = &q.filter {
            filter.must.push(Condition::Nested(Box::new(f.clone())));
        }
        self.search(&SearchQuery {
            vector: self.vector(slot).to_vec(),
            filter: Some(filter),
            ..q.clone()
        })
    }

    /// The new payload of each of `ids` after `change`, before anything is written. Every
    /// id must exist (as in Qdrant): a missing one changes nothing and is named.
    pub fn payload_updates(
        &self,
        ids: &[PointId],
        change: &PayloadChange,
    ) -> Result<Vec<(PointId, Value)>, VectorError> {
        ids.iter()
            .map(|id| {
                let slot = self
                    .by_id
                    .get(id)
                    .and_then(|&slot| self.slots[slot].as_ref())
                    .ok_or_else(|| VectorError::NotFound(format!("no point with id {id}")))?;
                Ok((*id, change.apply(&slot.payload)))
            })
            .collect()
    }

    /// Replaces payloads that [`Self::payload_updates`] computed; returns how many points
    /// still existed.
    pub(crate) fn apply_payloads(&mut self, updates: Vec<(PointId, Value)>) -> usize {
        let mut n = 0;
        for (id, payload) in updates {
            let Some(&slot) = self.by_id.get(&id) else {
                continue;
            };
            if let Some(s) = self.slots[slot].as_mut() {
                s.payload = payload;
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::vector::core::{CollectionConfig, HnswParams, Metric, NewPoint};

    fn collection(n: u64) -> Collection {
        let mut c = Collection::new(CollectionConfig {
            dimension: 2,
            distance: Metric::Euclid,
            hnsw: HnswParams::default(),
        })
        .unwrap();
        // Inserted out of id order, with a UUID among them.
        let mut points: Vec<NewPoint> = (0..n)
            .rev()
            .map(|i| NewPoint {
                id: PointId::Num(i),
                vector: vec![i as f32, 1.0],
                payload: json!({ "even": i % 2 == 0 }),
            })
            .collect();
        points.push(NewPoint {
            id: PointId::Uuid(uuid::Uuid::from_u128(7)),
            vector: vec![0.5, 0.5],
            payload: json!({ "even": true }),
        });
        c.upsert(points).unwrap();
        c
    }

    fn ids(page: &ScrollPage) -> Vec<String> {
        page.records.iter().map(|r| r.id.to_string()).collect()
    }

    #[test]
    fn scroll_pages_through_every_point_once_in_id_order() {
        let mut c = collection(25);
        c.delete(&[PointId::Num(3)]);
        let mut seen = Vec::new();
        let mut offset = None;
        loop {
            let page = c.scroll(&ScrollQuery {
                offset,
                limit: 7,
                filter: None,
            });
            seen.extend(ids(&page));
            match page.next {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        let mut want: Vec<String> = (0..25).filter(|&i| i != 3).map(|i| i.to_string()).collect();
        want.push(uuid::Uuid::from_u128(7).to_string());
        assert_eq!(seen, want);
    }

    #[test]
    fn scroll_applies_the_filter_before_the_limit() {
        let c = collection(10);
        let even =
            Filter::parse(&json!({ "must": [{ "key": "even", "match": { "value": true } }] }))
                .unwrap();
        let page = c.scroll(&ScrollQuery {
            offset: Some(PointId::Num(3)),
            limit: 2,
            filter: Some(even),
        });
        assert_eq!(ids(&page), ["4", "6"]);
        assert_eq!(page.next, Some(PointId::Num(8)));
        assert_eq!(page.records[0].vector, vec![4.0, 1.0]);
    }

    #[test]
    fn a_search_by_point_uses_its_vector_and_leaves_it_out() {
        let c = collection(6);
        let q = SearchQuery {
            limit: 2,
            ..SearchQuery::default()
        };
        let hits = c.search_by_point(&PointId::Num(3), &q).unwrap();
        let mut ids: Vec<String> = hits.iter().map(|h| h.id.to_string()).collect();
        ids.sort();
        assert_eq!(ids, ["2", "4"]);
        assert!(c.search_by_point(&PointId::Num(99), &q).is_err());
    }

    #[test]
    fn payload_updates_name_a_missing_point_and_change_nothing() {
        let mut c = collection(3);
        let change = PayloadChange::Overwrite(json!({ "x": 1 }).as_object().unwrap().clone());
        let err = c
            .payload_updates(&[PointId::Num(1), PointId::Num(9)], &change)
            .unwrap_err();
        assert!(err.to_string().contains("no point with id 9"), "{err}");
        let updates = c.payload_updates(&[PointId::Num(1)], &change).unwrap();
        assert_eq!(c.apply_payloads(updates), 1);
        assert_eq!(c.get(&PointId::Num(1)).unwrap().payload, json!({ "x": 1 }));
        assert_eq!(
            c.get(&PointId::Num(2)).unwrap().payload,
            json!({ "even": true })
        );
    }
}
