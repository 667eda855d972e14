//! Bad input, authentication, fallbacks and discovery documents.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn requests_without_a_valid_token_get_keystone_401() {
    let app = TestApp::new().await;
    for token in [None, Some("not-a-token")] {
        let r = app.call(Method::GET, "/v2.0/networks", token, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body["error"]["code"], 401);
        let www = r.headers["www-authenticate"].to_str().unwrap();
        assert_eq!(www, "Keystone uri=\"http://neutrino.test:9696/v3\"");
    }
}

#[tokio::test]
async fn version_documents_and_request_ids() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["versions"][0]["id"], "v2.0");
    assert_eq!(r.body["versions"][0]["links"][0]["href"], "http://neutrino.test:9696/v2.0/");
    assert!(r.headers["x-openstack-request-id"].to_str().unwrap().starts_with("req-"));
    let r = app.get("/v2.0/", &app.admin).await;
    let names: Vec<&str> = r.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["network", "subnet", "port"]);
    let r = app.call(Method::POST, "/", None, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_type(), "HTTPMethodNotAllowed");
}

#[tokio::test]
async fn extensions_list_only_working_aliases_and_show_by_alias() {
    let app = TestApp::new().await;
    let r = app.get("/v2.0/extensions", &app.admin).await;
    let list = r.body["extensions"].as_array().unwrap();
    let aliases: Vec<&str> = list.iter().map(|e| e["alias"].as_str().unwrap()).collect();
    for alias in
        ["net-mtu", "external-net", "provider", "binding", "standard-attr-tag", "revision-if-match"]
    {
        assert!(aliases.contains(&alias), "{alias} missing");
    }
    for absent in ["dvr", "tag-ext", "metering"] {
        assert!(!aliases.contains(&absent), "{absent} advertised before it works");
    }
    let r = app.get("/v2.0/extensions/net-mtu", &app.admin).await;
    assert_eq!(r.body["extension"]["name"], "Network MTU");
    assert_eq!(app.get("/v2.0/extensions/dvr", &app.admin).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_bodies_get_neutron_400s() {
    let app = TestApp::new().await;
    let raw = Request::builder()
        .method(Method::POST)
        .uri("/v2.0/networks")
        .header("x-auth-token", &app.admin)
        .body(Body::from("{not json"))
        .unwrap();
    let r = app.send(raw).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_type(), "HTTPBadRequest");
    assert_eq!(r.body["NeutronError"]["detail"], "");
    let cases = [
        (json!([1, 2]), "Body contains invalid data"),
        (json!({"port": {}}), "Unable to find 'network' in request body"),
        (json!({"network": {"name": 5}}), "Invalid input for name"),
        (json!({"network": {"admin_state_up": "perhaps"}}), "Invalid input for admin_state_up"),
        (json!({"network": {"colour": "red"}}), "Unrecognized attribute(s) 'colour'"),
        (
            json!({"network": {"id": "0e9c4b8e-3c3c-4c0b-9f3a-1f0d2c3b4a5e"}}),
            "Attribute 'id' not allowed in POST",
        ),
        (json!({"network": {"name": " padded "}}), "Invalid input for name"),
    ];
    for (body, want) in cases {
        let r = app.post("/v2.0/networks", &app.admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.message().contains(want), "{body}: {}", r.message());
    }
    let list = app.get("/v2.0/networks", &app.admin).await;
    assert_eq!(list.body["networks"], json!([]), "nothing half-written");
}

#[tokio::test]
async fn oversized_bodies_get_413_before_parsing() {
    let app = TestApp::new().await;
    let big = "x".repeat(100 * 1024);
    let r = app.post("/v2.0/networks", &app.admin, json!({"network": {"name": big}})).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_type(), "HTTPRequestEntityTooLarge");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let app = TestApp::new().await;
    let r = app.get("/v2.0/nothing-here", &app.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_type(), "HTTPNotFound");
    let r = app.call(Method::PATCH, "/v2.0/networks", Some(&app.admin), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = app.call(Method::DELETE, "/v2.0/networks", Some(&app.admin), None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = app.get("/v3/nothing", &app.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"]["code"], 404);
}

#[tokio::test]
async fn delete_with_a_body_is_refused() {
    let app = TestApp::new().await;
    let net = app.network(&app.admin, json!({})).await;
    let path = format!("/v2.0/networks/{}", net["id"].as_str().unwrap());
    let r = app.call(Method::DELETE, &path, Some(&app.admin), Some(json!({"x": 1}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::OK);
}

#[tokio::test]
async fn invalid_ids_and_addresses_are_400_not_500() {
    let app = TestApp::new().await;
    let (net, _) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let cases = [
        (
            "/v2.0/subnets",
            json!({"subnet": {"network_id": "nope", "cidr": "10.1.0.0/24", "ip_version": 4}}),
        ),
        (
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.1.0.0/33", "ip_version": 4}}),
        ),
        (
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "banana", "ip_version": 4}}),
        ),
        (
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.2.0.0/24", "ip_version": 5}}),
        ),
        ("/v2.0/ports", json!({"port": {"network_id": net, "mac_address": "zz:00:00:00:00:00"}})),
        ("/v2.0/ports", json!({"port": {"network_id": net, "mac_address": "ff:ff:ff:ff:ff:ff"}})),
        (
            "/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.999"}]}}),
        ),
        ("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": "all"}})),
    ];
    for (path, body) in cases {
        let r = app.post(path, &app.admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
    }
    let r = app.get("/v2.0/ports", &app.admin).await;
    assert_eq!(r.body["ports"], json!([]));
    let r = app.get("/v2.0/networks/not-a-uuid", &app.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_type(), "NetworkNotFound");
}

#[tokio::test]
async fn agents_are_listed_only_from_backends_and_not_writable() {
    let app = TestApp::new().await;
    let r = app.get("/v2.0/agents", &app.admin).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!({"agents": []})));
    let r = app.get("/v2.0/agents/nope", &app.admin).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::NOT_FOUND, "AgentNotFound"));
    let r = app.post("/v2.0/agents", &app.admin, json!({"agent": {}})).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = app.get("/v2.0/extensions/agent", &app.admin).await;
    assert_eq!(r.body["extension"]["name"], "agent");
}
