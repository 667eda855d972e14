//! Router (`/v2.0/routers`, API notes §2.6): attribute table, stored form and the converters
//! of `external_gateway_info` and `routes`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::attr::{conv, Attr, Read};
use crate::net::Cidr;
use crate::port::FixedIp;

/// Attributes of a router.
pub const ATTRS: &[Attr] = &[
    Attr::new("id", conv::uuid).fs(),
    Attr::new("name", conv::name).cu().fs(),
    Attr::new("description", conv::string255).cu().f(),
    Attr::new("admin_state_up", conv::boolean).cu().fs(),
    Attr::new("status", conv::string255).fs(),
    Attr::new("project_id", conv::string255).fs(),
    Attr::new("external_gateway_info", gateway_info).cu(),
    // `extraroute`: update only.
    Attr { put: true, ..Attr::new("routes", routes) },
    Attr::new("availability_zone_hints", conv::string_list).c(),
    Attr::new("availability_zones", conv::string_list),
    Attr::new("ha", conv::boolean).cu().admin().read(Read::Admin),
    Attr::new("flavor_id", conv::uuid_or_null).c(),
    Attr::new("tags", conv::string_list),
    Attr::new("created_at", conv::string255).f(),
    Attr::new("updated_at", conv::string255).f(),
    Attr::new("revision_number", conv::non_negative_int).fs(),
];

/// Most extra routes one router may carry (`quota_router_route`).
pub const MAX_ROUTES: usize = 30;

/// An extra route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination prefix.
    pub destination: String,
    /// Next hop address.
    pub nexthop: String,
}

/// A router's external gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    /// External network.
    pub network_id: String,
    /// Source NAT of internal subnets to the gateway address.
    pub enable_snat: bool,
    /// The gateway port's addresses.
    pub external_fixed_ips: Vec<FixedIp>,
}

/// A router as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Router {
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
    /// External gateway, if any.
    pub external_gateway_info: Option<GatewayInfo>,
    /// Gateway port (internal, not shown).
    #[serde(default)]
    pub gw_port_id: Option<String>,
    /// Extra routes.
    pub routes: Vec<Route>,
    /// Availability zone hints.
    pub availability_zone_hints: Vec<String>,
    /// HA flag (OVN gateways are HA regardless).
    pub ha: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A requested gateway: network and optional SNAT flag and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRequest {
    /// External network.
    pub network_id: String,
    /// `enable_snat` when given.
    pub enable_snat: Option<bool>,
    /// `external_fixed_ips` when given: `(subnet_id, ip_address)`.
    pub external_fixed_ips: Option<Vec<(Option<String>, Option<String>)>>,
}

impl GatewayRequest {
    /// Reads a converted `external_gateway_info` value; `None` clears the gateway.
    pub fn from_value(v: &Value) -> Option<GatewayRequest> {
        let obj = v.as_object().filter(|o| !o.is_empty())?;
        let text =
            |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_str).map(String::from);
        Some(GatewayRequest {
            network_id: text(obj, "network_id").unwrap_or_default(),
            enable_snat: obj.get("enable_snat").and_then(Value::as_bool),
            external_fixed_ips: obj.get("external_fixed_ips").and_then(Value::as_array).map(|l| {
                l.iter()
                    .filter_map(Value::as_object)
                    .map(|i| (text(i, "subnet_id"), text(i, "ip_address")))
                    .collect()
            }),
        })
    }
}

/// `external_gateway_info`: null or `{}` (no gateway), or `{network_id, enable_snat?,
/// external_fixed_ips?}`.
fn gateway_info(v: &Value) -> Result<Value, String> {
    let obj = match v {
        Value::Null => return Ok(Value::Null),
        Value::Object(o) if o.is_empty() => return Ok(Value::Null),
        Value::Object(o) => o,
        other => return Err(format!("'{other}' is not a dictionary")),
    };
    let mut out = Map::new();
    for (key, value) in obj {
        match key.as_str() {
            "network_id" => {
                out.insert(key.clone(), conv::uuid(value)?);
            }
            "enable_snat" => {
                out.insert(key.clone(), conv::boolean(value)?);
            }
            "external_fixed_ips" => {
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("Invalid data format for fixed IP: '{value}'"))?;
                let mut list = Vec::new();
                for item in items {
                    let o = item
                        .as_object()
                        .ok_or_else(|| format!("Invalid data format for fixed IP: '{item}'"))?;
                    let mut fixed = Map::new();
                    for (k, x) in o {
                        match k.as_str() {
                            "subnet_id" => fixed.insert(k.clone(), conv::uuid(x)?),
                            "ip_address" => fixed.insert(k.clone(), conv::ip(x)?),
                            other => {
                                return Err(format!(
                                    "Invalid data format for fixed IP: unexpected key '{other}'"
                                ))
                            }
                        };
                    }
                    if fixed.is_empty() {
                        return Err("Invalid data format for fixed IP: subnet_id or ip_address \
                                    required"
                            .into());
                    }
                    list.push(Value::Object(fixed));
                }
                out.insert(key.clone(), Value::Array(list));
            }
            "qos_policy_id" if value.is_null() => {}
            other => return Err(format!("Unexpected key '{other}' in external_gateway_info")),
        }
    }
    if !out.contains_key("network_id") {
        return Err("network_id is required in external_gateway_info".into());
    }
    Ok(Value::Object(out))
}

