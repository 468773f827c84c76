//! Vector-search core: recall against an exact scan computed here in f64, scores against
//! their definitions, filters, deletions and compaction.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::vector_data;

use serde_json::json;
use swarm_actors::vector::core::{
    Collection, CollectionConfig, Filter, HnswParams, Metric, NewPoint, PointId, SearchQuery,
};
use vector_data::{brute_force, clustered, config};

fn points(vectors: &[Vec<f32>]) -> Vec<NewPoint> {
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| NewPoint {
            id: PointId::Num(i as u64),
            vector: v.clone(),
            payload: json!({ "group": i % 5, "price": i, "tags": if i % 2 == 0 { json!(["even"]) } else { json!(["odd"]) } }),
        })
        .collect()
}

fn query(v: &[f32], limit: usize) -> SearchQuery {
    SearchQuery {
        vector: v.to_vec(),
        limit,
        ..SearchQuery::default()
    }
}

fn ids(hits: &[swarm_actors::vector::core::ScoredPoint]) -> Vec<u64> {
    hits.iter()
        .map(|h| match h.id {
            PointId::Num(n) => n,
            PointId::Uuid(_) => panic!("numeric ids only here"),
        })
        .collect()
}

fn recall(c: &Collection, data: &[Vec<f32>], queries: &[Vec<f32>], metric: Metric) -> f64 {
    let mut found = 0;
    for q in queries {
        let truth = brute_force(data, q, metric, 10, |_| true);
        let got = ids(&c.search(&query(q, 10)).unwrap());
        found += got
            .iter()
            .filter(|id| truth.contains(&(**id as usize)))
            .count();
    }
    found as f64 / (10 * queries.len()) as f64
}

#[test]
fn recall_at_10_against_an_exact_scan_for_every_metric() {
    let (data, queries) = clustered(4_000, 64, 40, 50, 7);
    for metric in [Metric::Cosine, Metric::Dot, Metric::Euclid] {
        let mut c = Collection::new(config(64, metric)).unwrap();
        c.upsert(points(&data)).unwrap();
        let r = recall(&c, &data, &queries, metric);
        assert!(r >= 0.95, "{metric:?} recall@10 = {r}");
    }
}

#[test]
fn scores_follow_each_metrics_definition() {
    let a = vec![3.0f32, 4.0, 0.0];
    let b = vec![-1.0f32, 2.0, 2.0];
    let expect = [
        (Metric::Cosine, (-3.0 + 4.0 * 2.0) / (5.0 * 3.0)),
        (Metric::Dot, 5.0f32),
        (Metric::Euclid, (16.0f32 + 4.0 + 4.0).sqrt()),
    ];
    for (metric, want) in expect {
        let mut c = Collection::new(config(3, metric)).unwrap();
        c.upsert(vec![NewPoint {
            id: PointId::Num(1),
            vector: b.clone(),
            payload: json!(null),
        }])
        .unwrap();
        let hits = c.search(&query(&a, 1)).unwrap();
        assert!(
            (hits[0].score - want).abs() < 1e-5,
            "{metric:?}: {} vs {want}",
            hits[0].score
        );
        // The threshold is a floor for similarities and a ceiling for distances.
        let mut q = query(&a, 1);
        q.score_threshold = Some(if metric == Metric::Euclid {
            want - 0.01
        } else {
            want + 0.01
        });
        assert!(c.search(&q).unwrap().is_empty(), "{metric:?} threshold");
    }
}

#[test]
fn inner_product_search_ranks_by_dot_even_when_negative() {
    let mut c = Collection::new(config(2, Metric::Dot)).unwrap();
    let vs = [[1.0f32, 0.0], [10.0, 0.0], [-5.0, 0.0], [0.0, 1.0]];
    c.upsert(
        vs.iter()
            .enumerate()
            .map(|(i, v)| NewPoint {
                id: PointId::Num(i as u64),
                vector: v.to_vec(),
                payload: json!(null),
            })
            .collect(),
    )
    .unwrap();
    let hits = c.search(&query(&[-1.0, 0.0], 4)).unwrap();
    assert_eq!(ids(&hits), vec![2, 3, 0, 1]);
    assert_eq!(hits[0].score, 5.0);
}

