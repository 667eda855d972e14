//! `neutrino bench --ovn`: the OVN central the bench starts for its server, and the figures that
//! exist only with the OVN mechanism driver.
//!
//! The central is an NB and an SB `ovsdb-server` and `ovn-northd`, each with its pid file, log,
//! control socket and database under a temporary directory, listening on unix sockets only. The
//! bench's server gets `[ml2] mechanism_drivers = ["ovn"]` and the two remotes through `NEUTRINO_*`
//! variables. Every process is killed when the central is dropped, also on errors.
//!
//! Phases (called by `bench.rs` in this order):
//! - [`probe`]: one network must appear in NB as its `Logical_Switch`, so that a broken driver is
//!   reported instead of measured.
//! - [`nb_check`] after each level's port creation: how many of the created ports NB holds.
//! - [`port_status`]: per port, `ovn-sbctl lsp-bind` to a fake chassis, then `GET` the port every
//!   2 ms until it is `ACTIVE` (northd sets `Logical_Switch_Port.up`, the server's watcher the
//!   status); latency from the bind command's return to the answer that shows `ACTIVE`.
//! - [`drift`], with the server running and the scale ports in place: kill NB, replace its
//!   database with an empty one, start it again and count NB's `Logical_Switch_Port` rows (an
//!   OVSDB `select` through `ovsdb-client`) every 100 ms until NB holds as many as the API lists.
//! - [`ovn_sync`], with the server stopped: `neutrino ovn-sync --mode log` on the same database
//!   and remotes; its wall time and the counts it prints.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use super::{drive, log_tail, percentile_ms, round3, Client, OpStats, OwnServer, TempDir};

/// Where distributions install the OVN schemas.
const SCHEMA_DIRS: &[&str] = &["/usr/share/ovn", "/usr/local/share/ovn"];
/// Programs the central and the measurements need.
const BINARIES: &[&str] =
    &["ovsdb-tool", "ovsdb-server", "ovsdb-client", "ovn-northd", "ovn-nbctl", "ovn-sbctl"];
/// How long a daemon may take to create its socket.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for one `ovsdb-tool`/`ovn-nbctl`/`ovn-sbctl` run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the probe network may take to reach NB.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one bound port may take to turn `ACTIVE` before it counts as timed out.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two `GET`s of a port waiting for `ACTIVE`.
const STATUS_POLL: Duration = Duration::from_millis(2);
/// How long NB may take to hold every port again after its restart.
const DRIFT_TIMEOUT: Duration = Duration::from_secs(180);
/// Pause between two counts of NB's ports while it is being repaired.
const DRIFT_POLL: Duration = Duration::from_millis(100);
/// Upper bound for `neutrino ovn-sync`.
const SYNC_TIMEOUT: Duration = Duration::from_secs(600);
/// The fake chassis ports are bound to.
const CHASSIS: &str = "bench-ch";

// ---------------------------------------------------------------------------------------------
// OVN central

/// NB and SB `ovsdb-server` and `ovn-northd` on unix sockets in a temporary directory.
#[derive(Debug)]
pub(super) struct OvnCentral {
    // Declared before `dir` so the processes go before their directory.
    nb: Option<Child>,
    sb: Option<Child>,
    northd: Option<Child>,
    /// `ovn-northd --version`, first line.
    pub(super) version: String,
    dir: TempDir,
}

