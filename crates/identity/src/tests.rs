//! Tests of the whole service against a real database (SQLite in a temporary directory; also
//! PostgreSQL when `NEUTRINO_TEST_PG_URL` is set).

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use tempfile::TempDir;

use super::*;

struct Fixture {
    dir: TempDir,
    db: Db,
    identity: Arc<Identity>,
}

fn config(keys: &Path, lifetime: i64) -> IdentityConfig {
    IdentityConfig {
        public_url: "http://127.0.0.1:9696/".into(),
        region: "RegionOne".into(),
        token_lifetime_secs: lifetime,
        key_repository: keys.to_path_buf(),
        admin_user: "admin".into(),
        admin_project: "admin".into(),
    }
}

async fn sqlite_db(dir: &Path) -> Db {
    Db::connect(&format!("sqlite://{}/db.sqlite", dir.display())).await.unwrap()
}

async fn fixture_with_lifetime(lifetime: i64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path()).await;
    let identity = Identity::open(db.clone(), config(&dir.path().join("fernet-keys"), lifetime))
        .await
        .unwrap();
    Fixture { dir, db, identity: Arc::new(identity) }
}

async fn fixture() -> Fixture {
    let f = fixture_with_lifetime(3600).await;
    f.identity.bootstrap(Some("secret")).await.unwrap();
    f
}

/// Creates a user with a password in domain `default`; returns its id.
async fn add_user(f: &Fixture, name: &str, password: &str) -> String {
    let id = new_id();
    let hash = f.identity.passwords.hash(password).await.unwrap();
    sqlx::query(
        "INSERT INTO identity_users (id, name, domain_id, password_hash, created_at) \
         VALUES ($1, $2, 'default', $3, 0)",
    )
    .bind(&id)
    .bind(name)
    .bind(hash)
    .execute(f.db.writer())
    .await
    .unwrap();
    id
}

/// Creates a project in domain `default`; returns its id.
async fn add_project(f: &Fixture, name: &str) -> String {
    let id = new_id();
    sqlx::query(
        "INSERT INTO identity_projects (id, name, domain_id, parent_id, created_at) \
         VALUES ($1, $2, 'default', 'default', 0)",
    )
    .bind(&id)
    .bind(name)
    .execute(f.db.writer())
    .await
    .unwrap();
    id
}

async fn grant(f: &Fixture, user_id: &str, project_id: &str, role: &str) {
    sqlx::query(
        "INSERT INTO identity_assignments (actor_id, target_type, target_id, role_id) \
         SELECT $1, 'project', $2, id FROM identity_roles WHERE name = $3",
    )
    .bind(user_id)
    .bind(project_id)
    .bind(role)
    .execute(f.db.writer())
    .await
    .unwrap();
}

fn by_name(user: &str, password: &str, project: &str) -> Value {
    json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}})
}

fn by_id(user_id: &str, password: &str, project_id: &str) -> Value {
    json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"id": user_id, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"id": project_id, "domain": {"id": "default"}}}}})
}

