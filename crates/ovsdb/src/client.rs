//! The client handle and its background connection task.
//!
//! [`Client`] is a cheap, cloneable handle. A background task owns the connection: it tries the
//! remotes in turn, keeps the session alive with inactivity probes, and after a disconnect
//! reconnects with exponential backoff. On every (re)connect, before the connection is handed to
//! callers, it
//!
//! 1. with `leader_only`, monitors the `_Server` database's `Database` table and moves on to the
//!    next remote unless our database (or every clustered database) is `connected` and `leader`;
//!    it also drops the connection later if that server loses leadership;
//! 2. re-establishes every [`Monitor`], with `monitor_cond_since` and the last transaction id
//!    seen so that a clustered server sends only what changed, or a full snapshot that replaces
//!    the cache (the difference is reported as ordinary change events);
//! 3. re-requests every lock the caller still wants (locks die with the connection).
//!
//! Requests made while disconnected fail at once with [`OvsdbError::NotConnected`]; requests
//! in flight when the connection drops fail with [`OvsdbError::Disconnected`] (a transaction may
//! or may not have been applied — callers that retry must use idempotent, guarded operations).
//! Nothing is retried behind the caller's back.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::connection::{Connection, Handler, Hook};
use crate::error::OvsdbError;
use crate::monitor::{
    monitored_columns, parse_since_reply, requests_to_json, validate_requests, Cache, Change,
    MonitorRequest, MonitorRequests,
};
use crate::ops::{parse_results, OpResult, Operation};
use crate::remote::Remote;
use crate::schema::Schema;

/// Tunables of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// First delay before reconnecting; doubled after every round of failed attempts.
    pub backoff_initial: Duration,
    /// Upper bound of the reconnect delay.
    pub backoff_max: Duration,
    /// Timeout of one TCP/Unix connect attempt.
    pub connect_timeout: Duration,
    /// How long [`Client::connect`] waits for the first connection; `None` waits forever.
    pub initial_connect_timeout: Option<Duration>,
    /// Send an `echo` after this long without traffic and reconnect if it is not answered
    /// within the same interval; `None` disables probing.
    pub probe_interval: Option<Duration>,
    /// Only stay connected to a server that is the Raft leader (for clustered databases).
    pub leader_only: bool,
    /// The database whose leadership matters; `None` means every clustered database on the
    /// server (the `_Server` database itself excepted).
    pub database: Option<String>,
    /// Try `monitor_cond_since` before `monitor_cond` (falls back automatically when the server
    /// does not know it).
    pub use_monitor_cond_since: bool,
    /// Capacity of the event channels; slow subscribers see `RecvError::Lagged`.
    pub event_capacity: usize,
    /// Largest accepted message in bytes.
    pub max_message_size: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(10),
            initial_connect_timeout: Some(Duration::from_secs(30)),
            probe_interval: Some(Duration::from_secs(60)),
            leader_only: true,
            database: None,
            use_monitor_cond_since: true,
            event_capacity: 4096,
            max_message_size: 512 * 1024 * 1024,
        }
    }
}

/// Connection state changes, from [`Client::connection_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// The first connection is up (monitors and locks established).
    Connected {
        /// The remote connected to.
        remote: String,
    },
    /// A later connection is up and every monitor has been re-synced.
    Reconnected {
        /// The remote connected to.
        remote: String,
    },
    /// The connection was lost; the client is reconnecting.
    Disconnected {
        /// The remote that was connected.
        remote: String,
        /// Why.
        reason: String,
    },
}

/// Lock ownership changes, from [`Client::lock_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockEvent {
    /// This client now holds the lock (immediately, after waiting, after `steal`, or re-acquired
    /// after a reconnect).
    Locked {
        /// Lock name.
        name: String,
    },
    /// Another client stole the lock. This client no longer holds it but stays queued for it
    /// ([`LockEvent::Locked`] follows when the thief releases it); call [`Client::unlock`] to give
    /// up.
    Stolen {
        /// Lock name.
        name: String,
    },
    /// The connection dropped while the lock was held; the client re-requests it on reconnect.
    Lost {
        /// Lock name.
        name: String,
    },
}

/// How a monitor was last synchronized with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// A full snapshot replaced the cache.
    Full,
    /// `monitor_cond_since` found our last transaction id and sent only the changes since.
    Resumed,
}

