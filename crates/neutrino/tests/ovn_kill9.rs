//! `kill -9` of the server between its database commits and the NB writes: after a restart,
//! NB converges to exactly the database's ports.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Api, Server, Workdir};
use nt_testing::{ovn_available, OvnCentral};
use serde_json::json;

fn ovn_env(ovn: &OvnCentral) -> Vec<(&'static str, String)> {
    vec![
        ("NEUTRINO_ML2__MECHANISM_DRIVERS", "[\"ovn\"]".to_string()),
        ("NEUTRINO_OVN__NB_CONNECTION", ovn.nb_remote()),
        ("NEUTRINO_OVN__SB_CONNECTION", ovn.sb_remote()),
        ("NEUTRINO_OVN__MAINTENANCE_INTERVAL_SECS", "1".to_string()),
        ("NEUTRINO_OVN__WRITE_TIMEOUT_MS", "500".to_string()),
    ]
}

fn nb_ports(ovn: &OvnCentral) -> BTreeSet<String> {
    ovn.nbctl(&["--bare", "--columns=name", "find", "Logical_Switch_Port", "type=\"\""])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nb_converges_after_a_kill_between_commit_and_nb_write() {
    if !ovn_available() {
        return;
    }
    let mut ovn = OvnCentral::start();
    let mut workdir = Workdir::new();
    let mut server = Server::start_with_env(&mut workdir, "pw", &ovn_env(&ovn));
    let api = Api::login(&server.url, "pw").await;
    let net = api.create("networks", "network", json!({"name": "n"})).await;
    let net_id = net["id"].as_str().unwrap().to_string();
    api.create(
        "subnets",
        "subnet",
        json!({"network_id": net_id, "cidr": "10.0.0.0/24", "ip_version": 4}),
    )
    .await;
    let mut ports = BTreeSet::new();
    for _ in 0..3 {
        ports.insert(
            api.create("ports", "port", json!({"network_id": net_id})).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // NB goes away: these commits succeed in the database and never reach NB before the kill.
    ovn.stop_nb();
    for _ in 0..5 {
        ports.insert(
            api.create("ports", "port", json!({"network_id": net_id})).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    server.kill9();
    ovn.start_nb(false);
    let server = Server::start_with_env(&mut workdir, "pw", &ovn_env(&ovn));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let in_nb = nb_ports(&ovn);
        if in_nb == ports {
            break;
        }
        assert!(Instant::now() < deadline, "NB did not converge: want {ports:?}, NB has {in_nb:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let api = Api::login(&server.url, "pw").await;
    let listed = api.get(&format!("/v2.0/ports?network_id={net_id}&device_owner=")).await;
    assert_eq!(
        listed.body["ports"].as_array().unwrap().len(),
        ports.len(),
        "nothing lost in the database either"
    );
}