#[test]
fn filtered_search_returns_only_matching_points_and_finds_the_true_neighbours() {
    let (data, queries) = clustered(3_000, 32, 30, 30, 11);
    let mut c = Collection::new(config(32, Metric::Cosine)).unwrap();
    c.upsert(points(&data)).unwrap();
    let filter = Filter::parse(&json!({
        "must": [{ "key": "group", "match": { "any": [1, 3] } }],
        "must_not": [{ "key": "price", "range": { "lt": 500 } }],
    }))
    .unwrap();
    let pass = |i: usize| (i % 5 == 1 || i % 5 == 3) && i >= 500;
    let mut found = 0;
    for q in &queries {
        let mut sq = query(q, 10);
        sq.filter = Some(filter.clone());
        sq.with_payload = true;
        let hits = c.search(&sq).unwrap();
        assert_eq!(hits.len(), 10);
        for h in &hits {
            let p = h.payload.as_ref().unwrap();
            let (g, price) = (p["group"].as_u64().unwrap(), p["price"].as_u64().unwrap());
            assert!((g == 1 || g == 3) && price >= 500, "{p}");
        }
        let truth = brute_force(&data, q, Metric::Cosine, 10, pass);
        found += ids(&hits)
            .iter()
            .filter(|id| truth.contains(&(**id as usize)))
            .count();
    }
    let r = found as f64 / (10 * queries.len()) as f64;
    assert!(r >= 0.95, "filtered recall@10 = {r}");
}

#[test]
fn a_filter_matching_few_points_still_returns_all_of_them() {
    let (data, queries) = clustered(2_000, 16, 20, 5, 3);
    let mut c = Collection::new(config(16, Metric::Euclid)).unwrap();
    c.upsert(points(&data)).unwrap();
    let filter = Filter::parse(&json!({ "should": [
        { "key": "price", "range": { "gte": 1234, "lte": 1235 } },
        { "has_id": [7] },
    ] }))
    .unwrap();
    for q in &queries {
        let mut sq = query(q, 10);
        sq.filter = Some(filter.clone());
        let mut got = ids(&c.search(&sq).unwrap());
        got.sort();
        assert_eq!(got, vec![7, 1234, 1235]);
    }
    assert_eq!(c.count(Some(&filter)), 3);
    let tags =
        Filter::parse(&json!({ "must": { "key": "tags", "match": { "value": "even" } } })).unwrap();
    assert_eq!(c.count(Some(&tags)), 1_000);
}

#[test]
fn bad_filters_name_the_offending_path() {
    let cases = [
        (
            json!({ "must": [{ "key": "a", "range": { "gt": "x" } }] }),
            "filter.must[0].range.gt",
        ),
        (json!({ "must": [{ "key": "a" }] }), "filter.must[0]"),
        (json!({ "shall": [] }), "unknown key `shall`"),
        (
            json!({ "should": [{ "key": "a", "match": { "value": [1] } }] }),
            "filter.should[0].match.value",
        ),
        (json!([1]), "must be an object"),
    ];
    for (f, want) in cases {
        let err = Filter::parse(&f).unwrap_err();
        assert!(err.contains(want), "{err} lacks {want}");
    }
}

