//! Subnets: defaults, IPv6 modes, validation errors, overlap and deletion in use.

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn ipv4_subnet_gets_gateway_and_pool_defaults() {
    let app = TestApp::new().await;
    let net = app.network(&app.admin, json!({})).await;
    let id = net["id"].as_str().unwrap();
    let sub = app
        .subnet(&app.admin, json!({"network_id": id, "cidr": "10.0.0.77/24", "ip_version": 4}))
        .await;
    assert_eq!(sub["cidr"], "10.0.0.0/24");
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    assert_eq!(sub["allocation_pools"], json!([{"start": "10.0.0.2", "end": "10.0.0.254"}]));
    assert_eq!(sub["enable_dhcp"], true);
    assert_eq!(sub["ipv6_ra_mode"], json!(null));
    let net_after = app.get(&format!("/v2.0/networks/{id}"), &app.admin).await;
    assert_eq!(net_after.body["network"]["subnets"], json!([sub["id"]]));
    assert!(
        net_after.body["network"]["revision_number"].as_i64() > net["revision_number"].as_i64(),
        "subnets bump their network"
    );
    let no_gw = app
        .subnet(
            &app.admin,
            json!({"network_id": id, "cidr": "10.9.0.0/29", "ip_version": 4, "gateway_ip": null}),
        )
        .await;
    assert_eq!(no_gw["gateway_ip"], json!(null));
    assert_eq!(no_gw["allocation_pools"], json!([{"start": "10.9.0.1", "end": "10.9.0.6"}]));
}

