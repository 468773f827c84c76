//! Sealed-bid auctions over real HTTP with real ciphertexts: the winner and the price the
//! rule names (ties to the earliest bid), bids of the wrong shape refused unread, and a
//! node without the client key refusing to start work it could not reveal.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;
use crate::fhe_tally::{finished, framed, public_key, yaml};

use reqwest::StatusCode;
use serde_json::{Value, json};

async fn auction(
    c: &reqwest::Client,
    url: &str,
    query: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let r = c
        .post(format!("{url}/v1/fhe/auction?{query}"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn outcome(c: &reqwest::Client, url: &str, query: &str, bids: &[Vec<u8>]) -> Value {
    let (s, job) = auction(c, url, query, framed(bids)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let done = finished(c, url, job["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["progress"]["done"], job["progress"]["total"]);
    done["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auctions_reveal_only_the_winner_and_the_price_their_rule_names() {
    let (swarm, url) = common::start(&yaml(2)).await;
    let c = common::http();
    let pk = public_key(&c, &url).await;
    let bid = |amount: u16| pk.bid(amount).unwrap();

    // Second price: the highest bid wins and pays the highest of the others.
    let bids = [bid(300), bid(1200), bid(700), bid(50)];
    assert_eq!(
        outcome(&c, &url, "rule=second", &bids).await,
        json!({ "rule": "second", "winner": 1, "price": 700, "bids": 4 })
    );
    // A tie at the top: the earliest of the tied bids wins and, under the second-price
    // rule, pays the tied amount.
    let tied = [bid(9), bid(40), bid(40)];
    assert_eq!(
        outcome(&c, &url, "rule=second", &tied).await,
        json!({ "rule": "second", "winner": 1, "price": 40, "bids": 3 })
    );
    // First price: the winner pays its own bid.
    assert_eq!(
        outcome(&c, &url, "rule=first", &tied).await,
        json!({ "rule": "first", "winner": 1, "price": 40, "bids": 3 })
    );

    let refused: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            framed(&[bid(5), pk.encrypt_u8(&[5]).unwrap()]),
            "rule=first",
            "bid 1: value 0 is Uint8, expected Uint16",
        ),
        (
            framed(&[pk.encrypt_u16(&[5, 6]).unwrap()]),
            "rule=first",
            "bid 0: not a packed list of 1 values",
        ),
        (Vec::new(), "rule=second", "no bids"),
    ];
    for (body, query, says) in refused {
        let (s, v) = auction(&c, &url, query, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{says}: {v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(says), "`{m}` lacks `{says}`");
    }
    let (s, v) = auction(&c, &url, "rule=third", framed(&[bid(1)])).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("rule"),
        "{v}"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_client_key_serves_the_public_key_but_refuses_jobs() {
    let keys = common::fhe_keys::dir();
    let dir = tempfile::tempdir().unwrap();
    for f in ["keys.json", "server_key.bin", "public_key.bin"] {
        let to = dir.path().join(f);
        if std::fs::hard_link(keys.join(f), &to).is_err() {
            std::fs::copy(keys.join(f), &to).unwrap();
        }
    }
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fhe:\n    type: fhe\n    params: {{ keys: {}, threads: 1 }}\n",
        dir.path().display()
    );
    let (swarm, url) = common::start(&yaml).await;
    let c = common::http();
    let pk = public_key(&c, &url).await;
    let (s, v) = auction(&c, &url, "rule=first", framed(&[pk.bid(3).unwrap()])).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no client key"),
        "{v}"
    );
    swarm.shutdown().await;
}
