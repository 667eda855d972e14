//! neutrino's core: one service per resource (networks, subnets, ports) that validates input,
//! applies policy, allocates addresses and segments, and runs each change as one database
//! transaction with the ML2 mechanism drivers' precommit hooks inside it and their postcommit
//! hooks after it.
//!
//! Races between concurrent requests (two ports wanting one address or MAC, two updates of
//! one row) are settled by the database's unique keys and revision-guarded updates: the losing
//! transaction is rolled back and the whole operation runs again with fresh reads. No lock is
//! held across an await.
//!
//! This crate knows neither HTTP nor SQL details nor OVSDB.

pub mod agents;
pub mod config;
mod context;
pub mod extensions;
mod floatingips;
pub mod ipam;
pub mod metadata;
pub mod ml2;
mod networks;
pub mod policy;
mod ports;
pub mod quotas;
pub mod rbac;
mod render;
pub mod routers;
pub mod security_groups;
mod subnets;
pub mod tags;

use std::sync::Arc;

pub use config::CoreConfig;
pub use context::OpContext;
use ml2::{MechanismDriver, MechanismManager, TypeManager};
use nt_store::{Db, StoreError};
use nt_types::{Error, MacAddr};
pub use tags::TaggedResource;

/// Receives the views of a list, in order.
pub type ViewSink<'a> = dyn FnMut(serde_json::Map<String, serde_json::Value>) + Send + 'a;

/// How often an operation is run again after losing a race.
const MAX_ATTEMPTS: usize = 20;

/// A failure inside a transaction: either a domain error (final) or a store error (which may be
/// worth retrying from the start).
#[derive(Debug)]
pub enum TxError {
    /// A domain error: returned to the caller as is.
    Domain(Error),
    /// A store error: retried when [`StoreError::is_retryable`].
    Store(StoreError),
}

impl From<Error> for TxError {
    fn from(e: Error) -> Self {
        TxError::Domain(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

/// Maps a store error that survived its retries into the domain error.
pub fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Busy(m) => {
            Error::unavailable("ServiceUnavailable", format!("The database is busy: {m}"))
        }
        other => Error::internal(format!("{other}: {:?}", std::error::Error::source(&other))),
    }
}

/// Runs `$op` (an expression producing a future of `Result<T, TxError>`) until it succeeds, fails
/// with a domain error, or has lost [`MAX_ATTEMPTS`] races.
macro_rules! retrying {
    ($op:expr) => {{
        let mut attempt = 0usize;
        loop {
            attempt += 1;
            match $op.await {
                Ok(v) => break Ok(v),
                Err($crate::TxError::Domain(e)) => break Err(e),
                Err($crate::TxError::Store(s)) if s.is_retryable() && attempt < $crate::MAX_ATTEMPTS => {
                    tracing::debug!(attempt, error = %s, "transaction lost a race; running it again");
                    continue;
                }
                Err($crate::TxError::Store(s)) => break Err($crate::store_error(s)),
            }
        }
    }};
}
pub(crate) use retrying;

/// The network services over one database and one set of drivers.
#[derive(Debug)]
pub struct Core {
    db: Db,
    config: CoreConfig,
    types: TypeManager,
    mech: MechanismManager,
    base_mac: MacAddr,
    agent_sources: std::sync::RwLock<Vec<Arc<dyn agents::AgentSource>>>,
    l3_drivers: std::sync::RwLock<Vec<Arc<dyn routers::L3Driver>>>,
}

impl Core {
    /// Builds the services. `mechanism_drivers` are called in the given order.
    pub fn new(
        db: Db,
        config: CoreConfig,
        mechanism_drivers: Vec<Arc<dyn MechanismDriver>>,
    ) -> Result<Core, String> {
        let types = TypeManager::new(&config.ml2)?;
        let base_mac: MacAddr =
            config.base_mac.parse().map_err(|e| format!("invalid base_mac: {e}"))?;
        Ok(Core {
            db,
            config,
            types,
            mech: MechanismManager::new(mechanism_drivers),
            base_mac,
            agent_sources: Default::default(),
            l3_drivers: Default::default(),
        })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The settings.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The mechanism drivers in call order.
    pub fn mechanism_drivers(&self) -> Vec<&str> {
        self.mech.names()
    }
}

/// Checks an `If-Match: revision_number=N` constraint against the current revision.
pub(crate) fn check_if_match(if_match: Option<i64>, current: i64) -> Result<(), Error> {
    match if_match {
        Some(wanted) if wanted != current => Err(Error::new(
            nt_types::ErrorKind::PreconditionFailed,
            "RevisionNumberConstraintFailed",
            format!("Constrained to {wanted}, but current revision is {current}"),
        )),
        _ => Ok(()),
    }
}

/// Builds a JSON object from a serializable resource.
pub(crate) fn to_map<T: serde::Serialize>(value: &T) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// Reads a stored resource body into its typed form.
pub(crate) fn from_row<T: serde::de::DeserializeOwned>(
    row: &nt_store::ResourceRow,
) -> Result<T, StoreError> {
    serde_json::from_value(row.body.clone())
        .map_err(|e| StoreError::Corrupt(format!("row {}: {e}", row.id)))
}

/// Feeds matching views of a list to a sink: straight through when the query neither sorts nor
/// pages (so a large list is never held twice), collected, ordered and cut otherwise.
pub(crate) struct Lister<'q, 's, 'a> {
    query: &'q nt_types::query::ListQuery,
    collected: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
    sink: &'s mut ViewSink<'a>,
}

impl<'q, 's, 'a> Lister<'q, 's, 'a> {
    pub(crate) fn new(query: &'q nt_types::query::ListQuery, sink: &'s mut ViewSink<'a>) -> Self {
        let collected = query.needs_collect().then(Vec::new);
        Lister { query, collected, sink }
    }

    /// Offers one view; it is kept only if it matches the filters.
    pub(crate) fn offer(&mut self, view: serde_json::Map<String, serde_json::Value>) {
        if !self.query.matches(&view) {
            return;
        }
        match &mut self.collected {
            Some(list) => list.push(view),
            None => (self.sink)(view),
        }
    }

    /// Sorts and pages what was collected; an unknown marker is a 404 of `resource`.
    pub(crate) fn finish(self, resource: &str) -> Result<(), Error> {
        let Some(list) = self.collected else { return Ok(()) };
        let page = self.query.paginate(list).map_err(|nt_types::query::MarkerNotFound| {
            Error::not_found(resource, self.query.marker.as_deref().unwrap_or_default())
        })?;
        page.into_iter().for_each(|v| (self.sink)(v));
        Ok(())
    }
}
