//! The Keystone admin API over HTTP (`identity.md` §7): provisioning as test clients do it,
//! admin-only access, exact statuses, conflicts, grants, revocation, parallel clients.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Reply, TestApp};

const URL: &str = "http://neutrino.test:9696/v3";

fn is_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 32 && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

fn id(reply: &Reply, kind: &str) -> String {
    reply.body[kind]["id"].as_str().unwrap_or_else(|| panic!("no {kind} id: {}", reply.body)).into()
}

/// Asserts Keystone's error body for `status`, JSON content type included.
fn assert_keystone_error(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let ct = reply.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(reply.body["error"]["code"], status.as_u16(), "{}", reply.body);
    assert_eq!(reply.body["error"]["title"], status.canonical_reason().unwrap());
    assert!(reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    app.call(Method::PATCH, path, Some(token), Some(body)).await
}

async fn head(app: &TestApp, path: &str, token: &str) -> Reply {
    app.call(Method::HEAD, path, Some(token), None).await
}

async fn put_empty(app: &TestApp, path: &str, token: &str) -> Reply {
    app.call(Method::PUT, path, Some(token), None).await
}

/// Logs in by ids (user and project), as clients do for users they just created.
async fn login_by_id(app: &TestApp, user: &str, password: &str, project: &str) -> Reply {
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"id": project, "domain": {"id": "default"}}}}});
    app.call(Method::POST, "/v3/auth/tokens", None, Some(body)).await
}

async fn token_by_id(app: &TestApp, user: &str, password: &str, project: &str) -> String {
    let r = login_by_id(app, user, password, project).await;
    assert_eq!(r.status, StatusCode::CREATED, "login: {}", r.body);
    r.headers["x-subject-token"].to_str().unwrap().to_string()
}

