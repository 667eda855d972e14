//! Keystone v3 over HTTP: issuing, validating and revoking tokens, failures, discovery.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::harness::{TestApp, ADMIN_PASSWORD};

fn with_subject(method: Method, token: &str, subject: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri("/v3/auth/tokens")
        .header("x-auth-token", token)
        .header("x-subject-token", subject)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn tokens_are_issued_validated_and_revoked() {
    let app = TestApp::new().await;
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let r = app.call(Method::POST, "/v3/auth/tokens", None, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let token = r.headers["x-subject-token"].to_str().unwrap().to_string();
    assert!(token.len() < 255);
    let roles: Vec<&str> = r.body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    for role in ["admin", "member", "reader"] {
        assert!(roles.contains(&role), "{roles:?}");
    }
    assert_eq!(r.body["token"]["project"]["id"], app.admin_project.as_str());
    let catalog = r.body["token"]["catalog"].as_array().unwrap();
    let network = catalog.iter().find(|s| s["type"] == "network").unwrap();
    assert_eq!(network["endpoints"].as_array().unwrap().len(), 3);
    assert_eq!(network["endpoints"][0]["url"], "http://neutrino.test:9696");
    assert!(r.body["token"]["expires_at"].as_str().unwrap().ends_with('Z'));

    let r = app.send(with_subject(Method::GET, &app.admin, &token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-subject-token"].to_str().unwrap(), token);
    let r = app.send(with_subject(Method::HEAD, &app.admin, &token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/v2.0/networks", &token).await.status, StatusCode::OK);
    let r = app.send(with_subject(Method::DELETE, &app.admin, &token)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v2.0/networks", &token).await.status, StatusCode::UNAUTHORIZED, "revoked");
    let r = app.send(with_subject(Method::GET, &app.admin, &token)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_logins_get_keystone_errors() {
    let app = TestApp::new().await;
    let login = |password: &str| {
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    };
    let r = app.call(Method::POST, "/v3/auth/tokens", None, Some(login("wrong"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["error"]["message"].is_string());
    let r = app.call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {}}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let totp = json!({"auth": {"identity": {"methods": ["totp"], "totp": {}}}});
    let r = app.call(Method::POST, "/v3/auth/tokens", None, Some(totp)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"]["message"], "Attempted to authenticate with an unsupported method.");
    let r = app.call(Method::GET, "/v3", None, None).await;
    assert_eq!(r.body["version"]["links"][0]["href"], "http://neutrino.test:9696/v3/");
}

#[tokio::test]
async fn members_cannot_inspect_other_users_tokens() {
    let app = TestApp::new().await;
    let (member, _) = app.user("p1", "member").await;
    let r = app.send(with_subject(Method::GET, &member, &app.admin)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.send(with_subject(Method::GET, &member, &member)).await;
    assert_eq!(r.status, StatusCode::OK);
    let roles: Vec<&str> = r.body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"reader") && !roles.contains(&"admin"), "{roles:?}");
}
