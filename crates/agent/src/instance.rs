//! Instances for tests and demos: a network namespace named after the instance holding the
//! instance end of the veth the agent plugged for its port (a port named after the instance,
//! `device_owner=compute:neutrino`, `device_id` the instance id, bound to this host). The
//! address comes from OVN's native DHCP (busybox `udhcpc`), or is set from the port's fixed IP
//! when the subnet has DHCP off. These are namespaces, not VMs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use crate::cloud::Api;
use crate::net;

/// `device_owner` of instance ports.
pub const DEVICE_OWNER: &str = "compute:neutrino";

/// The interface name inside the namespace.
pub const IFACE: &str = "eth0";

/// The DHCP client hook: configures the interface from the lease and leaves `/etc/resolv.conf`
/// alone (the host's file is shared with the namespace).
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# neutrino instance DHCP hook for busybox udhcpc: applies the lease to the interface.
[ -n "$interface" ] || exit 0
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$mtu" ]; then ip link set "$interface" mtu "$mtu"; fi
    if [ -n "$staticroutes" ]; then
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            ip route replace "$1" via "$2" dev "$interface"
            shift 2
        done
    elif [ -n "$router" ]; then
        for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    fi
    ;;
esac
exit 0
"#;

const SCRIPT_PATH: &str = "/run/neutrino/udhcpc.script";

/// What `instance create` needs.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// Network name or id.
    pub network: String,
    /// Subnet name or id to take the address from.
    pub subnet: Option<String>,
    /// Security group names or ids (default: the project's `default`).
    pub security_groups: Vec<String>,
    /// Instance name (default `inst-<id prefix>`).
    pub name: Option<String>,
    /// The host to bind to (this host).
    pub host: String,
}

/// Checks that `name` can name a network namespace and a port.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        bail!("invalid instance name '{name}': use up to 64 letters, digits, '-', '_' or '.'");
    }
    Ok(())
}

/// The instance ports named `name` (at most one unless someone made duplicates).
async fn instance_ports(api: &Api, name: Option<&str>) -> anyhow::Result<Vec<Value>> {
    let mut query = vec![("device_owner", DEVICE_OWNER)];
    if let Some(n) = name {
        query.push(("name", n));
    }
    api.list("ports", &query).await
}

/// The instance port of `name` (by instance name, instance id or port id).
pub async fn find_port(api: &Api, name: &str) -> anyhow::Result<Option<Value>> {
    if let Some(p) = instance_ports(api, Some(name)).await?.into_iter().next() {
        return Ok(Some(p));
    }
    if uuid::Uuid::parse_str(name).is_err() {
        return Ok(None);
    }
    let by_device =
        api.list("ports", &[("device_owner", DEVICE_OWNER), ("device_id", name)]).await?;
    Ok(by_device.into_iter().next())
}

async fn wait_for<F: FnMut() -> bool>(timeout: Duration, mut ready: F) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates an instance and returns its view (see [`view`]) plus a line on how it got its
/// address. Anything made before a failure is removed again.
pub async fn create(api: &Api, req: &CreateRequest) -> anyhow::Result<(Value, String)> {
    let id = uuid::Uuid::new_v4().to_string();
    let name = req.name.clone().unwrap_or_else(|| format!("inst-{}", &id[..8]));
    check_name(&name)?;
    if !instance_ports(api, Some(&name)).await?.is_empty() {
        bail!("an instance named '{name}' already exists");
    }
    if net::netns_exists(&name) {
        bail!("a network namespace named '{name}' already exists");
    }
    let network = api.find("networks", &req.network, &[]).await?;
    let network_id = network["id"].as_str().unwrap_or_default().to_string();
    let mut port = json!({
        "network_id": network_id,
        "name": name,
        "device_owner": DEVICE_OWNER,
        "device_id": id,
        "binding:host_id": req.host,
    });
    if let Some(subnet) = &req.subnet {
        let s = api.find("subnets", subnet, &[("network_id", &network_id)]).await?;
        port["fixed_ips"] = json!([{"subnet_id": s["id"]}]);
    }
    if !req.security_groups.is_empty() {
        let project = api.project_id().await?;
        let mut ids = Vec::new();
        for sg in &req.security_groups {
            let found = api.find("security-groups", sg, &[("project_id", &project)]).await?;
            ids.push(found["id"].clone());
        }
        port["security_groups"] = Value::Array(ids);
    }
    let created = api.post("/v2.0/ports", &json!({"port": port})).await?;
    let port = created["port"].clone();
    let port_id = port["id"].as_str().unwrap_or_default().to_string();
    match attach(api, &name, &port, &network).await {
        Ok(how) => {
            let networks = network_names(api).await.unwrap_or_default();
            let port = api.get(&format!("/v2.0/ports/{port_id}")).await?["port"].clone();
            Ok((view(&port, &networks, true).await, how))
        }
        Err(e) => {
            let _ = delete_parts(api, &name, Some(&port_id)).await;
            Err(e)
        }
    }
}

