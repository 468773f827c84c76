//! Many nodes, measured (`make bench-cluster`): this process is node `a` of a swarm whose
//! other nodes are `swarm up` processes, each pinned to its own core with `taskset` where
//! the machine has the cores.
//!
//! - throughput: 9×9 games solved by support enumeration (CPU-bound), and FedMedian
//!   rounds of large updates, on 1, 2 and 3 node processes of one worker each, through
//!   node `a`'s typed client, against one node in the same run; every answer is checked
//!   against a local computation.
//! - latency: request-reply of an echo service in this process against the same service
//!   on a peer node (p50 and p99 of sequential calls).
//!
//! `cluster-compare SWARM_BIN` prints a Markdown table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use swarm_actors::echo::{Echo, EchoRequest};
use swarm_actors::nash::core::{Budget, Game, Method, Options, solve};
use swarm_actors::nash::{NashRequest, NashService};
use swarm_benches::process::{SwarmProcess, free_port};
use swarm_benches::{quantile, random_matrix};
use swarm_runtime::{Swarm, SwarmConfig};

const GAMES: usize = 240;
const COOKIE: &str = "cluster-compare";

/// `cluster:` for `node` among `nodes` (name, port).
fn cluster_yaml(node: &str, nodes: &[(String, u16)]) -> String {
    let port = nodes.iter().find(|(n, _)| n == node).map_or(0, |n| n.1);
    let peers: Vec<String> = nodes
        .iter()
        .filter(|(n, _)| n != node)
        .map(|(n, p)| format!("{{ node: {n}, address: \"127.0.0.1:{p}\" }}"))
        .collect();
    format!(
        "cluster:\n  node: {node}\n  listen: \"127.0.0.1:{port}\"\n  peers: [{}]\n  cookie_env: SWARM_CLUSTER_COOKIE\n  backoff: 20ms\n  max_backoff: 200ms\n",
        peers.join(", ")
    )
}

/// Starts `swarm up` for `node` (with the cluster's cookie), on `core` when given.
fn start_node(
    swarm_bin: &str,
    dir: &std::path::Path,
    node: &str,
    yaml: String,
    core: Option<usize>,
) -> anyhow::Result<SwarmProcess> {
    SwarmProcess::start(
        swarm_bin,
        dir,
        node,
        &yaml,
        core,
        &[("SWARM_CLUSTER_COOKIE", COOKIE)],
    )
}

/// Waits until `service`'s health lists every one of `peers` as serving it.
async fn wait_for_peers(swarm: &Swarm, service: &str, peers: &[String]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = swarm.health(Duration::from_secs(1)).await;
        let detail = health
            .iter()
            .find(|(n, _)| n == service)
            .map(|(_, h)| h.detail.clone())
            .unwrap_or_default();
        if peers.iter().all(|p| detail.contains(p.as_str())) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("peers never served {service}: {detail}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn games() -> anyhow::Result<Vec<Game>> {
    (0..GAMES)
        .map(|i| {
            let seed = 10_000 + 2 * i as u64;
            Ok(Game::new(
                &random_matrix(9, 9, seed),
                &random_matrix(9, 9, seed + 1),
            )?)
        })
        .collect()
}

/// What a throughput row runs.
#[derive(Clone, Copy)]
enum Work {
    /// 9×9 support enumeration.
    Nash,
    /// FedMedian rounds of `FL_CLIENTS` updates of `FL_DIM` floats.
    FedMedian,
}

const FL_ROUNDS: usize = 96;
const FL_CLIENTS: usize = 9;
const FL_DIM: usize = 100_000;

/// Work items per second over `k` node processes of one worker each.
async fn throughput(
    swarm_bin: &str,
    work: Work,
    k: usize,
    cores: usize,
    games: &[Game],
    expected: &[usize],
) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut nodes = vec![("a".to_string(), free_port()?)];
    for i in 0..k {
        nodes.push((format!("n{i}"), free_port()?));
    }
    let names: Vec<String> = nodes[1..].iter().map(|n| n.0.clone()).collect();
    let kind = match work {
        Work::Nash => "nash",
        Work::FedMedian => "fl",
    };
    let service = format!(
        "services:\n  {kind}:\n    type: {kind}\n    workers: 1\n    queue: {{ capacity: 4096 }}\n    nodes: [{}]\n",
        names.join(", ")
    );
    let mut procs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let yaml = format!(
            "swarm:\n  name: {name}\n{}gateway:\n  listen: 127.0.0.1:0\n{service}",
            cluster_yaml(name, &nodes)
        );
        let core = (k <= cores).then_some(i % cores);
        procs.push(start_node(swarm_bin, dir.path(), name, yaml, core)?);
    }
    let yaml = format!("swarm:\n  name: a\n{}{service}", cluster_yaml("a", &nodes));
    let config = SwarmConfig::from_yaml(&yaml, "node-a", &swarm_actors::registry())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let swarm = Swarm::start(config).await?;
    wait_for_peers(&swarm, kind, &names).await?;
    let rate = match work {
        Work::Nash => nash_rate(&swarm, k, games, expected).await?,
        Work::FedMedian => fl_rate(&swarm, k).await?,
    };
    swarm.shutdown().await;
    drop(procs);
    Ok(rate)
}

