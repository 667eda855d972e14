//! Provisioning: creating projects and users, granting roles, finding roles by name.
//!
//! The building blocks of the admin API (`../shared/design/identity.md` §7) and of tests. No
//! authorisation here: the caller has checked that its principal holds `admin`.
//!
//! Every write is one short transaction retried while the database is busy ([`with_retry`]).
//! Names are unique per domain (projects, users): rows are written with
//! `INSERT … ON CONFLICT DO NOTHING`, and nothing inserted means the name is taken, so of two
//! concurrent creates of one name exactly one succeeds and the other gets 409 — on PostgreSQL
//! the second insert waits for the first transaction, on SQLite writers are serialised — and a
//! PostgreSQL transaction is never aborted by a unique violation. Password hashing happens
//! before the transaction, so the write lock is never held across Argon2.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::admin_api::{ProjectDetail, UserDetail};
use crate::sql::{self, RoleRow};
use crate::{new_id, now_micros, with_retry, Identity, IdentityError};

/// Longest project name Keystone accepts (characters).
pub(crate) const MAX_PROJECT_NAME: usize = 64;

/// Longest user name Keystone accepts (characters).
pub(crate) const MAX_USER_NAME: usize = 255;

/// Longest password accepted (bytes), Keystone's default `[identity] max_password_length`.
const MAX_PASSWORD_LEN: usize = 4096;

/// A project, as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectRecord {
    /// 32 lowercase hex characters.
    pub id: String,
    /// Unique within the domain.
    pub name: String,
    /// The owning domain (also the project's parent: projects are top-level).
    pub domain_id: String,
    /// Free text, possibly empty.
    pub description: String,
    /// Whether tokens can be scoped to it.
    pub enabled: bool,
}

/// A user, as created. Never carries the password or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    /// 32 lowercase hex characters.
    pub id: String,
    /// Unique within the domain.
    pub name: String,
    /// The owning domain.
    pub domain_id: String,
    /// Whether the user can log in.
    pub enabled: bool,
    /// The project an unscoped login is scoped to, when usable.
    pub default_project_id: Option<String>,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleRecord {
    /// The role's id.
    pub id: String,
    /// The role's name, e.g. `member`.
    pub name: String,
}

impl From<RoleRow> for RoleRecord {
    fn from(r: RoleRow) -> Self {
        RoleRecord { id: r.id, name: r.name }
    }
}

/// A 400 unless `name` has 1 to `max` characters, not all whitespace (Keystone's schema).
pub(crate) fn check_name(kind: &str, name: &str, max: usize) -> Result<(), IdentityError> {
    if name.trim().is_empty() || name.chars().count() > max {
        return Err(IdentityError::BadRequest(format!(
            "Invalid input for field 'name': a {kind} name has 1 to {max} characters, \
             not all whitespace."
        )));
    }
    Ok(())
}

/// A 400 unless the password fits Keystone's default length limit.
pub(crate) fn check_password(password: &str) -> Result<(), IdentityError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(IdentityError::BadRequest(format!(
            "Invalid input for field 'password': longer than {MAX_PASSWORD_LEN} bytes."
        )));
    }
    Ok(())
}

pub(crate) fn domain_not_found(domain_id: &str) -> IdentityError {
    IdentityError::NotFound(format!("Could not find domain: {domain_id}."))
}

pub(crate) fn duplicate(kind: &str, name: &str, domain_id: &str) -> IdentityError {
    IdentityError::Conflict(format!(
        "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name} \
         at domain ID {domain_id}."
    ))
}

/// Serialises the `extra` column (a JSON object).
pub(crate) fn extra_text(extra: &Map<String, Value>) -> String {
    Value::Object(extra.clone()).to_string()
}

impl Identity {
    /// Creates an enabled top-level project named `name` in domain `domain_id` (e.g.
    /// `default`).
    ///
    /// Errors: 400 for an empty, all-whitespace or over-long (64 characters) name, 404 for an
    /// unknown domain, 409 when the domain already has a project of that name.
    pub async fn project_create(
        &self,
        name: &str,
        domain_id: &str,
        description: &str,
    ) -> Result<ProjectRecord, IdentityError> {
        let project = ProjectDetail {
            id: new_id(),
            name: name.to_string(),
            domain_id: domain_id.to_string(),
            description: description.to_string(),
            enabled: true,
            extra: Map::new(),
        };
        self.project_insert(&project).await?;
        Ok(ProjectRecord {
            id: project.id,
            name: project.name,
            domain_id: project.domain_id,
            description: project.description,
            enabled: true,
        })
    }

