//! `neutrino bench`: throughput and latency of the core network API through real HTTP.
//!
//! By default the bench starts its own server (this executable, `serve`, on a free loopback port
//! with a temporary state directory, SQLite and a random admin password) so that a number means
//! the same thing on every machine; `--url`/`--password` point it at a running server instead.
//!
//! For each concurrency level N it runs five timed phases, each with N concurrent clients pulling
//! work from a shared counter until the phase's fixed amount of work is done: network create,
//! subnet create (one /24 per network), port create (spread over those networks), port list
//! (filtered by network) and port delete. Each phase reports successful operations, errors,
//! throughput (successes per wall-clock second of the phase) and nearest-rank p50/p95/p99
//! latency of the successful requests. The level's networks are removed afterwards, untimed.
//!
//! The scale step then fills the project to `--ports` ports (on one network with enough /16
//! subnets), times the unfiltered `GET /v2.0/ports` a few times (latency to the last byte of the
//! body, reported as p50) and reads the server's peak and current resident memory from
//! `/proc/<pid>/status` (`VmHWM`, `VmRSS`).
//!
//! With `--ovn` the bench also starts an OVN central (NB and SB `ovsdb-server`, `ovn-northd`) on
//! unix sockets in a temporary directory and runs its server with the OVN mechanism driver, so
//! every create and delete above includes the NB commit. It then adds (see `bench/ovn.rs`): port
//! `up` in NB → `ACTIVE` in the API, NB restarted on an empty database while the server runs
//! (time until NB holds every port again), and `neutrino ovn-sync --mode log` over all ports with
//! the server stopped, and compares the figures with the OVN issue's targets.
//!
//! Every loop is bounded by a count; nothing retries forever. The bench refuses a non-loopback
//! `--url` unless `--allow-remote` is given, so that a typo does not load someone's cloud.

use std::future::Future;
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rand::Rng;
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

mod l3;
mod ovn;

/// Addresses a /24 gives to ports: 254 hosts minus the gateway and one service (metadata) port.
const PORTS_PER_24: usize = 252;
/// Ports placed on each /16 of the scale network (65534 hosts minus gateway and service ports,
/// rounded down for headroom).
const PORTS_PER_16: usize = 65_000;
/// /16 subnets available to the scale network: 172.16.0.0/16 ..= 172.31.0.0/16.
const MAX_SCALE_SUBNETS: usize = 16;
/// How long the bench's own server may take to answer `GET /`.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// Upper bound for one HTTP request (a full list of many ports in a debug build is slow).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Measure API throughput and latency, and list time and memory at scale.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Benchmark the server at this URL instead of starting one (needs --password).
    #[arg(long, requires = "password")]
    pub url: Option<String>,
    /// Password of --username on the --url server.
    #[arg(long, env = "NEUTRINO_BENCH_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// User to log in as (domain Default); needs the admin role to lift quotas.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// Project to scope the token to (domain Default); all resources are created in it.
    #[arg(long, default_value = "admin")]
    pub project: String,
    /// Process id of the --url server, to report its memory (the bench knows its own server's).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Allow a --url whose host is not a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Database URL for the server the bench starts (default: SQLite in its state directory).
    #[arg(long)]
    pub database: Option<String>,
    /// Concurrency levels, comma-separated: how many clients send requests at the same time.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub concurrency: Vec<usize>,
    /// Networks, each with one /24 subnet, created per concurrency level (at most 250).
    #[arg(long, default_value_t = 20)]
    pub networks: usize,
    /// Port creations, port lists and port deletions per concurrency level.
    #[arg(long, default_value_t = 400)]
    pub ops: usize,
    /// Ports in the project for the scale step (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    pub ports: usize,
    /// Timed repetitions of `GET /v2.0/ports` in the scale step.
    #[arg(long, default_value_t = 5)]
    pub list_repeats: usize,
    /// Print the figures as JSON on stdout instead of tables (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Start an OVN central too, run the server with the OVN mechanism driver and add the OVN
    /// measurements (port status, NB restart repair, ovn-sync).
    #[arg(long, conflicts_with = "url")]
    pub ovn: bool,
    /// With --ovn: ports bound to a fake chassis to time `up` in NB → ACTIVE (0 skips it).
    #[arg(long, default_value_t = 200)]
    pub ovn_status_ports: usize,
    /// With --ovn: the server's `[ovn] maintenance_interval_secs`.
    #[arg(long, default_value_t = 1)]
    pub ovn_maintenance_interval: u64,
    /// With --ovn: security group rules created one after the other (0 skips the L3 phases).
    #[arg(long, default_value_t = 200)]
    pub ovn_rules: usize,
    /// With --ovn: networks attached to one router, one `add_router_interface` each.
    #[arg(long, default_value_t = 100)]
    pub ovn_interfaces: usize,
    /// With --ovn: routers with a gateway created concurrently over three gateway chassis.
    #[arg(long, default_value_t = 1000)]
    pub ovn_routers: usize,
}

