//! `neutrino up` / `neutrino down`: the all-in-one on this machine. `up` starts, under one
//! state directory, the OVN NB and SB `ovsdb-server`s, `ovn-northd`, the Open_vSwitch
//! `ovsdb-server` and `ovs-vswitchd` (userspace datapath without the kernel module),
//! `ovn-controller`, the server (SQLite, OVN driver) and the agent; then it creates the external
//! network `public` bridged through `br-ex` to an address on this host and writes
//! `clouds.yaml`. Every process has a pidfile in `run/` and a log in `log/`; `down` stops
//! exactly those. Running `up` again starts only what is not running.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use nt_agent::cloud::UP_POINTER;
use nt_agent::{Api, Cloud, Ovs};
use serde_json::json;

use crate::agent_cmd::AgentArgs;

/// `neutrino up` options.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Directory for databases, sockets, pidfiles, logs and clouds.yaml.
    #[arg(
        long,
        value_name = "DIR",
        env = "NEUTRINO_STATE_DIR",
        default_value = "/var/lib/neutrino"
    )]
    pub state_dir: PathBuf,
    /// Address the API listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9696")]
    pub bind: String,
    /// Host name of this chassis (ports bind to it) [default: this machine's hostname].
    #[arg(long, env = "NEUTRINO_HOST")]
    pub host: Option<String>,
    /// Subnet of the external network `public`; the host gets its first address on `br-ex`.
    #[arg(long, value_name = "CIDR", default_value = "172.24.4.0/24")]
    pub public_cidr: String,
}

/// `neutrino down` options.
#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// The state directory `up` used.
    #[arg(
        long,
        value_name = "DIR",
        env = "NEUTRINO_STATE_DIR",
        default_value = "/var/lib/neutrino"
    )]
    pub state_dir: PathBuf,
}

/// The processes `up` runs, in start order (`down` stops them in reverse).
const COMPONENTS: [&str; 8] = [
    "ovn-nb",
    "ovn-sb",
    "ovn-northd",
    "ovsdb-server",
    "ovs-vswitchd",
    "ovn-controller",
    "neutrino-server",
    "neutrino-agent",
];

/// Binaries `up` needs and the Debian package of each.
const REQUIRED: [(&str, &str); 7] = [
    ("ovsdb-server", "openvswitch-switch"),
    ("ovsdb-tool", "openvswitch-common"),
    ("ovs-vswitchd", "openvswitch-switch"),
    ("ovn-northd", "ovn-central"),
    ("ovn-controller", "ovn-host"),
    ("ip", "iproute2"),
    ("ethtool", "ethtool"),
];

/// Binaries instances need.
const FOR_INSTANCES: [(&str, &str); 1] = [("udhcpc", "udhcpc")];

/// Paths under the state directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The state directory (absolute).
    pub dir: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> anyhow::Result<Layout> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create state directory {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        for sub in ["run", "log", "ovn", "ovs"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Layout { dir })
    }
    fn run(&self, name: &str) -> PathBuf {
        self.dir.join("run").join(name)
    }
    fn pidfile(&self, component: &str) -> PathBuf {
        self.run(&format!("{component}.pid"))
    }
    fn log(&self, component: &str) -> PathBuf {
        self.dir.join("log").join(format!("{component}.log"))
    }
    fn socket(&self, name: &str) -> String {
        format!("unix:{}", self.run(name).display())
    }
    /// The OVN Northbound DB.
    pub fn nb(&self) -> String {
        self.socket("ovnnb_db.sock")
    }
    /// The OVN Southbound DB.
    pub fn sb(&self) -> String {
        self.socket("ovnsb_db.sock")
    }
    /// The local Open_vSwitch DB.
    pub fn ovs(&self) -> String {
        self.socket("db.sock")
    }
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

/// The pid in a pidfile if that process is alive and is ours (its command line names the
/// state directory).
fn running(layout: &Layout, component: &str) -> Option<i32> {
    let text = std::fs::read_to_string(layout.pidfile(component)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'));
    (cmdline.contains(&*layout.dir.to_string_lossy()) && !zombie).then_some(pid)
}

fn log_file(layout: &Layout, component: &str) -> anyhow::Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.log(component))
        .with_context(|| format!("cannot open {}", layout.log(component).display()))
}

