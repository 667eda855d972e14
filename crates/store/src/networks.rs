//! Rows of `networks`.

use crate::{body_text, delete_row, get_row, guarded, rows, ResourceRow, Scope, StoreError, Tx};

const COLUMNS: &str = "id, project_id, revision_number, body";

/// Flags of a network kept as columns for visibility queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkFlags {
    /// Shared with every project.
    pub shared: bool,
    /// External network (visible to every project).
    pub external: bool,
}

/// Inserts a new network.
pub async fn network_insert(
    tx: &mut Tx,
    row: &ResourceRow,
    flags: NetworkFlags,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO networks (id, project_id, shared, external, revision_number, body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.id)
    .bind(&row.project_id)
    .bind(i64::from(flags.shared))
    .bind(i64::from(flags.external))
    .bind(row.revision_number)
    .bind(body_text(row))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One network by id.
pub async fn network_get<'e, E>(ex: E, id: &str) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    get_row(ex, "networks", id).await
}

/// Networks visible in `scope`: own, shared and external ones for a project.
pub async fn network_list<'e, E>(ex: E, scope: Scope<'_>) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = match scope {
        Scope::All => sqlx::query(&format!("SELECT {COLUMNS} FROM networks")).fetch_all(ex).await?,
        Scope::Project(p) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM networks WHERE project_id = $1 OR shared = 1 OR external = 1 \
                 OR id IN (SELECT object_id FROM rbac_policies WHERE object_type = 'network' AND target_tenant = $1)"
            ))
            .bind(p)
            .fetch_all(ex)
            .await?
        }
    };
    rows(list)
}

/// Replaces a network's row if its stored revision is still `expected_revision`.
pub async fn network_update(
    tx: &mut Tx,
    row: &ResourceRow,
    flags: NetworkFlags,
    expected_revision: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE networks SET revision_number = $1, body = $2, shared = $3, external = $4 \
         WHERE id = $5 AND revision_number = $6",
    )
    .bind(row.revision_number)
    .bind(body_text(row))
    .bind(i64::from(flags.shared))
    .bind(i64::from(flags.external))
    .bind(&row.id)
    .bind(expected_revision)
    .execute(&mut **tx)
    .await?;
    guarded(done)
}

/// Deletes a network row (its subnets, ports and segments must be gone).
pub async fn network_delete(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    delete_row(tx, "networks", id).await
}
