//! `swarm up` with a `cluster:` section, as separate processes on loopback: two nodes
//! become ready peers (each says so in its log and in `/health`), a node with the wrong
//! cookie is refused, a missing cookie variable stops start-up, and a cookie written in
//! the config is an error at its file:line.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const SWARM: &str = env!("CARGO_BIN_EXE_swarm");
const WAIT: Duration = Duration::from_secs(60);

/// Kills the node when the test ends, passing or not.
pub(crate) struct Node(pub(crate) Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Writes node `node`'s config (listening on `listen`, with `peers` and the YAML of its
/// `services`) and returns its path.
pub(crate) fn node_yaml(
    dir: &std::path::Path,
    node: &str,
    listen: &str,
    peers: &[(&str, String)],
    services: &str,
) -> std::path::PathBuf {
    let peers: Vec<String> = peers
        .iter()
        .map(|(n, a)| format!("{{ node: {n}, address: \"{a}\" }}"))
        .collect();
    let path = dir.join(format!("{node}.yaml"));
    std::fs::write(
        &path,
        format!(
            "swarm:\n  name: {node}\ncluster:\n  node: {node}\n  listen: \"{listen}\"\n  peers: [{}]\n  cookie_env: SWARM_CLUSTER_COOKIE\n  backoff: 50ms\n  max_backoff: 500ms\ngateway:\n  listen: 127.0.0.1:0\nservices:\n{services}",
            peers.join(", ")
        ),
    )
    .unwrap();
    path
}

/// Node `node` of `all` (name, address): the others are its peers.
pub(crate) fn member_yaml(
    dir: &std::path::Path,
    node: &str,
    all: &[(&str, String)],
    services: &str,
) -> std::path::PathBuf {
    let listen = &all.iter().find(|(n, _)| *n == node).unwrap().1;
    let peers: Vec<(&str, String)> = all.iter().filter(|(n, _)| *n != node).cloned().collect();
    node_yaml(dir, node, listen, &peers, services)
}

fn config(
    dir: &std::path::Path,
    node: &str,
    listen: SocketAddr,
    peers: &[(&str, SocketAddr)],
) -> std::path::PathBuf {
    let peers: Vec<(&str, String)> = peers.iter().map(|(n, a)| (*n, a.to_string())).collect();
    node_yaml(
        dir,
        node,
        &listen.to_string(),
        &peers,
        "  echo:\n    type: echo\n",
    )
}

/// Starts a node; its URL, and its log lines as they come.
pub(crate) fn up(config: &std::path::Path, cookie: &str) -> (Node, String, mpsc::Receiver<String>) {
    up_in(&[], config, cookie)
}

/// Starts a node under `prefix` (such as `ip netns exec NS`).
pub(crate) fn up_in(
    prefix: &[&str],
    config: &std::path::Path,
    cookie: &str,
) -> (Node, String, mpsc::Receiver<String>) {
    let mut command = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(SWARM);
            c
        }
        None => Command::new(SWARM),
    };
    let mut child = command
        .args(["up", "--config"])
        .arg(config)
        .env("SWARM_CLUSTER_COOKIE", cookie)
        .env("SWARM_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("SWARM_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("ready"), "{line}");
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    (Node(child), url, rx)
}

/// Reads log lines until one contains `text` (bounded by WAIT).
pub(crate) fn log_says(lines: &mpsc::Receiver<String>, text: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(text) => return,
            Ok(_) => {}
            Err(e) => panic!("no log line with `{text}`: {e}"),
        }
    }
}

