//! SQL of the admin API: whole rows of domains, projects, users, roles and assignments.
//!
//! Same conventions as [`crate::sql`]: sqlx's `Any` driver, `$N` placeholders, booleans as 0/1
//! integers, absent strings as `''`, further attributes in the JSON `extra` column.

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::admin::extra_text;
use crate::IdentityError;

/// A domain, every column the API shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DomainDetail {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub extra: Map<String, Value>,
}

/// A top-level project (its parent is its domain), every column the API shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProjectDetail {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
    /// Further attributes, `tags` and `options` included.
    pub extra: Map<String, Value>,
}

/// A user without its password hash.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserDetail {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    /// '' when none.
    pub default_project_id: String,
    /// '' when none.
    pub description: String,
    /// '' when none.
    pub email: String,
    /// Further attributes, `options` included.
    pub extra: Map<String, Value>,
}

/// A (global) role.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RoleDetail {
    pub id: String,
    pub name: String,
    pub description: String,
    pub extra: Map<String, Value>,
}

/// One row of `identity_assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Assignment {
    pub actor_id: String,
    /// `project`, `domain` or `system`.
    pub target_type: String,
    pub target_id: String,
    pub role_id: String,
}

fn flag(row: &AnyRow, column: &str) -> Result<bool, IdentityError> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// The `extra` column as an object; anything unreadable counts as empty (and is logged).
fn extra(row: &AnyRow) -> Result<Map<String, Value>, IdentityError> {
    let text: String = row.try_get("extra")?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => {
            tracing::warn!("ignoring an identity row's `extra` column: not a JSON object");
            Ok(Map::new())
        }
    }
}

fn domain_from(row: &AnyRow) -> Result<DomainDetail, IdentityError> {
    Ok(DomainDetail {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        enabled: flag(row, "enabled")?,
        extra: extra(row)?,
    })
}

fn project_from(row: &AnyRow) -> Result<ProjectDetail, IdentityError> {
    Ok(ProjectDetail {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        domain_id: row.try_get("domain_id")?,
        description: row.try_get("description")?,
        enabled: flag(row, "enabled")?,
        extra: extra(row)?,
    })
}

fn user_from(row: &AnyRow) -> Result<UserDetail, IdentityError> {
    Ok(UserDetail {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        domain_id: row.try_get("domain_id")?,
        enabled: flag(row, "enabled")?,
        default_project_id: row.try_get("default_project_id")?,
        description: row.try_get("description")?,
        email: row.try_get("email")?,
        extra: extra(row)?,
    })
}

fn role_from(row: &AnyRow) -> Result<RoleDetail, IdentityError> {
    Ok(RoleDetail {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        extra: extra(row)?,
    })
}

fn assignment_from(row: &AnyRow) -> Result<Assignment, IdentityError> {
    Ok(Assignment {
        actor_id: row.try_get("actor_id")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        role_id: row.try_get("role_id")?,
    })
}

/// Equality filters: (column, value). Column names come from this crate, never from a request.
pub(crate) type Filters<'a> = [(&'static str, &'a str)];

/// `SELECT {columns} FROM {table} [WHERE c1 = $1 AND …] ORDER BY {order}`.
async fn select<'c, E, T>(
    ex: E,
    columns: &str,
    table: &str,
    filters: &Filters<'_>,
    order: &str,
    from: fn(&AnyRow) -> Result<T, IdentityError>,
) -> Result<Vec<T>, IdentityError>
where
    E: Executor<'c, Database = Any>,
{
    let mut sql = format!("SELECT {columns} FROM {table}");
    for (i, (column, _)) in filters.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(&format!("{column} = ${}", i + 1));
    }
    sql.push_str(&format!(" ORDER BY {order}"));
    let mut query = sqlx::query(&sql);
    for (_, value) in filters {
        query = query.bind(*value);
    }
    let rows = query.fetch_all(ex).await?;
    rows.iter().map(from).collect()
}

const DOMAIN_COLUMNS: &str = "id, name, description, enabled, extra";
const PROJECT_COLUMNS: &str = "id, name, domain_id, description, enabled, extra";
const USER_COLUMNS: &str =
    "id, name, domain_id, enabled, default_project_id, description, email, extra";
const ROLE_COLUMNS: &str = "id, name, description, extra";
const ASSIGNMENT_COLUMNS: &str = "actor_id, target_type, target_id, role_id";

/// Domains matching every filter, by name.
pub(crate) async fn domains<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    filters: &Filters<'_>,
) -> Result<Vec<DomainDetail>, IdentityError> {
    select(ex, DOMAIN_COLUMNS, "identity_domains", filters, "name, id", domain_from).await
}

