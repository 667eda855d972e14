//! Security regressions, one test each: the request is refused with upstream's status and
//! nothing changes.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestApp;

async fn shared_network_of_alice(app: &TestApp) -> (String, String, String) {
    let (alice, _) = app.user("alice", "member").await;
    let (bob, _) = app.user("bob", "member").await;
    let net = app
        .network(
            &app.admin,
            json!({"shared": true, "project_id": alice_project(app, &alice).await}),
        )
        .await;
    let id = net["id"].as_str().unwrap().to_string();
    app.subnet(&app.admin, json!({"network_id": id, "cidr": "10.0.0.0/24", "ip_version": 4})).await;
    (alice, bob, id)
}

async fn alice_project(app: &TestApp, token: &str) -> String {
    let r = app.get("/v2.0/quotas/project", token).await;
    r.body["project"]["project_id"].as_str().unwrap().to_string()
}

fn port_count(body: &Value) -> usize {
    body["ports"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_dhcp_device_owner_on_someone_elses_shared_network_is_refused() {
    let app = TestApp::new().await;
    let (alice, bob, net) = shared_network_of_alice(&app).await;
    let before = port_count(&app.get("/v2.0/ports", &app.admin).await.body);
    let r = app
        .post(
            "/v2.0/ports",
            &bob,
            json!({"port": {"network_id": net, "device_owner": "network:dhcp"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let plain = app.port(&bob, json!({"network_id": net})).await;
    let path = format!("/v2.0/ports/{}", plain["id"].as_str().unwrap());
    let r = app.put(&path, &bob, json!({"port": {"device_owner": "network:dhcp"}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&path, &bob).await.body["port"]["device_owner"], "");
    assert_eq!(port_count(&app.get("/v2.0/ports", &app.admin).await.body), before + 1);
    let owners = app
        .post(
            "/v2.0/ports",
            &alice,
            json!({"port": {"network_id": net, "device_owner": "network:dhcp"}}),
        )
        .await;
    assert_eq!(owners.status, StatusCode::CREATED, "the network's owner may: {}", owners.body);
}

#[tokio::test]
async fn an_admin_only_attribute_set_to_its_current_value_is_refused() {
    let app = TestApp::new().await;
    let (member, _) = app.user("p1", "member").await;
    let net = app.network(&member, json!({})).await;
    let path = format!("/v2.0/networks/{}", net["id"].as_str().unwrap());
    for body in [
        json!({"shared": false}),
        json!({"router:external": false}),
        json!({"provider:network_type": "geneve"}),
    ] {
        let r = app.put(&path, &member, json!({ "network": body })).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{body}");
    }
    assert_eq!(
        app.get(&path, &member).await.body["network"]["revision_number"],
        net["revision_number"]
    );
}

#[tokio::test]
async fn a_reader_cannot_create_or_change_tags() {
    let app = TestApp::new().await;
    let (member, project) = app.user("p1", "member").await;
    let reader = app.user_in(&project, "p1", "p1-reader-2", "reader").await;
    let net = app.network(&member, json!({})).await;
    let tags = format!("/v2.0/networks/{}/tags", net["id"].as_str().unwrap());
    app.put(&tags, &member, json!({"tags": ["keep"]})).await;
    assert_eq!(
        app.put(&format!("{tags}/new"), &reader, json!(null)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.put(&tags, &reader, json!({"tags": ["x"]})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.post(&tags, &reader, json!({"tags": ["x"]})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.delete(&tags, &reader).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&tags, &reader).await.body["tags"], json!(["keep"]));
}

#[tokio::test]
async fn tags_on_another_projects_network_are_refused_and_stay() {
    let app = TestApp::new().await;
    let (alice, bob, net) = shared_network_of_alice(&app).await;
    let _ = alice;
    let tags = format!("/v2.0/networks/{net}/tags");
    app.put(&tags, &app.admin, json!({"tags": ["original"]})).await;
    assert_eq!(app.put(&tags, &bob, json!({"tags": ["mine"]})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.delete(&format!("{tags}/original"), &bob).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&tags, &app.admin).await.body["tags"], json!(["original"]));
}

#[tokio::test]
async fn a_port_naming_another_projects_router_as_device_is_refused() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice", "member").await;
    let (bob, _) = app.user("bob", "member").await;
    let router = app.post("/v2.0/routers", &alice, json!({"router": {"name": "r"}})).await;
    assert_eq!(router.status, StatusCode::CREATED, "{}", router.body);
    let router_id = router.body["router"]["id"].as_str().unwrap().to_string();
    let (net, _) = app.network_with_subnet(&bob, "10.9.0.0/24").await;
    let r = app
        .post("/v2.0/ports", &bob, json!({"port": {"network_id": net, "device_owner": "network:router_interface", "device_id": router_id}}))
        .await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "DeviceIDNotOwnedByTenant"));
    let plain = app.port(&bob, json!({"network_id": net})).await;
    let path = format!("/v2.0/ports/{}", plain["id"].as_str().unwrap());
    let r = app
        .put(
            &path,
            &bob,
            json!({"port": {"device_owner": "network:router_interface", "device_id": router_id}}),
        )
        .await;
    assert_eq!(r.error_type(), "DeviceIDNotOwnedByTenant");
    let ports = app.get(&format!("/v2.0/ports?network_id={net}"), &bob).await;
    assert_eq!(port_count(&ports.body), 1);
    assert_eq!(ports.body["ports"][0]["device_id"], "");
}

#[tokio::test]
async fn thousands_of_address_pairs_are_refused() {
    let app = TestApp::new().await;
    let (net, _) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let pairs: Vec<Value> =
        (0..3000).map(|i| json!({"ip_address": format!("10.{}.{}.1", i / 250, i % 250)})).collect();
    let r = app
        .post(
            "/v2.0/ports",
            &app.admin,
            json!({"port": {"network_id": net, "allowed_address_pairs": pairs}}),
        )
        .await;
    assert!(
        matches!(r.status, StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE),
        "{}",
        r.status
    );
    assert_eq!(port_count(&app.get("/v2.0/ports", &app.admin).await.body), 0);
    let eleven: Vec<Value> =
        (0..11).map(|i| json!({"ip_address": format!("10.1.0.{i}")})).collect();
    let r = app
        .post(
            "/v2.0/ports",
            &app.admin,
            json!({"port": {"network_id": net, "allowed_address_pairs": eleven}}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::BAD_REQUEST, "AllowedAddressPairExhausted")
    );
}

#[tokio::test]
async fn extra_dhcp_option_values_with_newlines_or_commas_are_refused() {
    let app = TestApp::new().await;
    let (net, _) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    for value in ["a\nb", "a\r\nb", "a,b"] {
        let r = app
            .post("/v2.0/ports", &app.admin, json!({"port": {"network_id": net, "extra_dhcp_opts": [{"opt_name": "domain-name", "opt_value": value}]}}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{value:?}");
    }
    assert_eq!(port_count(&app.get("/v2.0/ports", &app.admin).await.body), 0);
}