/// Run the benchmark described by `args`.
pub async fn run(args: BenchArgs) -> Result<()> {
    validate(&args)?;
    let mut central = if args.ovn { Some(ovn::OvnCentral::start().await?) } else { None };
    let env =
        central.as_ref().map(|c| c.server_env(args.ovn_maintenance_interval)).unwrap_or_default();
    let mut own = None;
    let (url, password, pid) = match &args.url {
        Some(url) => {
            let url = url.trim_end_matches('/').to_owned();
            ensure!(
                args.allow_remote || is_loopback_url(&url)?,
                "{url} is not a loopback address; pass --allow-remote to benchmark it anyway"
            );
            let password = args.password.clone().context("--url needs --password")?;
            (url, password, args.server_pid)
        }
        None => {
            let server = OwnServer::start(args.database.as_deref(), &env).await?;
            let triple = (server.url.clone(), server.password.clone(), server.pid);
            own = Some(server);
            triple
        }
    };
    // On Ctrl-C, still stop the server (and OVN) and remove their directories.
    let outcome = tokio::select! {
        outcome = bench(&args, &url, &password, pid, &mut own, central.as_mut(), &env) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if let Some(server) = own {
        server.stop().await;
    }
    if let Some(central) = central {
        central.stop().await;
    }
    let report = outcome?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    let failed: usize = report.operations.iter().map(|op| op.errors).sum::<usize>()
        + report.scale.as_ref().and_then(|s| s.fill.as_ref()).map_or(0, |f| f.errors);
    ensure!(failed == 0, "{failed} operations failed (see the errors column)");
    let ovn_failed = report.ovn.as_ref().map_or(0, ovn::OvnReport::failures);
    ensure!(ovn_failed == 0, "{ovn_failed} OVN checks failed (see the OVN section)");
    Ok(())
}

fn validate(args: &BenchArgs) -> Result<()> {
    ensure!(!args.concurrency.is_empty(), "--concurrency needs at least one level");
    ensure!(args.concurrency.len() <= 100, "at most 100 concurrency levels");
    ensure!(
        args.concurrency.iter().all(|&n| (1..=1024).contains(&n)),
        "concurrency levels must be between 1 and 1024"
    );
    ensure!((1..=250).contains(&args.networks), "--networks must be between 1 and 250");
    ensure!(
        args.ops <= args.networks * PORTS_PER_24,
        "--ops {} does not fit on {} /24 networks (at most {})",
        args.ops,
        args.networks,
        args.networks * PORTS_PER_24
    );
    ensure!(
        args.ports <= MAX_SCALE_SUBNETS * PORTS_PER_16,
        "--ports is limited to {}",
        MAX_SCALE_SUBNETS * PORTS_PER_16
    );
    ensure!(args.list_repeats >= 1, "--list-repeats must be at least 1");
    ensure!(
        args.ovn_status_ports <= PORTS_PER_24,
        "--ovn-status-ports is limited to {PORTS_PER_24}"
    );
    ensure!(
        (1..=3600).contains(&args.ovn_maintenance_interval),
        "--ovn-maintenance-interval must be between 1 and 3600"
    );
    Ok(())
}

fn is_loopback_url(url: &str) -> Result<bool> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("invalid --url {url}"))?;
    ensure!(parsed.scheme() == "http", "only plain http:// URLs are supported");
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

// ---------------------------------------------------------------------------------------------
// The bench's own server

