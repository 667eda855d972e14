//! The admin API against a real SQLite database, two servers sharing it where revocation is
//! concerned.

use std::path::Path;
use std::sync::Arc;

use nt_store::Db;
use serde_json::{json, Value};
use tempfile::TempDir;

use super::QueryParams;
use crate::{Identity, IdentityConfig, IdentityError, Principal};

struct Fixture {
    dir: TempDir,
    identity: Arc<Identity>,
    admin: Principal,
}

fn config(keys: &Path) -> IdentityConfig {
    IdentityConfig { key_repository: keys.to_path_buf(), ..IdentityConfig::default() }
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.unwrap();
    let identity = Identity::open(db, config(&dir.path().join("fernet-keys"))).await.unwrap();
    identity.bootstrap(Some("secret")).await.unwrap();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let token = identity.issue_token(&body, false).await.unwrap().token;
    let admin = identity.authorize_admin(Some(&token), "identity:test").unwrap();
    Fixture { dir, identity: Arc::new(identity), admin }
}

async fn second_server(f: &Fixture) -> Identity {
    let db = Db::connect(&format!("sqlite://{}/db.sqlite", f.dir.path().display())).await.unwrap();
    Identity::open(db, config(&f.dir.path().join("fernet-keys"))).await.unwrap()
}

async fn login(identity: &Identity, user_id: &str, password: &str, project_id: &str) -> String {
    let body = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"id": user_id, "password": password}}},
        "scope": {"project": {"id": project_id}}}});
    identity.issue_token(&body, false).await.unwrap().token
}

fn status<T: std::fmt::Debug>(r: Result<T, IdentityError>) -> u16 {
    r.unwrap_err().status()
}

fn id_of(body: &Value, kind: &str) -> String {
    body[kind]["id"].as_str().unwrap().to_string()
}

/// A project, a user with password `pw` and a grant of `role`: (project id, user id).
async fn provision(f: &Fixture, name: &str, role: &str) -> (String, String) {
    let api = f.identity.admin_api();
    let p = api.project_create(&f.admin, &json!({"project": {"name": name}})).await.unwrap();
    let u = api
        .user_create(&f.admin, &json!({"user": {"name": name, "password": "pw"}}))
        .await
        .unwrap();
    let role = f.identity.role_by_name(role).await.unwrap();
    let (p, u) = (id_of(&p, "project"), id_of(&u, "user"));
    api.grant_create(&p, &u, &role.id).await.unwrap();
    (p, u)
}

#[test]
fn query_strings_are_decoded() {
    let q = QueryParams::parse(Some("name=a%20b+c&effective&x=%zz&user.id=u%2F1&enabled=false"));
    assert_eq!(q.get("name"), Some("a b c"));
    assert_eq!(q.get("x"), Some("%zz"));
    assert_eq!(q.get("user.id"), Some("u/1"));
    assert!(q.flag("effective"));
    assert!(!q.flag("enabled"));
    assert!(!q.flag("missing"));
    assert_eq!(q.enabled(), Some(false));
    assert_eq!(
        q.self_url("u".into()),
        "u?name=a%20b+c&effective&x=%zz&user.id=u%2F1&enabled=false"
    );
    let q = QueryParams::parse(None);
    assert_eq!(q.get("name"), None);
    assert_eq!(q.self_url("u".into()), "u");
    assert_eq!(QueryParams::parse(Some("name=%")).get("name"), Some("%"));
}

#[tokio::test]
async fn non_admin_tokens_are_refused() {
    let f = fixture().await;
    let (p, u) = provision(&f, "p", "member").await;
    let token = login(&f.identity, &u, "pw", &p).await;
    assert_eq!(status(f.identity.authorize_admin(Some(&token), "identity:list_projects")), 403);
    let err = f.identity.authorize_admin(Some(&token), "identity:list_projects").unwrap_err();
    assert!(err.public_message().contains("identity:list_projects"), "{err}");
    assert_eq!(status(f.identity.authorize_admin(None, "x")), 401);
    assert_eq!(status(f.identity.authorize_admin(Some("garbage"), "x")), 401);
}

