//! Rows of `routers`, and the ports a router owns (found by `ports.device_id`).

use crate::{body_text, delete_row, get_row, guarded, rows, ResourceRow, Scope, StoreError, Tx};

const COLUMNS: &str = "id, project_id, revision_number, body";

/// Inserts a new router.
pub async fn router_insert(tx: &mut Tx, row: &ResourceRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO routers (id, project_id, revision_number, body) VALUES ($1, $2, $3, $4)",
    )
    .bind(&row.id)
    .bind(&row.project_id)
    .bind(row.revision_number)
    .bind(body_text(row))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One router by id.
pub async fn router_get<'e, E>(ex: E, id: &str) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    get_row(ex, "routers", id).await
}

/// Routers visible in `scope`: a project sees its own.
pub async fn router_list<'e, E>(ex: E, scope: Scope<'_>) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = match scope {
        Scope::All => sqlx::query(&format!("SELECT {COLUMNS} FROM routers")).fetch_all(ex).await?,
        Scope::Project(p) => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM routers WHERE project_id = $1"))
                .bind(p)
                .fetch_all(ex)
                .await?
        }
    };
    rows(list)
}

/// Replaces a router's row if its stored revision is still `expected_revision`.
pub async fn router_update(
    tx: &mut Tx,
    row: &ResourceRow,
    expected_revision: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE routers SET revision_number = $1, body = $2 WHERE id = $3 AND revision_number = $4",
    )
    .bind(row.revision_number)
    .bind(body_text(row))
    .bind(&row.id)
    .bind(expected_revision)
    .execute(&mut **tx)
    .await?;
    guarded(done)
}

/// Deletes a router row (its ports must be gone).
pub async fn router_delete(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    delete_row(tx, "routers", id).await
}

/// The ports whose `device_id` is `device_id` and whose device owner is one of `owners`.
pub async fn ports_of_device<'e, E>(
    ex: E,
    device_id: &str,
    owners: &[&str],
) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let placeholders: Vec<String> = (0..owners.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM ports WHERE device_id = $1 AND device_owner IN ({}) ORDER BY id",
        if placeholders.is_empty() { "NULL".into() } else { placeholders.join(", ") }
    );
    let mut query = sqlx::query(&sql).bind(device_id);
    for o in owners {
        query = query.bind(*o);
    }
    rows(query.fetch_all(ex).await?)
}

/// The ports of any device with one of `owners` on the networks `network_ids`.
pub async fn ports_of_owner_on_networks<'e, E>(
    ex: E,
    owner: &str,
    network_ids: &[String],
) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if network_ids.is_empty() {
        return Ok(vec![]);
    }
    let placeholders: Vec<String> = (0..network_ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM ports WHERE device_owner = $1 AND network_id IN ({}) ORDER BY id",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(owner);
    for n in network_ids {
        query = query.bind(n);
    }
    rows(query.fetch_all(ex).await?)
}
