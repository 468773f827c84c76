//! One request through the gateway yields one trace, exported over OTLP gRPC to a real
//! receiver started in-process: the gateway span continues the caller's `traceparent`,
//! and swarm.call, queue.wait and worker spans hang beneath it.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use swarm_runtime::config::TelemetryConfig;
use swarm_runtime::telemetry;
use tokio::sync::mpsc;

/// A real OTLP trace receiver: forwards every exported span to the test.
struct Receiver(mpsc::UnboundedSender<Span>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for rs in request.into_inner().resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let _ = self.0.send(span);
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const OTHER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// Starts a receiver on a free port: its address and the spans it receives.
async fn receiver() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Span>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, spans) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, spans)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_with_gateway_queue_and_worker_spans() {
    let (otlp_addr, mut spans) = receiver().await;
    let guard = telemetry::init(&TelemetryConfig {
        log: "warn".into(),
        otlp_endpoint: Some(format!("http://{otlp_addr}")),
        service_name: "swarm-test".into(),
        // No new trace is recorded; a sampled incoming traceparent still is.
        sample_ratio: 0.0,
        record_content: false,
    })
    .expect("telemetry");

    // Echo on two pools: its call span records the pool the scheduler chose, and why.
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  echo:\n    type: echo\n    pools:\n      - { name: first, device: cpu, workers: 2 }\n      - { name: second, device: cpu }\n  fl:\n    type: fl\n";
    let (swarm, url) = common::start(yaml).await;
    // Head sampling at 0: a request without a traceparent, and one whose traceparent says
    // "not sampled", leave no spans.
    for traceparent in [None, Some(format!("00-{OTHER_TRACE}-{CALLER_SPAN}-00"))] {
        let mut req = common::http().post(format!("{url}/v1/echo"));
        if let Some(tp) = traceparent {
            req = req.header("traceparent", tp);
        }
        let r = req
            .json(&serde_json::json!({"message": "unsampled"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
    }
    let resp = common::http()
        .post(format!("{url}/v1/echo"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&serde_json::json!({"message": "traced"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    // A route with a parameter: the span is named by the matched route, not the raw path.
    let resp = common::http()
        .get(format!("{url}/v1/fl/rounds/r0123456789abcdef"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    swarm.shutdown().await;
    tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .expect("flush");

    // Both requests' spans: the echo request's chain, and the FL request's gateway span.
    let mut got: Vec<Span> = Vec::new();
    let has = |got: &[Span], name: &str| got.iter().filter(|s| s.name == name).count();
    tokio::time::timeout(Duration::from_secs(20), async {
        while has(&got, "POST /v1/echo") < 1
            || has(&got, "GET /v1/fl/rounds/{id}") < 1
            || has(&got, "swarm.call") < 2
            || has(&got, "queue.wait") < 2
            || has(&got, "worker") < 2
        {
            let span = spans.recv().await.expect("receiver open");
            assert_eq!(
                hex(&span.trace_id),
                TRACE_ID,
                "unsampled span {}",
                span.name
            );
            got.push(span);
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "spans missing; got {:?}",
            got.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    });
    // The flush has delivered everything exported: nothing from the unsampled requests.
    while let Ok(span) = spans.try_recv() {
        assert_eq!(
            hex(&span.trace_id),
            TRACE_ID,
            "unsampled span {}",
            span.name
        );
    }
    let child = |name: &str, of: &Span| -> Span {
        got.iter()
            .find(|s| s.name == name && s.parent_span_id == of.span_id)
            .unwrap_or_else(|| panic!("no {name} under {}", of.name))
            .clone()
    };
    let gateway = got
        .iter()
        .find(|s| s.name == "POST /v1/echo")
        .unwrap()
        .clone();
    assert_eq!(
        hex(&gateway.parent_span_id),
        CALLER_SPAN,
        "gateway continues the caller's span"
    );
    let call = child("swarm.call", &gateway);
    let attr = |span: &Span, key: &str| -> String {
        let value = span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref());
        match value {
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
                s.clone()
            }
            other => panic!("attribute {key} on {}: {other:?}", span.name),
        }
    };
    assert_eq!(
        attr(&call, "pool"),
        "first",
        "the idle tie goes to the first pool"
    );
    let route = attr(&call, "route");
    assert!(
        route.starts_with("lowest estimate") && route.contains("second"),
        "the trace says why: {route}"
    );
    let q = child("queue.wait", &call);
    let w = child("worker", &call);
    let fl = got
        .iter()
        .find(|s| s.name == "GET /v1/fl/rounds/{id}")
        .unwrap();
    let _ = child("swarm.call", fl);
    assert!(
        q.end_time_unix_nano <= w.start_time_unix_nano + 1_000_000,
        "queue wait ends when the worker starts"
    );
}

const HOP_TRACE: &str = "5af7651916cd43dd8448eb211c80319d";

/// Starts `swarm up` on `config` and returns it with its first stdout line.
fn node(config: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["up", "--config"])
        .arg(config)
        .env("SWARM_CLUSTER_COOKIE", "trace-hop")
        .env("SWARM_LOG", "warn")
        .env_remove("SWARM_OTLP_ENDPOINT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("swarm up");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    assert!(line.contains("ready"), "{line}");
    (child, line)
}

/// A request that hops from node a's gateway to the echo service on node b is one trace:
/// b's `swarm.remote.serve` span is the child of a's `swarm.remote.call`, and b's queue
/// and worker spans hang beneath it. Both nodes export to one real OTLP receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_across_nodes_is_one_trace() {
    let (otlp_addr, mut spans) = receiver().await;
    let dir = tempfile::tempdir().expect("dir");
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
    };
    let (la, lb) = (port(), port());
    let write = |name: &str, listen, peer: (&str, std::net::SocketAddr)| {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "swarm:\n  name: {name}\ntelemetry:\n  otlp: {{ endpoint: \"http://{otlp_addr}\", service_name: node-{name} }}\ncluster:\n  node: {name}\n  listen: \"{listen}\"\n  peers: [{{ node: {}, address: \"{}\" }}]\n  cookie_env: SWARM_CLUSTER_COOKIE\n  backoff: 20ms\n  max_backoff: 200ms\ngateway:\n  listen: 127.0.0.1:0\nservices:\n  echo:\n    type: echo\n    nodes: [b]\n",
                peer.0, peer.1
            ),
        )
        .expect("write");
        path
    };
    let (mut a, ready) = node(&write("a", la, ("b", lb)));
    let (mut b, _) = node(&write("b", lb, ("a", la)));
    let url = ready.trim().rsplit(' ').next().expect("url").to_string();
    // Until b's gateway is known to a, the call is `unavailable`; retry until it is not.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = common::http()
            .post(format!("{url}/v1/echo"))
            .header("traceparent", format!("00-{HOP_TRACE}-{CALLER_SPAN}-01"))
            .json(&serde_json::json!({"message": "hop"}))
            .send()
            .await
            .expect("send");
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(
            tokio::time::Instant::now() < deadline,
            "b never served echo"
        );
        tokio::task::yield_now().await;
    }
    // SIGTERM: each node shuts down gracefully and flushes its spans.
    for child in [&mut a, &mut b] {
        let pid = child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let _ = child.wait();
    }
    let mut got: Vec<Span> = Vec::new();
    let in_trace = |got: &[Span], name: &str| {
        got.iter()
            .any(|s| s.name == name && hex(&s.trace_id) == HOP_TRACE)
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        while ![
            "swarm.remote.call",
            "swarm.remote.serve",
            "queue.wait",
            "worker",
        ]
        .iter()
        .all(|n| in_trace(&got, n))
        {
            got.push(spans.recv().await.expect("receiver open"));
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "spans missing; got {:?}",
            got.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    });
    let ours: Vec<&Span> = got
        .iter()
        .filter(|s| hex(&s.trace_id) == HOP_TRACE)
        .collect();
    let find = |name: &str| *ours.iter().find(|s| s.name == name).expect(name);
    let call = find("swarm.remote.call");
    let serve = find("swarm.remote.serve");
    assert_eq!(serve.parent_span_id, call.span_id, "b continues a's span");
    let worker = find("worker");
    let queue = find("queue.wait");
    assert_eq!(worker.parent_span_id, serve.span_id);
    assert_eq!(queue.parent_span_id, serve.span_id);
}

const AGENT_TRACE: &str = "6af7651916cd43dd8448eb211c80319e";
const QUIET_TRACE: &str = "7af7651916cd43dd8448eb211c80319f";

fn attr_of(span: &Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            V::StringValue(s) => s.clone(),
            V::IntValue(i) => i.to_string(),
            V::DoubleValue(d) => d.to_string(),
            V::BoolValue(b) => b.to_string(),
            other => format!("{other:?}"),
        })
}

/// An agent run is one trace in OpenTelemetry's GenAI conventions: `invoke_agent solver`
/// with its token usage, a `chat` span per model call beneath it, an `execute_tool` span
/// per tool call with the Nash service's own spans beneath that. Prompts and tool
/// arguments are on the spans only with `telemetry.record_content: true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_run_is_one_trace_of_gen_ai_spans() {
    let (otlp_addr, mut spans) = receiver().await;
    let dir = tempfile::tempdir().expect("dir");
    let r = env!("CARGO_MANIFEST_DIR");
    let config = |name: &str, content: bool| {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, format!(
            "swarm:\n  name: {name}\ntelemetry:\n  record_content: {content}\n  otlp: {{ endpoint: \"http://{otlp_addr}\" }}\ngateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    params: {{ model: {r}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf, context: 2048, threads: 2 }}\n  nash:\n    type: nash\n  solver:\n    type: agent\n    deadline: 120s\n    params:\n      model: llm\n      system: \"You solve two-player games with the solve_game tool, then state the equilibrium.\"\n      tools: [solve_game]\n      nash: nash\n      max_turns: 2\n      max_tokens: 200\n"
        )).expect("write");
        path
    };
    let input = "Solve the game where the row player's payoffs are [[3, 0], [5, 1]] and the column player's payoffs are [[3, 5], [0, 1]].";
    let mut reports = Vec::new();
    for (name, content, trace) in [("loud", true, AGENT_TRACE), ("quiet", false, QUIET_TRACE)] {
        let (mut child, ready) = node(&config(name, content));
        let url = ready.trim().rsplit(' ').next().expect("url").to_string();
        let report: serde_json::Value = common::http()
            .post(format!("{url}/v1/agents/solver/runs"))
            .timeout(Duration::from_secs(180))
            .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
            .json(&serde_json::json!({ "input": input }))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("report");
        reports.push(report);
        let pid = child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let _ = child.wait();
    }
    let mut got: Vec<Span> = Vec::new();
    let agent_spans = |got: &[Span], trace: &str| {
        got.iter()
            .filter(|s| s.name.starts_with("invoke_agent") && hex(&s.trace_id) == trace)
            .count()
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        while agent_spans(&got, AGENT_TRACE) < 1 || agent_spans(&got, QUIET_TRACE) < 1 {
            got.push(spans.recv().await.expect("receiver open"));
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "spans missing; got {:?}",
            got.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    });
    // Greedy decoding on the pinned model calls the tool in its first turn.
    assert!(
        reports[0]["tool_calls"].as_u64().unwrap() >= 1,
        "{}",
        reports[0]
    );
    // The chat and tool spans end before their agent's span: all are in by now.
    for (report, trace, content) in [
        (&reports[0], AGENT_TRACE, true),
        (&reports[1], QUIET_TRACE, false),
    ] {
        let ours: Vec<&Span> = got.iter().filter(|s| hex(&s.trace_id) == trace).collect();
        let agent = ours
            .iter()
            .find(|s| s.name == "invoke_agent solver")
            .expect("invoke_agent span");
        assert_eq!(
            attr_of(agent, "gen_ai.operation.name").as_deref(),
            Some("invoke_agent")
        );
        assert_eq!(
            attr_of(agent, "gen_ai.agent.name").as_deref(),
            Some("solver")
        );
        assert_eq!(
            attr_of(agent, "gen_ai.usage.input_tokens"),
            Some(report["prompt_tokens"].to_string())
        );
        let chats: Vec<&&Span> = ours.iter().filter(|s| s.name == "chat").collect();
        assert_eq!(
            chats.len() as u64,
            report["turns"].as_u64().unwrap(),
            "{report}"
        );
        for chat in &chats {
            assert_eq!(chat.parent_span_id, agent.span_id);
            assert!(attr_of(chat, "gen_ai.usage.output_tokens").is_some());
            assert_eq!(
                attr_of(chat, "gen_ai.input.messages").is_some(),
                content,
                "record_content {content}"
            );
        }
        let tools: Vec<&&Span> = ours
            .iter()
            .filter(|s| s.name == "execute_tool solve_game")
            .collect();
        assert_eq!(
            tools.len() as u64,
            report["tool_calls"].as_u64().unwrap(),
            "{report}"
        );
        for tool in &tools {
            assert_eq!(tool.parent_span_id, agent.span_id);
            assert_eq!(
                attr_of(tool, "gen_ai.tool.call.arguments").is_some(),
                content
            );
            let nash = ours
                .iter()
                .find(|s| s.name == "swarm.call" && s.parent_span_id == tool.span_id);
            assert!(
                nash.is_some() || attr_of(tool, "error.type").is_some(),
                "the Nash call hangs beneath its tool span"
            );
        }
    }
}
