//! Quotas: limits, defaults, usage, admin-only changes and enforcement under concurrency.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn quotas_are_shown_changed_and_reset() {
    let app = TestApp::new().await;
    let (member, project) = app.user("p1", "member").await;
    let (_, other) = app.user("p2", "member").await;
    let path = format!("/v2.0/quotas/{project}");
    let r = app.get(&path, &member).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["quota"]["network"], 100);
    assert_eq!(r.body["quota"]["port"], 500);
    assert_eq!(
        app.get(&format!("/v2.0/quotas/{other}"), &member).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/v2.0/quotas/project", &member).await.body["project"]["project_id"],
        project.as_str()
    );
    let r = app.put(&path, &member, json!({"quota": {"network": 5}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    app.network(&member, json!({})).await;
    app.network(&member, json!({})).await;
    let r = app.put(&path, &app.admin, json!({"quota": {"network": 1}})).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::BAD_REQUEST, "InvalidQuotaValue"));
    let r = app.put(&path, &app.admin, json!({"quota": {"network": 1, "force": true}})).await;
    assert_eq!((r.status, r.body["quota"]["network"].clone()), (StatusCode::OK, json!(1)));
    let r = app.put(&path, &app.admin, json!({"quota": {"bogus": 1}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.put(&path, &app.admin, json!({"quota": {"port": -2}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.post("/v2.0/networks", &member, json!({"network": {}})).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "OverQuota"));
    assert_eq!(r.message(), "Quota exceeded for resources: ['network'].");
    let details = app.get(&format!("{path}/details"), &member).await;
    assert_eq!(details.body["quota"]["network"], json!({"limit": 1, "used": 2, "reserved": 0}));
    let defaults = app.get(&format!("{path}/default"), &member).await;
    assert_eq!(defaults.body["quota"]["network"], 100);
    let listed = app.get("/v2.0/quotas", &app.admin).await;
    let projects: Vec<&str> = listed.body["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["project_id"].as_str().unwrap())
        .collect();
    assert_eq!(projects, [project.as_str()]);
    assert_eq!(app.get("/v2.0/quotas", &member).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &member).await.body["quota"]["network"], 100);
    let r = app.post("/v2.0/quotas", &app.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_creates_against_a_quota_of_ten_give_ten() {
    let app = Arc::new(TestApp::new().await);
    let (member, project) = app.user("p1", "member").await;
    let r = app
        .put(&format!("/v2.0/quotas/{project}"), &app.admin, json!({"quota": {"network": 10}}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let member = Arc::new(member);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, member) = (app.clone(), member.clone());
        tasks.push(tokio::spawn(async move {
            app.post("/v2.0/networks", &member, json!({"network": {}})).await
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(r.error_type(), "OverQuota");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!((created, refused), (10, 40));
    let listed = app.get(&format!("/v2.0/networks?project_id={project}"), &app.admin).await;
    assert_eq!(listed.body["networks"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn router_and_security_group_quotas_are_enforced() {
    let app = TestApp::new().await;
    let (member, project) = app.user("p1", "member").await;
    let path = format!("/v2.0/quotas/{project}");
    app.put(&path, &app.admin, json!({"quota": {"router": 1, "security_group": 2}})).await;
    assert_eq!(
        app.post("/v2.0/routers", &member, json!({"router": {}})).await.status,
        StatusCode::CREATED
    );
    let r = app.post("/v2.0/routers", &member, json!({"router": {}})).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "OverQuota"));
    // The default group counts: one more fits, the next does not.
    let r =
        app.post("/v2.0/security-groups", &member, json!({"security_group": {"name": "a"}})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r =
        app.post("/v2.0/security-groups", &member, json!({"security_group": {"name": "b"}})).await;
    assert_eq!(
        (r.status, r.message()),
        (StatusCode::CONFLICT, "Quota exceeded for resources: ['security_group'].")
    );
    let details = app.get(&format!("{path}/details"), &member).await;
    assert_eq!(details.body["quota"]["router"]["used"], 1);
    assert_eq!(details.body["quota"]["security_group"]["used"], 2);
}
