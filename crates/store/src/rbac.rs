//! Rows of `rbac_policies`.

use sqlx::Row;

use crate::{body_text, delete_row, get_row, rows, ResourceRow, Scope, StoreError, Tx};

const COLUMNS: &str = "id, project_id, revision_number, body";

/// The keys of an RBAC entry.
#[derive(Debug, Clone, Copy)]
pub struct RbacKeys<'a> {
    /// `network`.
    pub object_type: &'a str,
    /// The object's id.
    pub object_id: &'a str,
    /// `access_as_shared` or `access_as_external`.
    pub action: &'a str,
    /// A project id or `*`.
    pub target_tenant: &'a str,
}

/// Inserts an entry; the same (object, action, target) twice gives
/// [`StoreError::UniqueViolation`].
pub async fn rbac_insert(
    tx: &mut Tx,
    row: &ResourceRow,
    keys: RbacKeys<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_tenant, revision_number, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(&row.project_id)
    .bind(keys.object_type)
    .bind(keys.object_id)
    .bind(keys.action)
    .bind(keys.target_tenant)
    .bind(row.revision_number)
    .bind(body_text(row))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One entry by id.
pub async fn rbac_get<'e, E>(ex: E, id: &str) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    get_row(ex, "rbac_policies", id).await
}

/// Entries visible in `scope` (a project sees the entries it owns).
pub async fn rbac_list<'e, E>(ex: E, scope: Scope<'_>) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = match scope {
        Scope::All => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM rbac_policies")).fetch_all(ex).await?
        }
        Scope::Project(p) => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM rbac_policies WHERE project_id = $1"))
                .bind(p)
                .fetch_all(ex)
                .await?
        }
    };
    rows(list)
}

/// `(action)`s on `object_id` that target `project` specifically.
pub async fn rbac_actions_for<'e, E>(
    ex: E,
    object_id: &str,
    project: &str,
) -> Result<Vec<String>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list =
        sqlx::query("SELECT action FROM rbac_policies WHERE object_id = $1 AND target_tenant = $2")
            .bind(object_id)
            .bind(project)
            .fetch_all(ex)
            .await?;
    list.iter().map(|r| r.try_get::<String, _>("action").map_err(StoreError::from)).collect()
}

/// `(object id, action)` of every network entry targeting `project` specifically.
pub async fn rbac_networks_for<'e, E>(
    ex: E,
    project: &str,
) -> Result<Vec<(String, String)>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = sqlx::query("SELECT object_id, action FROM rbac_policies WHERE object_type = 'network' AND target_tenant = $1")
        .bind(project)
        .fetch_all(ex)
        .await?;
    list.iter().map(|r| Ok((r.try_get("object_id")?, r.try_get("action")?))).collect()
}

/// Changes an entry's target.
pub async fn rbac_update(
    tx: &mut Tx,
    row: &ResourceRow,
    target_tenant: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE rbac_policies SET target_tenant = $1, body = $2, revision_number = $3 WHERE id = $4")
        .bind(target_tenant)
        .bind(body_text(row))
        .bind(row.revision_number)
        .bind(&row.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes an entry.
pub async fn rbac_delete(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    delete_row(tx, "rbac_policies", id).await
}

/// Deletes the `*` entry of (object, action), if any.
pub async fn rbac_delete_wildcard(
    tx: &mut Tx,
    object_id: &str,
    action: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM rbac_policies WHERE object_id = $1 AND action = $2 AND target_tenant = '*'",
    )
    .bind(object_id)
    .bind(action)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes every entry of an object.
pub async fn rbac_delete_object(tx: &mut Tx, object_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM rbac_policies WHERE object_id = $1")
        .bind(object_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