/// Namespace, veth end, address: everything after the port exists.
async fn attach(api: &Api, name: &str, port: &Value, network: &Value) -> anyhow::Result<String> {
    let port_id = port["id"].as_str().unwrap_or_default();
    let mac = port["mac_address"].as_str().unwrap_or_default();
    let mtu = network["mtu"].as_u64().unwrap_or(1500).to_string();
    net::ip(&["netns", "add", name]).await?;
    net::ip(&["-n", name, "link", "set", "lo", "up"]).await?;
    let peer = net::peer_name(port_id);
    if !wait_for(Duration::from_secs(30), || net::link_exists(&peer)).await {
        bail!(
            "the agent did not plug port {port_id} within 30 s (is `neutrino agent` running for \
             this host, and is the port bound to it?)"
        );
    }
    net::ip(&["link", "set", &peer, "netns", name]).await?;
    net::ip(&["-n", name, "link", "set", &peer, "name", IFACE]).await?;
    net::ip(&["-n", name, "link", "set", IFACE, "address", mac, "mtu", &mtu]).await?;
    net::offload_off(Some(name), IFACE).await;
    net::ip(&["-n", name, "link", "set", IFACE, "up"]).await?;

    // Wait for OVN to report the port up: flows are in place, DHCP will be answered.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let p = api.get(&format!("/v2.0/ports/{port_id}")).await?;
        if p["port"]["status"] == "ACTIVE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let v4 = port["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["ip_address"].as_str().is_some_and(|a| a.contains('.')))
        .cloned();
    let Some(fixed) = v4 else {
        return Ok("no IPv4 address on the port".into());
    };
    let ip = fixed["ip_address"].as_str().unwrap_or_default();
    let subnet_id = fixed["subnet_id"].as_str().unwrap_or_default();
    let subnet = api.get(&format!("/v2.0/subnets/{subnet_id}")).await?["subnet"].clone();
    if subnet["enable_dhcp"].as_bool().unwrap_or(true) {
        let leased = dhcp(name).await?;
        if leased != ip {
            bail!("DHCP gave {leased} but the port's fixed IP is {ip}");
        }
        Ok(format!("{ip} by DHCP"))
    } else {
        let prefix = subnet["cidr"].as_str().and_then(|c| c.split('/').nth(1)).unwrap_or("32");
        net::ip(&["-n", name, "addr", "add", &format!("{ip}/{prefix}"), "dev", IFACE]).await?;
        if let Some(gw) = subnet["gateway_ip"].as_str() {
            net::ip(&["-n", name, "route", "replace", "default", "via", gw]).await?;
        }
        Ok(format!("{ip} set statically (DHCP is off on subnet {subnet_id})"))
    }
}

/// Runs udhcpc in the namespace until it has a lease; returns the leased address.
async fn dhcp(name: &str) -> anyhow::Result<String> {
    std::fs::create_dir_all("/run/neutrino")?;
    let tmp = format!("{SCRIPT_PATH}.{}", std::process::id());
    std::fs::write(&tmp, UDHCPC_SCRIPT)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::rename(&tmp, SCRIPT_PATH)?;
    let out = net::run(
        "ip",
        &[
            "netns",
            "exec",
            name,
            "udhcpc",
            "-i",
            IFACE,
            "-f",
            "-q",
            "-n",
            "-t",
            "20",
            "-T",
            "1",
            "-O",
            "mtu",
            "-O",
            "staticroutes",
            "-s",
            SCRIPT_PATH,
        ],
    )
    .await
    .context("no DHCP lease")?;
    // udhcpc reports on stderr; `run` keeps stdout only, so read the address back.
    let _ = out;
    let addrs = namespace_addresses(name).await;
    addrs
        .iter()
        .find(|a| a.contains('.'))
        .and_then(|a| a.split('/').next())
        .map(String::from)
        .ok_or_else(|| anyhow::anyhow!("udhcpc finished but {IFACE} has no IPv4 address"))
}

