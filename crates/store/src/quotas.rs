//! Rows of `quotas` and `quota_usage`, and usage counts.

use sqlx::Row;

use crate::{StoreError, Tx};

/// The table counted for each quota resource.
pub fn table_of(resource: &str) -> Option<&'static str> {
    Some(match resource {
        "network" => "networks",
        "subnet" => "subnets",
        "port" => "ports",
        "security_group" => "security_groups",
        "security_group_rule" => "security_group_rules",
        "rbac_policy" => "rbac_policies",
        "router" => "routers",
        "floatingip" => "floatingips",
        _ => return None,
    })
}

/// Overrides of one project.
pub async fn quota_overrides<'e, E>(
    ex: E,
    project_id: &str,
) -> Result<Vec<(String, i64)>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query("SELECT resource, quota_limit FROM quotas WHERE project_id = $1")
        .bind(project_id)
        .fetch_all(ex)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("resource")?, r.try_get("quota_limit")?))).collect()
}

/// Projects that have overrides.
pub async fn quota_projects<'e, E>(ex: E) -> Result<Vec<String>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query("SELECT DISTINCT project_id FROM quotas ORDER BY project_id")
        .fetch_all(ex)
        .await?;
    rows.iter().map(|r| r.try_get::<String, _>("project_id").map_err(StoreError::from)).collect()
}

/// Sets one override.
pub async fn quota_set(
    tx: &mut Tx,
    project_id: &str,
    resource: &str,
    limit: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO quotas (project_id, resource, quota_limit) VALUES ($1, $2, $3) \
         ON CONFLICT (project_id, resource) DO UPDATE SET quota_limit = $3",
    )
    .bind(project_id)
    .bind(resource)
    .bind(limit)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Drops every override of a project.
pub async fn quota_reset(tx: &mut Tx, project_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM quotas WHERE project_id = $1")
        .bind(project_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Takes the (project, resource) usage row lock for the rest of the transaction.
pub async fn quota_lock(tx: &mut Tx, project_id: &str, resource: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO quota_usage (project_id, resource, serial) VALUES ($1, $2, 0) \
         ON CONFLICT (project_id, resource) DO NOTHING",
    )
    .bind(project_id)
    .bind(resource)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE quota_usage SET serial = serial + 1 WHERE project_id = $1 AND resource = $2",
    )
    .bind(project_id)
    .bind(resource)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many `resource`s the project has.
pub async fn usage<'e, E>(ex: E, project_id: &str, resource: &str) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let Some(table) = table_of(resource) else { return Ok(0) };
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE project_id = $1");
    let row = sqlx::query(&sql).bind(project_id).fetch_one(ex).await?;
    Ok(row.try_get::<i64, _>("n")?)
}