#[tokio::test]
async fn ipv6_subnets_follow_upstream_defaults_and_mode_rules() {
    let app = TestApp::new().await;
    let net = app.network(&app.admin, json!({})).await;
    let id = net["id"].as_str().unwrap();
    let sub = app
        .subnet(
            &app.admin,
            json!({"network_id": id, "cidr": "2001:db8::/64", "ip_version": 6,
            "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
        )
        .await;
    assert_eq!(sub["gateway_ip"], "2001:db8::");
    assert_eq!(sub["allocation_pools"][0]["start"], "2001:db8::1");
    let bad = [
        json!({"network_id": id, "cidr": "2001:db9::/64", "ip_version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"}),
        json!({"network_id": id, "cidr": "2001:dba::/80", "ip_version": 6, "ipv6_address_mode": "slaac"}),
        json!({"network_id": id, "cidr": "2001:dbb::/64", "ip_version": 6, "ipv6_address_mode": "slaac", "enable_dhcp": false}),
        json!({"network_id": id, "cidr": "10.5.0.0/24", "ip_version": 4, "ipv6_ra_mode": "slaac"}),
        json!({"network_id": id, "cidr": "2001:dbc::/64", "ip_version": 4}),
        json!({"network_id": id, "cidr": "2001:dbd::/64", "ip_version": 6, "ipv6_ra_mode": "magic"}),
    ];
    for body in bad {
        let r = app.post("/v2.0/subnets", &app.admin, json!({ "subnet": body })).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
    }
}

#[tokio::test]
async fn subnet_validation_errors_carry_upstream_types() {
    let app = TestApp::new().await;
    let net = app.network(&app.admin, json!({})).await;
    let id = net["id"].as_str().unwrap();
    app.subnet(&app.admin, json!({"network_id": id, "cidr": "10.0.0.0/24", "ip_version": 4})).await;
    let cases = [
        (json!({"cidr": "10.0.0.128/25"}), StatusCode::BAD_REQUEST, "InvalidInput"),
        (
            json!({"cidr": "10.1.0.0/24", "allocation_pools": [{"start": "10.1.0.10", "end": "10.1.1.5"}]}),
            StatusCode::BAD_REQUEST,
            "OutOfBoundsAllocationPool",
        ),
        (
            json!({"cidr": "10.1.0.0/24", "allocation_pools": [{"start": "10.1.0.10", "end": "10.1.0.5"}]}),
            StatusCode::BAD_REQUEST,
            "InvalidAllocationPool",
        ),
        (
            json!({"cidr": "10.1.0.0/24", "allocation_pools": [{"start": "10.1.0.2", "end": "10.1.0.9"}, {"start": "10.1.0.9", "end": "10.1.0.20"}]}),
            StatusCode::CONFLICT,
            "OverlappingAllocationPools",
        ),
        (
            json!({"cidr": "10.1.0.0/24", "gateway_ip": "10.1.0.5", "allocation_pools": [{"start": "10.1.0.2", "end": "10.1.0.9"}]}),
            StatusCode::CONFLICT,
            "GatewayConflictWithAllocationPools",
        ),
        (
            json!({"cidr": "10.1.0.0/24", "gateway_ip": "10.1.0.255"}),
            StatusCode::BAD_REQUEST,
            "InvalidInput",
        ),
        (
            json!({"cidr": "10.1.0.0/24", "dns_nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"]}),
            StatusCode::BAD_REQUEST,
            "DNSNameServersExhausted",
        ),
        (
            json!({"cidr": "10.1.0.0/24", "dns_nameservers": ["1.1.1.1", "1.1.1.1"]}),
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
        ),
        (
            json!({"cidr": "10.1.0.0/24", "host_routes": [{"destination": "2001:db8::/64", "nexthop": "10.1.0.1"}]}),
            StatusCode::BAD_REQUEST,
            "InvalidInput",
        ),
        (json!({"cidr": "10.1.0.0/31"}), StatusCode::BAD_REQUEST, "InvalidInput"),
        (json!({"cidr": "0.0.0.0/0"}), StatusCode::BAD_REQUEST, "HTTPBadRequest"),
        (json!({"cidr": "224.0.0.0/24"}), StatusCode::BAD_REQUEST, "InvalidInput"),
    ];
    for (extra, status, ty) in cases {
        let mut body = json!({"network_id": id, "ip_version": 4});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post("/v2.0/subnets", &app.admin, json!({ "subnet": body })).await;
        assert_eq!((r.status, r.error_type()), (status, ty), "{extra}: {}", r.body);
    }
    let list = app.get("/v2.0/subnets", &app.admin).await;
    assert_eq!(list.body["subnets"].as_array().unwrap().len(), 1, "nothing half-written");
    let other = app.network(&app.admin, json!({})).await;
    app.subnet(
        &app.admin,
        json!({"network_id": other["id"], "cidr": "10.0.0.0/24", "ip_version": 4}),
    )
    .await;
}

#[tokio::test]
async fn subnet_delete_is_refused_while_ports_hold_addresses() {
    let app = TestApp::new().await;
    let (net, subnet) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let port = app.port(&app.admin, json!({"network_id": net})).await;
    let path = format!("/v2.0/subnets/{subnet}");
    let r = app.delete(&path, &app.admin).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "SubnetInUse"));
    app.delete(&format!("/v2.0/ports/{}", port["id"].as_str().unwrap()), &app.admin).await;
    assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn subnet_update_changes_pools_and_dns_with_validation() {
    let app = TestApp::new().await;
    let (_, subnet) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let path = format!("/v2.0/subnets/{subnet}");
    let r = app.put(&path, &app.admin, json!({"subnet": {"dns_nameservers": ["8.8.8.8"], "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}], "name": "s"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["subnet"]["dns_nameservers"], json!(["8.8.8.8"]));
    assert_eq!(r.body["subnet"]["revision_number"], 1);
    let r = app.put(&path, &app.admin, json!({"subnet": {"gateway_ip": "10.0.0.15"}})).await;
    assert_eq!(r.error_type(), "GatewayConflictWithAllocationPools");
    let r = app.put(&path, &app.admin, json!({"subnet": {"cidr": "10.1.0.0/24"}})).await;
    assert_eq!(r.message(), "Cannot update read-only attribute cidr");
    let shown = app.get(&path, &app.admin).await;
    assert_eq!(shown.body["subnet"]["gateway_ip"], "10.0.0.1");
}

#[tokio::test]
async fn only_the_network_owner_creates_subnets_on_it() {
    let app = TestApp::new().await;
    let (member, _) = app.user("p1", "member").await;
    let shared = app.network(&app.admin, json!({"shared": true})).await;
    let r = app
        .post(
            "/v2.0/subnets",
            &member,
            json!({"subnet": {"network_id": shared["id"], "cidr": "10.0.0.0/24", "ip_version": 4}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let private = app.network(&app.admin, json!({})).await;
    let r = app.post("/v2.0/subnets", &member, json!({"subnet": {"network_id": private["id"], "cidr": "10.0.0.0/24", "ip_version": 4}})).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::NOT_FOUND, "NetworkNotFound"));
    let sub = app
        .subnet(
            &app.admin,
            json!({"network_id": shared["id"], "cidr": "10.0.0.0/24", "ip_version": 4}),
        )
        .await;
    let visible = app.get(&format!("/v2.0/subnets/{}", sub["id"].as_str().unwrap()), &member).await;
    assert_eq!(visible.status, StatusCode::OK, "subnets of shared networks are readable");
}