/// Environment shared by the OVS and OVN daemons so their sockets land in the state dir.
fn daemon_env(cmd: &mut Command, layout: &Layout) {
    let run = layout.dir.join("run");
    let log = layout.dir.join("log");
    cmd.env("OVS_RUNDIR", &run)
        .env("OVN_RUNDIR", &run)
        .env("OVS_LOGDIR", &log)
        .env("OVN_LOGDIR", &log)
        .env("OVS_DBDIR", layout.dir.join("ovs"))
        .env("OVN_DBDIR", layout.dir.join("ovn"));
}

/// Starts an OVS/OVN daemon with `--detach` (it returns once the daemon is initialized).
fn start_daemon(
    layout: &Layout,
    component: &str,
    program: &str,
    args: &[String],
    unixctl: bool,
) -> anyhow::Result<()> {
    let mut cmd = Command::new(program);
    cmd.arg("--detach")
        .arg("--no-chdir")
        .arg(format!("--pidfile={}", layout.pidfile(component).display()))
        .arg(format!("--log-file={}", layout.log(component).display()));
    if unixctl {
        cmd.arg(format!("--unixctl={}", layout.run(&format!("{component}.ctl")).display()));
    }
    cmd.args(args).stdin(Stdio::null());
    daemon_env(&mut cmd, layout);
    let out = cmd.output().with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{component} did not start: {} (log: {})",
            String::from_utf8_lossy(&out.stderr).trim(),
            layout.log(component).display()
        );
    }
    Ok(())
}

/// Starts one of our own long-running subcommands in the background with a pidfile.
fn start_self(
    layout: &Layout,
    component: &str,
    args: &[String],
    env: &[(&str, String)],
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the neutrino binary")?;
    let log = log_file(layout, component)?;
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    use std::os::unix::process::CommandExt;
    let child = cmd.spawn().with_context(|| format!("cannot start {component}"))?;
    let pidfile = layout.pidfile(component);
    std::fs::write(&pidfile, format!("{}\n", child.id()))
        .with_context(|| format!("cannot write {}", pidfile.display()))?;
    Ok(())
}