#[test]
fn two_nodes_become_peers_and_a_wrong_cookie_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (la, lb, lx) = (free(), free(), free());
    let (_a, url_a, logs_a) = up(&config(dir.path(), "a", la, &[("b", lb)]), "secret");
    let (_b, _, logs_b) = up(&config(dir.path(), "b", lb, &[("a", la)]), "secret");
    log_says(&logs_a, "cluster peer ready");
    log_says(&logs_b, "cluster peer ready");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let health: serde_json::Value = rt.block_on(async {
        reqwest::get(format!("{url_a}/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(health["cluster"]["node"], "a", "{health}");
    assert_eq!(health["cluster"]["peers"][0]["node"], "b", "{health}");
    assert_eq!(health["cluster"]["peers"][0]["state"], "ready", "{health}");

    let graph = Command::new(SWARM)
        .args(["graph", "--format", "text"])
        .arg(dir.path().join("a.yaml"))
        .output()
        .unwrap();
    let graph = String::from_utf8_lossy(&graph.stdout);
    assert!(
        graph.contains(&format!(
            "cluster: node a on {la} (these services); peers: b at {lb}"
        )),
        "{graph}"
    );

    let dot = Command::new(SWARM)
        .arg("graph")
        .arg(dir.path().join("a.yaml"))
        .output()
        .unwrap();
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.contains("\"node:a\" -> \"node:b\""), "{dot}");

    // Its name sorts before `a`, so it dials a — and is refused.
    let (_x, _, logs_x) = up(&config(dir.path(), "0x", lx, &[("a", la)]), "wrong");
    log_says(&logs_x, "cluster peer refused the handshake");
}

#[test]
fn the_shipped_three_node_example_validates() {
    for n in ["a", "b", "c"] {
        let file = format!(
            "{}/../config/cluster/node-{n}.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = Command::new(SWARM)
            .arg("validate")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_missing_cookie_stops_start_up_and_an_inline_one_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "a", free(), &[]);
    let out = Command::new(SWARM)
        .args(["up", "--config"])
        .arg(&path)
        .env_remove("SWARM_CLUSTER_COOKIE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cluster.cookie_env names SWARM_CLUSTER_COOKIE, which is not set"),
        "{stderr}"
    );

    let inline = dir.path().join("inline.yaml");
    std::fs::write(
        &inline,
        "cluster:\n  node: a\n  listen: 127.0.0.1:7001\n  cookie: hunter2\n  cookie_env: C\n  peers: [{ node: a, address: 127.0.0.1:7002 }]\nservices: {}\n",
    )
    .unwrap();
    let out = Command::new(SWARM)
        .arg("validate")
        .arg(&inline)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let at = inline.display().to_string();
    assert!(
        stderr.contains(&format!("{at}:4:"))
            && stderr.contains("cluster.cookie: the cookie is never written"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cluster.peers[0].node: `a` is this node"),
        "{stderr}"
    );
}

#[test]
fn service_nodes_are_checked_at_their_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodes.yaml");
    std::fs::write(
        &path,
        "cluster:\n  node: a\n  listen: 127.0.0.1:7001\n  cookie_env: C\n  peers: [{ node: b, address: 127.0.0.1:7002 }]\nservices:\n  echo:\n    type: echo\n    nodes: [a, z, a]\n",
    )
    .unwrap();
    let out = Command::new(SWARM)
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let at = path.display().to_string();
    for (line, text) in [
        (9, "services.echo.nodes: unknown node `z` (known: a, b)"),
        (9, "services.echo.nodes: node `a` is listed twice"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("{at}:{line}:")) && l.contains(text)),
            "{text}: {stderr}"
        );
    }

    let lone = dir.path().join("lone.yaml");
    std::fs::write(
        &lone,
        "services:\n  echo:\n    type: echo\n    nodes: [a]\n",
    )
    .unwrap();
    let out = Command::new(SWARM)
        .arg("validate")
        .arg(&lone)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("services.echo.nodes: `nodes` needs a `cluster:` section"),
        "{stderr}"
    );

    // The graph says where each service runs.
    let graph = Command::new(SWARM)
        .args(["graph", "--format", "text"])
        .arg(format!(
            "{}/../config/cluster/node-a.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .output()
        .unwrap();
    let graph = String::from_utf8_lossy(&graph.stdout);
    assert!(
        graph.contains("runs on nodes b, c (no pool here: calls go to those nodes)")
            && graph.contains("runs on nodes a, b, c (a pool here;"),
        "{graph}"
    );
}
