//! Reading typed values out of a [`Node`] tree while collecting every error with its
//! file, line and key path. A [`Section`] reports keys nobody asked for when dropped, so
//! unknown keys are errors without a separate list of allowed keys.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::yaml::{Key, Node, Pos, Value};
use super::{ByteSize, ConfigError, ConfigErrors};
use crate::service::Service;
use crate::topology::dependency::{DeclaredDependency, Dependency};

/// Collects config errors for one file.
#[derive(Debug)]
pub struct Diagnostics {
    file: String,
    errors: RefCell<Vec<ConfigError>>,
    /// Dependencies declared by params parsers, taken per service by the config reader.
    declared: RefCell<Vec<DeclaredDependency>>,
    /// Stages a params parser put in front of its workers (a batcher), for `swarm graph`.
    stages: RefCell<Vec<String>>,
    /// Named parts a params parser declared (an agent's tools), for `swarm graph`.
    parts: RefCell<Vec<(String, String)>>,
    /// Health probes a params parser added, taken per service like dependencies.
    probes: RefCell<Probes>,
    /// Metrics sources a params parser added, taken the same way.
    metrics: RefCell<Probes<crate::service::MetricsSource>>,
    /// Background-load probes a params parser added, taken per pool.
    loads: RefCell<Probes<crate::service::LoadProbe>>,
    /// Where the pool whose params are being read runs.
    placement: RefCell<crate::scheduler::Placement>,
}

/// Health probes (or metrics sources), shown by count in debug output.
struct Probes<T = crate::service::HealthProbe>(Vec<T>);

impl<T> Default for Probes<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> std::fmt::Debug for Probes<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} probes", self.0.len())
    }
}

impl Diagnostics {
    /// An empty collection for `file`.
    pub fn new(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            errors: RefCell::new(Vec::new()),
            declared: RefCell::new(Vec::new()),
            stages: RefCell::new(Vec::new()),
            parts: RefCell::new(Vec::new()),
            probes: RefCell::new(Probes::default()),
            metrics: RefCell::new(Probes::default()),
            loads: RefCell::new(Probes::default()),
            placement: RefCell::new(crate::scheduler::Placement::default()),
        }
    }

    pub(crate) fn set_placement(&self, placement: crate::scheduler::Placement) {
        *self.placement.borrow_mut() = placement;
    }

    pub(crate) fn take_metrics(&self) -> Vec<crate::service::MetricsSource> {
        std::mem::take(&mut self.metrics.borrow_mut().0)
    }

    /// The background-load probes added since the last take, summed into one (`None`
    /// when there were none).
    pub(crate) fn take_load(&self) -> Option<crate::service::LoadProbe> {
        let probes = std::mem::take(&mut self.loads.borrow_mut().0);
        match probes.len() {
            0 => None,
            _ => Some(std::sync::Arc::new(move || {
                probes.iter().map(|p| p()).sum()
            })),
        }
    }

    pub(crate) fn take_probes(&self) -> Vec<crate::service::HealthProbe> {
        std::mem::take(&mut self.probes.borrow_mut().0)
    }

    /// How many errors were recorded so far.
    pub fn error_count(&self) -> usize {
        self.errors.borrow().len()
    }

    pub(crate) fn take_declared(&self) -> Vec<DeclaredDependency> {
        std::mem::take(&mut *self.declared.borrow_mut())
    }

    pub(crate) fn take_stages(&self) -> Vec<String> {
        std::mem::take(&mut *self.stages.borrow_mut())
    }

    pub(crate) fn take_parts(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.parts.borrow_mut())
    }

    /// Records one error (once: the service's params are read again for each of its
    /// pools, and a mistake in them is one mistake).
    pub fn error(&self, pos: Pos, path: &str, message: impl Into<String>) {
        let message = message.into();
        let mut errors = self.errors.borrow_mut();
        if pos.line > 0
            && errors
                .iter()
                .any(|e| e.line == pos.line && e.col == pos.col && e.message == message)
        {
            return;
        }
        errors.push(ConfigError {
            file: self.file.clone(),
            line: pos.line,
            col: pos.col,
            path: path.to_string(),
            message,
        });
    }

    /// True when nothing went wrong so far.
    pub fn is_clean(&self) -> bool {
        self.errors.borrow().is_empty()
    }

    /// `value` when no error was recorded, else all errors in file order.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ConfigErrors> {
        let mut errors = self.errors.into_inner();
        match value {
            Some(v) if errors.is_empty() => Ok(v),
            _ => {
                errors.sort_by_key(|e| (e.line, e.col));
                Err(ConfigErrors(errors))
            }
        }
    }
}

