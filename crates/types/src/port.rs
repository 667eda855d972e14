//! Port (`/v2.0/ports`): attribute table, stored form and converters of its structured
//! attributes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::attr::{conv, Attr, Read, Write};
use crate::net::Cidr;

/// Accepted `binding:vnic_type` values.
pub const VNIC_TYPES: &[&str] = &[
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "accelerator-direct",
    "accelerator-direct-physical",
    "remote-managed",
];

/// Attributes of a port, per the API notes §2.3.
pub const ATTRS: &[Attr] = &[
    Attr::new("id", conv::uuid).fs(),
    Attr::new("name", conv::name).cu().fs(),
    Attr::new("description", conv::string255).cu().f(),
    Attr::new("network_id", conv::uuid).req().fs(),
    Attr::new("project_id", conv::string255).fs(),
    Attr::new("admin_state_up", conv::boolean).cu().fs(),
    Attr::new("mac_address", mac_or_null).cu().fs(),
    Attr::new("fixed_ips", fixed_ips).cu(),
    Attr::new("device_id", conv::string255).cu().fs(),
    Attr::new("device_owner", conv::string255).cu().fs(),
    Attr::new("status", conv::string255).fs(),
    Attr::new("security_groups", conv::uuid_list).cu().f(),
    Attr::new("port_security_enabled", conv::boolean).cu(),
    Attr::new("allowed_address_pairs", allowed_address_pairs).cu(),
    Attr::new("extra_dhcp_opts", extra_dhcp_opts).cu(),
    Attr::new("binding:host_id", conv::string255)
        .cu()
        .f()
        .write(Write::AdminOrService)
        .read(Read::Admin),
    Attr::new("binding:profile", conv::dict).cu().write(Write::Service).read(Read::Admin),
    Attr::new("binding:vnic_type", vnic_type).cu().f(),
    Attr::new("binding:vif_type", conv::string255).read(Read::Admin),
    Attr::new("binding:vif_details", conv::dict).read(Read::Admin),
    Attr::new("dns_name", dns_name).cu(),
    Attr::new("dns_assignment", conv::any),
    Attr::new("dns_domain", crate::network::dns_domain).cu(),
    Attr::new("propagate_uplink_status", conv::boolean).cu(),
    Attr::new("ip_allocation", conv::string255).fs(),
    Attr::new("tags", conv::string_list),
    Attr::new("created_at", conv::string255).f(),
    Attr::new("updated_at", conv::string255).f(),
    Attr::new("revision_number", conv::non_negative_int).fs(),
];

/// One address of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    /// Subnet the address comes from.
    pub subnet_id: String,
    /// The address.
    pub ip_address: String,
}

/// An extra address (or prefix) the port may send from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    /// IP or CIDR.
    pub ip_address: String,
    /// MAC; the port's own when not given.
    pub mac_address: String,
}

/// An extra DHCP option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraDhcpOpt {
    /// Option name, e.g. `mtu` or `tftp-server`.
    pub opt_name: String,
    /// Option value.
    pub opt_value: Option<String>,
    /// 4 or 6.
    pub ip_version: u8,
}

/// A port as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Network.
    pub network_id: String,
    /// Owner.
    pub project_id: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// MAC address, lower-case colon form.
    pub mac_address: String,
    /// Addresses.
    pub fixed_ips: Vec<FixedIp>,
    /// Device using the port (instance id, router id, …).
    pub device_id: String,
    /// Kind of device (`compute:nova`, `network:router_interface`, …).
    pub device_owner: String,
    /// DOWN until the backend reports the port up.
    pub status: String,
    /// Security groups.
    pub security_groups: Vec<String>,
    /// Anti-spoofing and security groups on.
    pub port_security_enabled: bool,
    /// Allowed address pairs.
    pub allowed_address_pairs: Vec<AddressPair>,
    /// Extra DHCP options.
    pub extra_dhcp_opts: Vec<ExtraDhcpOpt>,
    /// Host the port is bound to.
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: String,
    /// Binding profile (written by services).
    #[serde(rename = "binding:profile")]
    pub binding_profile: Value,
    /// vNIC type.
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: String,
    /// VIF type set by the binding mechanism driver.
    #[serde(rename = "binding:vif_type")]
    pub binding_vif_type: String,
    /// VIF details set by the binding mechanism driver.
    #[serde(rename = "binding:vif_details")]
    pub binding_vif_details: Value,
    /// DNS name.
    pub dns_name: String,
    /// DNS domain.
    pub dns_domain: String,
    /// Propagate uplink status.
    pub propagate_uplink_status: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// One requested address: by subnet, by address, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIpRequest {
    /// Subnet to allocate from.
    pub subnet_id: Option<String>,
    /// Exact address wanted.
    pub ip_address: Option<String>,
}

