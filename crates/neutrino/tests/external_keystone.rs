//! The external Keystone mode (`[identity] mode = "keystone"`) of a real `neutrino serve`,
//! against two Keystones:
//!
//! - a real Keystone from PyPI (`pip install keystone`: SQLite, Fernet tokens, served by
//!   Python's own WSGI server), taken from the venv in `$NEUTRINO_KEYSTONE_VENV`, else
//!   `target/keystone-venv` (`scripts/test.sh` creates it). Like the `openstack` CLI test, this
//!   one fails when the venv is missing rather than skipping itself;
//! - a second neutrino in embedded mode, which speaks the same Keystone API.
//!
//! The same scenario runs against each: a member of a project created through the Keystone's
//! admin API works on neutrino with a token from that Keystone; invalid tokens get 401 naming
//! the Keystone; `/v3` is not served; a revoked token stops working once the (1 s) cache entry
//! is gone; when Keystone refuses neutrino's own service token neutrino logs in again; and with
//! the Keystone gone an unchecked token gets 503. Every wait is bounded; nothing asserts on
//! timing.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Server, Workdir};
use serde_json::{json, Value};

const SERVICE_USER: &str = "neutrino-svc";
const SERVICE_PASSWORD: &str = "svc-secret-pw";
const SERVICE_PROJECT: &str = "svc-project";
const MEMBER_PASSWORD: &str = "member-secret-pw";

/// Bound for one `keystone-manage` step and for Keystone to answer after it was started.
const KEYSTONE_STEP_TIMEOUT: Duration = Duration::from_secs(240);

/// Bound for waiting on a state change (cache expiry, revocation).
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

// ---- the Keystone under test ---------------------------------------------------------------

/// The Keystone that neutrino checks tokens against.
enum Keystone {
    /// neutrino in embedded mode (the workdir must outlive the server).
    Neutrino { server: Server, _workdir: Workdir },
    /// Keystone from PyPI.
    Real(RealKeystone),
}

impl Keystone {
    fn auth_url(&self) -> String {
        match self {
            Keystone::Neutrino { server, .. } => format!("{}/v3", server.url),
            Keystone::Real(k) => k.auth_url.clone(),
        }
    }

    fn admin_password(&self) -> String {
        match self {
            Keystone::Neutrino { server, .. } => server.password.clone(),
            Keystone::Real(_) => RealKeystone::ADMIN_PASSWORD.to_string(),
        }
    }

    /// SIGKILL: Keystone is gone.
    fn kill(&mut self) {
        match self {
            Keystone::Neutrino { server, .. } => server.kill9(),
            Keystone::Real(k) => k.kill(),
        }
    }
}

/// A Keystone from PyPI on a loopback port, its database and keys in a temporary directory.
/// Killed on drop.
struct RealKeystone {
    child: Option<Child>,
    auth_url: String,
    dir: tempfile::TempDir,
}

impl RealKeystone {
    const ADMIN_PASSWORD: &'static str = "ks-admin-secret";

    fn venv() -> PathBuf {
        let venv = match std::env::var_os("NEUTRINO_KEYSTONE_VENV") {
            Some(v) => PathBuf::from(v),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/keystone-venv"),
        };
        assert!(
            venv.join("bin/keystone-manage").is_file(),
            "no Keystone venv at {}: create it with `python3 -m venv {0} && {0}/bin/pip install \
             keystone` (scripts/test.sh does), or set NEUTRINO_KEYSTONE_VENV",
            venv.display()
        );
        venv
    }

