use thiserror::Error;

/// What can go wrong talking to the database.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique or primary-key constraint refused the write (an allocation race was lost).
    #[error("unique constraint violated: {constraint}")]
    UniqueViolation {
        /// The constraint's name or the message the engine gave.
        constraint: String,
    },
    /// A conditional update found another revision than the one it was guarded by.
    #[error("revision mismatch")]
    RevisionMismatch,
    /// The database was busy or a serialization conflict happened; the transaction may be retried.
    #[error("database busy: {0}")]
    Busy(String),
    /// Stored data could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Migrations failed.
    #[error("migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error")]
    Sql(#[source] sqlx::Error),
}

impl StoreError {
    /// True when running the whole transaction again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::UniqueViolation { .. } | StoreError::Busy(_) | StoreError::RevisionMismatch
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            if db.is_unique_violation() {
                return StoreError::UniqueViolation {
                    constraint: db.constraint().unwrap_or(db.message()).to_string(),
                };
            }
            let code = db.code().unwrap_or_default();
            // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (and extended codes ending in them);
            // PostgreSQL: 40001 serialization_failure, 40P01 deadlock_detected.
            let busy = matches!(code.as_ref(), "5" | "6" | "517" | "262" | "40001" | "40P01")
                || db.message().contains("database is locked");
            if busy {
                return StoreError::Busy(db.message().to_string());
            }
        }
        StoreError::Sql(e)
    }
}