/// A temporary directory removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let name = format!(
            "neutrino-bench-{}-{:08x}",
            std::process::id(),
            rand::thread_rng().gen::<u32>()
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `neutrino serve` started by the bench; killed if dropped without [`OwnServer::stop`].
#[derive(Debug)]
struct OwnServer {
    // Declared before `dir` so the process goes before its state directory.
    child: tokio::process::Child,
    pid: Option<u32>,
    url: String,
    password: String,
    log: PathBuf,
    /// `--state-dir` and `--database` it was started with (for `ovn-sync` on the same data).
    state: PathBuf,
    database: Option<String>,
    dir: TempDir,
}

impl OwnServer {
    /// Starts `serve` with `env` (`NEUTRINO_*` settings) added to a clean environment.
    async fn start(database: Option<&str>, env: &[(String, String)]) -> Result<OwnServer> {
        let dir = TempDir::new()?;
        let state = dir.0.join("state");
        std::fs::create_dir(&state)?;
        let log = dir.0.join("server.log");
        let out = std::fs::File::create(&log)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("http://127.0.0.1:{port}");
        let password: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let exe = std::env::current_exe().context("locate the neutrino executable")?;
        let mut cmd = tokio::process::Command::new(exe);
        // Hermetic: no config file or settings from the caller's environment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("NEUTRINO_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd.arg("serve")
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(&state)
            .arg("--public-url")
            .arg(&url)
            .arg("--admin-password")
            .arg(&password);
        if let Some(database) = database {
            cmd.arg("--database").arg(database);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("start neutrino serve")?;
        let pid = child.id();
        eprintln!("bench: started neutrino serve (pid {pid:?}) at {url}, log {}", log.display());
        let database = database.map(str::to_owned);
        let mut server = OwnServer { child, pid, url, password, log, state, database, dir };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("neutrino serve exited with {status}:\n{}", log_tail(&self.log));
            }
            if let Ok(resp) = http.get(format!("{}/", self.url)).send().await {
                if resp.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("neutrino serve not ready after {READY_TIMEOUT:?}:\n{}", log_tail(&self.log));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then SIGKILL if the server has not exited within a few seconds; the state
    /// directory stays until the server is dropped.
    async fn terminate(&mut self) {
        // `pid` is cleared once the process is reaped, so a reused pid is never signalled.
        let Some(pid) = self.pid.take() else { return };
        let _ =
            tokio::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(_) => eprintln!("bench: server stopped"),
            Err(_) => {
                eprintln!("bench: server ignored SIGTERM, killing it");
                let _ = self.child.kill().await;
            }
        }
    }

    /// [`OwnServer::terminate`], then remove the state directory.
    async fn stop(mut self) {
        self.terminate().await;
        drop(self.dir);
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// HTTP client

#[derive(Debug, Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn login(
        url: &str,
        user: &str,
        project: &str,
        password: &str,
    ) -> Result<(Client, String)> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .context("build HTTP client")?;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let resp = http
            .post(format!("{url}/v3/auth/tokens"))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {url}/v3/auth/tokens"))?;
        let status = resp.status();
        let token = resp.headers().get("x-subject-token").and_then(|v| v.to_str().ok());
        let token = token.map(str::to_owned);
        let reply: Value = resp.json().await.unwrap_or(Value::Null);
        ensure!(status.as_u16() == 201, "login as {user} failed with {status}: {reply}");
        let token = token.context("no X-Subject-Token in the login response")?;
        let project_id = reply["token"]["project"]["id"]
            .as_str()
            .context("no token.project.id in the login response")?
            .to_owned();
        Ok((Client { http, base: url.to_owned(), token }, project_id))
    }

