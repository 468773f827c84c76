//! Runs that outlive their request, on real `swarm up` processes and the real model:
//! `POST /v1/runs` answers 202, the events stream (SSE) shows each agent's turns and
//! steps and ends with the result, a run can be cancelled, and a run whose process is
//! killed with SIGKILL after its first step resumes from that step when the swarm
//! starts again (the first agent does not run again); a corrupt run log is reported and
//! kept as it is.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::cluster_up::up;
use crate::common;

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let r = env!("CARGO_MANIFEST_DIR");
    let data = dir.join("runs");
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    params: {{ model: {r}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf, context: 2048, threads: 2 }}\n  planner:\n    type: agent\n    deadline: 300s\n    params: {{ model: llm, system: \"Write a one-line plan.\", max_turns: 1, max_tokens: 24 }}\n  writer:\n    type: agent\n    deadline: 300s\n    params: {{ model: llm, system: \"Write a long, detailed story.\", max_turns: 1, max_tokens: 400 }}\n  chain:\n    type: workflow\n    deadline: 300s\n    params: {{ kind: sequential, agents: [planner, writer] }}\n  runs:\n    type: runs\n    params: {{ data_dir: \"{}\", workflows: [chain], agents: [planner] }}\n",
        data.display()
    );
    let path = dir.join("swarm.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Reads the run's events until `stop` says so (or the stream ends); bounded.
pub(crate) async fn events_until(url: &str, id: &str, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut r = common::http_long()
        .get(format!("{url}/v1/runs/{id}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut seen = Vec::new();
    let mut buffer = String::new();
    while let Some(chunk) = common::within(r.chunk()).await.unwrap() {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                let event: Value = serde_json::from_str(data).unwrap();
                let done = stop(&event);
                seen.push(event);
                if done {
                    return seen;
                }
            }
        }
    }
    seen
}

async fn start(url: &str, body: Value) -> (StatusCode, Value) {
    common::post(&common::http(), format!("{url}/v1/runs"), body).await
}

#[test]
fn runs_stream_cancel_and_resume_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    // A corrupt log, there before the swarm starts: reported, kept as it is.
    let runs = dir.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let corrupt = "{\"record\":\"started\",\"target\":{\"workflow\":\"chain\"},\"input\":\"x\"}\n{oops\n{\"record\":\"cancelled\"}\n";
    std::fs::write(runs.join("broken.jsonl"), corrupt).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let (node, url, _logs) = up(&config, "unused");
    let id = rt.block_on(async {
        let (s, v) = common::get(&common::http(), format!("{url}/v1/runs/broken")).await;
        assert_eq!((s, &v["status"]), (StatusCode::OK, &json!("failed")), "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("is corrupt (line 2:"),
            "{v}"
        );
        for (body, status) in [
            (
                json!({ "workflow": "nope", "input": "x" }),
                StatusCode::NOT_FOUND,
            ),
            (json!({ "input": "x" }), StatusCode::UNPROCESSABLE_ENTITY),
            (
                json!({ "agent": "planner", "input": " " }),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ] {
            assert_eq!(start(&url, body).await.0, status);
        }
        assert_eq!(
            common::get(&common::http(), format!("{url}/v1/runs/none"))
                .await
                .0,
            StatusCode::NOT_FOUND
        );

        // A whole run of one agent: 202, then its events to the end.
        let (s, run) = start(&url, json!({ "agent": "planner", "input": "A picnic." })).await;
        assert_eq!(
            (s, &run["status"]),
            (StatusCode::ACCEPTED, &json!("running")),
            "{run}"
        );
        let id = run["id"].as_str().unwrap().to_string();
        let events = events_until(&url, &id, |e| e["type"] == "run_completed").await;
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .filter(|k| *k != "token_chunk")
            .collect();
        assert_eq!(
            kinds,
            [
                "turn_started",
                "answered",
                "step_completed",
                "run_completed"
            ],
            "{events:?}"
        );
        assert_eq!(events[0]["agent"], "planner");
        let answered = events.iter().find(|e| e["type"] == "answered").unwrap();
        // The answer streamed as token chunks first, which add up to it.
        let chunks: String = events
            .iter()
            .filter(|e| e["type"] == "token_chunk")
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        assert_eq!(json!(chunks), answered["text"], "{events:?}");
        let (_, done) = common::get(&common::http(), format!("{url}/v1/runs/{id}")).await;
        assert_eq!(
            (&done["status"], &done["result"]["answer"]),
            (&json!("completed"), &answered["text"]),
            "{done}"
        );

        // Cancelled while the writer writes (its first step is done).
        let (_, run) = start(
            &url,
            json!({ "workflow": "chain", "input": "Another picnic." }),
        )
        .await;
        let cancelled = run["id"].as_str().unwrap().to_string();
        events_until(&url, &cancelled, |e| {
            e["type"] == "step_completed" && e["index"] == 0
        })
        .await;
        let (s, v) = common::delete(&common::http(), format!("{url}/v1/runs/{cancelled}")).await;
        assert_eq!(
            (s, &v["status"]),
            (StatusCode::OK, &json!("cancelled")),
            "{v}"
        );
        let tail = events_until(&url, &cancelled, |e| e["type"] == "run_cancelled").await;
        assert_eq!(tail.last().unwrap()["type"], "run_cancelled");
        let log = std::fs::read_to_string(runs.join(format!("{cancelled}.jsonl"))).unwrap();
        assert!(
            log.trim_end().ends_with("{\"record\":\"cancelled\"}"),
            "{log}"
        );

        // The workflow: killed once its first step is logged.
        let (_, run) = start(
            &url,
            json!({ "workflow": "chain", "input": "A dragon who bakes bread." }),
        )
        .await;
        let id = run["id"].as_str().unwrap().to_string();
        events_until(&url, &id, |e| {
            e["type"] == "step_completed" && e["index"] == 0
        })
        .await;
        id
    });
    drop(node); // SIGKILL, mid-writer.
    let log = std::fs::read_to_string(runs.join(format!("{id}.jsonl"))).unwrap();
    assert!(
        !log.contains("\"record\":\"finished\""),
        "the kill came before the end"
    );

    let (_node, url, _logs) = up(&config, "unused");
    rt.block_on(async {
        let events = events_until(&url, &id, |e| {
            e["type"] == "run_completed" || e["type"] == "run_failed"
        })
        .await;
        assert_eq!(
            events.last().unwrap()["type"],
            "run_completed",
            "{events:?}"
        );
        assert!(
            events.iter().all(|e| e["agent"] != "planner"),
            "the planner ran again: {events:?}"
        );
        assert!(events.iter().any(|e| e["agent"] == "writer"));
        let (_, done) = common::get(&common::http(), format!("{url}/v1/runs/{id}")).await;
        assert_eq!(done["status"], "completed", "{done}");
        let steps = done["result"]["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2);
        assert!(
            steps[1]["input"]
                .as_str()
                .unwrap()
                .contains("planner answered:")
        );
        let (_, broken) = common::get(&common::http(), format!("{url}/v1/runs/broken")).await;
        assert_eq!(broken["status"], "failed");
    });
    assert_eq!(
        std::fs::read_to_string(runs.join("broken.jsonl")).unwrap(),
        corrupt,
        "kept as it is"
    );
}

/// `swarm run` prints progress and the answer; with a `runs` service the run is logged
/// and `--resume` carries a logged run on from its last step (the log here is written
/// by the test: a start and a completed planner step).
#[test]
fn swarm_run_prints_progress_and_resumes_a_logged_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let swarm = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_swarm"))
            .arg("run")
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, answer, progress) = swarm(&["chain", "--input", "A picnic."]);
    assert!(ok, "{progress}");
    assert!(!answer.is_empty(), "{progress}");
    for line in [
        "[planner] turn 1",
        "step 0 done",
        "[writer] turn 1",
        "[writer] answered:",
    ] {
        assert!(progress.contains(line), "{line}: {progress}");
    }
    assert!(progress.contains("run "), "{progress}");

    let runs = dir.path().join("runs");
    let planned = json!({ "record": "step", "index": 0, "report": {
        "role": "planner", "input": "A dragon.", "answer": "1. Find a dragon. 2. Write.", "stop": "answered",
        "error": null, "turns": 1, "tool_calls": 0, "prompt_tokens": 20, "completion_tokens": 9, "events": [] } });
    let started =
        json!({ "record": "started", "target": { "workflow": "chain" }, "input": "A dragon." });
    std::fs::write(
        runs.join("resumable.jsonl"),
        format!("{started}\n{planned}\n"),
    )
    .unwrap();
    let (ok, answer, progress) = swarm(&["--resume", "resumable"]);
    assert!(ok, "{progress}");
    assert!(!answer.is_empty());
    assert!(progress.contains("[writer] turn 1"), "{progress}");
    assert!(
        !progress.contains("[planner]"),
        "the planner ran again: {progress}"
    );
    let log = std::fs::read_to_string(runs.join("resumable.jsonl")).unwrap();
    let writer: Value = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["record"] == "step" && r["index"] == 1)
        .unwrap();
    assert!(
        writer["report"]["input"]
            .as_str()
            .unwrap()
            .ends_with("planner answered:\n1. Find a dragon. 2. Write."),
        "the writer got the logged plan: {writer}"
    );
    assert!(log.contains("\"record\":\"finished\""), "{log}");
    let (ok, _, message) = swarm(&["--resume", "no-such-run"]);
    assert!(!ok && message.contains("no run `no-such-run`"), "{message}");
}
