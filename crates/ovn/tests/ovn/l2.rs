//! Networks, subnets and ports in NB; traces; status; drift and outages.

use serde_json::json;

use crate::harness::{eventually, ovn_available, Neutrino, OvnCentral};
use neutrino_ovn::SyncMode;

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_subnet_and_port_become_nb_rows_and_follow_updates() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, subnet) = n.network_with_subnet("10.0.0.0/24").await;
    let ls = format!("neutron-{net}");
    let ext = ovn.nbctl(&["get", "Logical_Switch", &ls, "external_ids"]);
    assert!(ext.contains("\"neutron:mtu\"=\"1442\""), "{ext}");
    assert!(ext.contains("\"neutron:network_name\"=net"), "{ext}");
    let uuid =
        ovn.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Switch", &format!("name={ls}")]);
    assert_eq!(uuid.trim(), net, "the switch's row uuid is the network id");

    let dhcp = ovn.nbctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "DHCP_Options",
        &format!("external_ids:subnet_id={subnet}"),
    ]);
    let dhcp = dhcp.trim().to_string();
    let options = ovn.nbctl(&["get", "DHCP_Options", &dhcp, "options"]);
    for want in [
        "router=\"10.0.0.1\"",
        "server_id=\"10.0.0.1\"",
        "lease_time=\"43200\"",
        "mtu=\"1442\"",
        "dns_server=\"{8.8.8.8}\"",
        "169.254.169.254/32,10.0.0.2",
    ] {
        assert!(options.contains(want), "{want} missing in {options}");
    }
    let localport = ovn.nbctl(&[
        "--bare",
        "--columns=addresses",
        "find",
        "Logical_Switch_Port",
        "type=localport",
    ]);
    assert!(localport.contains("10.0.0.2"), "metadata port takes the lowest address: {localport}");

    let port =
        n.port(json!({"network_id": net, "binding:host_id": "compute-1", "name": "vm1"})).await;
    let pid = port["id"].as_str().unwrap();
    let mac = port["mac_address"].as_str().unwrap();
    let ip = port["fixed_ips"][0]["ip_address"].as_str().unwrap();
    let addresses = ovn.nbctl(&["get", "Logical_Switch_Port", pid, "addresses"]);
    assert_eq!(addresses.trim(), format!("[\"{mac} {ip}\"]"));
    let ps = ovn.nbctl(&["get", "Logical_Switch_Port", pid, "port_security"]);
    assert_eq!(ps.trim(), format!("[\"{mac} {ip}\"]"));
    assert_eq!(
        unquote(&ovn.nbctl(&["get", "Logical_Switch_Port", pid, "options:requested-chassis"])),
        "compute-1"
    );
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", pid, "dhcpv4_options"]).trim(), dhcp);
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", pid, "enabled"]).trim(), "true");
    let rev =
        ovn.nbctl(&["get", "Logical_Switch_Port", pid, "external_ids:\"neutron:revision_number\""]);
    assert_eq!(unquote(&rev), port["revision_number"].to_string());
    assert_eq!(
        unquote(&ovn.nbctl(&[
            "get",
            "Logical_Switch_Port",
            pid,
            "external_ids:\"neutron:port_name\""
        ])),
        "vm1"
    );
    assert_eq!(
        unquote(&ovn.nbctl(&["get", "Logical_Switch_Port", pid, "external_ids:\"neutron:cidrs\""])),
        format!("{ip}/24")
    );

    let updated = n
        .core
        .port_update(
            &n.admin,
            pid,
            &json!({"admin_state_up": false, "port_security_enabled": false, "security_groups": []}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", pid, "enabled"]).trim(), "false");
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", pid, "port_security"]).trim(), "[]");
    let addresses = ovn.nbctl(&["get", "Logical_Switch_Port", pid, "addresses"]);
    assert!(addresses.contains("unknown"), "{addresses}");
    let rev =
        ovn.nbctl(&["get", "Logical_Switch_Port", pid, "external_ids:\"neutron:revision_number\""]);
    assert_eq!(unquote(&rev), updated["revision_number"].to_string());

    n.core
        .subnet_update(&n.admin, &subnet, &json!({"dns_nameservers": ["1.1.1.1"]}), None)
        .await
        .unwrap();
    let options = ovn.nbctl(&["get", "DHCP_Options", &dhcp, "options"]);
    assert!(options.contains("dns_server=\"{1.1.1.1}\""), "{options}");

    n.core.port_delete(&n.admin, pid, None).await.unwrap();
    let lsps = ovn.nbctl(&["lsp-list", &ls]);
    assert!(!lsps.contains(pid), "{lsps}");
    n.core.network_delete(&n.admin, &net, None).await.unwrap();
    assert_eq!(ovn.nbctl(&["ls-list"]).trim(), "");
    assert_eq!(ovn.nbctl(&["--bare", "--columns=_uuid", "list", "DHCP_Options"]).trim(), "");
    assert_eq!(ovn.nbctl(&["--bare", "--columns=_uuid", "list", "Logical_Switch_Port"]).trim(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_vlan_network_gets_a_localnet_port() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let net = n
        .network(json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 120}))
        .await;
    let id = net["id"].as_str().unwrap();
    let name = format!("provnet-{id}");
    assert_eq!(unquote(&ovn.nbctl(&["get", "Logical_Switch_Port", &name, "type"])), "localnet");
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", &name, "tag_request"]).trim(), "120");
    assert_eq!(
        unquote(&ovn.nbctl(&["get", "Logical_Switch_Port", &name, "options:network_name"])),
        "physnet1"
    );
    let ext = ovn.nbctl(&["get", "Logical_Switch", &format!("neutron-{id}"), "external_ids"]);
    assert!(ext.contains("\"neutron:provnet-physical-network\"=physnet1"), "{ext}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_deliver_between_ports_and_port_security_drops_spoofing() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, _) = n.network_with_subnet("10.0.0.0/24").await;
    let a = n.port(json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.10"}]})).await;
    let b = n.port(json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.11"}]})).await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let (a_mac, b_mac) = (a["mac_address"].as_str().unwrap(), b["mac_address"].as_str().unwrap());
    ovn.sync_sb();
    let ls = format!("neutron-{net}");
    let flow = |src_mac: &str, src_ip: &str| {
        format!(
            "inport == \"{a_id}\" && eth.src == {src_mac} && eth.dst == {b_mac} && ip4.src == {src_ip} && ip4.dst == 10.0.0.11 && ip.ttl == 64 && icmp4.type == 8"
        )
    };
    // ovn-trace abbreviates UUID-like port names to their first characters.
    let out_b = format!("output(\"{}", &b_id[..6]);
    let out_a = format!("output(\"{}", &a_id[..6]);
    let delivered = ovn.trace(&ls, &flow(a_mac, "10.0.0.10"));
    assert!(delivered.contains(&out_b), "{delivered}");
    let spoofed_ip = ovn.trace(&ls, &flow(a_mac, "10.0.0.99"));
    assert!(!spoofed_ip.contains("output("), "spoofed source IP must be dropped: {spoofed_ip}");
    let spoofed_mac = ovn.trace(&ls, &flow("fa:16:3e:de:ad:00", "10.0.0.10"));
    assert!(!spoofed_mac.contains("output("), "spoofed source MAC must be dropped: {spoofed_mac}");
    n.core
        .port_update(
            &n.admin,
            a_id,
            &json!({"port_security_enabled": false, "security_groups": []}),
            None,
        )
        .await
        .unwrap();
    // B's groups would still refuse a source outside them: open B as well.
    n.core
        .port_update(
            &n.admin,
            b_id,
            &json!({"port_security_enabled": false, "security_groups": []}),
            None,
        )
        .await
        .unwrap();
    ovn.sync_sb();
    let open = ovn.trace(&ls, &flow(a_mac, "10.0.0.99"));
    assert!(open.contains(&out_b), "without port security it passes: {open}");
    let dhcp = ovn.trace(
        &ls,
        &format!(
            "inport == \"{b_id}\" && eth.src == {b_mac} && eth.dst == ff:ff:ff:ff:ff:ff && ip4.src == 0.0.0.0 && ip4.dst == 255.255.255.255 && udp.src == 68 && udp.dst == 67"
        ),
    );
    assert!(
        dhcp.contains("put_dhcp_opts") || dhcp.contains("DHCP"),
        "DHCP answered by OVN: {dhcp}"
    );
    assert!(
        dhcp.contains(&format!("output(\"{}", &b_id[..6])),
        "the reply goes back to the client: {dhcp}"
    );
    let _ = out_a;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_status_follows_the_sb_binding() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, _) = n.network_with_subnet("10.0.0.0/24").await;
    let port = n.port(json!({"network_id": net})).await;
    let pid = port["id"].as_str().unwrap().to_string();
    assert_eq!(port["status"], "DOWN");
    ovn.sync_sb();
    ovn.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"]);
    ovn.sbctl(&["lsp-bind", &pid, "ch1"]);
    ovn.sync_sb();
    let active = loop_status(&n, &pid, "ACTIVE").await;
    assert!(
        active["revision_number"].as_i64() > port["revision_number"].as_i64(),
        "status changes bump the revision"
    );
    ovn.sbctl(&["lsp-unbind", &pid]);
    loop_status(&n, &pid, "DOWN").await;
}

async fn loop_status(n: &Neutrino, pid: &str, want: &str) -> serde_json::Value {
    for _ in 0..200 {
        let p = n.show_port(pid).await;
        if p["status"] == want {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("port {pid} never became {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_reported_then_repaired() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, _) = n.network_with_subnet("10.0.0.0/24").await;
    let port = n.port(json!({"network_id": net})).await;
    let pid = port["id"].as_str().unwrap();
    let before = ovn.nbctl(&["get", "Logical_Switch_Port", pid, "addresses"]);
    ovn.nbctl(&["lsp-set-addresses", pid, "00:00:00:00:00:01"]);
    ovn.nbctl(&["ls-add", "someone-elses-switch"]);
    let report = eventually(10, || {
        let r = futures_lite(n.driver.sync(SyncMode::Log));
        r.ok().filter(|c| c.updated >= 1)
    })
    .await;
    assert_eq!(report.created, 0);
    let repaired = n.driver.sync(SyncMode::Repair).await.unwrap();
    assert!(repaired.updated >= 1, "{repaired:?}");
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", pid, "addresses"]), before);
    assert!(
        ovn.nbctl(&["ls-list"]).contains("someone-elses-switch"),
        "rows without our markers are left alone"
    );
    let clean = n.driver.sync(SyncMode::Log).await.unwrap();
    assert_eq!((clean.created, clean.updated, clean.deleted), (0, 0, 0));
}

/// Runs a future to completion from synchronous code inside the multi-threaded runtime.
fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_nb_is_rebuilt_by_repair() {
    if !ovn_available() {
        return;
    }
    let mut ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, _) = n.network_with_subnet("10.0.0.0/24").await;
    let mut ports = Vec::new();
    for _ in 0..5 {
        ports.push(n.port(json!({"network_id": net})).await["id"].as_str().unwrap().to_string());
    }
    ovn.stop_nb();
    ovn.start_nb(true);
    let ls = format!("neutron-{net}");
    // The maintenance task repairs after the reconnect on its own; an explicit repair converges too.
    let listed = eventually(30, || {
        let _ = futures_lite(n.driver.sync(SyncMode::Repair));
        let out = std::process::Command::new("ovn-nbctl")
            .arg(format!("--db={}", ovn.nb_remote()))
            .args(["lsp-list", &ls])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        ports.iter().all(|p| text.contains(p.as_str())).then_some(text)
    })
    .await;
    assert!(listed.contains(&ports[0]));
    assert_eq!(
        ovn.nbctl(&["--bare", "--columns=_uuid", "list", "DHCP_Options"])
            .lines()
            .filter(|l| !l.is_empty())
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_created_while_nb_is_down_reach_it_when_it_returns() {
    if !ovn_available() {
        return;
    }
    let mut ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, _) = n.network_with_subnet("10.0.0.0/24").await;
    ovn.stop_nb();
    let mut ports = Vec::new();
    for _ in 0..5 {
        ports.push(n.port(json!({"network_id": net})).await["id"].as_str().unwrap().to_string());
    }
    ovn.start_nb(false);
    let ls = format!("neutron-{net}");
    eventually(30, || {
        let out = std::process::Command::new("ovn-nbctl")
            .arg(format!("--db={}", ovn.nb_remote()))
            .args(["lsp-list", &ls])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        ports.iter().all(|p| text.contains(p.as_str())).then_some(())
    })
    .await;
    let lsps = ovn.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch_Port"]);
    for p in &ports {
        assert_eq!(lsps.matches(p.as_str()).count(), 1, "no duplicates");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_dhcp_options_get_a_per_port_row() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, subnet) = n.network_with_subnet("10.0.0.0/24").await;
    let port = n
        .port(json!({"network_id": net, "extra_dhcp_opts": [
            {"opt_name": "mtu", "opt_value": "1400"}, {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"}]}))
        .await;
    let pid = port["id"].as_str().unwrap();
    let subnet_row = ovn.nbctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "DHCP_Options",
        &format!("external_ids:subnet_id={subnet}"),
        "external_ids:port_id!=x",
    ]);
    let own = ovn.nbctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "DHCP_Options",
        &format!("external_ids:port_id={pid}"),
    ]);
    let own = own.trim().to_string();
    assert!(!own.is_empty(), "per-port row exists; subnet rows: {subnet_row}");
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", pid, "dhcpv4_options"]).trim(), own);
    let options = ovn.nbctl(&["get", "DHCP_Options", &own, "options"]);
    for want in ["mtu=\"1400\"", "bootfile_name=\"\\\"pxelinux.0\\\"\"", "router=\"10.0.0.1\""] {
        assert!(options.contains(want), "{want} missing in {options}");
    }
    n.core
        .subnet_update(&n.admin, &subnet, &json!({"dns_nameservers": ["9.9.9.9"]}), None)
        .await
        .unwrap();
    let options = ovn.nbctl(&["get", "DHCP_Options", &own, "options"]);
    assert!(options.contains("{9.9.9.9}"), "per-port rows follow their subnet: {options}");
    n.core.port_update(&n.admin, pid, &json!({"extra_dhcp_opts": []}), None).await.unwrap();
    let left = ovn.nbctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "DHCP_Options",
        &format!("external_ids:port_id={pid}"),
    ]);
    assert_eq!(left.trim(), "", "no options, no per-port row");
    let subnet_uuid = ovn.nbctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "DHCP_Options",
        &format!("external_ids:subnet_id={subnet}"),
    ]);
    assert_eq!(
        ovn.nbctl(&["get", "Logical_Switch_Port", pid, "dhcpv4_options"]).trim(),
        subnet_uuid.trim()
    );
    n.core
        .port_update(
            &n.admin,
            pid,
            &json!({"extra_dhcp_opts": [{"opt_name": "dhcp_disabled", "opt_value": "true"}]}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", pid, "dhcpv4_options"]).trim(), "[]");
    n.core
        .port_update(
            &n.admin,
            pid,
            &json!({"extra_dhcp_opts": [{"opt_name": "ntp-server", "opt_value": "10.0.0.5"}]}),
            None,
        )
        .await
        .unwrap();
    n.core.port_delete(&n.admin, pid, None).await.unwrap();
    let left = ovn.nbctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "DHCP_Options",
        &format!("external_ids:port_id={pid}"),
    ]);
    assert_eq!(left.trim(), "", "deleting the port deletes its row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chassis_are_listed_as_agents_to_admins_only() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    ovn.sbctl(&["chassis-add", "gw1", "geneve", "127.0.0.1"]);
    ovn.sbctl(&[
        "set",
        "Chassis",
        "gw1",
        "hostname=host-1",
        "other_config:ovn-cms-options=enable-chassis-as-gw",
        "other_config:ovn-bridge-mappings=public:br-ex",
    ]);
    let query = nt_types::query::ListQuery::default();
    let list = |ctx: nt_core::OpContext| {
        let core = n.core.clone();
        let query = query.clone();
        async move {
            let mut out = Vec::new();
            core.agent_list(&ctx, &query, &mut |v| out.push(v)).await.unwrap();
            out
        }
    };
    let agents = eventually(10, || {
        let a = futures_lite(list(n.admin.clone()));
        // chassis-add and set are two transactions: wait for the second.
        (a.first().is_some_and(|x| x["host"] == "host-1")).then_some(a)
    })
    .await;
    assert_eq!(agents[0]["id"], "gw1");
    assert_eq!(agents[0]["host"], "host-1");
    assert_eq!(agents[0]["agent_type"], "OVN Controller Gateway agent");
    assert_eq!(agents[0]["binary"], "ovn-controller");
    assert_eq!(agents[0]["configurations"]["bridge-mappings"], "public:br-ex");
    assert_eq!(agents[0]["alive"], false, "no Chassis_Private: no ovn-controller answering");
    let member =
        nt_core::OpContext { roles: vec!["member".into(), "reader".into()], ..n.admin.clone() };
    assert!(list(member.clone()).await.is_empty());
    assert!(n.core.agent_show(&member, "gw1").await.is_err());
    assert_eq!(n.core.agent_show(&n.admin, "gw1").await.unwrap()["host"], "host-1");
    let port = n
        .port(json!({"network_id": n.network(json!({})).await["id"], "binding:host_id": "host-1"}))
        .await;
    assert_eq!(port["binding:vif_type"], "ovs", "a host with a chassis binds");
    let unbound =
        n.port(json!({"network_id": port["network_id"], "binding:host_id": "nowhere"})).await;
    assert_eq!(unbound["binding:vif_type"], "binding_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_are_coalesced_and_all_reach_nb_once() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = std::sync::Arc::new(Neutrino::start(&ovn).await);
    let (net, _) = n.network_with_subnet("10.0.0.0/24").await;
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let n = n.clone();
        let net = net.clone();
        tasks.push(tokio::spawn(async move { n.port(json!({"network_id": net})).await }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap()["id"].as_str().unwrap().to_string());
    }
    let lsps = ovn.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch_Port"]);
    for id in &ids {
        assert_eq!(lsps.matches(id.as_str()).count(), 1, "{id} in NB exactly once");
    }
    let drift = n.driver.sync(SyncMode::Log).await.unwrap();
    assert_eq!(
        (drift.created, drift.updated, drift.deleted),
        (0, 0, 0),
        "every port written at its revision"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_comes_up_while_nb_is_away_turns_active_after_the_reconnect() {
    if !ovn_available() {
        return;
    }
    let mut ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, _) = n.network_with_subnet("10.0.0.0/24").await;
    let port = n.port(json!({"network_id": net})).await;
    let pid = port["id"].as_str().unwrap().to_string();
    ovn.sync_sb();
    ovn.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"]);
    ovn.stop_nb();
    // While NB is down the binding happens; northd writes `up` once NB is back, and our
    // replica only learns it through the re-sync after reconnecting.
    ovn.sbctl(&["lsp-bind", &pid, "ch1"]);
    ovn.start_nb(false);
    loop_status(&n, &pid, "ACTIVE").await;
    ovn.stop_nb();
    ovn.sbctl(&["lsp-unbind", &pid]);
    ovn.start_nb(false);
    loop_status(&n, &pid, "DOWN").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_updates_reach_the_switch_and_dhcp_mtu() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, subnet) = n.network_with_subnet("10.0.0.0/24").await;
    let updated = n
        .core
        .network_update(&n.admin, &net, &json!({"name": "renamed", "mtu": 1400}), None)
        .await
        .unwrap();
    let ls = format!("neutron-{net}");
    let ext = ovn.nbctl(&["get", "Logical_Switch", &ls, "external_ids"]);
    assert!(ext.contains("\"neutron:network_name\"=renamed"), "{ext}");
    assert!(ext.contains("\"neutron:mtu\"=\"1400\""), "{ext}");
    assert!(
        ext.contains(&format!("\"neutron:revision_number\"=\"{}\"", updated["revision_number"])),
        "{ext}"
    );
    // The MTU is a DHCP option too: the subnet's row follows the network.
    let dhcp = ovn.nbctl(&[
        "--bare",
        "--columns=options",
        "find",
        "DHCP_Options",
        &format!("external_ids:subnet_id={subnet}"),
    ]);
    assert!(dhcp.contains("mtu=1400"), "{dhcp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_deletes_rows_we_own_whose_resource_is_gone() {
    if !ovn_available() {
        return;
    }
    let ovn = OvnCentral::start();
    let n = Neutrino::start(&ovn).await;
    let (net, _) = n.network_with_subnet("10.0.0.0/24").await;
    let ls = format!("neutron-{net}");
    ovn.nbctl(&[
        "lsp-add",
        &ls,
        "ghost-port",
        "--",
        "set",
        "Logical_Switch_Port",
        "ghost-port",
        "external_ids:\"neutron:port_name\"=ghost",
    ]);
    ovn.nbctl(&["lsp-add", &ls, "foreign-port"]);
    ovn.nbctl(&[
        "ls-add",
        "neutron-ghost",
        "--",
        "set",
        "Logical_Switch",
        "neutron-ghost",
        "external_ids:\"neutron:network_name\"=ghost",
    ]);
    let report = n.driver.sync(SyncMode::Log).await.unwrap();
    assert!(report.deleted >= 2, "{report:?}");
    assert!(ovn.nbctl(&["lsp-list", &ls]).contains("ghost-port"), "log mode changes nothing");
    n.driver.sync(SyncMode::Repair).await.unwrap();
    let lsps = ovn.nbctl(&["lsp-list", &ls]);
    assert!(!lsps.contains("ghost-port"), "{lsps}");
    assert!(lsps.contains("foreign-port"), "rows without our marker stay: {lsps}");
    assert!(!ovn.nbctl(&["ls-list"]).contains("neutron-ghost"));
}
