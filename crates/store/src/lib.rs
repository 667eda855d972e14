//! neutrino's SQL storage.
//!
//! One code path serves SQLite (the embedded default: one WAL file in the state directory) and
//! PostgreSQL (several API replicas): sqlx's `Any` driver, runtime queries with `$N`
//! placeholders, booleans stored as integers. Migrations in `migrations/` run at connect.
//!
//! Resources are rows of indexed columns (what constraints, lookups and project scoping need)
//! plus a JSON `body` holding every attribute. Allocation tables (`ip_allocations`,
//! `segment_allocations`) and the `(network_id, mac_address)` constraint on ports are how
//! concurrent requests are kept from sharing an address: a losing transaction gets
//! [`StoreError::UniqueViolation`] and the caller retries with a fresh choice.
//!
//! This crate knows SQL and nothing of HTTP or OVSDB.

mod db;
mod error;
pub mod floatingips;
pub mod networks;
pub mod ovn;
pub mod ports;
pub mod quotas;
pub mod rbac;
pub mod routers;
pub mod security_groups;
pub mod segments;
pub mod subnets;

pub use db::{Backend, Db, Tx};
pub use error::StoreError;

/// A stored resource: the columns every resource table shares plus its JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRow {
    /// Resource id (UUID string).
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Bumped by one on every committed change after creation.
    pub revision_number: i64,
    /// Every attribute of the resource, as stored.
    pub body: serde_json::Value,
}

pub(crate) fn row_from_sql(row: &sqlx::any::AnyRow) -> Result<ResourceRow, StoreError> {
    use sqlx::Row;
    let body: String = row.try_get("body")?;
    Ok(ResourceRow {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        revision_number: row.try_get("revision_number")?,
        body: serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("resource body is not JSON: {e}")))?,
    })
}

/// Which rows a non-admin caller may see.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every row (admin).
    All,
    /// Rows visible to this project.
    Project(&'a str),
}

pub(crate) async fn get_row<'e, E>(
    ex: E,
    table: &str,
    id: &str,
) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = format!("SELECT id, project_id, revision_number, body FROM {table} WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(ex).await?;
    row.as_ref().map(row_from_sql).transpose()
}

pub(crate) async fn delete_row(tx: &mut Tx, table: &str, id: &str) -> Result<bool, StoreError> {
    let sql = format!("DELETE FROM {table} WHERE id = $1");
    let done = sqlx::query(&sql).bind(id).execute(&mut **tx).await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) fn rows(list: Vec<sqlx::any::AnyRow>) -> Result<Vec<ResourceRow>, StoreError> {
    list.iter().map(row_from_sql).collect()
}

pub(crate) fn body_text(row: &ResourceRow) -> String {
    row.body.to_string()
}

/// Checks that an UPDATE guarded by `revision_number = expected` hit its row.
pub(crate) fn guarded(done: sqlx::any::AnyQueryResult) -> Result<(), StoreError> {
    if done.rows_affected() == 0 {
        Err(StoreError::RevisionMismatch)
    } else {
        Ok(())
    }
}
