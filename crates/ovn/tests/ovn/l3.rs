//! Routers and floating IPs in NB, and traces through them: east-west routing, SNAT to the
//! gateway address, DNAT of a floating IP and the reply leaving with it.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{ovn_available, Neutrino, OvnCentral};

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

/// Adds a gateway chassis to SB and waits until the driver's SB replica shows it.
async fn gateway_chassis(ovn: &OvnCentral, n: &Neutrino, name: &str) {
    ovn.sbctl(&["chassis-add", name, "geneve", "127.0.0.1"]);
    ovn.sbctl(&[
        "set",
        "Chassis",
        name,
        "other_config:ovn-cms-options=enable-chassis-as-gw",
        "other_config:ovn-bridge-mappings=public:br-ex",
    ]);
    for _ in 0..200 {
        let mut agents = Vec::new();
        let q = nt_types::query::ListQuery::default();
        n.core.agent_list(&n.admin, &q, &mut |v| agents.push(v)).await.unwrap();
        if agents
            .iter()
            .any(|a| a["id"] == name && a["agent_type"] == "OVN Controller Gateway agent")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chassis {name} not replicated");
}

struct Topology {
    ext: String,
    router: Value,
    gw_port: Value,
    net_a: String,
    net_b: String,
    if_a: Value,
    if_b: Value,
    vm1: Value,
    vm2: Value,
    upstream: Value,
}

async fn topology(ovn: &OvnCentral, n: &Neutrino) -> Topology {
    gateway_chassis(ovn, n, "gw1").await;
    let ext = n
        .network(json!({"name": "public", "router:external": true, "provider:network_type": "flat", "provider:physical_network": "public"}))
        .await;
    let ext = s(&ext["id"]);
    n.subnet(json!({"network_id": ext, "cidr": "172.24.4.0/24", "ip_version": 4})).await;
    let (net_a, sub_a) = n.network_with_subnet("10.0.0.0/24").await;
    let (net_b, sub_b) = n.network_with_subnet("10.1.0.0/24").await;
    let router = Value::Object(
        n.core
            .router_create(
                &n.admin,
                &[json!({"name": "r1", "external_gateway_info": {"network_id": ext}})],
            )
            .await
            .unwrap()
            .remove(0),
    );
    let rid = s(&router["id"]);
    let mut ifs = Vec::new();
    for sub in [&sub_a, &sub_b] {
        let info = n
            .core
            .router_add_interface(&n.admin, &rid, &json!({ "subnet_id": sub }))
            .await
            .unwrap();
        ifs.push(n.show_port(info["port_id"].as_str().unwrap()).await);
    }
    let gw_id = {
        let mut out = Vec::new();
        let q = nt_types::query::ListQuery::parse(
            nt_types::port::ATTRS,
            &[("device_owner".into(), "network:router_gateway".into())],
            &["fixed_ips"],
        )
        .unwrap();
        n.core.port_list(&n.admin, &q, &mut |v| out.push(v)).await.unwrap();
        s(&out[0]["id"])
    };
    let gw_port = n.show_port(&gw_id).await;
    let vm = |net: &str, ip: &str| {
        json!({"network_id": net, "fixed_ips": [{"ip_address": ip}], "port_security_enabled": false,
               "device_owner": "compute:nova", "device_id": format!("vm-{ip}")})
    };
    let vm1 = n.port(vm(&net_a, "10.0.0.10")).await;
    let vm2 = n.port(vm(&net_b, "10.1.0.10")).await;
    // The upstream router of the external network, at the external subnet's gateway address.
    let upstream = n
        .port(json!({"network_id": ext, "fixed_ips": [{"ip_address": "172.24.4.1"}], "port_security_enabled": false}))
        .await;
    let router = Value::Object(n.core.router_show(&n.admin, &rid).await.unwrap());
    Topology {
        ext,
        router,
        gw_port,
        net_a,
        net_b,
        if_a: ifs[0].clone(),
        if_b: ifs[1].clone(),
        vm1,
        vm2,
        upstream,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_interfaces_gateway_snat_and_floating_ip_become_nb_rows() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let t = topology(&ovn, &n).await;
    let rid = s(&t.router["id"]);
    let lr = format!("neutron-{rid}");
    let uuid =
        ovn.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router", &format!("name={lr}")]);
    assert_eq!(uuid.trim(), rid, "the router's row uuid is the router id");
    let ext_ids = ovn.nbctl(&["get", "Logical_Router", &lr, "external_ids"]);
    assert!(ext_ids.contains("\"neutron:router_name\"=r1"), "{ext_ids}");
    assert!(
        ext_ids.contains(&format!("\"neutron:gw_port_id\"=\"{}\"", s(&t.gw_port["id"]))),
        "{ext_ids}"
    );
    assert_eq!(
        unquote(&ovn.nbctl(&[
            "get",
            "Logical_Router",
            &lr,
            "external_ids:\"neutron:revision_number\""
        ])),
        t.router["revision_number"].to_string()
    );

    // Interfaces: LRP with the port's MAC and gateway address, peer LSP of type router.
    for (port, cidr) in [(&t.if_a, "10.0.0.1/24"), (&t.if_b, "10.1.0.1/24")] {
        let pid = s(&port["id"]);
        let lrp = format!("lrp-{pid}");
        assert_eq!(
            ovn.nbctl(&["get", "Logical_Router_Port", &lrp, "networks"]).trim(),
            format!("[\"{cidr}\"]")
        );
        assert_eq!(
            unquote(&ovn.nbctl(&["get", "Logical_Router_Port", &lrp, "mac"])),
            s(&port["mac_address"])
        );
        assert_eq!(unquote(&ovn.nbctl(&["get", "Logical_Switch_Port", &pid, "type"])), "router");
        assert_eq!(
            ovn.nbctl(&["get", "Logical_Switch_Port", &pid, "addresses"]).trim(),
            "[router]"
        );
        assert_eq!(
            unquote(&ovn.nbctl(&["get", "Logical_Switch_Port", &pid, "options:router-port"])),
            lrp
        );
    }
    // Gateway: LRP in the HA group on gw1, default route, SNAT per attached subnet.
    let gw_id = s(&t.gw_port["id"]);
    let gw_ip = s(&t.gw_port["fixed_ips"][0]["ip_address"]);
    let gw_lrp = format!("lrp-{gw_id}");
    assert_eq!(
        ovn.nbctl(&["get", "Logical_Router_Port", &gw_lrp, "networks"]).trim(),
        format!("[\"{gw_ip}/24\"]")
    );
    let hcg = ovn.nbctl(&["get", "Logical_Router_Port", &gw_lrp, "ha_chassis_group"]);
    let hcg_name = unquote(&ovn.nbctl(&["get", "HA_Chassis_Group", hcg.trim(), "name"]));
    assert_eq!(hcg_name, lr);
    let members = ovn.nbctl(&["--columns=chassis_name,priority", "list", "HA_Chassis"]);
    assert!(members.contains("gw1"), "{members}");
    assert_eq!(
        unquote(&ovn.nbctl(&["get", "Logical_Switch_Port", &gw_id, "options:nat-addresses"])),
        "router"
    );
    let routes = ovn.nbctl(&["lr-route-list", &lr]);
    assert!(routes.contains("0.0.0.0/0") && routes.contains("172.24.4.1"), "{routes}");
    let nat = ovn.nbctl(&["lr-nat-list", &lr]);
    assert!(
        nat.contains("10.0.0.0/24") && nat.contains("10.1.0.0/24") && nat.contains(&gw_ip),
        "{nat}"
    );

    // Floating IP: NAT dnat_and_snat, row uuid = floating IP id.
    let fip = Value::Object(
        n.core
            .floatingip_create(
                &n.admin,
                &[json!({"floating_network_id": t.ext, "port_id": t.vm1["id"]})],
            )
            .await
            .unwrap()
            .remove(0),
    );
    let fid = s(&fip["id"]);
    let fip_ip = s(&fip["floating_ip_address"]);
    assert_eq!(fip["status"], "ACTIVE");
    assert_eq!(unquote(&ovn.nbctl(&["get", "NAT", &fid, "type"])), "dnat_and_snat");
    assert_eq!(unquote(&ovn.nbctl(&["get", "NAT", &fid, "external_ip"])), fip_ip);
    assert_eq!(unquote(&ovn.nbctl(&["get", "NAT", &fid, "logical_ip"])), "10.0.0.10");
    assert_eq!(unquote(&ovn.nbctl(&["get", "NAT", &fid, "logical_port"])), s(&t.vm1["id"]));
    assert_eq!(unquote(&ovn.nbctl(&["get", "NAT", &fid, "external_ids:\"neutron:fip_id\""])), fid);

    // Traces (ovn-trace abbreviates UUID-like port names to their first characters).
    ovn.sync_sb();
    let (vm1, vm2) = (s(&t.vm1["id"]), s(&t.vm2["id"]));
    let (vm1_mac, vm2_mac) = (s(&t.vm1["mac_address"]), s(&t.vm2["mac_address"]));
    let (a_mac, b_mac) = (s(&t.if_a["mac_address"]), s(&t.if_b["mac_address"]));
    let east_west = ovn.trace(
        &format!("neutron-{}", t.net_a),
        &format!("inport == \"{vm1}\" && eth.src == {vm1_mac} && eth.dst == {a_mac} && ip4.src == 10.0.0.10 && ip4.dst == 10.1.0.10 && ip.ttl == 64 && icmp4.type == 8"),
    );
    assert!(east_west.contains(&format!("output(\"{}", &vm2[..6])), "VM1 reaches VM2: {east_west}");
    assert!(east_west.contains("ip.ttl--"), "TTL decremented: {east_west}");
    assert!(east_west.contains(&format!("eth.src = {b_mac}")), "source MAC rewritten: {east_west}");
    assert!(
        east_west.contains(&format!("eth.dst = {vm2_mac}")),
        "destination MAC rewritten: {east_west}"
    );

    let upstream = s(&t.upstream["id"]);
    let up_mac = s(&t.upstream["mac_address"]);
    let snat = ovn.trace(
        &format!("neutron-{}", t.net_b),
        &format!("inport == \"{vm2}\" && eth.src == {vm2_mac} && eth.dst == {b_mac} && ip4.src == 10.1.0.10 && ip4.dst == 8.8.8.8 && ip.ttl == 64 && icmp4.type == 8"),
    );
    assert!(
        snat.contains(&format!("output(\"{}", &upstream[..6])),
        "VM2 reaches the upstream router: {snat}"
    );
    assert!(
        snat.contains("snat") && snat.contains(&format!("ip4.src={gw_ip}")),
        "source NATed to the gateway address: {snat}"
    );
    assert!(snat.contains(&format!("eth.dst = {up_mac}")), "{snat}");

    let gw_mac = s(&t.gw_port["mac_address"]);
    let dnat = ovn.trace(
        &format!("neutron-{}", t.ext),
        &format!("inport == \"{upstream}\" && eth.src == {up_mac} && eth.dst == {gw_mac} && ip4.src == 8.8.8.8 && ip4.dst == {fip_ip} && ip.ttl == 64 && icmp4.type == 8"),
    );
    assert!(
        dnat.contains(&format!("output(\"{}", &vm1[..6])),
        "the floating IP reaches VM1: {dnat}"
    );
    assert!(
        dnat.contains("dnat") && dnat.contains("ip4.dst=10.0.0.10"),
        "destination NATed to the fixed IP: {dnat}"
    );
    let reply = ovn.trace(
        &format!("neutron-{}", t.net_a),
        &format!("inport == \"{vm1}\" && eth.src == {vm1_mac} && eth.dst == {a_mac} && ip4.src == 10.0.0.10 && ip4.dst == 8.8.8.8 && ip.ttl == 64 && icmp4.type == 0"),
    );
    assert!(
        reply.contains(&format!("ip4.src={fip_ip}")),
        "the reply leaves with the floating IP: {reply}"
    );
    assert!(reply.contains(&format!("output(\"{}", &upstream[..6])), "{reply}");

    // Disassociate, then tear down: NB follows.
    n.core.floatingip_update(&n.admin, &fid, &json!({"port_id": null}), None).await.unwrap();
    assert_eq!(
        ovn.nbctl(&["--bare", "--columns=_uuid", "find", "NAT", "type=dnat_and_snat"]).trim(),
        ""
    );
    n.core.floatingip_delete(&n.admin, &fid, None).await.unwrap();
    let if_b_subnet = s(&t.if_b["fixed_ips"][0]["subnet_id"]);
    n.core
        .router_remove_interface(&n.admin, &rid, &json!({"subnet_id": if_b_subnet}))
        .await
        .unwrap();
    let nat = ovn.nbctl(&["lr-nat-list", &lr]);
    assert!(!nat.contains("10.1.0.0/24") && nat.contains("10.0.0.0/24"), "{nat}");
    assert!(!ovn.nbctl(&["lrp-list", &lr]).contains(&s(&t.if_b["id"])));
    n.core
        .router_update(
            &n.admin,
            &rid,
            &json!({"routes": [{"destination": "192.168.0.0/24", "nexthop": "10.0.0.20"}]}),
            None,
        )
        .await
        .unwrap();
    let routes = ovn.nbctl(&["lr-route-list", &lr]);
    assert!(routes.contains("192.168.0.0/24") && routes.contains("10.0.0.20"), "{routes}");
    n.core
        .router_update(&n.admin, &rid, &json!({"routes": [], "external_gateway_info": {"network_id": t.ext, "enable_snat": false}}), None)
        .await
        .unwrap();
    let nat = ovn.nbctl(&["lr-nat-list", &lr]);
    assert!(!nat.contains("10.0.0.0/24"), "SNAT off: {nat}");
    assert!(!ovn.nbctl(&["lr-route-list", &lr]).contains("192.168.0.0/24"));
    let if_a_subnet = s(&t.if_a["fixed_ips"][0]["subnet_id"]);
    n.core
        .router_remove_interface(&n.admin, &rid, &json!({"subnet_id": if_a_subnet}))
        .await
        .unwrap();
    n.core.router_delete(&n.admin, &rid, None).await.unwrap();
    assert_eq!(ovn.nbctl(&["lr-list"]).trim(), "");
    assert_eq!(ovn.nbctl(&["--bare", "--columns=_uuid", "list", "HA_Chassis_Group"]).trim(), "");
    assert!(!ovn.nbctl(&["lsp-list", &format!("neutron-{}", t.ext)]).contains(&gw_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_are_rebuilt_by_repair_after_nb_loses_them() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let t = topology(&ovn, &n).await;
    let rid = s(&t.router["id"]);
    let lr = format!("neutron-{rid}");
    ovn.nbctl(&["lr-del", &lr]);
    ovn.nbctl(&["destroy", "HA_Chassis_Group", &lr]);
    let counts = n.driver.sync(neutrino_ovn::SyncMode::Repair).await.unwrap();
    assert!(counts.created >= 1, "{counts:?}");
    assert_eq!(ovn.nbctl(&["lrp-list", &lr]).lines().count(), 3, "two interfaces and the gateway");
    let nat = ovn.nbctl(&["lr-nat-list", &lr]);
    assert!(nat.contains("10.0.0.0/24"), "{nat}");
    let again = n.driver.sync(neutrino_ovn::SyncMode::Log).await.unwrap();
    assert_eq!(again, neutrino_ovn::Counts::default(), "nothing left to repair");
    let _ = (&t.net_a, &t.net_b, &t.vm1, &t.vm2);
}