/// Projects matching every filter, by name.
pub(crate) async fn projects<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    filters: &Filters<'_>,
) -> Result<Vec<ProjectDetail>, IdentityError> {
    select(ex, PROJECT_COLUMNS, "identity_projects", filters, "name, id", project_from).await
}

/// Users matching every filter, by name.
pub(crate) async fn users<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    filters: &Filters<'_>,
) -> Result<Vec<UserDetail>, IdentityError> {
    select(ex, USER_COLUMNS, "identity_users", filters, "name, id", user_from).await
}

/// Roles matching every filter, by name.
pub(crate) async fn roles<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    filters: &Filters<'_>,
) -> Result<Vec<RoleDetail>, IdentityError> {
    select(ex, ROLE_COLUMNS, "identity_roles", filters, "name, id", role_from).await
}

/// Assignments matching every filter.
pub(crate) async fn assignments<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    filters: &Filters<'_>,
) -> Result<Vec<Assignment>, IdentityError> {
    let order = "actor_id, target_type, target_id, role_id";
    select(ex, ASSIGNMENT_COLUMNS, "identity_assignments", filters, order, assignment_from).await
}

/// The first row of a filtered select, if any.
pub(crate) fn first<T>(mut rows: Vec<T>) -> Option<T> {
    if rows.is_empty() {
        None
    } else {
        Some(rows.swap_remove(0))
    }
}

/// Rewrites a project's mutable columns.
pub(crate) async fn project_update<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    p: &ProjectDetail,
) -> Result<(), IdentityError> {
    sqlx::query(
        "UPDATE identity_projects SET name = $1, description = $2, enabled = $3, extra = $4 \
         WHERE id = $5",
    )
    .bind(&p.name)
    .bind(&p.description)
    .bind(i64::from(p.enabled))
    .bind(extra_text(&p.extra))
    .bind(&p.id)
    .execute(ex)
    .await?;
    Ok(())
}

/// Rewrites a user's mutable columns, its password hash excepted.
pub(crate) async fn user_update<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    u: &UserDetail,
) -> Result<(), IdentityError> {
    sqlx::query(
        "UPDATE identity_users SET name = $1, enabled = $2, default_project_id = $3, \
         description = $4, email = $5, extra = $6 WHERE id = $7",
    )
    .bind(&u.name)
    .bind(i64::from(u.enabled))
    .bind(&u.default_project_id)
    .bind(&u.description)
    .bind(&u.email)
    .bind(extra_text(&u.extra))
    .bind(&u.id)
    .execute(ex)
    .await?;
    Ok(())
}

/// Replaces a user's password hash ('' for none).
pub(crate) async fn user_set_password<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    user_id: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), IdentityError> {
    sqlx::query(
        "UPDATE identity_users SET password_hash = $1, password_changed_at = $2 WHERE id = $3",
    )
    .bind(password_hash)
    .bind(now)
    .bind(user_id)
    .execute(ex)
    .await?;
    Ok(())
}

/// Deletes one row by id; true if it existed.
pub(crate) async fn delete_by_id<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    table: &'static str,
    id: &str,
) -> Result<bool, IdentityError> {
    let done =
        sqlx::query(&format!("DELETE FROM {table} WHERE id = $1")).bind(id).execute(ex).await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the assignments of a user (as actor).
pub(crate) async fn delete_actor_assignments<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    actor_id: &str,
) -> Result<(), IdentityError> {
    sqlx::query("DELETE FROM identity_assignments WHERE actor_id = $1")
        .bind(actor_id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Deletes the assignments on a target.
pub(crate) async fn delete_target_assignments<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    target_type: &str,
    target_id: &str,
) -> Result<(), IdentityError> {
    sqlx::query("DELETE FROM identity_assignments WHERE target_type = $1 AND target_id = $2")
        .bind(target_type)
        .bind(target_id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Deletes one project assignment; true if it existed.
pub(crate) async fn delete_project_assignment<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    project_id: &str,
    user_id: &str,
    role_id: &str,
) -> Result<bool, IdentityError> {
    let done = sqlx::query(
        "DELETE FROM identity_assignments \
         WHERE actor_id = $1 AND target_type = 'project' AND target_id = $2 AND role_id = $3",
    )
    .bind(user_id)
    .bind(project_id)
    .bind(role_id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Stores a new role; false if a role of that name (or id) exists.
pub(crate) async fn role_insert<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    role: &RoleDetail,
    now: i64,
) -> Result<bool, IdentityError> {
    let done = sqlx::query(
        "INSERT INTO identity_roles (id, name, description, extra, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&role.id)
    .bind(&role.name)
    .bind(&role.description)
    .bind(extra_text(&role.extra))
    .bind(now)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}
