//! Rows of `floatingips`. The association columns (`port_id`, `fixed_ip_address`,
//! `router_id`) are kept outside the body for lookups and the uniqueness of associations.

use crate::{body_text, delete_row, get_row, guarded, rows, ResourceRow, Scope, StoreError, Tx};

const COLUMNS: &str = "id, project_id, revision_number, body";

/// Columns of a floating IP kept outside its body.
#[derive(Debug, Clone, Copy)]
pub struct FloatingIpKeys<'a> {
    /// External network.
    pub floating_network_id: &'a str,
    /// The address, unique per external network.
    pub floating_ip_address: &'a str,
    /// Associated internal port.
    pub port_id: Option<&'a str>,
    /// Associated fixed address.
    pub fixed_ip_address: Option<&'a str>,
    /// Router of the association.
    pub router_id: Option<&'a str>,
}

/// Inserts a new floating IP. An address or an association already taken gives
/// [`StoreError::UniqueViolation`].
pub async fn floatingip_insert(
    tx: &mut Tx,
    row: &ResourceRow,
    keys: FloatingIpKeys<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO floatingips (id, project_id, floating_network_id, floating_ip_address, port_id, \
         fixed_ip_address, router_id, revision_number, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&row.id)
    .bind(&row.project_id)
    .bind(keys.floating_network_id)
    .bind(keys.floating_ip_address)
    .bind(keys.port_id)
    .bind(keys.fixed_ip_address)
    .bind(keys.router_id)
    .bind(row.revision_number)
    .bind(body_text(row))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One floating IP by id.
pub async fn floatingip_get<'e, E>(ex: E, id: &str) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    get_row(ex, "floatingips", id).await
}

/// Floating IPs visible in `scope`: a project sees its own.
pub async fn floatingip_list<'e, E>(ex: E, scope: Scope<'_>) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = match scope {
        Scope::All => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM floatingips")).fetch_all(ex).await?
        }
        Scope::Project(p) => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM floatingips WHERE project_id = $1"))
                .bind(p)
                .fetch_all(ex)
                .await?
        }
    };
    rows(list)
}

/// Replaces a floating IP's row if its stored revision is still `expected_revision`.
pub async fn floatingip_update(
    tx: &mut Tx,
    row: &ResourceRow,
    keys: FloatingIpKeys<'_>,
    expected_revision: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE floatingips SET revision_number = $1, body = $2, port_id = $3, fixed_ip_address = $4, \
         router_id = $5 WHERE id = $6 AND revision_number = $7",
    )
    .bind(row.revision_number)
    .bind(body_text(row))
    .bind(keys.port_id)
    .bind(keys.fixed_ip_address)
    .bind(keys.router_id)
    .bind(&row.id)
    .bind(expected_revision)
    .execute(&mut **tx)
    .await?;
    guarded(done)
}

/// Deletes a floating IP row.
pub async fn floatingip_delete(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    delete_row(tx, "floatingips", id).await
}

/// Floating IPs associated with a port.
pub async fn floatingips_of_port<'e, E>(
    ex: E,
    port_id: &str,
) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    rows(
        sqlx::query(&format!("SELECT {COLUMNS} FROM floatingips WHERE port_id = $1"))
            .bind(port_id)
            .fetch_all(ex)
            .await?,
    )
}

/// Floating IPs whose association goes through a router.
pub async fn floatingips_of_router<'e, E>(
    ex: E,
    router_id: &str,
) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    rows(
        sqlx::query(&format!("SELECT {COLUMNS} FROM floatingips WHERE router_id = $1"))
            .bind(router_id)
            .fetch_all(ex)
            .await?,
    )
}
