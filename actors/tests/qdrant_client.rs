//! The official Qdrant Python client (REST), unchanged, against the gateway's collections
//! API (make test installs it: `python3 -m pip install qdrant-client`). This covers the
//! collection operations and retrieve by id; scroll, query and payload updates are open
//! (issue 16).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_qdrant_client_manages_collections_unchanged() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  vector:\n    type: vector\n";
    let (swarm, url) = common::start(yaml).await;
    let seen = common::python_check("qdrant_client_check.py", &url).await;
    swarm.shutdown().await;
    assert_eq!(seen["exists"], true, "{seen}");
    assert_eq!(seen["missing"], false);
    assert_eq!(seen["status"], "green");
    assert_eq!(seen["optimizer_status"], "ok");
    assert_eq!(seen["points_count"], 2);
    assert_eq!(seen["size"], 4);
    assert_eq!(seen["distance"], "Cosine");
    assert_eq!(
        (seen["m"].clone(), seen["ef_construct"].clone()),
        (8.into(), 64.into())
    );
    assert_eq!(seen["listed"], serde_json::json!(["qdrant_check"]));
    assert_eq!(seen["count"], 2);
    // By id, in the order asked, a missing id skipped; payload by default, vector on request.
    assert_eq!(
        seen["retrieved"],
        serde_json::json!([[2, { "colour": "blue" }, [0.0, 1.0, 0.0, 0.0]], [1, { "colour": "red" }, [1.0, 0.0, 0.0, 0.0]]])
    );
    assert_eq!(seen["bare"], serde_json::json!([[1, null, null]]));
    assert_eq!(seen["exists_after_delete"], false);
}
