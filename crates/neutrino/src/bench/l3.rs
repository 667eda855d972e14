//! `--ovn` L3 and security phases: security group rule create (API answers after the ACL is in
//! NB), `add_router_interface`, and many routers with gateways scheduled over three gateway
//! chassis.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::ovn::OvnCentral;
use super::{percentile_ms, Client};

/// What the L3 phases measured.
#[derive(Debug, Clone, Serialize)]
pub(super) struct L3Stats {
    pub(super) rule_creates: usize,
    pub(super) rule_create_p50_ms: Option<f64>,
    pub(super) rule_create_p99_ms: Option<f64>,
    pub(super) interface_adds: usize,
    pub(super) interface_add_p50_ms: Option<f64>,
    pub(super) interface_add_p99_ms: Option<f64>,
    pub(super) floatingip_creates: usize,
    pub(super) floatingip_create_p50_ms: Option<f64>,
    pub(super) floatingip_create_p99_ms: Option<f64>,
    pub(super) gateway_chassis: usize,
    pub(super) routers_with_gateway: usize,
    pub(super) routers_secs: f64,
}

fn id(v: &Value, key: &str) -> String {
    v[key]["id"].as_str().unwrap_or_default().to_string()
}

/// Runs the phases: `rules` rule creates, `interfaces` interface adds (one network each),
/// as many floating IP creates bound to a new port behind the router each, and `routers` routers
/// with gateways created by `workers` concurrent clients.
pub(super) async fn l3(
    client: &Client,
    central: &OvnCentral,
    rules: usize,
    interfaces: usize,
    routers: usize,
    workers: usize,
) -> Result<L3Stats> {
    let chassis = 3;
    for i in 1..=chassis {
        let name = format!("bench-gw{i}");
        central.sbctl(&["chassis-add", &name, "geneve", &format!("127.0.0.{}", 10 + i)]).await?;
        central
            .sbctl(&["set", "Chassis", &name, "other_config:ovn-cms-options=enable-chassis-as-gw"])
            .await?;
    }
    let quota = json!({"quota": {"router": -1, "security_group": -1, "security_group_rule": -1,
        "floatingip": -1, "port": -1}});
    let project = client.expect(Method::GET, "/v2.0/quotas/project", None, 200).await?;
    let project = project["project"]["project_id"].as_str().unwrap_or_default().to_string();
    client.expect(Method::PUT, &format!("/v2.0/quotas/{project}"), Some(&quota), 200).await?;

    // Security group rules.
    let group = client
        .expect(
            Method::POST,
            "/v2.0/security-groups",
            Some(&json!({"security_group": {"name": "bench"}})),
            201,
        )
        .await?;
    let group = id(&group, "security_group");
    let mut times = Vec::with_capacity(rules);
    for i in 0..rules {
        let rule = json!({"security_group_rule": {"security_group_id": group, "direction": "ingress",
            "protocol": "tcp", "port_range_min": 1000 + i, "port_range_max": 1000 + i}});
        let started = Instant::now();
        client.expect(Method::POST, "/v2.0/security-group-rules", Some(&rule), 201).await?;
        times.push(started.elapsed());
    }
    times.sort();
    let (rule_p50, rule_p99) = (percentile_ms(&times, 50.0), percentile_ms(&times, 99.0));

    // Router interfaces, one new network and subnet each.
    let ext = json!({"network": {"name": "bench-public", "router:external": true,
        "provider:network_type": "flat", "provider:physical_network": "bench-public"}});
    let ext = id(&client.expect(Method::POST, "/v2.0/networks", Some(&ext), 201).await?, "network");
    let sub = json!({"subnet": {"network_id": ext, "cidr": "172.30.0.0/16", "ip_version": 4}});
    client.expect(Method::POST, "/v2.0/subnets", Some(&sub), 201).await?;
    let router =
        json!({"router": {"name": "bench-if", "external_gateway_info": {"network_id": ext}}});
    let router =
        id(&client.expect(Method::POST, "/v2.0/routers", Some(&router), 201).await?, "router");
    let mut times = Vec::with_capacity(interfaces);
    let mut first_net = None;
    for i in 0..interfaces {
        let net = json!({"network": {"name": format!("bench-if-{i}")}});
        let net =
            id(&client.expect(Method::POST, "/v2.0/networks", Some(&net), 201).await?, "network");
        let sub = json!({"subnet": {"network_id": net, "cidr": format!("10.{}.{}.0/24", 100 + i / 250, i % 250),
            "ip_version": 4}});
        let sub =
            id(&client.expect(Method::POST, "/v2.0/subnets", Some(&sub), 201).await?, "subnet");
        first_net.get_or_insert(net);
        let started = Instant::now();
        client
            .expect(
                Method::PUT,
                &format!("/v2.0/routers/{router}/add_router_interface"),
                Some(&json!({"subnet_id": sub})),
                200,
            )
            .await?;
        times.push(started.elapsed());
    }
    times.sort();
    let (if_p50, if_p99) = (percentile_ms(&times, 50.0), percentile_ms(&times, 99.0));

    // Floating IPs, each associated at create with a new port on a network behind the router
    // (the API answers after the dnat_and_snat NAT row is in NB).
    let mut times = Vec::with_capacity(interfaces);
    if let Some(net) = &first_net {
        for i in 0..interfaces {
            let port = json!({"port": {"network_id": net, "name": format!("bench-fip-{i}")}});
            let port =
                id(&client.expect(Method::POST, "/v2.0/ports", Some(&port), 201).await?, "port");
            let fip = json!({"floatingip": {"floating_network_id": ext, "port_id": port}});
            let started = Instant::now();
            client.expect(Method::POST, "/v2.0/floatingips", Some(&fip), 201).await?;
            times.push(started.elapsed());
        }
    }
    times.sort();
    let (fip_p50, fip_p99) = (percentile_ms(&times, 50.0), percentile_ms(&times, 99.0));

    // Many routers with gateways, concurrently.
    let client = Arc::new(client.clone());
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let (client, next, ext) = (client.clone(), next.clone(), ext.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= routers {
                    return Ok::<(), anyhow::Error>(());
                }
                let body = json!({"router": {"name": format!("bench-gw-{i}"), "external_gateway_info": {"network_id": ext}}});
                client.expect(Method::POST, "/v2.0/routers", Some(&body), 201).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let routers_secs = started.elapsed().as_secs_f64();
    Ok(L3Stats {
        rule_creates: rules,
        rule_create_p50_ms: rule_p50,
        rule_create_p99_ms: rule_p99,
        interface_adds: interfaces,
        interface_add_p50_ms: if_p50,
        interface_add_p99_ms: if_p99,
        floatingip_creates: times.len(),
        floatingip_create_p50_ms: fip_p50,
        floatingip_create_p99_ms: fip_p99,
        gateway_chassis: chassis,
        routers_with_gateway: routers,
        routers_secs: (routers_secs * 1000.0).round() / 1000.0,
    })
}