/// The addresses (`ip/prefix`, global scope) on the instance's interface.
pub async fn namespace_addresses(name: &str) -> Vec<String> {
    let Ok(out) = net::ip(&["-n", name, "-j", "addr", "show", "dev", IFACE]).await else {
        return vec![];
    };
    let doc: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    doc.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["scope"] == "global")
        .filter_map(|a| Some(format!("{}/{}", a["local"].as_str()?, a["prefixlen"].as_u64()?)))
        .collect()
}

/// Network id → name.
async fn network_names(api: &Api) -> anyhow::Result<HashMap<String, String>> {
    Ok(api
        .list("networks", &[("fields", "id"), ("fields", "name")])
        .await?
        .into_iter()
        .filter_map(|n| Some((n["id"].as_str()?.to_string(), n["name"].as_str()?.to_string())))
        .collect())
}

/// An instance as `list`/`show` print it. With `local`, also what the namespace holds.
pub async fn view(port: &Value, networks: &HashMap<String, String>, local: bool) -> Value {
    let name = port["name"].as_str().unwrap_or_default().to_string();
    let network_id = port["network_id"].as_str().unwrap_or_default();
    let network = networks.get(network_id).cloned().unwrap_or_else(|| network_id.to_string());
    let ips: Vec<&str> = port["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["ip_address"].as_str())
        .collect();
    let mut v = Map::new();
    v.insert("id".into(), port["device_id"].clone());
    v.insert("name".into(), json!(name));
    v.insert("status".into(), port["status"].clone());
    v.insert("network".into(), json!(network));
    v.insert("addresses".into(), json!(format!("{network}={}", ips.join(", "))));
    v.insert("port_id".into(), port["id"].clone());
    v.insert("mac_address".into(), port["mac_address"].clone());
    v.insert("host".into(), port["binding:host_id"].clone());
    v.insert("security_groups".into(), port["security_groups"].clone());
    if local {
        let exists = net::netns_exists(&name);
        v.insert("namespace".into(), json!(if exists { name.clone() } else { String::new() }));
        let addrs = if exists { namespace_addresses(&name).await } else { vec![] };
        v.insert("interface_addresses".into(), json!(addrs));
    }
    Value::Object(v)
}

/// All instances (ports with `device_owner=compute:neutrino`).
pub async fn list(api: &Api) -> anyhow::Result<Vec<Value>> {
    let networks = network_names(api).await?;
    let mut out = Vec::new();
    for p in instance_ports(api, None).await? {
        out.push(view(&p, &networks, false).await);
    }
    Ok(out)
}

/// One instance, with what its namespace holds.
pub async fn show(api: &Api, name: &str) -> anyhow::Result<Value> {
    let Some(port) = find_port(api, name).await? else { bail!("no instance named '{name}'") };
    let networks = network_names(api).await?;
    Ok(view(&port, &networks, true).await)
}

/// Deletes an instance: its port (the agent then unplugs the veth), whatever still runs in
/// its namespace, and the namespace.
pub async fn delete(api: &Api, name: &str) -> anyhow::Result<()> {
    let port = find_port(api, name).await?;
    let ns = port.as_ref().and_then(|p| p["name"].as_str()).unwrap_or(name).to_string();
    if port.is_none() && !net::netns_exists(&ns) {
        bail!("no instance named '{name}'");
    }
    let port_id = port.as_ref().and_then(|p| p["id"].as_str()).map(String::from);
    delete_parts(api, &ns, port_id.as_deref()).await
}

async fn delete_parts(api: &Api, ns: &str, port_id: Option<&str>) -> anyhow::Result<()> {
    if let Some(id) = port_id {
        match api.delete(&format!("/v2.0/ports/{id}")).await {
            Ok(()) => {}
            Err(e) if crate::cloud::is_status(&e, 404) => {}
            Err(e) => return Err(e),
        }
        let tap = net::tap_name(id);
        if !wait_for(Duration::from_secs(15), || !net::link_exists(&tap)).await {
            tracing::warn!(%tap, "the agent did not unplug the port within 15 s; removing the veth");
            net::delete_link(&tap).await?;
        }
    }
    if net::netns_exists(ns) {
        kill_namespace_processes(ns).await;
        net::ip(&["netns", "del", ns]).await?;
    }
    Ok(())
}

/// Stops the processes running inside a namespace (listeners started with `instance exec`).
async fn kill_namespace_processes(ns: &str) {
    let Ok(out) = net::ip(&["netns", "pids", ns]).await else { return };
    for pid in out.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}
