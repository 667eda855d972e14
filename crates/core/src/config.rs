//! Settings of the plugin layer (`[ml2]`, `[ml2_type_*]`, `[network]` of the config file).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Settings of the core plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CoreConfig {
    /// ML2 settings.
    pub ml2: Ml2Config,
    /// Base of generated MAC addresses; octets left zero are random.
    pub base_mac: String,
    /// Largest number of DNS servers per subnet.
    pub max_dns_nameservers: usize,
    /// Largest number of host routes per subnet.
    pub max_subnet_host_routes: usize,
    /// Largest number of allowed address pairs per port.
    pub max_allowed_address_pair: usize,
    /// Keep one metadata port (`network:distributed`, `ovnmeta-<network>`) per network with an
    /// address on each DHCP-enabled IPv4 subnet, as the OVN metadata agent needs. Set when the
    /// OVN mechanism driver runs with metadata enabled.
    pub metadata_port: bool,
    /// Default quota per resource (`[quotas]`); negative means unlimited.
    pub quotas: BTreeMap<String, i64>,
}

/// Upstream's default quotas.
pub fn default_quotas() -> BTreeMap<String, i64> {
    [
        ("network", 100),
        ("subnet", 100),
        ("port", 500),
        ("router", 10),
        ("floatingip", 50),
        ("security_group", 10),
        ("security_group_rule", 100),
        ("rbac_policy", 10),
        ("subnetpool", -1),
        ("trunk", -1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            ml2: Ml2Config::default(),
            base_mac: "fa:16:3e:00:00:00".into(),
            max_dns_nameservers: 5,
            max_subnet_host_routes: 20,
            max_allowed_address_pair: 10,
            metadata_port: false,
            quotas: default_quotas(),
        }
    }
}

/// ML2: which type and mechanism drivers run, segment ranges and MTUs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Ml2Config {
    /// Enabled type drivers.
    pub type_drivers: Vec<String>,
    /// Types given to project networks, first that has room wins.
    pub tenant_network_types: Vec<String>,
    /// Mechanism drivers, called in this order.
    pub mechanism_drivers: Vec<String>,
    /// Physical networks allowed for flat networks (`*` for any).
    pub flat_networks: Vec<String>,
    /// `physnet` or `physnet:min:max` entries for VLANs.
    pub network_vlan_ranges: Vec<String>,
    /// `min:max` VNI ranges for geneve.
    pub geneve_vni_ranges: Vec<String>,
    /// `min:max` VNI ranges for vxlan.
    pub vxlan_vni_ranges: Vec<String>,
    /// MTU of the physical network (underlay).
    pub global_physnet_mtu: i64,
    /// Largest MTU of the tunnel underlay path (0: same as `global_physnet_mtu`).
    pub path_mtu: i64,
    /// Per physical network MTU overrides.
    pub physical_network_mtus: BTreeMap<String, i64>,
    /// Geneve header budget (OVN needs at least 38).
    pub geneve_max_header_size: i64,
    /// IP version of the tunnel underlay (4 or 6).
    pub overlay_ip_version: u8,
}

impl Default for Ml2Config {
    fn default() -> Self {
        Ml2Config {
            type_drivers: ["flat", "vlan", "geneve", "vxlan"].map(String::from).to_vec(),
            tenant_network_types: vec!["geneve".into()],
            mechanism_drivers: vec!["logger".into()],
            flat_networks: vec!["*".into()],
            network_vlan_ranges: vec![],
            geneve_vni_ranges: vec!["1:65536".into()],
            vxlan_vni_ranges: vec!["1:16777215".into()],
            global_physnet_mtu: 1500,
            path_mtu: 0,
            physical_network_mtus: BTreeMap::new(),
            geneve_max_header_size: 38,
            overlay_ip_version: 4,
        }
    }
}