    /// Sets up (db_sync, Fernet and credential keys, bootstrap) and starts Keystone.
    fn start() -> RealKeystone {
        let venv = Self::venv();
        let dir = tempfile::Builder::new().prefix("neutrino-keystone-").tempdir().unwrap();
        let d = dir.path();
        for sub in ["fernet-keys", "credential-keys"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let port = free_port();
        let auth_url = format!("http://127.0.0.1:{port}/v3");
        let conf = d.join("keystone.conf");
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nlog_file = {log}\n\
                 [database]\nconnection = sqlite:///{db}\n\
                 [fernet_tokens]\nkey_repository = {d}/fernet-keys\n\
                 [credential]\nkey_repository = {d}/credential-keys\n\
                 [token]\nprovider = fernet\n",
                log = d.join("keystone.log").display(),
                db = d.join("keystone.db").display(),
                d = d.display(),
            ),
        )
        .unwrap();
        // keystone's WSGI module parses sys.argv: hide the port argument from it.
        std::fs::write(
            d.join("serve.py"),
            "import sys\n\
             from socketserver import ThreadingMixIn\n\
             from wsgiref.simple_server import WSGIServer, make_server\n\
             port = int(sys.argv[1]); sys.argv = sys.argv[:1]\n\
             from keystone.wsgi.api import application\n\
             class Server(ThreadingMixIn, WSGIServer):\n    daemon_threads = True\n\
             make_server('127.0.0.1', port, application, server_class=Server).serve_forever()\n",
        )
        .unwrap();
        let user = id("-un");
        let group = id("-gn");
        let manage = venv.join("bin/keystone-manage");
        let conf_arg = conf.display().to_string();
        let steps: [&[&str]; 4] = [
            &["db_sync"],
            &["fernet_setup", "--keystone-user", &user, "--keystone-group", &group],
            &["credential_setup", "--keystone-user", &user, "--keystone-group", &group],
            &[
                "bootstrap",
                "--bootstrap-password",
                Self::ADMIN_PASSWORD,
                "--bootstrap-public-url",
                &auth_url,
            ],
        ];
        for (i, step) in steps.iter().enumerate() {
            let mut cmd = keystone_command(&manage, &conf);
            cmd.arg("--config-file").arg(&conf_arg).args(*step);
            run_bounded(cmd, &d.join(format!("manage-{i}.log")), step[0]);
        }
        let log = File::create(d.join("serve.log")).unwrap();
        let child = keystone_command(&venv.join("bin/python"), &conf)
            .arg(d.join("serve.py"))
            .arg(port.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start Keystone");
        let mut keystone = RealKeystone { child: Some(child), auth_url, dir };
        keystone.wait_ready();
        keystone
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + KEYSTONE_STEP_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("Keystone exited with {status}:\n{}", self.log_tail());
            }
            if http_status(&self.auth_url) == Some(200) {
                return;
            }
            assert!(Instant::now() < deadline, "Keystone not ready:\n{}", self.log_tail());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_tail(&self) -> String {
        let mut out = String::new();
        for name in ["serve.log", "keystone.log"] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {name} ---\n"));
            out.push_str(&lines[lines.len().saturating_sub(30)..].join("\n"));
            out.push('\n');
        }
        out
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RealKeystone {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// `id FLAG`: the current user or group name (Keystone chowns its key repositories to it).
fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().expect("run id");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A command of the Keystone venv, configured by `conf` only (no `OS_*` of the caller).
fn keystone_command(program: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("OS_KEYSTONE_CONFIG_FILES", conf).env("PYTHONWARNINGS", "ignore").stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion within [`KEYSTONE_STEP_TIMEOUT`], output to `log`; panics on
/// failure with the log's tail.
fn run_bounded(mut cmd: Command, log: &Path, what: &str) {
    let out = File::create(log).unwrap();
    let mut child =
        cmd.stdout(out.try_clone().unwrap()).stderr(out).spawn().expect("run keystone-manage");
    let deadline = Instant::now() + KEYSTONE_STEP_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("keystone-manage {what} did not finish in {KEYSTONE_STEP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(status.success(), "keystone-manage {what} failed ({status}):\n{text}");
}

/// `GET url` with a plain blocking socket (sync code needs no HTTP client): the status, or None
/// if the connection failed.
fn http_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let (host, path) = url.strip_prefix("http://")?.split_once('/')?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

// ---- HTTP helpers ------------------------------------------------------------------------------

/// One response: status, `WWW-Authenticate`, `X-Subject-Token`, JSON body (Null if none).
#[derive(Debug)]
struct Reply {
    status: u16,
    www_authenticate: Option<String>,
    subject_token: Option<String>,
    body: Value,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

async fn send(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    subject: Option<&str>,
    body: Option<&Value>,
) -> Result<Reply, reqwest::Error> {
    let mut req = client().request(method, url);
    if let Some(t) = token {
        req = req.header("X-Auth-Token", t);
    }
    if let Some(s) = subject {
        req = req.header("X-Subject-Token", s);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await?;
    let header =
        |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (www_authenticate, subject_token) = (header("www-authenticate"), header("x-subject-token"));
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Reply { status, www_authenticate, subject_token, body })
}

async fn call(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    send(method.clone(), url, token, None, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Password login, project scope by name: the token.
async fn login(auth_url: &str, user: &str, password: &str, project: &str) -> String {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
    let url = format!("{auth_url}/auth/tokens?nocatalog");
    let reply = call(reqwest::Method::POST, &url, None, Some(&body)).await;
    assert_eq!(reply.status, 201, "login of {user} at {auth_url}: {}", reply.body);
    reply.subject_token.expect("X-Subject-Token on 201")
}

/// The Keystone's admin API, as its bootstrap admin.
struct Admin {
    auth_url: String,
    token: String,
}

impl Admin {
    async fn login(keystone: &Keystone) -> Admin {
        let auth_url = keystone.auth_url();
        let token = login(&auth_url, "admin", &keystone.admin_password(), "admin").await;
        Admin { auth_url, token }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Reply {
        call(method, &format!("{}{path}", self.auth_url), Some(&self.token), body).await
    }

    async fn create(&self, collection: &str, key: &str, attrs: Value) -> String {
        let reply = self
            .call(reqwest::Method::POST, &format!("/{collection}"), Some(&json!({key: attrs})))
            .await;
        assert_eq!(reply.status, 201, "create {key}: {}", reply.body);
        reply.body[key]["id"].as_str().unwrap().to_string()
    }

    async fn project(&self, name: &str) -> String {
        self.create("projects", "project", json!({"name": name, "domain_id": "default"})).await
    }

    async fn user(&self, name: &str, password: &str) -> String {
        let attrs = json!({"name": name, "domain_id": "default", "password": password});
        self.create("users", "user", attrs).await
    }

    /// The id of role `name` (created if this Keystone has none).
    async fn role(&self, name: &str) -> String {
        let reply = self.call(reqwest::Method::GET, "/roles", None).await;
        assert_eq!(reply.status, 200, "list roles: {}", reply.body);
        let found = reply.body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|r| r["id"].as_str().unwrap().to_string());
        match found {
            Some(id) => id,
            None => self.create("roles", "role", json!({"name": name})).await,
        }
    }

    async fn grant(&self, project: &str, user: &str, role: &str) {
        let path = format!("/projects/{project}/users/{user}/roles/{role}");
        let reply = self.call(reqwest::Method::PUT, &path, None).await;
        assert_eq!(reply.status, 204, "grant {path}: {}", reply.body);
    }

    async fn revoke(&self, token: &str) {
        let url = format!("{}/auth/tokens", self.auth_url);
        let reply = send(reqwest::Method::DELETE, &url, Some(&self.token), Some(token), None)
            .await
            .expect("DELETE /v3/auth/tokens");
        assert_eq!(reply.status, 204, "revoke: {}", reply.body);
    }
}

/// Calls `GET url` with `token` until the status is `want`, within [`CHANGE_TIMEOUT`].
async fn wait_for_status(url: &str, token: &str, want: u16) -> Reply {
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    loop {
        let reply = call(reqwest::Method::GET, url, Some(token), None).await;
        if reply.status == want {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "GET {url}: still {} after {CHANGE_TIMEOUT:?}, want {want}: {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---- the scenario -----------------------------------------------------------------------------

async fn scenario(mut keystone: Keystone) {
    let auth_url = keystone.auth_url();
    let admin = Admin::login(&keystone).await;

    // The service user neutrino logs in as (role `service` lets it validate others' tokens),
    // and a member of a project.
    let svc_project = admin.project(SERVICE_PROJECT).await;
    let svc_user = admin.user(SERVICE_USER, SERVICE_PASSWORD).await;
    let service_role = admin.role("service").await;
    admin.grant(&svc_project, &svc_user, &service_role).await;
    let demo = admin.project("demo").await;
    let member = admin.user("demo-member", MEMBER_PASSWORD).await;
    admin.grant(&demo, &member, &admin.role("member").await).await;

    // neutrino in keystone mode, its own state directory and database.
    let mut workdir = Workdir::new();
    let env = [
        ("NEUTRINO_IDENTITY__MODE", "keystone".to_string()),
        ("NEUTRINO_IDENTITY__AUTH_URL", auth_url.clone()),
        ("NEUTRINO_IDENTITY__USERNAME", SERVICE_USER.to_string()),
        ("NEUTRINO_IDENTITY__PASSWORD", SERVICE_PASSWORD.to_string()),
        ("NEUTRINO_IDENTITY__PROJECT_NAME", SERVICE_PROJECT.to_string()),
        ("NEUTRINO_IDENTITY__CACHE_SECONDS", "1".to_string()),
    ];
    let neutrino = Server::start_with_env(&mut workdir, "unused-admin-pw", &env);
    let base = neutrino.url.clone();
    let networks = format!("{base}/v2.0/networks");
    // No embedded identity: no Fernet keys, no clouds.yaml.
    assert!(!neutrino.state_dir.join("fernet-keys").exists());
    assert!(!neutrino.state_dir.join("clouds.yaml").exists());

    // A member's token from the Keystone works on neutrino, in the member's project.
    let token = login(&auth_url, "demo-member", MEMBER_PASSWORD, "demo").await;
    let reply = call(reqwest::Method::GET, &networks, Some(&token), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = json!({"network": {"name": "ext-ks-net"}});
    let created = call(reqwest::Method::POST, &networks, Some(&token), Some(&body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let net = &created.body["network"];
    assert_eq!(net["project_id"], demo.as_str());
    assert_eq!(net["tenant_id"], demo.as_str());
    let reply = call(reqwest::Method::GET, &networks, Some(&token), None).await;
    assert!(reply.body["networks"].as_array().unwrap().iter().any(|n| n["id"] == net["id"]));
    // Roles come from Keystone: a member may not set provider attributes, the admin may see
    // the member's network.
    let provider = json!({"network": {"name": "p", "provider:network_type": "vlan"}});
    let refused = call(reqwest::Method::POST, &networks, Some(&token), Some(&provider)).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let url = format!("{networks}/{}", net["id"].as_str().unwrap());
    let reply = call(reqwest::Method::GET, &url, Some(&admin.token), None).await;
    assert_eq!(reply.status, 200, "admin reads the member's network: {}", reply.body);

    // Invalid or missing token: 401 naming the external Keystone.
    let expected_uri = format!("Keystone uri=\"{auth_url}\"");
    for bad in [Some("not-a-token"), None] {
        let reply = call(reqwest::Method::GET, &networks, bad, None).await;
        assert_eq!(reply.status, 401, "{bad:?}: {}", reply.body);
        assert_eq!(reply.www_authenticate.as_deref(), Some(expected_uri.as_str()));
    }

    // /v3 is not served.
    for path in ["/v3", "/v3/", "/v3/auth/tokens", "/v3/projects"] {
        let reply = call(reqwest::Method::GET, &format!("{base}{path}"), Some(&token), None).await;
        assert_eq!(reply.status, 404, "GET {path}: {}", reply.body);
    }
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": "x"}}}}});
    let url = format!("{base}/v3/auth/tokens");
    assert_eq!(call(reqwest::Method::POST, &url, None, Some(&body)).await.status, 404);
    assert_eq!(call(reqwest::Method::GET, &format!("{base}/"), None, None).await.status, 200);

    // A token revoked at the Keystone stops working once the cache entry is gone.
    admin.revoke(&token).await;
    let reply = wait_for_status(&networks, &token, 401).await;
    assert_eq!(reply.www_authenticate.as_deref(), Some(expected_uri.as_str()));

    // The Keystone revokes neutrino's own token (setting the service user's password, to the
    // same value, revokes the user's tokens): neutrino logs in again and retries. Keystone
    // counts revocation times in whole seconds, so the new login must come in a later second.
    let patch = json!({"user": {"password": SERVICE_PASSWORD}});
    let path = format!("/users/{svc_user}");
    let reply = admin.call(reqwest::Method::PATCH, &path, Some(&patch)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let token = login(&auth_url, "demo-member", MEMBER_PASSWORD, "demo").await;
    let reply = call(reqwest::Method::GET, &networks, Some(&token), None).await;
    assert_eq!(reply.status, 200, "after the service token was revoked: {}", reply.body);
    let log = std::fs::read_to_string(&neutrino.log).unwrap();
    assert!(
        log.contains("refused neutrino's service token; logging in again"),
        "no new login in the log:\n{log}"
    );

    // The Keystone gone: a token neutrino has not checked yet gets 503 (not 401).
    let unchecked = login(&auth_url, "demo-member", MEMBER_PASSWORD, "demo").await;
    keystone.kill();
    let reply = call(reqwest::Method::GET, &networks, Some(&unchecked), None).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.body["NeutronError"]["type"], "ServiceUnavailable", "{}", reply.body);
    assert!(reply.www_authenticate.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_real_keystone() {
    let keystone = tokio::task::spawn_blocking(RealKeystone::start).await.unwrap();
    scenario(Keystone::Real(keystone)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_an_embedded_neutrino_as_keystone() {
    let mut workdir = Workdir::new();
    let server = Server::start(&mut workdir, "keystone-admin-pw");
    scenario(Keystone::Neutrino { server, _workdir: workdir }).await;
}
