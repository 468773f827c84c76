//! Round trips and refusals of the vector wire format.

use serde_json::json;
use swarm_runtime::cluster::RemoteCodec;
use swarm_runtime::cluster::codec::{FieldReader, put_json};
use swarm_runtime::cluster::wire::WireError;

use super::fields::read_floats;
use super::filter::{filter, read_filter};
use crate::vector::core::filter::{Condition, Range};
use crate::vector::core::{
    CollectionConfig, CollectionInfo, Filter, HnswParams, Metric, PayloadChange, PointId, Record,
    ScoredPoint, ScrollPage, ScrollQuery, SearchQuery,
};
use crate::vector::messages::{
    Near, PointInput, PointSelector, VectorInput, VectorRequest, VectorResponse,
};
use crate::vector::service::VectorService;

fn uuid() -> PointId {
    PointId::Uuid(uuid::Uuid::from_u128(
        0x0123_4567_89ab_cdef_0011_2233_4455_6677,
    ))
}

/// Every condition kind, nested filters, min_should, a multi-id `has_id`, and bounds
/// JSON text would not carry bit-for-bit.
fn complex_filter() -> Filter {
    let mut f = Filter::parse(&json!({
        "must": [
            { "key": "city", "match": { "value": "Zürich" } },
            { "key": "n", "match": { "any": [1, -2, 2.5, true] } },
            { "key": "tag", "match": { "except": ["a", "b"] } },
            { "key": "title", "match": { "text": "fox" } },
            { "key": "price", "range": { "gt": 0.1, "lte": 1e300 } },
            { "key": "tags", "values_count": { "gte": 2 } },
            { "is_empty": { "key": "gone" } },
            { "is_null": { "key": "note" } },
            { "has_id": [3, 1, "01234567-89ab-cdef-0011-223344556677"] },
            { "has_vector": "" },
            { "nested": { "key": "dogs", "filter": { "must": [
                { "key": "age", "range": { "lt": 9 } } ] } } },
            { "must": [] }
        ],
        "should": [{ "should": [{ "key": "a.b", "match": { "value": 7 } }],
                     "must_not": [{ "has_vector": "other" }] }],
        "must_not": [{ "key": "x", "match": { "value": false } }],
        "min_should": { "min_count": 2, "conditions": [
            { "key": "k", "match": { "value": "v" } },
            { "key": "k2", "range": { "gte": -3 } } ] }
    }))
    .unwrap();
    f.must.push(Condition::Range {
        key: "awkward".into(),
        range: Range {
            gte: Some(1.0715660391465826e-75),
            lt: Some(-0.0),
            ..Range::default()
        },
    });
    f
}

fn simple_filter() -> Filter {
    Filter::parse(&json!({ "must": [{ "key": "even", "match": { "value": true } }] })).unwrap()
}

fn search_query() -> SearchQuery {
    SearchQuery {
        vector: vec![0.1, -0.0, f32::MIN_POSITIVE, f32::MAX],
        limit: 10,
        offset: 2,
        filter: Some(simple_filter()),
        score_threshold: Some(0.75),
        ef: Some(128),
        exact: true,
        with_payload: false,
        with_vector: true,
    }
}

fn config() -> CollectionConfig {
    CollectionConfig {
        dimension: 4,
        distance: Metric::Dot,
        hnsw: HnswParams::default(),
    }
}

fn payload() -> serde_json::Value {
    json!({ "a": [1, -1, 1.0715660391465826e-75, -0.0, u64::MAX, i64::MIN, null],
            "b": { "c": "ü", "d": true, "e": {} }, "f": [] })
}

