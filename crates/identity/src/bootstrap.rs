//! `neutrino bootstrap`: the data every deployment starts with, created idempotently.
//!
//! Like `keystone-manage bootstrap`: the `Default` domain (id `default`), the roles `admin`,
//! `member`, `reader`, `manager` and `service` with the implications `admin → member → reader`
//! and `manager → member`, the admin project, the admin user holding `admin` on that project
//! (and on the system, as Keystone's bootstrap grants), and the region.
//!
//! Every row is written with `INSERT … ON CONFLICT DO NOTHING` and then read back by its unique
//! name, inside one transaction, so a rerun creates nothing twice and two servers bootstrapping
//! at once both succeed with the same ids (on PostgreSQL the second insert waits for the first
//! transaction and then does nothing; on SQLite writers are serialised). Password hashing
//! happens before the transaction so the write lock is never held across Argon2.

use rand::distributions::{Alphanumeric, DistString};
use sqlx::Row;

use crate::sql;
use crate::{new_id, now_micros, with_retry, Identity, IdentityError};

/// Role names bootstrap creates.
const BOOTSTRAP_ROLES: [&str; 5] = ["admin", "member", "reader", "manager", "service"];

/// (prior, implied) role names bootstrap links.
const BOOTSTRAP_IMPLICATIONS: [(&str, &str); 3] =
    [("admin", "member"), ("member", "reader"), ("manager", "member")];

/// Length of a generated admin password.
const GENERATED_PASSWORD_LEN: usize = 24;

/// What [`Identity::bootstrap`] did.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapOutcome {
    /// Id of the admin user.
    pub admin_user_id: String,
    /// Id of the admin project.
    pub admin_project_id: String,
    /// The password generated for a newly created admin user when none was given; show it to
    /// the operator once. None when a password was given or the user already existed.
    pub generated_password: Option<String>,
}

