//! Shared harness for the binary-level integration tests: start a real `neutrino serve` process on
//! a free loopback port with a temporary state directory, wait until it answers, log in through
//! Keystone v3 and talk JSON to the Neutron v2.0 API.
//!
//! Every server is killed when its [`Server`] is dropped, so a failing test leaks no process. The
//! server's stdout and stderr go to a log file beside (not inside) the state directory; the tail
//! of that log is printed when the server fails to come up.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a server may take to answer `GET /` after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A temporary directory holding one server's state (`state/`) and its logs (`server-N.log`).
#[derive(Debug)]
pub struct Workdir {
    dir: tempfile::TempDir,
    starts: u32,
}

impl Workdir {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("neutrino-test-").tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("state")).expect("create state dir");
        Workdir { dir, starts: 0 }
    }

    /// The directory passed to `--state-dir`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A running `neutrino serve` child process, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub password: String,
    pub state_dir: PathBuf,
    pub log: PathBuf,
}

/// A port that was free a moment ago. The listener is dropped before the server binds it; the
/// window is small and the kernel does not hand out the same ephemeral port again right away.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().unwrap().port()
}

impl Server {
    /// Start a server on a free port using `workdir`'s state directory and wait until it is ready.
    /// Starting again on the same `Workdir` reuses the state (the restart case).
    pub fn start(workdir: &mut Workdir, password: &str) -> Server {
        Self::start_with_env(workdir, password, &[])
    }

    /// Like [`Server::start`], with extra environment variables (e.g. `NEUTRINO_*` settings).
    pub fn start_with_env(workdir: &mut Workdir, password: &str, env: &[(&str, String)]) -> Server {
        workdir.starts += 1;
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let state_dir = workdir.state_dir();
        let log = workdir.path().join(format!("server-{}.log", workdir.starts));
        let out = File::create(&log).expect("create server log");
        let err = out.try_clone().expect("clone log handle");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_neutrino"));
        // Hermetic: no config file or settings from the developer's environment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("NEUTRINO_") {
                cmd.env_remove(key);
            }
        }
        for (key, value) in env {
            cmd.env(key, value);
        }
        let child = cmd
            .arg("serve")
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--public-url")
            .arg(&url)
            .arg("--admin-password")
            .arg(password)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn neutrino serve");
        let mut server =
            Server { child: Some(child), url, password: password.to_owned(), state_dir, log };
        server.wait_ready(port);
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    /// SIGKILL the server (no chance to flush or clean up) and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL on Unix.
            child.kill().expect("kill -9 server");
            child.wait().expect("reap server");
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                self.child = None;
                panic!(
                    "neutrino serve exited with {status} before it was ready; log {}:\n{}",
                    self.log.display(),
                    self.log_tail()
                );
            }
            if http_status(port, "/") == Some(200) {
                return;
            }
            if Instant::now() > deadline {
                let tail = self.log_tail();
                self.kill9();
                panic!("neutrino serve not ready after {READY_TIMEOUT:?}; log tail:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        // The log lives in a temporary directory that is about to go: show it with the failure.
        if std::thread::panicking() {
            eprintln!("--- tail of {} ---\n{}", self.log.display(), self.log_tail());
        }
    }
}

/// Minimal blocking `GET path` over HTTP/1.1 returning the status code, or `None` if the
/// connection failed. Used for the readiness probe so that sync tests need no HTTP client.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// An authenticated JSON client for one server: admin user, `admin` project.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub project_id: String,
}

/// A response: status code and body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Api {
    /// Log in with the admin password, scoped to the `admin` project.
    pub async fn login(url: &str, password: &str) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("build reqwest client");
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
        let resp = http
            .post(format!("{url}/v3/auth/tokens"))
            .json(&body)
            .send()
            .await
            .expect("POST /v3/auth/tokens");
        let status = resp.status().as_u16();
        let token = resp
            .headers()
            .get("x-subject-token")
            .map(|v| v.to_str().expect("token header is ASCII").to_owned());
        let reply: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 201, "login failed: {reply}");
        let token = token.expect("X-Subject-Token header on 201");
        let project_id = reply["token"]["project"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("token.project.id missing: {reply}"))
            .to_owned();
        Api { http, base: url.to_owned(), token, project_id }
    }

    /// Send one request; `Err` only for transport errors (connection refused/reset, timeout).
    pub async fn try_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.try_send(reqwest::Method::GET, path, None)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.try_send(reqwest::Method::POST, path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.try_send(reqwest::Method::DELETE, path, None)
            .await
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"))
    }

    /// POST expecting 201; returns the object under `key`.
    pub async fn create(&self, collection: &str, key: &str, attrs: Value) -> Value {
        let reply = self.post(&format!("/v2.0/{collection}"), &json!({ key: attrs })).await;
        assert_eq!(reply.status, 201, "create {key}: {}", reply.body);
        reply.body[key].clone()
    }
}
