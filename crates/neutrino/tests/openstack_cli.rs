//! The real `openstack` CLI (python-openstackclient) against a real `neutrino serve`.
//!
//! The CLI is taken from `$NEUTRINO_OSC` if set, else `openstack` on `PATH`. It is a required
//! tool, not an optional one: when it is missing this test fails (CI installs it), because a test
//! that skips itself checks nothing. Locally: `NEUTRINO_OSC=/path/to/venv/bin/openstack cargo
//! test -p neutrino --test openstack_cli`.
//!
//! The CLI is configured only through the `clouds.yaml` that the server writes into its state
//! directory (`OS_CLIENT_CONFIG_FILE`, `--os-cloud neutrino`); every other `OS_*` variable of the
//! caller's environment is removed so a developer's own cloud cannot leak in.

mod common;

use std::fs::File;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, Workdir};
use serde_json::Value;

/// Upper bound for one CLI invocation (Python start-up, discovery, login, the call).
const CLI_TIMEOUT: Duration = Duration::from_secs(180);

fn find_openstack_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("NEUTRINO_OSC") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "NEUTRINO_OSC={} is not a file", path.display());
        return path;
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var).map(|dir| dir.join("openstack")).find(|p| p.is_file()).expect(
        "the `openstack` CLI was not found: install python-openstackclient (pip install \
         python-openstackclient) and put `openstack` on PATH, or set NEUTRINO_OSC to its path",
    )
}

/// What one CLI run produced.
#[derive(Debug)]
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// The `openstack` CLI bound to one server's `clouds.yaml`.
#[derive(Debug)]
struct Osc {
    bin: PathBuf,
    clouds_yaml: PathBuf,
    cloud: String,
    scratch: PathBuf,
    runs: u32,
}

impl Osc {
    fn new(bin: PathBuf, state_dir: &Path, scratch: &Path) -> Osc {
        let clouds_yaml = state_dir.join("clouds.yaml");
        assert!(clouds_yaml.is_file(), "the server did not write {}", clouds_yaml.display());
        Osc { bin, clouds_yaml, cloud: "neutrino".into(), scratch: scratch.to_owned(), runs: 0 }
    }

    /// The CLI as another user: a `clouds.yaml` of its own with one cloud named `name`.
    fn as_user(
        &self,
        name: &str,
        auth_url: &str,
        user: &str,
        password: &str,
        project: &str,
    ) -> Osc {
        let clouds_yaml = self.scratch.join(format!("clouds-{name}.yaml"));
        let text = format!(
            "clouds:\n  {name}:\n    auth:\n      auth_url: {auth_url}/v3\n      username: {user}\n      \
             password: {password}\n      project_name: {project}\n      user_domain_name: Default\n      \
             project_domain_name: Default\n    region_name: RegionOne\n    interface: public\n    \
             identity_api_version: 3\n"
        );
        std::fs::write(&clouds_yaml, text).expect("write clouds.yaml");
        Osc {
            bin: self.bin.clone(),
            clouds_yaml,
            cloud: name.into(),
            scratch: self.scratch.clone(),
            runs: 1000,
        }
    }

    /// Run `openstack --os-cloud neutrino ARGS...`, bounded by [`CLI_TIMEOUT`]. Output goes to
    /// files rather than pipes so that polling for exit cannot deadlock on a full pipe.
    fn run(&mut self, args: &[&str]) -> Run {
        self.runs += 1;
        let out_path = self.scratch.join(format!("osc-{}.out", self.runs));
        let err_path = self.scratch.join(format!("osc-{}.err", self.runs));
        let mut cmd = Command::new(&self.bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OS_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .env("OS_CLIENT_CONFIG_FILE", &self.clouds_yaml)
            .env("PYTHONWARNINGS", "ignore")
            .arg("--os-cloud")
            .arg(&self.cloud)
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out_path).expect("create stdout file"))
            .stderr(File::create(&err_path).expect("create stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        let deadline = Instant::now() + CLI_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for openstack") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`openstack {}` did not finish within {CLI_TIMEOUT:?}", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Run {
            success: status.success(),
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        }
    }

    /// Run with `-f json`, require success and parse stdout.
    fn json(&mut self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let run = self.run(&all);
        assert!(
            run.success,
            "`openstack {}` failed\nstdout: {}\nstderr: {}",
            all.join(" "),
            run.stdout,
            run.stderr
        );
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!("`openstack {}` printed no JSON ({e}): {}", all.join(" "), run.stdout)
        })
    }

    /// Run a command that prints nothing on success (deletes).
    fn ok(&mut self, args: &[&str]) {
        let run = self.run(args);
        assert!(
            run.success,
            "`openstack {}` failed\nstdout: {}\nstderr: {}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no string field {key:?} in {v}"))
}

