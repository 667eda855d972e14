//! The neutrino host agent and the instance helpers built on it.
//!
//! - [`ovs`]: the local Open_vSwitch DB through the `ovsdb` crate (ovn-controller settings,
//!   br-int and provider bridges, VIF ports).
//! - [`agent`]: the reconcile loop that keeps a veth plugged for every port bound to this host.
//! - [`instance`]: instances as network namespaces on those veths, addressed by OVN's DHCP.
//! - [`cloud`]: `clouds.yaml`/`OS_CLOUD` and the Networking API client both use.
//!
//! The agent talks HTTP to the server and OVSDB to the local vswitchd database only.

pub mod agent;
pub mod cloud;
pub mod instance;
pub mod net;
pub mod ovs;

pub use agent::{Agent, AgentConfig};
pub use cloud::{Api, Cloud};
pub use ovs::{Ovs, OvsSettings};

/// This machine's hostname (the default `binding:host_id` and chassis hostname).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
