//! Network (`/v2.0/networks`): attribute table and stored form.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attr::{conv, Attr, Read};

/// Attributes of a network, per the API notes §2.1.
pub const ATTRS: &[Attr] = &[
    Attr::new("id", conv::uuid).fs(),
    Attr::new("name", conv::name).cu().fs(),
    Attr::new("description", conv::string255).cu().f(),
    Attr::new("admin_state_up", conv::boolean).cu().fs(),
    Attr::new("status", conv::string255).fs(),
    Attr::new("subnets", conv::uuid_list),
    Attr::new("project_id", conv::string255).fs(),
    Attr::new("shared", conv::boolean).cu().f().admin(),
    Attr::new("router:external", conv::boolean).cu().f().admin(),
    Attr::new("provider:network_type", conv::string255).cu().f().admin().read(Read::Admin),
    Attr::new("provider:physical_network", physical_network).cu().f().admin().read(Read::Admin),
    Attr::new("provider:segmentation_id", conv::int_or_null).cu().f().admin().read(Read::Admin),
    Attr::new("mtu", conv::non_negative_int).cu().fs(),
    Attr::new("port_security_enabled", conv::boolean).cu(),
    Attr::new("availability_zone_hints", conv::string_list).c(),
    Attr::new("availability_zones", conv::string_list),
    Attr::new("dns_domain", dns_domain).cu(),
    Attr::new("is_default", conv::boolean).cu().f().admin(),
    Attr::new("ipv4_address_scope", conv::uuid_or_null),
    Attr::new("ipv6_address_scope", conv::uuid_or_null),
    Attr::new("l2_adjacency", conv::boolean),
    Attr::new("tags", conv::string_list),
    Attr::new("created_at", conv::string255).f(),
    Attr::new("updated_at", conv::string255).f(),
    Attr::new("revision_number", conv::non_negative_int).fs(),
];

/// A network as stored (and, with a few computed attributes, as shown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// Always `ACTIVE` under OVN.
    pub status: String,
    /// Owner.
    pub project_id: String,
    /// Shared with every project (an `access_as_shared` entry for `*`).
    pub shared: bool,
    /// An external network (gateways, floating IPs).
    #[serde(rename = "router:external")]
    pub router_external: bool,
    /// Segment type: flat, vlan, geneve, vxlan.
    #[serde(rename = "provider:network_type")]
    pub network_type: String,
    /// Physical network of flat and vlan segments.
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    /// VLAN id or VNI.
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<i64>,
    /// MTU.
    pub mtu: i64,
    /// Default of new ports' `port_security_enabled`.
    pub port_security_enabled: bool,
    /// Availability zone hints.
    pub availability_zone_hints: Vec<String>,
    /// DNS domain.
    pub dns_domain: String,
    /// The default external network for auto-allocation.
    pub is_default: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

fn physical_network(v: &Value) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    conv::string_max(v, 64)
}

/// A DNS domain: empty, or a name ending in a dot.
pub fn dns_domain(v: &Value) -> Result<Value, String> {
    let s = conv::string255(v)?;
    let text = s.as_str().unwrap_or_default();
    if !text.is_empty() && (!text.ends_with('.') || text.contains(' ') || text.starts_with('.')) {
        return Err(format!("'{text}' is not a FQDN"));
    }
    Ok(s)
}
