//! The `swarm` binary: validate reports every error with file:line; graph draws the
//! topology; up prints one ready line, serves, and on SIGTERM answers in-flight work
//! and exits 0.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common;

const SWARM: &str = env!("CARGO_BIN_EXE_swarm");

/// The launcher, with the test FHE key set and the repository's scoring models for
/// configs that have an `fhe` service (tests run in `actors/`, not the repository root).
fn swarm() -> Command {
    let mut c = Command::new(SWARM);
    c.env("SWARM_FHE_KEYS", common::fhe_keys::dir());
    c.env("SWARM_FHE_MODELS", repo_file("config/fhe-models"));
    c
}

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// Its standard output, kept open while it runs (it prints a last line when it stops).
type Stdout = BufReader<std::process::ChildStdout>;

/// Runs `swarm up --config <config>` and waits for its ready line: the child, its URL and
/// its standard output.
fn start_up(mut up: Command, config: &std::path::Path) -> (std::process::Child, String, Stdout) {
    let mut child = up
        .args(["up", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("ready line");
    let url = line.trim().rsplit(' ').next().expect("url").to_string();
    (child, url, stdout)
}

#[test]
fn the_example_agent_swarms_validate() {
    for file in ["config/agents/dispute.yaml", "config/agents/research.yaml"] {
        let out = swarm()
            .arg("validate")
            .arg(repo_file(file))
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The graph draws each agent's tools and the services they use.
    let graph = |format: &str| {
        let out = swarm()
            .args(["graph", "--format", format])
            .arg(repo_file("config/agents/dispute.yaml"))
            .output()
            .expect("run");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dot = graph("dot");
    for needle in [
        "\"mediator:tool:solve_game\" [shape=note, label=\"tool solve_game\"]",
        "\"mediator\" -> \"mediator:tool:solve_game\" [label=\"tool\"]",
        "\"clerk\" -> \"clerk:tool:propose\"",
        "\"mediator\" -> \"nash\" [style=bold",
    ] {
        assert!(dot.contains(needle), "{needle}\n{dot}");
    }
    assert!(graph("text").contains("tools: solve_game"));
}

#[test]
fn validate_accepts_the_default_config_and_lists_every_error_in_a_bad_one() {
    let ok = swarm()
        .arg("validate")
        .arg(repo_file("config/swarm.yaml"))
        .output()
        .expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let bad = std::env::temp_dir().join(format!("swarm-bad-{}.yaml", std::process::id()));
    std::fs::write(&bad, "gateway:\n  listen: nowhere\nservices:\n  echo:\n    type: echo\n    workers: 0\n    queue: { overflow: maybe }\n").expect("write");
    let out = swarm().arg("validate").arg(&bad).output().expect("run");
    let _ = std::fs::remove_file(&bad);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = bad.display();
    for expected in [
        format!(
            "{file}:2:11: gateway.listen: expected an address like 127.0.0.1:8080, found `nowhere`"
        ),
        format!("{file}:6:14: services.echo.workers: must be between 1 and 1024"),
        format!("{file}:7:24: services.echo.queue.overflow: unknown overflow policy `maybe`"),
        "3 error(s)".to_string(),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
}

#[test]
fn graph_draws_each_pool_once_with_its_batcher_and_dependencies() {
    let out = swarm()
        .args(["graph"])
        .arg(repo_file("config/swarm.yaml"))
        .output()
        .expect("run");
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(dot.starts_with("digraph \"swarm\" {"), "{dot}");
    for needle in [
        "\"root\" -> \"echo\" [style=dashed, label=\"supervises\"]",
        "\"component:gateway\" -> \"echo\"",
        "\"vector\" -> \"embed\" [style=bold",
        "\"embed\" -> \"embed:stage0\" [label=\"workers submit to\"]",
        "label=\"batcher: up to 32 items",
    ] {
        assert!(dot.contains(needle), "missing {needle} in\n{dot}");
    }
    // One node per pool, however many workers: no per-worker nodes.
    assert!(!dot.contains("worker1"), "{dot}");
    assert!(dot.contains("\\n2 workers\\n"), "{dot}");
    let nodes = dot.lines().filter(|l| l.contains(" [shape=")).count();
    assert!(nodes < 20, "{nodes} nodes:\n{dot}");
    let out = swarm()
        .args(["graph", "--format", "text"])
        .arg(repo_file("config/swarm.yaml"))
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("─ echo [echo] 2 workers, supervisor one_for_one")
            && text.contains("─ nash [nash]")
            && text.contains("─ fl [fl]")
            && text.contains("─ embed [embed]")
            && text.contains("uses: embed")
            && text.contains("batcher: up to 32 items"),
        "{text}"
    );
}

#[test]
fn up_serves_then_drains_in_flight_work_on_sigterm_and_exits_zero() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut child = swarm()
        .args(["up", "--config"])
        .arg(repo_file("config/swarm.yaml"))
        .env("SWARM_LISTEN", "127.0.0.1:0")
        .env("SWARM_LOG", "warn")
        .env("SWARM_MODELS", repo_file("models"))
        .env("SWARM_DATA", data.path())
        .env_remove("SWARM_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("ready line");
    assert!(
        line.starts_with("swarm swarm ready: gateway listening on http://127.0.0.1:"),
        "{line}"
    );
    let url = line.trim().rsplit(' ').next().expect("url").to_string();

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let status = rt.block_on(async {
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let health = c.get(format!("{url}/health")).send().await.expect("health");
        assert_eq!(health.status(), 200);
        let u = url.clone();
        let c2 = c.clone();
        let in_flight = tokio::spawn(async move {
            c2.post(format!("{u}/v1/echo"))
                // Far longer than reaching SIGTERM takes, far shorter than the 10 s grace.
                .json(&serde_json::json!({"message": "drain me", "delay_ms": 3000}))
                .send()
                .await
        });
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let m = c
                    .get(format!("{url}/metrics"))
                    .send()
                    .await
                    .expect("metrics")
                    .text()
                    .await
                    .expect("text");
                if m.contains("swarm_service_in_flight{service=\"echo\"} 1") {
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("request in flight");
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let resp = tokio::time::timeout(Duration::from_secs(20), in_flight)
            .await
            .expect("answered")
            .expect("task")
            .expect("send");
        assert_eq!(resp.status(), 200);
        resp.json::<serde_json::Value>().await.expect("json")
    });
    assert_eq!(status["message"], "drain me");
    let mut rest = String::new();
    stdout.read_line(&mut rest).expect("stopped line");
    assert_eq!(rest.trim(), "swarm swarm stopped");
    let exit = child.wait().expect("exit");
    assert_eq!(exit.code(), Some(0));
}

#[test]
fn keys_from_an_environment_variable_guard_the_api_and_a_missing_variable_stops_start_up() {
    let config = std::env::temp_dir().join(format!("swarm-keys-env-{}.yaml", std::process::id()));
    std::fs::write(&config, "gateway:\n  listen: 127.0.0.1:0\n  auth:\n    keys_env: SWARM_TEST_KEYS\nservices:\n  echo:\n    type: echo\n").expect("write");

    let missing = swarm()
        .args(["up", "--config"])
        .arg(&config)
        .env_remove("SWARM_TEST_KEYS")
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("keys_env names SWARM_TEST_KEYS, which is not set"),
        "{stderr}"
    );

    let mut up = swarm();
    up.env("SWARM_TEST_KEYS", "alpha, beta")
        .env("SWARM_LOG", "warn")
        .stderr(Stdio::inherit());
    let (mut child, url, _stdout) = start_up(up, &config);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let statuses = rt.block_on(async {
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut out = Vec::new();
        for key in [None, Some("gamma"), Some("beta"), Some("alpha")] {
            let mut req = c
                .post(format!("{url}/v1/echo"))
                .json(&serde_json::json!({"message": "k"}));
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            out.push(req.send().await.expect("send").status().as_u16());
        }
        out
    });
    assert_eq!(statuses, [401, 401, 200, 200]);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().expect("exit").code(), Some(0));
    let _ = std::fs::remove_file(&config);
}

#[test]
fn sigterm_during_long_blocking_work_exits_within_the_grace_period() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("swarm.yaml");
    std::fs::write(
        &config,
        "shutdown:\n  grace: 1s\ngateway:\n  listen: 127.0.0.1:0\n  body_limit: 8MiB\nservices:\n  nash:\n    type: nash\n    deadline: 120s\n",
    )
    .expect("write");
    let mut up = swarm();
    up.stderr(Stdio::null());
    let (mut child, url, _stdout) = start_up(up, &config);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let c = reqwest::Client::new();
        // A 400 × 400 zero-sum game: minutes of simplex pivots, far past the grace period.
        let n = 400;
        let row: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| ((i * 31 + j * 17) % 97) as f64 - 48.0)
                    .collect()
            })
            .collect();
        let col: Vec<Vec<f64>> = row.iter().map(|r| r.iter().map(|v| -v).collect()).collect();
        let body = serde_json::json!({"row": row, "col": col, "method": "zero_sum"});
        let (c2, u) = (c.clone(), url.clone());
        let solving = tokio::spawn(async move {
            c2.post(format!("{u}/v1/nash/solve"))
                .header("x-swarm-timeout-ms", "120000")
                .json(&body)
                .send()
                .await
        });
        swarm_test_util::until_some(|| {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let m = c
                    .get(format!("{url}/metrics"))
                    .send()
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                m.contains("swarm_service_in_flight{service=\"nash\"} 1")
                    .then_some(())
            }
        })
        .await;
        let started = std::time::Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        // The request is answered (503: shut down before it finished), not dropped.
        let answer = swarm_test_util::within(solving).await.expect("task");
        if let Ok(r) = answer {
            assert_eq!(r.status(), 503);
        }
        let exit = tokio::task::spawn_blocking(move || child.wait().expect("exit"));
        let exit = swarm_test_util::within(exit).await.expect("join");
        assert_eq!(exit.code(), Some(0));
        // Grace 1 s plus one for the blocking work; minutes before this was fixed. Generous
        // for a loaded machine, far below the old behaviour.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn the_pools_config_validates_draws_its_pools_and_serves_on_cpu_without_a_gpu() {
    let config = repo_file("config/pools.yaml");
    let ok = swarm().arg("validate").arg(&config).output().expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = swarm().arg("graph").arg(&config).output().expect("run");
    let dot = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "\"llm\" -> \"llm:pool0\" [label=\"routes to\"]",
        "pool gpu0 on cuda:0: 1 worker × 32 at once",
        "pool cpu on cpu: 1 worker × 8 at once",
        "\"embed\" -> \"embed:pool1\"",
    ] {
        assert!(dot.contains(needle), "missing {needle} in\n{dot}");
    }

    let data = tempfile::tempdir().expect("temp dir");
    let mut up = swarm();
    up.env("SWARM_LISTEN", "127.0.0.1:0")
        .env("SWARM_LOG", "warn")
        .env("SWARM_MODELS", repo_file("models"))
        .env("SWARM_DATA", data.path())
        .env_remove("SWARM_OTLP_ENDPOINT");
    let (child, url, _stdout) = start_up(up, &config);
    /// Stops the swarm even when an assertion fails, so no process outlives the test.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Running(child);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let health: serde_json::Value =
            c.get(format!("{url}/health")).send().await.expect("health").json().await.expect("json");
        assert_eq!(health["status"], "ok", "{health}");
        for service in ["llm", "embed"] {
            let pools = &health["services"][service]["pools"];
            let gpu = pools.as_array().expect("pools").iter().find(|p| p["name"] == "gpu0").expect("gpu0");
            assert_eq!(gpu["serving"], false);
            assert!(gpu["state"].as_str().expect("state").starts_with("absent: cuda:0 is absent"), "{gpu}");
            let cpu = pools.as_array().expect("pools").iter().find(|p| p["name"] == "cpu").expect("cpu");
            assert_eq!(cpu["serving"], true, "{cpu}");
        }
        let e = c
            .post(format!("{url}/v1/embeddings"))
            .json(&serde_json::json!({ "input": ["served on the cpu pool"] }))
            .send()
            .await
            .expect("embeddings");
        assert_eq!(e.status(), 200);
        let chat = c
            .post(format!("{url}/v1/chat/completions"))
            .json(&serde_json::json!({ "messages": [{ "role": "user", "content": "Hi" }], "max_tokens": 4 }))
            .send()
            .await
            .expect("chat");
        assert_eq!(chat.status(), 200);
        let metrics = c.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("text");
        let routed = "swarm_scheduler_routed_total{service=\"llm\",pool=\"cpu\",device=\"cpu\"} ";
        let line = metrics.lines().find(|l| l.starts_with(routed)).expect("routed line");
        assert_ne!(&line[routed.len()..], "0", "served on the CPU pool");
        assert!(metrics.contains("swarm_scheduler_pool_up{service=\"embed\",pool=\"gpu0\",device=\"cuda:0\"} 0"));
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    assert!(child.0.wait().expect("exit").success());
}