#[test]
fn deleted_and_replaced_points_never_return_and_compaction_clears_tombstones() {
    let (data, queries) = clustered(2_000, 32, 20, 20, 5);
    let mut c = Collection::new(config(32, Metric::Cosine)).unwrap();
    c.upsert(points(&data)).unwrap();
    // Delete a tenth: below the compaction threshold, so tombstones stay in the graph.
    let gone: Vec<PointId> = (0..2_000)
        .filter(|i| i % 10 == 0)
        .map(PointId::Num)
        .collect();
    assert_eq!(c.delete(&gone), 200);
    assert_eq!(c.info().deleted_count, 200);
    for q in &queries {
        let hits = c.search(&query(q, 50)).unwrap();
        assert_eq!(hits.len(), 50);
        assert!(ids(&hits).iter().all(|id| id % 10 != 0));
    }
    // Replacing point 1 with point 999's vector: the old vector no longer finds it.
    c.upsert(vec![NewPoint {
        id: PointId::Num(1),
        vector: data[999].clone(),
        payload: json!({ "moved": true }),
    }])
    .unwrap();
    let hits = c.search(&query(&data[999], 2)).unwrap();
    assert_eq!(
        {
            let mut v = ids(&hits);
            v.sort();
            v
        },
        vec![1, 999]
    );
    assert_eq!(
        c.get(&PointId::Num(1)).unwrap().payload,
        json!({ "moved": true })
    );
    // More deletions pass a fifth of the graph: the collection asks to be rebuilt.
    let more: Vec<PointId> = (0..2_000u64)
        .filter(|i| (i % 10 == 1 || i % 10 == 2) && *i != 1)
        .map(PointId::Num)
        .collect();
    c.delete(&more);
    assert!(c.needs_compaction());
    c.compact();
    let info = c.info();
    assert_eq!(
        (
            info.points_count,
            info.deleted_count,
            info.indexed_vectors_count
        ),
        (1_401, 0, 1_401)
    );
    let live: Vec<(u64, Vec<f32>)> = std::iter::once((1, data[999].clone()))
        .chain(
            (0..2_000u64)
                .filter(|i| i % 10 >= 3)
                .map(|i| (i, data[i as usize].clone())),
        )
        .collect();
    let vectors: Vec<Vec<f32>> = live.iter().map(|(_, v)| v.clone()).collect();
    for q in &queries {
        let truth: Vec<u64> = brute_force(&vectors, q, Metric::Cosine, 10, |_| true)
            .into_iter()
            .map(|i| live[i].0)
            .collect();
        // Every query must reach 9 of 10, so the walk gets a wide beam: at the default 64,
        // about 1 run in 30 drew a parallel build (rayon order) where one query got 8.
        let wide = SearchQuery {
            ef: Some(200),
            ..query(q, 10)
        };
        let got = ids(&c.search(&wide).unwrap());
        let overlap = got.iter().filter(|id| truth.contains(id)).count();
        assert!(overlap >= 9, "after compaction: {overlap}/10");
    }
}

#[test]
fn bad_vectors_are_refused_and_change_nothing() {
    let mut c = Collection::new(config(3, Metric::Cosine)).unwrap();
    let ok = NewPoint {
        id: PointId::Num(1),
        vector: vec![1.0, 0.0, 0.0],
        payload: json!(null),
    };
    let cases = [
        (vec![1.0, 0.0], "dimension 2"),
        (vec![f32::NAN, 0.0, 0.0], "not a finite number"),
        (vec![f32::INFINITY, 0.0, 0.0], "not a finite number"),
        (vec![0.0, 0.0, 0.0], "zero vector"),
    ];
    for (v, want) in cases {
        let bad = NewPoint {
            id: PointId::Num(2),
            vector: v,
            payload: json!(null),
        };
        let err = c.upsert(vec![ok.clone(), bad]).unwrap_err().to_string();
        assert!(err.contains("points[1]") && err.contains(want), "{err}");
        assert_eq!(c.info().points_count, 0);
    }
    let err = c
        .search(&query(&[1.0, f32::NAN, 0.0], 3))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a finite number"), "{err}");
    let bad = CollectionConfig {
        hnsw: HnswParams {
            m: 1,
            ..HnswParams::default()
        },
        ..config(3, Metric::Dot)
    };
    assert!(Collection::new(bad).is_err());
}

#[test]
fn uuid_ids_round_trip() {
    let mut c = Collection::new(config(2, Metric::Euclid)).unwrap();
    let id = PointId::from_json(&json!("5C56C793-69F3-4FBF-87E6-C4BF54C28C26")).unwrap();
    c.upsert(vec![NewPoint {
        id,
        vector: vec![1.0, 2.0],
        payload: json!({ "k": "v" }),
    }])
    .unwrap();
    let rec = c.get(&id).unwrap();
    assert_eq!(
        serde_json::to_value(rec.id).unwrap(),
        json!("5c56c793-69f3-4fbf-87e6-c4bf54c28c26")
    );
    assert!(PointId::from_json(&json!(-1)).is_err());
    assert!(PointId::from_json(&json!("not-a-uuid")).is_err());
}