fn requests() -> Vec<VectorRequest> {
    let name = || "docs".to_string();
    vec![
        VectorRequest::Create {
            name: name(),
            config: config(),
        },
        VectorRequest::Drop { name: name() },
        VectorRequest::Info { name: name() },
        VectorRequest::List,
        VectorRequest::Upsert {
            name: name(),
            points: vec![
                PointInput {
                    id: PointId::Num(7),
                    vector: VectorInput::Vector(vec![1.5, -0.0, f32::MIN_POSITIVE]),
                    payload: payload(),
                },
                PointInput {
                    id: uuid(),
                    vector: VectorInput::Text("héllo".into()),
                    payload: serde_json::Value::Null,
                },
            ],
        },
        VectorRequest::Delete {
            name: name(),
            selector: PointSelector::Ids(vec![PointId::Num(1), uuid()]),
        },
        VectorRequest::Delete {
            name: name(),
            selector: PointSelector::Filter(simple_filter()),
        },
        VectorRequest::Search {
            name: name(),
            query: Box::new(search_query()),
            text: Some("query text".into()),
        },
        VectorRequest::Search {
            name: name(),
            query: Box::default(),
            text: None,
        },
        VectorRequest::Get {
            name: name(),
            id: uuid(),
        },
        VectorRequest::Retrieve {
            name: name(),
            ids: vec![PointId::Num(u64::MAX), uuid()],
        },
        VectorRequest::SearchBatch {
            name: name(),
            searches: vec![
                (search_query(), Near::Vector),
                (SearchQuery::default(), Near::Text("t".into())),
                (search_query(), Near::Point(PointId::Num(3))),
            ],
        },
        VectorRequest::Scroll {
            name: name(),
            query: ScrollQuery {
                offset: Some(PointId::Num(4)),
                limit: 25,
                filter: Some(simple_filter()),
            },
        },
        VectorRequest::Scroll {
            name: name(),
            query: ScrollQuery::default(),
        },
        VectorRequest::ChangePayload {
            name: name(),
            selector: PointSelector::Ids(vec![PointId::Num(1)]),
            change: PayloadChange::Set {
                payload: payload().as_object().unwrap().clone(),
                key: Some("b.c".into()),
            },
        },
        VectorRequest::ChangePayload {
            name: name(),
            selector: PointSelector::Filter(simple_filter()),
            change: PayloadChange::Overwrite(payload().as_object().unwrap().clone()),
        },
        VectorRequest::ChangePayload {
            name: name(),
            selector: PointSelector::Ids(vec![]),
            change: PayloadChange::Delete(vec!["a".into(), "b.c".into()]),
        },
        VectorRequest::ChangePayload {
            name: name(),
            selector: PointSelector::Ids(vec![uuid()]),
            change: PayloadChange::Clear,
        },
        VectorRequest::Count {
            name: name(),
            filter: Some(complex_filter()),
        },
        VectorRequest::Count {
            name: name(),
            filter: None,
        },
    ]
}

fn record(id: PointId) -> Record {
    Record {
        id,
        payload: payload(),
        vector: vec![0.25, -0.0, f32::MIN_POSITIVE],
    }
}

fn responses() -> Vec<VectorResponse> {
    let hit = |id, payload: Option<serde_json::Value>, vector| ScoredPoint {
        id,
        score: -0.0,
        payload,
        vector,
    };
    let hits = vec![
        hit(
            PointId::Num(1),
            Some(payload()),
            Some(vec![1.0, f32::MIN_POSITIVE]),
        ),
        hit(uuid(), None, None),
    ];
    vec![
        VectorResponse::Info(CollectionInfo {
            points_count: 3,
            indexed_vectors_count: 5,
            deleted_count: 2,
            config: CollectionConfig {
                distance: Metric::Euclid,
                ..config()
            },
        }),
        VectorResponse::Info(CollectionInfo {
            points_count: 0,
            indexed_vectors_count: 0,
            deleted_count: 0,
            config: CollectionConfig {
                distance: Metric::Cosine,
                ..config()
            },
        }),
        VectorResponse::Names(vec!["a".into(), "b-c_d".into()]),
        VectorResponse::Changed(4),
        VectorResponse::Hits(hits.clone()),
        VectorResponse::HitLists(vec![hits, vec![]]),
        VectorResponse::Page(ScrollPage {
            records: vec![record(PointId::Num(1)), record(uuid())],
            next: Some(PointId::Num(9)),
        }),
        VectorResponse::Page(ScrollPage {
            records: vec![],
            next: None,
        }),
        VectorResponse::Point(record(uuid())),
        VectorResponse::Points(vec![record(PointId::Num(2))]),
        VectorResponse::Count(usize::MAX),
        VectorResponse::Dropped,
    ]
}

