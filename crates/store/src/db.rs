use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::StoreError;

/// An open transaction. Commit with `tx.commit().await`; dropping it rolls back.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Which SQL engine is behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite, WAL mode.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database: a pool for writes and a pool for reads.
///
/// SQLite allows one writer at a time and a deferred transaction that upgrades from read to
/// write fails at once instead of waiting, so on SQLite every write transaction goes through a
/// single connection (callers queue for it) while reads use several. PostgreSQL uses one pool
/// for both.
#[derive(Debug, Clone)]
pub struct Db {
    writer: AnyPool,
    reader: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Corrupt(format!(
                "unsupported database URL '{url}': use sqlite://PATH or postgres://…"
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let db = match backend {
            Backend::Sqlite => {
                let writer = sqlite_pool(1).connect_with(options.clone()).await?;
                // WAL is a property of the file: set it once, before readers open it.
                writer.execute("PRAGMA journal_mode=WAL").await?;
                let reader = sqlite_pool(8).connect_with(options).await?;
                Db { writer, reader, backend }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                Db { writer: pool.clone(), reader: pool, backend }
            }
        };
        MIGRATOR.run(&db.writer).await.map_err(StoreError::Migrate)?;
        Ok(db)
    }

    /// The engine behind this database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Pool for statements that write (on SQLite: the single writer connection).
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Pool for reads outside a transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(self.writer.begin().await?)
    }

    /// Names of the applied migrations, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|r| r.try_get::<i64, _>("version").map_err(StoreError::from)).collect()
    }

    /// Versions of every migration this build knows.
    pub fn known_migrations() -> Vec<i64> {
        MIGRATOR.iter().map(|m| m.version).collect()
    }
}

fn sqlite_pool(size: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // synchronous=NORMAL in WAL mode: a commit survives a crash of the process
                // (the durability neutrino promises); only power loss can undo the last ones.
                conn.execute(
                    "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
                )
                .await?;
                Ok(())
            })
        })
}