fn role_names(body: &Value) -> Vec<String> {
    body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

async fn status_of(f: &Fixture, body: Value) -> u16 {
    match f.identity.issue_token(&body, true).await {
        Ok(_) => 201,
        Err(e) => e.status(),
    }
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_generates_a_password_once() {
    let f = fixture_with_lifetime(3600).await;
    let first = f.identity.bootstrap(None).await.unwrap();
    let password = first.generated_password.clone().expect("a generated password");
    assert_eq!(password.len(), 24);
    assert_eq!(first.admin_user_id.len(), 32);
    assert!(first.admin_user_id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(!format!("{first:?}").contains(&password));

    let second = f.identity.bootstrap(None).await.unwrap();
    assert_eq!(second.admin_user_id, first.admin_user_id);
    assert_eq!(second.admin_project_id, first.admin_project_id);
    assert_eq!(second.generated_password, None);

    for (table, rows) in [
        ("identity_domains", 1),
        ("identity_roles", 5),
        ("identity_role_implications", 3),
        ("identity_projects", 1),
        ("identity_users", 1),
        ("identity_assignments", 2),
        ("identity_regions", 1),
    ] {
        let n: i64 = sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(f.db.reader())
            .await
            .unwrap();
        assert_eq!(n, rows, "{table}");
    }

    // The generated password works, and the stored hash is Argon2id.
    let issued = f.identity.issue_token(&by_name("admin", &password, "admin"), true).await.unwrap();
    assert_eq!(issued.body["token"]["project"]["id"], first.admin_project_id.as_str());
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM identity_users")
        .fetch_one(f.db.reader())
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn bootstrap_with_a_new_password_replaces_it_and_revokes_old_tokens() {
    let f = fixture().await;
    let old = f.identity.issue_token(&by_name("admin", "secret", "admin"), true).await.unwrap();
    // Same password again: nothing changes, the token survives.
    f.identity.bootstrap(Some("secret")).await.unwrap();
    f.identity.validate(&old.token).unwrap();

    let outcome = f.identity.bootstrap(Some("n3w")).await.unwrap();
    assert_eq!(outcome.generated_password, None);
    assert_eq!(f.identity.validate(&old.token).unwrap_err().status(), 401);
    assert_eq!(status_of(&f, by_name("admin", "secret", "admin")).await, 401);
    let fresh = f.identity.issue_token(&by_name("admin", "n3w", "admin"), true).await.unwrap();
    f.identity.validate(&fresh.token).unwrap();
}

#[tokio::test]
async fn concurrent_bootstraps_on_two_servers_agree() {
    let f = fixture_with_lifetime(3600).await;
    let other = Arc::new(
        Identity::open(
            sqlite_db(f.dir.path()).await,
            config(&f.dir.path().join("fernet-keys"), 3600),
        )
        .await
        .unwrap(),
    );
    let runs: Vec<_> = (0..6)
        .map(|i| {
            let identity = if i % 2 == 0 { f.identity.clone() } else { other.clone() };
            tokio::spawn(async move { identity.bootstrap(Some("pw")).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.push(run.await.unwrap().unwrap());
    }
    assert!(outcomes.iter().all(|o| o.admin_user_id == outcomes[0].admin_user_id));
    assert!(outcomes.iter().all(|o| o.admin_project_id == outcomes[0].admin_project_id));
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identity_users")
        .fetch_one(f.db.reader())
        .await
        .unwrap();
    assert_eq!(users, 1);
    // A token issued by one server is valid on the other (shared key repository).
    let t = f.identity.issue_token(&by_name("admin", "pw", "admin"), false).await.unwrap();
    assert!(other.validate(&t.token).unwrap().is_admin());
}

#[tokio::test]
async fn password_login_issues_a_compact_token_with_implied_roles() {
    let f = fixture().await;
    let issued = f.identity.issue_token(&by_name("admin", "secret", "admin"), true).await.unwrap();
    assert!(issued.token.len() < 255, "{} chars", issued.token.len());
    assert!(issued.token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));

    let t = &issued.body["token"];
    assert_eq!(role_names(&issued.body), ["admin", "member", "reader"]);
    assert!(t["roles"][0]["id"].as_str().unwrap().len() == 32);
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["user"]["name"], "admin");
    assert_eq!(t["user"]["domain"], json!({"id": "default", "name": "Default"}));
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["project"]["domain"], json!({"id": "default", "name": "Default"}));
    assert_eq!(t["is_domain"], false);
    assert_eq!(t["catalog"].as_array().unwrap().len(), 2);
    assert_eq!(t["catalog"][0]["endpoints"][0]["url"], "http://127.0.0.1:9696");
    assert_eq!(t["catalog"][1]["endpoints"][0]["url"], "http://127.0.0.1:9696/v3");
    let expires = t["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z') && expires.len() == 27, "{expires}");

    let principal = f.identity.validate(&issued.token).unwrap();
    assert_eq!(principal.user_id, t["user"]["id"].as_str().unwrap());
    assert_eq!(principal.project_id, t["project"]["id"].as_str().unwrap());
    assert_eq!(principal.roles, ["admin", "member", "reader"]);
    assert!(principal.is_admin() && principal.has_role("Member") && !principal.has_role("service"));
    assert_eq!(principal.audit_id, t["audit_ids"][0].as_str().unwrap());
    assert_eq!(wire::format_timestamp(principal.expires_at), expires);
    let lifetime = principal.expires_at - Utc::now();
    assert!(lifetime.num_seconds() > 3590 && lifetime.num_seconds() <= 3600);

    let no_catalog =
        f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    assert!(no_catalog.body["token"].get("catalog").is_none());
}

#[tokio::test]
async fn login_by_id_by_name_and_mixed_forms() {
    let f = fixture().await;
    let user = add_user(&f, "alice", "pw-a").await;
    let project = add_project(&f, "demo").await;
    grant(&f, &user, &project, "member").await;

    let a = f.identity.issue_token(&by_id(&user, "pw-a", &project), true).await.unwrap();
    assert_eq!(role_names(&a.body), ["member", "reader"]);
    let p = f.identity.validate(&a.token).unwrap();
    assert_eq!((p.user_id.as_str(), p.project_id.as_str()), (user.as_str(), project.as_str()));
    assert!(!p.is_admin());

    f.identity.issue_token(&by_name("alice", "pw-a", "demo"), true).await.unwrap();
    let mixed = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"id": user, "password": "pw-a"}}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}});
    f.identity.issue_token(&mixed, true).await.unwrap();
    let mixed = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": "alice", "domain": {"id": "default"}, "password": "pw-a"}}},
        "scope": {"project": {"id": project}}}});
    f.identity.issue_token(&mixed, true).await.unwrap();
}

