//! Rows of `ovn_revisions`: which revision of each resource the OVN Northbound DB holds.

use sqlx::Row;

use crate::{StoreError, Tx};

/// Resource types tracked, in the order maintenance creates them (deletes run in reverse).
pub const RESOURCE_TYPES: &[&str] =
    &["networks", "security_groups", "subnets", "ports", "routers", "floatingips"];

/// Records a resource just created in our database and not yet written to NB (revision -1),
/// or revives a row that was marked deleted.
pub async fn ovn_revision_create(
    tx: &mut Tx,
    resource_type: &str,
    resource_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ovn_revisions (resource_type, resource_id, revision_number, deleted) VALUES ($1, $2, -1, 0) \
         ON CONFLICT (resource_type, resource_id) DO UPDATE SET revision_number = -1, deleted = 0",
    )
    .bind(resource_type)
    .bind(resource_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a resource deleted from our database; its NB rows are removed next.
pub async fn ovn_revision_mark_deleted(
    tx: &mut Tx,
    resource_type: &str,
    resource_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ovn_revisions (resource_type, resource_id, revision_number, deleted) VALUES ($1, $2, -1, 1) \
         ON CONFLICT (resource_type, resource_id) DO UPDATE SET deleted = 1",
    )
    .bind(resource_type)
    .bind(resource_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records that NB holds `revision` of the resource, unless a higher one was recorded already.
pub async fn ovn_revision_written<'e, E>(
    ex: E,
    resource_type: &str,
    resource_id: &str,
    revision: i64,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE ovn_revisions SET revision_number = $1 \
         WHERE resource_type = $2 AND resource_id = $3 AND revision_number < $1 AND deleted = 0",
    )
    .bind(revision)
    .bind(resource_type)
    .bind(resource_id)
    .execute(ex)
    .await?;
    Ok(())
}

/// Forgets a deleted resource once NB no longer has it.
pub async fn ovn_revision_forget<'e, E>(
    ex: E,
    resource_type: &str,
    resource_id: &str,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "DELETE FROM ovn_revisions WHERE resource_type = $1 AND resource_id = $2 AND deleted = 1",
    )
    .bind(resource_type)
    .bind(resource_id)
    .execute(ex)
    .await?;
    Ok(())
}

/// A resource whose NB state lags our database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lagging {
    /// `networks`, `subnets`, `ports`.
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// True when the resource is gone from our database.
    pub deleted: bool,
}

/// Every tracked resource whose recorded NB revision differs from its current revision, and
/// every deleted one.
pub async fn ovn_revisions_lagging<'e, E>(ex: E) -> Result<Vec<Lagging>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any> + Copy,
{
    let mut out = Vec::new();
    for table in RESOURCE_TYPES {
        let sql = format!(
            "SELECT r.resource_id, r.deleted FROM ovn_revisions r LEFT JOIN {table} t ON t.id = r.resource_id \
             WHERE r.resource_type = $1 AND (r.deleted = 1 OR t.id IS NULL OR t.revision_number <> r.revision_number)"
        );
        let rows = sqlx::query(&sql).bind(*table).fetch_all(ex).await?;
        for r in rows {
            out.push(Lagging {
                resource_type: (*table).to_string(),
                resource_id: r.try_get("resource_id")?,
                deleted: r.try_get::<i64, _>("deleted")? != 0,
            });
        }
    }
    Ok(out)
}
