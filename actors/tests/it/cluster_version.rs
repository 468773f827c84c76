//! A peer speaking another wire version is refused with a log line and never routed to.
//! The peer is a fault injected by this test: a cluster node in the test process whose
//! `echo` gateway (`FakeV3Gateway`) answers hellos in swarm wire v3 (this build speaks v2). Node `a` is a real
//! `swarm up` process whose `echo` runs only on that peer.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use swarm_runtime::cluster::gateway::{GatewayMsg, SCOPE, group_of};
use swarm_runtime::cluster::node::{ClusterNode, NodeConfig, PeerConfig, PeerState};

use super::cluster_up::{free, log_says, node_yaml, up};

/// The injected fault: a gateway that greets in swarm wire v3.
struct FakeV3Gateway;

impl Actor for FakeV3Gateway {
    type Msg = GatewayMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, me: ActorRef<GatewayMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        ractor::pg::join_scoped(SCOPE.to_string(), group_of("echo"), vec![me.get_cell()]);
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<GatewayMsg>,
        message: GatewayMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        // "SWRM", version 3, kind 1 (hello), then a name.
        let v3_hello = [b"SWRM".as_slice(), &[0, 3, 1, 0, 1], b"z"].concat();
        match message {
            GatewayMsg::Hello(_, port) => {
                let _ = port.send(v3_hello);
            }
            GatewayMsg::Call(_, port) => {
                let _ = port.send(Vec::new());
            }
            GatewayMsg::Cancel(_) => {}
        }
        Ok(())
    }
}

#[test]
fn a_peer_of_another_wire_version_is_refused_and_never_called() {
    let dir = tempfile::tempdir().unwrap();
    let (la, lz) = (free(), free());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (z, _gateway) = rt.block_on(async {
        let z = ClusterNode::start(NodeConfig {
            node: "z".into(),
            listen: lz,
            peers: vec![PeerConfig {
                node: "a".into(),
                address: la,
            }],
            cookie: "version-cookie".into(),
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            tls: None,
        })
        .await
        .unwrap();
        let (gateway, _) = Actor::spawn(None, FakeV3Gateway, ()).await.unwrap();
        (z, gateway)
    });
    let config = node_yaml(
        dir.path(),
        "a",
        &la.to_string(),
        &[("z", lz.to_string())],
        "  echo:\n    type: echo\n    nodes: [z]\n",
    );
    let (_a, url, logs) = up(&config, "version-cookie");
    log_says(&logs, "it speaks swarm wire v3, we speak v2");
    rt.block_on(async {
        assert!(
            z.wait_until(Duration::from_secs(30), |p| p
                .iter()
                .all(|p| p.state == PeerState::Ready))
                .await
        );
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/echo"))
            .json(&serde_json::json!({ "message": "hi" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        z.stop().await;
    });
}