#[tokio::test]
async fn bad_credentials_scopes_and_methods_are_401() {
    let f = fixture().await;
    let user = add_user(&f, "bob", "pw-b").await;
    let project = add_project(&f, "empty").await;

    assert_eq!(status_of(&f, by_name("admin", "wrong", "admin")).await, 401);
    assert_eq!(status_of(&f, by_name("nobody", "secret", "admin")).await, 401);
    assert_eq!(status_of(&f, by_id(&new_id(), "secret", &project)).await, 401);
    let other_domain = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": "admin", "domain": {"name": "Nope"}, "password": "secret"}}}}});
    assert_eq!(status_of(&f, other_domain).await, 401);
    assert_eq!(status_of(&f, by_name("admin", "secret", "no-such-project")).await, 401);
    // bob holds no role on `empty`.
    assert_eq!(status_of(&f, by_id(&user, "pw-b", &project)).await, 401);
    grant(&f, &user, &project, "reader").await;
    assert_eq!(status_of(&f, by_id(&user, "pw-b", &project)).await, 201);

    sqlx::query("UPDATE identity_projects SET enabled = 0 WHERE id = $1")
        .bind(&project)
        .execute(f.db.writer())
        .await
        .unwrap();
    assert_eq!(status_of(&f, by_id(&user, "pw-b", &project)).await, 401);
    sqlx::query("UPDATE identity_users SET enabled = 0 WHERE id = $1")
        .bind(&user)
        .execute(f.db.writer())
        .await
        .unwrap();
    assert_eq!(status_of(&f, by_name("bob", "pw-b", "admin")).await, 401);

    let totp = json!({"auth": {"identity": {"methods": ["totp"], "totp": {"user": {"id": user}}}}});
    let err = f.identity.issue_token(&totp, true).await.unwrap_err();
    assert_eq!(err.status(), 401);
    assert_eq!(err.public_message(), UNSUPPORTED_METHOD_MESSAGE);
    assert_eq!(status_of(&f, json!({"auth": {}})).await, 400);
}

