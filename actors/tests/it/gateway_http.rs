//! The gateway over real HTTP: echo through the queue, API keys, body limit, JSON errors,
//! 429 with Retry-After, 504, 503 from /health.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use std::io::Write as _;

use common::{http, start, until, within};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn error_of(resp: reqwest::Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().await.expect("JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_string();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (status, code)
}

fn yaml(extra_gateway: &str, echo_queue: &str) -> String {
    format!(
        "gateway:\n  listen: 127.0.0.1:0\n{extra_gateway}services:\n  echo:\n    type: echo\n    workers: 1\n    queue: {echo_queue}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_round_trips_and_bad_input_gets_json_errors() {
    let (swarm, url) = start(&yaml("  body_limit: 1KiB\n", "{ capacity: 8 }")).await;
    let c = http();
    let r = c
        .post(format!("{url}/v1/echo"))
        .json(&json!({"message": "héllo swarm"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"message": "héllo swarm"})
    );

    let big = json!({"message": "x".repeat(2048)});
    let r = c
        .post(format!("{url}/v1/echo"))
        .json(&big)
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(r).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );

    let r = c
        .post(format!("{url}/v1/echo"))
        .header("content-type", "application/json")
        .body("{\"message\":")
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_json".into())
    );
    let r = c
        .post(format!("{url}/v1/echo"))
        .json(&json!({"msg": 1}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request".into())
    );
    let r = c
        .post(format!("{url}/v1/echo"))
        .body("hi")
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(r).await,
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type".into()
        )
    );
    let r = c
        .post(format!("{url}/v1/echo"))
        .json(&json!({"message": "x", "delay_ms": 600_000}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request".into())
    );
    let r = c
        .get(format!("{url}/v1/nowhere"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(r).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let r = c.get(format!("{url}/v1/echo")).send().await.expect("send");
    assert_eq!(
        error_of(r).await,
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
    );
    let r = c
        .post(format!("{url}/v1/echo"))
        .header("x-swarm-timeout-ms", "soon")
        .json(&json!({"message": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_header".into())
    );

    let metrics = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("swarm_queue_accepted_total{service=\"echo\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE swarm_service_latency_seconds histogram"));
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_everything_but_health() {
    let mut keys = tempfile();
    writeln!(keys.1, "# gateway keys\nfirst-key\n\nsecond-key").expect("write");
    let gateway = format!("  auth:\n    keys_file: {}\n", keys.0.display());
    let (swarm, url) = start(&yaml(&gateway, "{ capacity: 8 }")).await;
    let c = http();
    let body = json!({"message": "k"});
    let r = c
        .post(format!("{url}/v1/echo"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.headers().get("www-authenticate").map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
    let r = c
        .post(format!("{url}/v1/echo"))
        .bearer_auth("first-kex")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
    let r = c
        .post(format!("{url}/v1/echo"))
        .header("authorization", "Basic Zmlyc3Qta2V5")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for key in ["first-key", "second-key"] {
        let r = c
            .post(format!("{url}/v1/echo"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{key}");
    }
    // The scheme is case-insensitive (RFC 7235).
    for scheme in ["bearer", "BEARER"] {
        let r = c
            .post(format!("{url}/v1/echo"))
            .header("authorization", format!("{scheme} first-key"))
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    // Qdrant's clients send their key as `api-key`.
    for (key, status) in [
        ("second-key", StatusCode::OK),
        ("wrong", StatusCode::UNAUTHORIZED),
    ] {
        let r = c
            .post(format!("{url}/v1/echo"))
            .header("api-key", key)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), status, "api-key {key}");
    }
    let r = c.get(format!("{url}/metrics")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Unknown routes answer 401 first: the API's shape is not probed without a key.
    let r = c
        .get(format!("{url}/v1/nothing"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .get(format!("{url}/v1/nothing"))
        .bearer_auth("first-key")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.get(format!("{url}/health")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    swarm.shutdown().await;
    let _ = std::fs::remove_file(keys.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_429_with_retry_after_and_deadlines_are_504() {
    let (swarm, url) = start(&yaml("", "{ capacity: 1, overflow: reject }")).await;
    let c = http();
    let slow = |ms: u64| json!({"message": "slow", "delay_ms": ms});
    let r = c
        .post(format!("{url}/v1/echo"))
        .header("x-swarm-timeout-ms", "50")
        .json(&slow(5_000))
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(r).await,
        (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded".into())
    );

    // A held request fills the only worker, a second fills the queue (capacity 1); the
    // third is refused. Nothing moves until the test opens the gate.
    let held_yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  held:\n    type: held\n    workers: 1\n    queue: { capacity: 1, overflow: reject }\n";
    let (held_swarm, held_url) = start(held_yaml).await;
    let gate = common::gate("overload-429");
    let hold = json!({ "gate": "overload-429" });
    let (c1, c2, u1, u2) = (c.clone(), c.clone(), held_url.clone(), held_url.clone());
    let (h1, h2) = (hold.clone(), hold.clone());
    let busy = tokio::spawn(async move { c1.post(format!("{u1}/v1/held")).json(&h1).send().await });
    let metrics = || held_swarm.render_metrics();
    until(|| metrics().contains("swarm_service_in_flight{service=\"held\"} 1")).await;
    let queued =
        tokio::spawn(async move { c2.post(format!("{u2}/v1/held")).json(&h2).send().await });
    until(|| metrics().contains("swarm_queue_depth{service=\"held\"} 1")).await;
    let r = c
        .post(format!("{held_url}/v1/held"))
        .json(&hold)
        .send()
        .await
        .expect("send");
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);
    assert_eq!(
        error_of(r).await,
        (StatusCode::TOO_MANY_REQUESTS, "overloaded".into())
    );
    assert!(
        metrics().contains("swarm_service_errors_total{service=\"held\",code=\"overloaded\"} 1"),
        "{}",
        metrics()
    );
    gate.add_permits(2);
    assert_eq!(
        within(busy).await.expect("task").expect("send").status(),
        StatusCode::OK
    );
    assert_eq!(
        within(queued).await.expect("task").expect("send").status(),
        StatusCode::OK
    );
    held_swarm.shutdown().await;
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_with_detail_when_a_service_has_failed() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  echo:\n    type: echo\n  fragile:\n    type: crashing\n    supervision: { max_restarts: 0 }\n";
    let (swarm, url) = start(yaml).await;
    let c = http();
    let r = c.get(format!("{url}/health")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let fragile = swarm
        .client::<common::CrashingService>("fragile")
        .expect("client");
    assert_eq!(
        within(fragile.call(())).await,
        Err(swarm_runtime::SwarmError::WorkerCrashed)
    );
    until(|| {
        swarm
            .render_metrics()
            .contains("swarm_supervisor_escalations_total{service=\"fragile\"} 1")
    })
    .await;
    let r = c.get(format!("{url}/health")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["services"]["echo"]["healthy"], true);
    assert_eq!(body["services"]["fragile"]["healthy"], false);
    assert!(
        body["services"]["fragile"]["detail"]
            .as_str()
            .expect("detail")
            .contains("restart intensity")
    );
    let r = c
        .post(format!("{url}/v1/echo"))
        .json(&json!({"message": "still here"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK, "other services keep serving");
    swarm.shutdown().await;
}

fn tempfile() -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!(
        "swarm-keys-{}-{}",
        std::process::id(),
        swarm_runtime::RequestId::next()
    ));
    let file = std::fs::File::create(&path).expect("temp file");
    (path, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_server_is_restarted_on_the_same_socket() {
    let (swarm, url) = start(&yaml("", "{ capacity: 8 }")).await;
    let c = http();
    let echo = |m: &'static str| {
        c.post(format!("{url}/v1/echo"))
            .json(&json!({ "message": m }))
            .send()
    };
    assert_eq!(echo("before").await.expect("send").status(), StatusCode::OK);
    // Fault injection: kill the server actor, as a crash would end it.
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let name = swarm_actors::gateway::server_name(addr);
    let first = ractor::registry::where_is(name.clone()).expect("server registered");
    first.kill();
    // The supervisor starts a new server under the same name.
    let second = swarm_test_util::until_some(|| {
        let name = name.clone();
        let first = first.get_id();
        async move { ractor::registry::where_is(name).filter(|c| c.get_id() != first) }
    })
    .await;
    assert_ne!(second.get_id(), first.get_id());
    // A new client: the old server closes its idle keep-alive connections as it stops, and
    // a pooled one reused at that moment would fail the way HTTP allows (clients retry).
    let fresh = http();
    let r = within(
        fresh
            .post(format!("{url}/v1/echo"))
            .json(&json!({ "message": "after" }))
            .send(),
    )
    .await
    .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "message": "after" })
    );
    within(swarm.shutdown()).await;
    assert!(
        within(echo("gone")).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_header_is_cut_off_and_connections_are_limited() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (swarm, url) = start(&yaml(
        "  header_timeout: 200ms\n  max_connections: 2\n",
        "{ capacity: 8 }",
    ))
    .await;
    let addr = url.trim_start_matches("http://").to_string();
    // Slowloris: half a header, then nothing. The server closes the connection.
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = within(half.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "closed by the server: {read:?}");
    // Two idle connections fill the limit; a third request waits in the backlog until
    // the header timeout frees a place, then is answered.
    let idle1 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let idle2 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let r = within(http().get(format!("{url}/health")).send())
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    drop((idle1, idle2));
    within(swarm.shutdown()).await;
}
