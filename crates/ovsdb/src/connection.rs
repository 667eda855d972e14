//! One JSON-RPC session on one socket: request ids, the reader and writer tasks, and `echo`.
//!
//! Many requests may be in flight at once: each gets the next integer id and a oneshot channel
//! in the pending map, and the reader task routes each reply to its waiter. The reader handles
//! messages strictly in arrival order and runs two kinds of callbacks inline before it reads the
//! next message: notification handling (monitor updates, lock notifications) and per-request
//! *hooks* that see a successful reply before its waiter does. That is what makes the monitor
//! cache consistent: ovsdb-server sends the `update2` caused by our own transaction before the
//! transaction's reply, so by the time `transact` returns, the cache already shows the change;
//! and a `monitor_cond` reply is applied before any `update2` that follows it.
//!
//! Writes go through an unbounded channel to a writer task, so the reader never blocks on the
//! socket when it answers the server's `echo` probes. When either task fails, or someone calls
//! [`Connection::close`], every pending request fails with [`OvsdbError::Disconnected`].

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::codec::FrameDecoder;
use crate::error::OvsdbError;
use crate::monitor::Cache;
use crate::remote::Remote;
use crate::rpc::{self, Incoming};
use crate::schema::Schema;

/// Called with a successful reply, inline in the reader, before the waiter sees it. An error
/// replaces the reply.
pub(crate) type Hook = Box<dyn FnOnce(&Json) -> Result<(), OvsdbError> + Send>;

/// Receives notifications, inline in the reader.
pub(crate) trait Handler: Send + Sync + 'static {
    fn notification(&self, conn: &Connection, method: &str, params: Json);
}

type Reply = Result<Json, OvsdbError>;

struct Pending {
    method: String,
    tx: Option<oneshot::Sender<Reply>>,
    hook: Option<Hook>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    pending: HashMap<u64, Pending>,
    closed: bool,
}

/// A live session. Cheap to share as `Arc<Connection>`.
pub(crate) struct Connection {
    pub(crate) remote: Remote,
    out: mpsc::UnboundedSender<Vec<u8>>,
    state: Mutex<State>,
    closed: watch::Sender<Option<String>>,
    last_rx: Mutex<Instant>,
    /// Schemas fetched on this connection (the server may have been upgraded across reconnects).
    pub(crate) schemas: Mutex<HashMap<String, Arc<Schema>>>,
    /// Cleared when the server answers `monitor_cond_since` with "unknown method".
    pub(crate) since_supported: AtomicBool,
    /// The `_Server` database's `Database` table, when followed for leadership.
    pub(crate) server_rows: Mutex<Option<(Arc<Schema>, Cache)>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("remote", &self.remote).finish_non_exhaustive()
    }
}

type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

async fn open_stream(
    remote: &Remote,
    timeout: Duration,
) -> Result<(BoxRead, BoxWrite), OvsdbError> {
    let io = |source| OvsdbError::Io { remote: remote.to_string(), source };
    let timed_out = || OvsdbError::Timeout { what: format!("connecting to {remote}") };
    match remote {
        Remote::Unix(path) => {
            let stream = tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path))
                .await
                .map_err(|_| timed_out())?
                .map_err(io)?;
            let (r, w) = stream.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
        Remote::Tcp { host, port } => {
            let stream = tokio::time::timeout(
                timeout,
                tokio::net::TcpStream::connect((host.as_str(), *port)),
            )
            .await
            .map_err(|_| timed_out())?
            .map_err(io)?;
            stream.set_nodelay(true).map_err(io)?;
            let (r, w) = stream.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
    }
}

impl Connection {
    /// Connects to `remote` and starts the reader and writer tasks.
    pub(crate) async fn open(
        remote: &Remote,
        connect_timeout: Duration,
        max_message: usize,
        since_supported: bool,
        handler: Arc<dyn Handler>,
    ) -> Result<Arc<Self>, OvsdbError> {
        let (reader, writer) = open_stream(remote, connect_timeout).await?;
        let (out, out_rx) = mpsc::unbounded_channel();
        let conn = Arc::new(Self {
            remote: remote.clone(),
            out,
            state: Mutex::new(State::default()),
            closed: watch::Sender::new(None),
            last_rx: Mutex::new(Instant::now()),
            schemas: Mutex::new(HashMap::new()),
            since_supported: AtomicBool::new(since_supported),
            server_rows: Mutex::new(None),
        });
        tokio::spawn(write_loop(conn.clone(), writer, out_rx));
        tokio::spawn(read_loop(conn.clone(), reader, handler, max_message));
        tracing::debug!(%remote, "connected");
        Ok(conn)
    }

    /// Sends a request and waits for its reply. `hook` runs on a successful reply in the reader.
    pub(crate) async fn call(
        &self,
        method: &str,
        params: Json,
        hook: Option<Hook>,
    ) -> Result<Json, OvsdbError> {
        let (tx, rx) = oneshot::channel();
        self.send_request(method, &params, Some(tx), hook)?;
        match rx.await {
            Ok(reply) => reply,
            Err(_) => Err(OvsdbError::Disconnected { method: method.to_owned() }),
        }
    }