/// Rounds per second: each opened where the expected wait is shortest, its updates sent
/// after it (the round's node), the last one aggregating.
async fn fl_rate(swarm: &Swarm, k: usize) -> anyhow::Result<f64> {
    use swarm_actors::fl::core::Strategy;
    use swarm_actors::fl::service::OpenRound;
    use swarm_actors::fl::{FlRequest, FlService};
    let client = swarm.client::<FlService>("fl")?;
    let updates = swarm_benches::fl_updates(FL_CLIENTS, FL_DIM);
    let want: Vec<f32> = (0..FL_DIM)
        .map(|i| {
            let mut col: Vec<f32> = updates.iter().map(|u| u.weights[i]).collect();
            col.sort_by(f32::total_cmp);
            col[FL_CLIENTS / 2]
        })
        .collect();
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(2 * k));
    let mut tasks = Vec::new();
    for _ in 0..FL_ROUNDS {
        let (client, limit, updates) = (client.clone(), limit.clone(), updates.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let open = OpenRound {
                strategy: Strategy::FedMedian,
                min_clients: FL_CLIENTS,
                deadline: Duration::from_secs(600),
                dimension: Some(FL_DIM),
                current: None,
                after: None,
            };
            let round = client.call(FlRequest::Open(Box::new(open))).await?;
            let mut last = None;
            for update in updates {
                let submit = FlRequest::Submit {
                    round: round.id.clone(),
                    update,
                };
                last = Some(client.call(submit).await?);
            }
            Ok::<_, swarm_runtime::SwarmError>(last)
        }));
    }
    for task in tasks {
        let view = task.await??.context("no update sent")?;
        let model = view.model.context("the round did not close")?;
        if model[..] != want[..] {
            bail!("a remote FedMedian differs from the local median");
        }
    }
    Ok(FL_ROUNDS as f64 / started.elapsed().as_secs_f64())
}

/// Games per second.
async fn nash_rate(
    swarm: &Swarm,
    k: usize,
    games: &[Game],
    expected: &[usize],
) -> anyhow::Result<f64> {
    let client = swarm.client::<NashService>("nash")?;
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(8 * k));
    let mut tasks = Vec::new();
    for game in games {
        let (client, limit) = (client.clone(), limit.clone());
        let request = NashRequest {
            game: Arc::new(game.clone()),
            method: Method::SupportEnumeration,
            options: Options::default(),
        };
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            client.call(request).await
        }));
    }
    for (task, want) in tasks.into_iter().zip(expected) {
        let solution = task.await??;
        if solution.equilibria.len() != *want {
            bail!("a remote solution differs from the local solve");
        }
    }
    Ok(games.len() as f64 / started.elapsed().as_secs_f64())
}