#[test]
fn every_request_round_trips() {
    for request in requests() {
        let bytes = VectorService::encode_request(&request).unwrap();
        let back = VectorService::decode_request(&bytes).unwrap();
        assert_eq!(VectorService::encode_request(&back).unwrap(), bytes);
        // `has_id` sets print in any order: compare the filter itself instead.
        if let (
            VectorRequest::Count {
                filter: Some(a), ..
            },
            VectorRequest::Count {
                filter: Some(b), ..
            },
        ) = (&request, &back)
        {
            assert_eq!(a, b);
        } else {
            assert_eq!(format!("{back:?}"), format!("{request:?}"));
        }
    }
}

#[test]
fn every_response_round_trips() {
    for response in responses() {
        let bytes = VectorService::encode_response(&response).unwrap();
        let back = VectorService::decode_response(&bytes).unwrap();
        assert_eq!(VectorService::encode_response(&back).unwrap(), bytes);
        assert_eq!(format!("{back:?}"), format!("{response:?}"));
    }
}

#[test]
fn a_complex_filter_and_payload_numbers_round_trip_exactly() {
    let f = complex_filter();
    let mut bytes = Vec::new();
    filter(&mut bytes, &f).unwrap();
    let mut r = FieldReader::new(&bytes);
    assert_eq!(read_filter(&mut r).unwrap(), f);
    r.end().unwrap();
    let mut bytes = Vec::new();
    put_json(&mut bytes, &payload(), "payload").unwrap();
    let back = FieldReader::new(&bytes).json("payload").unwrap();
    assert_eq!(back, payload());
    assert_eq!(
        back["a"][2].as_f64().unwrap().to_bits(),
        1.0715660391465826e-75f64.to_bits()
    );
    assert!(back["a"][3].as_f64().unwrap().is_sign_negative());
}

#[test]
fn every_truncation_is_an_error() {
    for request in requests() {
        let bytes = VectorService::encode_request(&request).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                VectorService::decode_request(&bytes[..cut]).is_err(),
                "{request:?} cut {cut}"
            );
        }
    }
    for response in responses() {
        let bytes = VectorService::encode_response(&response).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                VectorService::decode_response(&bytes[..cut]).is_err(),
                "{response:?} cut {cut}"
            );
        }
    }
}

#[test]
fn unknown_tags_trailing_bytes_and_bad_fields_are_errors() {
    let invalid = |bytes: &[u8]| {
        matches!(
            VectorService::decode_request(bytes),
            Err(WireError::Invalid(_))
        )
    };
    assert!(invalid(&[13]) && invalid(&[255]));
    assert!(matches!(
        VectorService::decode_response(&[10]),
        Err(WireError::Invalid(_))
    ));
    let get = VectorService::encode_request(&VectorRequest::Get {
        name: "c".into(),
        id: PointId::Num(1),
    })
    .unwrap();
    let mut bad_id = get.clone();
    bad_id[4] = 2; // the id's kind
    assert!(invalid(&bad_id));
    let mut trailing = get;
    trailing.push(0);
    assert_eq!(
        VectorService::decode_request(&trailing).unwrap_err(),
        WireError::Trailing(1)
    );
    let mut list = VectorService::encode_request(&VectorRequest::List).unwrap();
    list.push(0);
    assert!(VectorService::decode_request(&list).is_err());
    // A search's flags byte is its last: unknown bits are refused.
    let search = VectorRequest::Search {
        name: "c".into(),
        query: Box::default(),
        text: None,
    };
    let mut bytes = VectorService::encode_request(&search).unwrap();
    let flags = bytes.len() - 2;
    bytes[flags] = 8;
    assert!(invalid(&bytes));
    // A count far beyond the bytes that follow fails before allocating for it.
    let mut bytes = vec![4, 0, 1, b'c'];
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(VectorService::decode_request(&bytes).is_err());
    let mut r = FieldReader::new(&[0x00, 0x0f, 0x00, 0x00]);
    assert_eq!(read_floats(&mut r), Err(WireError::Truncated));
}

#[test]
fn affinity_is_the_collection_except_for_list() {
    for request in requests() {
        let key = VectorService::affinity(&request);
        match request {
            VectorRequest::List => assert_eq!(key, None),
            _ => assert_eq!(key.as_deref(), Some("docs"), "{request:?}"),
        }
    }
    for response in responses() {
        assert_eq!(VectorService::created(&response), None);
    }
}