#[tokio::test]
async fn unscoped_default_project_and_system_scope() {
    let f = fixture().await;
    let unscoped = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "secret"}}}}});
    let issued = f.identity.issue_token(&unscoped, true).await.unwrap();
    assert!(issued.body["token"].get("project").is_none());
    assert!(issued.body["token"].get("catalog").is_none());
    let p = f.identity.validate(&issued.token).unwrap();
    assert_eq!(p.project_id, "");
    assert!(p.roles.is_empty());

    // With a usable default project, no scope means that project.
    let project = add_project(&f, "home").await;
    let user = add_user(&f, "carol", "pw-c").await;
    grant(&f, &user, &project, "member").await;
    sqlx::query("UPDATE identity_users SET default_project_id = $1 WHERE id = $2")
        .bind(&project)
        .bind(&user)
        .execute(f.db.writer())
        .await
        .unwrap();
    let body = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"id": user, "password": "pw-c"}}}}});
    let issued = f.identity.issue_token(&body, true).await.unwrap();
    assert_eq!(f.identity.validate(&issued.token).unwrap().project_id, project);

    // Bootstrap grants the admin `admin` on the system.
    let system = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"system": {"all": true}}}});
    let issued = f.identity.issue_token(&system, true).await.unwrap();
    assert_eq!(issued.body["token"]["system"], json!({"all": true}));
    assert!(f.identity.validate(&issued.token).unwrap().is_admin());
    let carol_system = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"id": user, "password": "pw-c"}}},
        "scope": {"system": {"all": true}}}});
    assert_eq!(status_of(&f, carol_system).await, 401);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let f = fixture().await;
    let issued = f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    let mut payload = f.identity.open_token(&issued.token).unwrap();
    payload.expires_at = now_micros() - 1;
    let expired = f.identity.seal(&payload).unwrap();
    assert_eq!(f.identity.validate(&expired).unwrap_err().status(), 401);

    // And for real, with a one-second lifetime.
    let short = fixture_with_lifetime(1).await;
    short.identity.bootstrap(Some("secret")).await.unwrap();
    let issued =
        short.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    short.identity.validate(&issued.token).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(short.identity.validate(&issued.token).unwrap_err().status(), 401);
}

#[tokio::test]
async fn tampered_and_foreign_tokens_are_refused() {
    let f = fixture().await;
    let issued = f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    let token = issued.token.clone();
    for i in [0, 10, token.len() / 2, token.len() - 2] {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(f.identity.validate(&tampered).unwrap_err().status(), 401, "byte {i}");
    }
    for garbage in ["", "abc", "not a token at all", &"A".repeat(2000)] {
        assert_eq!(f.identity.validate(garbage).unwrap_err().status(), 401);
    }
    // A server with another key repository cannot read it.
    let other = fixture().await;
    assert_eq!(other.identity.validate(&token).unwrap_err().status(), 401);
    // Sealed with a known key but not our payload format.
    let foreign = f.identity.key_ring().seal(b"\x02junk");
    assert_eq!(f.identity.validate(&foreign).unwrap_err().status(), 401);
}

#[tokio::test]
async fn revoked_tokens_are_refused_here_at_once_and_elsewhere_after_refresh() {
    let f = fixture().await;
    let other = Identity::open(
        sqlite_db(f.dir.path()).await,
        config(&f.dir.path().join("fernet-keys"), 3600),
    )
    .await
    .unwrap();
    let caller = f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    let victim = f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    let caller_p = f.identity.validate(&caller.token).unwrap();
    other.validate(&victim.token).unwrap();

    f.identity.revoke_subject(&caller_p, Some(&victim.token)).await.unwrap();
    assert_eq!(f.identity.validate(&victim.token).unwrap_err().status(), 401);
    f.identity.validate(&caller.token).unwrap();
    // Revoking again: the token is unknown now.
    let err = f.identity.revoke_subject(&caller_p, Some(&victim.token)).await.unwrap_err();
    assert_eq!(err.status(), 404);

    other.refresh().await.unwrap();
    assert_eq!(other.validate(&victim.token).unwrap_err().status(), 401);
    other.validate(&caller.token).unwrap();

    // A server started later loads the revocation at open().
    let late = Identity::open(
        sqlite_db(f.dir.path()).await,
        config(&f.dir.path().join("fernet-keys"), 3600),
    )
    .await
    .unwrap();
    assert_eq!(late.validate(&victim.token).unwrap_err().status(), 401);
}

#[tokio::test]
async fn user_and_project_revocations_spare_later_tokens() {
    let f = fixture().await;
    let user = add_user(&f, "dave", "pw-d").await;
    let project = add_project(&f, "proj").await;
    grant(&f, &user, &project, "member").await;
    let before = f.identity.issue_token(&by_id(&user, "pw-d", &project), false).await.unwrap();
    f.identity.revoke_user_tokens(&user).await.unwrap();
    assert_eq!(f.identity.validate(&before.token).unwrap_err().status(), 401);
    let after = f.identity.issue_token(&by_id(&user, "pw-d", &project), false).await.unwrap();
    f.identity.validate(&after.token).unwrap();

    f.identity.revoke_project_tokens(&project).await.unwrap();
    assert_eq!(f.identity.validate(&after.token).unwrap_err().status(), 401);
    let admin = f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    f.identity.validate(&admin.token).unwrap();
}

