//! Subnet (`/v2.0/subnets`): attribute table, stored form and the converters of its
//! structured attributes.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::attr::{conv, Attr, Read};
use crate::net::Cidr;

/// IPv6 address configuration modes.
pub const IPV6_MODES: &[&str] = &["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

/// Attributes of a subnet, per the API notes §2.2.
pub const ATTRS: &[Attr] = &[
    Attr::new("id", conv::uuid).fs(),
    Attr::new("name", conv::name).cu().fs(),
    Attr::new("description", conv::string255).cu().f(),
    Attr::new("network_id", conv::uuid).req().fs(),
    Attr::new("project_id", conv::string255).fs(),
    Attr::new("ip_version", ip_version).req().fs(),
    Attr::new("cidr", subnet_cidr).c().fs(),
    Attr::new("subnetpool_id", conv::uuid_or_null).c().fs(),
    Attr::new("gateway_ip", conv::ip_or_null).cu().fs(),
    Attr::new("allocation_pools", allocation_pools).cu(),
    Attr::new("dns_nameservers", dns_nameservers).cu(),
    Attr::new("host_routes", host_routes).cu(),
    Attr::new("enable_dhcp", conv::boolean).cu().fs(),
    Attr::new("ipv6_ra_mode", ipv6_mode).c().fs(),
    Attr::new("ipv6_address_mode", ipv6_mode).c().fs(),
    Attr::new("service_types", service_types).cu().admin(),
    Attr::new("segment_id", conv::uuid_or_null).c().f().admin().read(Read::Admin),
    Attr::new("dns_publish_fixed_ip", conv::boolean).cu(),
    Attr::new("router:external", conv::boolean).f(),
    Attr::new("shared", conv::boolean).f().read(Read::Hidden),
    Attr::new("tags", conv::string_list),
    Attr::new("created_at", conv::string255).f(),
    Attr::new("updated_at", conv::string255).f(),
    Attr::new("revision_number", conv::non_negative_int).fs(),
];

/// One allocation pool, both ends inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPool {
    /// First address.
    pub start: String,
    /// Last address.
    pub end: String,
}

/// A host route handed out by DHCP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    /// Destination CIDR.
    pub destination: String,
    /// Next hop.
    pub nexthop: String,
}

/// A subnet as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Network it belongs to.
    pub network_id: String,
    /// Owner.
    pub project_id: String,
    /// 4 or 6.
    pub ip_version: u8,
    /// Prefix, network-address form.
    pub cidr: String,
    /// Subnet pool it was carved from.
    pub subnetpool_id: Option<String>,
    /// Gateway; `None` means no gateway.
    pub gateway_ip: Option<String>,
    /// Pools IPAM allocates from.
    pub allocation_pools: Vec<AllocationPool>,
    /// DNS servers handed out by DHCP.
    pub dns_nameservers: Vec<String>,
    /// Host routes handed out by DHCP.
    pub host_routes: Vec<HostRoute>,
    /// DHCP served for this subnet.
    pub enable_dhcp: bool,
    /// IPv6 router advertisement mode.
    pub ipv6_ra_mode: Option<String>,
    /// IPv6 address mode.
    pub ipv6_address_mode: Option<String>,
    /// Device owners allowed to take addresses here (empty: all).
    pub service_types: Vec<String>,
    /// Segment of a routed network.
    pub segment_id: Option<String>,
    /// Publish fixed IPs in DNS.
    pub dns_publish_fixed_ip: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl Subnet {
    /// The parsed prefix.
    pub fn cidr(&self) -> Cidr {
        Cidr::parse(&self.cidr).expect("stored subnet CIDRs are valid")
    }

    /// True when addresses are derived from MACs (SLAAC or DHCPv6-stateless).
    pub fn is_auto_address(&self) -> bool {
        self.ip_version == 6
            && matches!(self.ipv6_address_mode.as_deref(), Some("slaac" | "dhcpv6-stateless"))
    }
}

fn ip_version(v: &Value) -> Result<Value, String> {
    match conv::non_negative_int(v) {
        Ok(Value::Number(n)) if n.as_i64() == Some(4) || n.as_i64() == Some(6) => {
            Ok(Value::Number(n))
        }
        _ => Err(format!("{v} is not in [4, 6]")),
    }
}

fn subnet_cidr(v: &Value) -> Result<Value, String> {
    let c = conv::cidr(v)?;
    let cidr = Cidr::parse(c.as_str().unwrap_or_default())?;
    if cidr.prefix_len() == 0 {
        return Err(format!(
            "'{cidr}' is not a valid IP subnet: a prefix length of 0 is not allowed"
        ));
    }
    Ok(c)
}

fn ipv6_mode(v: &Value) -> Result<Value, String> {
    conv::one_of(v, IPV6_MODES, true)
}

fn list<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array().ok_or_else(|| format!("Invalid data format for {what}: '{v}'"))
}

fn allocation_pools(v: &Value) -> Result<Value, String> {
    let mut out = Vec::new();
    for item in list(v, "IP pool")? {
        let obj =
            item.as_object().ok_or_else(|| format!("Invalid data format for IP pool: '{item}'"))?;
        if obj.len() != 2 || !obj.contains_key("start") || !obj.contains_key("end") {
            return Err(format!("Invalid data format for IP pool: '{item}'"));
        }
        out.push(json!({"start": conv::ip(&obj["start"])?, "end": conv::ip(&obj["end"])?}));
    }
    Ok(Value::Array(out))
}

fn dns_nameservers(v: &Value) -> Result<Value, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in list(v, "nameserver")? {
        let ip = conv::ip(item).map_err(|_| format!("'{item}' is not a valid nameserver"))?;
        if !seen.insert(ip.to_string()) {
            return Err(format!("Duplicate nameserver '{}'", ip.as_str().unwrap_or_default()));
        }
        out.push(ip);
    }
    Ok(Value::Array(out))
}

fn host_routes(v: &Value) -> Result<Value, String> {
    let mut out: Vec<Value> = Vec::new();
    for item in list(v, "hostroute")? {
        let obj = item
            .as_object()
            .ok_or_else(|| format!("Invalid data format for hostroute: '{item}'"))?;
        if obj.len() != 2 || !obj.contains_key("destination") || !obj.contains_key("nexthop") {
            return Err(format!("Invalid data format for hostroute: '{item}'"));
        }
        let route = json!({"destination": conv::cidr(&obj["destination"])?, "nexthop": conv::ip(&obj["nexthop"])?});
        if out.contains(&route) {
            return Err(format!("Duplicate hostroute '{item}'"));
        }
        out.push(route);
    }
    Ok(Value::Array(out))
}

fn service_types(v: &Value) -> Result<Value, String> {
    let items = list(v, "service_types")?;
    for item in items {
        let s = item.as_str().ok_or_else(|| format!("'{item}' is not a valid string"))?;
        if !["network:", "neutron:", "compute:"].iter().any(|p| s.starts_with(p)) {
            return Err(format!("Invalid service type {s}"));
        }
    }
    Ok(v.clone())
}