/// Converts a node into a typed value, or says what was wrong with it.
pub trait FromNode: Sized {
    /// Reads `node`.
    fn from_node(node: &Node) -> Result<Self, String>;
}

/// A mapping being read; unknown keys are reported when it is dropped.
pub struct Section<'a> {
    diag: &'a Diagnostics,
    path: String,
    pos: Pos,
    entries: &'a [(Key, Node)],
    known: RefCell<Vec<String>>,
}

const EMPTY: &[(Key, Node)] = &[];

impl<'a> Section<'a> {
    /// Reads `node` (at `path`) as a mapping; null is an empty mapping.
    pub fn new(diag: &'a Diagnostics, path: &str, node: &'a Node) -> Self {
        let entries = match &node.value {
            Value::Map(entries) => entries.as_slice(),
            _ if node.is_null() => EMPTY,
            _ => {
                diag.error(
                    node.pos,
                    path,
                    format!("expected a mapping, found {}", node.kind()),
                );
                EMPTY
            }
        };
        Self {
            diag,
            path: path.to_string(),
            pos: node.pos,
            entries,
            known: RefCell::new(Vec::new()),
        }
    }

    /// Where this section starts in its file.
    pub fn pos(&self) -> Pos {
        self.pos
    }

    /// The key path of this section (`services.echo.queue`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path of a key inside this section.
    pub fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The raw node under `key`, marking the key as known. Null counts as absent.
    pub fn node(&self, key: &str) -> Option<&'a Node> {
        self.known.borrow_mut().push(key.to_string());
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, n)| n)
            .filter(|n| !n.is_null())
    }

    /// The value under `key`, if present and well-formed (errors are recorded).
    pub fn value<T: FromNode>(&self, key: &str) -> Option<T> {
        let node = self.node(key)?;
        T::from_node(node)
            .map_err(|m| self.diag.error(node.pos, &self.child_path(key), m))
            .ok()
    }

    /// The value under `key`, or `default` when absent (or invalid, which is recorded).
    pub fn or<T: FromNode>(&self, key: &str, default: T) -> T {
        self.value(key).unwrap_or(default)
    }

    /// The value under `key`, recording an error when it is missing.
    pub fn required<T: FromNode>(&self, key: &str) -> Option<T> {
        if self.node(key).is_none() {
            self.diag
                .error(self.pos, &self.child_path(key), "required key is missing");
            return None;
        }
        self.value(key)
    }

    /// The mapping under `key` (empty when absent).
    pub fn section(&self, key: &str) -> Section<'a> {
        static NULL: Node = Node {
            pos: Pos { line: 0, col: 0 },
            value: Value::Seq(Vec::new()),
        };
        match self.node(key) {
            Some(node) => Section::new(self.diag, &self.child_path(key), node),
            None => Section {
                diag: self.diag,
                path: self.child_path(key),
                pos: NULL.pos,
                entries: EMPTY,
                known: RefCell::new(Vec::new()),
            },
        }
    }

    /// All entries, in file order, each marked as known. For maps keyed by user names.
    pub fn entries(&self) -> impl Iterator<Item = (&'a Key, &'a Node)> + use<'a> {
        self.known
            .borrow_mut()
            .extend(self.entries.iter().map(|(k, _)| k.name.clone()));
        self.entries.iter().map(|(k, n)| (k, n))
    }

    /// Records an error about `key` in this section.
    pub fn error(&self, key: &str, message: impl Into<String>) {
        let pos = self
            .entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map_or(self.pos, |(_, n)| n.pos);
        self.diag.error(pos, &self.child_path(key), message);
    }

    /// The diagnostics this section records into.
    pub fn diagnostics(&self) -> &'a Diagnostics {
        self.diag
    }

    /// The service of type `S` named under `key`, which this service uses. Validation
    /// checks that it exists, has type `S` and forms no cycle; the swarm starts it first
    /// and resolves the handle's client before this service's first worker is created.
    /// `None` when the key is absent (or not a name, which is recorded).
    pub fn dependency<S: Service>(&self, key: &str) -> Option<Dependency<S>> {
        let node = self.node(key)?;
        let target: String = self.value(key)?;
        let dependency = Dependency::new(&target);
        self.diag.declared.borrow_mut().push(DeclaredDependency::of(
            self.child_path(key),
            node.pos,
            &dependency,
        ));
        Some(dependency)
    }

    /// The services of type `S` listed under `key` (a list of names), each checked as
    /// [`Section::dependency`] checks one, at its own line: a workflow's agents.
    pub fn dependencies<S: Service>(&self, key: &str) -> Vec<(String, Dependency<S>)> {
        let Some(node) = self.node(key) else {
            return Vec::new();
        };
        let Value::Seq(items) = &node.value else {
            self.diag.error(
                node.pos,
                &self.child_path(key),
                format!("expected a list of service names, found {}", node.kind()),
            );
            return Vec::new();
        };
        let mut found = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", self.child_path(key));
            match String::from_node(item) {
                Ok(name) => {
                    let dependency = Dependency::new(&name);
                    self.diag.declared.borrow_mut().push(DeclaredDependency::of(
                        path,
                        item.pos,
                        &dependency,
                    ));
                    found.push((name, dependency));
                }
                Err(m) => self.diag.error(item.pos, &path, m),
            }
        }
        found
    }

    /// Adds a health check of the service's own (a collection it could not open): `/health`
    /// reports the service unhealthy with the probe's reason while it answers `Err`. It is
    /// called on an async thread, so it must answer at once (read a flag, try a lock).
    pub fn health_probe(&self, probe: crate::service::HealthProbe) {
        self.diag.probes.borrow_mut().0.push(probe);
    }

    /// Says how much work the pool whose params these are has taken on outside its queue
    /// (seconds): long jobs it runs after answering, such as FHE computations. When the
    /// service runs on several pools, the scheduler adds it to the pool's expected wait.
    pub fn load_probe(&self, probe: crate::service::LoadProbe) {
        self.diag.loads.borrow_mut().0.push(probe);
    }

    /// Adds figures of the service's own to `/metrics` (an LLM engine's tokens and KV
    /// cells). Called on every scrape, on an async thread: read atomics, nothing more.
    pub fn metrics_source(&self, source: crate::service::MetricsSource) {
        self.diag.metrics.borrow_mut().0.push(source);
    }

    /// Where the pool whose params these are runs: its name, device and, for a remote
    /// pool, the server. A service without `pools:` runs on the CPU, its pool name empty.
    pub fn placement(&self) -> crate::scheduler::Placement {
        self.diag.placement.borrow().clone()
    }

    /// Records a stage the service puts in front of its workers (such as a batcher), shown
    /// by `swarm graph` as `kind: detail`.
    pub fn stage(&self, kind: &str, detail: impl std::fmt::Display) {
        self.diag
            .stages
            .borrow_mut()
            .push(format!("{kind}: {detail}"));
    }

    /// Declares a named part of the service (`kind` "tool", `name` "solve_game"), which
    /// `swarm graph` draws beside it. Declared once however often the params are read.
    pub fn part(&self, kind: &str, name: &str) {
        let mut parts = self.diag.parts.borrow_mut();
        if !parts.iter().any(|(k, n)| k == kind && n == name) {
            parts.push((kind.to_string(), name.to_string()));
        }
    }
}

