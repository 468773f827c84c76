//! The `cluster:` section: this node's name and listen address, its peers, and the
//! environment variable that holds the cookie (never the cookie itself).
//!
//! ```yaml
//! cluster:
//!   node: a
//!   listen: 127.0.0.1:7001
//!   peers: [{ node: b, address: 127.0.0.1:7002 }]
//!   cookie_env: SWARM_CLUSTER_COOKIE
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use super::reader::Section;
use super::yaml::Value;
use crate::cluster::node::PeerConfig;

/// A node's place in a swarm of several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This node's name.
    pub node: String,
    /// Where it listens for peers.
    pub listen: SocketAddr,
    /// The other nodes.
    pub peers: Vec<PeerConfig>,
    /// The environment variable holding the shared cookie.
    pub cookie_env: String,
    /// First wait before redialing a peer (default 100ms).
    pub backoff: Duration,
    /// Longest wait between dials (default 5s).
    pub max_backoff: Duration,
    /// Calls this node may have in flight to one peer (default 256); a call beyond it is
    /// answered `overloaded` at once, so the transport never buffers without bound.
    pub max_in_flight: usize,
    /// Mutual TLS between nodes (`tls: {cert, key, ca}`), when set.
    pub tls: Option<crate::cluster::tls::TlsFiles>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Reads and checks `cluster:` (errors recorded at their file:line).
pub(crate) fn read_cluster(s: &Section<'_>) -> Option<ClusterConfig> {
    if s.node("cookie").is_some() {
        s.error(
            "cookie",
            "the cookie is never written in the config; name the environment variable that holds it with cookie_env",
        );
    }
    let node: Option<String> = s.required("node");
    if let Some(n) = &node
        && !valid_name(n)
    {
        s.error("node", "a node name is 1 to 64 letters, digits, `-` or `_`");
    }
    let listen: Option<SocketAddr> = s.required("listen");
    let cookie_env: Option<String> = s.required("cookie_env");
    let backoff = s.or("backoff", Duration::from_millis(100));
    let max_backoff = s.or("max_backoff", Duration::from_secs(5));
    if backoff.is_zero() || max_backoff < backoff {
        s.error(
            "max_backoff",
            "backoff must be above zero and max_backoff at least backoff",
        );
    }
    let max_in_flight = s.or("max_in_flight", 256usize);
    if !(1..=65_536).contains(&max_in_flight) {
        s.error("max_in_flight", "must be between 1 and 65536");
    }
    let tls = s.node("tls").and_then(|_| read_tls(&s.section("tls")));
    let mut peers: Vec<PeerConfig> = Vec::new();
    if let Some(list) = s.node("peers") {
        let path = s.child_path("peers");
        let diag = s.diagnostics();
        match &list.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let ps = Section::new(diag, &format!("{path}[{i}]"), item);
                    let (Some(name), Some(address)) =
                        (ps.required::<String>("node"), ps.required("address"))
                    else {
                        continue;
                    };
                    if !valid_name(&name) {
                        ps.error("node", "a node name is 1 to 64 letters, digits, `-` or `_`");
                    } else if node.as_deref() == Some(name.as_str()) {
                        ps.error(
                            "node",
                            format!("`{name}` is this node; list only the others"),
                        );
                    } else if peers.iter().any(|p| p.node == name) {
                        ps.error("node", format!("peer `{name}` is listed twice"));
                    }
                    peers.push(PeerConfig {
                        node: name,
                        address,
                    });
                }
            }
            _ => diag.error(
                list.pos,
                &path,
                "expected a list of peers (`- { node: b, address: 10.0.0.2:7001 }`)",
            ),
        }
    }
    Some(ClusterConfig {
        node: node?,
        listen: listen?,
        peers,
        cookie_env: cookie_env?,
        backoff,
        max_backoff,
        max_in_flight,
        tls,
    })
}

/// `tls: {cert, key, ca}`: PEM files, relative to the working directory; each must exist.
fn read_tls(s: &Section<'_>) -> Option<crate::cluster::tls::TlsFiles> {
    let file = |key: &str| -> Option<std::path::PathBuf> {
        let path: std::path::PathBuf = s.required(key)?;
        if !path.is_file() {
            s.error(key, format!("no such file: {}", path.display()));
        }
        Some(path)
    };
    let (cert, key, ca) = (file("cert"), file("key"), file("ca"));
    Some(crate::cluster::tls::TlsFiles {
        cert: cert?,
        key: key?,
        ca: ca?,
    })
}