    /// Send a request and read the whole body; errors only for transport failures.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>)> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.with_context(|| format!("{method} {path}: body"))?;
        Ok((status, bytes.to_vec()))
    }

    /// Send a request, require status `want` and parse the body (`Null` when empty).
    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        want: u16,
    ) -> Result<Value> {
        let (status, bytes) = self.send(method.clone(), path, body).await?;
        if status != want {
            let text = String::from_utf8_lossy(&bytes);
            let text: String = text.chars().take(400).collect();
            bail!("{method} {path}: {status} (expected {want}): {text}");
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{method} {path}: invalid JSON"))
    }

    /// Create one resource and return its id.
    async fn create(&self, collection: &str, key: &str, attrs: Value) -> Result<String> {
        let body = json!({ key: attrs });
        let reply =
            self.expect(Method::POST, &format!("/v2.0/{collection}"), Some(&body), 201).await?;
        Ok(reply[key]["id"].as_str().context("created object has no id")?.to_owned())
    }

    async fn delete(&self, collection: &str, id: &str) -> Result<()> {
        self.expect(Method::DELETE, &format!("/v2.0/{collection}/{id}"), None, 204).await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Measurement

/// Figures for one operation at one concurrency level.
#[derive(Debug, Clone, Serialize)]
struct OpStats {
    operation: String,
    concurrency: usize,
    /// Successful operations.
    count: usize,
    errors: usize,
    seconds: f64,
    ops_per_sec: f64,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0)
}

/// Three decimals are plenty for milliseconds and rates, and keep the JSON readable.
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Run `total` operations `op(0..total)` with `workers` concurrent clients. Returns the stats and
/// each operation's result by index (`None` for failures; the first failure is printed).
async fn drive<T, F, Fut>(
    operation: &str,
    workers: usize,
    total: usize,
    op: F,
) -> Result<(OpStats, Vec<Option<T>>)>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..workers.clamp(1, total.max(1)) {
        let op = op.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t0 = Instant::now();
                let result = op(i).await;
                done.push((i, t0.elapsed(), result));
            }
            done
        }));
    }
    let mut results: Vec<Option<T>> = (0..total).map(|_| None).collect();
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    let mut first_error = None;
    for handle in handles {
        for (i, latency, result) in handle.await.context("bench worker panicked")? {
            match result {
                Ok(value) => {
                    latencies.push(latency);
                    results[i] = Some(value);
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(e) = first_error {
        eprintln!("bench: {operation}: {errors} of {total} failed; first error: {e:#}");
    }
    latencies.sort_unstable();
    let stats = OpStats {
        operation: operation.to_owned(),
        concurrency: workers,
        count: latencies.len(),
        errors,
        seconds: round3(seconds),
        ops_per_sec: round3(if seconds > 0.0 { latencies.len() as f64 / seconds } else { 0.0 }),
        p50_ms: percentile_ms(&latencies, 50.0).map(round3),
        p95_ms: percentile_ms(&latencies, 95.0).map(round3),
        p99_ms: percentile_ms(&latencies, 99.0).map(round3),
    };
    Ok((stats, results))
}

/// The timed full list of the scale step.
#[derive(Debug, Clone, Serialize)]
struct ListStats {
    runs: usize,
    ports_returned: usize,
    body_bytes: usize,
    p50_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

/// Resident memory of the server process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Serialize)]
struct Memory {
    pid: u32,
    peak_rss_kib: u64,
    current_rss_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
struct Scale {
    target_ports: usize,
    ports_in_project: usize,
    fill: Option<OpStats>,
    list: ListStats,
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    url: String,
    own_server: bool,
    operations: Vec<OpStats>,
    scale: Option<Scale>,
    memory: Option<Memory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ovn: Option<ovn::OvnReport>,
}

fn read_memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()
    };
    Some(Memory { pid, peak_rss_kib: field("VmHWM:")?, current_rss_kib: field("VmRSS:")? })
}

// ---------------------------------------------------------------------------------------------
// The benchmark

async fn bench(
    args: &BenchArgs,
    url: &str,
    password: &str,
    pid: Option<u32>,
    own: &mut Option<OwnServer>,
    central: Option<&mut ovn::OvnCentral>,
    ovn_env: &[(String, String)],
) -> Result<Report> {
    let own_server = own.is_some();
    let (client, project_id) = Client::login(url, &args.username, &args.project, password).await?;
    // Default quotas (100 networks, 100 subnets, 500 ports) are far below what the bench needs.
    let quota = json!({"quota": {"network": -1, "subnet": -1, "port": -1}});
    if let Err(e) =
        client.expect(Method::PUT, &format!("/v2.0/quotas/{project_id}"), Some(&quota), 200).await
    {
        eprintln!("bench: warning: could not lift the project's quotas: {e:#}");
    }

    let mut ovn_report = match central.as_deref() {
        Some(central) => {
            let probe = ovn::probe(&client, central).await?;
            let version = central.version.clone();
            Some(ovn::OvnReport::new(version, args.ovn_maintenance_interval, probe))
        }
        None => None,
    };

    let mut operations = Vec::new();
    for (level, &workers) in args.concurrency.iter().enumerate() {
        eprintln!("bench: concurrency {workers}");
        let (stats, check) = run_level(&client, level, workers, args, central.as_deref()).await?;
        operations.extend(stats);
        if let (Some(report), Some(check)) = (ovn_report.as_mut(), check) {
            report.nb_checks.push(check);
        }
    }
    let workers = args.concurrency.iter().copied().max().unwrap_or(1);
    if let (Some(report), Some(central)) = (ovn_report.as_mut(), central.as_deref()) {
        if args.ovn_status_ports > 0 {
            eprintln!("bench: OVN port status over {} ports", args.ovn_status_ports);
            let result = ovn::port_status(&client, central, args.ovn_status_ports, workers).await;
            report.status = report.keep("port status", result);
        }
        if args.ovn_rules > 0 {
            eprintln!(
                "bench: OVN L3: {} rules, {} interfaces, {} routers with gateways",
                args.ovn_rules, args.ovn_interfaces, args.ovn_routers
            );
            let result = l3::l3(
                &client,
                central,
                args.ovn_rules,
                args.ovn_interfaces,
                args.ovn_routers,
                workers,
            )
            .await;
            report.l3 = report.keep("L3", result);
        }
    }
    let scale = if args.ports > 0 {
        Some(run_scale(&client, &project_id, workers, args, own_server).await?)
    } else {
        None
    };
    if let (Some(report), Some(central)) = (ovn_report.as_mut(), central) {
        let result = ovn::drift(&client, central, args.ovn_maintenance_interval).await;
        report.drift = report.keep("NB restart", result);
    }
    let memory = pid.and_then(read_memory);
    if let (Some(report), Some(server)) = (ovn_report.as_mut(), own.as_mut()) {
        // ovn-sync reads the database alone, as an operator would run it.
        let listed = client.expect(Method::GET, "/v2.0/ports?fields=id", None, 200).await;
        let ports = listed.map(|l| l["ports"].as_array().map_or(0, Vec::len));
        let ports = report.keep("count ports", ports).unwrap_or_default();
        server.terminate().await;
        let result = ovn::ovn_sync(server, ovn_env, ports).await;
        report.sync = report.keep("ovn-sync", result);
        report.set_targets(&operations);
    }
    Ok(Report { url: url.to_owned(), own_server, operations, scale, memory, ovn: ovn_report })
}

/// One concurrency level: the five timed phases, then untimed removal of its networks.
/// With OVN, also how many of the created ports NB held right after the port-create phase.
async fn run_level(
    client: &Client,
    level: usize,
    workers: usize,
    args: &BenchArgs,
    central: Option<&ovn::OvnCentral>,
) -> Result<(Vec<OpStats>, Option<ovn::NbCheck>)> {
    let mut out = Vec::new();

    let c = client.clone();
    let (stats, nets) = drive("network create", workers, args.networks, move |i| {
        let c = c.clone();
        async move {
            c.create("networks", "network", json!({"name": format!("bench-{workers}-{i}")})).await
        }
    })
    .await?;
    out.push(stats);
    let nets: Arc<Vec<String>> = Arc::new(nets.into_iter().flatten().collect());
    ensure!(!nets.is_empty(), "no network could be created");

    // 10.(100+level).i.0/24: distinct across levels and networks.
    let c = client.clone();
    let n = nets.clone();
    let (stats, subnets) = drive("subnet create", workers, nets.len(), move |i| {
        let c = c.clone();
        let network_id = n[i].clone();
        async move {
            let attrs = json!({"network_id": network_id, "ip_version": 4,
                               "cidr": format!("10.{}.{i}.0/24", 100 + level)});
            c.create("subnets", "subnet", attrs).await.map(|_| network_id)
        }
    })
    .await?;
    out.push(stats);
    let usable: Arc<Vec<String>> = Arc::new(subnets.into_iter().flatten().collect());
    ensure!(!usable.is_empty(), "no subnet could be created");
    let ops = args.ops.min(usable.len() * PORTS_PER_24);

    let c = client.clone();
    let n = usable.clone();
    let (stats, ports) = drive("port create", workers, ops, move |i| {
        let c = c.clone();
        let network_id = n[i % n.len()].clone();
        async move { c.create("ports", "port", json!({"network_id": network_id})).await }
    })
    .await?;
    out.push(stats);
    let ports: Arc<Vec<String>> = Arc::new(ports.into_iter().flatten().collect());
    let check = match central {
        Some(central) => Some(ovn::nb_check(central, workers, &ports).await?),
        None => None,
    };

    let c = client.clone();
    let n = usable.clone();
    let (stats, _) = drive("port list", workers, ops, move |i| {
        let c = c.clone();
        let path = format!("/v2.0/ports?network_id={}", n[i % n.len()]);
        async move { c.expect(Method::GET, &path, None, 200).await.map(drop) }
    })
    .await?;
    out.push(stats);

    let c = client.clone();
    let p = ports.clone();
    let (stats, _) = drive("port delete", workers, ports.len(), move |i| {
        let c = c.clone();
        let id = p[i].clone();
        async move { c.delete("ports", &id).await }
    })
    .await?;
    out.push(stats);

    // Deleting a network removes its subnets (and service ports) too.
    let c = client.clone();
    let n = nets.clone();
    let (stats, _) = drive("network delete", workers, nets.len(), move |i| {
        let c = c.clone();
        let id = n[i].clone();
        async move { c.delete("networks", &id).await }
    })
    .await?;
    if stats.errors > 0 {
        eprintln!("bench: warning: {} networks of this level were not removed", stats.errors);
    }
    Ok((out, check))
}

/// Count the project's ports (service ports included).
async fn count_ports(client: &Client, project_id: &str) -> Result<usize> {
    let reply = client
        .expect(Method::GET, &format!("/v2.0/ports?project_id={project_id}&fields=id"), None, 200)
        .await?;
    Ok(reply["ports"].as_array().context("no ports list")?.len())
}

/// Fill the project to `--ports` ports, time the full list, and clean up on a foreign server.
async fn run_scale(
    client: &Client,
    project_id: &str,
    workers: usize,
    args: &BenchArgs,
    own_server: bool,
) -> Result<Scale> {
    let existing = count_ports(client, project_id).await?;
    let need = args.ports.saturating_sub(existing);
    eprintln!("bench: scale: {existing} ports in the project, creating {need}");
    let mut fill = None;
    let mut network = None;
    let mut created: Arc<Vec<String>> = Arc::default();
    if need > 0 {
        let network_id =
            client.create("networks", "network", json!({"name": "bench-scale"})).await?;
        network = Some(network_id.clone());
        let mut subnets = Vec::new();
        for j in 0..need.div_ceil(PORTS_PER_16) {
            let attrs = json!({"network_id": network_id, "ip_version": 4,
                               "cidr": format!("172.{}.0.0/16", 16 + j), "name": format!("bench-scale-{j}")});
            subnets.push(client.create("subnets", "subnet", attrs).await?);
        }
        let subnets = Arc::new(subnets);
        let c = client.clone();
        let (stats, ports) = drive("port create (fill)", workers, need, move |i| {
            let c = c.clone();
            let attrs = json!({"network_id": network_id,
                               "fixed_ips": [{"subnet_id": subnets[i / PORTS_PER_16]}]});
            async move { c.create("ports", "port", attrs).await }
        })
        .await?;
        fill = Some(stats);
        created = Arc::new(ports.into_iter().flatten().collect());
    }

    let mut times = Vec::with_capacity(args.list_repeats);
    let mut last = Vec::new();
    for _ in 0..args.list_repeats {
        let t0 = Instant::now();
        let (status, body) = client.send(Method::GET, "/v2.0/ports", None).await?;
        times.push(t0.elapsed());
        ensure!(status == 200, "GET /v2.0/ports: {status}");
        last = body;
    }
    let listed: Value = serde_json::from_slice(&last).context("GET /v2.0/ports: invalid JSON")?;
    let ports_returned = listed["ports"].as_array().map_or(0, Vec::len);
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let list = ListStats {
        runs: times.len(),
        ports_returned,
        body_bytes: last.len(),
        p50_ms: round3(percentile_ms(&times, 50.0).unwrap_or_default()),
        min_ms: round3(ms(times[0])),
        max_ms: round3(ms(times[times.len() - 1])),
    };
    let ports_in_project = count_ports(client, project_id).await?;

    // A server the bench started is thrown away with its state; someone else's is tidied up.
    if !own_server {
        if let Some(network_id) = network {
            eprintln!("bench: removing the {} scale ports", created.len());
            let c = client.clone();
            let p = created.clone();
            let (stats, _) = drive("port delete (cleanup)", workers, created.len(), move |i| {
                let c = c.clone();
                let id = p[i].clone();
                async move { c.delete("ports", &id).await }
            })
            .await?;
            if stats.errors == 0 {
                client.delete("networks", &network_id).await?;
            }
        }
    }
    Ok(Scale { target_ports: args.ports, ports_in_project, fill, list })
}

// ---------------------------------------------------------------------------------------------
// Output

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn print_report(report: &Report) {
    let which = match (report.own_server, report.ovn.is_some()) {
        (true, true) => "started by the bench, OVN mechanism driver",
        (true, false) => "started by the bench",
        (false, _) => "existing",
    };
    println!("neutrino bench against {} ({which})", report.url);
    println!();
    let mut rows: Vec<&OpStats> = report.operations.iter().collect();
    if let Some(fill) = report.scale.as_ref().and_then(|s| s.fill.as_ref()) {
        rows.push(fill);
    }
    let width = rows.iter().map(|r| r.operation.len()).max().unwrap_or(9).max(9);
    println!(
        "{:>4}  {:<width$}  {:>6}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}",
        "conc", "operation", "count", "errors", "ops/s", "p50 ms", "p95 ms", "p99 ms"
    );
    let mut previous = None;
    for row in rows {
        if previous.is_some_and(|c| c != row.concurrency) {
            println!();
        }
        previous = Some(row.concurrency);
        println!(
            "{:>4}  {:<width$}  {:>6}  {:>6}  {:>9.1}  {:>9}  {:>9}  {:>9}",
            row.concurrency,
            row.operation,
            row.count,
            row.errors,
            row.ops_per_sec,
            fmt_ms(row.p50_ms),
            fmt_ms(row.p95_ms),
            fmt_ms(row.p99_ms)
        );
    }
    if let Some(scale) = &report.scale {
        let list = &scale.list;
        println!();
        println!(
            "scale: {} ports in the project (target {})",
            scale.ports_in_project, scale.target_ports
        );
        println!(
            "  GET /v2.0/ports: {} ports, {:.1} MiB body, {} runs: p50 {:.1} ms (min {:.1}, max {:.1})",
            list.ports_returned,
            list.body_bytes as f64 / (1024.0 * 1024.0),
            list.runs,
            list.p50_ms,
            list.min_ms,
            list.max_ms
        );
    }
    match &report.memory {
        Some(m) => println!(
            "  server memory (pid {}): peak RSS {}, current RSS {}",
            m.pid,
            mib(m.peak_rss_kib),
            mib(m.current_rss_kib)
        ),
        None => println!("  server memory: unknown (pass --server-pid with --url)"),
    }
    if let Some(ovn) = &report.ovn {
        ovn::print_ovn(ovn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&ms, 50.0), Some(50.0));
        assert_eq!(percentile_ms(&ms, 95.0), Some(95.0));
        assert_eq!(percentile_ms(&ms, 99.0), Some(99.0));
        assert_eq!(percentile_ms(&ms[..1], 99.0), Some(1.0));
        assert_eq!(percentile_ms(&[], 50.0), None);
    }

    #[test]
    fn only_loopback_urls_are_accepted_by_default() {
        assert!(is_loopback_url("http://127.0.0.1:9696").unwrap());
        assert!(is_loopback_url("http://localhost:9696/").unwrap());
        assert!(is_loopback_url("http://[::1]:9696").unwrap());
        assert!(!is_loopback_url("http://10.0.0.5:9696").unwrap());
        assert!(is_loopback_url("https://127.0.0.1:9696").is_err());
    }
}
