//! The gateway's `POST /v1/echo` under load from wrk, beside a bare axum handler doing the
//! same JSON round trip, in one run on one machine. Needs `wrk` (Debian package).
//! `cargo run --release -p swarm-benches --bin gateway-load [seconds] [connections]`.

use std::process::Command;

use anyhow::{Context as _, bail};
use axum::Json;
use axum::routing::post;
use swarm_runtime::{Swarm, SwarmConfig};

// The allocator the `swarm` binary uses; both servers here share it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SCRIPT: &str = r#"wrk.method = "POST"
wrk.body = '{"message":"hello swarm"}'
wrk.headers["Content-Type"] = "application/json"
"#;

struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

fn to_ms(v: &str) -> Option<f64> {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        _ => return None,
    })
}

fn wrk(
    url: &str,
    seconds: u32,
    connections: u32,
    script: &std::path::Path,
) -> anyhow::Result<Figures> {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk (install it: apt-get install wrk, or `make tools`)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_string()))
    };
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok());
    let p50 = field("50%").and_then(|v| to_ms(&v));
    let p99 = field("99%").and_then(|v| to_ms(&v));
    let non_2xx = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match (rps, p50, p99) {
        (Some(rps), Some(p50_ms), Some(p99_ms)) => Ok(Figures {
            rps,
            p50_ms,
            p99_ms,
            non_2xx,
        }),
        _ => bail!("cannot read wrk's output:\n{text}"),
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let connections: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let script = std::env::temp_dir().join("swarm-gateway-load.lua");
    std::fs::write(&script, SCRIPT)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (gateway, bare) = rt.block_on(async {
        let yaml = "telemetry: { log: warn }\ngateway:\n  listen: 127.0.0.1:0\nservices:\n  echo:\n    type: echo\n    workers: 2\n    queue: { capacity: 4096, overflow: reject }\n";
        let config = SwarmConfig::from_yaml(yaml, "gateway-load.yaml", &swarm_actors::registry())?;
        let _telemetry = swarm_runtime::telemetry::init(&config.telemetry)?;
        let swarm = Swarm::start(config).await?;
        let line = swarm.ready_lines().join(" ");
        let gateway = line[line.find("http://").context("gateway address")?..].to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let bare = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new().route(
            "/v1/echo",
            post(|Json(v): Json<swarm_actors::echo::EchoRequest>| async move {
                Json(swarm_actors::echo::EchoResponse { message: v.message })
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        std::mem::forget(swarm);
        anyhow::Ok((gateway, bare))
    })?;
    println!(
        "wrk -t2 -c{connections} -d{seconds}s, POST /v1/echo, {} cores",
        std::thread::available_parallelism()?
    );
    println!("| server | req/s | p50 ms | p99 ms | non-2xx |");
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (name, base) in [
        ("bare axum handler", &bare),
        ("swarm gateway → echo queue → worker", &gateway),
        ("bare axum handler (again)", &bare),
        ("swarm gateway (again)", &gateway),
    ] {
        let f = wrk(&format!("{base}/v1/echo"), seconds, connections, &script)?;
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} |",
            f.rps, f.p50_ms, f.p99_ms, f.non_2xx
        );
        rows.push(f.rps);
    }
    println!(
        "gateway / bare throughput: {:.2}×",
        (rows[1] + rows[3]) / (rows[0] + rows[2])
    );
    Ok(())
}
