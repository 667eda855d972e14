//! Reading the NB replica and writing to NB: lookups by our naming conventions, schema
//! normalisation of desired rows, and transactions with retry on lost guards.

use std::collections::HashMap;
use std::sync::Arc;

use nt_ovsdb::{Atom, Cache, Client, Monitor, Operation, OvsdbError, Row, Schema, Value};
use uuid::Uuid;

use crate::names::*;

/// The NB connection with its replica.
#[derive(Debug, Clone)]
pub struct Nb {
    /// Client.
    pub client: Client,
    /// Replica of the tables we own.
    pub monitor: Monitor,
    /// Server schema.
    pub schema: Arc<Schema>,
}

/// Indexes over the replica by our names, built once per pass.
#[derive(Debug, Default)]
pub struct NbIndex {
    /// LSP name → uuid.
    pub lsp: HashMap<String, Uuid>,
    /// Subnet id → uuid of its (subnet-wide) DHCP_Options row.
    pub dhcp: HashMap<String, Uuid>,
}

impl NbIndex {
    /// Builds the indexes from a replica.
    pub fn build(cache: &Cache) -> NbIndex {
        let mut index = NbIndex::default();
        for (uuid, row) in cache.table("Logical_Switch_Port") {
            if let Some(name) = row.get("name").and_then(Value::as_str) {
                index.lsp.insert(name.to_string(), *uuid);
            }
        }
        for (uuid, row) in cache.table("DHCP_Options") {
            let ext = row.get("external_ids");
            let subnet = ext.and_then(|e| e.map_get(SUBNET_ID)).and_then(Atom::as_str);
            let port = ext.and_then(|e| e.map_get(PORT_ID));
            if let (Some(subnet), None) = (subnet, port) {
                index.dhcp.insert(subnet.to_string(), *uuid);
            }
        }
        index
    }
}

/// `external_ids[key]` of a row.
pub fn ext<'a>(row: &'a Row, key: &str) -> Option<&'a str> {
    row.get("external_ids").and_then(|e| e.map_get(key)).and_then(Atom::as_str)
}

/// The revision an NB row was written from (-1 when it carries none).
pub fn revision_of(row: &Row) -> i64 {
    ext(row, REVISION).and_then(|r| r.parse().ok()).unwrap_or(-1)
}

impl Nb {
    /// Normalises a desired row to the server's schema so it compares equal to replica rows.
    pub fn normalize(&self, table: &str, row: Row) -> Result<Row, String> {
        let t = self.schema.table(table).ok_or_else(|| format!("NB has no table {table}"))?;
        row.into_iter()
            .map(|(col, v)| {
                let ty = t
                    .column_type(&col)
                    .ok_or_else(|| format!("NB table {table} has no column {col}"))?;
                let v = ty.normalize(v).map_err(|e| format!("{table}.{col}: {e}"))?;
                Ok((col, v))
            })
            .collect()
    }

    /// Runs a transaction.
    pub async fn transact(&self, ops: Vec<Operation>) -> Result<(), OvsdbError> {
        self.client.transact(NB, ops).await.map(|_| ())
    }
}

/// True when an error means the replica was stale or another writer won: look again, retry.
pub fn is_lost_race(e: &OvsdbError) -> bool {
    matches!(e.server_error(), Some("timed out" | "duplicate uuid" | "constraint violation"))
}

/// The columns of `desired` whose values differ in `existing`.
pub fn differing(desired: &Row, existing: &Row) -> Row {
    desired
        .iter()
        .filter(|(k, v)| existing.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
