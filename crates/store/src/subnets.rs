//! Rows of `subnets`.

use crate::{body_text, delete_row, get_row, guarded, rows, ResourceRow, StoreError, Tx};

const COLUMNS: &str = "id, project_id, revision_number, body";

/// Inserts a new subnet.
pub async fn subnet_insert(
    tx: &mut Tx,
    row: &ResourceRow,
    network_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO subnets (id, network_id, project_id, revision_number, body) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.id)
    .bind(network_id)
    .bind(&row.project_id)
    .bind(row.revision_number)
    .bind(body_text(row))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One subnet by id.
pub async fn subnet_get<'e, E>(ex: E, id: &str) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    get_row(ex, "subnets", id).await
}

/// Every subnet (visibility is decided by the caller from the networks it can see).
pub async fn subnet_list<'e, E>(ex: E) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    rows(sqlx::query(&format!("SELECT {COLUMNS} FROM subnets")).fetch_all(ex).await?)
}

/// The subnets of one network.
pub async fn subnets_of_network<'e, E>(
    ex: E,
    network_id: &str,
) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    rows(
        sqlx::query(&format!("SELECT {COLUMNS} FROM subnets WHERE network_id = $1 ORDER BY body"))
            .bind(network_id)
            .fetch_all(ex)
            .await?,
    )
}

/// `(subnet id, network id)` of every subnet: enough to list networks with their subnets.
pub async fn subnet_network_pairs<'e, E>(ex: E) -> Result<Vec<(String, String)>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    use sqlx::Row;
    let list = sqlx::query("SELECT id, network_id FROM subnets").fetch_all(ex).await?;
    list.iter()
        .map(|r| Ok((r.try_get::<String, _>("id")?, r.try_get::<String, _>("network_id")?)))
        .collect()
}

/// Replaces a subnet's row if its stored revision is still `expected_revision`.
pub async fn subnet_update(
    tx: &mut Tx,
    row: &ResourceRow,
    expected_revision: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE subnets SET revision_number = $1, body = $2 WHERE id = $3 AND revision_number = $4",
    )
    .bind(row.revision_number)
    .bind(body_text(row))
    .bind(&row.id)
    .bind(expected_revision)
    .execute(&mut **tx)
    .await?;
    guarded(done)
}

/// Deletes a subnet row (its allocations must be gone).
pub async fn subnet_delete(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    delete_row(tx, "subnets", id).await
}
