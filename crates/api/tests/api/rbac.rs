//! Network RBAC: sharing with one project, with everyone, external access, and conflicts.

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::{ids, TestApp};

#[tokio::test]
async fn sharing_a_network_with_one_project_gives_it_access_and_no_one_else() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice", "member").await;
    let (bob, bob_project) = app.user("bob", "member").await;
    let (carol, _) = app.user("carol", "member").await;
    let (net, _) = app.network_with_subnet(&alice, "10.0.0.0/24").await;
    let net_path = format!("/v2.0/networks/{net}");
    assert_eq!(app.get(&net_path, &bob).await.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            "/v2.0/rbac-policies",
            &alice,
            json!({"rbac_policy": {"object_type": "network", "object_id": net,
            "action": "access_as_shared", "target_tenant": bob_project}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let policy = r.body["rbac_policy"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["rbac_policy"]["target_tenant"], bob_project.as_str());
    let seen = app.get(&net_path, &bob).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.body["network"]["shared"], true, "shared as this viewer sees it");
    assert_eq!(app.get(&net_path, &alice).await.body["network"]["shared"], false);
    assert!(ids(&app.get("/v2.0/networks", &bob).await.body["networks"]).contains(&net));
    assert_eq!(app.get(&net_path, &carol).await.status, StatusCode::NOT_FOUND);
    let bob_port = app.port(&bob, json!({"network_id": net})).await;
    let r = app.post("/v2.0/ports", &carol, json!({"port": {"network_id": net}})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            "/v2.0/rbac-policies",
            &alice,
            json!({"rbac_policy": {"object_type": "network", "object_id": net,
            "action": "access_as_shared", "target_tenant": bob_project}}),
        )
        .await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "DuplicateRbacPolicy"));
    let policy_path = format!("/v2.0/rbac-policies/{policy}");
    let r = app.delete(&policy_path, &alice).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "RbacPolicyInUse"));
    let r = app
        .put(&policy_path, &alice, json!({"rbac_policy": {"target_tenant": "someone-else"}}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "narrowing while in use");
    assert_eq!(
        app.get(&policy_path, &bob).await.status,
        StatusCode::NOT_FOUND,
        "only the owner sees the entry"
    );
    app.delete(&format!("/v2.0/ports/{}", bob_port["id"].as_str().unwrap()), &bob).await;
    assert_eq!(app.delete(&policy_path, &alice).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&net_path, &bob).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wildcard_entries_are_the_shared_and_external_flags() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice", "member").await;
    let (bob, _) = app.user("bob", "member").await;
    let net = app.network(&alice, json!({})).await;
    let id = net["id"].as_str().unwrap();
    let star = json!({"rbac_policy": {"object_type": "network", "object_id": id, "action": "access_as_shared", "target_tenant": "*"}});
    let r = app.post("/v2.0/rbac-policies", &alice, star.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "only admins share with everyone");
    let r = app.post("/v2.0/rbac-policies", &app.admin, star).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let shown = app.get(&format!("/v2.0/networks/{id}"), &alice).await;
    assert_eq!(shown.body["network"]["shared"], true);
    assert_eq!(app.get(&format!("/v2.0/networks/{id}"), &bob).await.status, StatusCode::OK);
    let shared = app.network(&app.admin, json!({"shared": true, "router:external": true})).await;
    let listed = app
        .get(
            &format!("/v2.0/rbac-policies?object_id={}", shared["id"].as_str().unwrap()),
            &app.admin,
        )
        .await;
    let mut actions: Vec<&str> = listed.body["rbac_policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["action"].as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(actions, ["access_as_external", "access_as_shared"]);
    let path = format!("/v2.0/networks/{}", shared["id"].as_str().unwrap());
    app.put(&path, &app.admin, json!({"network": {"shared": false}})).await;
    let listed = app
        .get(
            &format!("/v2.0/rbac-policies?object_id={}", shared["id"].as_str().unwrap()),
            &app.admin,
        )
        .await;
    assert_eq!(listed.body["rbac_policies"].as_array().unwrap().len(), 1);
    let r = app
        .post(
            "/v2.0/rbac-policies",
            &app.admin,
            json!({"rbac_policy": {"object_type": "qos_policy", "object_id": id,
            "action": "access_as_shared", "target_tenant": "*"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .post(
            "/v2.0/rbac-policies",
            &app.admin,
            json!({"rbac_policy": {"object_type": "network", "object_id": id,
            "action": "access_as_owner", "target_tenant": "*"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