/// `routes`: a list of `{destination, nexthop}` without duplicates; destinations are
/// non-loopback prefixes of the nexthop's family.
pub fn routes(v: &Value) -> Result<Value, String> {
    let items = match v {
        Value::Null => return Ok(json!([])),
        Value::Array(items) => items,
        other => return Err(format!("Invalid data format for hostroute: '{other}'")),
    };
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let obj = item
            .as_object()
            .filter(|o| o.len() == 2 && o.contains_key("destination") && o.contains_key("nexthop"))
            .ok_or_else(|| format!("Invalid data format for hostroute: '{item}'"))?;
        let dest = conv::cidr(&obj["destination"])?;
        let hop = conv::ip(&obj["nexthop"])?;
        let cidr = Cidr::parse(dest.as_str().unwrap_or_default())?;
        let hop_ip: std::net::IpAddr = hop.as_str().unwrap_or_default().parse().map_err(|_| {
            format!("'{}' is not a valid IP address", hop.as_str().unwrap_or_default())
        })?;
        if cidr.version() != crate::net::ip_version(&hop_ip) {
            return Err(format!(
                "Invalid route: destination {cidr} and nexthop {hop_ip} are of different IP versions"
            ));
        }
        if cidr.network().is_loopback() {
            return Err(format!("'{cidr}' is a loopback prefix"));
        }
        let route = json!({"destination": dest, "nexthop": hop});
        if out.contains(&route) {
            return Err(format!("Duplicate hostroute '{item}'"));
        }
        out.push(route);
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_info_accepts_clearing_and_checks_keys() {
        assert_eq!(gateway_info(&json!({})).unwrap(), Value::Null);
        assert_eq!(gateway_info(&Value::Null).unwrap(), Value::Null);
        let nid = "4a1fd8a0-5b3b-4a1e-8c6e-0c9d2a8f9b10";
        let v = gateway_info(&json!({"network_id": nid, "enable_snat": "false"})).unwrap();
        assert_eq!(v["enable_snat"], json!(false));
        assert!(gateway_info(&json!({"enable_snat": true})).is_err());
        assert!(gateway_info(&json!({"network_id": nid, "bogus": 1})).is_err());
        assert!(gateway_info(&json!({"network_id": "x"})).is_err());
        let v = gateway_info(
            &json!({"network_id": nid, "external_fixed_ips": [{"ip_address": "172.24.4.10"}]}),
        )
        .unwrap();
        let req = GatewayRequest::from_value(&v).unwrap();
        assert_eq!(req.external_fixed_ips.unwrap()[0].1.as_deref(), Some("172.24.4.10"));
    }

    #[test]
    fn routes_are_normalised_and_checked() {
        let v = routes(&json!([{"destination": "10.1.0.5/24", "nexthop": "10.0.0.9"}])).unwrap();
        assert_eq!(v[0]["destination"], "10.1.0.0/24");
        assert!(routes(&json!([{"destination": "10.1.0.0/24"}])).is_err());
        assert!(routes(&json!([{"destination": "bad", "nexthop": "10.0.0.9"}])).is_err());
        assert!(routes(&json!([{"destination": "2001:db8::/64", "nexthop": "10.0.0.9"}])).is_err());
        assert!(routes(&json!([{"destination": "127.0.0.0/8", "nexthop": "10.0.0.9"}])).is_err());
        let dup = json!({"destination": "10.1.0.0/24", "nexthop": "10.0.0.9"});
        assert!(routes(&json!([dup, dup])).is_err());
    }
}
