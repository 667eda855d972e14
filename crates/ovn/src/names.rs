//! NB names and `external_ids` keys, as Neutron's ML2/OVN driver writes them, so that tools
//! built for Neutron (metadata agent, `ovn-nbctl show` aliases, operators' scripts) keep working.

/// Logical_Switch name of a network.
pub fn ls_name(network_id: &str) -> String {
    format!("neutron-{network_id}")
}

/// Localnet port of a provider network. We keep no separate segment resource, so the
/// network id stands in for the segment id.
pub fn provnet_name(network_id: &str) -> String {
    format!("provnet-{network_id}")
}

/// Ownership marker and human name of a network's switch.
pub const NETWORK_NAME: &str = "neutron:network_name";
/// Network MTU.
pub const MTU: &str = "neutron:mtu";
/// Revision of the resource an NB row was written from.
pub const REVISION: &str = "neutron:revision_number";
/// Availability zone hints.
pub const AZ_HINTS: &str = "neutron:availability_zone_hints";
/// First segment's type.
pub const PROVNET_TYPE: &str = "neutron:provnet-network-type";
/// Physical network of provider networks (and marker of localnet ports).
pub const PROVNET_PHYSNET: &str = "neutron:provnet-physical-network";

/// Ownership marker and name of a port's LSP.
pub const PORT_NAME: &str = "neutron:port_name";
/// Port device id.
pub const DEVICE_ID: &str = "neutron:device_id";
/// Port device owner.
pub const DEVICE_OWNER: &str = "neutron:device_owner";
/// Port project.
pub const PROJECT_ID: &str = "neutron:project_id";
/// Addresses with prefix lengths.
pub const CIDRS: &str = "neutron:cidrs";
/// Security groups of the port.
pub const SECURITY_GROUP_IDS: &str = "neutron:security_group_ids";
/// vNIC type.
pub const VNIC_TYPE: &str = "neutron:vnic_type";
/// Binding profile capabilities.
pub const PORT_CAPABILITIES: &str = "neutron:port_capabilities";
/// Address scopes of the port's subnets' pools.
pub const ADDR_SCOPE4: &str = "neutron:subnet_pool_addr_scope4";
/// Address scopes of the port's subnets' pools.
pub const ADDR_SCOPE6: &str = "neutron:subnet_pool_addr_scope6";
/// Host of a port that OVN reports up (written by the status path, kept by updates).
pub const HOST_ID: &str = "neutron:host_id";
/// Floating IP of a port (written by the L3 path, kept by port updates).
pub const PORT_FIP: &str = "neutron:port_fip";

/// DHCP_Options ownership marker (no `neutron:` prefix, as upstream).
pub const SUBNET_ID: &str = "subnet_id";
/// Per-port DHCP_Options marker.
pub const PORT_ID: &str = "port_id";
/// Network of a DHCP_Options row.
pub const NETWORK_ID: &str = "neutron:network_id";

/// LSP `external_ids` keys other writers own; port updates keep them.
pub const PRESERVED_LSP_KEYS: &[&str] = &[HOST_ID, PORT_FIP, "neutron:parent_hostname"];

/// The lock that elects the one server running maintenance.
pub const MAINTENANCE_LOCK: &str = "ovn_db_inconsistencies_periodics";

/// NB database name.
pub const NB: &str = "OVN_Northbound";
/// SB database name.
pub const SB: &str = "OVN_Southbound";
