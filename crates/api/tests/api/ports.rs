//! Ports: addresses, MACs, bindings, updates, policy and concurrent allocation.

use std::collections::HashSet;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::harness::{ids, TestApp};

fn ip_of(port: &Value) -> String {
    port["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn port_gets_an_address_from_the_pool_and_a_base_mac() {
    let app = TestApp::new().await;
    let (net, subnet) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let port = app.port(&app.admin, json!({"network_id": net, "name": "p"})).await;
    assert_eq!(port["status"], "DOWN");
    assert_eq!(port["fixed_ips"][0]["subnet_id"], subnet.as_str());
    let ip: std::net::Ipv4Addr = ip_of(&port).parse().unwrap();
    assert!((2..=254).contains(&ip.octets()[3]), "{ip} outside the pool");
    assert!(port["mac_address"].as_str().unwrap().starts_with("fa:16:3e:"));
    assert_eq!(port["binding:vif_type"], "unbound");
    assert_eq!(port["binding:vnic_type"], "normal");
    assert_eq!(port["security_groups"].as_array().unwrap().len(), 1, "the project's default group");
    assert_eq!(port["port_security_enabled"], true);
    assert_eq!(port["device_owner"], "");
    let dhcp =
        app.port(&app.admin, json!({"network_id": net, "device_owner": "network:dhcp"})).await;
    assert_eq!(ip_of(&dhcp), "10.0.0.2", "DHCP ports take the lowest free address");
    let none = app.port(&app.admin, json!({"network_id": net, "fixed_ips": []})).await;
    assert_eq!(none["fixed_ips"], json!([]));
}

#[tokio::test]
async fn explicit_fixed_ips_are_checked_and_taken_once() {
    let app = TestApp::new().await;
    let (net, subnet) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let p = app.port(&app.admin, json!({"network_id": net, "fixed_ips": [{"subnet_id": subnet, "ip_address": "10.0.0.50"}]})).await;
    assert_eq!(ip_of(&p), "10.0.0.50");
    let by_ip = app
        .port(&app.admin, json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.51"}]}))
        .await;
    assert_eq!(by_ip["fixed_ips"][0]["subnet_id"], subnet.as_str());
    let cases = [
        (json!([{"ip_address": "10.0.0.50"}]), StatusCode::CONFLICT, "IpAddressAlreadyAllocated"),
        (json!([{"ip_address": "192.168.9.9"}]), StatusCode::BAD_REQUEST, "InvalidIpForNetwork"),
        (
            json!([{"subnet_id": subnet, "ip_address": "10.0.0.255"}]),
            StatusCode::BAD_REQUEST,
            "InvalidIpForSubnet",
        ),
        (
            json!([{"subnet_id": subnet, "ip_address": "10.0.0.0"}]),
            StatusCode::BAD_REQUEST,
            "InvalidIpForSubnet",
        ),
        (
            json!([{"subnet_id": "0e9c4b8e-3c3c-4c0b-9f3a-1f0d2c3b4a5e"}]),
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
        ),
        (
            json!([{"ip_address": "10.0.0.60"}, {"ip_address": "10.0.0.60"}]),
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
        ),
    ];
    for (fixed, status, ty) in cases {
        let r = app
            .post(
                "/v2.0/ports",
                &app.admin,
                json!({"port": {"network_id": net, "fixed_ips": fixed}}),
            )
            .await;
        assert_eq!((r.status, r.error_type()), (status, ty), "{fixed}: {}", r.body);
    }
    let r = app.get("/v2.0/ports?fixed_ips=ip_address%3D10.0.0.50", &app.admin).await;
    assert_eq!(ids(&r.body["ports"]), [p["id"].as_str().unwrap()]);
    let r = app.get("/v2.0/ports?fixed_ips=ip_address_substr%3D10.0.0.5", &app.admin).await;
    assert_eq!(r.body["ports"].as_array().unwrap().len(), 2);
    let r = app.get(&format!("/v2.0/ports?network_id={net}"), &app.admin).await;
    assert_eq!(r.body["ports"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn delete_and_update_release_addresses() {
    let app = TestApp::new().await;
    let (net, subnet) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let p = app
        .port(&app.admin, json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.50"}]}))
        .await;
    let path = format!("/v2.0/ports/{}", p["id"].as_str().unwrap());
    let r = app
        .put(
            &path,
            &app.admin,
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.60"}, {"subnet_id": subnet}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ips: Vec<&str> = r.body["port"]["fixed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ip_address"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["10.0.0.60", "10.0.0.50"], "a bare subnet_id keeps the port's address on it");
    assert!(r.body["port"]["revision_number"].as_i64().unwrap() >= 1);
    let r = app
        .put(&path, &app.admin, json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.60"}]}}))
        .await;
    assert_eq!(r.body["port"]["fixed_ips"].as_array().unwrap().len(), 1);
    app.port(&app.admin, json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.50"}]}))
        .await;
    assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NO_CONTENT);
    app.port(&app.admin, json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.60"}]}))
        .await;
    assert_eq!(app.get(&path, &app.admin).await.error_type(), "PortNotFound");
}

#[tokio::test]
async fn slaac_subnets_give_eui64_addresses() {
    let app = TestApp::new().await;
    let net = app.network(&app.admin, json!({})).await;
    let id = net["id"].as_str().unwrap();
    app.subnet(&app.admin, json!({"network_id": id, "cidr": "10.0.0.0/24", "ip_version": 4})).await;
    app.subnet(&app.admin, json!({"network_id": id, "cidr": "2001:db8::/64", "ip_version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})).await;
    let p =
        app.port(&app.admin, json!({"network_id": id, "mac_address": "fa:16:3e:12:34:56"})).await;
    let ips: Vec<&str> = p["fixed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ip_address"].as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 2);
    assert!(ips.contains(&"2001:db8::f816:3eff:fe12:3456"), "{ips:?}");
}

#[tokio::test]
async fn macs_are_unique_per_network_and_regenerated_on_null() {
    let app = TestApp::new().await;
    let (net, _) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let p =
        app.port(&app.admin, json!({"network_id": net, "mac_address": "FA:16:3E:00:00:01"})).await;
    assert_eq!(p["mac_address"], "fa:16:3e:00:00:01");
    let r = app
        .post(
            "/v2.0/ports",
            &app.admin,
            json!({"port": {"network_id": net, "mac_address": "fa:16:3e:00:00:01"}}),
        )
        .await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "MacAddressInUse"));
    let (other, _) = app.network_with_subnet(&app.admin, "10.1.0.0/24").await;
    app.port(&app.admin, json!({"network_id": other, "mac_address": "fa:16:3e:00:00:01"})).await;
    let path = format!("/v2.0/ports/{}", p["id"].as_str().unwrap());
    let r = app.put(&path, &app.admin, json!({"port": {"mac_address": null}})).await;
    assert_ne!(r.body["port"]["mac_address"], "fa:16:3e:00:00:01");
    let bound = app.port(&app.admin, json!({"network_id": net, "binding:host_id": "host1"})).await;
    assert_eq!(bound["binding:vif_type"], "binding_failed", "the logger driver binds nothing");
    let r = app
        .put(
            &format!("/v2.0/ports/{}", bound["id"].as_str().unwrap()),
            &app.admin,
            json!({"port": {"mac_address": "fa:16:3e:00:00:09"}}),
        )
        .await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "PortBound"));
}

#[tokio::test]
async fn port_attribute_rules() {
    let app = TestApp::new().await;
    let (net, _) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let r = app.post("/v2.0/ports", &app.admin, json!({"port": {"network_id": net, "port_security_enabled": false, "allowed_address_pairs": [{"ip_address": "10.0.0.200"}]}})).await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::CONFLICT, "AddressPairAndPortSecurityRequired")
    );
    let p = app.port(&app.admin, json!({"network_id": net, "allowed_address_pairs": [{"ip_address": "10.0.0.0/28"}], "extra_dhcp_opts": [{"opt_name": "mtu", "opt_value": "1400"}]})).await;
    assert_eq!(p["allowed_address_pairs"][0]["mac_address"], p["mac_address"]);
    assert_eq!(p["extra_dhcp_opts"][0]["ip_version"], 4);
    let pairs: Vec<Value> = (0..11).map(|i| json!({"ip_address": format!("10.0.1.{i}")})).collect();
    let r = app
        .post(
            "/v2.0/ports",
            &app.admin,
            json!({"port": {"network_id": net, "allowed_address_pairs": pairs}}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::BAD_REQUEST, "AllowedAddressPairExhausted")
    );
    let r = app.post("/v2.0/ports", &app.admin, json!({"port": {"network_id": net, "extra_dhcp_opts": [{"opt_name": "x", "opt_value": "a\nb"}]}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .post(
            "/v2.0/ports",
            &app.admin,
            json!({"port": {"network_id": net, "binding:vnic_type": "warp"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let path = format!("/v2.0/ports/{}", p["id"].as_str().unwrap());
    let r = app.put(&path, &app.admin, json!({"port": {"port_security_enabled": false}})).await;
    assert_eq!(
        r.error_type(),
        "PortSecurityPortHasSecurityGroup",
        "the default group is still on it"
    );
    let off = json!({"port": {"port_security_enabled": false, "security_groups": []}});
    let r = app.put(&path, &app.admin, off).await;
    assert_eq!(r.error_type(), "AddressPairAndPortSecurityRequired");
    let r = app
        .put(
            &path,
            &app.admin,
            json!({"port": {"port_security_enabled": false, "allowed_address_pairs": [], "security_groups": []}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["port"]["security_groups"], json!([]));
    let ports = app.get("/v2.0/ports", &app.admin).await;
    assert_eq!(ports.body["ports"].as_array().unwrap().len(), 1, "nothing half-written");
}

#[tokio::test]
async fn port_policy_follows_network_ownership() {
    let app = TestApp::new().await;
    let (member, project) = app.user("p1", "member").await;
    let (other, _) = app.user("p2", "member").await;
    let (shared, _) = {
        let net = app.network(&app.admin, json!({"shared": true})).await;
        let id = net["id"].as_str().unwrap().to_string();
        let sub = app
            .subnet(&app.admin, json!({"network_id": id, "cidr": "10.0.0.0/24", "ip_version": 4}))
            .await;
        (id, sub)
    };
    let p = app.port(&member, json!({"network_id": shared})).await;
    assert_eq!(p["project_id"], project.as_str());
    assert!(p.get("binding:host_id").is_none(), "binding attributes are admin-only");
    for body in [
        json!({"network_id": shared, "device_owner": "network:dhcp"}),
        json!({"network_id": shared, "mac_address": "fa:16:3e:aa:aa:aa"}),
        json!({"network_id": shared, "fixed_ips": [{"ip_address": "10.0.0.77"}]}),
        json!({"network_id": shared, "binding:host_id": "h"}),
        json!({"network_id": shared, "port_security_enabled": false}),
    ] {
        let r = app.post("/v2.0/ports", &member, json!({ "port": body })).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{body}: {}", r.body);
    }
    let path = format!("/v2.0/ports/{}", p["id"].as_str().unwrap());
    let r = app.put(&path, &member, json!({"port": {"device_owner": "network:dhcp"}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&path, &other).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&path, &other).await.status, StatusCode::NOT_FOUND);
    let private = app.network(&app.admin, json!({})).await;
    let r = app.post("/v2.0/ports", &member, json!({"port": {"network_id": private["id"]}})).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::NOT_FOUND, "NetworkNotFound"));
    let compute = app
        .port(
            &app.admin,
            json!({"network_id": shared, "project_id": project, "device_owner": "compute:nova"}),
        )
        .await;
    let r = app.delete(&format!("/v2.0/ports/{}", compute["id"].as_str().unwrap()), &member).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "compute ports need a service token");
    assert_eq!(app.delete(&path, &member).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_share_an_address_or_mac() {
    let app = Arc::new(TestApp::new().await);
    let net = app.network(&app.admin, json!({})).await;
    let net_id = net["id"].as_str().unwrap().to_string();
    app.subnet(
        &app.admin,
        json!({"network_id": net_id, "cidr": "10.0.0.0/24", "ip_version": 4,
        "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.251"}]}),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..250 {
        let app = app.clone();
        let net_id = net_id.clone();
        tasks.push(tokio::spawn(async move {
            app.post(
                "/v2.0/ports",
                &app.admin,
                json!({"port": {"network_id": net_id, "name": format!("p{i}")}}),
            )
            .await
        }));
    }
    let mut ips = HashSet::new();
    let mut macs = HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert!(ips.insert(ip_of(&r.body["port"])));
        assert!(macs.insert(r.body["port"]["mac_address"].as_str().unwrap().to_string()));
    }
    assert_eq!((ips.len(), macs.len()), (250, 250));
    let r = app.post("/v2.0/ports", &app.admin, json!({"port": {"network_id": net_id}})).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "IpAddressGenerationFailure"));
    let listed = app.get(&format!("/v2.0/ports?network_id={net_id}"), &app.admin).await;
    assert_eq!(listed.body["ports"].as_array().unwrap().len(), 250);
}
