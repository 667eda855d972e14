//! Queries on the identity tables (`migrations/0002_identity.sql` in the store crate).
//!
//! Runtime queries through sqlx's `Any` driver with `$N` placeholders, so the same text runs on
//! SQLite and PostgreSQL. Only `i64` and `String` are decoded; booleans are 0/1 integers and
//! absent optional strings are stored as `''`.

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::token::KNOWN_ROLES;
use crate::IdentityError;

/// A domain row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainRow {
    pub id: String,
    pub name: String,
    pub enabled: bool,
}

/// A project row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProjectRow {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
}

/// A user row. `password_hash` is '' when the user has no password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct UserRow {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub password_hash: String,
    pub default_project_id: String,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is not a password, but it has no business in logs either.
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("domain_id", &self.domain_id)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A role row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleRow {
    pub id: String,
    pub name: String,
}

fn flag(row: &AnyRow, column: &str) -> Result<bool, IdentityError> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

fn domain_from(row: &AnyRow) -> Result<DomainRow, IdentityError> {
    Ok(DomainRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        enabled: flag(row, "enabled")?,
    })
}

fn project_from(row: &AnyRow) -> Result<ProjectRow, IdentityError> {
    Ok(ProjectRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        domain_id: row.try_get("domain_id")?,
        enabled: flag(row, "enabled")?,
    })
}

fn user_from(row: &AnyRow) -> Result<UserRow, IdentityError> {
    Ok(UserRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        domain_id: row.try_get("domain_id")?,
        enabled: flag(row, "enabled")?,
        password_hash: row.try_get("password_hash")?,
        default_project_id: row.try_get("default_project_id")?,
    })
}

const DOMAIN_COLUMNS: &str = "SELECT id, name, enabled FROM identity_domains";
const PROJECT_COLUMNS: &str = "SELECT id, name, domain_id, enabled FROM identity_projects";
const USER_COLUMNS: &str = "SELECT id, name, domain_id, enabled, password_hash, \
                            default_project_id FROM identity_users";

/// The domain with this id.
pub(crate) async fn domain_get<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    id: &str,
) -> Result<Option<DomainRow>, IdentityError> {
    let row =
        sqlx::query(&format!("{DOMAIN_COLUMNS} WHERE id = $1")).bind(id).fetch_optional(ex).await?;
    row.as_ref().map(domain_from).transpose()
}

/// The domain with this name (exact match).
pub(crate) async fn domain_by_name<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    name: &str,
) -> Result<Option<DomainRow>, IdentityError> {
    let row = sqlx::query(&format!("{DOMAIN_COLUMNS} WHERE name = $1"))
        .bind(name)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(domain_from).transpose()
}

/// The project with this id.
pub(crate) async fn project_get<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    id: &str,
) -> Result<Option<ProjectRow>, IdentityError> {
    let row = sqlx::query(&format!("{PROJECT_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(project_from).transpose()
}

/// The project named `name` in domain `domain_id`.
pub(crate) async fn project_by_name<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    domain_id: &str,
    name: &str,
) -> Result<Option<ProjectRow>, IdentityError> {
    let row = sqlx::query(&format!("{PROJECT_COLUMNS} WHERE domain_id = $1 AND name = $2"))
        .bind(domain_id)
        .bind(name)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(project_from).transpose()
}

/// The user with this id.
pub(crate) async fn user_get<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    id: &str,
) -> Result<Option<UserRow>, IdentityError> {
    let row =
        sqlx::query(&format!("{USER_COLUMNS} WHERE id = $1")).bind(id).fetch_optional(ex).await?;
    row.as_ref().map(user_from).transpose()
}

/// The user named `name` in domain `domain_id`.
pub(crate) async fn user_by_name<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    domain_id: &str,
    name: &str,
) -> Result<Option<UserRow>, IdentityError> {
    let row = sqlx::query(&format!("{USER_COLUMNS} WHERE domain_id = $1 AND name = $2"))
        .bind(domain_id)
        .bind(name)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(user_from).transpose()
}

/// Every role.
pub(crate) async fn roles_all<'c, E: Executor<'c, Database = Any>>(
    ex: E,
) -> Result<Vec<RoleRow>, IdentityError> {
    let rows = sqlx::query("SELECT id, name FROM identity_roles").fetch_all(ex).await?;
    rows.iter().map(|r| Ok(RoleRow { id: r.try_get("id")?, name: r.try_get("name")? })).collect()
}

