//! Rows of `ports` and their IP allocations.

use sqlx::Row;

use crate::{body_text, delete_row, get_row, guarded, rows, ResourceRow, Scope, StoreError, Tx};

const COLUMNS: &str = "id, project_id, revision_number, body";

/// Columns of a port kept outside its body for constraints and lookups.
#[derive(Debug, Clone, Copy)]
pub struct PortKeys<'a> {
    /// Network.
    pub network_id: &'a str,
    /// MAC, unique per network.
    pub mac_address: &'a str,
    /// Device owner.
    pub device_owner: &'a str,
    /// Device id.
    pub device_id: &'a str,
}

/// Inserts a new port. A MAC already used on the network gives
/// [`StoreError::UniqueViolation`].
pub async fn port_insert(
    tx: &mut Tx,
    row: &ResourceRow,
    keys: PortKeys<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ports (id, network_id, project_id, mac_address, device_owner, device_id, \
         revision_number, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(keys.network_id)
    .bind(&row.project_id)
    .bind(keys.mac_address)
    .bind(keys.device_owner)
    .bind(keys.device_id)
    .bind(row.revision_number)
    .bind(body_text(row))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One port by id.
pub async fn port_get<'e, E>(ex: E, id: &str) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    get_row(ex, "ports", id).await
}

/// Ports visible in `scope`: a project sees its own ports and every port on its networks.
pub async fn port_list<'e, E>(ex: E, scope: Scope<'_>) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = match scope {
        Scope::All => sqlx::query(&format!("SELECT {COLUMNS} FROM ports")).fetch_all(ex).await?,
        Scope::Project(p) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM ports WHERE project_id = $1 \
                 OR network_id IN (SELECT id FROM networks WHERE project_id = $1)"
            ))
            .bind(p)
            .fetch_all(ex)
            .await?
        }
    };
    rows(list)
}

/// The ports of one network.
pub async fn ports_of_network<'e, E>(
    ex: E,
    network_id: &str,
) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    rows(
        sqlx::query(&format!("SELECT {COLUMNS} FROM ports WHERE network_id = $1"))
            .bind(network_id)
            .fetch_all(ex)
            .await?,
    )
}

/// Replaces a port's row if its stored revision is still `expected_revision`.
pub async fn port_update(
    tx: &mut Tx,
    row: &ResourceRow,
    keys: PortKeys<'_>,
    expected_revision: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE ports SET revision_number = $1, body = $2, mac_address = $3, device_owner = $4, \
         device_id = $5 WHERE id = $6 AND revision_number = $7",
    )
    .bind(row.revision_number)
    .bind(body_text(row))
    .bind(keys.mac_address)
    .bind(keys.device_owner)
    .bind(keys.device_id)
    .bind(&row.id)
    .bind(expected_revision)
    .execute(&mut **tx)
    .await?;
    guarded(done)
}

/// Deletes a port row and its IP allocations.
pub async fn port_delete(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM ip_allocations WHERE port_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM port_security_groups WHERE port_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    delete_row(tx, "ports", id).await
}

/// Records `ip_address` on `subnet_id` as the port's. An address already allocated on the
/// network gives [`StoreError::UniqueViolation`].
pub async fn ip_allocate(
    tx: &mut Tx,
    network_id: &str,
    subnet_id: &str,
    ip_address: &str,
    port_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ip_allocations (network_id, ip_address, subnet_id, port_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(network_id)
    .bind(ip_address)
    .bind(subnet_id)
    .bind(port_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Releases one address of a port.
pub async fn ip_release(tx: &mut Tx, network_id: &str, ip_address: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ip_allocations WHERE network_id = $1 AND ip_address = $2")
        .bind(network_id)
        .bind(ip_address)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Addresses allocated on a subnet.
pub async fn ips_of_subnet<'e, E>(ex: E, subnet_id: &str) -> Result<Vec<String>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = sqlx::query("SELECT ip_address FROM ip_allocations WHERE subnet_id = $1")
        .bind(subnet_id)
        .fetch_all(ex)
        .await?;
    list.iter().map(|r| r.try_get::<String, _>("ip_address").map_err(StoreError::from)).collect()
}

/// `(port id, device owner)` of every port holding an address on the subnet.
pub async fn ports_on_subnet<'e, E>(
    ex: E,
    subnet_id: &str,
) -> Result<Vec<(String, String)>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = sqlx::query(
        "SELECT DISTINCT p.id, p.device_owner FROM ip_allocations a JOIN ports p ON p.id = a.port_id \
         WHERE a.subnet_id = $1",
    )
    .bind(subnet_id)
    .fetch_all(ex)
    .await?;
    list.iter()
        .map(|r| Ok((r.try_get::<String, _>("id")?, r.try_get::<String, _>("device_owner")?)))
        .collect()
}

/// True when a port other than `except_port` uses `mac` on the network.
pub async fn mac_in_use<'e, E>(
    ex: E,
    network_id: &str,
    mac: &str,
    except_port: Option<&str>,
) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM ports WHERE network_id = $1 AND mac_address = $2 AND id <> $3",
    )
    .bind(network_id)
    .bind(mac)
    .bind(except_port.unwrap_or(""))
    .fetch_one(ex)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Which of `candidates` are already allocated on the network (one indexed lookup).
pub async fn ips_taken_among<'e, E>(
    ex: E,
    network_id: &str,
    candidates: &[String],
) -> Result<Vec<String>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if candidates.is_empty() {
        return Ok(vec![]);
    }
    let placeholders: Vec<String> = (0..candidates.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT ip_address FROM ip_allocations WHERE network_id = $1 AND ip_address IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(network_id);
    for c in candidates {
        query = query.bind(c);
    }
    let list = query.fetch_all(ex).await?;
    list.iter().map(|r| r.try_get::<String, _>("ip_address").map_err(StoreError::from)).collect()
}

/// A port row with its body still as stored text (listing parses it straight into its type).
#[derive(Debug, Clone)]
pub struct RawPortRow {
    /// Revision.
    pub revision_number: i64,
    /// JSON body.
    pub body: String,
}

/// Ports visible in `scope`, optionally only on `network_ids`, bodies unparsed. Rows are
/// streamed so that no second copy of a large result is held.
pub async fn port_list_raw<'e, E>(
    ex: E,
    scope: Scope<'_>,
    network_ids: Option<&[String]>,
) -> Result<Vec<RawPortRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    use futures::TryStreamExt;
    let mut sql = String::from("SELECT revision_number, body FROM ports WHERE 1 = 1");
    let mut next = 1;
    if let Scope::Project(_) = scope {
        sql.push_str(" AND (project_id = $1 OR network_id IN (SELECT id FROM networks WHERE project_id = $1))");
        next = 2;
    }
    if let Some(ids) = network_ids {
        let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", next + i)).collect();
        sql.push_str(&format!(
            " AND network_id IN ({})",
            if list.is_empty() { "NULL".into() } else { list.join(", ") }
        ));
    }
    let mut query = sqlx::query(&sql);
    if let Scope::Project(p) = scope {
        query = query.bind(p);
    }
    for id in network_ids.unwrap_or_default() {
        query = query.bind(id);
    }
    let mut stream = query.fetch(ex);
    let mut out = Vec::new();
    while let Some(row) = stream.try_next().await? {
        out.push(RawPortRow {
            revision_number: row.try_get("revision_number")?,
            body: row.try_get("body")?,
        });
    }
    Ok(out)
}
