//! Security groups decide what passes, checked with `ovn-trace` for new connections.

use serde_json::{json, Value};

use crate::harness::{ovn_available, Neutrino, OvnCentral};

struct Setup {
    ovn: OvnCentral,
    n: Neutrino,
    ls: String,
    a: Value,
    b: Value,
}

async fn setup() -> Option<Setup> {
    if !ovn_available() {
        return None;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, _) = n.network_with_subnet("10.0.0.0/24").await;
    let web = Value::Object(
        n.core.security_group_create(&n.admin, &[json!({"name": "web"})]).await.unwrap().remove(0),
    );
    let web_id = web["id"].as_str().unwrap().to_string();
    for rule in [
        json!({"security_group_id": web_id, "direction": "ingress", "protocol": "icmp"}),
        json!({"security_group_id": web_id, "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}),
    ] {
        n.core.security_group_rule_create(&n.admin, &[rule]).await.unwrap();
    }
    let a = n.port(json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.10"}]})).await;
    let b = n.port(json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.11"}], "security_groups": [web_id]})).await;
    ovn.sync_sb();
    Some(Setup { ovn, n, ls: format!("neutron-{net}"), a, b })
}

impl Setup {
    fn passes(&self, l4: &str) -> bool {
        let (a_id, a_mac, b_mac) = (
            self.a["id"].as_str().unwrap(),
            self.a["mac_address"].as_str().unwrap(),
            self.b["mac_address"].as_str().unwrap(),
        );
        let flow = format!(
            "inport == \"{a_id}\" && eth.src == {a_mac} && eth.dst == {b_mac} && ip4.src == 10.0.0.10 && ip4.dst == 10.0.0.11 && ip.ttl == 64 && {l4}"
        );
        let out = self.ovn.trace_new(&self.ls, &flow);
        out.contains(&format!("output(\"{}", &self.b["id"].as_str().unwrap()[..6]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_decide_which_new_connections_reach_the_port() {
    let Some(s) = setup().await else { return };
    assert!(s.passes("icmp4 && icmp4.type == 8"), "ICMP allowed");
    assert!(s.passes("tcp && tcp.dst == 22"), "SSH allowed");
    assert!(!s.passes("tcp && tcp.dst == 80"), "HTTP has no rule");
    // Removing the ICMP rule drops ICMP again.
    let group = s.b["security_groups"][0].as_str().unwrap();
    let shown = s.n.core.security_group_show(&s.n.admin, group).await.unwrap();
    let icmp = shown["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["protocol"] == "icmp")
        .unwrap();
    s.n.core
        .security_group_rule_delete(&s.n.admin, icmp["id"].as_str().unwrap(), None)
        .await
        .unwrap();
    s.ovn.sync_sb();
    assert!(!s.passes("icmp4 && icmp4.type == 8"), "ICMP dropped without its rule");
    assert!(s.passes("tcp && tcp.dst == 22"));
    let acls = s.ovn.nbctl(&["--bare", "--columns=match", "list", "ACL"]);
    assert!(acls.contains("tcp.dst == 22") && !acls.contains("icmp4"), "{acls}");
    assert!(acls.contains("inport == @neutron_pg_drop && ip"), "{acls}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_group_rule_admits_members_of_that_group_only() {
    let Some(s) = setup().await else { return };
    let n = &s.n;
    let web = s.b["security_groups"][0].as_str().unwrap().to_string();
    let default = s.a["security_groups"][0].as_str().unwrap().to_string();
    let rule = json!({"security_group_id": web, "direction": "ingress", "protocol": "tcp",
        "port_range_min": 80, "port_range_max": 80, "remote_group_id": default});
    n.core.security_group_rule_create(&n.admin, &[rule]).await.unwrap();
    s.ovn.sync_sb();
    assert!(s.passes("tcp && tcp.dst == 80"), "A is in the remote group");
    n.core
        .port_update(
            &n.admin,
            s.a["id"].as_str().unwrap(),
            &json!({"security_groups": [web]}),
            None,
        )
        .await
        .unwrap();
    s.ovn.sync_sb();
    assert!(!s.passes("tcp && tcp.dst == 80"), "A left the remote group");
    assert!(s.passes("tcp && tcp.dst == 22"), "other rules still apply");
}
