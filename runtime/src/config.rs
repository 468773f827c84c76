//! YAML → validated [`SwarmConfig`]: parse into position-aware nodes (`yaml.rs`),
//! interpolate environment variables in scalars (`interpolate.rs`), then read typed values
//! while collecting every error with file, line and key path (`reader.rs`, `model.rs`).
//! Service `params` and extra top-level sections are read by parsers the embedding app
//! registers in a [`crate::Registry`].

mod cluster;
mod interpolate;
mod links;
mod model;
mod pools;
mod reader;
pub mod yaml;

use std::fmt;
use std::path::Path;

pub use cluster::ClusterConfig;
pub use interpolate::interpolate;
pub use model::{ComponentPlan, ServicePlan, SwarmConfig, TelemetryConfig};
pub use pools::PoolPlan;
pub use reader::{Diagnostics, FromNode, Section, parse_bytes, parse_duration};

/// A size in bytes, written in YAML as `1048576`, `512KiB`, `1MiB`, ….
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// One config error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file (or the origin name given for text).
    pub file: String,
    /// 1-based line (0 when the error concerns the whole file).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// Dotted key path, such as `services.echo.queue.capacity`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every error found in a config, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    fn whole_file(file: &str, message: String) -> Self {
        Self(vec![ConfigError {
            file: file.to_string(),
            line: 0,
            col: 0,
            path: String::new(),
            message,
        }])
    }
}

/// Parses `text` (named `origin` in errors) and interpolates environment variables,
/// read through `env`, in every scalar.
pub fn load_tree(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<yaml::Node, ConfigErrors> {
    let mut root = yaml::parse(text).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: origin.to_string(),
            line: e.pos.line,
            col: e.pos.col,
            path: String::new(),
            message: format!("YAML syntax error: {}", e.message),
        }])
    })?;
    let diag = Diagnostics::new(origin);
    interpolate_tree(&mut root, "", env, &diag);
    diag.finish(Some(root))
}

fn interpolate_tree(
    node: &mut yaml::Node,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &Diagnostics,
) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match &mut node.value {
        yaml::Value::Scalar { text, .. } => match interpolate(text, env) {
            Ok(v) => *text = v,
            Err(m) => diag.error(node.pos, path, m),
        },
        yaml::Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &format!("{path}[{i}]"), env, diag);
            }
        }
        yaml::Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                interpolate_tree(v, &join(&k.name), env, diag);
            }
        }
    }
}

/// Reads a config file with the process environment.
pub fn read_file(path: &Path) -> Result<(String, String), ConfigErrors> {
    let origin = path.display().to_string();
    std::fs::read_to_string(path)
        .map(|text| (origin.clone(), text))
        .map_err(|e| ConfigErrors::whole_file(&origin, format!("cannot read config file: {e}")))
}