/// Every (prior role id, implied role id) pair.
pub(crate) async fn implications_all<'c, E: Executor<'c, Database = Any>>(
    ex: E,
) -> Result<Vec<(String, String)>, IdentityError> {
    let rows = sqlx::query("SELECT prior_role_id, implied_role_id FROM identity_role_implications")
        .fetch_all(ex)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("prior_role_id")?, r.try_get("implied_role_id")?))).collect()
}

/// Role ids assigned directly to `actor_id` on a target (`project`, `domain` or `system`).
pub(crate) async fn assigned_role_ids<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    actor_id: &str,
    target_type: &str,
    target_id: &str,
) -> Result<Vec<String>, IdentityError> {
    let rows = sqlx::query(
        "SELECT role_id FROM identity_assignments \
         WHERE actor_id = $1 AND target_type = $2 AND target_id = $3",
    )
    .bind(actor_id)
    .bind(target_type)
    .bind(target_id)
    .fetch_all(ex)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("role_id")?)).collect()
}

/// Sort key putting the well-known roles first, in their usual order, then the rest by name.
fn role_order(name: &str) -> (usize, String) {
    let known = KNOWN_ROLES.iter().position(|k| *k == name).unwrap_or(KNOWN_ROLES.len());
    (known, name.to_string())
}

/// The assigned roles plus every role they imply, directly or through a chain.
///
/// Cycles in the implication graph are harmless: a role is visited once.
pub(crate) fn implied_closure(
    assigned: &[String],
    implications: &[(String, String)],
    roles: &[RoleRow],
) -> Vec<RoleRow> {
    let mut implies: HashMap<&str, Vec<&str>> = HashMap::new();
    for (prior, implied) in implications {
        implies.entry(prior.as_str()).or_default().push(implied.as_str());
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = assigned.iter().map(String::as_str).collect();
    while let Some(id) = stack.pop() {
        if seen.insert(id) {
            if let Some(next) = implies.get(id) {
                stack.extend(next.iter().copied());
            }
        }
    }
    let mut out: Vec<RoleRow> =
        roles.iter().filter(|r| seen.contains(r.id.as_str())).cloned().collect();
    out.sort_by_key(|r| role_order(&r.name));
    out
}

/// Effective roles of `actor_id` on a target: assignments plus implied roles.
pub(crate) async fn effective_roles(
    pool: &sqlx::AnyPool,
    actor_id: &str,
    target_type: &str,
    target_id: &str,
) -> Result<Vec<RoleRow>, IdentityError> {
    let assigned = assigned_role_ids(pool, actor_id, target_type, target_id).await?;
    if assigned.is_empty() {
        return Ok(Vec::new());
    }
    let implications = implications_all(pool).await?;
    let roles = roles_all(pool).await?;
    Ok(implied_closure(&assigned, &implications, &roles))
}

/// Role rows for role names (as a token carries them); names with no role any more are skipped.
pub(crate) async fn roles_by_names(
    pool: &sqlx::AnyPool,
    names: &[String],
) -> Result<Vec<RoleRow>, IdentityError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let all = roles_all(pool).await?;
    Ok(names.iter().filter_map(|n| all.iter().find(|r| &r.name == n).cloned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: &str, name: &str) -> RoleRow {
        RoleRow { id: id.into(), name: name.into() }
    }

    #[test]
    fn closure_follows_chains_and_survives_cycles() {
        let roles = vec![
            role("r", "reader"),
            role("m", "member"),
            role("a", "admin"),
            role("g", "manager"),
            role("x", "extra"),
            role("y", "cyclic"),
        ];
        let implications = vec![
            ("a".to_string(), "m".to_string()),
            ("m".to_string(), "r".to_string()),
            ("g".to_string(), "m".to_string()),
            ("x".to_string(), "y".to_string()),
            ("y".to_string(), "x".to_string()),
        ];
        let names = |assigned: &[&str]| -> Vec<String> {
            let assigned: Vec<String> = assigned.iter().map(|s| s.to_string()).collect();
            implied_closure(&assigned, &implications, &roles).into_iter().map(|r| r.name).collect()
        };
        assert_eq!(names(&["a"]), ["admin", "member", "reader"]);
        assert_eq!(names(&["g"]), ["member", "reader", "manager"]);
        assert_eq!(names(&["r"]), ["reader"]);
        assert_eq!(names(&["x"]), ["cyclic", "extra"]);
        assert!(names(&[]).is_empty());
        // An assignment of a role that no longer exists contributes nothing.
        assert!(names(&["gone"]).is_empty());
    }
}
