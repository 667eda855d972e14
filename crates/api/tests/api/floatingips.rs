//! Floating IPs: allocation, association rules, status, policy and the ports they hold.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::harness::{ids, TestApp};
use crate::routers::{action, external, router};

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

async fn fip(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/v2.0/floatingips", token, json!({ "floatingip": body })).await;
    assert_eq!(r.status, StatusCode::CREATED, "floating IP create: {}", r.body);
    r.body["floatingip"].clone()
}

async fn port_count(app: &TestApp) -> usize {
    app.get("/v2.0/ports", &app.admin).await.body["ports"].as_array().unwrap().len()
}

/// A project network attached to a router with a gateway on `ext`: `(router, net, subnet)`.
async fn routed(app: &TestApp, token: &str, ext: &str, cidr: &str) -> (String, String, String) {
    let r = router(app, &app.admin, json!({"external_gateway_info": {"network_id": ext}})).await;
    let rid = s(&r["id"]);
    let (net, subnet) = app.network_with_subnet(token, cidr).await;
    let a =
        action(app, &app.admin, &rid, "add_router_interface", json!({"subnet_id": subnet})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    (rid, net, subnet)
}

#[tokio::test]
async fn floating_ip_holds_an_external_address_in_its_own_port() {
    let app = TestApp::new().await;
    let (alice, alice_project) = app.user("alice", "member").await;
    let (ext, ext_subnet) = external(&app, "172.24.4.0/24").await;
    let f = fip(&app, &alice, json!({"floating_network_id": ext, "description": "d"})).await;
    let id = s(&f["id"]);
    assert_eq!(f["status"], "DOWN");
    assert_eq!(f["port_id"], Value::Null);
    assert_eq!(f["router_id"], Value::Null);
    assert_eq!(f["fixed_ip_address"], Value::Null);
    assert_eq!(f["port_details"], Value::Null);
    assert_eq!(f["project_id"], alice_project.as_str());
    assert!(f.get("subnet_id").is_none() && f.get("floating_port_id").is_none(), "{f}");
    let addr = s(&f["floating_ip_address"]);
    assert!(addr.starts_with("172.24.4."), "{addr}");
    let ports =
        app.get(&format!("/v2.0/ports?device_id={id}"), &app.admin).await.body["ports"].clone();
    assert_eq!(ports[0]["device_owner"], "network:floatingip");
    assert_eq!(ports[0]["project_id"], "");
    assert_eq!(ports[0]["fixed_ips"][0]["ip_address"], addr.as_str());
    let fport = s(&ports[0]["id"]);
    let e = app.delete(&format!("/v2.0/ports/{fport}"), &app.admin).await;
    assert_eq!((e.status, e.error_type()), (StatusCode::CONFLICT, "ServicePortInUse"));

    // Refusals.
    let before = port_count(&app).await;
    let internal = app.network(&alice, json!({})).await;
    let cases = [
        (
            &alice,
            json!({"floating_network_id": internal["id"]}),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            &alice,
            json!({"floating_network_id": "0e9c4b8e-3c3c-4c0b-9f3a-1f0d2c3b4a5e"}),
            StatusCode::NOT_FOUND,
            "NetworkNotFound",
        ),
        (
            &alice,
            json!({"floating_network_id": ext, "floating_ip_address": "172.24.4.99"}),
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
        ),
        (
            &app.admin,
            json!({"floating_network_id": ext, "floating_ip_address": addr}),
            StatusCode::CONFLICT,
            "IpAddressAlreadyAllocated",
        ),
        (
            &app.admin,
            json!({"floating_network_id": ext, "floating_ip_address": "10.0.0.5"}),
            StatusCode::BAD_REQUEST,
            "InvalidIpForNetwork",
        ),
        (
            &alice,
            json!({"floating_network_id": ext, "fixed_ip_address": "10.0.0.5"}),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            &alice,
            json!({"floating_network_id": ext, "router_id": ext}),
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
        ),
        (&alice, json!({}), StatusCode::BAD_REQUEST, "HTTPBadRequest"),
    ];
    for (token, body, status, ty) in cases {
        let e = app.post("/v2.0/floatingips", token, json!({ "floatingip": body })).await;
        assert_eq!((e.status, e.error_type()), (status, ty), "{body}: {}", e.body);
    }
    assert_eq!(port_count(&app).await, before, "nothing half-written");
    let chosen = fip(
        &app,
        &app.admin,
        json!({"floating_network_id": ext, "floating_ip_address": "172.24.4.99"}),
    )
    .await;
    assert_eq!(chosen["floating_ip_address"], "172.24.4.99");
    let by_subnet =
        fip(&app, &alice, json!({"floating_network_id": ext, "subnet_id": ext_subnet})).await;
    assert!(s(&by_subnet["floating_ip_address"]).starts_with("172.24.4."));

    // Other projects see nothing.
    let (bob, _) = app.user("bob", "member").await;
    let path = format!("/v2.0/floatingips/{id}");
    assert_eq!(app.get(&path, &bob).await.error_type(), "FloatingIPNotFound");
    assert_eq!(
        app.put(&path, &bob, json!({"floatingip": {"description": "x"}})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, &bob).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.put(&format!("{path}/tags"), &bob, json!({"tags": ["x"]})).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(ids(&app.get("/v2.0/floatingips", &bob).await.body["floatingips"]).is_empty());
    assert_eq!(ids(&app.get("/v2.0/floatingips", &alice).await.body["floatingips"]).len(), 2);
    let filtered = app.get(&format!("/v2.0/floatingips?floating_ip_address={addr}"), &alice).await;
    assert_eq!(ids(&filtered.body["floatingips"]), std::slice::from_ref(&id));

    // Pools, then delete: the port goes with it.
    let pools = app.get("/v2.0/floatingip-pools", &alice).await;
    assert_eq!(pools.body["floatingip_pools"][0]["subnet_id"], ext_subnet.as_str());
    assert_eq!(pools.body["floatingip_pools"][0]["cidr"], "172.24.4.0/24");
    assert_eq!(app.delete(&path, &alice).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/v2.0/ports/{fport}"), &app.admin).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn association_needs_a_router_between_the_port_and_the_external_network() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice", "member").await;
    let (ext, _) = external(&app, "172.24.4.0/24").await;
    let (rid, net, subnet) = routed(&app, &alice, &ext, "10.0.0.0/24").await;
    let vm = app
        .port(
            &alice,
            json!({"network_id": net, "device_id": "vm1", "device_owner": "compute:nova"}),
        )
        .await;
    let vm_ip = s(&vm["fixed_ips"][0]["ip_address"]);
    let f = fip(&app, &alice, json!({"floating_network_id": ext, "port_id": vm["id"]})).await;
    let id = s(&f["id"]);
    assert_eq!(f["status"], "ACTIVE");
    assert_eq!(f["router_id"], rid.as_str());
    assert_eq!(f["fixed_ip_address"], vm_ip.as_str());
    assert_eq!(f["port_details"]["device_id"], "vm1");
    assert_eq!(f["port_details"]["network_id"], net.as_str());
    assert_eq!(f["port_details"]["mac_address"], vm["mac_address"]);

    // Refused associations.
    let (lonely_net, _) = app.network_with_subnet(&alice, "10.5.0.0/24").await;
    let lonely = app.port(&alice, json!({"network_id": lonely_net})).await;
    let dhcp =
        app.port(&app.admin, json!({"network_id": net, "device_owner": "network:dhcp"})).await;
    let (bob, _) = app.user("bob", "member").await;
    let (bob_net, _) = app.network_with_subnet(&bob, "10.7.0.0/24").await;
    let bob_port = app.port(&bob, json!({"network_id": bob_net})).await;
    let two = app.port(&alice, json!({"network_id": net})).await;
    let before = port_count(&app).await;
    let cases = [
        (
            json!({"floating_network_id": ext, "port_id": lonely["id"]}),
            StatusCode::NOT_FOUND,
            "ExternalGatewayForFloatingIPNotFound",
        ),
        (
            json!({"floating_network_id": ext, "port_id": vm["id"]}),
            StatusCode::CONFLICT,
            "FloatingIPPortAlreadyAssociated",
        ),
        (
            json!({"floating_network_id": ext, "port_id": bob_port["id"]}),
            StatusCode::NOT_FOUND,
            "PortNotFound",
        ),
        (
            json!({"floating_network_id": ext, "port_id": dhcp["id"]}),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            json!({"floating_network_id": ext, "port_id": two["id"], "fixed_ip_address": "10.0.0.250"}),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            json!({"floating_network_id": ext, "port_id": two["id"], "fixed_ip_address": "2001:db8::5"}),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            json!({"floating_network_id": ext, "port_id": "0e9c4b8e-3c3c-4c0b-9f3a-1f0d2c3b4a5e"}),
            StatusCode::NOT_FOUND,
            "PortNotFound",
        ),
    ];
    for (body, status, ty) in cases {
        let e = app.post("/v2.0/floatingips", &alice, json!({ "floatingip": body })).await;
        assert_eq!((e.status, e.error_type()), (status, ty), "{body}: {}", e.body);
    }
    assert_eq!(port_count(&app).await, before, "no floating IP port left behind");
    let e = app
        .post(
            "/v2.0/floatingips",
            &app.admin,
            json!({"floatingip": {"floating_network_id": ext, "port_id": bob_port["id"]}}),
        )
        .await;
    assert_eq!(
        e.error_type(),
        "ExternalGatewayForFloatingIPNotFound",
        "admin sees it but no router"
    );

    // The router is needed while the floating IP uses it.
    let e = action(&app, &app.admin, &rid, "remove_router_interface", json!({"subnet_id": subnet}))
        .await;
    assert_eq!(
        (e.status, e.error_type()),
        (StatusCode::CONFLICT, "RouterInterfaceInUseByFloatingIP")
    );
    let e = app
        .put(
            &format!("/v2.0/routers/{rid}"),
            &app.admin,
            json!({"router": {"external_gateway_info": null}}),
        )
        .await;
    assert_eq!(
        (e.status, e.error_type()),
        (StatusCode::CONFLICT, "RouterExternalGatewayInUseByFloatingIp")
    );

    // Update: move to another port, fixed_ip_address alone refused, disassociate.
    let path = format!("/v2.0/floatingips/{id}");
    let e = app.put(&path, &alice, json!({"floatingip": {"fixed_ip_address": "10.0.0.9"}})).await;
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    let e = app.put(&path, &alice, json!({"floatingip": {"port_id": bob_port["id"]}})).await;
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    let moved = app.put(&path, &alice, json!({"floatingip": {"port_id": two["id"]}})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["floatingip"]["fixed_ip_address"], two["fixed_ips"][0]["ip_address"]);
    let down = app.put(&path, &alice, json!({"floatingip": {"port_id": null}})).await;
    assert_eq!(down.body["floatingip"]["status"], "DOWN");
    assert_eq!(down.body["floatingip"]["router_id"], Value::Null);
    assert_eq!(down.body["floatingip"]["port_details"], Value::Null);
    let up = app
        .put(&path, &alice, json!({"floatingip": {"port_id": vm["id"], "fixed_ip_address": vm_ip}}))
        .await;
    assert_eq!(up.body["floatingip"]["status"], "ACTIVE");

    // Deleting the port (compute ports: by a service or admin) disassociates its floating IP.
    assert_eq!(
        app.delete(&format!("/v2.0/ports/{}", s(&vm["id"])), &app.admin).await.status,
        StatusCode::NO_CONTENT
    );
    let after = app.get(&path, &alice).await.body["floatingip"].clone();
    assert_eq!((after["status"].as_str(), after["port_id"].clone()), (Some("DOWN"), Value::Null));
    let e = action(&app, &app.admin, &rid, "remove_router_interface", json!({"subnet_id": subnet}))
        .await;
    assert_eq!(e.status, StatusCode::OK, "{}", e.body);
}

#[tokio::test]
async fn exhausted_external_subnet_gives_ip_address_generation_failure() {
    let app = TestApp::new().await;
    let net = app.network(&app.admin, json!({"router:external": true})).await;
    app.subnet(
        &app.admin,
        json!({"network_id": net["id"], "cidr": "172.24.5.0/29", "ip_version": 4,
        "allocation_pools": [{"start": "172.24.5.2", "end": "172.24.5.3"}]}),
    )
    .await;
    fip(&app, &app.admin, json!({"floating_network_id": net["id"]})).await;
    fip(&app, &app.admin, json!({"floating_network_id": net["id"]})).await;
    let before = port_count(&app).await;
    let e = app
        .post(
            "/v2.0/floatingips",
            &app.admin,
            json!({"floatingip": {"floating_network_id": net["id"]}}),
        )
        .await;
    assert_eq!(
        (e.status, e.error_type()),
        (StatusCode::CONFLICT, "IpAddressGenerationFailure"),
        "{}",
        e.body
    );
    let e = app
        .post(
            "/v2.0/routers",
            &app.admin,
            json!({"router": {"external_gateway_info": {"network_id": net["id"]}}}),
        )
        .await;
    assert_eq!(
        (e.status, e.error_type()),
        (StatusCode::CONFLICT, "IpAddressGenerationFailure"),
        "{}",
        e.body
    );
    assert_eq!(port_count(&app).await, before);
    assert!(ids(&app.get("/v2.0/routers", &app.admin).await.body["routers"]).is_empty());
}
