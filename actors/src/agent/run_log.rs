//! A run's log on disk: one JSON line per record — the start (target and input), each
//! completed step with its report, and the end (the result, the failure, or the cancel).
//! Each record is appended and synced before the run goes on, so a run cut by a crash
//! resumes from its last completed step. Reading tells a torn last line (a crash
//! mid-append: ignored) from a bad line with records after it (corruption: the log is
//! refused and kept as it is, never rewritten).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::react::RunReport;

/// What a run runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A workflow, by service name.
    Workflow(String),
    /// An agent, by service name.
    Agent(String),
}

impl Target {
    /// The service's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Workflow(n) | Self::Agent(n) => n,
        }
    }
}

/// One record of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// The run began.
    Started {
        /// Its target.
        target: Target,
        /// Its task.
        input: String,
    },
    /// A step completed.
    Step {
        /// Its number.
        index: usize,
        /// Its report.
        report: Box<RunReport>,
    },
    /// The run finished with this result.
    Finished {
        /// The result (a workflow's or an agent's report).
        result: Value,
    },
    /// The run failed.
    Failed {
        /// Why.
        error: String,
    },
    /// The run was cancelled.
    Cancelled,
}

/// A run as its log tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// Its target.
    pub target: Target,
    /// Its task.
    pub input: String,
    /// Its completed steps.
    pub steps: BTreeMap<usize, RunReport>,
    /// How it ended, if it did.
    pub end: Option<Record>,
}

/// The log file of run `id` under `dir`.
pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.jsonl"))
}

/// Appends `record` to the log at `path` and syncs it.
pub fn append(path: &Path, record: &Record) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}

/// Reads a log's text: a torn last line is dropped; any other bad line is an error
/// naming it.
pub fn replay(text: &str) -> Result<Replayed, String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut records = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => records.push(r),
            // Only the last line may be torn: nothing follows it and it has no newline.
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => return Err(format!("line {}: {e}", i + 1)),
        }
    }
    let mut records = records.into_iter();
    let Some(Record::Started { target, input }) = records.next() else {
        return Err("the log does not begin with its start".into());
    };
    let mut run = Replayed {
        target,
        input,
        steps: BTreeMap::new(),
        end: None,
    };
    for r in records {
        match r {
            Record::Step { index, report } => {
                run.steps.insert(index, *report);
            }
            Record::Started { .. } => return Err("a second start record".into()),
            end => run.end = Some(end),
        }
    }
    Ok(run)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::agent::react::StopReason;

    fn report(answer: &str) -> RunReport {
        RunReport {
            role: "a".into(),
            input: "task".into(),
            answer: Some(answer.into()),
            stop: StopReason::Answered,
            error: None,
            handoff_to: None,
            turns: 1,
            tool_calls: 0,
            prompt_tokens: 3,
            completion_tokens: 2,
            events: Vec::new(),
        }
    }

    #[test]
    fn a_log_replays_and_a_torn_tail_is_dropped_but_corruption_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "r1");
        let started = Record::Started {
            target: Target::Workflow("chain".into()),
            input: "task".into(),
        };
        append(&p, &started).unwrap();
        append(
            &p,
            &Record::Step {
                index: 0,
                report: Box::new(report("x")),
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let run = replay(&text).unwrap();
        assert_eq!(
            (run.target.name(), run.steps.len(), &run.end),
            ("chain", 1, &None)
        );
        assert_eq!(run.steps[&0].answer.as_deref(), Some("x"));
        // A crash mid-append leaves half a line: ignored.
        let torn = format!("{text}{{\"record\":\"step\",\"ind");
        assert_eq!(replay(&torn).unwrap().steps.len(), 1);
        // A bad line with records after it: refused, naming the line.
        let lines: Vec<&str> = text.lines().collect();
        let corrupt = format!("{}\n{{oops\n{}\n", lines[0], lines[1]);
        assert!(replay(&corrupt).unwrap_err().starts_with("line 2:"));
        append(&p, &Record::Cancelled).unwrap();
        let ended = replay(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(ended.end, Some(Record::Cancelled));
        assert!(replay("").is_err());
    }
}