impl std::fmt::Debug for BootstrapOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapOutcome")
            .field("admin_user_id", &self.admin_user_id)
            .field("admin_project_id", &self.admin_project_id)
            .field("generated_password", &self.generated_password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What to do with the admin user's password, decided before the transaction.
enum PasswordPlan {
    /// Leave the stored hash alone.
    Keep,
    /// Create the user with this hash if missing; `generated` if we made the password up.
    Create { hash: String, generated: Option<String> },
    /// Create the user with this hash if missing, else replace its hash (a new password).
    Set { hash: String },
}

/// Ids the transaction produced.
struct Written {
    user_id: String,
    project_id: String,
    /// The user row was inserted by this transaction.
    user_created: bool,
    /// An existing user's password was replaced.
    password_changed: bool,
}

impl Identity {
    /// Creates or completes the bootstrap data (see the module doc). Idempotent.
    ///
    /// `admin_password`: `Some` sets (or updates) the admin user's password; `None` leaves an
    /// existing admin user alone, or creates it with a random password returned in
    /// [`BootstrapOutcome::generated_password`]. Changing the password of an existing admin
    /// revokes the tokens it held.
    pub async fn bootstrap(
        &self,
        admin_password: Option<&str>,
    ) -> Result<BootstrapOutcome, IdentityError> {
        let existing = sql::user_by_name(self.db.reader(), "default", &self.cfg.admin_user).await?;
        let plan = match (admin_password, &existing) {
            (None, Some(_)) => PasswordPlan::Keep,
            (None, None) => {
                let password =
                    Alphanumeric.sample_string(&mut rand::thread_rng(), GENERATED_PASSWORD_LEN);
                let hash = self.passwords.hash(&password).await?;
                PasswordPlan::Create { hash, generated: Some(password) }
            }
            (Some(p), Some(user))
                if !user.password_hash.is_empty()
                    && self.passwords.verify(p, &user.password_hash).await? =>
            {
                // Same password: rewriting the hash would only revoke the admin's tokens.
                PasswordPlan::Keep
            }
            (Some(p), Some(_)) => PasswordPlan::Set { hash: self.passwords.hash(p).await? },
            (Some(p), None) => {
                PasswordPlan::Create { hash: self.passwords.hash(p).await?, generated: None }
            }
        };

        let written = with_retry(|| self.bootstrap_tx(&plan)).await?;
        if written.password_changed {
            self.revoke_user_tokens(&written.user_id).await?;
        }
        let generated_password = match (&plan, written.user_created) {
            (PasswordPlan::Create { generated, .. }, true) => generated.clone(),
            _ => None,
        };
        tracing::info!(
            user = %written.user_id,
            project = %written.project_id,
            user_created = written.user_created,
            password_changed = written.password_changed,
            "identity bootstrap done"
        );
        Ok(BootstrapOutcome {
            admin_user_id: written.user_id,
            admin_project_id: written.project_id,
            generated_password,
        })
    }

    async fn bootstrap_tx(&self, plan: &PasswordPlan) -> Result<Written, IdentityError> {
        let now = now_micros();
        let mut tx = self.db.begin().await?;

        sqlx::query(
            "INSERT INTO identity_domains (id, name, description, enabled, extra, created_at) \
             VALUES ('default', 'Default', 'The default domain', 1, '{}', $1) \
             ON CONFLICT DO NOTHING",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;

        let mut role_ids = Vec::with_capacity(BOOTSTRAP_ROLES.len());
        for name in BOOTSTRAP_ROLES {
            sqlx::query(
                "INSERT INTO identity_roles (id, name, description, extra, created_at) \
                 VALUES ($1, $2, '', '{}', $3) ON CONFLICT DO NOTHING",
            )
            .bind(new_id())
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query("SELECT id FROM identity_roles WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
            role_ids.push((name, row.try_get::<String, _>("id")?));
        }
        let role_id = |name: &str| -> String {
            role_ids.iter().find(|(n, _)| *n == name).map(|(_, id)| id.clone()).unwrap_or_default()
        };
        for (prior, implied) in BOOTSTRAP_IMPLICATIONS {
            sqlx::query(
                "INSERT INTO identity_role_implications (prior_role_id, implied_role_id) \
                 VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(role_id(prior))
            .bind(role_id(implied))
            .execute(&mut *tx)
            .await?;
        }

        sqlx::query(
            "INSERT INTO identity_projects \
             (id, name, domain_id, parent_id, description, enabled, extra, created_at) \
             VALUES ($1, $2, 'default', 'default', 'Bootstrap project for initializing the cloud.', \
             1, '{}', $3) ON CONFLICT DO NOTHING",
        )
        .bind(new_id())
        .bind(&self.cfg.admin_project)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let project = sql::project_by_name(&mut *tx, "default", &self.cfg.admin_project)
            .await?
            .ok_or_else(|| IdentityError::Internal("admin project missing after insert".into()))?;

        let (user_created, password_changed) = match plan {
            PasswordPlan::Keep => (false, false),
            PasswordPlan::Create { hash, .. } | PasswordPlan::Set { hash } => {
                let inserted = sqlx::query(
                    "INSERT INTO identity_users (id, name, domain_id, enabled, password_hash, \
                     default_project_id, description, email, extra, created_at, \
                     password_changed_at) \
                     VALUES ($1, $2, 'default', 1, $3, '', '', '', '{}', $4, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(new_id())
                .bind(&self.cfg.admin_user)
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                let changed = !inserted && matches!(plan, PasswordPlan::Set { .. });
                if changed {
                    // Keystone's bootstrap also re-enables the admin user.
                    sqlx::query(
                        "UPDATE identity_users SET password_hash = $1, enabled = 1, \
                         password_changed_at = $2 WHERE domain_id = 'default' AND name = $3",
                    )
                    .bind(hash)
                    .bind(now)
                    .bind(&self.cfg.admin_user)
                    .execute(&mut *tx)
                    .await?;
                }
                (inserted, changed)
            }
        };
        let Some(user) = sql::user_by_name(&mut *tx, "default", &self.cfg.admin_user).await? else {
            // Planned as existing but deleted since: the plan is stale, so is this transaction.
            return Err(IdentityError::Conflict(
                "the admin user was deleted during bootstrap; run bootstrap again".into(),
            ));
        };

        let admin = role_id("admin");
        for (target_type, target_id) in [("project", project.id.as_str()), ("system", "all")] {
            sqlx::query(
                "INSERT INTO identity_assignments (actor_id, target_type, target_id, role_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&user.id)
            .bind(target_type)
            .bind(target_id)
            .bind(&admin)
            .execute(&mut *tx)
            .await?;
        }

        sqlx::query(
            "INSERT INTO identity_regions (id, description, parent_region_id, created_at) \
             VALUES ($1, '', '', $2) ON CONFLICT DO NOTHING",
        )
        .bind(&self.cfg.region)
        .bind(now)
        .execute(&mut *tx)
        .await?;

        tx.commit().await?;
        Ok(Written { user_id: user.id, project_id: project.id, user_created, password_changed })
    }
}