    /// Stores a new top-level project (its parent is its domain). Errors as
    /// [`Identity::project_create`].
    pub(crate) async fn project_insert(
        &self,
        project: &ProjectDetail,
    ) -> Result<(), IdentityError> {
        check_name("project", &project.name, MAX_PROJECT_NAME)?;
        let inserted = with_retry(|| self.project_insert_tx(project)).await?;
        if !inserted {
            return Err(duplicate("project", &project.name, &project.domain_id));
        }
        tracing::info!(
            project = %project.id,
            name = %project.name,
            domain = %project.domain_id,
            "project created"
        );
        Ok(())
    }

    /// True if the row was inserted, false if the name was taken.
    async fn project_insert_tx(&self, project: &ProjectDetail) -> Result<bool, IdentityError> {
        let mut tx = self.db.begin().await?;
        if sql::domain_get(&mut *tx, &project.domain_id).await?.is_none() {
            return Err(domain_not_found(&project.domain_id));
        }
        let inserted = sqlx::query(
            "INSERT INTO identity_projects \
             (id, name, domain_id, parent_id, description, enabled, extra, created_at) \
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&project.id)
        .bind(&project.name)
        .bind(&project.domain_id)
        .bind(&project.description)
        .bind(i64::from(project.enabled))
        .bind(extra_text(&project.extra))
        .bind(now_micros())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Creates an enabled user named `name` in domain `domain_id`.
    ///
    /// The password is stored as an Argon2id hash, computed on the blocking pool; an empty
    /// password stores no hash (the user cannot log in with a password). Like Keystone,
    /// `default_project_id` is not checked (an unusable default project only means an
    /// unscoped login stays unscoped); `Some("")` is `None`.
    ///
    /// Errors: 400 for a bad name (1 to 255 characters, not all whitespace) or a password over
    /// 4096 bytes, 404 for an unknown domain, 409 when the domain already has a user of that
    /// name.
    pub async fn user_create(
        &self,
        name: &str,
        domain_id: &str,
        password: &str,
        default_project_id: Option<&str>,
    ) -> Result<UserRecord, IdentityError> {
        let user = UserDetail {
            id: new_id(),
            name: name.to_string(),
            domain_id: domain_id.to_string(),
            enabled: true,
            default_project_id: default_project_id.unwrap_or("").to_string(),
            description: String::new(),
            email: String::new(),
            extra: Map::new(),
        };
        self.user_insert(&user, password).await?;
        Ok(UserRecord {
            id: user.id,
            name: user.name,
            domain_id: user.domain_id,
            enabled: true,
            default_project_id: Some(user.default_project_id).filter(|p| !p.is_empty()),
        })
    }

    /// Stores a new user with `password` ('' for none). Errors as [`Identity::user_create`].
    pub(crate) async fn user_insert(
        &self,
        user: &UserDetail,
        password: &str,
    ) -> Result<(), IdentityError> {
        check_name("user", &user.name, MAX_USER_NAME)?;
        check_password(password)?;
        // Cheap checks first, so that an obvious failure costs no Argon2 hash. The insert
        // below still decides: another create may win in between.
        let reader = self.db.reader();
        if with_retry(|| sql::domain_get(reader, &user.domain_id)).await?.is_none() {
            return Err(domain_not_found(&user.domain_id));
        }
        if with_retry(|| sql::user_by_name(reader, &user.domain_id, &user.name)).await?.is_some() {
            return Err(duplicate("user", &user.name, &user.domain_id));
        }
        let password_hash =
            if password.is_empty() { String::new() } else { self.passwords.hash(password).await? };
        if !with_retry(|| self.user_insert_tx(user, &password_hash)).await? {
            return Err(duplicate("user", &user.name, &user.domain_id));
        }
        tracing::info!(user = %user.id, name = %user.name, domain = %user.domain_id, "user created");
        Ok(())
    }

    /// True if the row was inserted, false if the name was taken.
    async fn user_insert_tx(
        &self,
        user: &UserDetail,
        password_hash: &str,
    ) -> Result<bool, IdentityError> {
        let now = now_micros();
        let mut tx = self.db.begin().await?;
        if sql::domain_get(&mut *tx, &user.domain_id).await?.is_none() {
            return Err(domain_not_found(&user.domain_id));
        }
        let inserted = sqlx::query(
            "INSERT INTO identity_users (id, name, domain_id, enabled, password_hash, \
             default_project_id, description, email, extra, created_at, password_changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.domain_id)
        .bind(i64::from(user.enabled))
        .bind(password_hash)
        .bind(&user.default_project_id)
        .bind(&user.description)
        .bind(&user.email)
        .bind(extra_text(&user.extra))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Grants role `role_id` to user `user_id` on project `project_id`. Idempotent: granting
    /// again succeeds and changes nothing. Tokens issued from now on carry the role (and those
    /// it implies); tokens already issued keep their roles.
    ///
    /// Errors: 404 when the project, the user or the role is unknown (checked in that order).
    pub async fn role_grant(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), IdentityError> {
        let inserted = with_retry(|| self.role_grant_tx(project_id, user_id, role_id)).await?;
        if inserted {
            tracing::info!(project = project_id, user = user_id, role = role_id, "role granted");
        }
        Ok(())
    }

    /// True if the assignment is new.
    async fn role_grant_tx(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<bool, IdentityError> {
        let mut tx = self.db.begin().await?;
        if sql::project_get(&mut *tx, project_id).await?.is_none() {
            return Err(IdentityError::NotFound(format!("Could not find project: {project_id}.")));
        }
        if sql::user_get(&mut *tx, user_id).await?.is_none() {
            return Err(IdentityError::NotFound(format!("Could not find user: {user_id}.")));
        }
        let role = sqlx::query("SELECT id FROM identity_roles WHERE id = $1")
            .bind(role_id)
            .fetch_optional(&mut *tx)
            .await?;
        if role.is_none() {
            return Err(IdentityError::NotFound(format!("Could not find role: {role_id}.")));
        }
        let inserted = sqlx::query(
            "INSERT INTO identity_assignments (actor_id, target_type, target_id, role_id) \
             VALUES ($1, 'project', $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(project_id)
        .bind(role_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(inserted)
    }

    /// The role named `name`, compared case-insensitively; an exact match wins over others
    /// differing only in case. Errors: 404 when no role has that name.
    pub async fn role_by_name(&self, name: &str) -> Result<RoleRecord, IdentityError> {
        // Few roles exist: compare here, the same way on SQLite and PostgreSQL (whose LOWER()
        // differ beyond ASCII).
        let mut roles = with_retry(|| sql::roles_all(self.db.reader())).await?;
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        let wanted = name.to_lowercase();
        let found = match roles.iter().position(|r| r.name == name) {
            Some(i) => Some(i),
            None => roles.iter().position(|r| r.name.to_lowercase() == wanted),
        };
        match found {
            Some(i) => Ok(roles.swap_remove(i).into()),
            None => Err(IdentityError::NotFound(format!("Could not find role: {name}."))),
        }
    }
}

#[cfg(test)]
mod admin_tests {
    use std::path::Path;
    use std::sync::Arc;

    use nt_store::Db;
    use serde_json::{json, Value};
    use tempfile::TempDir;

    use crate::{Identity, IdentityConfig, IdentityError};

    struct Fixture {
        dir: TempDir,
        db: Db,
        identity: Arc<Identity>,
    }

    fn config(keys: &Path) -> IdentityConfig {
        IdentityConfig { key_repository: keys.to_path_buf(), ..IdentityConfig::default() }
    }

    async fn sqlite_db(dir: &Path) -> Db {
        Db::connect(&format!("sqlite://{}/db.sqlite", dir.display())).await.unwrap()
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(dir.path()).await;
        let identity =
            Identity::open(db.clone(), config(&dir.path().join("fernet-keys"))).await.unwrap();
        identity.bootstrap(Some("secret")).await.unwrap();
        Fixture { dir, db, identity: Arc::new(identity) }
    }

    /// A second server on the same database file and key repository.
    async fn second_server(f: &Fixture) -> Arc<Identity> {
        let db = sqlite_db(f.dir.path()).await;
        Arc::new(Identity::open(db, config(&f.dir.path().join("fernet-keys"))).await.unwrap())
    }

    fn by_id(user_id: &str, password: &str, project_id: &str) -> Value {
        json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"id": user_id, "password": password}}},
            "scope": {"project": {"id": project_id}}}})
    }

    async fn count(f: &Fixture, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(f.db.reader()).await.unwrap()
    }

    fn status<T: std::fmt::Debug>(r: Result<T, IdentityError>) -> u16 {
        r.unwrap_err().status()
    }

    fn is_id(id: &str) -> bool {
        id.len() == 32 && id.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    }

    #[tokio::test]
    async fn created_user_logs_in_to_created_project_with_granted_role() {
        let f = fixture().await;
        let id = &f.identity;
        let project = id.project_create("test-project-1", "default", "test-project-1-desc").await;
        let project = project.unwrap();
        assert!(is_id(&project.id), "{}", project.id);
        assert_eq!(project.name, "test-project-1");
        assert_eq!(project.domain_id, "default");
        assert_eq!(project.description, "test-project-1-desc");
        assert!(project.enabled);
        let json = serde_json::to_value(&project).unwrap();
        assert_eq!(json["id"], project.id.as_str());

        let user = id.user_create("test-project-1-member", "default", "pw-1", None).await.unwrap();
        assert!(is_id(&user.id));
        assert_eq!(user.name, "test-project-1-member");
        assert_eq!(user.domain_id, "default");
        assert!(user.enabled);
        assert_eq!(user.default_project_id, None);
        let hash: String =
            sqlx::query_scalar("SELECT password_hash FROM identity_users WHERE id = $1")
                .bind(&user.id)
                .fetch_one(f.db.reader())
                .await
                .unwrap();
        assert!(hash.starts_with("$argon2id$") && !hash.contains("pw-1"));

        let member = id.role_by_name("MEMBER").await.unwrap();
        assert_eq!(member.name, "member");
        assert!(is_id(&member.id));
        assert_eq!(id.role_by_name("member").await.unwrap().id, member.id);

        id.role_grant(&project.id, &user.id, &member.id).await.unwrap();
        // Granting again is fine and stores nothing new.
        id.role_grant(&project.id, &user.id, &member.id).await.unwrap();
        let sql =
            format!("SELECT COUNT(*) FROM identity_assignments WHERE actor_id = '{}'", user.id);
        assert_eq!(count(&f, &sql).await, 1);

        let issued = id.issue_token(&by_id(&user.id, "pw-1", &project.id), true).await.unwrap();
        let principal = id.validate(&issued.token).unwrap();
        assert_eq!(principal.user_id, user.id);
        assert_eq!(principal.project_id, project.id);
        assert_eq!(principal.roles, ["member", "reader"]);
        assert!(!principal.is_admin());
        assert_eq!(issued.body["token"]["project"]["name"], "test-project-1");
        assert_eq!(issued.body["token"]["user"]["name"], "test-project-1-member");
        assert_eq!(status(id.issue_token(&by_id(&user.id, "wrong", &project.id), true).await), 401);

        // A default project scopes an unscoped login.
        let u2 = id.user_create("u2", "default", "pw-2", Some(&project.id)).await.unwrap();
        assert_eq!(u2.default_project_id.as_deref(), Some(project.id.as_str()));
        let reader = id.role_by_name("reader").await.unwrap();
        id.role_grant(&project.id, &u2.id, &reader.id).await.unwrap();
        let body = json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"id": u2.id, "password": "pw-2"}}}}});
        let p2 = id.validate(&id.issue_token(&body, false).await.unwrap().token).unwrap();
        assert_eq!(p2.project_id, project.id);
        assert_eq!(p2.roles, ["reader"]);

        // No password: no password login.
        let u3 = id.user_create("u3", "default", "", Some("")).await.unwrap();
        assert_eq!(u3.default_project_id, None);
        id.role_grant(&project.id, &u3.id, &member.id).await.unwrap();
        assert_eq!(status(id.issue_token(&by_id(&u3.id, "", &project.id), true).await), 401);
    }

    #[tokio::test]
    async fn duplicate_names_conflict_per_domain_and_bad_input_is_refused() {
        let f = fixture().await;
        let id = &f.identity;
        id.project_create("p", "default", "").await.unwrap();
        // Bootstrap's admin project is a project like any other.
        assert_eq!(status(id.project_create("admin", "default", "").await), 409);
        let err = id.project_create("p", "default", "again").await.unwrap_err();
        assert!(matches!(err, IdentityError::Conflict(_)), "{err:?}");
        assert!(err.public_message().contains("Duplicate entry"), "{err}");

        id.user_create("u", "default", "pw", None).await.unwrap();
        assert!(matches!(
            id.user_create("u", "default", "other", None).await,
            Err(IdentityError::Conflict(_))
        ));
        assert_eq!(status(id.user_create("admin", "default", "pw", None).await), 409);

        // Names are unique per domain, and case matters.
        sqlx::query(
            "INSERT INTO identity_domains (id, name, created_at) VALUES ('other', 'Other', 0)",
        )
        .execute(f.db.writer())
        .await
        .unwrap();
        let p = id.project_create("p", "other", "").await.unwrap();
        assert_eq!(p.domain_id, "other");
        id.project_create("P", "default", "").await.unwrap();
        id.user_create("u", "other", "pw", None).await.unwrap();
        assert_eq!(count(&f, "SELECT COUNT(*) FROM identity_projects").await, 4);
        assert_eq!(count(&f, "SELECT COUNT(*) FROM identity_users").await, 3);

        assert_eq!(status(id.project_create("q", "nowhere", "").await), 404);
        assert_eq!(status(id.user_create("v", "nowhere", "pw", None).await), 404);
        assert_eq!(status(id.project_create("", "default", "").await), 400);
        assert_eq!(status(id.project_create("  ", "default", "").await), 400);
        assert_eq!(status(id.project_create(&"x".repeat(65), "default", "").await), 400);
        id.project_create(&"x".repeat(64), "default", "").await.unwrap();
        assert_eq!(status(id.user_create("", "default", "pw", None).await), 400);
        assert_eq!(status(id.user_create("w", "default", &"p".repeat(4097), None).await), 400);
    }

    #[tokio::test]
    async fn grants_and_role_lookups_of_unknown_objects_are_404() {
        let f = fixture().await;
        let id = &f.identity;
        let project = id.project_create("p", "default", "").await.unwrap();
        let user = id.user_create("u", "default", "pw", None).await.unwrap();
        let member = id.role_by_name("member").await.unwrap();

        let unknown = crate::new_id();
        let err = id.role_grant(&project.id, &user.id, &unknown).await.unwrap_err();
        assert!(matches!(&err, IdentityError::NotFound(m) if m.contains("role")), "{err:?}");
        let err = id.role_grant(&project.id, &unknown, &member.id).await.unwrap_err();
        assert!(matches!(&err, IdentityError::NotFound(m) if m.contains("user")), "{err:?}");
        let err = id.role_grant(&unknown, &user.id, &member.id).await.unwrap_err();
        assert!(matches!(&err, IdentityError::NotFound(m) if m.contains("project")), "{err:?}");
        // A role name is not a role id.
        assert_eq!(status(id.role_grant(&project.id, &user.id, "member").await), 404);
        assert_eq!(count(&f, "SELECT COUNT(*) FROM identity_assignments").await, 2);

        assert_eq!(status(id.role_by_name("nope").await), 404);
        assert_eq!(status(id.role_by_name("").await), 404);
        let admin = id.role_by_name("Admin").await.unwrap();
        assert_eq!(admin.name, "admin");
        assert_ne!(admin.id, member.id);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_creates_of_one_name_give_one_success() {
        let f = fixture().await;
        let other = second_server(&f).await;
        let servers = [f.identity.clone(), other];

        let runs: Vec<_> = (0..6)
            .map(|i| {
                let identity = servers[i % 2].clone();
                tokio::spawn(async move { identity.project_create("race", "default", "").await })
            })
            .collect();
        let mut created = 0;
        for run in runs {
            match run.await.unwrap() {
                Ok(_) => created += 1,
                Err(e) => assert_eq!(e.status(), 409, "{e:?}"),
            }
        }
        assert_eq!(created, 1);
        assert_eq!(
            count(&f, "SELECT COUNT(*) FROM identity_projects WHERE name = 'race'").await,
            1
        );

        let runs: Vec<_> = (0..4)
            .map(|i| {
                let identity = servers[i % 2].clone();
                tokio::spawn(
                    async move { identity.user_create("racer", "default", "pw", None).await },
                )
            })
            .collect();
        let mut created = 0;
        for run in runs {
            match run.await.unwrap() {
                Ok(_) => created += 1,
                Err(e) => assert_eq!(e.status(), 409, "{e:?}"),
            }
        }
        assert_eq!(created, 1);
        assert_eq!(count(&f, "SELECT COUNT(*) FROM identity_users WHERE name = 'racer'").await, 1);

        // Concurrent identical grants all succeed, once stored.
        let project = f.identity.project_create("g", "default", "").await.unwrap();
        let user = f.identity.user_create("g", "default", "pw", None).await.unwrap();
        let member = f.identity.role_by_name("member").await.unwrap();
        let runs: Vec<_> = (0..4)
            .map(|i| {
                let identity = servers[i % 2].clone();
                let (p, u, r) = (project.id.clone(), user.id.clone(), member.id.clone());
                tokio::spawn(async move { identity.role_grant(&p, &u, &r).await })
            })
            .collect();
        for run in runs {
            run.await.unwrap().unwrap();
        }
        let sql =
            format!("SELECT COUNT(*) FROM identity_assignments WHERE actor_id = '{}'", user.id);
        assert_eq!(count(&f, &sql).await, 1);
    }
}