#[test]
fn fhe_keygen_once_encrypt_with_the_public_key_and_validate_names_a_missing_key_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys");
    let config = dir.path().join("fhe.yaml");
    std::fs::write(
        &config,
        format!(
            "services:\n  fhe:\n    type: fhe\n    params:\n      keys: {}\n",
            keys.display()
        ),
    )
    .expect("write");
    let out = Command::new(SWARM)
        .arg("validate")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:5:13: services.fhe.params.keys: no FHE key set in {} (make one with `swarm fhe keygen --out {}`)",
            config.display(),
            keys.display(),
            keys.display()
        )),
        "{stderr}"
    );

    let keygen = || {
        Command::new(SWARM)
            .args(["fhe", "keygen", "--out"])
            .arg(&keys)
            .output()
            .expect("run")
    };
    let out = keygen();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("server_key.bin"));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(keys.join("client_key.bin"))
        .expect("client key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner reads the client key");
    let again = keygen();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a key set"));
    let ok = Command::new(SWARM)
        .arg("validate")
        .arg(&config)
        .output()
        .expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let out = Command::new(SWARM)
        .args(["fhe", "encrypt", "--ballot", "1", "--options", "3", "--key"])
        .arg(keys.join("public_key.bin"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lists = swarm_actors::fhe::core::wire::unframe(&out.stdout).expect("framed");
    assert_eq!(lists.len(), 1);
    swarm_actors::fhe::core::wire::read_list(lists[0], 3).expect("a packed list of 3 values");
}

#[test]
fn validate_names_a_scoring_model_file_that_cannot_be_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"{"kind": "logistic", "weights": [], "bias": 0, "input_range": [0, 1]}"#,
    )
    .expect("write");
    let config = dir.path().join("fhe.yaml");
    std::fs::write(
        &config,
        format!(
            "services:\n  fhe:\n    type: fhe\n    params:\n      keys: {}\n      models:\n        empty: {}\n        missing: {}\n",
            common::fhe_keys::dir().display(),
            broken.display(),
            dir.path().join("nope.json").display()
        ),
    )
    .expect("write");
    let out = Command::new(SWARM)
        .arg("validate")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (line, key, says) in [
        (7, "empty", "a model has 1 to 1024 weights, this one 0"),
        (8, "missing", "cannot read"),
    ] {
        let at = format!("{}:{line}:", config.display());
        let path = format!("services.fhe.params.models.{key}");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&at) && l.contains(&path) && l.contains(says)),
            "{stderr}"
        );
    }
}
