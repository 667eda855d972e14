//! Security groups (`/v2.0/security-groups`) and their rules (`/v2.0/security-group-rules`):
//! attribute tables, stored forms and rule normalisation (API notes §2.8).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attr::{conv, Attr};
use crate::net::Cidr;

/// Attributes of a security group.
pub const ATTRS: &[Attr] = &[
    Attr::new("id", conv::uuid).fs(),
    Attr::new("name", conv::name).cu().fs(),
    Attr::new("description", conv::string255).cu().f(),
    Attr::new("project_id", conv::string255).fs(),
    Attr::new("stateful", conv::boolean).cu().f(),
    Attr::new("shared", conv::boolean).f(),
    Attr::new("security_group_rules", conv::any),
    Attr::new("tags", conv::string_list),
    Attr::new("created_at", conv::string255).f(),
    Attr::new("updated_at", conv::string255).f(),
    Attr::new("revision_number", conv::non_negative_int).fs(),
];

/// Attributes of a security group rule.
pub const RULE_ATTRS: &[Attr] = &[
    Attr::new("id", conv::uuid).fs(),
    Attr::new("security_group_id", conv::uuid).req().fs(),
    Attr::new("direction", direction).req().fs(),
    Attr::new("ethertype", ethertype).c().fs(),
    Attr::new("protocol", protocol).c().fs(),
    Attr::new("port_range_min", port_or_null).c().fs(),
    Attr::new("port_range_max", port_or_null).c().fs(),
    Attr::new("remote_ip_prefix", remote_prefix).c().fs(),
    Attr::new("normalized_cidr", conv::any),
    Attr::new("remote_group_id", conv::uuid_or_null).c().fs(),
    Attr::new("remote_address_group_id", conv::uuid_or_null).c().fs(),
    Attr::new("belongs_to_default_sg", conv::boolean).f(),
    Attr::new("description", conv::string255).c().f(),
    Attr::new("project_id", conv::string255).fs(),
    Attr::new("created_at", conv::string255).f(),
    Attr::new("updated_at", conv::string255).f(),
    Attr::new("revision_number", conv::non_negative_int).fs(),
];

/// A security group as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// Id.
    pub id: String,
    /// Name; `default` only for the project's default group.
    pub name: String,
    /// Description.
    pub description: String,
    /// Owner.
    pub project_id: String,
    /// Connection tracking on (allow-related) or off (allow-stateless).
    pub stateful: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl SecurityGroup {
    /// True for the project's default group.
    pub fn is_default(&self) -> bool {
        self.name == "default"
    }
}

/// A rule as stored (already normalised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    /// Id.
    pub id: String,
    /// Group it belongs to.
    pub security_group_id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// Protocol name or number; `None` for any.
    pub protocol: Option<String>,
    /// Lowest port, or ICMP type.
    pub port_range_min: Option<i64>,
    /// Highest port, or ICMP code.
    pub port_range_max: Option<i64>,
    /// Remote prefix as given (host bits kept).
    pub remote_ip_prefix: Option<String>,
    /// Remote group.
    pub remote_group_id: Option<String>,
    /// Remote address group.
    pub remote_address_group_id: Option<String>,
    /// Description.
    pub description: String,
    /// Owner.
    pub project_id: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl SecurityGroupRule {
    /// The remote prefix in network-address form.
    pub fn normalized_cidr(&self) -> Option<String> {
        self.remote_ip_prefix
            .as_deref()
            .and_then(|p| Cidr::parse_lenient(p).ok())
            .map(|c| c.to_string())
    }

    /// What makes two rules the same rule (duplicates are refused).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.security_group_id,
            self.direction,
            self.ethertype,
            self.protocol,
            self.port_range_min,
            self.port_range_max,
            self.normalized_cidr(),
            self.remote_group_id,
            self.remote_address_group_id
        )
    }
}

/// Protocol names Neutron accepts, with their numbers.
pub const PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ip", 0),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

/// Protocols that only exist for IPv6.
pub const IPV6_ONLY: &[&str] =
    &["ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route"];

/// Protocols whose rules carry port ranges.
pub const PORT_PROTOCOLS: &[&str] =
    &["tcp", "udp", "sctp", "dccp", "udplite", "6", "17", "132", "33", "136"];

fn direction(v: &Value) -> Result<Value, String> {
    conv::one_of(v, &["ingress", "egress"], false)
}

fn ethertype(v: &Value) -> Result<Value, String> {
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("ipv4") => Ok(Value::String("IPv4".into())),
        Some("ipv6") => Ok(Value::String("IPv6".into())),
        _ => Err(format!("{v} is not in ['IPv4', 'IPv6']")),
    }
}

fn protocol(v: &Value) -> Result<Value, String> {
    let text = match v {
        Value::Null => return Ok(Value::Null),
        Value::String(s) => s.to_ascii_lowercase(),
        Value::Number(n) => n.to_string(),
        other => return Err(format!("{other} is not a valid protocol")),
    };
    if text == "any" {
        return Ok(Value::Null);
    }
    if PROTOCOLS.iter().any(|(name, _)| *name == text) {
        return Ok(Value::String(text));
    }
    match text.parse::<u16>() {
        Ok(n) if n <= 255 => Ok(Value::String(n.to_string())),
        _ => Err(format!(
            "Security group rule protocol {text} not supported. Only protocol values {:?} and integer representations [0 to 255] are supported.",
            PROTOCOLS.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        )),
    }
}

fn port_or_null(v: &Value) -> Result<Value, String> {
    match v {
        Value::Null => Ok(Value::Null),
        _ => match conv::non_negative_int(v)?.as_i64() {
            Some(n) if n <= 65535 => Ok(Value::from(n)),
            _ => Err(format!("{v} is not a valid port number")),
        },
    }
}

fn remote_prefix(v: &Value) -> Result<Value, String> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(s) => {
            Cidr::parse_lenient(s).map_err(|_| format!("'{s}' is not a valid IP subnet"))?;
            Ok(v.clone())
        }
        other => Err(format!("{other} is not a valid IP subnet")),
    }
}