/// `(subnet_id, ip_address)` pairs of a port's `fixed_ips` as the CLI prints them with `-f json`.
fn fixed_ips(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap_or_else(|| panic!("fixed IPs are not a list: {v}"))
        .iter()
        .map(|ip| (str_field(ip, "subnet_id").to_owned(), str_field(ip, "ip_address").to_owned()))
        .collect()
}

/// The SLAAC address of `mac` in a /64: the prefix plus the modified EUI-64 interface id
/// (RFC 4291 appendix A: insert ff:fe in the middle, flip the universal/local bit).
fn eui64(prefix: Ipv6Addr, mac: &str) -> Ipv6Addr {
    let b: Vec<u8> = mac.split(':').map(|x| u8::from_str_radix(x, 16).expect("MAC byte")).collect();
    assert_eq!(b.len(), 6, "MAC {mac}");
    let p = prefix.octets();
    Ipv6Addr::from([
        p[0],
        p[1],
        p[2],
        p[3],
        p[4],
        p[5],
        p[6],
        p[7],
        b[0] ^ 0x02,
        b[1],
        b[2],
        0xff,
        0xfe,
        b[3],
        b[4],
        b[5],
    ])
}

#[test]
fn openstack_cli_walks_network_subnet_port_lifecycle() {
    let bin = find_openstack_cli();
    let mut workdir = Workdir::new();
    let server = Server::start(&mut workdir, "cli-secret");
    let mut osc = Osc::new(bin, &server.state_dir, workdir.path());

    // Identity: the CLI logs in through clouds.yaml and gets a project-scoped token.
    let token = osc.json(&["token", "issue"]);
    let project_id = str_field(&token, "project_id").to_owned();
    assert!(!str_field(&token, "id").is_empty(), "empty token id: {token}");
    assert!(!project_id.is_empty(), "empty project id: {token}");

    // Network.
    let network = osc.json(&["network", "create", "cli-net"]);
    let network_id = str_field(&network, "id").to_owned();
    assert_eq!(str_field(&network, "name"), "cli-net");
    assert_eq!(str_field(&network, "project_id"), project_id);

    // Subnets: IPv4 /24 and IPv6 SLAAC /64.
    let v4 = osc.json(&[
        "subnet",
        "create",
        "--network",
        &network_id,
        "--subnet-range",
        "10.10.0.0/24",
        "cli-v4",
    ]);
    let v4_id = str_field(&v4, "id").to_owned();
    assert_eq!(str_field(&v4, "cidr"), "10.10.0.0/24");
    assert_eq!(v4["ip_version"], 4);
    assert_eq!(str_field(&v4, "network_id"), network_id);
    assert_eq!(str_field(&v4, "gateway_ip"), "10.10.0.1");

    let v6 = osc.json(&[
        "subnet",
        "create",
        "--network",
        &network_id,
        "--ip-version",
        "6",
        "--ipv6-ra-mode",
        "slaac",
        "--ipv6-address-mode",
        "slaac",
        "--subnet-range",
        "fd00:10::/64",
        "cli-v6",
    ]);
    let v6_id = str_field(&v6, "id").to_owned();
    assert_eq!(str_field(&v6, "cidr"), "fd00:10::/64");
    assert_eq!(v6["ip_version"], 6);
    assert_eq!(str_field(&v6, "ipv6_ra_mode"), "slaac");
    assert_eq!(str_field(&v6, "ipv6_address_mode"), "slaac");
    assert_eq!(str_field(&v6, "network_id"), network_id);

    let shown = osc.json(&["network", "show", &network_id]);
    let mut subnets: Vec<&str> = shown["subnets"]
        .as_array()
        .unwrap_or_else(|| panic!("network subnets: {shown}"))
        .iter()
        .map(|s| s.as_str().expect("subnet id"))
        .collect();
    subnets.sort_unstable();
    let mut expected = vec![v4_id.as_str(), v6_id.as_str()];
    expected.sort_unstable();
    assert_eq!(subnets, expected, "network show lists both subnets");

    // A port with a fixed address; any extra address must come from our subnets (Neutron also
    // adds the SLAAC address).
    let fixed = format!("subnet={v4_id},ip-address=10.10.0.10");
    let port1 =
        osc.json(&["port", "create", "--network", &network_id, "--fixed-ip", &fixed, "cli-port-1"]);
    let port1_id = str_field(&port1, "id").to_owned();
    let port1_ips = fixed_ips(&port1["fixed_ips"]);
    assert!(
        port1_ips.contains(&(v4_id.clone(), "10.10.0.10".to_owned())),
        "port 1 lacks 10.10.0.10: {port1_ips:?}"
    );
    assert!(port1_ips.iter().all(|(s, _)| *s == v4_id || *s == v6_id), "{port1_ips:?}");
    assert_eq!(str_field(&port1, "network_id"), network_id);

    // A port without fixed IPs: one IPv4 address plus the EUI-64 address of the SLAAC subnet.
    let port2 = osc.json(&["port", "create", "--network", &network_id, "cli-port-2"]);
    let port2_id = str_field(&port2, "id").to_owned();
    let port2_mac = str_field(&port2, "mac_address").to_owned();
    let port2_ips = fixed_ips(&port2["fixed_ips"]);
    let port2_v4: Vec<&String> =
        port2_ips.iter().filter(|(s, _)| *s == v4_id).map(|(_, ip)| ip).collect();
    assert_eq!(port2_v4.len(), 1, "port 2 needs one IPv4 address: {port2_ips:?}");
    assert!(port2_v4[0].starts_with("10.10.0."), "{port2_v4:?}");
    assert_ne!(port2_v4[0], "10.10.0.10");
    let port2_v6: Vec<Ipv6Addr> = port2_ips
        .iter()
        .filter(|(s, _)| *s == v6_id)
        .map(|(_, ip)| ip.parse().expect("IPv6 address"))
        .collect();
    let slaac = eui64("fd00:10::".parse().unwrap(), &port2_mac);
    assert_eq!(port2_v6, vec![slaac], "port 2 SLAAC address (MAC {port2_mac})");

    // Listing by network shows both ports with their addresses.
    let listed = osc.json(&["port", "list", "--network", &network_id]);
    let listed = listed.as_array().unwrap_or_else(|| panic!("port list: {listed}"));
    let row = |id: &str| {
        listed
            .iter()
            .find(|p| p["ID"] == id)
            .unwrap_or_else(|| panic!("port {id} not in `port list --network`: {listed:?}"))
    };
    let row1 = row(&port1_id);
    assert_eq!(fixed_ips(&row1["Fixed IP Addresses"]), port1_ips);
    assert_eq!(row1["MAC Address"], port1["mac_address"]);
    let row2 = row(&port2_id);
    assert_eq!(str_field(row2, "MAC Address"), port2_mac);
    assert_eq!(fixed_ips(&row2["Fixed IP Addresses"]), port2_ips);

    // The network cannot go while ports use it.
    let refused = osc.run(&["network", "delete", &network_id]);
    assert!(!refused.success, "network delete succeeded with ports on it: {}", refused.stdout);
    let message = format!("{}{}", refused.stdout, refused.stderr);
    assert!(
        message.to_lowercase().contains("in use")
            || message.contains(&port1_id)
            || message.contains(&port2_id),
        "refusal should say the network is in use by ports: {message}"
    );
    let still = osc.json(&["network", "show", &network_id]);
    assert_eq!(str_field(&still, "id"), network_id);

    // Tear down in order and check that nothing is left.
    osc.ok(&["port", "delete", &port1_id, &port2_id]);
    let ports = osc.json(&["port", "list", "--network", &network_id]);
    assert_eq!(
        ports.as_array().map(|ports| ports.iter().any(|p| p["ID"] == port1_id.as_str())),
        Some(false),
        "{ports}"
    );
    osc.ok(&["subnet", "delete", &v4_id, &v6_id]);
    osc.ok(&["network", "delete", &network_id]);
    for resource in ["port", "subnet", "network"] {
        let list = osc.json(&[resource, "list"]);
        assert_eq!(list, Value::Array(vec![]), "{resource} list after cleanup");
    }
}

