//! Mutual TLS between nodes, with certificates made by the `openssl` command in the test:
//! two nodes whose certificates the cluster CA signed become ready peers; a node whose
//! certificate another CA signed, and one whose certificate names another node, are never
//! let in (the dialer says why in its peer table);
//! and a node started with unreadable TLS files fails naming the file.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use swarm_runtime::cluster::node::{ClusterNode, NodeConfig, PeerConfig, PeerState};
use swarm_runtime::cluster::tls::TlsFiles;

const WAIT: Duration = Duration::from_secs(30);

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `ca` in `dir`.
fn ca(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
        ],
    );
}

/// Node `node`'s certificate, signed by `ca`, naming the node as a DNS name.
fn node_cert(dir: &Path, ca: &str, node: &str) -> TlsFiles {
    named_cert(dir, ca, node, node)
}

/// A certificate for node `node`, signed by `ca`, whose subjectAltName is `name`.
fn named_cert(dir: &Path, ca: &str, node: &str, name: &str) -> TlsFiles {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{node}.key"),
            "-out",
            &format!("{node}.csr"),
            "-subj",
            &format!("/CN={node}"),
        ],
    );
    std::fs::write(
        dir.join(format!("{node}.ext")),
        format!("subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth,clientAuth\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{node}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{node}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{node}.ext"),
        ],
    );
    let at = |f: String| -> PathBuf { dir.join(f) };
    TlsFiles {
        cert: at(format!("{node}.pem")),
        key: at(format!("{node}.key")),
        // Every node trusts the cluster CA only.
        ca: at("cluster-ca.pem".to_string()),
    }
}

fn config(name: &str, all: &[(&str, SocketAddr)], tls: TlsFiles) -> NodeConfig {
    NodeConfig {
        node: name.into(),
        listen: all.iter().find(|(n, _)| *n == name).unwrap().1,
        peers: all
            .iter()
            .filter(|(n, _)| *n != name)
            .map(|(n, a)| PeerConfig {
                node: (*n).into(),
                address: *a,
            })
            .collect(),
        cookie: "tls-cookie".into(),
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        tls: Some(tls),
    }
}

/// Waits until `node` has dialed `peer` twice and failed; checks the failure was TLS's.
async fn assert_kept_out(node: &ClusterNode, peer: &str) {
    let dialed = node
        .wait_until(WAIT, |p| {
            p.iter()
                .any(|p| p.node == peer && p.attempts >= 2 && p.last_error.is_some())
        })
        .await;
    assert!(dialed, "{:?}", node.peers());
    let view = node.peers().into_iter().find(|p| p.node == peer).unwrap();
    assert_ne!(view.state, PeerState::Ready, "{view:?}");
    assert!(
        view.last_error.as_deref().unwrap().contains("TLS"),
        "{view:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_cluster_certificates_connect_and_others_are_kept_out() {
    let dir = tempfile::tempdir().unwrap();
    ca(dir.path(), "cluster-ca");
    ca(dir.path(), "rogue-ca");
    let a_tls = node_cert(dir.path(), "cluster-ca", "a");
    let b_tls = node_cert(dir.path(), "cluster-ca", "b");
    let c_tls = node_cert(dir.path(), "rogue-ca", "c");
    // Signed by the cluster CA, but for another name.
    let d_tls = named_cert(dir.path(), "cluster-ca", "d", "not-d");
    let held: Vec<_> = (0..4)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = held.iter().map(|l| l.local_addr().unwrap()).collect();
    drop(held);
    let nodes = [
        ("a", addrs[0]),
        ("b", addrs[1]),
        ("c", addrs[2]),
        ("d", addrs[3]),
    ];
    let a = ClusterNode::start(config("a", &nodes, a_tls.clone()))
        .await
        .unwrap();
    let b = ClusterNode::start(config("b", &nodes, b_tls))
        .await
        .unwrap();
    let c = ClusterNode::start(config("c", &nodes, c_tls))
        .await
        .unwrap();
    let d = ClusterNode::start(config("d", &nodes, d_tls))
        .await
        .unwrap();
    assert!(
        a.wait_until(WAIT, |p| p
            .iter()
            .any(|p| p.node == "b" && p.state == PeerState::Ready))
            .await,
        "{:?}",
        a.peers()
    );
    // a dials c and d (its name sorts first): c's certificate is not the cluster CA's;
    // d's is, but it names another node. Each is dialed again and again, never let in.
    for peer in ["c", "d"] {
        assert_kept_out(&a, peer).await;
    }
    d.stop().await;
    c.stop().await;
    b.stop().await;
    a.stop().await;

    let mut broken = a_tls;
    broken.key = dir.path().join("missing.key");
    let err = ClusterNode::start(config("a", &nodes, broken))
        .await
        .err()
        .expect("unreadable key");
    assert!(err.to_string().contains("missing.key"), "{err}");
}
