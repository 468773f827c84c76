//! The scheduler in front of a service's pools, with pools of a test-only service whose
//! service time is set per pool (`FakePacedPool`: it sleeps `per_unit` × units on tokio's
//! clock, which these tests pause, so speeds are exact and nothing waits on the wall).
//! Faster pools get proportionally more work; a failing pool trips its breaker and the
//! traffic moves; an absent `cuda:0` pool is reported and skipped; an idle pool takes
//! queued work from a stalled one.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use swarm_runtime::config::Section;
use swarm_runtime::scheduler::GpuInfo;
use swarm_runtime::{
    Registry, RequestContext, Service, ServiceError, ServiceFactory, Swarm, SwarmConfig,
};
use swarm_test_util::within;
use tokio::sync::Semaphore;

/// A request of `units`; `hold` makes it wait for a permit first.
#[derive(Clone, Default)]
struct PacedJob {
    units: u32,
    hold: Option<Arc<Semaphore>>,
}

/// Test-only service: each pool sleeps its own `per_unit` per unit and answers its name;
/// `failing` (shared by the test) makes the pool named `bad` answer `Internal`.
#[derive(Clone)]
struct FakePacedPool {
    pool: String,
    per_unit: Duration,
    failing: Arc<AtomicBool>,
}

impl Service for FakePacedPool {
    type Request = PacedJob;
    type Response = String;

    async fn handle(&mut self, job: PacedJob, _: &RequestContext) -> Result<String, ServiceError> {
        if let Some(gate) = job.hold {
            gate.acquire()
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?
                .forget();
        }
        if self.pool == "bad" && self.failing.load(SeqCst) {
            return Err(ServiceError::Internal(
                "injected fault: pool `bad` fails".into(),
            ));
        }
        tokio::time::sleep(self.per_unit * job.units).await;
        Ok(self.pool.clone())
    }

    fn work_units(job: &PacedJob) -> f64 {
        f64::from(job.units)
    }

    fn concurrent_copy(&self) -> Option<Self> {
        Some(self.clone())
    }
}

fn registry(failing: Arc<AtomicBool>, gpus: Vec<GpuInfo>) -> Registry {
    let mut r = Registry::new();
    r.service::<FakePacedPool, _>("paced", move |params: &Section<'_>| {
        let per_unit = params.or("per_unit", Duration::from_millis(1));
        let pool = params.placement().pool;
        let failing = failing.clone();
        let factory: ServiceFactory<FakePacedPool> = Arc::new(move || {
            Ok(FakePacedPool {
                pool: pool.clone(),
                per_unit,
                failing: failing.clone(),
            })
        });
        Some(factory)
    });
    r.device_detector(Arc::new(move || gpus.clone()));
    r
}

async fn start(yaml: &str, failing: Arc<AtomicBool>, gpus: Vec<GpuInfo>) -> Swarm {
    let config = SwarmConfig::from_yaml(yaml, "scheduler.yaml", &registry(failing, gpus))
        .unwrap_or_else(|e| panic!("{e}"));
    Swarm::start(config).await.expect("swarm starts")
}

/// Sends `n` requests of `units` from `clients` concurrent callers; counts answers by pool.
async fn load(swarm: &Swarm, clients: usize, n: usize, units: u32) -> Vec<(String, usize)> {
    let client = swarm.client::<FakePacedPool>("paced").unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let client = client.clone();
        let share = n / clients + usize::from(c < n % clients);
        tasks.spawn(async move {
            let mut served = Vec::new();
            for _ in 0..share {
                let job = PacedJob { units, hold: None };
                served.push(client.call(job).await.expect("served"));
            }
            served
        });
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    while let Some(done) = within(tasks.join_next()).await {
        for pool in done.unwrap() {
            match counts.iter_mut().find(|(p, _)| *p == pool) {
                Some((_, k)) => *k += 1,
                None => counts.push((pool, 1)),
            }
        }
    }
    counts.sort();
    counts
}

fn share(counts: &[(String, usize)], pool: &str) -> f64 {
    let total: usize = counts.iter().map(|(_, k)| k).sum();
    let mine = counts
        .iter()
        .find(|(p, _)| p == pool)
        .map_or(0, |(_, k)| *k);
    mine as f64 / total as f64
}

