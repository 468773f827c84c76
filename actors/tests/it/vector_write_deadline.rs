//! What a deadline means for a vector write: a write that could not start before its
//! deadline (here: the collection's lock is held past it) is answered `deadline_exceeded`
//! and is not applied; a write that started is applied and answered.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::vector_data;

use std::sync::Arc;
use std::time::Duration;

use swarm_actors::vector::core::{Catalog, Metric, PointId, StoreOptions};
use swarm_actors::vector::{PointInput, VectorInput, VectorRequest, VectorResponse, VectorService};
use swarm_runtime::{Commitment, RequestContext, RequestId, Service, ServiceError};
use swarm_test_util::within;
use tokio::time::Instant;
use vector_data::config;

fn context(deadline: Instant) -> RequestContext {
    RequestContext {
        id: RequestId::next(),
        priority: Default::default(),
        deadline,
        worker: 0,
        sampled: false,
        commitment: Commitment::new(deadline),
    }
}

fn upsert(id: u64) -> VectorRequest {
    VectorRequest::Upsert {
        name: "c".into(),
        points: vec![PointInput {
            id: PointId::Num(id),
            vector: VectorInput::Vector(vec![1.0, 0.0]),
            payload: serde_json::Value::Null,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_start_before_its_deadline_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let catalog =
        Arc::new(Catalog::open(Some(dir.path().into()), StoreOptions::default()).unwrap());
    catalog.create("c", config(2, Metric::Cosine)).unwrap();
    let collection = catalog.get("c").unwrap();
    let mut service = VectorService::new(catalog.clone(), None);

    // The lock is held (as a long compaction would) until the write's deadline has passed.
    let deadline = Instant::now() + Duration::from_millis(200);
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = collection.clone();
    let lock_holder = std::thread::spawn(move || {
        let _held = holder.write();
        locked_tx.send(()).unwrap();
        released.recv_timeout(Duration::from_secs(30)).unwrap();
    });
    locked.recv_timeout(Duration::from_secs(30)).unwrap();
    let mut late = VectorService::new(catalog.clone(), None);
    let write = tokio::spawn(async move { late.handle(upsert(1), &context(deadline)).await });
    tokio::time::sleep_until(deadline).await;
    release.send(()).unwrap();
    lock_holder.join().unwrap();
    let answer = within(write).await.unwrap();
    assert!(
        matches!(answer, Err(ServiceError::Timeout(ref m)) if m.contains("not applied")),
        "{answer:?}"
    );
    assert!(
        collection
            .read()
            .collection()
            .get(&PointId::Num(1))
            .is_none(),
        "a 504 write is not applied"
    );

    // A write that starts in time is applied and answered.
    let answer = service
        .handle(
            upsert(2),
            &context(Instant::now() + Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert!(matches!(answer, VectorResponse::Changed(1)));
    assert!(
        collection
            .read()
            .collection()
            .get(&PointId::Num(2))
            .is_some()
    );

    // And the refused write left nothing in the log: reopened, only point 2 is there.
    drop((service, collection));
    drop(catalog);
    let reopened = Catalog::open(Some(dir.path().into()), StoreOptions::default()).unwrap();
    let c = reopened.get("c").unwrap();
    assert_eq!(c.read().collection().info().points_count, 1);
}
