//! Routers: CRUD, external gateways, interfaces, extra routes and policy; every refused
//! request leaves routers and ports as they were.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::harness::{ids, Reply, TestApp};

/// An external network with subnet `cidr` (admin): `(network id, subnet id)`.
pub async fn external(app: &TestApp, cidr: &str) -> (String, String) {
    let net = app.network(&app.admin, json!({"name": "public", "router:external": true})).await;
    let id = net["id"].as_str().unwrap().to_string();
    // Automatic addresses come from .100–.200, so tests can name lower ones without racing
    // the random choice.
    let base = cidr.trim_end_matches("0/24");
    let pools = json!([{"start": format!("{base}100"), "end": format!("{base}200")}]);
    let sub = app
        .subnet(
            &app.admin,
            json!({"network_id": id, "cidr": cidr, "ip_version": 4, "allocation_pools": pools}),
        )
        .await;
    (id, sub["id"].as_str().unwrap().to_string())
}

/// Creates a router as `token` and returns it.
pub async fn router(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/v2.0/routers", token, json!({ "router": body })).await;
    assert_eq!(r.status, StatusCode::CREATED, "router create: {}", r.body);
    r.body["router"].clone()
}

/// `PUT /routers/{id}/{action}`.
pub async fn action(app: &TestApp, token: &str, id: &str, action: &str, body: Value) -> Reply {
    app.put(&format!("/v2.0/routers/{id}/{action}"), token, body).await
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

/// Ports of a router (admin view).
async fn ports_of(app: &TestApp, router: &str) -> Vec<Value> {
    let r = app.get(&format!("/v2.0/ports?device_id={router}"), &app.admin).await;
    r.body["ports"].as_array().unwrap().clone()
}

async fn port_count(app: &TestApp) -> usize {
    app.get("/v2.0/ports", &app.admin).await.body["ports"].as_array().unwrap().len()
}

async fn revision(app: &TestApp, router: &str) -> i64 {
    app.get(&format!("/v2.0/routers/{router}"), &app.admin).await.body["router"]["revision_number"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn router_crud_fills_defaults_and_hides_admin_attributes() {
    let app = TestApp::new().await;
    let (alice, alice_project) = app.user("alice", "member").await;
    let r = router(&app, &alice, json!({"name": "r1"})).await;
    let id = s(&r["id"]);
    assert_eq!(r["status"], "ACTIVE");
    assert_eq!(r["admin_state_up"], true);
    assert_eq!(r["external_gateway_info"], Value::Null);
    assert_eq!(r["routes"], json!([]));
    assert_eq!(r["availability_zones"], json!([]));
    assert_eq!(r["project_id"], alice_project.as_str());
    assert_eq!(r["tenant_id"], alice_project.as_str());
    assert!(r.get("ha").is_none(), "ha is admin-only: {r}");
    assert!(r.get("gw_port_id").is_none());
    let admin_view = app.get(&format!("/v2.0/routers/{id}"), &app.admin).await;
    assert_eq!(admin_view.body["router"]["ha"], false);
    let e = app.post("/v2.0/routers", &alice, json!({"router": {"ha": true}})).await;
    assert_eq!(e.status, StatusCode::FORBIDDEN);
    let e = app.post("/v2.0/routers", &alice, json!({"router": {"routes": []}})).await;
    assert_eq!(e.status, StatusCode::BAD_REQUEST, "routes are update-only");
    let e = app.post("/v2.0/routers", &alice, json!({"router": {"distributed": true}})).await;
    assert_eq!(e.status, StatusCode::BAD_REQUEST);

    let u = app
        .put(
            &format!("/v2.0/routers/{id}"),
            &alice,
            json!({"router": {"name": "r2", "admin_state_up": false}}),
        )
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.body);
    assert_eq!(u.body["router"]["name"], "r2");
    assert!(u.body["router"]["revision_number"].as_i64() > r["revision_number"].as_i64());
    let list = app.get("/v2.0/routers?name=r2", &alice).await;
    assert_eq!(ids(&list.body["routers"]), std::slice::from_ref(&id));

    let (bob, _) = app.user("bob", "member").await;
    let path = format!("/v2.0/routers/{id}");
    assert_eq!(app.get(&path, &bob).await.error_type(), "RouterNotFound");
    assert_eq!(
        app.put(&path, &bob, json!({"router": {"name": "x"}})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, &bob).await.status, StatusCode::NOT_FOUND);
    assert!(ids(&app.get("/v2.0/routers", &bob).await.body["routers"]).is_empty());
    let tags = format!("{path}/tags");
    assert_eq!(app.put(&tags, &bob, json!({"tags": ["x"]})).await.status, StatusCode::NOT_FOUND);
    let reader = app.user_in(&alice_project, "alice", "alice-reader", "reader").await;
    assert_eq!(app.get(&path, &reader).await.status, StatusCode::OK);
    assert_eq!(
        app.put(&path, &reader, json!({"router": {"name": "x"}})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.put(&tags, &reader, json!({"tags": ["x"]})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.put(&tags, &alice, json!({"tags": ["x"]})).await.status, StatusCode::OK);
    assert_eq!(app.get(&path, &alice).await.body["router"]["tags"], json!(["x"]));
    assert_eq!(app.get(&path, &app.admin).await.body["router"]["name"], "r2", "nothing changed");

    assert_eq!(app.delete(&path, &alice).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &alice).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn gateway_takes_an_address_of_the_external_network() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice", "member").await;
    let (ext, ext_subnet) = external(&app, "172.24.4.0/24").await;
    let r = router(&app, &alice, json!({"external_gateway_info": {"network_id": ext}})).await;
    let id = s(&r["id"]);
    let gw = &r["external_gateway_info"];
    assert_eq!(gw["network_id"], ext.as_str());
    assert_eq!(gw["enable_snat"], true);
    assert_eq!(gw["external_fixed_ips"][0]["subnet_id"], ext_subnet.as_str());
    let ip = s(&gw["external_fixed_ips"][0]["ip_address"]);
    assert!(ip.starts_with("172.24.4."));
    let ports = ports_of(&app, &id).await;
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["device_owner"], "network:router_gateway");
    assert_eq!(ports[0]["project_id"], "");
    assert_eq!(ports[0]["fixed_ips"][0]["ip_address"], ip.as_str());
    let mine = app.get(&format!("/v2.0/ports?device_id={id}"), &alice).await;
    assert!(ids(&mine.body["ports"]).is_empty(), "gateway ports are admin-only");

    // Refusals: admin-only parts, non-external or missing networks, taken and gateway IPs.
    let before = port_count(&app).await;
    let cases = [
        (
            &alice,
            json!({"network_id": ext, "enable_snat": false}),
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
        ),
        (
            &alice,
            json!({"network_id": ext, "external_fixed_ips": [{"subnet_id": ext_subnet}]}),
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
        ),
        (
            &app.admin,
            json!({"network_id": "0e9c4b8e-3c3c-4c0b-9f3a-1f0d2c3b4a5e"}),
            StatusCode::NOT_FOUND,
            "NetworkNotFound",
        ),
        (
            &app.admin,
            json!({"network_id": ext, "external_fixed_ips": [{"ip_address": ip}]}),
            StatusCode::CONFLICT,
            "IpAddressAlreadyAllocated",
        ),
        (
            &app.admin,
            json!({"network_id": ext, "external_fixed_ips": [{"ip_address": "172.24.4.1"}]}),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
        (
            &app.admin,
            json!({"network_id": ext, "bogus": 1}),
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
        ),
    ];
    for (token, gw, status, ty) in cases {
        let e = app
            .post("/v2.0/routers", token, json!({"router": {"external_gateway_info": gw}}))
            .await;
        assert_eq!((e.status, e.error_type()), (status, ty), "{gw}: {}", e.body);
    }
    let internal = app.network(&alice, json!({})).await;
    let e = app
        .post(
            "/v2.0/routers",
            &alice,
            json!({"router": {"external_gateway_info": {"network_id": internal["id"]}}}),
        )
        .await;
    assert_eq!(e.status, StatusCode::BAD_REQUEST, "{}", e.body);
    assert!(e.message().contains("not an external network"), "{}", e.body);
    assert_eq!(port_count(&app).await, before, "nothing half-written");
    assert_eq!(ids(&app.get("/v2.0/routers", &app.admin).await.body["routers"]).len(), 1);

    // Admin picks the address and turns SNAT off; clearing removes the port.
    let r2 = router(
        &app,
        &app.admin,
        json!({"external_gateway_info": {"network_id": ext, "enable_snat": false, "external_fixed_ips": [{"ip_address": "172.24.4.50"}]}}),
    )
    .await;
    assert_eq!(r2["external_gateway_info"]["enable_snat"], false);
    assert_eq!(r2["external_gateway_info"]["external_fixed_ips"][0]["ip_address"], "172.24.4.50");
    let id2 = s(&r2["id"]);
    let u = app
        .put(&format!("/v2.0/routers/{id2}"), &app.admin, json!({"router": {"external_gateway_info": {"network_id": ext, "external_fixed_ips": [{"ip_address": "172.24.4.51"}]}}}))
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.body);
    assert_eq!(
        u.body["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        "172.24.4.51"
    );
    assert_eq!(ports_of(&app, &id2).await[0]["fixed_ips"][0]["ip_address"], "172.24.4.51");
    let u = app
        .put(
            &format!("/v2.0/routers/{id2}"),
            &app.admin,
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.body);
    assert_eq!(u.body["router"]["external_gateway_info"], Value::Null);
    assert!(ports_of(&app, &id2).await.is_empty());
    // Deleting a router removes its gateway port.
    assert_eq!(
        app.delete(&format!("/v2.0/routers/{id}"), &alice).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(ports_of(&app, &id).await.is_empty());
}

#[tokio::test]
async fn interfaces_by_subnet_and_port_follow_upstream_rules() {
    let app = TestApp::new().await;
    let (alice, alice_project) = app.user("alice", "member").await;
    let r = router(&app, &alice, json!({})).await;
    let id = s(&r["id"]);
    let (net, subnet) = app.network_with_subnet(&alice, "10.0.0.0/24").await;
    let added =
        action(&app, &alice, &id, "add_router_interface", json!({"subnet_id": subnet})).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body["id"], id.as_str());
    assert_eq!(added.body["subnet_id"], subnet.as_str());
    assert_eq!(added.body["subnet_ids"], json!([subnet]));
    assert_eq!(added.body["network_id"], net.as_str());
    assert_eq!(added.body["project_id"], alice_project.as_str());
    let port_id = s(&added.body["port_id"]);
    let port = app.get(&format!("/v2.0/ports/{port_id}"), &alice).await.body["port"].clone();
    assert_eq!(port["device_owner"], "network:router_interface");
    assert_eq!(port["device_id"], id.as_str());
    assert_eq!(port["project_id"], alice_project.as_str());
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.0.0.1", "the subnet's gateway");
    assert!(
        revision(&app, &id).await > r["revision_number"].as_i64().unwrap(),
        "interfaces bump the router"
    );

    let (other_net, _) = app.network_with_subnet(&alice, "10.0.0.0/25").await;
    let overlapping = app.get(&format!("/v2.0/subnets?network_id={other_net}"), &alice).await.body
        ["subnets"][0]["id"]
        .clone();
    let no_gw_net = app.network(&alice, json!({})).await;
    let no_gw = app
        .subnet(&alice, json!({"network_id": no_gw_net["id"], "cidr": "10.9.0.0/24", "ip_version": 4, "gateway_ip": null}))
        .await;
    let (taken_net, taken_subnet) = app.network_with_subnet(&alice, "10.1.0.0/24").await;
    app.port(
        &app.admin,
        json!({"network_id": taken_net, "fixed_ips": [{"ip_address": "10.1.0.1"}]}),
    )
    .await;
    let (used_net, _) = app.network_with_subnet(&alice, "10.2.0.0/24").await;
    let used = app.port(&alice, json!({"network_id": used_net, "device_id": "vm-1"})).await;
    let (bob, _) = app.user("bob", "member").await;
    let (_, bob_subnet) = app.network_with_subnet(&bob, "10.3.0.0/24").await;
    let before = port_count(&app).await;
    let rev = revision(&app, &id).await;
    let cases = [
        (json!({}), StatusCode::BAD_REQUEST, "BadRequest"),
        (json!({"subnet_id": subnet, "port_id": port_id}), StatusCode::BAD_REQUEST, "BadRequest"),
        (json!({"subnet_id": subnet}), StatusCode::BAD_REQUEST, "BadRequest"),
        (json!({"subnet_id": overlapping}), StatusCode::BAD_REQUEST, "BadRequest"),
        (json!({"subnet_id": no_gw["id"]}), StatusCode::BAD_REQUEST, "BadRequest"),
        (json!({"subnet_id": taken_subnet}), StatusCode::CONFLICT, "IpAddressAlreadyAllocated"),
        (json!({"port_id": used["id"]}), StatusCode::CONFLICT, "PortInUse"),
        (json!({"subnet_id": bob_subnet}), StatusCode::NOT_FOUND, "SubnetNotFound"),
        (json!({"subnet_id": "nope"}), StatusCode::BAD_REQUEST, "HTTPBadRequest"),
    ];
    for (body, status, ty) in cases {
        let e = action(&app, &alice, &id, "add_router_interface", body.clone()).await;
        assert_eq!((e.status, e.error_type()), (status, ty), "{body}: {}", e.body);
    }
    let e = action(&app, &alice, &id, "add_router_interface", json!({"subnet_id": subnet})).await;
    assert!(e.message().contains("already has a port on subnet"), "{}", e.body);
    let e =
        action(&app, &alice, &id, "add_router_interface", json!({"subnet_id": overlapping})).await;
    assert!(e.message().contains("overlaps with cidr"), "{}", e.body);
    let e = action(&app, &bob, &id, "add_router_interface", json!({"subnet_id": bob_subnet})).await;
    assert_eq!(e.error_type(), "RouterNotFound");
    assert_eq!(port_count(&app).await, before, "nothing half-written");
    assert_eq!(revision(&app, &id).await, rev);

    // By port: the port becomes the interface.
    let (net2, subnet2) = app.network_with_subnet(&alice, "10.4.0.0/24").await;
    let p = app.port(&alice, json!({"network_id": net2})).await;
    let by_port =
        action(&app, &alice, &id, "add_router_interface", json!({"port_id": p["id"]})).await;
    assert_eq!(by_port.status, StatusCode::OK, "{}", by_port.body);
    assert_eq!(by_port.body["subnet_id"], subnet2.as_str());
    let p2 = app.get(&format!("/v2.0/ports/{}", s(&p["id"])), &alice).await.body["port"].clone();
    assert_eq!(
        (p2["device_owner"].as_str(), p2["device_id"].as_str()),
        (Some("network:router_interface"), Some(id.as_str()))
    );

    // Interface ports cannot be deleted through the port API, nor the router while they exist.
    let e = app.delete(&format!("/v2.0/ports/{port_id}"), &alice).await;
    assert_eq!((e.status, e.error_type()), (StatusCode::CONFLICT, "ServicePortInUse"));
    let e = app.delete(&format!("/v2.0/routers/{id}"), &alice).await;
    assert_eq!((e.status, e.error_type()), (StatusCode::CONFLICT, "RouterInUse"));
    let e = app.delete(&format!("/v2.0/networks/{net}"), &alice).await;
    assert_eq!(e.status, StatusCode::CONFLICT);

    // Removal errors, then removal by subnet and by port.
    let cases = [
        (json!({}), StatusCode::BAD_REQUEST, "BadRequest"),
        (
            json!({"subnet_id": taken_subnet}),
            StatusCode::NOT_FOUND,
            "RouterInterfaceNotFoundForSubnet",
        ),
        (json!({"port_id": used["id"]}), StatusCode::NOT_FOUND, "RouterInterfaceNotFound"),
        (
            json!({"port_id": port_id, "subnet_id": subnet2}),
            StatusCode::BAD_REQUEST,
            "SubnetMismatchForPort",
        ),
    ];
    for (body, status, ty) in cases {
        let e = action(&app, &alice, &id, "remove_router_interface", body.clone()).await;
        assert_eq!((e.status, e.error_type()), (status, ty), "{body}: {}", e.body);
    }
    let removed =
        action(&app, &alice, &id, "remove_router_interface", json!({"subnet_id": subnet})).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["port_id"], port_id.as_str());
    assert_eq!(
        app.get(&format!("/v2.0/ports/{port_id}"), &alice).await.status,
        StatusCode::NOT_FOUND
    );
    let removed =
        action(&app, &alice, &id, "remove_router_interface", json!({"port_id": p["id"]})).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(ports_of(&app, &id).await.is_empty());
    assert_eq!(
        app.delete(&format!("/v2.0/routers/{id}"), &alice).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/v2.0/networks/{net}"), &alice).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn gateway_subnets_count_for_interface_overlap() {
    let app = TestApp::new().await;
    let (ext, _) = external(&app, "172.24.4.0/24").await;
    let r = router(&app, &app.admin, json!({"external_gateway_info": {"network_id": ext}})).await;
    let (_, sub) = app.network_with_subnet(&app.admin, "172.24.4.0/25").await;
    let e = action(
        &app,
        &app.admin,
        r["id"].as_str().unwrap(),
        "add_router_interface",
        json!({"subnet_id": sub}),
    )
    .await;
    assert_eq!((e.status, e.error_type()), (StatusCode::BAD_REQUEST, "BadRequest"), "{}", e.body);
}

#[tokio::test]
async fn extra_routes_are_validated_replaced_added_and_removed() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice", "member").await;
    let r = router(&app, &alice, json!({})).await;
    let id = s(&r["id"]);
    let (_, subnet) = app.network_with_subnet(&alice, "10.0.0.0/24").await;
    action(&app, &alice, &id, "add_router_interface", json!({"subnet_id": subnet})).await;
    let path = format!("/v2.0/routers/{id}");
    let route = |dest: &str, hop: &str| json!({"destination": dest, "nexthop": hop});
    let rev = revision(&app, &id).await;
    let cases = [
        (json!([route("10.10.0.0/24", "192.168.0.1")]), StatusCode::BAD_REQUEST, "InvalidRoutes"),
        (json!([route("10.10.0.0/24", "10.0.0.1")]), StatusCode::BAD_REQUEST, "InvalidRoutes"),
        (json!([route("bogus", "10.0.0.5")]), StatusCode::BAD_REQUEST, "HTTPBadRequest"),
        (
            json!([route("10.10.0.0/24", "10.0.0.5"), route("10.10.0.0/24", "10.0.0.5")]),
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
        ),
    ];
    for (routes, status, ty) in cases {
        let e = app.put(&path, &alice, json!({"router": {"routes": routes}})).await;
        assert_eq!((e.status, e.error_type()), (status, ty), "{routes}: {}", e.body);
    }
    let many: Vec<Value> = (0..31).map(|i| route(&format!("10.20.{i}.0/24"), "10.0.0.5")).collect();
    let e = app.put(&path, &alice, json!({"router": {"routes": many}})).await;
    assert_eq!((e.status, e.error_type()), (StatusCode::CONFLICT, "OverQuota"), "{}", e.body);
    assert_eq!(revision(&app, &id).await, rev, "nothing changed");

    let u = app
        .put(&path, &alice, json!({"router": {"routes": [route("10.10.0.0/24", "10.0.0.5")]}}))
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.body);
    assert_eq!(u.body["router"]["routes"], json!([route("10.10.0.0/24", "10.0.0.5")]));
    let body = json!({"router": {"routes": [route("10.11.0.0/24", "10.0.0.6"), route("10.10.0.0/24", "10.0.0.5")]}});
    let a = action(&app, &alice, &id, "add_extraroutes", body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["router"]["routes"].as_array().unwrap().len(), 2);
    let e = action(
        &app,
        &alice,
        &id,
        "add_extraroutes",
        json!({"router": {"routes": [route("10.12.0.0/24", "10.5.0.1")]}}),
    )
    .await;
    assert_eq!(e.error_type(), "InvalidRoutes");
    let e =
        action(&app, &alice, &id, "remove_router_interface", json!({"subnet_id": subnet})).await;
    assert_eq!((e.status, e.error_type()), (StatusCode::CONFLICT, "RouterInterfaceInUseByRoute"));
    let d = action(
        &app,
        &alice,
        &id,
        "remove_extraroutes",
        json!({"router": {"routes": [route("10.10.0.0/24", "10.0.0.5")]}}),
    )
    .await;
    assert_eq!(d.body["router"]["routes"], json!([route("10.11.0.0/24", "10.0.0.6")]));
    let u = app.put(&path, &alice, json!({"router": {"routes": []}})).await;
    assert_eq!(u.body["router"]["routes"], json!([]));
    let e =
        action(&app, &alice, &id, "remove_router_interface", json!({"subnet_id": subnet})).await;
    assert_eq!(e.status, StatusCode::OK);
}

#[tokio::test]
async fn members_may_not_set_network_device_owners_on_networks_they_do_not_own() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice", "member").await;
    let shared = app.network(&app.admin, json!({"shared": true})).await;
    app.subnet(
        &app.admin,
        json!({"network_id": shared["id"], "cidr": "10.0.0.0/24", "ip_version": 4}),
    )
    .await;
    let before = port_count(&app).await;
    let e = app
        .post("/v2.0/ports", &alice, json!({"port": {"network_id": shared["id"], "device_owner": "network:router_interface"}}))
        .await;
    assert_eq!(e.status, StatusCode::FORBIDDEN, "{}", e.body);
    let p = app.port(&alice, json!({"network_id": shared["id"]})).await;
    let e = app
        .put(
            &format!("/v2.0/ports/{}", s(&p["id"])),
            &alice,
            json!({"port": {"device_owner": "network:dhcp"}}),
        )
        .await;
    assert_eq!(e.status, StatusCode::FORBIDDEN, "{}", e.body);
    assert_eq!(port_count(&app).await, before + 1);
    let own = app.network(&alice, json!({})).await;
    let ok = app
        .post(
            "/v2.0/ports",
            &alice,
            json!({"port": {"network_id": own["id"], "device_owner": "network:router_interface"}}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "the network's owner may: {}", ok.body);
}

#[tokio::test]
async fn l3_extensions_are_advertised() {
    let app = TestApp::new().await;
    for alias in [
        "router",
        "extraroute",
        "extraroute-atomic",
        "ext-gw-mode",
        "fip-port-details",
        "floatingip-pools",
    ] {
        let r = app.get(&format!("/v2.0/extensions/{alias}"), &app.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{alias}");
    }
}