    /// Sends a request whose reply nobody waits for.
    pub(crate) fn call_detached(&self, method: &str, params: Json) {
        let _ = self.send_request(method, &params, None, None);
    }

    fn send_request(
        &self,
        method: &str,
        params: &Json,
        tx: Option<oneshot::Sender<Reply>>,
        hook: Option<Hook>,
    ) -> Result<(), OvsdbError> {
        let disconnected = || OvsdbError::Disconnected { method: method.to_owned() };
        let id = {
            let mut state = self.state.lock().expect("connection state poisoned");
            if state.closed {
                return Err(disconnected());
            }
            state.next_id += 1;
            let id = state.next_id;
            state.pending.insert(id, Pending { method: method.to_owned(), tx, hook });
            id
        };
        if self.out.send(rpc::request(method, params, id)).is_err() {
            self.state.lock().expect("connection state poisoned").pending.remove(&id);
            return Err(disconnected());
        }
        Ok(())
    }

    /// Closes the session (idempotent); pending requests fail with `Disconnected`.
    pub(crate) fn close(&self, reason: &str) {
        let pending = {
            let mut state = self.state.lock().expect("connection state poisoned");
            if state.closed {
                return;
            }
            state.closed = true;
            std::mem::take(&mut state.pending)
        };
        tracing::debug!(remote = %self.remote, reason, "connection closed");
        self.closed.send_replace(Some(reason.to_owned()));
        drop(pending);
    }

    /// Whether the session is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.borrow().is_some()
    }

    /// Waits until the session is closed and returns why.
    pub(crate) async fn closed(&self) -> String {
        let mut rx = self.closed.subscribe();
        let reason = rx.wait_for(Option::is_some).await.map(|r| r.clone().unwrap_or_default());
        reason.unwrap_or_default()
    }

    /// Time since the last byte arrived.
    pub(crate) fn idle_for(&self) -> Duration {
        self.last_rx.lock().expect("last_rx poisoned").elapsed()
    }

    fn dispatch(&self, msg: Json, handler: &dyn Handler) {
        let msg = match Incoming::from_json(msg) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::warn!(remote = %self.remote, "ignoring malformed message: {e}");
                return;
            }
        };
        match msg {
            Incoming::Request { method, params, id } => {
                // RFC 7047 §4.1.11: reply to echo with the same params, or the server drops us.
                let bytes = if method == "echo" {
                    rpc::reply(&id, &params)
                } else {
                    rpc::error_reply(&id, "unknown method")
                };
                let _ = self.out.send(bytes);
            }
            Incoming::Notification { method, params } => {
                handler.notification(self, &method, params);
            }
            Incoming::Response { id, result } => {
                let Some(pending) = id.as_u64().and_then(|id| {
                    self.state.lock().expect("connection state poisoned").pending.remove(&id)
                }) else {
                    tracing::debug!(remote = %self.remote, %id, "reply to an unknown request");
                    return;
                };
                let mut reply = result
                    .map_err(|error| OvsdbError::Rpc { method: pending.method.clone(), error });
                if let (Ok(value), Some(hook)) = (&reply, pending.hook) {
                    if let Err(e) = hook(value) {
                        reply = Err(e);
                    }
                }
                if let Some(tx) = pending.tx {
                    let _ = tx.send(reply);
                }
            }
        }
    }
}

async fn read_loop(
    conn: Arc<Connection>,
    mut reader: BoxRead,
    handler: Arc<dyn Handler>,
    max_message: usize,
) {
    let mut closed = conn.closed.subscribe();
    let mut decoder = FrameDecoder::new(max_message);
    let mut buf = vec![0u8; 64 * 1024];
    let reason = 'read: loop {
        let n = tokio::select! {
            _ = closed.wait_for(Option::is_some) => return,
            n = reader.read(&mut buf) => n,
        };
        match n {
            Ok(0) => break "connection closed by peer".to_owned(),
            Err(e) => break format!("read error: {e}"),
            Ok(n) => {
                *conn.last_rx.lock().expect("last_rx poisoned") = Instant::now();
                decoder.extend(&buf[..n]);
                loop {
                    match decoder.next_frame() {
                        Ok(Some(msg)) => conn.dispatch(msg, handler.as_ref()),
                        Ok(None) => break,
                        Err(e) => break 'read format!("framing error: {e}"),
                    }
                }
            }
        }
    };
    conn.close(&reason);
}

async fn write_loop(
    conn: Arc<Connection>,
    mut writer: BoxWrite,
    mut out: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut closed = conn.closed.subscribe();
    loop {
        let bytes = tokio::select! {
            _ = closed.wait_for(Option::is_some) => break,
            bytes = out.recv() => bytes,
        };
        let Some(bytes) = bytes else { break };
        if let Err(e) = writer.write_all(&bytes).await {
            conn.close(&format!("write error: {e}"));
            break;
        }
    }
    let _ = writer.shutdown().await;
}
