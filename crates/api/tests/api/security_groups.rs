//! Security groups and rules over the API.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestApp;

async fn group(app: &TestApp, token: &str, name: &str) -> Value {
    let r =
        app.post("/v2.0/security-groups", token, json!({"security_group": {"name": name}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["security_group"].clone()
}

#[tokio::test]
async fn the_default_group_appears_on_first_list_with_its_four_rules() {
    let app = TestApp::new().await;
    let (member, project) = app.user("p1", "member").await;
    let r = app.get("/v2.0/security-groups", &member).await;
    let groups = r.body["security_groups"].as_array().unwrap().clone();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "default");
    assert_eq!(groups[0]["project_id"], project.as_str());
    let rules = groups[0]["security_group_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    let same_group = rules
        .iter()
        .filter(|r| r["remote_group_id"] == groups[0]["id"] && r["direction"] == "ingress")
        .count();
    assert_eq!(same_group, 2);
    assert!(rules.iter().all(|r| r["belongs_to_default_sg"] == true));
    let again = app.get("/v2.0/security-groups", &member).await;
    assert_eq!(again.body["security_groups"].as_array().unwrap().len(), 1, "created once");
    let web = group(&app, &member, "web").await;
    let rules = web["security_group_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert!(rules.iter().all(|r| r["direction"] == "egress"));
}

#[tokio::test]
async fn default_group_rules_of_naming_deleting_and_use() {
    let app = TestApp::new().await;
    let (member, _) = app.user("p1", "member").await;
    let r = app
        .post("/v2.0/security-groups", &member, json!({"security_group": {"name": "Default"}}))
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::CONFLICT, "SecurityGroupDefaultAlreadyExists")
    );
    let list = app.get("/v2.0/security-groups", &member).await;
    let default_id = list.body["security_groups"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v2.0/security-groups/{default_id}");
    let r = app.put(&path, &member, json!({"security_group": {"name": "other"}})).await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::CONFLICT, "SecurityGroupCannotUpdateDefault")
    );
    let r = app.delete(&path, &member).await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::CONFLICT, "SecurityGroupCannotRemoveDefault")
    );
    let web = group(&app, &member, "web").await;
    let net = app.network(&member, json!({})).await;
    let port =
        app.port(&member, json!({"network_id": net["id"], "security_groups": [web["id"]]})).await;
    assert_eq!(port["security_groups"], json!([web["id"]]));
    let web_path = format!("/v2.0/security-groups/{}", web["id"].as_str().unwrap());
    let r = app.delete(&web_path, &member).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "SecurityGroupInUse"));
    let r = app.put(&web_path, &member, json!({"security_group": {"stateful": false}})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "statefulness changes only while unused");
    app.delete(&format!("/v2.0/ports/{}", port["id"].as_str().unwrap()), &member).await;
    assert_eq!(app.delete(&web_path, &member).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&web_path, &member).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rules_are_validated_with_upstream_errors() {
    let app = TestApp::new().await;
    let web = group(&app, &app.admin, "web").await;
    let id = web["id"].as_str().unwrap();
    let cases = [
        (
            json!({"protocol": "tcp", "port_range_min": 80, "port_range_max": 22}),
            StatusCode::BAD_REQUEST,
            "SecurityGroupInvalidPortRange",
        ),
        (
            json!({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}),
            StatusCode::BAD_REQUEST,
            "SecurityGroupInvalidProtocolForPortRange",
        ),
        (
            json!({"port_range_min": 1, "port_range_max": 2}),
            StatusCode::BAD_REQUEST,
            "SecurityGroupProtocolRequiredWithPorts",
        ),
        (json!({"protocol": "bogus"}), StatusCode::BAD_REQUEST, "HTTPBadRequest"),
        (
            json!({"protocol": "tcp", "remote_ip_prefix": "10.0.0.0/33"}),
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
        ),
        (
            json!({"remote_ip_prefix": "2001:db8::/64"}),
            StatusCode::BAD_REQUEST,
            "SecurityGroupRuleParameterConflict",
        ),
        (
            json!({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": id}),
            StatusCode::BAD_REQUEST,
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        ),
        (
            json!({"protocol": "icmp", "port_range_max": 0}),
            StatusCode::BAD_REQUEST,
            "SecurityGroupMissingIcmpType",
        ),
        (
            json!({"remote_group_id": "0e9c4b8e-3c3c-4c0b-9f3a-1f0d2c3b4a5e"}),
            StatusCode::NOT_FOUND,
            "SecurityGroupNotFound",
        ),
        (json!({"direction": "sideways"}), StatusCode::BAD_REQUEST, "HTTPBadRequest"),
    ];
    for (extra, status, ty) in cases {
        let mut body = json!({"security_group_id": id, "direction": "ingress"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app
            .post("/v2.0/security-group-rules", &app.admin, json!({ "security_group_rule": body }))
            .await;
        assert_eq!((r.status, r.error_type()), (status, ty), "{extra}: {}", r.body);
    }
    let ssh = json!({"security_group_rule": {"security_group_id": id, "direction": "ingress", "protocol": "TCP",
        "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.1.2.3/16"}});
    let r = app.post("/v2.0/security-group-rules", &app.admin, ssh.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["security_group_rule"]["protocol"], "tcp");
    assert_eq!(r.body["security_group_rule"]["remote_ip_prefix"], "10.1.2.3/16");
    assert_eq!(r.body["security_group_rule"]["normalized_cidr"], "10.1.0.0/16");
    let rule_id = r.body["security_group_rule"]["id"].as_str().unwrap().to_string();
    let r = app.post("/v2.0/security-group-rules", &app.admin, ssh).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "SecurityGroupRuleExists"));
    assert!(r.message().contains(&rule_id));
    let shown = app.get(&format!("/v2.0/security-groups/{id}"), &app.admin).await;
    assert_eq!(
        shown.body["security_group"]["security_group_rules"].as_array().unwrap().len(),
        3,
        "nothing half-written"
    );
    let r = app
        .put(
            &format!("/v2.0/security-group-rules/{rule_id}"),
            &app.admin,
            json!({"security_group_rule": {}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        app.delete(&format!("/v2.0/security-group-rules/{rule_id}"), &app.admin).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn other_projects_groups_are_invisible() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice", "member").await;
    let (bob, _) = app.user("bob", "member").await;
    let web = group(&app, &alice, "web").await;
    let path = format!("/v2.0/security-groups/{}", web["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &bob).await.error_type(), "SecurityGroupNotFound");
    assert_eq!(
        app.put(&path, &bob, json!({"security_group": {"name": "x"}})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, &bob).await.status, StatusCode::NOT_FOUND);
    let rule =
        json!({"security_group_rule": {"security_group_id": web["id"], "direction": "ingress"}});
    assert_eq!(
        app.post("/v2.0/security-group-rules", &bob, rule).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.put(&format!("{path}/tags/x"), &bob, json!(null)).await.status,
        StatusCode::NOT_FOUND
    );
    let bob_net = app.network(&bob, json!({})).await;
    let r = app
        .post(
            "/v2.0/ports",
            &bob,
            json!({"port": {"network_id": bob_net["id"], "security_groups": [web["id"]]}}),
        )
        .await;
    assert_eq!((r.status, r.error_type()), (StatusCode::NOT_FOUND, "SecurityGroupNotFound"));
    let bob_list = app.get("/v2.0/security-groups", &bob).await;
    assert!(bob_list.body["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["id"] != web["id"]));
    let r = app.post("/v2.0/ports", &bob, json!({"port": {"network_id": bob_net["id"], "port_security_enabled": false, "security_groups": []}})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let own = group(&app, &bob, "own").await;
    let r = app.post("/v2.0/ports", &bob, json!({"port": {"network_id": bob_net["id"], "port_security_enabled": false, "security_groups": [own["id"]]}})).await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::BAD_REQUEST, "PortSecurityAndIPRequiredForSecurityGroups")
    );
}
