//! Host networking through the standard tools (`ip` from iproute2, `ethtool`): veth pairs,
//! network namespaces, addresses.

use std::path::Path;

use anyhow::{bail, Context};
use tokio::process::Command;

/// Runs a command and fails with its stderr when it exits non-zero.
pub async fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip ARGS…`.
pub async fn ip(args: &[&str]) -> anyhow::Result<String> {
    run("ip", args).await
}

/// Whether a network device of this name exists in the current namespace.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The interface index of a device in the current namespace.
pub fn ifindex(name: &str) -> Option<u32> {
    std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Whether a named network namespace exists (`ip netns add` makes `/run/netns/NAME`).
pub fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// The host-side (OVS) device of a port: `tap` and the first 11 characters of its id, as
/// Neutron's agents name it.
pub fn tap_name(port_id: &str) -> String {
    format!("tap{}", &port_id[..port_id.len().min(11)])
}

/// The instance-side end of a port's veth pair while it is still in the host namespace.
pub fn peer_name(port_id: &str) -> String {
    format!("vif{}", &port_id[..port_id.len().min(11)])
}

/// The MAC of the host end: the port's MAC with the first octet `fe`, as libvirt does for taps.
pub fn host_mac(port_mac: &str) -> String {
    match port_mac.split_once(':') {
        Some((_, rest)) => format!("fe:{rest}"),
        None => port_mac.to_string(),
    }
}

/// Creates a veth pair `tap`/`peer` (peer gets the port's MAC), both with `mtu`, the host end
/// up and without IPv6; checksum offload is turned off on both ends because the userspace
/// datapath reads frames from the host end without completing partial checksums. The peer gets
/// its name last, so whoever waits for it finds it ready.
pub async fn create_veth(tap: &str, peer: &str, mac: &str, mtu: u32) -> anyhow::Result<()> {
    let mtu = mtu.to_string();
    let tap_mac = host_mac(mac);
    let temp = format!("vtm{}", peer.get(3..).unwrap_or(peer));
    let _ = delete_link(&temp).await;
    ip(&[
        "link", "add", tap, "mtu", &mtu, "address", &tap_mac, "type", "veth", "peer", "name",
        &temp, "address", mac, "mtu", &mtu,
    ])
    .await?;
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{tap}/disable_ipv6"), "1");
    for dev in [tap, temp.as_str()] {
        offload_off(None, dev).await;
    }
    ip(&["link", "set", tap, "up"]).await?;
    ip(&["link", "set", &temp, "name", peer]).await?;
    Ok(())
}

/// `ethtool -K DEV tx off` (inside `netns` when given); failures are only logged.
pub async fn offload_off(netns: Option<&str>, dev: &str) {
    let result = match netns {
        Some(ns) => run("ip", &["netns", "exec", ns, "ethtool", "-K", dev, "tx", "off"]).await,
        None => run("ethtool", &["-K", dev, "tx", "off"]).await,
    };
    if let Err(e) = result {
        tracing::warn!(dev, "cannot turn checksum offload off (TCP may fail): {e:#}");
    }
}

/// Deletes a device (and so its veth peer); a missing device is fine.
pub async fn delete_link(name: &str) -> anyhow::Result<()> {
    if !link_exists(name) {
        return Ok(());
    }
    match ip(&["link", "del", name]).await {
        Ok(_) => Ok(()),
        Err(_) if !link_exists(name) => Ok(()),
        Err(e) => Err(e),
    }
}