#[tokio::test]
async fn subject_token_checks() {
    let f = fixture().await;
    let user = add_user(&f, "erin", "pw-e").await;
    let project = add_project(&f, "p-erin").await;
    grant(&f, &user, &project, "member").await;
    let admin = f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    let admin_p = f.identity.validate(&admin.token).unwrap();
    let erin = f.identity.issue_token(&by_id(&user, "pw-e", &project), false).await.unwrap();
    let erin_p = f.identity.validate(&erin.token).unwrap();
    let erin2 = f.identity.issue_token(&by_id(&user, "pw-e", &project), false).await.unwrap();

    // Own tokens: fine. Admin: any token. Member: not another user's (403).
    f.identity.check_subject(&erin_p, Some(&erin2.token)).unwrap();
    f.identity.check_subject(&admin_p, Some(&erin.token)).unwrap();
    assert_eq!(f.identity.check_subject(&erin_p, Some(&admin.token)).unwrap_err().status(), 403);
    assert_eq!(f.identity.check_subject(&erin_p, Some("garbage")).unwrap_err().status(), 404);
    assert_eq!(f.identity.check_subject(&erin_p, None).unwrap_err().status(), 404);
    assert_eq!(f.identity.check_subject(&erin_p, Some("")).unwrap_err().status(), 404);
    let err = f.identity.revoke_subject(&erin_p, Some(&admin.token)).await.unwrap_err();
    assert_eq!(err.status(), 403);
    f.identity.validate(&admin.token).unwrap();

    let body = f.identity.validate_subject(&admin_p, Some(&erin.token), true).await.unwrap();
    let t = &body["token"];
    assert_eq!(t["user"]["name"], "erin");
    assert_eq!(t["project"]["name"], "p-erin");
    assert_eq!(t["audit_ids"], erin.body["token"]["audit_ids"]);
    assert_eq!(t["expires_at"], erin.body["token"]["expires_at"]);
    assert_eq!(t["issued_at"], erin.body["token"]["issued_at"]);
    assert_eq!(t["roles"], erin.body["token"]["roles"]);
    assert_eq!(t["catalog"].as_array().unwrap().len(), 2);
    let body = f.identity.validate_subject(&erin_p, Some(&erin.token), false).await.unwrap();
    assert!(body["token"].get("catalog").is_none());

    // Once the project is gone, validating its token is 404.
    sqlx::query("DELETE FROM identity_assignments WHERE target_id = $1")
        .bind(&project)
        .execute(f.db.writer())
        .await
        .unwrap();
    sqlx::query("DELETE FROM identity_projects WHERE id = $1")
        .bind(&project)
        .execute(f.db.writer())
        .await
        .unwrap();
    let err = f.identity.validate_subject(&admin_p, Some(&erin.token), true).await.unwrap_err();
    assert_eq!(err.status(), 404);
}

#[tokio::test]
async fn rescoping_with_a_token_keeps_expiry_and_chains_audit_ids() {
    let f = fixture().await;
    let other_project = add_project(&f, "other").await;
    let admin_id = f.identity.bootstrap(None).await.unwrap().admin_user_id;
    grant(&f, &admin_id, &other_project, "reader").await;
    let first = f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": first.token}},
        "scope": {"project": {"id": other_project}}}});
    let second = f.identity.issue_token(&rescope, true).await.unwrap();
    let t = &second.body["token"];
    assert_eq!(role_names(&second.body), ["reader"]);
    assert_eq!(t["methods"], json!(["password", "token"]));
    assert_eq!(t["expires_at"], first.body["token"]["expires_at"]);
    assert_eq!(t["audit_ids"][1], first.body["token"]["audit_ids"][0]);
    assert_eq!(f.identity.validate(&second.token).unwrap().project_id, other_project);

    // Revoking the original also revokes what was rescoped from it.
    let caller = f.identity.validate(&first.token).unwrap();
    f.identity.revoke_subject(&caller, Some(&first.token)).await.unwrap();
    assert_eq!(f.identity.validate(&second.token).unwrap_err().status(), 401);
    // And a revoked token cannot be rescoped.
    let again = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": first.token}}}});
    assert_eq!(status_of(&f, again).await, 401);
}