#[tokio::test]
async fn password_change_disable_and_delete_revoke_user_tokens() {
    let f = fixture().await;
    let api = f.identity.admin_api();
    let (p, u) = provision(&f, "alice", "member").await;
    let other = second_server(&f).await;
    let old = login(&f.identity, &u, "pw", &p).await;
    assert!(other.validate(&old).is_ok());

    let body = api.user_update(&u, &json!({"user": {"password": "pw2"}})).await.unwrap();
    assert!(body["user"].get("password").is_none());
    assert_eq!(status(f.identity.validate(&old)), 401, "revoked at once here");
    assert!(other.validate(&old).is_ok(), "not yet refreshed");
    other.refresh().await.unwrap();
    assert_eq!(status(other.validate(&old)), 401, "revoked after refresh");
    let fresh = login(&f.identity, &u, "pw2", &p).await;
    assert!(f.identity.validate(&fresh).is_ok());

    // Renaming or describing does not revoke.
    let body = api
        .user_update(&u, &json!({"user": {"name": "alice2", "email": "a@example.org"}}))
        .await
        .unwrap();
    assert_eq!(body["user"]["name"], "alice2");
    assert_eq!(body["user"]["email"], "a@example.org");
    assert!(f.identity.validate(&fresh).is_ok());

    let body = api.user_update(&u, &json!({"user": {"enabled": false}})).await.unwrap();
    assert_eq!(body["user"]["enabled"], false);
    assert_eq!(status(f.identity.validate(&fresh)), 401);
    api.user_update(&u, &json!({"user": {"enabled": true}})).await.unwrap();
    let again = login(&f.identity, &u, "pw2", &p).await;
    api.user_delete(&u).await.unwrap();
    assert_eq!(status(f.identity.validate(&again)), 401);
    assert_eq!(status(api.user_delete(&u).await), 404);
    assert_eq!(status(api.user_show(&u).await), 404);
    let sql = format!("SELECT COUNT(*) FROM identity_assignments WHERE actor_id = '{u}'");
    let left: i64 = sqlx::query_scalar(&sql).fetch_one(f.identity.db.reader()).await.unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn removing_a_grant_revokes_that_project_only_and_deleting_a_project_all() {
    let f = fixture().await;
    let api = f.identity.admin_api();
    let (p1, u) = provision(&f, "bob", "member").await;
    let p2 = id_of(
        &api.project_create(&f.admin, &json!({"project": {"name": "p2"}})).await.unwrap(),
        "project",
    );
    let member = f.identity.role_by_name("member").await.unwrap();
    api.grant_create(&p2, &u, &member.id).await.unwrap();
    let t1 = login(&f.identity, &u, "pw", &p1).await;
    let t2 = login(&f.identity, &u, "pw", &p2).await;

    api.grant_check(&p1, &u, &member.id).await.unwrap();
    api.grant_delete(&p1, &u, &member.id).await.unwrap();
    assert_eq!(status(api.grant_check(&p1, &u, &member.id).await), 404);
    assert_eq!(status(api.grant_delete(&p1, &u, &member.id).await), 404);
    assert_eq!(status(f.identity.validate(&t1)), 401);
    assert!(f.identity.validate(&t2).is_ok());
    let other = second_server(&f).await;
    assert_eq!(status(other.validate(&t1)), 401, "loaded at open");

    api.project_delete(&p2).await.unwrap();
    assert_eq!(status(f.identity.validate(&t2)), 401);
    assert_eq!(status(api.project_delete(&p2).await), 404);
    assert_eq!(status(api.grant_check(&p2, &u, &member.id).await), 404);
}

#[tokio::test]
async fn role_assignments_filter_expand_and_name() {
    let f = fixture().await;
    let api = f.identity.admin_api();
    let (p, u) = provision(&f, "carol", "admin").await;
    let q = |s: &str| QueryParams::parse(Some(s));

    let body = api.role_assignments(&q(&format!("user.id={u}"))).await.unwrap();
    let list = body["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    let admin = f.identity.role_by_name("admin").await.unwrap();
    assert_eq!(list[0]["role"]["id"], admin.id.as_str());
    assert_eq!(list[0]["scope"]["project"]["id"], p.as_str());
    assert!(body["links"]["self"].as_str().unwrap().ends_with(&format!("?user.id={u}")));

    let body = api.role_assignments(&q(&format!("user.id={u}&effective"))).await.unwrap();
    let list = body["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 3, "admin, member, reader: {body}");
    assert!(list[1]["prior_role"]["id"].is_string());

    let reader = f.identity.role_by_name("reader").await.unwrap();
    let query = format!("scope.project.id={p}&role.id={}&effective&include_names", reader.id);
    let body = api.role_assignments(&q(&query)).await.unwrap();
    let list = body["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!(list[0]["role"]["name"], "reader");
    assert_eq!(list[0]["user"]["name"], "carol");
    assert_eq!(list[0]["user"]["domain"]["name"], "Default");
    assert_eq!(list[0]["scope"]["project"]["name"], "carol");

    // Bootstrap's system assignment shows as a system scope; groups match nothing.
    let all = api.role_assignments(&q("")).await.unwrap();
    assert!(all["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["scope"] == json!({"system": {"all": true}})));
    let body = api.role_assignments(&q("group.id=g")).await.unwrap();
    assert!(body["role_assignments"].as_array().unwrap().is_empty());
    let both = format!("scope.project.id={p}&scope.domain.id=default");
    assert_eq!(status(api.role_assignments(&q(&both)).await), 400);

    let roles = api.grant_list(&p, &u).await.unwrap();
    let names: Vec<&str> =
        roles["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin"]);
    assert_eq!(status(api.grant_list(&p, "nobody").await), 404);
}

#[tokio::test]
async fn roles_are_unique_case_insensitively_and_projects_update() {
    let f = fixture().await;
    let api = f.identity.admin_api();
    let body = api.role_create(&json!({"role": {"name": "observer"}})).await.unwrap();
    assert_eq!(body["role"]["name"], "observer");
    assert!(body["role"]["domain_id"].is_null());
    assert_eq!(status(api.role_create(&json!({"role": {"name": "Observer"}})).await), 409);
    assert_eq!(status(api.role_create(&json!({"role": {"name": "MEMBER"}})).await), 409);
    assert_eq!(
        status(api.role_create(&json!({"role": {"name": "x", "domain_id": "default"}})).await),
        400
    );
    let list = api.role_list(&QueryParams::parse(Some("name=OBSERVER"))).await.unwrap();
    assert_eq!(list["roles"].as_array().unwrap().len(), 1);

    let p = api
        .project_create(&f.admin, &json!({"project": {"name": "q", "tags": ["t1"], "k": "v"}}))
        .await
        .unwrap();
    assert_eq!(p["project"]["domain_id"], "default", "the admin project's domain");
    assert_eq!(p["project"]["tags"], json!(["t1"]));
    assert_eq!(p["project"]["k"], "v");
    let id = id_of(&p, "project");
    api.project_create(&f.admin, &json!({"project": {"name": "r"}})).await.unwrap();
    assert_eq!(status(api.project_update(&id, &json!({"project": {"name": "r"}})).await), 409);
    assert_eq!(
        status(api.project_update(&id, &json!({"project": {"domain_id": "other"}})).await),
        400
    );
    assert_eq!(status(api.project_update("nope", &json!({"project": {}})).await), 404);
    let body = api
        .project_update(
            &id,
            &json!({"project": {"name": "q2", "description": "d", "k": null,
            "enabled": false}}),
        )
        .await
        .unwrap();
    assert_eq!(body["project"]["name"], "q2");
    assert_eq!(body["project"]["description"], "d");
    assert_eq!(body["project"]["enabled"], false);
    assert!(body["project"].get("k").is_none());
    assert_eq!(api.project_show(&id).await.unwrap(), body);
    let list = api.project_list(&QueryParams::parse(Some("name=q2"))).await.unwrap();
    assert_eq!(list["projects"].as_array().unwrap().len(), 1);
    let list = api.project_list(&QueryParams::parse(Some("enabled=false"))).await.unwrap();
    assert_eq!(list["projects"].as_array().unwrap().len(), 1);
    let list = api.domain_list(&QueryParams::parse(Some("name=Default"))).await.unwrap();
    assert_eq!(list["domains"][0]["id"], "default");
    let list = api.domain_list(&QueryParams::parse(Some("name=default"))).await.unwrap();
    assert!(list["domains"].as_array().unwrap().is_empty(), "exact match only");
}

/// The admin API's SQL on PostgreSQL, in a fresh schema, when `NEUTRINO_TEST_PG_URL` is set
/// (e.g. `postgres://user:pw@localhost/neutrino_test`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_on_postgres_when_configured() {
    let Ok(url) = std::env::var("NEUTRINO_TEST_PG_URL") else {
        eprintln!("NEUTRINO_TEST_PG_URL not set; skipping the PostgreSQL admin API test");
        return;
    };
    sqlx::any::install_default_drivers();
    let schema = format!("nt_admin_api_test_{}", crate::new_id());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let db = Db::connect(&format!("{url}{sep}options[search_path]={schema}")).await.unwrap();
    let keys = tempfile::tempdir().unwrap();

    let result = async {
        let identity = Arc::new(Identity::open(db.clone(), config(keys.path())).await?);
        identity.bootstrap(Some("secret")).await?;
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let token = identity.issue_token(&body, false).await?.token;
        let admin = identity.authorize_admin(Some(&token), "identity:test")?;
        let api = identity.admin_api();

        // Racing creates of one name: one wins, the others get 409.
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let (identity, admin) = (identity.clone(), admin.clone());
                tokio::spawn(async move {
                    let body = json!({"project": {"name": "race", "enabled": false}});
                    identity.admin_api().project_create(&admin, &body).await
                })
            })
            .collect();
        let mut created = Vec::new();
        for run in runs {
            match run.await.unwrap() {
                Ok(body) => created.push(body),
                Err(e) => assert_eq!(e.status(), 409, "{e:?}"),
            }
        }
        assert_eq!(created.len(), 1);
        assert_eq!(created[0]["project"]["enabled"], false);
        let p = id_of(&created[0], "project");
        let body = api.project_update(&p, &json!({"project": {"enabled": true, "k": 1}})).await?;
        assert_eq!(body["project"]["enabled"], true);
        assert_eq!(
            status(api.project_update(&p, &json!({"project": {"name": "admin"}})).await),
            409
        );

        let u = api
            .user_create(&admin, &json!({"user": {"name": "u", "password": "pw", "email": "e"}}))
            .await?;
        let u = id_of(&u, "user");
        let member = identity.role_by_name("member").await?;
        api.grant_create(&p, &u, &member.id).await?;
        api.grant_create(&p, &u, &member.id).await?;
        api.grant_check(&p, &u, &member.id).await?;
        let t = login(&identity, &u, "pw", &p).await;
        let q = QueryParams::parse(Some(&format!("user.id={u}&effective&include_names")));
        let body = api.role_assignments(&q).await?;
        assert_eq!(body["role_assignments"].as_array().unwrap().len(), 2, "{body}");
        api.grant_delete(&p, &u, &member.id).await?;
        assert_eq!(status(identity.validate(&t)), 401);
        identity.refresh().await?;
        assert_eq!(status(identity.validate(&t)), 401);

        api.grant_create(&p, &u, &member.id).await?;
        api.user_update(&u, &json!({"user": {"password": "pw2", "enabled": true}})).await?;
        let t = login(&identity, &u, "pw2", &p).await;
        api.role_create(&json!({"role": {"name": "observer"}})).await?;
        assert_eq!(status(api.role_create(&json!({"role": {"name": "Observer"}})).await), 409);
        api.project_delete(&p).await?;
        assert_eq!(status(identity.validate(&t)), 401);
        api.user_delete(&u).await?;
        let users = api.user_list(&QueryParams::parse(Some("domain_id=default"))).await?;
        assert_eq!(users["users"].as_array().unwrap().len(), 1);
        Ok::<_, IdentityError>(())
    }
    .await;
    db.writer().close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&pool).await.unwrap();
    result.unwrap();
}
