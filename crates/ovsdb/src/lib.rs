//! A generic OVSDB client (RFC 7047 plus the ovsdb-server extensions documented in
//! ovsdb-server(7)): incremental framing, JSON-RPC 1.0, values, schemas, transactions,
//! `monitor_cond`/`monitor_cond_since` with an in-memory replica and change events, locks,
//! reconnect with exponential backoff and following the Raft leader among several remotes.
//!
//! This crate owns the protocol and nothing above it. It must not depend on anything OVN- or
//! Neutron-specific (table names, `external_ids` keys, revision numbers), nor on HTTP or SQL
//! crates: typed table models and the OVN mechanism driver live in other crates and talk to OVSDB
//! through [`Client`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), neutrino_ovsdb::OvsdbError> {
//! use neutrino_ovsdb::{row, Client, ClientOptions, Condition, MonitorRequest, Operation, Value};
//!
//! let client = Client::connect("unix:/run/ovn/ovnnb_db.sock", ClientOptions::default()).await?;
//! let monitor = client.monitor("OVN_Northbound", [("Logical_Switch", MonitorRequest::all())]).await?;
//! let results = client
//!     .transact(
//!         "OVN_Northbound",
//!         vec![Operation::insert("Logical_Switch", row([("name", Value::from("sw0"))]))],
//!     )
//!     .await?;
//! let uuid = results[0].uuid().expect("insert result");
//! // Our own update arrives before the transaction reply: the replica already has the row.
//! assert!(monitor.cache().get("Logical_Switch", &uuid).is_some());
//! # let _ = Condition::eq("name", "sw0");
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod client;
pub mod codec;
mod connection;
mod error;
pub mod monitor;
pub mod ops;
pub mod remote;
pub mod rpc;
pub mod schema;
pub mod value;

pub use client::{Client, ClientOptions, ConnectionEvent, LockEvent, Monitor, SyncKind};
pub use error::OvsdbError;
pub use monitor::{Cache, Change, MonitorRequest, MonitorRequests, MonitorSelect};
pub use ops::{Condition, Function, Mutation, Mutator, OpResult, Operation, WaitUntil};
pub use remote::Remote;
pub use rpc::RpcError;
pub use schema::{AtomicType, BaseType, ColumnSchema, ColumnType, RefType, Schema, TableSchema};
pub use value::{row, Atom, Row, Value, ValueError};