const TWO_SPEEDS: &str = "
services:
  paced:
    type: paced
    routing: ROUTING
    pools:
      - name: fast
        device: cpu
        params: { per_unit: 2ms }
      - name: slow
        device: cpu
        params: { per_unit: 6ms }
";

#[tokio::test(start_paused = true)]
async fn pools_get_work_in_proportion_to_their_speed() {
    let yaml = TWO_SPEEDS.replace("ROUTING", "estimate");
    let swarm = start(&yaml, Default::default(), vec![]).await;
    // fast serves 3× the rate of slow: ideally 3/4 of the work; round robin gives 1/2.
    let counts = load(&swarm, 6, 400, 2).await;
    let fast = share(&counts, "fast");
    assert!(
        (0.65..=0.85).contains(&fast),
        "fast pool's share {fast:.3} ({counts:?})"
    );
    assert!(
        share(&counts, "slow") > 0.1,
        "the slow pool helps too ({counts:?})"
    );
    let metrics = swarm.render_metrics();
    assert!(
        metrics.contains(
            "swarm_scheduler_routed_total{service=\"paced\",pool=\"fast\",device=\"cpu\"}"
        ),
        "{metrics}"
    );
    // The EWMAs converge on the real per-unit times.
    let per_unit = |pool: &str| -> f64 {
        let key = format!(
            "swarm_scheduler_service_time_seconds{{service=\"paced\",pool=\"{pool}\",device=\"cpu\"}} "
        );
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&key))
            .expect("service time line");
        line[key.len()..].parse().unwrap()
    };
    assert!(
        (per_unit("fast") - 0.002).abs() < 0.0005,
        "{}",
        per_unit("fast")
    );
    assert!(
        (per_unit("slow") - 0.006).abs() < 0.0015,
        "{}",
        per_unit("slow")
    );
    assert!(metrics.contains("swarm_queue_accepted_total{service=\"paced\",pool=\"slow\"}"));
    swarm.shutdown().await;

    let yaml = TWO_SPEEDS.replace("ROUTING", "round_robin");
    let swarm = start(&yaml, Default::default(), vec![]).await;
    let counts = load(&swarm, 6, 400, 2).await;
    assert_eq!(
        share(&counts, "fast"),
        0.5,
        "round robin alternates ({counts:?})"
    );
    swarm.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_pool_trips_its_breaker_and_traffic_moves() {
    let yaml = "
services:
  paced:
    type: paced
    pools:
      - { name: bad, device: cpu, breaker: { failures: 3, window: 10s, cooldown: 5s } }
      - { name: good, device: cpu, params: { per_unit: 1ms } }
";
    let failing = Arc::new(AtomicBool::new(true));
    let swarm = start(yaml, failing.clone(), vec![]).await;
    let client = swarm.client::<FakePacedPool>("paced").unwrap();
    let job = || PacedJob {
        units: 1,
        hold: None,
    };
    // Nothing observed yet: estimates tie, and the first pool listed wins the tie.
    let mut failures = 0;
    for _ in 0..20 {
        match within(client.call(job())).await {
            Ok(pool) => assert_eq!(pool, "good"),
            Err(e) => {
                assert_eq!(e.code().as_str(), "internal");
                failures += 1;
            }
        }
    }
    assert_eq!(
        failures, 3,
        "three failures open the breaker; the rest go to `good`"
    );
    let metrics = swarm.render_metrics();
    assert!(
        metrics.contains(
            "swarm_scheduler_breaker_state{service=\"paced\",pool=\"bad\",device=\"cpu\"} 2"
        ),
        "{metrics}"
    );
    let health = swarm.health(Duration::from_secs(1)).await;
    assert!(health[0].1.healthy, "the service still serves");
    assert!(
        health[0].1.detail.contains("pool bad (cpu): breaker open"),
        "{}",
        health[0].1.detail
    );

    // After the cooldown one probe goes to `bad`: it fails, and the breaker opens again.
    tokio::time::advance(Duration::from_secs(5)).await;
    let probed = within(client.call(job())).await;
    assert!(probed.is_err(), "the probe went to the failing pool");
    assert_eq!(within(client.call(job())).await.unwrap(), "good");
    // Healed: the next probe closes the breaker, and `bad` (idle, tie-first) serves again.
    failing.store(false, SeqCst);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(within(client.call(job())).await.unwrap(), "bad");
    let metrics = swarm.render_metrics();
    assert!(metrics.contains(
        "swarm_scheduler_breaker_state{service=\"paced\",pool=\"bad\",device=\"cpu\"} 0"
    ));
    assert!(metrics.contains(
        "swarm_scheduler_breaker_opened_total{service=\"paced\",pool=\"bad\",device=\"cpu\"} 2"
    ));
    swarm.shutdown().await;
}

