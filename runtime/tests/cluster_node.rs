//! Cluster nodes on loopback (in one process): three nodes find each other and become
//! ready, a node with the wrong cookie is refused (and says so in its peer table), and a
//! node that stops is seen lost, then ready again once it is back on its address.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use swarm_runtime::cluster::node::{ClusterNode, NodeConfig, PeerConfig, PeerState, PeerView};

const WAIT: Duration = Duration::from_secs(30);

fn free_addresses(n: usize) -> Vec<SocketAddr> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter().map(|l| l.local_addr().unwrap()).collect()
}

fn config(name: &str, all: &[(&str, SocketAddr)], cookie: &str) -> NodeConfig {
    let listen = all.iter().find(|(n, _)| *n == name).unwrap().1;
    NodeConfig {
        node: name.into(),
        listen,
        peers: all
            .iter()
            .filter(|(n, _)| *n != name)
            .map(|(n, a)| PeerConfig {
                node: (*n).into(),
                address: *a,
            })
            .collect(),
        cookie: cookie.into(),
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        tls: None,
    }
}

fn all_in(state: PeerState) -> impl Fn(&[PeerView]) -> bool {
    move |peers| peers.iter().all(|p| p.state == state)
}

fn peer_in(node: &'static str, state: PeerState) -> impl Fn(&[PeerView]) -> bool {
    move |peers| peers.iter().any(|p| p.node == node && p.state == state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_connect_refuse_a_wrong_cookie_and_take_a_lost_node_back() {
    let addrs = free_addresses(4);
    let nodes = [("a", addrs[0]), ("b", addrs[1]), ("c", addrs[2])];
    let a = ClusterNode::start(config("a", &nodes, "secret"))
        .await
        .unwrap();
    let b = ClusterNode::start(config("b", &nodes, "secret"))
        .await
        .unwrap();
    let c = ClusterNode::start(config("c", &nodes, "secret"))
        .await
        .unwrap();
    for (name, node) in [("a", &a), ("b", &b), ("c", &c)] {
        assert!(
            node.wait_until(WAIT, all_in(PeerState::Ready)).await,
            "{name}: {:?}",
            node.peers()
        );
    }

    // A stranger with the wrong cookie (its name sorts first, so it dials a).
    let with_stranger = [("0-stranger", addrs[3]), ("a", addrs[0])];
    let stranger = ClusterNode::start(config("0-stranger", &with_stranger, "wrong"))
        .await
        .unwrap();
    assert!(
        stranger
            .wait_until(WAIT, peer_in("a", PeerState::Refused))
            .await,
        "{:?}",
        stranger.peers()
    );
    let refused = &stranger.peers()[0];
    assert!(
        refused
            .last_error
            .as_deref()
            .unwrap()
            .contains("wrong cookie")
    );
    stranger.stop().await;
    assert!(
        a.peers().iter().all(|p| p.state == PeerState::Ready),
        "{:?}",
        a.peers()
    );

    // c goes away: a and b see it lost; back on its address, it is ready again.
    c.stop().await;
    for (name, node) in [("a", &a), ("b", &b)] {
        assert!(
            node.wait_until(WAIT, peer_in("c", PeerState::Lost)).await,
            "{name}: {:?}",
            node.peers()
        );
    }
    let c = ClusterNode::start(config("c", &nodes, "secret"))
        .await
        .unwrap();
    for (name, node) in [("a", &a), ("b", &b), ("c", &c)] {
        assert!(
            node.wait_until(WAIT, all_in(PeerState::Ready)).await,
            "{name} after c came back: {:?}",
            node.peers()
        );
    }
    for node in [a, b, c] {
        node.stop().await;
    }
}
