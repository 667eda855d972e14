//! The whole story on this machine, with real packets: `neutrino up`, instances (network
//! namespaces) on the provider network `public` and on a private network behind a router,
//! SNAT, a floating IP reached from the host, security groups deciding what passes, the agent
//! restarted without changes, and `neutrino down` leaving nothing behind.
//!
//! Needs root, Open vSwitch and OVN (`openvswitch-switch ovn-central ovn-host`), `udhcpc`,
//! `ethtool`; skipped elsewhere, required in CI. Traffic stays inside the namespaces it makes and
//! the host's `br-ex` (172.24.4.0/24). Everything it made is removed even when it fails.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nt_agent::{Api, Cloud};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_neutrino");
const PREFIX: &str = "e2e-";

fn have(binary: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {binary}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this machine can run the test; in CI a missing piece is a failure.
fn runnable() -> bool {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let mut missing: Vec<&str> = [
        "ovsdb-server",
        "ovs-vswitchd",
        "ovs-vsctl",
        "ovn-northd",
        "ovn-controller",
        "udhcpc",
        "ethtool",
        "busybox",
        "ip",
    ]
    .into_iter()
    .filter(|b| !have(b))
    .collect();
    if !rustix::process::geteuid().is_root() {
        missing.push("root");
    }
    if Path::new("/sys/class/net/br-int").exists() {
        missing.push("a free br-int (another neutrino up or Open vSwitch is running)");
    }
    if missing.is_empty() {
        return true;
    }
    assert!(!ci, "e2e test cannot run in CI: missing {missing:?}");
    eprintln!("e2e test skipped: missing {missing:?}");
    false
}

/// Everything the test started; dropping it removes all of it.
struct World {
    state: tempfile::TempDir,
    bind: String,
    rt: tokio::runtime::Runtime,
    api: Option<Api>,
    instances: Vec<String>,
    port_ids: Vec<String>,
    children: Vec<Child>,
}

fn out_text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

impl World {
    fn new() -> World {
        let state = tempfile::Builder::new().prefix("nt-e2e-").tempdir_in("/tmp").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        World {
            state,
            bind: format!("127.0.0.1:{port}"),
            rt: tokio::runtime::Runtime::new().unwrap(),
            api: None,
            instances: vec![],
            port_ids: vec![],
            children: vec![],
        }
    }

    fn dir(&self) -> PathBuf {
        self.state.path().to_path_buf()
    }

    fn neutrino(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("OS_CLIENT_CONFIG_FILE", self.dir().join("clouds.yaml"))
            .env("OS_CLOUD", "neutrino")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn neutrino_ok(&self, args: &[&str]) -> String {
        let o = self.neutrino(args);
        assert!(o.status.success(), "neutrino {args:?} failed:\n{}", out_text(&o));
        out_text(&o)
    }

    fn up(&self) -> String {
        let dir = self.dir();
        self.neutrino_ok(&["up", "--state-dir", dir.to_str().unwrap(), "--bind", &self.bind])
    }

    fn api(&self) -> &Api {
        self.api.as_ref().expect("logged in")
    }

    fn get(&self, path: &str) -> Value {
        self.rt.block_on(self.api().get(path)).unwrap()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.rt
            .block_on(self.api().post(path, &body))
            .unwrap_or_else(|e| panic!("POST {path}: {e:#}"))
    }

    fn id_of(&self, collection: &str, name: &str) -> String {
        let list = self.rt.block_on(self.api().list(collection, &[("name", name)])).unwrap();
        list[0]["id"].as_str().unwrap().to_string()
    }

    /// `neutrino instance create`; checks the port is ACTIVE and the address came by DHCP.
    fn instance(&mut self, name: &str, network: &str, sgs: &[&str]) -> Value {
        self.instances.push(name.to_string());
        let mut args =
            vec!["instance", "create", "--network", network, "--name", name, "-f", "json"];
        for sg in sgs {
            args.extend(["--security-group", sg]);
        }
        let o = self.neutrino(&args);
        assert!(o.status.success(), "instance create {name}:\n{}", out_text(&o));
        let view: Value = serde_json::from_slice(&o.stdout).unwrap();
        self.port_ids.push(view["port_id"].as_str().unwrap().to_string());
        assert_eq!(view["status"], "ACTIVE", "{name}: {view:#}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("by DHCP"), "{name} did not get its address by DHCP: {stderr}");
        let fixed = view["addresses"].as_str().unwrap().split('=').nth(1).unwrap().to_string();
        let addrs = view["interface_addresses"].as_array().unwrap();
        assert!(
            addrs.iter().any(|a| a.as_str().unwrap().starts_with(&format!("{fixed}/"))),
            "{name}: namespace has {addrs:?}, port has {fixed}"
        );
        view
    }

    fn ip_of(view: &Value) -> String {
        view["addresses"].as_str().unwrap().split('=').nth(1).unwrap().to_string()
    }

    /// One ping from an instance (or from the host with `None`), `tries` attempts.
    fn ping(&self, from: Option<&str>, ip: &str, tries: usize) -> bool {
        for _ in 0..tries {
            let ok = match from {
                Some(name) => self
                    .neutrino(&[
                        "instance", "exec", name, "--", "busybox", "ping", "-c", "1", "-W", "1", ip,
                    ])
                    .status
                    .success(),
                None => Command::new("busybox")
                    .args(["ping", "-c", "1", "-W", "1", ip])
                    .stdout(Stdio::null())
                    .status()
                    .unwrap()
                    .success(),
            };
            if ok {
                return true;
            }
        }
        false
    }

    /// A one-connection TCP listener in an instance that sends `reply`.
    fn listen(&mut self, name: &str, port: u16, reply: &str) {
        let script = format!("echo {reply} | busybox nc -l -p {port}");
        let child = Command::new(BIN)
            .args(["instance", "exec", name, "--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    /// What an instance reads from `ip:port` (empty when it cannot connect in 3 s).
    fn tcp_from(&self, name: &str, ip: &str, port: u16) -> String {
        let o = self.neutrino(&[
            "instance",
            "exec",
            name,
            "--",
            "timeout",
            "3",
            "busybox",
            "nc",
            ip,
            &port.to_string(),
        ]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn ovs_ifaces(&self) -> String {
        let db = format!("--db=unix:{}/run/db.sock", self.dir().display());
        let o = Command::new("ovs-vsctl")
            .args([
                &db,
                "--bare",
                "--columns=name",
                "find",
                "Interface",
                "external_ids:neutrino-agent=true",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn ovs_iface_uuid(&self, name: &str) -> String {
        let db = format!("--db=unix:{}/run/db.sock", self.dir().display());
        let o = Command::new("ovs-vsctl")
            .args([&db, "get", "Interface", name, "_uuid"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Processes whose command line names the state directory.
    fn leftover_processes(&self) -> Vec<i32> {
        let dir = self.dir().to_string_lossy().into_owned();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let zombie =
                    stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'));
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                !zombie && String::from_utf8_lossy(&cmd).contains(&dir)
            })
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for name in self.instances.clone() {
            if nt_agent::net::netns_exists(&name) || std::thread::panicking() {
                let _ = self.neutrino(&["instance", "delete", &name]);
            }
            if nt_agent::net::netns_exists(&name) {
                let _ = Command::new("ip").args(["netns", "del", &name]).status();
            }
        }
        let dir = self.dir();
        let _ = self.neutrino(&["down", "--state-dir", dir.to_str().unwrap()]);
        for pid in self.leftover_processes() {
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
        for id in &self.port_ids {
            for dev in [nt_agent::net::tap_name(id), nt_agent::net::peer_name(id)] {
                if nt_agent::net::link_exists(&dev) {
                    let _ = Command::new("ip").args(["link", "del", &dev]).status();
                }
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn the_whole_story_with_real_packets() {
    if !runnable() {
        return;
    }
    for ns in ["pub1", "pub2", "priv1", "priv2", "sg"] {
        let name = format!("{PREFIX}{ns}");
        if nt_agent::net::netns_exists(&name) {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
    let mut w = World::new();

    // `neutrino up`, then the first port create that succeeds.
    let started = Instant::now();
    let up_out = w.up();
    let up_done = started.elapsed();
    assert!(up_out.contains("neutrino is up"), "{up_out}");
    let cloud_text = std::fs::read_to_string(w.dir().join("clouds.yaml")).unwrap();
    let file: serde_yaml::Value = serde_yaml::from_str(&cloud_text).unwrap();
    let cloud: Cloud = serde_yaml::from_value(file["clouds"]["neutrino"].clone()).unwrap();
    w.api = Some(Api::new(cloud).unwrap());
    let public = w.id_of("networks", "public");
    let first_port = loop {
        match w.rt.block_on(w.api().post("/v2.0/ports", &json!({"port": {"network_id": public}}))) {
            Ok(p) => break p["port"]["id"].as_str().unwrap().to_string(),
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                eprintln!("port create not yet: {e:#}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("no port create within 60 s: {e:#}"),
        }
    };
    let to_first_port = started.elapsed();
    w.rt.block_on(w.api().delete(&format!("/v2.0/ports/{first_port}"))).unwrap();
    println!(
        "e2e: neutrino up returned after {:.2}s; first successful port create after {:.2}s",
        up_done.as_secs_f64(),
        to_first_port.as_secs_f64()
    );
    // The host reaches 172.24.4.0/24 through br-ex only: nothing of this test leaves the machine.
    let route = Command::new("ip").args(["route", "get", "172.24.4.200"]).output().unwrap();
    assert!(out_text(&route).contains("dev br-ex"), "{}", out_text(&route));

    // A group that lets ICMP and TCP 8080 in from anywhere (the host, the router's SNAT address).
    let open = w.post("/v2.0/security-groups", json!({"security_group": {"name": "e2e-open"}}));
    let open_id = open["security_group"]["id"].as_str().unwrap().to_string();
    for rule in [
        json!({"protocol": "icmp"}),
        json!({"protocol": "tcp", "port_range_min": 8080, "port_range_max": 8080}),
    ] {
        let mut r = rule;
        r["security_group_id"] = json!(open_id);
        r["direction"] = json!("ingress");
        r["ethertype"] = json!("IPv4");
        w.post("/v2.0/security-group-rules", json!({"security_group_rule": r}));
    }

    // Two instances on `public`: ACTIVE, addresses by DHCP, they ping each other.
    let pub1 = w.instance("e2e-pub1", "public", &["default", "e2e-open"]);
    let pub2 = w.instance("e2e-pub2", "public", &["default", "e2e-open"]);
    let (pub1_ip, pub2_ip) = (World::ip_of(&pub1), World::ip_of(&pub2));
    assert!(w.ping(Some("e2e-pub1"), &pub2_ip, 3), "pub1 → pub2");
    assert!(w.ping(Some("e2e-pub2"), &pub1_ip, 3), "pub2 → pub1");
    println!("e2e: public instances {pub1_ip} and {pub2_ip} ping each other");

    // A private network behind a router with its gateway on `public`.
    let private = w.post("/v2.0/networks", json!({"network": {"name": "e2e-private"}}));
    let private_id = private["network"]["id"].as_str().unwrap().to_string();
    let subnet = w.post(
        "/v2.0/subnets",
        json!({"subnet": {"name": "e2e-private-v4", "network_id": private_id, "ip_version": 4, "cidr": "10.0.0.0/24"}}),
    );
    let subnet_id = subnet["subnet"]["id"].as_str().unwrap().to_string();
    let router = w.post(
        "/v2.0/routers",
        json!({"router": {"name": "e2e-router", "external_gateway_info": {"network_id": public}}}),
    );
    let router_id = router["router"]["id"].as_str().unwrap().to_string();
    let gw_ip = router["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    w.rt.block_on(w.api().put(
        &format!("/v2.0/routers/{router_id}/add_router_interface"),
        &json!({"subnet_id": subnet_id}),
    ))
    .unwrap();
    let priv1 = w.instance("e2e-priv1", "e2e-private", &["default", "e2e-open"]);
    let priv2 = w.instance("e2e-priv2", "e2e-private", &[]);
    let (priv1_ip, priv2_ip) = (World::ip_of(&priv1), World::ip_of(&priv2));
    assert!(w.ping(Some("e2e-priv1"), &priv2_ip, 3), "priv1 → priv2");
    assert!(w.ping(Some("e2e-priv2"), &priv1_ip, 3), "priv2 → priv1");
    println!("e2e: private instances {priv1_ip} and {priv2_ip} ping each other");

    // Out through the router: the public instance sees the router's address (SNAT).
    assert!(w.ping(Some("e2e-priv1"), &pub2_ip, 5), "priv1 → pub2 through the router");
    let neigh = Command::new("ip").args(["-n", "e2e-pub2", "neigh"]).output().unwrap();
    assert!(
        out_text(&neigh).contains(&gw_ip) && !out_text(&neigh).contains(&priv1_ip),
        "pub2 should have talked to the router's SNAT address {gw_ip}: {}",
        out_text(&neigh)
    );
    println!("e2e: priv1 → pub2 through the router, SNAT to {gw_ip}");
    // And not the other way round: the private address is not reachable without a floating IP.
    // (With forwarding off the host drops what pub2 sends to its default gateway.)
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    if forwarding.trim() == "0" {
        assert!(!w.ping(Some("e2e-pub2"), &priv1_ip, 1), "pub2 reached priv1 without a FIP");
        println!("e2e: pub2 cannot reach {priv1_ip} without a floating IP");
    } else {
        println!(
            "e2e: host forwards IPv4; skipped pub2 → private address (would leave via the host)"
        );
    }

    // A floating IP on priv1: the host pings it and reaches a TCP listener behind it.
    let fip = w.post(
        "/v2.0/floatingips",
        json!({"floatingip": {"floating_network_id": public, "port_id": priv1["port_id"]}}),
    );
    let fip_ip = fip["floatingip"]["floating_ip_address"].as_str().unwrap().to_string();
    let route = Command::new("ip").args(["route", "get", &fip_ip]).output().unwrap();
    assert!(out_text(&route).contains("dev br-ex"), "{}", out_text(&route));
    assert!(w.ping(None, &fip_ip, 5), "host → floating IP {fip_ip}");
    w.listen("e2e-priv1", 8080, "hello-through-fip");
    let addr: SocketAddr = format!("{fip_ip}:8080").parse().unwrap();
    let mut got = String::new();
    for _ in 0..20 {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let _ = s.read_to_string(&mut got);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(got.trim(), "hello-through-fip", "host → {fip_ip}:8080");
    println!("e2e: host pings floating IP {fip_ip} and reads from TCP 8080 behind it");

    // Security groups: only SSH allowed, then ICMP added.
    let ssh = w.post("/v2.0/security-groups", json!({"security_group": {"name": "e2e-ssh"}}));
    let ssh_id = ssh["security_group"]["id"].as_str().unwrap().to_string();
    w.post(
        "/v2.0/security-group-rules",
        json!({"security_group_rule": {"security_group_id": ssh_id, "direction": "ingress",
            "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}}),
    );
    let sg = w.instance("e2e-sg", "e2e-private", &["e2e-ssh"]);
    let sg_ip = World::ip_of(&sg);
    assert!(!w.ping(Some("e2e-priv2"), &sg_ip, 1), "ICMP passed without a rule");
    w.post(
        "/v2.0/security-group-rules",
        json!({"security_group_rule": {"security_group_id": ssh_id, "direction": "ingress",
            "ethertype": "IPv4", "protocol": "icmp"}}),
    );
    let rule_added = Instant::now();
    let mut passed = None;
    while rule_added.elapsed() < Duration::from_secs(10) {
        if w.ping(Some("e2e-priv2"), &sg_ip, 1) {
            passed = Some(rule_added.elapsed());
            break;
        }
    }
    let passed = passed.expect("ICMP still blocked 10 s after the rule was added");
    println!(
        "e2e: ICMP blocked without a rule; passes {:.2}s after adding it",
        passed.as_secs_f64()
    );
    w.listen("e2e-sg", 22, "ssh-open");
    w.listen("e2e-sg", 80, "http-open");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.tcp_from("e2e-priv2", &sg_ip, 22), "ssh-open", "TCP 22 should pass");
    assert_eq!(w.tcp_from("e2e-priv2", &sg_ip, 80), "", "TCP 80 should be dropped");
    println!("e2e: TCP 22 reachable, TCP 80 dropped");

    // The agent restarted (`up` again starts only it) changes nothing that is correct.
    let tap = nt_agent::net::tap_name(pub1["port_id"].as_str().unwrap());
    let (uuid_before, ifindex_before) = (w.ovs_iface_uuid(&tap), nt_agent::net::ifindex(&tap));
    let pid: i32 = std::fs::read_to_string(w.dir().join("run/neutrino-agent.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let again = w.up();
    assert!(again.contains("agent started") && again.contains("server already running"), "{again}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(w.ovs_iface_uuid(&tap), uuid_before, "the restarted agent re-plugged {tap}");
    assert_eq!(
        nt_agent::net::ifindex(&tap),
        ifindex_before,
        "the restarted agent re-created {tap}"
    );
    assert!(w.ping(Some("e2e-pub1"), &pub2_ip, 3), "pub1 → pub2 after the agent restart");
    println!("e2e: agent restarted; plugs untouched, traffic still flows");

    // Port create → ACTIVE for ports bound to this host.
    let host = nt_agent::hostname();
    let mut latencies = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let p = w.post(
            "/v2.0/ports",
            json!({"port": {"network_id": private_id, "name": format!("e2e-bound-{i}"),
                "binding:host_id": host, "device_owner": "compute:e2e"}}),
        );
        let id = p["port"]["id"].as_str().unwrap().to_string();
        w.port_ids.push(id.clone());
        loop {
            let status = w.get(&format!("/v2.0/ports/{id}"))["port"]["status"].clone();
            if status == "ACTIVE" {
                latencies.push(t.elapsed());
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "port {id} not ACTIVE in 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        w.rt.block_on(w.api().delete(&format!("/v2.0/ports/{id}"))).unwrap();
    }
    latencies.sort();
    println!(
        "e2e: port create → ACTIVE (bound to {host}): p50 {:.0} ms, max {:.0} ms over {}",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
        latencies.len()
    );

    // Deleting the instances leaves no namespace, veth or OVS port behind.
    for c in &mut w.children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let names = w.instances.clone();
    let mut args = vec!["instance", "delete"];
    args.extend(names.iter().map(String::as_str));
    w.neutrino_ok(&args);
    let list = w.neutrino_ok(&["instance", "list", "-f", "json"]);
    let start = Instant::now();
    loop {
        let leftovers: Vec<String> = w
            .port_ids
            .iter()
            .flat_map(|id| [nt_agent::net::tap_name(id), nt_agent::net::peer_name(id)])
            .filter(|d| nt_agent::net::link_exists(d))
            .collect();
        if leftovers.is_empty() && w.ovs_ifaces().is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "left behind: links {leftovers:?}, OVS ports {:?}",
            w.ovs_ifaces()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for name in &names {
        assert!(!nt_agent::net::netns_exists(name), "namespace {name} left behind");
    }
    assert!(list.trim().starts_with('[') && !list.contains("e2e-"), "{list}");
    println!("e2e: instances deleted; no namespace, veth or OVS port left");

    // `neutrino down` stops everything `up` started.
    let dir = w.dir();
    w.neutrino_ok(&["down", "--state-dir", dir.to_str().unwrap()]);
    let left = w.leftover_processes();
    assert!(left.is_empty(), "processes left after down: {left:?}");
    println!("e2e: neutrino down left no process behind");
}
