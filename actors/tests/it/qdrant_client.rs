//! The official Qdrant Python client (REST), unchanged, against the gateway's collections
//! API (make test installs it: `python3 -m pip install qdrant-client`). The script checks
//! every operation against answers it computes itself (brute-force cosine, payloads kept
//! in Python); here the swarm is restarted between writing and reading.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_qdrant_client_works_unchanged_across_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  vector:\n    type: vector\n    params: {{ data_dir: {} }}\n",
        data.path().display()
    );
    let (swarm, url) = common::start(&yaml).await;
    let seen = common::python_check_with("qdrant_client_check.py", &url, &["write"]).await;
    swarm.shutdown().await;

    assert_eq!(seen["exists"], true, "{seen}");
    assert_eq!(seen["missing"], false);
    assert_eq!(seen["info"], json!(["green", "ok", 4, 4, "Cosine", 8, 64]));
    assert_eq!(seen["listed"], json!(["qdrant_check"]));
    // By id, in the order asked, a missing id skipped; payload by default, vector on request.
    assert_eq!(
        seen["retrieved"],
        json!([[2, { "colour": "blue" }, [0.0, 1.0, 0.0, 0.0]], [1, { "colour": "red", "size": { "w": 2, "h": 3 } }, [1.0, 0.0, 0.0, 0.0]]])
    );
    assert_eq!(seen["bare"], json!([[1, null, null]]));
    assert_eq!(seen["include"], json!({ "size": { "w": 2 } }));
    assert_eq!(seen["exclude"], json!({ "size": { "w": 2, "h": 3 } }));
    let uuid = "00000000-0000-0000-0000-000000000007";
    assert_eq!(
        seen["payloads"],
        json!({
            "1": { "colour": "red", "shade": "dark", "size": { "w": 2, "h": 3, "d": 5 } },
            "2": { "colour": "blue" },
            "3": { "colour": "teal" },
            uuid: {},
        })
    );
    assert_eq!(seen["dark"], 1);
    // Cosine of (0.9, 0.1, 0, 0) with (1, 0, 0, 0) and with (0.5, 0.5, 0, 0).
    assert_eq!(
        seen["query"],
        json!([[1, 0.9939, 0, true, true], [uuid, 0.7809, 0, true, true]])
    );
    // By point id: point 1 itself left out; 2 and 3 tie at 0 and keep insertion order.
    assert_eq!(seen["by_id"], json!([uuid, 2, 3]));
    assert_eq!(
        seen["batch"],
        json!([[[3, { "colour": "teal" }]], [[uuid, null], [1, null]]])
    );
    assert_eq!(seen["after_delete"], 2);
    assert_eq!(seen["exists_after_delete"], false);
    for (error, says) in [
        ("geo", "`geo_radius` conditions are not supported"),
        ("recommend", "`recommend` queries are not supported"),
        ("no_collection", "no_such"),
        ("dimension", "dimension 1"),
    ] {
        assert!(
            seen["errors"][error].as_str().unwrap().contains(says),
            "{error}: {seen}"
        );
    }
    // 1,000 points, every 50th deleted: 980 scrolled in pages of 64.
    assert_eq!(seen["scrolled"], 980);
    assert_eq!(seen["scroll_pages"], 16);
    assert_eq!(seen["scrolled_group3"], 100);
    assert_eq!(seen["count"], 980);
    assert_eq!(seen["flagged"], 100);
    assert!(seen["recall_at_10"].as_f64().unwrap() >= 0.9, "{seen}");

    let (swarm, url) = common::start(&yaml).await;
    let after = common::python_check_with("qdrant_client_check.py", &url, &["read"]).await;
    swarm.shutdown().await;
    assert_eq!(after["listed"], json!(["bulk"]));
    for key in [
        "scrolled",
        "scroll_pages",
        "scrolled_group3",
        "count",
        "flagged",
        "top10",
    ] {
        assert_eq!(after[key], seen[key], "{key} after the restart: {after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langchains_qdrant_store_and_qdrant_documents_work_unchanged() {
    let dir = format!("{}/../models/all-MiniLM-L6-v2", env!("CARGO_MANIFEST_DIR"));
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  embed:\n    type: embed\n    params: {{ model_dir: {dir} }}\n  vector:\n    type: vector\n    params: {{ embed: embed }}\n"
    );
    let (swarm, url) = common::start(&yaml).await;
    let seen = common::python_check("langchain_qdrant_check.py", &url).await;
    swarm.shutdown().await;
    // The script checks each answer against brute-force cosine over the same embeddings;
    // here, that they are also the right answers.
    assert_eq!(
        seen["topics"],
        json!(["places", "software"]),
        "similarity_search: {seen}"
    );
    assert_eq!(
        seen["filtered"],
        json!(["Bananas are a fruit rich in potassium."]),
        "a metadata filter"
    );
    assert_eq!(
        seen["document_hit"],
        "Bananas are a fruit rich in potassium."
    );
    // A Document embedded by the vector service equals the embedding /v1/embeddings gives.
    assert!(
        seen["document_vs_openai_cosine"].as_f64().unwrap() > 0.9999,
        "{seen}"
    );
}