impl OvnCentral {
    pub(super) async fn start() -> Result<OvnCentral> {
        for bin in BINARIES {
            let found = Command::new(bin)
                .arg("--version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status()
                .await;
            ensure!(
                found.is_ok_and(|s| s.success()),
                "--ovn needs {bin}: install ovn-central and openvswitch-common"
            );
        }
        let dir = TempDir::new()?;
        let mut central =
            OvnCentral { nb: None, sb: None, northd: None, version: String::new(), dir };
        central.create_db("nb").await?;
        central.create_db("sb").await?;
        central.nb = Some(central.spawn_server("nb")?);
        central.sb = Some(central.spawn_server("sb")?);
        central.wait_server("nb").await?;
        central.wait_server("sb").await?;
        let d = central.path().to_owned();
        let northd = Command::new("ovn-northd")
            .arg(format!("--ovnnb-db={}", central.nb_remote()))
            .arg(format!("--ovnsb-db={}", central.sb_remote()))
            .arg(format!("--pidfile={}", d.join("northd.pid").display()))
            .arg(format!("--log-file={}", d.join("northd.log").display()))
            .arg(format!("--unixctl={}", d.join("northd.ctl").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start ovn-northd")?;
        let northd = central.northd.insert(northd);
        wait_path(&d.join("northd.ctl"), northd, &d.join("northd.log"), "ovn-northd").await?;
        let version = run_tool("ovn-northd", ["--version"]).await?;
        central.version = version.lines().next().unwrap_or_default().trim().to_owned();
        eprintln!("bench: started OVN central ({}) in {}", central.version, d.display());
        Ok(central)
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub(super) fn nb_remote(&self) -> String {
        format!("unix:{}", self.file("nb.sock").display())
    }

    pub(super) fn sb_remote(&self) -> String {
        format!("unix:{}", self.file("sb.sock").display())
    }

    /// The `NEUTRINO_*` settings that point a server (or `ovn-sync`) at this central.
    pub(super) fn server_env(&self, maintenance_interval_secs: u64) -> Vec<(String, String)> {
        vec![
            ("NEUTRINO_ML2__MECHANISM_DRIVERS".into(), r#"["ovn"]"#.into()),
            ("NEUTRINO_OVN__NB_CONNECTION".into(), self.nb_remote()),
            ("NEUTRINO_OVN__SB_CONNECTION".into(), self.sb_remote()),
            (
                "NEUTRINO_OVN__MAINTENANCE_INTERVAL_SECS".into(),
                maintenance_interval_secs.to_string(),
            ),
        ]
    }

    /// `ovsdb-tool create` of an empty `nb` or `sb` database (replacing any old file).
    async fn create_db(&self, db: &str) -> Result<()> {
        let file = self.file(&format!("{db}.db"));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("remove {}", file.display())),
        }
        let schema = schema(&format!("ovn-{db}.ovsschema"))?;
        run_tool("ovsdb-tool", [OsStr::new("create"), file.as_os_str(), schema.as_os_str()])
            .await?;
        Ok(())
    }

    fn spawn_server(&self, db: &str) -> Result<Child> {
        Command::new("ovsdb-server")
            .arg(format!("--remote=punix:{}", self.file(&format!("{db}.sock")).display()))
            .arg(format!("--pidfile={}", self.file(&format!("{db}.pid")).display()))
            .arg(format!("--log-file={}", self.file(&format!("{db}.log")).display()))
            .arg(format!("--unixctl={}", self.file(&format!("{db}.ctl")).display()))
            .arg(self.file(&format!("{db}.db")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start ovsdb-server for {db}"))
    }

    async fn wait_server(&mut self, db: &str) -> Result<()> {
        let socket = self.file(&format!("{db}.sock"));
        let log = self.file(&format!("{db}.log"));
        let child = match db {
            "nb" => self.nb.as_mut(),
            _ => self.sb.as_mut(),
        };
        let child = child.context("ovsdb-server not started")?;
        wait_path(&socket, child, &log, &format!("{db} ovsdb-server")).await
    }

    /// Kills the NB server and replaces its database with an empty one; NB stays down.
    pub(super) async fn kill_nb_and_empty(&mut self) -> Result<()> {
        if let Some(mut child) = self.nb.take() {
            child.kill().await.context("kill the NB ovsdb-server")?;
        }
        let _ = std::fs::remove_file(self.file("nb.sock"));
        self.create_db("nb").await
    }

    /// Starts the NB server on its database file and waits for its socket.
    pub(super) async fn start_nb(&mut self) -> Result<()> {
        ensure!(self.nb.is_none(), "NB is already running");
        self.nb = Some(self.spawn_server("nb")?);
        self.wait_server("nb").await
    }

    /// `ovn-nbctl` against this NB; its stdout.
    pub(super) async fn nbctl(&self, args: &[&str]) -> Result<String> {
        let db = format!("--db={}", self.nb_remote());
        let pre = [db.as_str(), "--timeout=30"];
        run_tool("ovn-nbctl", pre.iter().chain(args)).await
    }

    /// `ovn-sbctl` against this SB; its stdout.
    pub(super) async fn sbctl(&self, args: &[&str]) -> Result<String> {
        let db = format!("--db={}", self.sb_remote());
        let pre = [db.as_str(), "--timeout=30"];
        run_tool("ovn-sbctl", pre.iter().chain(args)).await
    }

    /// Names of every `Logical_Switch_Port` in NB.
    pub(super) async fn lsp_names(&self) -> Result<HashSet<String>> {
        let out = self.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch_Port"]).await?;
        Ok(out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
    }

    /// Rows in NB's `Logical_Switch_Port`, by one OVSDB `select` of `_uuid` (`ovsdb-client`):
    /// ~30 ms at 10,000 ports where `ovn-nbctl list` takes ~0.4-0.75 s of CPU, which on two
    /// cores slowed down the repair being measured.
    pub(super) async fn lsp_count(&self) -> Result<usize> {
        let select = json!(["OVN_Northbound", {"op": "select", "table": "Logical_Switch_Port",
                                              "where": [], "columns": ["_uuid"]}]);
        let out =
            run_tool("ovsdb-client", ["transact".to_owned(), self.nb_remote(), select.to_string()])
                .await?;
        let reply: Value = serde_json::from_str(&out).context("ovsdb-client: invalid JSON")?;
        let rows = reply[0]["rows"].as_array();
        rows.map(Vec::len).with_context(|| format!("ovsdb-client: unexpected reply {reply}"))
    }

    /// Kills every process (and waits for it), then removes the directory.
    pub(super) async fn stop(mut self) {
        for child in [self.northd.take(), self.nb.take(), self.sb.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill().await;
        }
        eprintln!("bench: OVN central stopped");
    }
}

fn schema(name: &str) -> Result<PathBuf> {
    SCHEMA_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .with_context(|| format!("{name} not found in {SCHEMA_DIRS:?}"))
}

/// Waits (bounded) for a daemon's socket, failing early if the daemon exits.
async fn wait_path(path: &Path, child: &mut Child, log: &Path, what: &str) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !path.exists() {
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited with {status}:\n{}", log_tail(log));
        }
        if Instant::now() > deadline {
            bail!(
                "{what}: {} did not appear in {START_TIMEOUT:?}:\n{}",
                path.display(),
                log_tail(log)
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Runs a program to completion (bounded by [`TOOL_TIMEOUT`]) and returns its stdout; fails on a
/// non-zero exit with its stderr.
async fn run_tool<I, S>(bin: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_remove("OVN_NB_DAEMON")
        .env_remove("OVN_SB_DAEMON")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(TOOL_TIMEOUT, cmd.output())
        .await
        .with_context(|| format!("{bin} did not finish in {TOOL_TIMEOUT:?}"))?
        .with_context(|| format!("run {bin}"))?;
    ensure!(
        out.status.success(),
        "{bin} failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// Creates a network and waits until NB has its `Logical_Switch`, then deletes it.
pub(super) async fn probe(client: &Client, central: &OvnCentral) -> Result<Duration> {
    let started = Instant::now();
    let id = client.create("networks", "network", json!({"name": "bench-ovn-probe"})).await?;
    let ls = format!("neutron-{id}");
    loop {
        let out = central.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch"]).await?;
        if out.lines().any(|l| l.trim() == ls) {
            break;
        }
        ensure!(
            started.elapsed() < PROBE_TIMEOUT,
            "the server did not write network {id} to OVN NB within {PROBE_TIMEOUT:?}; \
             is the OVN mechanism driver wired into `neutrino serve`?"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    client.delete("networks", &id).await?;
    Ok(took)
}

/// How many of one level's created ports NB held right after the port-create phase.
#[derive(Debug, Clone, Serialize)]
pub(super) struct NbCheck {
    pub(super) concurrency: usize,
    pub(super) ports_created: usize,
    pub(super) in_nb: usize,
}

pub(super) async fn nb_check(
    central: &OvnCentral,
    concurrency: usize,
    ports: &[String],
) -> Result<NbCheck> {
    let names = central.lsp_names().await?;
    let in_nb = ports.iter().filter(|p| names.contains(p.as_str())).count();
    if in_nb < ports.len() {
        eprintln!(
            "bench: warning: only {in_nb} of {} created ports are in NB right after creation",
            ports.len()
        );
    }
    Ok(NbCheck { concurrency, ports_created: ports.len(), in_nb })
}

/// Port `up` in NB → `ACTIVE` in the API.
#[derive(Debug, Clone, Serialize)]
pub(super) struct StatusStats {
    pub(super) ports: usize,
    pub(super) active: usize,
    pub(super) timeouts: usize,
    pub(super) poll_interval_ms: f64,
    /// How long one `ovn-sbctl lsp-bind` took (process start to exit), p50.
    pub(super) bind_command_p50_ms: Option<f64>,
    pub(super) p50_ms: Option<f64>,
    pub(super) p95_ms: Option<f64>,
    pub(super) p99_ms: Option<f64>,
    pub(super) max_ms: Option<f64>,
}

/// Creates `count` ports on a network of their own, binds each to a fake chassis in SB and waits
/// for it to turn `ACTIVE`; removes the ports and the network afterwards.
pub(super) async fn port_status(
    client: &Client,
    central: &OvnCentral,
    count: usize,
    workers: usize,
) -> Result<StatusStats> {
    let net = client.create("networks", "network", json!({"name": "bench-ovn-status"})).await?;
    let attrs = json!({"network_id": net, "ip_version": 4, "cidr": "10.99.0.0/24"});
    client.create("subnets", "subnet", attrs).await?;
    let c = client.clone();
    let n = net.clone();
    let (stats, ports) = drive("port create (status)", workers, count, move |i| {
        let c = c.clone();
        let attrs = json!({"network_id": n, "name": format!("bench-status-{i}")});
        async move { c.create("ports", "port", attrs).await }
    })
    .await?;
    let ports: Vec<String> = ports.into_iter().flatten().collect();
    ensure!(stats.errors == 0, "{} of {count} status ports could not be created", stats.errors);

    let measured = bind_and_wait(client, central, &ports).await;

    // Untimed cleanup; the network cannot go while it has ports.
    let c = client.clone();
    let p = std::sync::Arc::new(ports);
    let (stats, _) = drive("port delete (status)", workers, p.len(), move |i| {
        let c = c.clone();
        let id = p[i].clone();
        async move { c.delete("ports", &id).await }
    })
    .await?;
    if stats.errors == 0 {
        client.delete("networks", &net).await?;
    }
    measured
}

async fn bind_and_wait(
    client: &Client,
    central: &OvnCentral,
    ports: &[String],
) -> Result<StatusStats> {
    // Every port needs its SB Port_Binding (made by northd) before it can be bound.
    central.nbctl(&["--wait=sb", "sync"]).await.context("wait for northd")?;
    central.sbctl(&["--may-exist", "chassis-add", CHASSIS, "geneve", "127.0.0.1"]).await?;
    let mut binds = Vec::with_capacity(ports.len());
    let mut latencies = Vec::with_capacity(ports.len());
    let mut timeouts = 0;
    for id in ports {
        let t_bind = Instant::now();
        central.sbctl(&["lsp-bind", id, CHASSIS]).await?;
        binds.push(t_bind.elapsed());
        let bound = Instant::now();
        let path = format!("/v2.0/ports/{id}");
        loop {
            let reply = client.expect(Method::GET, &path, None, 200).await?;
            if reply["port"]["status"] == "ACTIVE" {
                latencies.push(bound.elapsed());
                break;
            }
            if bound.elapsed() > ACTIVE_TIMEOUT {
                timeouts += 1;
                eprintln!(
                    "bench: port {id} still {} {ACTIVE_TIMEOUT:?} after lsp-bind",
                    reply["port"]["status"]
                );
                break;
            }
            tokio::time::sleep(STATUS_POLL).await;
        }
    }
    binds.sort_unstable();
    latencies.sort_unstable();
    Ok(StatusStats {
        ports: ports.len(),
        active: latencies.len(),
        timeouts,
        poll_interval_ms: STATUS_POLL.as_secs_f64() * 1000.0,
        bind_command_p50_ms: percentile_ms(&binds, 50.0).map(round3),
        p50_ms: percentile_ms(&latencies, 50.0).map(round3),
        p95_ms: percentile_ms(&latencies, 95.0).map(round3),
        p99_ms: percentile_ms(&latencies, 99.0).map(round3),
        max_ms: percentile_ms(&latencies, 100.0).map(round3),
    })
}

/// NB restarted on an empty database while the server runs.
#[derive(Debug, Clone, Serialize)]
pub(super) struct DriftStats {
    pub(super) maintenance_interval_secs: u64,
    /// Ports the API lists (every project): what NB must hold again.
    pub(super) ports_in_api: usize,
    /// `Logical_Switch_Port` rows before NB was killed.
    pub(super) lsps_before: usize,
    /// Rows at the last count.
    pub(super) lsps_after: usize,
    /// From the restart of NB until its socket exists.
    pub(super) nb_socket_secs: f64,
    /// From the restart of NB until a count first saw a port in it.
    pub(super) first_port_secs: Option<f64>,
    /// From the restart of NB until a count saw every port (at that count's end).
    pub(super) converged_secs: Option<f64>,
    pub(super) counts: usize,
    /// How long the last `ovn-nbctl list` took: the resolution of the figures above.
    pub(super) last_count_ms: f64,
}

pub(super) async fn drift(
    client: &Client,
    central: &mut OvnCentral,
    maintenance_interval_secs: u64,
) -> Result<DriftStats> {
    let listed = client.expect(Method::GET, "/v2.0/ports?fields=id", None, 200).await?;
    let ports_in_api = listed["ports"].as_array().map_or(0, Vec::len);
    let lsps_before = central.lsp_count().await?;
    // NB and the API need not agree: floating IP ports have no Logical_Switch_Port and localnet
    // ports no Neutron port. What NB held before is what must come back.
    eprintln!(
        "bench: drift: restarting NB on an empty database ({lsps_before} Logical_Switch_Ports \
         to repair, {ports_in_api} ports in the API)"
    );
    central.kill_nb_and_empty().await?;
    let restarted = Instant::now();
    central.start_nb().await?;
    let nb_socket_secs = restarted.elapsed().as_secs_f64();
    let mut first_port_secs = None;
    let mut converged_secs = None;
    let mut lsps_after = 0;
    let mut counts = 0;
    let mut last_count = Duration::ZERO;
    while restarted.elapsed() < DRIFT_TIMEOUT {
        let t0 = Instant::now();
        let result = central.lsp_count().await;
        last_count = t0.elapsed();
        counts += 1;
        if let Ok(n) = result {
            lsps_after = n;
            if lsps_after > 0 && first_port_secs.is_none() {
                first_port_secs = Some(restarted.elapsed().as_secs_f64());
            }
            if lsps_after >= lsps_before {
                converged_secs = Some(restarted.elapsed().as_secs_f64());
                break;
            }
        }
        tokio::time::sleep(DRIFT_POLL).await;
    }
    if converged_secs.is_none() {
        eprintln!(
            "bench: drift: NB holds {lsps_after} of {lsps_before} ports after {DRIFT_TIMEOUT:?}"
        );
    }
    Ok(DriftStats {
        maintenance_interval_secs,
        ports_in_api,
        lsps_before,
        lsps_after,
        nb_socket_secs: round3(nb_socket_secs),
        first_port_secs: first_port_secs.map(round3),
        converged_secs: converged_secs.map(round3),
        counts,
        last_count_ms: round3(last_count.as_secs_f64() * 1000.0),
    })
}

/// `neutrino ovn-sync --mode log` over the stopped server's database.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SyncStats {
    /// Ports in the database (as the API listed them before the server stopped).
    pub(super) ports_in_db: usize,
    /// Process start to exit: connecting, replicating NB and comparing.
    pub(super) wall_secs: f64,
    /// The time ovn-sync printed (the comparison alone).
    pub(super) reported_secs: f64,
    pub(super) to_create: u64,
    pub(super) to_update: u64,
    pub(super) to_delete: u64,
    /// The line ovn-sync printed.
    pub(super) output: String,
}

pub(super) async fn ovn_sync(
    server: &OwnServer,
    env: &[(String, String)],
    ports_in_db: usize,
) -> Result<SyncStats> {
    let exe = std::env::current_exe().context("locate the neutrino executable")?;
    let mut cmd = Command::new(exe);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NEUTRINO_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("ovn-sync").arg("--mode").arg("log").arg("--state-dir").arg(&server.state);
    if let Some(database) = &server.database {
        cmd.arg("--database").arg(database);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null()).kill_on_drop(true);
    eprintln!("bench: running neutrino ovn-sync --mode log");
    let started = Instant::now();
    let out = tokio::time::timeout(SYNC_TIMEOUT, cmd.output())
        .await
        .with_context(|| format!("ovn-sync did not finish in {SYNC_TIMEOUT:?}"))?
        .context("run neutrino ovn-sync")?;
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "ovn-sync failed with {}:\n{stdout}{stderr}", out.status);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("ovn-sync (log):"))
        .with_context(|| format!("ovn-sync printed no summary:\n{stdout}"))?;
    let (to_create, to_update, to_delete, reported) = parse_sync_line(line)?;
    Ok(SyncStats {
        ports_in_db,
        wall_secs: round3(wall.as_secs_f64()),
        reported_secs: reported,
        to_create,
        to_update,
        to_delete,
        output: line.to_owned(),
    })
}

/// `ovn-sync (log): N to create, M to update, K to delete in X.XXs`.
fn parse_sync_line(line: &str) -> Result<(u64, u64, u64, f64)> {
    let rest = line.strip_prefix("ovn-sync (log):").context("not an ovn-sync line")?;
    let (counts, time) = rest.rsplit_once(" in ").context("no time in the ovn-sync line")?;
    let secs: f64 = time.trim().trim_end_matches('s').parse().context("ovn-sync time")?;
    let mut found = [None; 3];
    for part in counts.split(',') {
        let mut words = part.split_whitespace();
        let (Some(n), Some("to"), Some(what)) = (words.next(), words.next(), words.next()) else {
            bail!("unexpected ovn-sync count {part:?}");
        };
        let slot = match what {
            "create" => 0,
            "update" => 1,
            "delete" => 2,
            _ => bail!("unexpected ovn-sync count {part:?}"),
        };
        found[slot] = Some(n.parse::<u64>().with_context(|| format!("ovn-sync count {part:?}"))?);
    }
    match found {
        [Some(c), Some(u), Some(d)] => Ok((c, u, d, secs)),
        _ => bail!("incomplete ovn-sync line {line:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Report

/// One of the issue's targets and the figure measured for it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Target {
    pub(super) what: String,
    pub(super) measured: Option<f64>,
    pub(super) unit: &'static str,
    /// `<=` or `>=`.
    pub(super) bound: &'static str,
    pub(super) limit: f64,
    pub(super) met: Option<bool>,
}

impl Target {
    fn new(
        what: String,
        measured: Option<f64>,
        unit: &'static str,
        bound: &'static str,
        limit: f64,
    ) -> Target {
        let met = measured.map(|m| if bound == "<=" { m <= limit } else { m >= limit });
        Target { what, measured, unit, bound, limit, met }
    }
}

/// Everything `--ovn` adds to the report.
#[derive(Debug, Clone, Serialize)]
pub(super) struct OvnReport {
    pub(super) ovn_version: String,
    pub(super) maintenance_interval_secs: u64,
    /// From creating the probe network until NB held its switch.
    pub(super) probe_ms: f64,
    pub(super) nb_checks: Vec<NbCheck>,
    pub(super) status: Option<StatusStats>,
    pub(super) drift: Option<DriftStats>,
    pub(super) sync: Option<SyncStats>,
    pub(super) l3: Option<super::l3::L3Stats>,
    /// Phases that could not be measured, with the reason.
    pub(super) errors: Vec<String>,
    pub(super) targets: Vec<Target>,
}

impl OvnReport {
    pub(super) fn new(version: String, maintenance_interval_secs: u64, probe: Duration) -> Self {
        OvnReport {
            ovn_version: version,
            maintenance_interval_secs,
            probe_ms: round3(probe.as_secs_f64() * 1000.0),
            nb_checks: Vec::new(),
            status: None,
            drift: None,
            sync: None,
            l3: None,
            errors: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Records a phase's outcome, keeping the error instead of aborting the bench.
    pub(super) fn keep<T>(&mut self, phase: &str, result: Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("bench: {phase} failed: {e:#}");
                self.errors.push(format!("{phase}: {e:#}"));
                None
            }
        }
    }

    /// Failures that make the bench exit non-zero (after printing).
    pub(super) fn failures(&self) -> usize {
        self.errors.len()
            + self.status.as_ref().map_or(0, |s| s.timeouts)
            + self.drift.as_ref().map_or(0, |d| usize::from(d.converged_secs.is_none()))
            + self.nb_checks.iter().map(|c| c.ports_created - c.in_nb).sum::<usize>()
    }

    /// Compares the figures with the issue's targets.
    pub(super) fn set_targets(&mut self, operations: &[OpStats]) {
        let op = |concurrency: usize| {
            operations.iter().find(|o| o.operation == "port create" && o.concurrency == concurrency)
        };
        let ports = self.sync.as_ref().map_or(0, |s| s.ports_in_db);
        let drifted = self.drift.as_ref().map_or(0, |d| d.lsps_before);
        let status_ports = self.status.as_ref().map_or(0, |s| s.ports);
        self.targets = vec![
            Target::new(
                "port create p50, concurrency 1 (incl. NB commit)".into(),
                op(1).and_then(|o| o.p50_ms),
                "ms",
                "<=",
                10.0,
            ),
            Target::new(
                "port creates/s, concurrency 8 (incl. NB commit)".into(),
                op(8).map(|o| o.ops_per_sec),
                "/s",
                ">=",
                500.0,
            ),
            Target::new(
                format!("ovn-sync --mode log over {ports} ports (wall)"),
                self.sync.as_ref().map(|s| s.wall_secs),
                "s",
                "<=",
                5.0,
            ),
            Target::new(
                format!("NB restart on empty DB: {drifted} LSPs back in NB"),
                self.drift.as_ref().and_then(|d| d.converged_secs),
                "s",
                "<=",
                10.0,
            ),
            Target::new(
                format!("LSP up -> port ACTIVE p99 ({status_ports} ports)"),
                self.status.as_ref().and_then(|s| s.p99_ms),
                "ms",
                "<=",
                100.0,
            ),
            Target::new(
                "security group rule create p99 (incl. ACL commit)".into(),
                self.l3.as_ref().and_then(|l| l.rule_create_p99_ms),
                "ms",
                "<=",
                20.0,
            ),
            Target::new(
                "add_router_interface p99".into(),
                self.l3.as_ref().and_then(|l| l.interface_add_p99_ms),
                "ms",
                "<=",
                50.0,
            ),
            Target::new(
                format!(
                    "{} routers with gateways over {} gateway chassis",
                    self.l3.as_ref().map_or(0, |l| l.routers_with_gateway),
                    self.l3.as_ref().map_or(0, |l| l.gateway_chassis)
                ),
                self.l3.as_ref().map(|l| l.routers_secs),
                "s",
                "<=",
                10.0,
            ),
        ];
    }
}

/// `12.3 ms`, `4.20 s`, `512.0/s`.
fn with_unit(v: f64, precision: usize, unit: &str) -> String {
    if unit.starts_with('/') {
        format!("{v:.precision$}{unit}")
    } else {
        format!("{v:.precision$} {unit}")
    }
}

fn opt(v: Option<f64>, precision: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.precision$}"))
}

pub(super) fn print_ovn(report: &OvnReport) {
    println!();
    println!(
        "OVN: {} (NB/SB ovsdb-server and ovn-northd started by the bench, unix sockets), \
         maintenance every {} s",
        report.ovn_version, report.maintenance_interval_secs
    );
    println!("  probe network in NB after {:.1} ms", report.probe_ms);
    for c in &report.nb_checks {
        println!(
            "  concurrency {}: {} of {} created ports in NB right after the port-create phase",
            c.concurrency, c.in_nb, c.ports_created
        );
    }
    if let Some(s) = &report.status {
        println!(
            "  LSP up -> ACTIVE: {} ports, {} ACTIVE, {} timed out ({:?}); GET every {} ms: \
             p50 {} ms, p95 {} ms, p99 {} ms, max {} ms (lsp-bind command p50 {} ms)",
            s.ports,
            s.active,
            s.timeouts,
            ACTIVE_TIMEOUT,
            s.poll_interval_ms,
            opt(s.p50_ms, 2),
            opt(s.p95_ms, 2),
            opt(s.p99_ms, 2),
            opt(s.max_ms, 2),
            opt(s.bind_command_p50_ms, 2)
        );
    }
    if let Some(l) = &report.l3 {
        println!(
            "  L3: {} rule creates p50 {} ms p99 {} ms; {} add_router_interface p50 {} ms p99 {} ms; \
             {} floating IP creates (with port) p50 {} ms p99 {} ms; {} routers with gateways over {} gateway chassis in {:.2} s",
            l.rule_creates,
            opt(l.rule_create_p50_ms, 2),
            opt(l.rule_create_p99_ms, 2),
            l.interface_adds,
            opt(l.interface_add_p50_ms, 2),
            opt(l.interface_add_p99_ms, 2),
            l.floatingip_creates,
            opt(l.floatingip_create_p50_ms, 2),
            opt(l.floatingip_create_p99_ms, 2),
            l.routers_with_gateway,
            l.gateway_chassis,
            l.routers_secs
        );
    }
    if let Some(d) = &report.drift {
        println!(
            "  NB restart on an empty DB (server running, maintenance every {} s): {} ports in the \
             API, {} in NB before; after the restart NB socket up in {:.3} s, first port back at \
             {} s, all back at {} s ({} in NB at the last of {} counts, each ~{:.0} ms)",
            d.maintenance_interval_secs,
            d.ports_in_api,
            d.lsps_before,
            d.nb_socket_secs,
            opt(d.first_port_secs, 2),
            opt(d.converged_secs, 2),
            d.lsps_after,
            d.counts,
            d.last_count_ms
        );
    }
    if let Some(s) = &report.sync {
        println!(
            "  ovn-sync --mode log (server stopped), {} ports: wall {:.2} s; it printed: {}",
            s.ports_in_db, s.wall_secs, s.output
        );
    }
    for e in &report.errors {
        println!("  not measured: {e}");
    }
    println!();
    let width = report.targets.iter().map(|t| t.what.len()).max().unwrap_or(6).max(6);
    println!("  {:<width$}  {:>12}  {:>12}  result", "target", "measured", "issue");
    for t in &report.targets {
        let precision = if t.unit == "s" { 2 } else { 1 };
        let measured =
            t.measured.map_or_else(|| "-".to_owned(), |m| with_unit(m, precision, t.unit));
        let limit = format!("{} {}", t.bound, with_unit(t.limit, 0, t.unit));
        let result = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        println!("  {:<width$}  {:>12}  {:>12}  {result}", t.what, measured, limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ovn_sync_summary_is_parsed() {
        let line = "ovn-sync (log): 3 to create, 0 to update, 12 to delete in 1.25s";
        assert_eq!(parse_sync_line(line).unwrap(), (3, 0, 12, 1.25));
        assert!(parse_sync_line("ovn-sync (log): 3 to create in 1s").is_err());
        assert!(
            parse_sync_line("ovn-sync (repair): 3 created, 0 updated, 1 deleted in 1s").is_err()
        );
    }

    #[test]
    fn targets_compare_in_the_right_direction() {
        assert_eq!(Target::new("a".into(), Some(9.0), "ms", "<=", 10.0).met, Some(true));
        assert_eq!(Target::new("b".into(), Some(499.0), "/s", ">=", 500.0).met, Some(false));
        assert_eq!(Target::new("c".into(), None, "s", "<=", 5.0).met, None);
    }
}