/// p50 and p99 of sequential echo calls: in this process, and to a peer.
async fn latency(swarm_bin: &str) -> anyhow::Result<[(Duration, Duration); 2]> {
    let dir = tempfile::tempdir()?;
    let nodes = vec![
        ("a".to_string(), free_port()?),
        ("b".to_string(), free_port()?),
    ];
    let services = "services:\n  here:\n    type: echo\n  far:\n    type: echo\n    nodes: [b]\n    route_prefix: /far\n";
    let yaml = format!(
        "swarm:\n  name: b\n{}gateway:\n  listen: 127.0.0.1:0\n{services}",
        cluster_yaml("b", &nodes)
    );
    let _b = start_node(swarm_bin, dir.path(), "b", yaml, None)?;
    let yaml = format!("swarm:\n  name: a\n{}{services}", cluster_yaml("a", &nodes));
    let config = SwarmConfig::from_yaml(&yaml, "node-a", &swarm_actors::registry())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let swarm = Swarm::start(config).await?;
    wait_for_peers(&swarm, "far", &["b".to_string()]).await?;
    let mut out = [(Duration::ZERO, Duration::ZERO); 2];
    for (i, name) in ["here", "far"].iter().enumerate() {
        let client = swarm.client::<Echo>(name)?;
        let mut samples = Vec::new();
        for n in 0..3000 {
            let t = Instant::now();
            let r = client.call(EchoRequest::new(format!("ping {n}"))).await?;
            samples.push(t.elapsed());
            if r.message != format!("ping {n}") {
                bail!("wrong echo");
            }
        }
        samples.drain(..500); // warm-up
        samples.sort_unstable();
        out[i] = (quantile(&samples, 0.5), quantile(&samples, 0.99));
    }
    swarm.shutdown().await;
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let swarm_bin = std::env::args()
        .nth(1)
        .context("usage: cluster-compare SWARM_BIN")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let taskset = std::process::Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok();
    let cores = if taskset { cores } else { 0 };
    let games = games()?;
    let budget = Budget::within(Duration::from_secs(600));
    let expected: Vec<usize> = games
        .iter()
        .map(|g| solve(g, Method::SupportEnumeration, Options::default(), &budget))
        .map(|s| s.map(|s| s.equilibria.len()))
        .collect::<Result<_, _>>()?;
    println!(
        "| work | node processes | pinned | per second | vs one node |\n|---|---|---|---|---|"
    );
    for (work, label) in [
        (Work::Nash, "Nash 9×9 support enumeration (games)"),
        (Work::FedMedian, "FedMedian, 9 × 100,000 floats (rounds)"),
    ] {
        let mut one = None;
        for k in 1..=3 {
            let rate = throughput(&swarm_bin, work, k, cores, &games, &expected).await?;
            let base = *one.get_or_insert(rate);
            let pinned = if k <= cores {
                format!("one core each (of {cores})")
            } else {
                format!("no: {k} nodes on {} cores", cores.max(1))
            };
            println!(
                "| {label} | {k} | {pinned} | {rate:.1} | {:.2}× |",
                rate / base
            );
        }
    }
    let [(h50, h99), (f50, f99)] = latency(&swarm_bin).await?;
    println!("\n| echo request-reply | p50 | p99 |\n|---|---|---|");
    println!(
        "| in process | {:.1} µs | {:.1} µs |",
        h50.as_secs_f64() * 1e6,
        h99.as_secs_f64() * 1e6
    );
    println!(
        "| to a peer node (loopback) | {:.1} µs | {:.1} µs |",
        f50.as_secs_f64() * 1e6,
        f99.as_secs_f64() * 1e6
    );
    println!(
        "\nNash: {GAMES} seeded 9×9 games per row, 8 calls in flight per node. FedMedian: {FL_ROUNDS} rounds per row, 2 in flight per node, each opened where the expected wait is shortest, its {FL_CLIENTS} updates of {FL_DIM} floats sent to that node, the last one aggregating; every model checked against the local median. Node `a` (this process, not pinned) runs no pool and encodes every request. Echo: 2,500 sequential calls after 500 warm-up."
    );
    Ok(())
}