impl FixedIpRequest {
    /// Reads the converted `fixed_ips` value.
    pub fn list_from(v: &Value) -> Vec<FixedIpRequest> {
        v.as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| FixedIpRequest {
                        subnet_id: i.get("subnet_id").and_then(Value::as_str).map(String::from),
                        ip_address: i.get("ip_address").and_then(Value::as_str).map(String::from),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn mac_or_null(v: &Value) -> Result<Value, String> {
    if v.is_null() {
        Ok(Value::Null)
    } else {
        conv::mac(v)
    }
}

fn vnic_type(v: &Value) -> Result<Value, String> {
    conv::one_of(v, VNIC_TYPES, false)
}

fn dns_name(v: &Value) -> Result<Value, String> {
    let s = conv::string255(v)?;
    let text = s.as_str().unwrap_or_default();
    let valid = text.split('.').filter(|l| !l.is_empty()).all(|label| {
        label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !valid {
        return Err(format!("'{text}' not a valid PQDN or FQDN"));
    }
    Ok(s)
}

fn objects<'a>(v: &'a Value, what: &str) -> Result<Vec<&'a Map<String, Value>>, String> {
    let items = v.as_array().ok_or_else(|| format!("Invalid data format for {what}: '{v}'"))?;
    items
        .iter()
        .map(|i| i.as_object().ok_or_else(|| format!("Invalid data format for {what}: '{i}'")))
        .collect()
}

fn fixed_ips(v: &Value) -> Result<Value, String> {
    let mut out = Vec::new();
    let mut seen_ips = Vec::new();
    for obj in objects(v, "fixed IP")? {
        let mut item = Map::new();
        for (key, value) in obj {
            match key.as_str() {
                "subnet_id" => {
                    item.insert(key.clone(), conv::uuid(value)?);
                }
                "ip_address" => {
                    let ip = conv::ip(value)?;
                    if seen_ips.contains(&ip) {
                        return Err(format!(
                            "Duplicate IP address '{}'",
                            ip.as_str().unwrap_or_default()
                        ));
                    }
                    seen_ips.push(ip.clone());
                    item.insert(key.clone(), ip);
                }
                other => {
                    return Err(format!(
                        "Invalid data format for fixed IP: unexpected key '{other}'"
                    ))
                }
            }
        }
        if item.is_empty() {
            return Err("Invalid data format for fixed IP: subnet_id or ip_address required".into());
        }
        out.push(Value::Object(item));
    }
    Ok(Value::Array(out))
}

fn allowed_address_pairs(v: &Value) -> Result<Value, String> {
    let mut out: Vec<Value> = Vec::new();
    for obj in objects(v, "allowed address pair")? {
        if obj.keys().any(|k| k != "ip_address" && k != "mac_address") {
            return Err("Unrecognized attribute(s) in allowed address pair".into());
        }
        let ip = obj.get("ip_address").ok_or("AllowedAddressPair must contain ip_address")?;
        let ip_text = ip.as_str().ok_or_else(|| format!("'{ip}' is not a valid IP address"))?;
        let ip_norm = Cidr::parse_lenient(ip_text)
            .map(|c| if ip_text.contains('/') { c.to_string() } else { c.network().to_string() })
            .map_err(|_| format!("'{ip_text}' is not a valid IP address"))?;
        let mut pair = json!({"ip_address": ip_norm});
        if let Some(mac) = obj.get("mac_address") {
            pair["mac_address"] = conv::mac(mac)?;
        }
        if out.contains(&pair) {
            return Err("Duplicate address pair".into());
        }
        out.push(pair);
    }
    Ok(Value::Array(out))
}

fn extra_dhcp_opts(v: &Value) -> Result<Value, String> {
    let mut out = Vec::new();
    for obj in objects(v, "extra DHCP option")? {
        if obj.keys().any(|k| !["opt_name", "opt_value", "ip_version"].contains(&k.as_str())) {
            return Err("Invalid data format for extra DHCP option: unexpected key".into());
        }
        let name = obj
            .get("opt_name")
            .ok_or("Invalid data format for extra DHCP option: opt_name missing")?;
        let name = conv::string_max(name, 64)?;
        let value = match obj.get("opt_value") {
            None | Some(Value::Null) => Value::Null,
            Some(v) => conv::string255(v)?,
        };
        for text in [name.as_str(), value.as_str()].into_iter().flatten() {
            if text.contains(['\n', '\r', ',']) {
                return Err(format!("'{}' contains a newline or comma", text.escape_debug()));
            }
        }
        if name.as_str().is_some_and(str::is_empty) {
            return Err("opt_name must not be empty".into());
        }
        let version = match obj.get("ip_version") {
            None | Some(Value::Null) => 4,
            Some(v) => match conv::non_negative_int(v)?.as_i64() {
                Some(4) => 4,
                Some(6) => 6,
                _ => return Err(format!("{v} is not in [4, 6]")),
            },
        };
        out.push(json!({"opt_name": name, "opt_value": value, "ip_version": version}));
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_ips_need_a_key_and_refuse_duplicates() {
        let sid = "4a1fd8a0-5b3b-4a1e-8c6e-0c9d2a8f9b10";
        assert!(fixed_ips(&json!([{"subnet_id": sid}])).is_ok());
        assert!(fixed_ips(&json!([{}])).is_err());
        assert!(fixed_ips(&json!([{"ip_address": "10.0.0.300"}])).is_err());
        assert!(
            fixed_ips(&json!([{"ip_address": "10.0.0.3"}, {"ip_address": "10.0.0.3"}])).is_err()
        );
        assert!(fixed_ips(&json!([{"bogus": 1}])).is_err());
    }

    #[test]
    fn extra_dhcp_opts_refuse_newlines_and_commas() {
        assert!(extra_dhcp_opts(&json!([{"opt_name": "mtu", "opt_value": "1400"}])).is_ok());
        assert!(extra_dhcp_opts(&json!([{"opt_name": "mtu", "opt_value": "1400\nx"}])).is_err());
        assert!(extra_dhcp_opts(&json!([{"opt_name": "a,b", "opt_value": "1"}])).is_err());
    }

    #[test]
    fn address_pairs_accept_ips_and_cidrs() {
        let v = allowed_address_pairs(
            &json!([{"ip_address": "10.0.0.0/24"}, {"ip_address": "10.1.0.1"}]),
        )
        .unwrap();
        assert_eq!(v[0]["ip_address"], "10.0.0.0/24");
        assert_eq!(v[1]["ip_address"], "10.1.0.1");
        assert!(allowed_address_pairs(&json!([{"mac_address": "fa:16:3e:00:00:01"}])).is_err());
    }
}
