//! Starts real `ovsdb-server` processes with the OVN Northbound schema in a temporary directory.
//!
//! Every test calls [`Server::standalone`] (or [`Cluster::start`]) and returns early when it
//! yields `None`, which only happens when the binaries are missing *outside* CI. With `CI=true`
//! missing binaries fail the test: a test that skips itself in CI checks nothing.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use neutrino_ovsdb::ClientOptions;
use tempfile::TempDir;

const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
pub const NB: &str = "OVN_Northbound";

/// Generous bound for anything that should happen "soon".
pub const WAIT: Duration = Duration::from_secs(20);

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

struct Tools {
    server: PathBuf,
    tool: PathBuf,
    appctl: PathBuf,
}

/// The binaries, or `None` (skip) when absent outside CI; panics when absent in CI.
fn tools() -> Option<Tools> {
    let found = (|| {
        Some(Tools {
            server: find_binary("ovsdb-server")?,
            tool: find_binary("ovsdb-tool")?,
            appctl: find_binary("ovs-appctl")?,
        })
    })();
    let schema_present = Path::new(NB_SCHEMA).is_file();
    match found {
        Some(tools) if schema_present => Some(tools),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "ovsdb-server, ovsdb-tool, ovs-appctl and {NB_SCHEMA} are required in CI \
             (apt-get install ovn-central openvswitch-switch)"
        ),
        _ => {
            eprintln!("skipping: ovsdb-server / ovsdb-tool / {NB_SCHEMA} not installed");
            None
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Client options for tests: quick reconnects, no probing.
pub fn test_options() -> ClientOptions {
    ClientOptions {
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        initial_connect_timeout: Some(WAIT),
        probe_interval: None,
        ..ClientOptions::default()
    }
}

/// A free TCP port on 127.0.0.1 (released again before use; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One `ovsdb-server` process serving one database file.
pub struct Server {
    _tmp: Arc<TempDir>,
    dir: PathBuf,
    name: String,
    db: PathBuf,
    sock: PathBuf,
    extra_remotes: Vec<String>,
    tools: Arc<Tools>,
    child: Option<Child>,
}

impl Server {
    /// A standalone NB database served on a unix socket.
    pub fn standalone() -> Option<Server> {
        Self::standalone_with_remotes(&[])
    }

    /// A standalone NB database with additional `--remote=` arguments (e.g. `ptcp:0:127.0.0.1`).
    pub fn standalone_with_remotes(remotes: &[&str]) -> Option<Server> {
        let tools = Arc::new(tools()?);
        let tmp = Arc::new(tempfile::tempdir().unwrap());
        let dir = tmp.path().to_owned();
        let db = dir.join("nb.db");
        run(Command::new(&tools.tool).arg("create").arg(&db).arg(NB_SCHEMA));
        let mut server = Server {
            _tmp: tmp,
            sock: dir.join("nb.sock"),
            dir,
            name: "nb".into(),
            db,
            extra_remotes: remotes.iter().map(|r| r.to_string()).collect(),
            tools,
            child: None,
        };
        server.spawn();
        Some(server)
    }

    fn path(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.name))
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let _ = std::fs::remove_file(&self.sock);
        let mut cmd = Command::new(&self.tools.server);
        cmd.arg(format!("--remote=punix:{}", self.sock.display()));
        for r in &self.extra_remotes {
            cmd.arg(format!("--remote={r}"));
        }
        cmd.arg(format!("--pidfile={}", self.path("pid").display()))
            .arg(format!("--log-file={}", self.path("log").display()))
            .arg(format!("--unixctl={}", self.path("ctl").display()))
            .arg("-vconsole:off")
            .arg(&self.db)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ovsdb-server");
        let deadline = Instant::now() + WAIT;
        while std::os::unix::net::UnixStream::connect(&self.sock).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("ovsdb-server exited with {status}: {err}\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "ovsdb-server socket did not appear\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    /// `unix:<socket>`.
    pub fn remote(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    /// The port of a `ptcp:0:…` remote, read from the log.
    pub fn tcp_port(&self) -> u16 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(port) = self
                .log()
                .lines()
                .filter_map(|l| l.split("listening on port ").nth(1))
                .find_map(|p| p.trim().parse().ok())
            {
                return port;
            }
            assert!(Instant::now() < deadline, "no tcp port in log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `ovs-appctl -t <ctl> args…`.
    pub fn appctl(&self, args: &[&str]) -> String {
        run(Command::new(&self.tools.appctl).arg("-t").arg(self.path("ctl")).args(args))
    }

    /// Runs `ovsdb-tool transact` on the database file (server must be stopped).
    pub fn offline_transact(&self, txn: &serde_json::Value) -> String {
        assert!(self.child.is_none(), "stop the server first");
        run(Command::new(&self.tools.tool).arg("transact").arg(&self.db).arg(txn.to_string()))
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same socket and database file.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Whether this server is the Raft leader of the NB database.
    pub fn is_leader(&self) -> bool {
        self.appctl(&["cluster/status", NB]).lines().any(|l| l.trim() == "Role: leader")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Raft cluster of NB servers talking to each other over TCP on 127.0.0.1, each serving
/// clients on its own unix socket.
pub struct Cluster {
    pub servers: Vec<Server>,
}

impl Cluster {
    pub fn start(size: usize) -> Option<Cluster> {
        let tools = Arc::new(tools()?);
        let tmp = Arc::new(tempfile::tempdir().unwrap());
        let dir = tmp.path().to_owned();
        let raft: Vec<String> =
            (0..size).map(|_| format!("tcp:127.0.0.1:{}", free_port())).collect();
        let mut servers = Vec::new();
        for (i, addr) in raft.iter().enumerate() {
            let name = format!("nb{i}");
            let db = dir.join(format!("{name}.db"));
            if i == 0 {
                run(Command::new(&tools.tool)
                    .arg("create-cluster")
                    .arg(&db)
                    .arg(NB_SCHEMA)
                    .arg(addr));
            } else {
                run(Command::new(&tools.tool)
                    .arg("join-cluster")
                    .arg(&db)
                    .arg(NB)
                    .arg(addr)
                    .arg(&raft[0]));
            }
            let mut server = Server {
                _tmp: tmp.clone(),
                sock: dir.join(format!("{name}.sock")),
                dir: dir.clone(),
                name,
                db,
                extra_remotes: Vec::new(),
                tools: tools.clone(),
                child: None,
            };
            server.spawn();
            servers.push(server);
        }
        let cluster = Cluster { servers };
        cluster.wait_until_formed();
        Some(cluster)
    }

    /// Waits until every member has joined and one of them leads.
    pub fn wait_until_formed(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let statuses: Vec<String> = self
                .servers
                .iter()
                .filter(|s| s.child.is_some())
                .map(|s| s.appctl(&["cluster/status", NB]))
                .collect();
            let leaders = statuses.iter().filter(|s| s.contains("Role: leader")).count();
            let joined = statuses.iter().all(|s| s.contains("Status: cluster member"));
            if leaders == 1 && joined {
                return;
            }
            assert!(Instant::now() < deadline, "cluster did not form:\n{}", statuses.join("\n"));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `unix:a,unix:b,…`
    pub fn remotes(&self) -> String {
        self.servers.iter().map(Server::remote).collect::<Vec<_>>().join(",")
    }

    /// Index of the current leader among running servers.
    pub fn leader(&self) -> usize {
        self.servers
            .iter()
            .position(|s| s.child.is_some() && s.is_leader())
            .expect("a running leader")
    }
}
