//! The `/tags` sub-resource and tag filters.

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::{ids, TestApp};

#[tokio::test]
async fn tags_are_added_checked_replaced_and_removed() {
    let app = TestApp::new().await;
    let net = app.network(&app.admin, json!({})).await;
    let id = net["id"].as_str().unwrap();
    let base = format!("/v2.0/networks/{id}/tags");
    assert_eq!(
        app.put(&format!("{base}/red"), &app.admin, json!(null)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(app.get(&format!("{base}/red"), &app.admin).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("{base}/blue"), &app.admin).await.status, StatusCode::NOT_FOUND);
    let r = app.put(&base, &app.admin, json!({"tags": ["a", "b"]})).await;
    assert_eq!((r.status, r.body["tags"].clone()), (StatusCode::OK, json!(["a", "b"])));
    let r = app.post(&base, &app.admin, json!({"tags": ["c"]})).await;
    assert_eq!(r.body["tags"], json!(["a", "b", "c"]));
    assert_eq!(app.get(&base, &app.admin).await.body["tags"], json!(["a", "b", "c"]));
    assert_eq!(app.delete(&format!("{base}/b"), &app.admin).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&format!("{base}/b"), &app.admin).await.status, StatusCode::NOT_FOUND);
    let shown = app.get(&format!("/v2.0/networks/{id}"), &app.admin).await;
    assert_eq!(shown.body["network"]["tags"], json!(["a", "c"]));
    assert!(
        shown.body["network"]["revision_number"].as_i64().unwrap() > 0,
        "tag changes bump the revision"
    );
    let too_many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    assert_eq!(
        app.put(&base, &app.admin, json!({ "tags": too_many })).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.delete(&base, &app.admin).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&base, &app.admin).await.body["tags"], json!([]));
}

#[tokio::test]
async fn tag_filters_select_networks() {
    let app = TestApp::new().await;
    let a = app.network(&app.admin, json!({"name": "a"})).await;
    let b = app.network(&app.admin, json!({"name": "b"})).await;
    let a_id = a["id"].as_str().unwrap();
    let b_id = b["id"].as_str().unwrap();
    app.put(&format!("/v2.0/networks/{a_id}/tags"), &app.admin, json!({"tags": ["red", "blue"]}))
        .await;
    app.put(&format!("/v2.0/networks/{b_id}/tags"), &app.admin, json!({"tags": ["red"]})).await;
    let q = |query: &str| {
        let app = &app;
        let path = format!("/v2.0/networks?{query}");
        async move { ids(&app.get(&path, &app.admin).await.body["networks"]) }
    };
    assert_eq!(q("tags=red,blue").await, [a_id]);
    assert_eq!(q("tags-any=blue").await, [a_id]);
    assert_eq!(q("not-tags=red,blue").await, [b_id]);
    assert_eq!(q("not-tags-any=blue").await, [b_id]);
    assert_eq!(q("tags=red&sort_key=name&sort_dir=asc").await, [a_id, b_id]);
}

#[tokio::test]
async fn other_projects_cannot_see_or_change_tags() {
    let app = TestApp::new().await;
    let (bob, _) = app.user("bob", "member").await;
    let (alice, alice_project) = app.user("alice", "member").await;
    let net = app.network(&alice, json!({})).await;
    let base = format!("/v2.0/networks/{}/tags", net["id"].as_str().unwrap());
    assert_eq!(app.put(&base, &bob, json!({"tags": ["x"]})).await.status, StatusCode::NOT_FOUND);
    let reader = app.user_in(&alice_project, "alice", "alice-reader", "reader").await;
    assert_eq!(app.put(&base, &reader, json!({"tags": ["x"]})).await.status, StatusCode::FORBIDDEN);
    let shared = app.network(&app.admin, json!({"shared": true})).await;
    let shared_tags = format!("/v2.0/networks/{}/tags", shared["id"].as_str().unwrap());
    assert_eq!(
        app.put(&shared_tags, &bob, json!({"tags": ["x"]})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get(&shared_tags, &app.admin).await.body["tags"], json!([]));
    assert_eq!(app.get(&base, &alice).await.body["tags"], json!([]));
}