#[tokio::test]
async fn parallel_logins_all_succeed() {
    let f = fixture().await;
    let logins: Vec<_> = (0..8)
        .map(|_| {
            let identity = f.identity.clone();
            tokio::spawn(async move {
                identity.issue_token(&by_name("admin", "secret", "admin"), true).await
            })
        })
        .collect();
    let mut audit_ids = Vec::new();
    for login in logins {
        let issued = login.await.unwrap().unwrap();
        audit_ids.push(f.identity.validate(&issued.token).unwrap().audit_id);
    }
    audit_ids.sort();
    audit_ids.dedup();
    assert_eq!(audit_ids.len(), 8);
}

#[tokio::test]
async fn refresh_picks_up_key_rotation() {
    let f = fixture().await;
    let old = f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    let keys_dir = f.dir.path().join("fernet-keys");
    keys::rotate_keys(&keys_dir, 3).unwrap();
    f.identity.refresh().await.unwrap();
    let new = f.identity.issue_token(&by_name("admin", "secret", "admin"), false).await.unwrap();
    f.identity.validate(&old.token).unwrap();
    f.identity.validate(&new.token).unwrap();
    // The new token is sealed with key 2 (the promoted staged key): a ring of key 2 alone opens it.
    let only_new = tempfile::tempdir().unwrap();
    std::fs::copy(keys_dir.join("2"), only_new.path().join("2")).unwrap();
    let ring = keys::load(only_new.path()).unwrap();
    assert!(ring.open(&new.token).is_some());
    assert!(ring.open(&old.token).is_none());
}

#[tokio::test]
async fn identity_urls_come_from_the_public_url() {
    let f = fixture_with_lifetime(3600).await;
    assert_eq!(f.identity.public_url(), "http://127.0.0.1:9696");
    assert_eq!(f.identity.identity_url(), "http://127.0.0.1:9696/v3");
    assert_eq!(
        f.identity.version_document()["version"]["links"][0]["href"],
        "http://127.0.0.1:9696/v3/"
    );
}

/// Runs the bootstrap checks against PostgreSQL in a fresh schema when
/// `NEUTRINO_TEST_PG_URL` is set (e.g. `postgres://user:pw@localhost/neutrino_test`).
#[tokio::test]
async fn bootstrap_on_postgres_when_configured() {
    let Ok(url) = std::env::var("NEUTRINO_TEST_PG_URL") else {
        eprintln!("NEUTRINO_TEST_PG_URL not set; skipping the PostgreSQL bootstrap test");
        return;
    };
    sqlx::any::install_default_drivers();
    let schema = format!("nt_identity_test_{}", new_id());
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let db = Db::connect(&format!("{url}{sep}options[search_path]={schema}")).await.unwrap();
    let keys = tempfile::tempdir().unwrap();

    let result = async {
        let identity = Arc::new(Identity::open(db.clone(), config(keys.path(), 3600)).await?);
        let first = identity.bootstrap(None).await?;
        assert!(first.generated_password.is_some());
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let identity = identity.clone();
                tokio::spawn(async move { identity.bootstrap(Some("pg-secret")).await })
            })
            .collect();
        for run in runs {
            let o = run.await.unwrap()?;
            assert_eq!(o.admin_user_id, first.admin_user_id);
            assert_eq!(o.admin_project_id, first.admin_project_id);
        }
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identity_users")
            .fetch_one(db.reader())
            .await?;
        assert_eq!(users, 1);
        let issued = identity.issue_token(&by_name("admin", "pg-secret", "admin"), true).await?;
        assert_eq!(role_names(&issued.body), ["admin", "member", "reader"]);
        let p = identity.validate(&issued.token)?;
        identity.revoke_subject(&p, Some(&issued.token)).await?;
        identity.refresh().await?;
        assert_eq!(identity.validate(&issued.token).unwrap_err().status(), 401);
        Ok::<_, IdentityError>(())
    }
    .await;
    db.writer().close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.unwrap();
    result.unwrap();
}
