//! Filtered vector search across selectivities: 50,000 clustered unit vectors of 128
//! floats, payload `bucket` = i mod 1,000, top 10 at ef 64, with filters that pass 0.1%,
//! 1%, 10% and 100% of the points, and the exact scan beside each.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use swarm_actors::vector::core::{
    Collection, CollectionConfig, Filter, HnswParams, Metric, NewPoint, PointId, SearchQuery,
};
use swarm_benches::clustered_unit_vectors;

fn filtered(c: &mut Criterion) {
    let (data, queries) = clustered_unit_vectors(50_000, 64, 128);
    let mut collection = Collection::new(CollectionConfig {
        dimension: 128,
        distance: Metric::Cosine,
        hnsw: HnswParams {
            m: 16,
            ef_construction: 100,
            ef_search: 64,
        },
    })
    .unwrap();
    collection
        .upsert(
            data.iter()
                .enumerate()
                .map(|(i, v)| NewPoint {
                    id: PointId::Num(i as u64),
                    vector: v.clone(),
                    payload: json!({ "bucket": i % 1_000 }),
                })
                .collect(),
        )
        .unwrap();
    let mut g = c.benchmark_group("vector_filter_50k");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (label, below) in [
        ("0.1%", Some(1)),
        ("1%", Some(10)),
        ("10%", Some(100)),
        ("100%", None),
    ] {
        let filter = below.map(|b: u32| {
            Filter::parse(&json!({"must": [{"key": "bucket", "range": {"lt": b}}]})).unwrap()
        });
        for exact in [false, true] {
            let id = BenchmarkId::new(if exact { "exact" } else { "graph" }, label);
            g.bench_with_input(id, &filter, |b, filter| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % queries.len();
                    let hits = collection
                        .search(&SearchQuery {
                            vector: queries[i].clone(),
                            limit: 10,
                            filter: filter.clone(),
                            exact,
                            ..SearchQuery::default()
                        })
                        .unwrap();
                    assert_eq!(hits.len(), 10);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, filtered);
criterion_main!(benches);