const GPU_AND_CPU: &str = "
services:
  paced:
    type: paced
    pools:
      - { name: gpu0, device: 'cuda:0', params: { per_unit: 1ms } }
      - { name: cpu, device: cpu, params: { per_unit: 1ms } }
";

#[tokio::test(start_paused = true)]
async fn an_absent_cuda_pool_is_reported_and_its_work_goes_to_the_others() {
    let swarm = start(GPU_AND_CPU, Default::default(), vec![]).await;
    let counts = load(&swarm, 4, 40, 1).await;
    assert_eq!(counts, vec![("cpu".to_string(), 40)]);
    let health = swarm.health(Duration::from_secs(1)).await;
    assert!(health[0].1.healthy);
    assert!(
        health[0]
            .1
            .detail
            .contains("pool gpu0 (cuda:0): absent: cuda:0 is absent: no CUDA device found"),
        "{}",
        health[0].1.detail
    );
    let pools = swarm.pools("paced");
    assert_eq!(pools.len(), 2);
    assert!(!pools.iter().find(|p| p.name == "gpu0").unwrap().serving);
    let metrics = swarm.render_metrics();
    assert!(
        metrics.contains(
            "swarm_scheduler_pool_up{service=\"paced\",pool=\"gpu0\",device=\"cuda:0\"} 0"
        ),
        "{metrics}"
    );
    swarm.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_present_gpu_pool_starts_and_wins_ties() {
    let gpu = GpuInfo {
        index: 0,
        name: "test-listed GPU".into(),
        memory_bytes: 16 << 30,
    };
    let swarm = start(GPU_AND_CPU, Default::default(), vec![gpu.clone()]).await;
    assert_eq!(swarm.gpus(), &[gpu]);
    let client = swarm.client::<FakePacedPool>("paced").unwrap();
    // Sequential calls: both idle, equal speed — the GPU pool wins every tie.
    for _ in 0..5 {
        let job = PacedJob {
            units: 1,
            hold: None,
        };
        assert_eq!(within(client.call(job)).await.unwrap(), "gpu0");
    }
    swarm.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_pool_takes_queued_work_from_a_stalled_one() {
    let yaml = "
services:
  paced:
    type: paced
    pools:
      - { name: quick, device: cpu, params: { per_unit: 1ms } }
      - { name: steady, device: cpu, params: { per_unit: 10ms } }
";
    let swarm = start(yaml, Default::default(), vec![]).await;
    let client = swarm.client::<FakePacedPool>("paced").unwrap();
    // Two at once: one to each pool, so both pools' pace is known.
    let warm = load(&swarm, 2, 2, 1).await;
    assert_eq!(
        warm,
        vec![("quick".to_string(), 1), ("steady".to_string(), 1)]
    );
    // `quick` takes a request that hangs on a gate, then three more queue behind it
    // (by its pace it would finish them long before `steady` could).
    let gate = Arc::new(Semaphore::new(0));
    let held = {
        let (c, job) = (
            client.clone(),
            PacedJob {
                units: 1,
                hold: Some(gate.clone()),
            },
        );
        tokio::spawn(async move { c.call(job).await })
    };
    let mut queued = Vec::new();
    for _ in 0..3 {
        let c = client.clone();
        queued.push(tokio::spawn(async move {
            c.call(PacedJob {
                units: 1,
                hold: None,
            })
            .await
        }));
        tokio::task::yield_now().await;
    }
    // While the gate stays shut, `steady` takes them over as `quick`'s stall grows.
    for q in queued {
        assert_eq!(within(q).await.unwrap().unwrap(), "steady");
    }
    let metrics = swarm.render_metrics();
    let stolen = "swarm_scheduler_stolen_total{service=\"paced\",pool=\"steady\",device=\"cpu\"} ";
    let line = metrics.lines().find(|l| l.starts_with(stolen)).unwrap();
    let n: u64 = line[stolen.len()..].parse().unwrap();
    assert!(
        n >= 1,
        "at least one was taken from `quick`'s queue: {line}"
    );
    gate.add_permits(1);
    assert_eq!(within(held).await.unwrap().unwrap(), "quick");
    swarm.shutdown().await;
}

#[test]
fn pool_mistakes_are_reported_with_file_line_and_key_path() {
    let yaml = "
services:
  paced:
    type: paced
    workers: 2
    pools:
      - { name: a, device: gpu }
      - { name: a, device: cpu, url: 'http://x' }
      - { name: r, device: remote, workers: 2 }
      - { name: s, device: remote, url: 'ftp://x', max_concurrency: 0 }
      - { device: cpu, breaker: { failures: 0 }, params: { per_unit: fast } }
";
    let errors = SwarmConfig::from_yaml(yaml, "pools.yaml", &registry(Default::default(), vec![]))
        .expect_err("invalid");
    let text = errors.to_string();
    for expected in [
        "pools.yaml:5:14: services.paced.workers: with `pools`, each pool sets its own `workers`",
        "pools.yaml:7:28: services.paced.pools[0].device: unknown device `gpu` (expected cpu, cuda:N or remote)",
        "pools.yaml:8:17: services.paced.pools[1].name: pool `a` is named twice",
        "services.paced.pools[1].url: only remote pools take `url` (this one is `cpu`)",
        "services.paced.pools[2].workers: a remote pool takes `max_concurrency`, not `workers`",
        "services.paced.pools[2].url: required key is missing",
        "services.paced.pools[3].url: `ftp://x` is not an http:// or https:// URL",
        "services.paced.pools[3].max_concurrency: must be between 1 and 4096",
        "services.paced.pools[4].name: required key is missing",
        "services.paced.pools[4].breaker.failures: must be at least 1",
        "services.paced.pools[4].params.per_unit:",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_rust_builder_declares_pools_like_yaml() {
    use swarm_runtime::scheduler::{BreakerConfig, Device, Routing};
    use swarm_runtime::topology::{PoolOptions, ServiceOptions, SwarmBuilder};
    let registry = registry(Default::default(), vec![]);
    let pools = [
        PoolOptions::new("gpu0", Device::Cuda(0)).params(serde_json::json!({ "per_unit": "1ms" })),
        PoolOptions::new("cpu", Device::Cpu)
            .workers(2)
            .concurrency(4)
            .breaker(BreakerConfig::default()),
    ];
    let options = ServiceOptions::new()
        .pools(pools)
        .routing(Routing::Estimate);
    let swarm = SwarmBuilder::new("built")
        .service_with("paced", "paced", serde_json::json!({}), options)
        .start(&registry)
        .await
        .expect("starts");
    let pools = swarm.pools("paced");
    assert_eq!(pools.len(), 2);
    assert!(pools.iter().any(|p| p.name == "cpu" && p.serving));
    assert!(
        pools
            .iter()
            .any(|p| p.name == "gpu0" && p.state.starts_with("absent"))
    );
    let client = swarm.client::<FakePacedPool>("paced").unwrap();
    let job = PacedJob {
        units: 1,
        hold: None,
    };
    assert_eq!(within(client.call(job)).await.unwrap(), "cpu");
    swarm.shutdown().await;
    // A mistake is refused with its key path, like YAML's.
    let bad = ServiceOptions::new().pools([PoolOptions::remote("r", "ftp://x", 4)]);
    let errors = SwarmBuilder::new("bad")
        .service_with("paced", "paced", serde_json::json!({}), bad)
        .build(&registry)
        .expect_err("invalid");
    assert!(
        errors
            .to_string()
            .contains("services.paced.pools[0].url: `ftp://x` is not an http:// or https:// URL"),
        "{errors}"
    );
}
