//! `swarm up` processes for the benchmarks that measure a swarm from outside: started
//! from a YAML file, ready once they say so, killed when dropped; their memory read from
//! `/proc`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{Context, bail};

/// A running `swarm up`, killed when dropped.
pub struct SwarmProcess {
    child: Child,
    // Held so the swarm's later stdout lines do not meet a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
}

impl SwarmProcess {
    /// Writes `yaml` to `dir/{name}.yaml` and runs `swarm_bin up` on it, on CPU `core`
    /// (through `taskset`) when given, with `env` set; returns once it prints `ready`.
    pub fn start(
        swarm_bin: &str,
        dir: &Path,
        name: &str,
        yaml: &str,
        core: Option<usize>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml)?;
        let mut cmd = match core {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", &c.to_string(), swarm_bin]);
                cmd
            }
            None => Command::new(swarm_bin),
        };
        cmd.args(["up", "--config"])
            .arg(&path)
            .env("SWARM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let mut stdout = child.stdout.take().map(BufReader::new);
        let mut line = String::new();
        if let Some(out) = stdout.as_mut() {
            out.read_line(&mut line)?;
        }
        let process = Self {
            child,
            _stdout: stdout,
        };
        if !line.contains("ready") {
            bail!("{name} did not start: {line}");
        }
        Ok(process)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its peak resident memory so far (`VmHWM`), in MiB.
    pub fn peak_mib(&self) -> Option<f64> {
        status_kib(self.pid(), "VmHWM:").map(|k| k as f64 / 1024.0)
    }

    /// Its resident memory now (`VmRSS`), in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        status_kib(self.pid(), "VmRSS:").map(|k| k as f64 / 1024.0)
    }
}

impl Drop for SwarmProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A TCP port free on 127.0.0.1 just now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
