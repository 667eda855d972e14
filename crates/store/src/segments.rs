//! Segmentation ids (VLAN ids, VNIs) held by networks.

use sqlx::Row;

use crate::{StoreError, Tx};

/// Takes `segmentation_id` of `network_type` on `physical_network` ("" for tunnels) for the
/// network. Already taken gives [`StoreError::UniqueViolation`].
pub async fn segment_allocate(
    tx: &mut Tx,
    network_type: &str,
    physical_network: &str,
    segmentation_id: i64,
    network_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO segment_allocations (network_type, physical_network, segmentation_id, network_id) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(network_type)
    .bind(physical_network)
    .bind(segmentation_id)
    .bind(network_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ids of `network_type` on `physical_network` already taken, ascending.
pub async fn segments_taken(
    tx: &mut Tx,
    network_type: &str,
    physical_network: &str,
) -> Result<Vec<i64>, StoreError> {
    let list = sqlx::query(
        "SELECT segmentation_id FROM segment_allocations WHERE network_type = $1 AND physical_network = $2 \
         ORDER BY segmentation_id",
    )
    .bind(network_type)
    .bind(physical_network)
    .fetch_all(&mut **tx)
    .await?;
    list.iter().map(|r| r.try_get::<i64, _>("segmentation_id").map_err(StoreError::from)).collect()
}

/// Releases every segment of a network.
pub async fn segment_release(tx: &mut Tx, network_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM segment_allocations WHERE network_id = $1")
        .bind(network_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