/// The limit of `resource` in `openstack quota show -f json` output (a list of rows).
fn limit(quota: &Value, resource: &str) -> i64 {
    quota
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["Resource"] == resource))
        .and_then(|r| r["Limit"].as_i64())
        .unwrap_or_else(|| panic!("no limit for {resource} in {quota}"))
}

#[test]
fn openstack_cli_provisions_projects_users_sharing_and_quotas() {
    let bin = find_openstack_cli();
    let mut workdir = Workdir::new();
    let server = Server::start(&mut workdir, "cli-secret");
    let mut admin = Osc::new(bin, &server.state_dir, workdir.path());

    // Identity administration as admin.
    let project = admin.json(&["project", "create", "demo"]);
    let project_id = str_field(&project, "id").to_owned();
    let user = admin.json(&[
        "user",
        "create",
        "--project",
        "demo",
        "--password",
        "demo-pw",
        "demo-member",
    ]);
    let user_id = str_field(&user, "id").to_owned();
    admin.ok(&["role", "add", "--project", "demo", "--user", "demo-member", "member"]);
    let assignments =
        admin.json(&["role", "assignment", "list", "--user", &user_id, "--project", &project_id]);
    assert_eq!(assignments.as_array().map(Vec::len), Some(1), "{assignments}");

    // Sharing: with everyone (--share) and with one project (RBAC).
    let shared = admin.json(&["network", "create", "--share", "everyone-net"]);
    assert_eq!(shared["shared"], true);
    let private = admin.json(&["network", "create", "demo-net"]);
    let private_id = str_field(&private, "id").to_owned();
    admin.json(&[
        "subnet",
        "create",
        "--network",
        &private_id,
        "--subnet-range",
        "10.20.0.0/24",
        "demo-v4",
    ]);
    let rbac = admin.json(&[
        "network",
        "rbac",
        "create",
        "--target-project",
        &project_id,
        "--action",
        "access_as_shared",
        "--type",
        "network",
        &private_id,
    ]);
    let rbac_id = str_field(&rbac, "id").to_owned();
    assert_eq!(str_field(&rbac, "target_project_id"), project_id);

    // Quotas.
    admin.ok(&["quota", "set", "--networks", "5", &project_id]);
    let quota = admin.json(&["quota", "show", &project_id]);
    assert_eq!(limit(&quota, "networks"), 5, "{quota}");

    // The same cloud as the new member.
    let mut member = admin.as_user("demo", &server.url, "demo-member", "demo-pw", "demo");
    let token = member.json(&["token", "issue"]);
    assert_eq!(str_field(&token, "project_id"), project_id);
    let networks = member.json(&["network", "list"]);
    let names: Vec<&str> =
        networks.as_array().unwrap().iter().map(|n| str_field(n, "Name")).collect();
    assert!(names.contains(&"everyone-net") && names.contains(&"demo-net"), "{names:?}");
    let port = member.json(&["port", "create", "--network", &private_id, "member-port"]);
    assert_eq!(str_field(&port, "project_id"), project_id);
    // Without a project argument the CLI shows the caller's own project.
    let own_quota = member.json(&["quota", "show"]);
    assert_eq!(limit(&own_quota, "networks"), 5);
    assert!(
        !member.run(&["quota", "set", "--networks", "50", &project_id]).success,
        "members cannot set quotas"
    );
    let wildcard = member.run(&[
        "network",
        "rbac",
        "create",
        "--target-all-projects",
        "--action",
        "access_as_shared",
        "--type",
        "network",
        &private_id,
    ]);
    assert!(!wildcard.success, "members cannot share with everyone");

    // Cleanup in dependency order: the policy is in use while the member's port exists.
    let in_use = admin.run(&["network", "rbac", "delete", &rbac_id]);
    assert!(!in_use.success, "RBAC policy in use must not be deleted");
    member.ok(&["port", "delete", "member-port"]);
    admin.ok(&["network", "rbac", "delete", &rbac_id]);
    let after = member.json(&["network", "list"]);
    assert!(
        after.as_array().unwrap().iter().all(|n| n["ID"] != private_id.as_str()),
        "no longer visible"
    );
    admin.ok(&["network", "delete", &private_id, "everyone-net"]);
    admin.ok(&["user", "delete", &user_id]);
    admin.ok(&["project", "delete", &project_id]);
    assert!(!member.run(&["network", "list"]).success, "a deleted user's login fails");
}