fn create_db(file: &Path, schema: &str) -> anyhow::Result<()> {
    if file.exists() {
        return Ok(());
    }
    let out = Command::new("ovsdb-tool")
        .arg("create")
        .arg(file)
        .arg(schema)
        .output()
        .context("cannot run ovsdb-tool")?;
    if !out.status.success() {
        bail!("ovsdb-tool create {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn first_schema(candidates: &[&str]) -> anyhow::Result<String> {
    candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
        .ok_or_else(|| anyhow::anyhow!("schema not found: {}", candidates.join(" or ")))
}

/// The admin password, generated on the first `up` and kept in the state directory.
fn admin_password(layout: &Layout) -> anyhow::Result<String> {
    let path = layout.dir.join("admin-password");
    if let Ok(p) = std::fs::read_to_string(&path) {
        if !p.trim().is_empty() {
            return Ok(p.trim().to_string());
        }
    }
    use rand::Rng;
    let password: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    std::fs::write(&path, format!("{password}\n"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(password)
}

fn server_config(layout: &Layout, args: &UpArgs) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        "# Written by `neutrino up`; rewritten on every `up`.\n\
         bind = {bind}\n\
         state_dir = {state}\n\n\
         [ml2]\n\
         mechanism_drivers = [\"ovn\"]\n\
         tenant_network_types = [\"geneve\"]\n\
         flat_networks = [\"*\"]\n\n\
         [ovn]\n\
         nb_connection = {nb}\n\
         sb_connection = {sb}\n",
        bind = q(&args.bind),
        state = q(&layout.dir.to_string_lossy()),
        nb = q(&layout.nb()),
        sb = q(&layout.sb()),
    )
}

/// The agent options `up` uses (also for configuring Open vSwitch before ovn-controller).
fn agent_args(layout: &Layout, host: &str) -> AgentArgs {
    AgentArgs {
        host: Some(host.to_string()),
        ovs_db: layout.ovs(),
        ovn_remote: layout.sb(),
        encap_type: "geneve".into(),
        encap_ip: "127.0.0.1".into(),
        bridge_mappings: vec!["public:br-ex".into()],
        gateway: true,
        datapath_type: "auto".into(),
        system_id: None,
        poll_interval_ms: 250,
        os_cloud: Some("neutrino".into()),
    }
}

async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn say(msg: impl AsRef<str>) {
    eprintln!("neutrino up: {}", msg.as_ref());
}

/// Checks the binaries; names the Debian packages of missing ones.
fn check_binaries() -> anyhow::Result<()> {
    let missing: Vec<(&str, &str)> =
        REQUIRED.iter().copied().filter(|(b, _)| find_binary(b).is_none()).collect();
    if !missing.is_empty() {
        let mut packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
        packages.dedup();
        bail!(
            "missing {}; install them with: apt-get install {}",
            missing.iter().map(|(b, _)| *b).collect::<Vec<_>>().join(", "),
            packages.join(" ")
        );
    }
    for (b, p) in FOR_INSTANCES {
        if find_binary(b).is_none() {
            say(format!(
                "{b} is missing, instances cannot get DHCP addresses: apt-get install {p}"
            ));
        }
    }
    Ok(())
}

/// `neutrino up`.
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    check_binaries()?;
    anyhow::ensure!(
        rustix::process::geteuid().is_root(),
        "neutrino up needs root (it creates bridges, veths and namespaces)"
    );
    let layout = Layout::new(&args.state_dir)?;
    let longest = layout.run("ovn-controller.99999999.ctl");
    anyhow::ensure!(
        longest.as_os_str().len() < 100,
        "state directory path too long for unix sockets: {}",
        layout.dir.display()
    );
    // Bridge and veth names are per machine: one all-in-one at a time.
    if let Ok(other) = std::fs::read_to_string(UP_POINTER) {
        let other = Layout { dir: PathBuf::from(other.trim()) };
        if other.dir != layout.dir && running(&other, "ovs-vswitchd").is_some() {
            bail!(
                "another all-in-one runs from {0}; stop it first: neutrino down --state-dir {0}",
                other.dir.display()
            );
        }
    }
    for d in ["/var/run/openvswitch", "/var/run/ovn", "/run/neutrino"] {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(UP_POINTER, format!("{}\n", layout.dir.display()))
        .with_context(|| format!("cannot write {UP_POINTER}"))?;
    let host = args.host.clone().unwrap_or_else(nt_agent::hostname);
    let d = |p: &str| layout.dir.join(p).to_string_lossy().into_owned();

    // OVN central.
    let nb_schema = first_schema(&["/usr/share/ovn/ovn-nb.ovsschema"])?;
    let sb_schema = first_schema(&["/usr/share/ovn/ovn-sb.ovsschema"])?;
    let vs_schema = first_schema(&["/usr/share/openvswitch/vswitch.ovsschema"])?;
    for (component, db, sock, schema) in [
        ("ovn-nb", "ovn/ovnnb_db.db", "ovnnb_db.sock", &nb_schema),
        ("ovn-sb", "ovn/ovnsb_db.db", "ovnsb_db.sock", &sb_schema),
        ("ovsdb-server", "ovs/conf.db", "db.sock", &vs_schema),
    ] {
        if component == "ovsdb-server" {
            start_northd(&layout)?;
        }
        if running(&layout, component).is_some() {
            say(format!("{component} already running"));
            continue;
        }
        create_db(Path::new(&d(db)), schema)?;
        start_daemon(
            &layout,
            component,
            "ovsdb-server",
            &[format!("--remote=punix:{}", layout.run(sock).display()), d(db)],
            true,
        )?;
        say(format!("{component} started"));
    }

    // Open vSwitch: settings and bridges first, so ovn-controller finds them at once.
    let agent = agent_args(&layout, &host);
    let ovs = Ovs::connect(&layout.ovs(), Duration::from_secs(20)).await?;
    ovs.configure(&agent.ovs_settings()?).await?;
    if running(&layout, "ovs-vswitchd").is_none() {
        start_daemon(&layout, "ovs-vswitchd", "ovs-vswitchd", &[layout.ovs()], true)?;
        say("ovs-vswitchd started");
    } else {
        say("ovs-vswitchd already running");
    }
    if running(&layout, "ovn-controller").is_none() {
        start_daemon(&layout, "ovn-controller", "ovn-controller", &[layout.ovs()], false)?;
        say("ovn-controller started");
    } else {
        say("ovn-controller already running");
    }

    // The server.
    let password = admin_password(&layout)?;
    let config = layout.dir.join("neutrino.toml");
    std::fs::write(&config, server_config(&layout, &args))?;
    if running(&layout, "neutrino-server").is_none() {
        if let Err(e) = std::net::TcpListener::bind(&args.bind) {
            bail!("cannot listen on {}: {e} (another server? use --bind)", args.bind);
        }
        start_self(
            &layout,
            "neutrino-server",
            &[
                "serve".into(),
                "--config".into(),
                config.to_string_lossy().into_owned(),
                "--state-dir".into(),
                d(""),
            ],
            &[("NEUTRINO_ADMIN_PASSWORD", password.clone())],
        )?;
        say(format!("server started on http://{}", args.bind));
    } else {
        say("server already running");
    }
    let clouds = layout.dir.join("clouds.yaml");
    let http = reqwest::Client::new();
    let url = format!("http://{}/", args.bind);
    let start = Instant::now();
    loop {
        if clouds.exists() && http.get(&url).send().await.is_ok() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60)
            || (start.elapsed() > Duration::from_secs(1)
                && running(&layout, "neutrino-server").is_none())
        {
            bail!(
                "the server did not start at {url}; see {}",
                layout.log("neutrino-server").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cloud_text = std::fs::read_to_string(&clouds)
        .with_context(|| format!("cannot read {}", clouds.display()))?;
    let cloud = cloud_from(&cloud_text)?;
    let api = Api::new(cloud)?;

    // The agent.
    if running(&layout, "neutrino-agent").is_none() {
        let mut argv: Vec<String> = vec![
            "agent".into(),
            "--host".into(),
            host.clone(),
            "--ovs-db".into(),
            layout.ovs(),
            "--ovn-remote".into(),
            layout.sb(),
            "--gateway".into(),
        ];
        for m in &agent.bridge_mappings {
            argv.push("--bridge-mapping".into());
            argv.push(m.clone());
        }
        start_self(
            &layout,
            "neutrino-agent",
            &argv,
            &[
                ("OS_CLIENT_CONFIG_FILE", clouds.to_string_lossy().into_owned()),
                ("OS_CLOUD", "neutrino".into()),
            ],
        )?;
        say("agent started");
    } else {
        say("agent already running");
    }

    // The external network and the host's address on it.
    let (net, gateway, prefix) = public_addresses(&args.public_cidr)?;
    let public = ensure_public(&api, &args.public_cidr, &gateway).await?;
    let host_if = "br-ex";
    if !wait_until(Duration::from_secs(20), || async { nt_agent::net::link_exists(host_if) }).await
    {
        bail!("{host_if} did not appear; see {}", layout.log("ovs-vswitchd").display());
    }
    nt_agent::net::ip(&["addr", "replace", &format!("{gateway}/{prefix}"), "dev", host_if]).await?;
    nt_agent::net::ip(&["link", "set", host_if, "up"]).await?;

    // This host as a (gateway) chassis.
    let alive = wait_until(Duration::from_secs(30), || {
        let (api, host) = (&api, &host);
        async move {
            api.list("agents", &[]).await.is_ok_and(|agents| {
                agents.iter().any(|a| a["host"] == host.as_str() && a["alive"] == true)
            })
        }
    })
    .await;
    if !alive {
        say(format!(
            "warning: ovn-controller on {host} did not register within 30 s; see {}",
            layout.log("ovn-controller").display()
        ));
    }

    let dir = layout.dir.display();
    let datapath = agent.ovs_settings()?.datapath_type;
    println!(
        "neutrino is up ({:.1}s)\n  \
         API:      http://{bind} (admin password in {dir}/admin-password)\n  \
         chassis:  {host}, gateway; br-int and br-ex on the {datapath} datapath\n  \
         public:   {net} (network {public}); this host is {gateway} on {host_if}\n  \
         state:    {dir} (logs in {dir}/log)\n\n\
         Next:\n  \
         export OS_CLIENT_CONFIG_FILE={dir}/clouds.yaml OS_CLOUD=neutrino\n  \
         openstack network list\n  \
         neutrino instance create --network public --name vm1\n  \
         neutrino instance exec vm1 -- ping -c 1 {gateway}\n  \
         neutrino down --state-dir {dir}",
        started.elapsed().as_secs_f64(),
        bind = args.bind,
    );
    Ok(())
}

fn start_northd(layout: &Layout) -> anyhow::Result<()> {
    if running(layout, "ovn-northd").is_some() {
        say("ovn-northd already running");
        return Ok(());
    }
    start_daemon(
        layout,
        "ovn-northd",
        "ovn-northd",
        &[format!("--ovnnb-db={}", layout.nb()), format!("--ovnsb-db={}", layout.sb())],
        true,
    )?;
    say("ovn-northd started");
    Ok(())
}

fn cloud_from(text: &str) -> anyhow::Result<Cloud> {
    #[derive(serde::Deserialize)]
    struct File {
        clouds: std::collections::BTreeMap<String, Cloud>,
    }
    let f: File = serde_yaml::from_str(text).context("clouds.yaml")?;
    f.clouds.get("neutrino").cloned().ok_or_else(|| anyhow::anyhow!("no cloud 'neutrino'"))
}

/// `(network, first host address, prefix length)` of an IPv4 CIDR.
fn public_addresses(cidr: &str) -> anyhow::Result<(String, String, u8)> {
    let (addr, prefix) = cidr.split_once('/').context("--public-cidr: expected A.B.C.D/N")?;
    let addr: std::net::Ipv4Addr = addr.parse().context("--public-cidr: bad address")?;
    let prefix: u8 = prefix.parse().context("--public-cidr: bad prefix")?;
    anyhow::ensure!((8..=30).contains(&prefix), "--public-cidr: prefix must be 8..30");
    let mask = u32::MAX << (32 - prefix);
    let net = u32::from(addr) & mask;
    let gateway = std::net::Ipv4Addr::from(net + 1);
    Ok((format!("{}/{prefix}", std::net::Ipv4Addr::from(net)), gateway.to_string(), prefix))
}

/// Creates the external network `public` and its subnet unless they exist; returns its id.
async fn ensure_public(api: &Api, cidr: &str, gateway: &str) -> anyhow::Result<String> {
    let existing = api.list("networks", &[("name", "public")]).await?;
    let id = match existing.first() {
        Some(n) => n["id"].as_str().unwrap_or_default().to_string(),
        None => {
            let n = api
                .post(
                    "/v2.0/networks",
                    &json!({"network": {
                        "name": "public",
                        "router:external": true,
                        "provider:network_type": "flat",
                        "provider:physical_network": "public",
                    }}),
                )
                .await?;
            n["network"]["id"].as_str().unwrap_or_default().to_string()
        }
    };
    if api.list("subnets", &[("network_id", &id)]).await?.is_empty() {
        api.post(
            "/v2.0/subnets",
            &json!({"subnet": {
                "name": "public-subnet",
                "network_id": id,
                "ip_version": 4,
                "cidr": cidr,
                "gateway_ip": gateway,
                "enable_dhcp": true,
            }}),
        )
        .await?;
    }
    Ok(id)
}

/// `neutrino down`.
pub async fn down(args: DownArgs) -> anyhow::Result<()> {
    let dir = args.state_dir.canonicalize().unwrap_or(args.state_dir.clone());
    let layout = Layout { dir };
    let mut stopped = 0;
    for component in COMPONENTS.iter().rev() {
        let pidfile = layout.pidfile(component);
        if let Some(pid) = running(&layout, component) {
            stop(pid).await;
            eprintln!("neutrino down: {component} stopped (pid {pid})");
            stopped += 1;
        }
        let _ = std::fs::remove_file(pidfile);
    }
    // The userspace datapath's bridge devices are persistent taps: remove them with vswitchd
    // (unless some other ovs-vswitchd runs and may own them).
    if !process_named("ovs-vswitchd") {
        for bridge in ["br-int", "br-ex"] {
            if Path::new("/sys/class/net").join(bridge).join("tun_flags").exists() {
                let _ = nt_agent::net::delete_link(bridge).await;
            }
        }
    }
    if std::fs::read_to_string(UP_POINTER)
        .is_ok_and(|p| Path::new(p.trim()) == layout.dir.as_path())
    {
        let _ = std::fs::remove_file(UP_POINTER);
    }
    if stopped == 0 {
        eprintln!("neutrino down: nothing was running from {}", layout.dir.display());
    }
    Ok(())
}

/// Whether any process has this command name.
fn process_named(name: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else { return false };
    dir.filter_map(Result::ok).any(|e| {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'));
        !zombie && std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name)
    })
}

/// SIGTERM, then SIGKILL after 5 s.
async fn stop(pid: i32) {
    use rustix::process::{kill_process, Pid, Signal};
    let Some(p) = Pid::from_raw(pid) else { return };
    let _ = kill_process(p, Signal::TERM);
    let gone = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.is_empty() || stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'))
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if gone() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = kill_process(p, Signal::KILL);
    while !gone() && start.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_cidr_gives_the_host_the_first_address() {
        let (net, gw, prefix) = public_addresses("172.24.4.0/24").unwrap();
        assert_eq!((net.as_str(), gw.as_str(), prefix), ("172.24.4.0/24", "172.24.4.1", 24));
        assert!(public_addresses("172.24.4.0").is_err());
    }
}