#[test]
fn points_written_a_few_at_a_time_are_all_searchable() {
    // Batches of 7 are each linked into a graph that is already walked (no parallel batch),
    // as one-point writes are; the last batch must be found at once.
    let (data, queries) = clustered(3_000, 64, 30, 50, 11);
    let mut c = Collection::new(config(64, Metric::Cosine)).unwrap();
    let all = points(&data);
    for batch in all.chunks(7) {
        c.upsert(batch.to_vec()).unwrap();
    }
    let r = recall(&c, &data, &queries, Metric::Cosine);
    assert!(r >= 0.95, "recall@10 = {r}");
    let self_found = (0..data.len())
        .filter(|&i| ids(&c.search(&query(&data[i], 1)).unwrap()) == vec![i as u64])
        .count();
    assert!(
        self_found * 1000 >= data.len() * 995,
        "{self_found} of {} points found as their own nearest",
        data.len()
    );
    for (i, v) in data.iter().enumerate().skip(data.len() - 7) {
        assert_eq!(ids(&c.search(&query(v, 1)).unwrap()), vec![i as u64]);
    }
}

#[test]
fn vectors_whose_scores_could_overflow_are_refused_and_scores_stay_finite_and_ordered() {
    for metric in [Metric::Dot, Metric::Euclid] {
        let mut c = Collection::new(config(2, metric)).unwrap();
        let near_max = NewPoint {
            id: PointId::Num(9),
            vector: vec![f32::MAX / 2.0, 0.0],
            payload: json!(null),
        };
        let err = c.upsert(vec![near_max]).unwrap_err().to_string();
        assert!(err.contains("too large"), "{metric:?}: {err}");
        // Large but allowed: |v|² = 8.1e37 ≤ f32::MAX / 4.
        let big = 9.0e18f32;
        c.upsert(points(&[
            vec![big, 0.0],
            vec![-big, 0.0],
            vec![0.0, big],
            vec![1.0, 1.0],
        ]))
        .unwrap();
        for exact in [false, true] {
            let q = SearchQuery {
                exact,
                ..query(&[big / 2.0, big / 4.0], 4)
            };
            let hits = c.search(&q).unwrap();
            assert_eq!(hits.len(), 4, "{metric:?}");
            assert!(
                hits.iter().all(|h| h.score.is_finite()),
                "{metric:?} {hits:?}"
            );
            let scores: Vec<f32> = hits.iter().map(|h| h.score).collect();
            let mut sorted = scores.clone();
            sorted.sort_by(|a, b| metric.order(*a, *b));
            assert_eq!(scores, sorted, "{metric:?}");
        }
        let too_big_query = query(&[f32::MAX, 0.0], 1);
        assert!(c.search(&too_big_query).is_err(), "{metric:?}");
    }
}

#[test]
fn filters_are_bounded_before_any_point_is_scanned() {
    use swarm_actors::vector::core::Filter;
    let long_key = vec!["a"; 100_000].join(".");
    let err = Filter::parse(&json!({ "must": [{ "key": long_key, "match": { "value": 1 } }] }))
        .unwrap_err();
    assert!(
        err.starts_with("filter.must[0].key: a key is at most"),
        "{err}"
    );
    let too_many: Vec<u64> = (0..10_001).collect();
    let err = Filter::parse(&json!({ "must": [{ "has_id": too_many }] })).unwrap_err();
    assert_eq!(err, "filter.must[0].has_id: at most 10000 ids, got 10001");
    let mut deep = json!({ "must": [{ "key": "a", "match": { "value": 1 } }] });
    for _ in 0..20 {
        deep = json!({ "must": [deep] });
    }
    assert!(
        Filter::parse(&deep)
            .unwrap_err()
            .contains("nest at most 16 deep")
    );
    let many: Vec<_> = (0..1_025)
        .map(|_| json!({ "key": "a", "match": { "value": 1 } }))
        .collect();
    assert!(
        Filter::parse(&json!({ "should": many }))
            .unwrap_err()
            .contains("at most 1024 conditions")
    );
    // Within the bounds, has_id is a set lookup and finds exactly its points.
    let mut c = Collection::new(config(2, Metric::Dot)).unwrap();
    c.upsert(points(&[vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]]))
        .unwrap();
    let f = Filter::parse(&json!({ "must": [{ "has_id": [0, 2, 99] }] })).unwrap();
    let q = SearchQuery {
        filter: Some(f),
        ..query(&[1.0, 0.0], 10)
    };
    let mut found = ids(&c.search(&q).unwrap());
    found.sort_unstable();
    assert_eq!(found, vec![0, 2]);
}