#[derive(Debug, Default)]
struct LockState {
    held: bool,
}

/// State shared by the handles and the background task.
struct Shared {
    remotes: Vec<Remote>,
    opts: ClientOptions,
    current: RwLock<Option<Arc<Connection>>>,
    connected: watch::Sender<bool>,
    last_error: Mutex<Option<String>>,
    conn_events: broadcast::Sender<ConnectionEvent>,
    lock_events: broadcast::Sender<LockEvent>,
    monitors: Mutex<HashMap<String, Arc<MonitorShared>>>,
    locks: Mutex<HashMap<String, LockState>>,
    next_monitor: AtomicU64,
    shutdown: watch::Sender<bool>,
}

/// Stops the background task when the last handle goes away.
struct ShutdownGuard(Arc<Shared>);

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.0.shutdown.send_replace(true);
    }
}

/// A handle to an OVSDB client connection (cheap to clone). See the module documentation.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    _guard: Arc<ShutdownGuard>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("remotes", &self.shared.remotes)
            .field("current", &self.current_remote())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Parses `remotes` (`unix:PATH`, `tcp:HOST:PORT`, comma-separated for a cluster), starts
    /// the background task and waits for the first connection (bounded by
    /// [`ClientOptions::initial_connect_timeout`]).
    pub async fn connect(remotes: &str, opts: ClientOptions) -> Result<Client, OvsdbError> {
        let wait = opts.initial_connect_timeout;
        let client = Self::start(remotes, opts)?;
        client.wait_connected(wait).await?;
        Ok(client)
    }

    /// Like [`Client::connect`] but returns at once; the connection comes up in the background.
    /// Must be called within a Tokio runtime.
    pub fn start(remotes: &str, opts: ClientOptions) -> Result<Client, OvsdbError> {
        let remotes = Remote::parse_list(remotes)?;
        let shared = Arc::new(Shared {
            remotes,
            conn_events: broadcast::channel(opts.event_capacity.max(1)).0,
            lock_events: broadcast::channel(opts.event_capacity.max(1)).0,
            opts,
            current: RwLock::new(None),
            connected: watch::Sender::new(false),
            last_error: Mutex::new(None),
            monitors: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            next_monitor: AtomicU64::new(1),
            shutdown: watch::Sender::new(false),
        });
        tokio::spawn(supervise(shared.clone()));
        Ok(Client { _guard: Arc::new(ShutdownGuard(shared.clone())), shared })
    }

    /// Waits until connected (monitors and locks re-established); `None` waits forever.
    pub async fn wait_connected(&self, timeout: Option<Duration>) -> Result<(), OvsdbError> {
        let mut rx = self.shared.connected.subscribe();
        let wait = rx.wait_for(|c| *c);
        let res = match timeout {
            Some(t) => tokio::time::timeout(t, wait).await.ok(),
            None => Some(wait.await),
        };
        match res {
            Some(Ok(_)) => Ok(()),
            _ => {
                let last = self.shared.last_error.lock().expect("poisoned").clone();
                Err(OvsdbError::Timeout {
                    what: match last {
                        Some(e) => format!("a connection (last error: {e})"),
                        None => "a connection".to_owned(),
                    },
                })
            }
        }
    }

    /// Whether a connection is up.
    pub fn is_connected(&self) -> bool {
        self.current().is_ok()
    }

    /// The remote currently connected to.
    pub fn current_remote(&self) -> Option<String> {
        self.current().ok().map(|c| c.remote.to_string())
    }

    /// Subscribes to connection state changes.
    pub fn connection_events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.shared.conn_events.subscribe()
    }

    /// Subscribes to lock ownership changes.
    pub fn lock_events(&self) -> broadcast::Receiver<LockEvent> {
        self.shared.lock_events.subscribe()
    }

    fn current(&self) -> Result<Arc<Connection>, OvsdbError> {
        self.shared.current().ok_or(OvsdbError::NotConnected)
    }

    /// Sends an arbitrary request and returns its raw result.
    pub async fn call(&self, method: &str, params: Json) -> Result<Json, OvsdbError> {
        self.current()?.call(method, params, None).await
    }

    /// `echo`: a round trip to the server.
    pub async fn echo(&self) -> Result<(), OvsdbError> {
        self.call("echo", json!(["neutrino"])).await.map(drop)
    }

    /// `list_dbs`: the databases the server has.
    pub async fn list_dbs(&self) -> Result<Vec<String>, OvsdbError> {
        let result = self.call("list_dbs", json!([])).await?;
        serde_json::from_value(result.clone())
            .map_err(|_| OvsdbError::Protocol(format!("bad list_dbs result: {result}")))
    }

    /// The schema of `db` as the connected server reports it (fetched once per connection).
    pub async fn schema(&self, db: &str) -> Result<Arc<Schema>, OvsdbError> {
        let conn = self.current()?;
        schema_on(&conn, db).await
    }

    /// Runs a transaction on `db` and returns one typed result per operation, or the first
    /// failure as [`OvsdbError::Transaction`]. Operations naming a table or column the server's
    /// schema lacks are refused before anything is sent.
    pub async fn transact(
        &self,
        db: &str,
        ops: Vec<Operation>,
    ) -> Result<Vec<OpResult>, OvsdbError> {
        let conn = self.current()?;
        let schema = schema_on(&conn, db).await?;
        for op in &ops {
            op.validate(&schema)?;
        }
        let mut params = vec![json!(db)];
        params.extend(ops.iter().map(Operation::to_json));
        let result = conn.call("transact", Json::Array(params), None).await?;
        parse_results(&ops, Some(&schema), &result)
    }

    /// Starts monitoring `db` (one request per table) and returns once the initial contents are
    /// in the cache. The monitor survives reconnects until it is dropped or cancelled.
    pub async fn monitor<S: Into<String>>(
        &self,
        db: &str,
        requests: impl IntoIterator<Item = (S, MonitorRequest)>,
    ) -> Result<Monitor, OvsdbError> {
        let mut map = MonitorRequests::new();
        for (table, req) in requests {
            map.entry(table.into()).or_default().push(req);
        }
        if map.is_empty() {
            return Err(OvsdbError::InvalidRequest("a monitor needs at least one table".into()));
        }
        let conn = self.current()?;
        let schema = schema_on(&conn, db).await?;
        validate_requests(&schema, &map)?;
        let id = format!("m{}", self.shared.next_monitor.fetch_add(1, Ordering::Relaxed));
        let shared = Arc::new(MonitorShared {
            id: id.clone(),
            db: db.to_owned(),
            columns: monitored_columns(&map),
            requests: map,
            state: Mutex::new(MonitorState::default()),
            events: broadcast::channel(self.shared.opts.event_capacity.max(1)).0,
            generation: watch::Sender::new(0),
        });
        self.shared.monitors.lock().expect("poisoned").insert(id.clone(), shared.clone());
        if let Err(e) = start_monitor(&conn, &shared).await {
            self.shared.monitors.lock().expect("poisoned").remove(&id);
            return Err(e);
        }
        Ok(Monitor { inner: Arc::new(MonitorHandle { client: self.clone(), shared }) })
    }

    /// `lock`: asks for lock `name`. Returns whether it was granted at once; otherwise the
    /// server queues the request and [`LockEvent::Locked`] follows when it is granted. The
    /// request is renewed after every reconnect until [`Client::unlock`]. Asking again for a lock
    /// already requested sends nothing and returns whether it is held.
    pub async fn lock(&self, name: &str) -> Result<bool, OvsdbError> {
        self.lock_or_steal("lock", name).await
    }

    /// `steal`: takes lock `name` from its holder, who gets a `stolen` notification (and stays
    /// queued for it).
    pub async fn steal(&self, name: &str) -> Result<(), OvsdbError> {
        self.lock_or_steal("steal", name).await.map(drop)
    }

    async fn lock_or_steal(&self, method: &str, name: &str) -> Result<bool, OvsdbError> {
        let conn = self.current()?;
        let previous = {
            let mut locks = self.shared.locks.lock().expect("poisoned");
            let previous = locks.get(name).map(|s| s.held);
            locks.entry(name.to_owned()).or_default();
            previous
        };
        match (method, previous) {
            (_, Some(true)) => return Ok(true),
            // The server refuses a second request for the same lock on one connection.
            ("lock", Some(false)) => return Ok(false),
            // A queued request (e.g. after `stolen`) must be withdrawn before stealing.
            ("steal", Some(false)) => {
                conn.call("unlock", json!([name]), None).await?;
            }
            _ => {}
        }
        match lock_request(&self.shared, &conn, method, name).await {
            Ok(locked) => Ok(locked),
            Err(e) => {
                self.shared.locks.lock().expect("poisoned").remove(name);
                Err(e)
            }
        }
    }

    /// `unlock`: releases (or stops waiting for) lock `name`. Succeeds trivially while
    /// disconnected, since locks do not outlive connections.
    pub async fn unlock(&self, name: &str) -> Result<(), OvsdbError> {
        self.shared.locks.lock().expect("poisoned").remove(name);
        match self.call("unlock", json!([name])).await {
            Ok(_) | Err(OvsdbError::NotConnected | OvsdbError::Disconnected { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether this client holds lock `name` right now.
    pub fn has_lock(&self, name: &str) -> bool {
        self.shared.locks.lock().expect("poisoned").get(name).is_some_and(|l| l.held)
    }
}

impl Shared {
    fn current(&self) -> Option<Arc<Connection>> {
        self.current.read().expect("poisoned").clone()
    }

    fn set_lock_held(&self, name: &str) {
        let newly = match self.locks.lock().expect("poisoned").get_mut(name) {
            Some(state) if !state.held => {
                state.held = true;
                true
            }
            _ => false,
        };
        if newly {
            let _ = self.lock_events.send(LockEvent::Locked { name: name.to_owned() });
        }
    }
}

async fn lock_request(
    shared: &Arc<Shared>,
    conn: &Connection,
    method: &str,
    name: &str,
) -> Result<bool, OvsdbError> {
    // The reply is processed in the reader so that a `stolen` right after it is ordered after.
    let hook_shared = shared.clone();
    let hook_name = name.to_owned();
    let hook: Hook = Box::new(move |v: &Json| {
        if v.get("locked").and_then(Json::as_bool) == Some(true) {
            hook_shared.set_lock_held(&hook_name);
        }
        Ok(())
    });
    let result = conn.call(method, json!([name]), Some(hook)).await?;
    Ok(result.get("locked").and_then(Json::as_bool).unwrap_or(false))
}

async fn schema_on(conn: &Connection, db: &str) -> Result<Arc<Schema>, OvsdbError> {
    if let Some(s) = conn.schemas.lock().expect("poisoned").get(db) {
        return Ok(s.clone());
    }
    let json = match conn.call("get_schema", json!([db]), None).await {
        Ok(json) => json,
        Err(OvsdbError::Rpc { error, .. }) if error.error == "unknown database" => {
            return Err(OvsdbError::UnknownDatabase { db: db.to_owned() })
        }
        Err(e) => return Err(e),
    };
    let schema = Arc::new(Schema::from_json(&json).map_err(OvsdbError::Schema)?);
    conn.schemas.lock().expect("poisoned").insert(db.to_owned(), schema.clone());
    Ok(schema)
}

impl Handler for Shared {
    fn notification(&self, conn: &Connection, method: &str, params: Json) {
        let args = params.as_array().map(Vec::as_slice).unwrap_or_default();
        match (method, args) {
            ("update2", [id, updates]) | ("update3", [id, _, updates]) => {
                let txn = match (method, args) {
                    ("update3", [_, txn, _]) => txn.as_str().and_then(|t| Uuid::parse_str(t).ok()),
                    _ => None,
                };
                let id = id.as_str().unwrap_or_default();
                if id == SERVER_MONITOR {
                    server_update(self, conn, updates);
                    return;
                }
                let monitor = self.monitors.lock().expect("poisoned").get(id).cloned();
                match monitor {
                    Some(m) => {
                        if let Err(e) = m.apply_update(updates, txn) {
                            tracing::error!(monitor = id, "cannot apply update, re-syncing: {e}");
                            conn.close("undecodable monitor update");
                        }
                    }
                    None => tracing::debug!(monitor = id, "update for an unknown monitor"),
                }
            }
            ("locked", [name]) => {
                if let Some(name) = name.as_str() {
                    self.set_lock_held(name);
                }
            }
            ("stolen", [name]) => {
                if let Some(name) = name.as_str() {
                    // The request stays queued on the server: `locked` follows when the thief
                    // releases the lock, unless we `unlock`.
                    if let Some(state) = self.locks.lock().expect("poisoned").get_mut(name) {
                        state.held = false;
                    }
                    let _ = self.lock_events.send(LockEvent::Stolen { name: name.to_owned() });
                }
            }
            ("monitor_canceled", _) => {
                // The database went away or changed schema: reconnect, which re-reads schemas
                // and re-creates the monitors.
                tracing::warn!(remote = %conn.remote, ?params, "server cancelled a monitor");
                conn.close("monitor cancelled by the server");
            }
            _ => tracing::debug!(method, "ignoring notification"),
        }
    }
}

const SERVER_MONITOR: &str = "_server";

fn server_update(shared: &Shared, conn: &Connection, updates: &Json) {
    let verdict = {
        let mut guard = conn.server_rows.lock().expect("poisoned");
        let Some((schema, cache)) = guard.as_mut() else { return };
        let columns = BTreeMap::from([("Database".to_owned(), None)]);
        match cache.apply_updates2(schema, &columns, updates) {
            Ok(_) => leader_verdict(cache, shared.opts.database.as_deref()),
            Err(e) => Err(format!("bad _Server update: {e}")),
        }
    };
    if let Err(reason) = verdict {
        tracing::info!(remote = %conn.remote, "leaving server: {reason}");
        conn.close(&reason);
    }
}

/// `Ok` when the server is a fit for us: every relevant clustered database is connected to the
/// cluster and this server is its leader.
fn leader_verdict(cache: &Cache, db: Option<&str>) -> Result<(), String> {
    let mut seen = false;
    for (_, row) in cache.table("Database") {
        let name = row.get("name").and_then(|v| v.as_str()).unwrap_or_default();
        if name == "_Server" || db.is_some_and(|d| d != name) {
            continue;
        }
        seen = true;
        if row.get("model").and_then(|v| v.as_str()) != Some("clustered") {
            continue;
        }
        if row.get("connected").and_then(|v| v.as_bool()) != Some(true) {
            return Err(format!("database {name} is not connected to its cluster"));
        }
        if row.get("leader").and_then(|v| v.as_bool()) != Some(true) {
            return Err(format!("not the cluster leader for {name}"));
        }
    }
    match db {
        Some(db) if !seen => Err(format!("server has no database {db}")),
        _ => Ok(()),
    }
}

/// Follows `_Server.Database` on `conn` and checks leadership.
async fn check_leader(shared: &Shared, conn: &Arc<Connection>) -> Result<(), OvsdbError> {
    let schema = match schema_on(conn, "_Server").await {
        Ok(s) => s,
        // Servers older than OVS 2.9 have no _Server database and no clustering.
        Err(OvsdbError::UnknownDatabase { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let columns = BTreeMap::from([("Database".to_owned(), None)]);
    let hook_conn = conn.clone();
    let hook_schema = schema.clone();
    let hook: Hook = Box::new(move |reply: &Json| {
        let cache = Cache::from_snapshot(&hook_schema, &columns, reply)?;
        *hook_conn.server_rows.lock().expect("poisoned") = Some((hook_schema, cache));
        Ok(())
    });
    let params = json!(["_Server", SERVER_MONITOR, {"Database": [{
        "columns": ["name", "model", "connected", "leader"]}]}]);
    conn.call("monitor_cond", params, Some(hook)).await?;
    let verdict = match conn.server_rows.lock().expect("poisoned").as_ref() {
        Some((_, cache)) => leader_verdict(cache, shared.opts.database.as_deref()),
        None => Ok(()),
    };
    verdict.map_err(|reason| OvsdbError::Rpc {
        method: "leader check".into(),
        error: crate::rpc::RpcError { error: reason, details: None, syntax: None },
    })
}

/// Connects to `remote` and brings it to the state callers expect: leader checked, monitors
/// synced, locks requested.
async fn establish(shared: &Arc<Shared>, remote: &Remote) -> Result<Arc<Connection>, OvsdbError> {
    let opts = &shared.opts;
    let handler: Arc<dyn Handler> = shared.clone();
    let conn = Connection::open(
        remote,
        opts.connect_timeout,
        opts.max_message_size,
        opts.use_monitor_cond_since,
        handler,
    )
    .await?;
    let result = async {
        if opts.leader_only {
            check_leader(shared, &conn).await?;
        }
        let monitors: Vec<Arc<MonitorShared>> = shared
            .monitors
            .lock()
            .expect("poisoned")
            .values()
            .filter(|m| m.state.lock().expect("poisoned").established)
            .cloned()
            .collect();
        for m in monitors {
            match start_monitor(&conn, &m).await {
                Ok(()) => {}
                Err(e @ OvsdbError::Disconnected { .. }) => return Err(e),
                Err(e) => {
                    tracing::error!(monitor = m.id, db = m.db, "cannot re-create monitor: {e}")
                }
            }
        }
        let locks: Vec<String> = shared.locks.lock().expect("poisoned").keys().cloned().collect();
        for name in locks {
            lock_request(shared, &conn, "lock", &name).await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(conn),
        Err(e) => {
            conn.close(&e.to_string());
            Err(e)
        }
    }
}

/// The background task: connect, serve, reconnect.
async fn supervise(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let n = shared.remotes.len();
    let mut start = 0;
    let mut backoff = shared.opts.backoff_initial;
    let mut ever_connected = false;
    'outer: loop {
        let mut had_session = false;
        for i in 0..n {
            let idx = (start + i) % n;
            let remote = shared.remotes[idx].clone();
            let attempt = tokio::select! {
                r = establish(&shared, &remote) => r,
                _ = shutdown.wait_for(|s| *s) => break 'outer,
            };
            let conn = match attempt {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::debug!(%remote, "connection attempt failed: {e}");
                    *shared.last_error.lock().expect("poisoned") = Some(format!("{remote}: {e}"));
                    continue;
                }
            };
            *shared.current.write().expect("poisoned") = Some(conn.clone());
            shared.connected.send_replace(true);
            let remote_name = remote.to_string();
            tracing::info!(remote = %remote_name, "connected to OVSDB server");
            let _ = shared.conn_events.send(if ever_connected {
                ConnectionEvent::Reconnected { remote: remote_name.clone() }
            } else {
                ConnectionEvent::Connected { remote: remote_name.clone() }
            });
            ever_connected = true;
            start = idx;
            backoff = shared.opts.backoff_initial;
            had_session = true;

            let reason = serve(&shared, &conn, &mut shutdown).await;
            *shared.current.write().expect("poisoned") = None;
            shared.connected.send_replace(false);
            conn.close(&reason);
            let lost: Vec<String> = {
                let mut locks = shared.locks.lock().expect("poisoned");
                locks
                    .iter_mut()
                    .filter_map(|(name, l)| std::mem::take(&mut l.held).then(|| name.clone()))
                    .collect()
            };
            for name in lost {
                let _ = shared.lock_events.send(LockEvent::Lost { name });
            }
            tracing::warn!(remote = %remote_name, reason, "disconnected from OVSDB server");
            let _ = shared.conn_events.send(ConnectionEvent::Disconnected {
                remote: remote_name,
                reason: reason.clone(),
            });
            *shared.last_error.lock().expect("poisoned") = Some(reason);
            if *shutdown.borrow() {
                break 'outer;
            }
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|s| *s) => break 'outer,
        }
        if !had_session {
            backoff = (backoff * 2).min(shared.opts.backoff_max);
        }
    }
    if let Some(conn) = shared.current.write().expect("poisoned").take() {
        conn.close("client shut down");
    }
    shared.connected.send_replace(false);
}

/// Serves one session until it closes; probes the server when idle.
async fn serve(
    shared: &Shared,
    conn: &Arc<Connection>,
    shutdown: &mut watch::Receiver<bool>,
) -> String {
    let probe = shared.opts.probe_interval;
    loop {
        let tick = tokio::time::sleep(probe.unwrap_or(Duration::from_secs(3600)));
        tokio::select! {
            reason = conn.closed() => return reason,
            _ = shutdown.wait_for(|s| *s) => return "client shut down".to_owned(),
            _ = tick => {}
        }
        let Some(probe) = probe else { continue };
        if conn.idle_for() < probe || conn.is_closed() {
            continue;
        }
        let answered = tokio::time::timeout(probe, conn.call("echo", json!(["probe"]), None)).await;
        if !matches!(answered, Ok(Ok(_))) {
            conn.close("inactivity probe not answered");
        }
    }
}

#[derive(Debug, Default)]
struct MonitorState {
    cache: Cache,
    schema: Option<Arc<Schema>>,
    last_txn_id: Option<Uuid>,
    established: bool,
    last_sync: Option<SyncKind>,
}

/// A monitor's registration and replica, shared with the reader.
#[derive(Debug)]
struct MonitorShared {
    id: String,
    db: String,
    requests: MonitorRequests,
    columns: BTreeMap<String, Option<Vec<String>>>,
    state: Mutex<MonitorState>,
    events: broadcast::Sender<Change>,
    generation: watch::Sender<u64>,
}

#[derive(Debug, Clone, Copy)]
enum InitialReply {
    Cond,
    Since,
}

impl MonitorShared {
    fn publish(&self, changes: Vec<Change>) {
        for c in changes {
            let _ = self.events.send(c);
        }
        self.generation.send_modify(|g| *g += 1);
    }

    /// Applies the reply to `monitor_cond` / `monitor_cond_since`.
    fn apply_initial(
        &self,
        schema: &Arc<Schema>,
        kind: InitialReply,
        reply: &Json,
    ) -> Result<(), OvsdbError> {
        let mut st = self.state.lock().expect("poisoned");
        let (resumed, txn, updates) = match kind {
            InitialReply::Cond => (false, None, reply),
            InitialReply::Since => {
                let (found, txn, updates) = parse_since_reply(reply)?;
                (found && st.established, txn, updates)
            }
        };
        let changes = if resumed {
            st.cache.apply_updates2(schema, &self.columns, updates)?
        } else {
            let fresh = Cache::from_snapshot(schema, &self.columns, updates)?;
            st.cache.replace(fresh)
        };
        st.schema = Some(schema.clone());
        st.last_txn_id = txn;
        st.established = true;
        st.last_sync = Some(if resumed { SyncKind::Resumed } else { SyncKind::Full });
        tracing::debug!(monitor = self.id, resumed, changes = changes.len(), "monitor synced");
        // Published under the state lock so subscribers see events in cache order.
        self.publish(changes);
        Ok(())
    }

    /// Applies an `update2`/`update3` notification.
    fn apply_update(&self, updates: &Json, txn: Option<Uuid>) -> Result<(), OvsdbError> {
        let mut st = self.state.lock().expect("poisoned");
        let Some(schema) = st.schema.clone() else { return Ok(()) };
        match st.cache.apply_updates2(&schema, &self.columns, updates) {
            Ok(changes) => {
                if txn.is_some() {
                    st.last_txn_id = txn;
                }
                self.publish(changes);
                Ok(())
            }
            Err(e) => {
                // The cache may be half-updated: forget the txn id so the next sync is full.
                st.last_txn_id = None;
                Err(e)
            }
        }
    }
}

/// Sends `monitor_cond_since` (or `monitor_cond`) for `m` on `conn`; the reply is applied in the
/// reader before later updates.
async fn start_monitor(conn: &Arc<Connection>, m: &Arc<MonitorShared>) -> Result<(), OvsdbError> {
    let schema = schema_on(conn, &m.db).await?;
    validate_requests(&schema, &m.requests)?;
    let requests = requests_to_json(&m.requests);
    let hook = |kind| -> Hook {
        let m = m.clone();
        let schema = schema.clone();
        Box::new(move |reply: &Json| m.apply_initial(&schema, kind, reply))
    };
    if conn.since_supported.load(Ordering::Relaxed) {
        let last = m.state.lock().expect("poisoned").last_txn_id.unwrap_or_else(Uuid::nil);
        let params = json!([m.db, m.id, requests, last.to_string()]);
        match conn.call("monitor_cond_since", params, Some(hook(InitialReply::Since))).await {
            Ok(_) => return Ok(()),
            Err(OvsdbError::Rpc { error, .. }) if error.error == "unknown method" => {
                conn.since_supported.store(false, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    let params = json!([m.db, m.id, requests]);
    conn.call("monitor_cond", params, Some(hook(InitialReply::Cond))).await.map(drop)
}

struct MonitorHandle {
    client: Client,
    shared: Arc<MonitorShared>,
}

impl Drop for MonitorHandle {
    fn drop(&mut self) {
        let removed = self.client.shared.monitors.lock().expect("poisoned").remove(&self.shared.id);
        if removed.is_some() {
            if let Some(conn) = self.client.shared.current() {
                conn.call_detached("monitor_cancel", json!([self.shared.id]));
            }
        }
    }
}

/// A live monitor: an in-memory replica of the monitored tables kept current by the server's
/// updates (also across reconnects), plus a stream of [`Change`]s. Cheap to clone; the monitor
/// is cancelled when the last clone is dropped.
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<MonitorHandle>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("id", &self.inner.shared.id)
            .field("db", &self.inner.shared.db)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    fn shared(&self) -> &MonitorShared {
        &self.inner.shared
    }

    /// The monitor id used on the wire.
    pub fn id(&self) -> &str {
        &self.shared().id
    }

    /// The monitored database.
    pub fn database(&self) -> &str {
        &self.shared().db
    }

    /// A snapshot (copy) of the replica.
    pub fn cache(&self) -> Cache {
        self.with_cache(Cache::clone)
    }

    /// Runs `f` on the replica without copying it. Keep `f` short: updates wait for it.
    pub fn with_cache<R>(&self, f: impl FnOnce(&Cache) -> R) -> R {
        f(&self.shared().state.lock().expect("poisoned").cache)
    }

    /// Subscribes to changes applied from now on. Changes made while disconnected arrive as
    /// insert/modify/delete events after the re-sync. On `RecvError::Lagged`, re-read the cache.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.shared().events.subscribe()
    }

    /// Atomically takes a snapshot and subscribes to the changes after it.
    pub fn snapshot_and_subscribe(&self) -> (Cache, broadcast::Receiver<Change>) {
        let st = self.shared().state.lock().expect("poisoned");
        (st.cache.clone(), self.shared().events.subscribe())
    }

    /// The last transaction id the server reported (clustered databases only).
    pub fn last_txn_id(&self) -> Option<Uuid> {
        self.shared().state.lock().expect("poisoned").last_txn_id
    }

    /// How the monitor was last synchronized.
    pub fn last_sync(&self) -> Option<SyncKind> {
        self.shared().state.lock().expect("poisoned").last_sync
    }

    /// Waits until `pred` holds for the replica, re-checking after every applied update.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Cache) -> bool,
    ) -> Result<(), OvsdbError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut generation = self.shared().generation.subscribe();
        loop {
            if self.with_cache(&mut pred) {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, generation.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    return Err(OvsdbError::Timeout {
                        what: format!("monitor {} to reach the expected state", self.id()),
                    })
                }
            }
        }
    }

    /// Cancels the monitor on the server (`monitor_cancel`) and stops updating the replica.
    pub async fn cancel(self) -> Result<(), OvsdbError> {
        let shared = &self.inner.client.shared;
        let removed = shared.monitors.lock().expect("poisoned").remove(self.id());
        if removed.is_none() {
            return Ok(());
        }
        self.inner.client.call("monitor_cancel", json!([self.id()])).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_cache(rows: Json) -> Cache {
        let schema = Schema::from_json(&json!({"name": "_Server", "tables": {"Database": {
            "columns": {"name": {"type": "string"}, "model": {"type": "string"},
                        "connected": {"type": "boolean"}, "leader": {"type": "boolean"}}}}}))
        .unwrap();
        let columns = BTreeMap::from([("Database".to_owned(), None)]);
        Cache::from_snapshot(&schema, &columns, &json!({"Database": rows})).unwrap()
    }

    #[test]
    fn leader_verdict_follows_the_database_rows() {
        let u = || Uuid::new_v4().to_string();
        let standalone = server_cache(json!({
            u(): {"initial": {"name": "_Server", "model": "standalone", "leader": true, "connected": true}},
            u(): {"initial": {"name": "NB", "model": "standalone", "leader": true, "connected": true}}}));
        assert!(leader_verdict(&standalone, None).is_ok());
        assert!(leader_verdict(&standalone, Some("NB")).is_ok());
        assert!(leader_verdict(&standalone, Some("SB")).is_err());
        let follower = server_cache(json!({
            u(): {"initial": {"name": "NB", "model": "clustered", "leader": false, "connected": true}}}));
        assert!(leader_verdict(&follower, None).is_err());
        let cut_off = server_cache(json!({
            u(): {"initial": {"name": "NB", "model": "clustered", "leader": true, "connected": false}}}));
        assert!(leader_verdict(&cut_off, Some("NB")).is_err());
    }
}