/// The id of the role named `name`, from `GET /v3/roles`.
async fn role_id(app: &TestApp, name: &str) -> String {
    let r = app.get("/v3/roles", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let role = r.body["roles"].as_array().unwrap().iter().find(|r| r["name"] == name);
    role.unwrap_or_else(|| panic!("no role {name}: {}", r.body))["id"].as_str().unwrap().into()
}

/// Creates a project, a user with password `pw` and grants `role`: (project id, user id).
async fn provision(app: &TestApp, name: &str, role: &str) -> (String, String) {
    let r = app
        .post(
            "/v3/projects",
            &app.admin,
            json!({"project": {"name": name, "domain_id": "default"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let project = id(&r, "project");
    let r = app
        .post(
            "/v3/users",
            &app.admin,
            json!({"user": {"name": name, "password": "pw", "domain_id": "default"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let user = id(&r, "user");
    let role = role_id(app, role).await;
    let r =
        put_empty(app, &format!("/v3/projects/{project}/users/{user}/roles/{role}"), &app.admin)
            .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    (project, user)
}

#[tokio::test]
async fn provisioning_flow_of_a_test_client() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();

    let r = app.get("/v3/domains?name=Default", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let domains = r.body["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0]["id"], "default");
    assert_eq!(domains[0]["name"], "Default");
    assert_eq!(domains[0]["enabled"], true);
    assert_eq!(domains[0]["links"]["self"], format!("{URL}/domains/default"));
    let r = app.get("/v3/domains/default", &admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["domain"]["name"], "Default");

    let r = app
        .post(
            "/v3/projects",
            &admin,
            json!({"project": {"name": "test-project-1", "description": "test-project-1-desc",
                "domain_id": "default"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let p1 = id(&r, "project");
    let project = &r.body["project"];
    assert!(is_id(&project["id"]), "{project}");
    assert_eq!(project["name"], "test-project-1");
    assert_eq!(project["description"], "test-project-1-desc");
    assert_eq!(project["domain_id"], "default");
    assert_eq!(project["enabled"], true);
    assert_eq!(project["parent_id"], "default");
    assert_eq!(project["is_domain"], false);
    assert_eq!(project["tags"], json!([]));
    assert_eq!(project["links"]["self"], format!("{URL}/projects/{p1}"));
    let shown = app.get(&format!("/v3/projects/{p1}"), &admin).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(&shown.body["project"], project);

    let r = app
        .post(
            "/v3/users",
            &admin,
            json!({"user": {"name": "test-project-1-member", "password": "s3cret-1",
                "domain_id": "default"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let u1 = id(&r, "user");
    let user = &r.body["user"];
    assert!(is_id(&user["id"]));
    assert_eq!(user["name"], "test-project-1-member");
    assert_eq!(user["domain_id"], "default");
    assert_eq!(user["enabled"], true);
    assert!(user.get("password_expires_at").is_some_and(Value::is_null), "{user}");
    assert_eq!(user["links"]["self"], format!("{URL}/users/{u1}"));
    assert!(!r.body.to_string().contains("s3cret-1"), "password echoed: {}", r.body);
    assert!(user.get("password").is_none());

    let r = app.get("/v3/roles", &admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["links"]["self"].is_string());
    let member = role_id(&app, "member").await;
    let grant = format!("/v3/projects/{p1}/users/{u1}/roles/{member}");
    let r = put_empty(&app, &grant, &admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(r.body.is_null(), "204 has an empty body");
    let r = put_empty(&app, &grant, &admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "granting again");

    let r = login_by_id(&app, &u1, "s3cret-1", &p1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["project"]["id"], p1.as_str());
    assert_eq!(r.body["token"]["user"]["name"], "test-project-1-member");
    let token = r.headers["x-subject-token"].to_str().unwrap().to_string();
    let r = app.get("/v2.0/networks", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let net = app.network(&token, json!({"name": "n1"})).await;
    assert_eq!(net["project_id"], p1.as_str());

    let query = format!("/v3/role_assignments?user.id={u1}&scope.project.id={p1}");
    let r = app.get(&query, &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["role_assignments"],
        json!([{"role": {"id": member}, "user": {"id": u1},
            "scope": {"project": {"id": p1}},
            "links": {"assignment": format!("{URL}/projects/{p1}/users/{u1}/roles/{member}")}}])
    );
    assert_eq!(r.body["links"]["self"], format!("{URL}{}", &query[3..]));

    let r = app.delete(&format!("/v3/users/{u1}"), &admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(r.body.is_null());
    let r = app.get("/v2.0/networks", &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the deleted user's token");
    assert_eq!(login_by_id(&app, &u1, "s3cret-1", &p1).await.status, StatusCode::UNAUTHORIZED);
    assert_keystone_error(
        &app.delete(&format!("/v3/users/{u1}"), &admin).await,
        StatusCode::NOT_FOUND,
    );
    assert_keystone_error(
        &app.get(&format!("/v3/users/{u1}"), &admin).await,
        StatusCode::NOT_FOUND,
    );

    // A fresh admin client logs in by id, then cleans up.
    let admin_user = app.get("/v3/users?name=admin", &admin).await;
    let admin_id = admin_user.body["users"][0]["id"].as_str().unwrap().to_string();
    let admin2 =
        token_by_id(&app, &admin_id, crate::harness::ADMIN_PASSWORD, &app.admin_project).await;
    let r = app.delete(&format!("/v3/projects/{p1}"), &admin2).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_keystone_error(
        &app.get(&format!("/v3/projects/{p1}"), &admin2).await,
        StatusCode::NOT_FOUND,
    );
    assert_keystone_error(
        &app.delete(&format!("/v3/projects/{p1}"), &admin2).await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn admin_calls_need_an_admin_token() {
    let app = TestApp::new().await;
    let (project, user) = provision(&app, "reader-project", "member").await;
    let member = token_by_id(&app, &user, "pw", &project).await;
    let role = role_id(&app, "reader").await;
    let grant = format!("/v3/projects/{project}/users/{user}/roles/{role}");
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v3/domains?name=Default".into(), None),
        (Method::GET, "/v3/domains/default".into(), None),
        (Method::POST, "/v3/projects".into(), Some(json!({"project": {"name": "x"}}))),
        (Method::GET, "/v3/projects".into(), None),
        (Method::GET, format!("/v3/projects/{project}"), None),
        (Method::PATCH, format!("/v3/projects/{project}"), Some(json!({"project": {}}))),
        (Method::DELETE, format!("/v3/projects/{project}"), None),
        (Method::POST, "/v3/users".into(), Some(json!({"user": {"name": "x"}}))),
        (Method::GET, "/v3/users".into(), None),
        (Method::GET, format!("/v3/users/{user}"), None),
        (Method::PATCH, format!("/v3/users/{user}"), Some(json!({"user": {"enabled": false}}))),
        (Method::DELETE, format!("/v3/users/{user}"), None),
        (Method::GET, "/v3/roles".into(), None),
        (Method::GET, format!("/v3/roles/{role}"), None),
        (Method::POST, "/v3/roles".into(), Some(json!({"role": {"name": "x"}}))),
        (Method::PUT, grant.clone(), None),
        (Method::HEAD, grant.clone(), None),
        (Method::DELETE, grant.clone(), None),
        (Method::GET, format!("/v3/projects/{project}/users/{user}/roles"), None),
        (Method::GET, "/v3/role_assignments".into(), None),
    ];
    for (method, path, body) in calls {
        let r = app.call(method.clone(), &path, Some(&member), body.clone()).await;
        if method == Method::HEAD {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        } else {
            assert_keystone_error(&r, StatusCode::FORBIDDEN);
        }
        let r = app.call(method.clone(), &path, None, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
        let www = r.headers["www-authenticate"].to_str().unwrap();
        assert_eq!(www, format!("Keystone uri=\"{URL}\""));
        if method != Method::HEAD {
            assert_keystone_error(&r, StatusCode::UNAUTHORIZED);
        }
        let r = app.call(method.clone(), &path, Some("not-a-token"), body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} with a bad token");
    }
    // Nothing changed, and the member's token still works.
    assert_eq!(
        app.get(&format!("/v3/projects/{project}"), &app.admin).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/v2.0/networks", &member).await.status, StatusCode::OK);
    let r = app.get("/v3/projects?name=x", &app.admin).await;
    assert!(r.body["projects"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn duplicate_names_conflict() {
    let app = TestApp::new().await;
    let admin = &app.admin;
    let project = json!({"project": {"name": "dup", "domain_id": "default"}});
    assert_eq!(app.post("/v3/projects", admin, project.clone()).await.status, StatusCode::CREATED);
    assert_keystone_error(&app.post("/v3/projects", admin, project).await, StatusCode::CONFLICT);
    // The admin project from bootstrap, created without domain_id (the caller's domain).
    let r = app.post("/v3/projects", admin, json!({"project": {"name": "admin"}})).await;
    assert_keystone_error(&r, StatusCode::CONFLICT);

    let user = json!({"user": {"name": "dup", "password": "pw", "domain_id": "default"}});
    assert_eq!(app.post("/v3/users", admin, user.clone()).await.status, StatusCode::CREATED);
    assert_keystone_error(&app.post("/v3/users", admin, user).await, StatusCode::CONFLICT);

    let r = app.post("/v3/roles", admin, json!({"role": {"name": "member"}})).await;
    assert_keystone_error(&r, StatusCode::CONFLICT);
    let r = app.post("/v3/roles", admin, json!({"role": {"name": "Member"}})).await;
    assert_keystone_error(&r, StatusCode::CONFLICT);
    let r = app.post("/v3/roles", admin, json!({"role": {"name": "auditor"}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let role = id(&r, "role");
    assert_eq!(r.body["role"]["name"], "auditor");
    assert_eq!(r.body["role"]["links"]["self"], format!("{URL}/roles/{role}"));
    let r = app.get(&format!("/v3/roles/{role}"), admin).await;
    assert_eq!(r.body["role"]["name"], "auditor");
    let r = app.get("/v3/roles?name=Auditor", admin).await;
    assert_eq!(r.body["roles"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_keystone_error(
        &app.post("/v3/roles", admin, json!({"role": {"name": "auditor"}})).await,
        StatusCode::CONFLICT,
    );

    // Renames into a taken name conflict too.
    let r = app.post("/v3/projects", admin, json!({"project": {"name": "other"}})).await;
    let other = id(&r, "project");
    let r =
        patch(&app, &format!("/v3/projects/{other}"), admin, json!({"project": {"name": "dup"}}))
            .await;
    assert_keystone_error(&r, StatusCode::CONFLICT);
    let r = app.post("/v3/users", admin, json!({"user": {"name": "other"}})).await;
    let other_user = id(&r, "user");
    let r =
        patch(&app, &format!("/v3/users/{other_user}"), admin, json!({"user": {"name": "dup"}}))
            .await;
    assert_keystone_error(&r, StatusCode::CONFLICT);
}

#[tokio::test]
async fn grants_are_idempotent_checked_and_revocable() {
    let app = TestApp::new().await;
    let admin = &app.admin;
    let (project, user) = provision(&app, "g", "member").await;
    let member = role_id(&app, "member").await;
    let reader = role_id(&app, "reader").await;
    let grant = |role: &str| format!("/v3/projects/{project}/users/{user}/roles/{role}");

    assert_eq!(put_empty(&app, &grant(&member), admin).await.status, StatusCode::NO_CONTENT);
    // A JSON body on PUT (as some clients send) is ignored.
    assert_eq!(app.put(&grant(&member), admin, json!({})).await.status, StatusCode::NO_CONTENT);
    let r = head(&app, &grant(&member), admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_null());
    let r = head(&app, &grant(&reader), admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "implied roles are not grants");
    assert!(r.body.is_null(), "HEAD has no body");
    assert_eq!(app.get(&grant(&member), admin).await.status, StatusCode::NO_CONTENT);

    let r = app.get(&format!("/v3/projects/{project}/users/{user}/roles"), admin).await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<&str> =
        r.body["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["member"]);

    let unknown = "0123456789abcdef0123456789abcdef";
    for path in [
        format!("/v3/projects/{unknown}/users/{user}/roles/{member}"),
        format!("/v3/projects/{project}/users/{unknown}/roles/{member}"),
        format!("/v3/projects/{project}/users/{user}/roles/{unknown}"),
    ] {
        assert_keystone_error(&put_empty(&app, &path, admin).await, StatusCode::NOT_FOUND);
        assert_eq!(head(&app, &path, admin).await.status, StatusCode::NOT_FOUND);
        assert_keystone_error(&app.delete(&path, admin).await, StatusCode::NOT_FOUND);
    }

    let token = token_by_id(&app, &user, "pw", &project).await;
    assert_eq!(app.get("/v2.0/networks", &token).await.status, StatusCode::OK);
    let r = app.delete(&grant(&member), admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(app.get("/v2.0/networks", &token).await.status, StatusCode::UNAUTHORIZED);
    assert_keystone_error(&app.delete(&grant(&member), admin).await, StatusCode::NOT_FOUND);
    assert_eq!(head(&app, &grant(&member), admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(login_by_id(&app, &user, "pw", &project).await.status, StatusCode::UNAUTHORIZED);

    // Granted again: a new login works.
    assert_eq!(put_empty(&app, &grant(&reader), admin).await.status, StatusCode::NO_CONTENT);
    let token = token_by_id(&app, &user, "pw", &project).await;
    assert_eq!(app.get("/v2.0/networks", &token).await.status, StatusCode::OK);
    let r = app.get(&format!("/v3/role_assignments?role.id={reader}&effective"), admin).await;
    let list = r.body["role_assignments"].as_array().unwrap();
    assert!(list.iter().any(|a| a["user"]["id"] == user.as_str()), "{}", r.body);
}

#[tokio::test]
async fn deleting_a_project_kills_its_tokens() {
    let app = TestApp::new().await;
    let (p1, u1) = provision(&app, "doomed", "member").await;
    let (p2, u2) = provision(&app, "survivor", "member").await;
    let t1 = token_by_id(&app, &u1, "pw", &p1).await;
    let t2 = token_by_id(&app, &u2, "pw", &p2).await;
    let r = app.delete(&format!("/v3/projects/{p1}"), &app.admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(app.get("/v2.0/networks", &t1).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/v2.0/networks", &t2).await.status, StatusCode::OK);
    assert_eq!(login_by_id(&app, &u1, "pw", &p1).await.status, StatusCode::UNAUTHORIZED);
    let r = app.get(&format!("/v3/role_assignments?user.id={u1}"), &app.admin).await;
    assert!(r.body["role_assignments"].as_array().unwrap().is_empty(), "{}", r.body);

    // Disabling a project also ends its tokens; enabling it again allows new logins.
    let path = format!("/v3/projects/{p2}");
    let r = patch(&app, &path, &app.admin, json!({"project": {"enabled": false}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["project"]["enabled"], false);
    assert_eq!(app.get("/v2.0/networks", &t2).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login_by_id(&app, &u2, "pw", &p2).await.status, StatusCode::UNAUTHORIZED);
    let r = patch(
        &app,
        &path,
        &app.admin,
        json!({"project": {"enabled": true, "description": "back", "name": "survivor-2"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["project"]["name"], "survivor-2");
    assert_eq!(r.body["project"]["description"], "back");
    let t2 = token_by_id(&app, &u2, "pw", &p2).await;
    assert_eq!(app.get("/v2.0/networks", &t2).await.status, StatusCode::OK);
}

#[tokio::test]
async fn password_change_and_disable_kill_old_tokens() {
    let app = TestApp::new().await;
    let (project, user) = provision(&app, "pwchange", "member").await;
    let old = token_by_id(&app, &user, "pw", &project).await;
    let path = format!("/v3/users/{user}");
    let r = patch(&app, &path, &app.admin, json!({"user": {"password": "new-pw"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.to_string().contains("new-pw"));
    assert_eq!(r.body["user"]["id"], user.as_str());
    assert_eq!(app.get("/v2.0/networks", &old).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login_by_id(&app, &user, "pw", &project).await.status, StatusCode::UNAUTHORIZED);
    let new = token_by_id(&app, &user, "new-pw", &project).await;
    assert_eq!(app.get("/v2.0/networks", &new).await.status, StatusCode::OK);
    assert!(!app.login("pwchange", "new-pw", "pwchange").await.is_empty());

    // Other attributes change without touching tokens.
    let r = patch(
        &app,
        &path,
        &app.admin,
        json!({"user": {"email": "pw@example.org", "description": "d",
            "default_project_id": project}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user"]["email"], "pw@example.org");
    assert_eq!(r.body["user"]["default_project_id"], project.as_str());
    assert_eq!(app.get("/v2.0/networks", &new).await.status, StatusCode::OK);
    assert_eq!(app.get(&path, &app.admin).await.body, r.body);

    let r = patch(&app, &path, &app.admin, json!({"user": {"enabled": false}})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/v2.0/networks", &new).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login_by_id(&app, &user, "new-pw", &project).await.status, StatusCode::UNAUTHORIZED);
    assert_keystone_error(
        &patch(&app, "/v3/users/0123456789abcdef0123456789abcdef", &app.admin, json!({"user": {}}))
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn creates_take_optional_attributes_and_lists_filter() {
    let app = TestApp::new().await;
    let admin = &app.admin;
    let (project, _) = provision(&app, "attrs", "member").await;
    let r = app
        .post(
            "/v3/users",
            admin,
            json!({"user": {"name": "full", "password": "pw", "default_project_id": project,
                "enabled": true, "description": "a user", "email": "full@example.org"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let user = &r.body["user"];
    assert_eq!(user["domain_id"], "default", "the caller's project's domain");
    assert_eq!(user["default_project_id"], project.as_str());
    assert_eq!(user["description"], "a user");
    assert_eq!(user["email"], "full@example.org");
    let full = id(&r, "user");
    // Granted a role on its default project, the user can log in unscoped and land there.
    let member = role_id(&app, "member").await;
    let grant = format!("/v3/projects/{project}/users/{full}/roles/{member}");
    assert_eq!(put_empty(&app, &grant, admin).await.status, StatusCode::NO_CONTENT);
    let body = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"id": full, "password": "pw"}}}}});
    let r = app.call(Method::POST, "/v3/auth/tokens", None, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["project"]["id"], project.as_str());

    let r = app.post("/v3/users", admin, json!({"user": {"name": "off", "enabled": false}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["user"]["enabled"], false);

    let r = app.get("/v3/users?name=full", admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(crate::harness::ids(&r.body["users"]), [full.as_str()]);
    let r = app.get("/v3/users?name=full&domain_id=nowhere", admin).await;
    assert!(r.body["users"].as_array().unwrap().is_empty());
    let r = app.get("/v3/users?domain_id=default", admin).await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 4, "admin, attrs, full, off");
    let r = app.get("/v3/projects?name=attrs&domain_id=default", admin).await;
    assert_eq!(crate::harness::ids(&r.body["projects"]), [project.as_str()]);
    let r = app.get("/v3/projects", admin).await;
    assert_eq!(r.body["projects"].as_array().unwrap().len(), 2, "admin and attrs");
    assert_eq!(r.body["links"]["self"], format!("{URL}/projects"));
    let r = app.get("/v3/projects?name=test%20project", admin).await;
    assert!(r.body["projects"].as_array().unwrap().is_empty());
    let r = app.get("/v3/domains?name=Nope", admin).await;
    assert!(r.body["domains"].as_array().unwrap().is_empty());
    assert_keystone_error(&app.get("/v3/domains/nope", admin).await, StatusCode::NOT_FOUND);
    assert_keystone_error(&app.get("/v3/roles/nope", admin).await, StatusCode::NOT_FOUND);
    let r = app.post("/v3/projects", admin, json!({"project": {"name": "x", "domain_id": "nope"}}));
    assert_keystone_error(&r.await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_bodies_are_400_never_500() {
    let app = TestApp::new().await;
    let admin = &app.admin;
    let raw = |method: Method, path: &str, content_type: &str, body: &'static str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("x-auth-token", admin.as_str())
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    };
    for (path, body) in [
        ("/v3/projects", "{\"project\": {"),
        ("/v3/projects", "[1]"),
        ("/v3/projects", ""),
        ("/v3/users", "not json"),
        ("/v3/roles", "\"role\""),
    ] {
        let r = app.send(raw(Method::POST, path, "application/json", body)).await;
        assert_keystone_error(&r, StatusCode::BAD_REQUEST);
    }
    let r = app.send(raw(Method::POST, "/v3/projects", "text/plain", "{\"project\": {}}")).await;
    assert_keystone_error(&r, StatusCode::BAD_REQUEST);

    for (path, body) in [
        ("/v3/projects", json!({})),
        ("/v3/projects", json!({"project": "p"})),
        ("/v3/projects", json!({"project": {}})),
        ("/v3/projects", json!({"project": {"name": 5}})),
        ("/v3/projects", json!({"project": {"name": ""}})),
        ("/v3/projects", json!({"project": {"name": "x".repeat(65)}})),
        ("/v3/projects", json!({"project": {"name": "p", "enabled": "yes"}})),
        ("/v3/projects", json!({"project": {"name": "p", "description": 1}})),
        ("/v3/projects", json!({"project": {"name": "p", "domain_id": 1}})),
        ("/v3/projects", json!({"project": {"name": "p", "tags": "t"}})),
        ("/v3/projects", json!({"project": {"name": "p", "is_domain": true}})),
        ("/v3/users", json!({"user": {"name": "u", "password": 12345}})),
        ("/v3/users", json!({"user": {"name": "u", "enabled": "false"}})),
        ("/v3/users", json!({"user": {"password": "pw"}})),
        ("/v3/users", json!({"users": {"name": "u"}})),
        ("/v3/roles", json!({"role": {}})),
        ("/v3/roles", json!({"role": {"name": ["x"]}})),
    ] {
        let r = app.post(path, admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body}: {}", r.body);
        assert_keystone_error(&r, StatusCode::BAD_REQUEST);
    }
    let (project, user) = provision(&app, "typed", "member").await;
    for (path, body) in [
        (format!("/v3/projects/{project}"), json!({"project": {"enabled": 0}})),
        (format!("/v3/projects/{project}"), json!({"project": {"domain_id": "other"}})),
        (format!("/v3/projects/{project}"), json!({"project": {"id": "other"}})),
        (format!("/v3/users/{user}"), json!({"user": {"password": false}})),
        (format!("/v3/users/{user}"), json!({"user": {"name": ""}})),
        (format!("/v3/users/{user}"), json!({"nothing": {}})),
    ] {
        let r = patch(&app, &path, admin, body.clone()).await;
        assert_keystone_error(&r, StatusCode::BAD_REQUEST);
    }
    let r =
        app.send(raw(Method::PATCH, &format!("/v3/users/{user}"), "application/json", "{")).await;
    assert_keystone_error(&r, StatusCode::BAD_REQUEST);
    // Nothing was created by the refused requests.
    let r = app.get("/v3/projects", admin).await;
    assert_eq!(r.body["projects"].as_array().unwrap().len(), 2, "{}", r.body);
    // Unknown methods on admin paths get Keystone's 405.
    let r = app.call(Method::PUT, "/v3/projects", Some(admin), Some(json!({}))).await;
    assert_keystone_error(&r, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_provisioning_clients_all_succeed() {
    let app = Arc::new(TestApp::new().await);
    let clients: Vec<_> = (0..6)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                // Each client logs in as admin itself, as separate test workers do.
                let admin = app.login("admin", crate::harness::ADMIN_PASSWORD, "admin").await;
                let name = format!("parallel-{i}");
                let r = app
                    .post(
                        "/v3/projects",
                        &admin,
                        json!({"project": {"name": name,
                    "description": format!("{name}-desc"), "domain_id": "default"}}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
                let project = id(&r, "project");
                let r = app
                    .post(
                        "/v3/users",
                        &admin,
                        json!({"user": {"name": format!("{name}-member"),
                    "password": "pw", "domain_id": "default"}}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
                let user = id(&r, "user");
                let r = app.get("/v3/roles", &admin).await;
                let member = r.body["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["name"] == "member")
                    .unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let grant = format!("/v3/projects/{project}/users/{user}/roles/{member}");
                for _ in 0..2 {
                    let r = app.call(Method::PUT, &grant, Some(&admin), None).await;
                    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
                }
                let token = token_by_id(&app, &user, "pw", &project).await;
                let net = app.network(&token, json!({"name": name})).await;
                assert_eq!(net["project_id"], project.as_str());
                let r = app.delete(&format!("/v3/users/{user}"), &admin).await;
                assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
                assert_eq!(
                    app.get("/v2.0/networks", &token).await.status,
                    StatusCode::UNAUTHORIZED
                );
                let r = app.delete(&format!("/v3/projects/{project}"), &admin).await;
                assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }

    // Racing creates of one name: one 201, the rest 409.
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post("/v3/projects", &app.admin, json!({"project": {"name": "race"}}))
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT, StatusCode::CONFLICT, StatusCode::CONFLICT]
    );
    let r = app.get("/v3/projects", &app.admin).await;
    assert_eq!(r.body["projects"].as_array().unwrap().len(), 2, "admin and race: {}", r.body);
}