impl Drop for Section<'_> {
    fn drop(&mut self) {
        let known = self.known.borrow();
        for (key, _) in self.entries {
            if !known.contains(&key.name) {
                let mut expected: Vec<&str> = known.iter().map(String::as_str).collect();
                expected.sort_unstable();
                expected.dedup();
                let hint = if expected.is_empty() {
                    String::from("this section takes no keys")
                } else {
                    format!("expected one of: {}", expected.join(", "))
                };
                self.diag.error(
                    key.pos,
                    &self.child_path(&key.name),
                    format!("unknown key `{}` ({hint})", key.name),
                );
            }
        }
    }
}

fn scalar(node: &Node) -> Result<&str, String> {
    match &node.value {
        Value::Scalar { text, .. } => Ok(text),
        _ => Err(format!("expected a scalar, found {}", node.kind())),
    }
}

impl FromNode for String {
    fn from_node(node: &Node) -> Result<Self, String> {
        scalar(node).map(str::to_string)
    }
}

/// Any YAML value as JSON (a tool's JSON schema written in YAML): plain scalars that
/// read as `null`, booleans or numbers become those; quoted scalars stay strings.
impl FromNode for serde_json::Value {
    fn from_node(node: &Node) -> Result<Self, String> {
        use serde_json::Value as J;
        Ok(match &node.value {
            Value::Scalar { text, quoted: true } => J::String(text.clone()),
            Value::Scalar {
                text,
                quoted: false,
            } => match text.as_str() {
                "" | "~" | "null" | "Null" | "NULL" => J::Null,
                "true" | "True" | "TRUE" => J::Bool(true),
                "false" | "False" | "FALSE" => J::Bool(false),
                t => t
                    .parse::<i64>()
                    .map(J::from)
                    .ok()
                    .or_else(|| {
                        t.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite())
                            .and_then(serde_json::Number::from_f64)
                            .map(J::Number)
                    })
                    .unwrap_or_else(|| J::String(t.to_string())),
            },
            Value::Seq(items) => J::Array(
                items
                    .iter()
                    .map(Self::from_node)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.name.clone(), Self::from_node(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

impl FromNode for bool {
    fn from_node(node: &Node) -> Result<Self, String> {
        match scalar(node)? {
            "true" | "True" | "TRUE" => Ok(true),
            "false" | "False" | "FALSE" => Ok(false),
            other => Err(format!("expected true or false, found `{other}`")),
        }
    }
}

macro_rules! from_node_int {
    ($($t:ty),*) => {$(
        impl FromNode for $t {
            fn from_node(node: &Node) -> Result<Self, String> {
                let text = scalar(node)?;
                text.replace('_', "").parse::<$t>().map_err(|_| {
                    format!("expected a whole number from 0 to {}, found `{text}`", <$t>::MAX)
                })
            }
        }
    )*};
}
from_node_int!(u16, u32, u64, usize);

impl FromNode for f64 {
    fn from_node(node: &Node) -> Result<Self, String> {
        let text = scalar(node)?;
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("expected a finite number, found `{text}`"))
    }
}

impl FromNode for PathBuf {
    fn from_node(node: &Node) -> Result<Self, String> {
        scalar(node).map(PathBuf::from)
    }
}

impl FromNode for SocketAddr {
    fn from_node(node: &Node) -> Result<Self, String> {
        let text = scalar(node)?;
        text.parse()
            .map_err(|_| format!("expected an address like 127.0.0.1:8080, found `{text}`"))
    }
}

impl FromNode for Duration {
    fn from_node(node: &Node) -> Result<Self, String> {
        let text = scalar(node)?;
        parse_duration(text).ok_or_else(|| {
            format!("expected a duration with a unit (us, ms, s, m, h), such as 250ms or 10s; found `{text}`")
        })
    }
}

impl FromNode for ByteSize {
    fn from_node(node: &Node) -> Result<Self, String> {
        let text = scalar(node)?;
        parse_bytes(text).map(ByteSize).ok_or_else(|| {
            format!("expected a size such as 1048576, 512KiB or 1MiB; found `{text}`")
        })
    }
}

impl<T: FromNode> FromNode for Vec<T> {
    fn from_node(node: &Node) -> Result<Self, String> {
        match &node.value {
            Value::Seq(items) => items.iter().map(T::from_node).collect(),
            _ => Err(format!("expected a list, found {}", node.kind())),
        }
    }
}

/// Parses `250ms`, `1.5s`, `2m`, `1h`, `500us`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// Parses `1048576`, `512KiB`, `1MiB`, `1GiB`, `64KB`, `1MB`.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}
