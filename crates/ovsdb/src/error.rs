//! The error type of this crate.

use crate::rpc::RpcError;
use crate::schema::SchemaError;
use crate::value::ValueError;

/// What can go wrong talking to an OVSDB server.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    /// A remote string is not `unix:PATH` or `tcp:HOST:PORT`.
    #[error("invalid remote {remote:?}: {reason}")]
    InvalidRemote {
        /// The remote as given.
        remote: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Connecting to, reading from or writing to a remote failed.
    #[error("I/O error on {remote}")]
    Io {
        /// The remote.
        remote: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No connection is established right now (the client is reconnecting).
    #[error("not connected to an OVSDB server")]
    NotConnected,
    /// The connection was lost before the reply to `method` arrived; whether a transaction was
    /// applied is unknown.
    #[error("connection lost before the reply to {method}")]
    Disconnected {
        /// The request method.
        method: String,
    },
    /// A bounded wait ran out.
    #[error("timed out waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
    },
    /// The server answered a request with an error.
    #[error("{method} failed: {error}")]
    Rpc {
        /// The request method.
        method: String,
        /// The server's error.
        error: RpcError,
    },
    /// A transaction failed; nothing was applied. `op_index` is the failing operation, or the
    /// number of operations when the commit itself failed (constraint or referential-integrity
    /// violation).
    #[error("transaction failed at operation {op_index}: {error}{}",
            details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Transaction {
        /// Index of the failing operation (== number of ops for commit-time failures).
        op_index: usize,
        /// The error tag, e.g. `"constraint violation"`, `"timed out"`, `"not owner"`.
        error: String,
        /// The server's details, when given.
        details: Option<String>,
    },
    /// A request names a database the server does not have.
    #[error("the server has no database {db:?}")]
    UnknownDatabase {
        /// The database.
        db: String,
    },
    /// A request names a table the server's schema lacks (checked before sending).
    #[error("database {db:?} has no table {table:?}")]
    UnknownTable {
        /// The database.
        db: String,
        /// The table.
        table: String,
    },
    /// A request names a column the server's schema lacks (checked before sending).
    #[error("table {table:?} of database {db:?} has no column {column:?}")]
    UnknownColumn {
        /// The database.
        db: String,
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A request is malformed in a way detected before sending.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The server sent something that does not follow the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A value from the server could not be decoded.
    #[error("undecodable value from the server")]
    Value(#[source] ValueError),
    /// The server's schema could not be parsed.
    #[error("unparsable schema from the server")]
    Schema(#[source] SchemaError),
}

impl OvsdbError {
    /// The server's error tag when this is a transaction or RPC error (e.g. `"timed out"`).
    pub fn server_error(&self) -> Option<&str> {
        match self {
            OvsdbError::Transaction { error, .. } => Some(error),
            OvsdbError::Rpc { error, .. } => Some(&error.error),
            _ => None,
        }
    }
}
