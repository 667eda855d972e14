//! Security groups in NB (`ovn-mapping.md` §9): one Port_Group `pg_<id>` per group with one
//! ACL per rule, and the `neutron_pg_drop` group whose drop ACLs make every port with port
//! security deny IP traffic that no rule allows.

use nt_ovsdb::{Atom, Row, Value};
use nt_types::security_group::{SecurityGroup, SecurityGroupRule};

use crate::names::REVISION;

/// Name of the group that drops what no rule allows.
pub const DROP_GROUP: &str = "neutron_pg_drop";
/// Marker of a group's Port_Group.
pub const SECURITY_GROUP_ID: &str = "neutron:security_group_id";
/// Marker of a rule's ACL.
pub const RULE_ID: &str = "neutron:security_group_rule_id";
/// Priority of rule ACLs (the drop ACLs sit below at 1000).
pub const RULE_PRIORITY: i64 = 1002;
/// Priority of the drop ACLs.
pub const DROP_PRIORITY: i64 = 1000;

/// Port_Group name of a security group (OVN names allow no `-`).
pub fn pg_name(group_id: &str) -> String {
    format!("pg_{}", group_id.replace('-', "_"))
}

fn s(v: impl Into<String>) -> Value {
    Value::Atom(Atom::String(v.into()))
}

/// The Port_Group columns we own (`name`, `external_ids`).
pub fn port_group(group: &SecurityGroup, revision: i64) -> Row {
    [
        ("name".to_string(), s(pg_name(&group.id))),
        (
            "external_ids".to_string(),
            Value::map([(SECURITY_GROUP_ID, group.id.clone()), (REVISION, revision.to_string())]),
        ),
    ]
    .into_iter()
    .collect()
}

/// The ACL of one rule.
pub fn acl(rule: &SecurityGroupRule, group: &SecurityGroup) -> Row {
    let direction = if rule.direction == "ingress" { "to-lport" } else { "from-lport" };
    let action = if group.stateful { "allow-related" } else { "allow-stateless" };
    [
        ("direction".to_string(), s(direction)),
        ("priority".to_string(), Value::Atom(Atom::Integer(RULE_PRIORITY))),
        ("action".to_string(), s(action)),
        ("log".to_string(), Value::Atom(Atom::Boolean(false))),
        ("match".to_string(), s(acl_match(rule, &pg_name(&group.id)))),
        ("external_ids".to_string(), Value::map([(RULE_ID, rule.id.clone())])),
    ]
    .into_iter()
    .collect()
}

/// The two drop ACLs of `neutron_pg_drop`.
pub fn drop_acls() -> Vec<Row> {
    [("from-lport", "inport"), ("to-lport", "outport")]
        .into_iter()
        .map(|(direction, port)| {
            [
                ("direction".to_string(), s(direction)),
                ("priority".to_string(), Value::Atom(Atom::Integer(DROP_PRIORITY))),
                ("action".to_string(), s("drop")),
                ("log".to_string(), Value::Atom(Atom::Boolean(false))),
                ("match".to_string(), s(format!("{port} == @{DROP_GROUP} && ip"))),
            ]
            .into_iter()
            .collect()
        })
        .collect()
}

/// The ACL match of a rule (§9.3): port group, family, remote, protocol and ports, in that
/// order.
pub fn acl_match(rule: &SecurityGroupRule, pg: &str) -> String {
    let ingress = rule.direction == "ingress";
    let v6 = rule.ethertype == "IPv6";
    let ip = if v6 { "ip6" } else { "ip4" };
    let (side, remote_dir) = if ingress { ("outport", "src") } else { ("inport", "dst") };
    let mut terms = vec![format!("{side} == @{pg}"), ip.to_string()];
    if let Some(cidr) = rule.normalized_cidr() {
        terms.push(format!("{ip}.{remote_dir} == {cidr}"));
    }
    if let Some(remote) = &rule.remote_group_id {
        terms.push(format!("{ip}.{remote_dir} == ${}_{ip}", pg_name(remote)));
    }
    if let Some(ag) = &rule.remote_address_group_id {
        terms.push(format!("{ip}.{remote_dir} == $ag_{}_{ip}", ag.replace('-', "_")));
    }
    let protocol = rule.protocol.as_deref().map(|p| match p {
        "6" => "tcp",
        "17" => "udp",
        "132" => "sctp",
        "1" | "icmp" if !v6 => "icmp",
        "58" | "icmp" | "icmpv6" | "ipv6-icmp" => "icmp6",
        other => other,
    });
    match protocol {
        None => {}
        Some(l4 @ ("tcp" | "udp" | "sctp")) => {
            terms.push(l4.to_string());
            match (rule.port_range_min, rule.port_range_max) {
                (Some(lo), Some(hi)) if lo == hi => terms.push(format!("{l4}.dst == {lo}")),
                (lo, hi) => {
                    if let Some(lo) = lo {
                        terms.push(format!("{l4}.dst >= {lo}"));
                    }
                    if let Some(hi) = hi {
                        terms.push(format!("{l4}.dst <= {hi}"));
                    }
                }
            }
        }
        Some("icmp") | Some("icmp6") => {
            let icmp = if v6 { "icmp6" } else { "icmp4" };
            terms.push(icmp.to_string());
            if let Some(t) = rule.port_range_min {
                terms.push(format!("{icmp}.type == {t}"));
            }
            if let Some(c) = rule.port_range_max {
                terms.push(format!("{icmp}.code == {c}"));
            }
        }
        Some(other) => {
            let number = nt_types::security_group::PROTOCOLS
                .iter()
                .find(|(n, _)| *n == other)
                .map(|(_, num)| num.to_string())
                .unwrap_or_else(|| other.to_string());
            terms.push(format!("ip.proto == {number}"));
        }
    }
    terms.join(" && ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        direction: &str,
        ethertype: &str,
        protocol: Option<&str>,
        ports: (Option<i64>, Option<i64>),
    ) -> SecurityGroupRule {
        SecurityGroupRule {
            id: "r1".into(),
            security_group_id: "0b1c-2d".into(),
            direction: direction.into(),
            ethertype: ethertype.into(),
            protocol: protocol.map(String::from),
            port_range_min: ports.0,
            port_range_max: ports.1,
            remote_ip_prefix: None,
            remote_group_id: None,
            remote_address_group_id: None,
            description: String::new(),
            project_id: "p".into(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn matches_follow_the_mapping_table() {
        let pg = "pg_X";
        let mut ssh = rule("ingress", "IPv4", Some("tcp"), (Some(22), Some(22)));
        ssh.remote_ip_prefix = Some("0.0.0.0/0".into());
        assert_eq!(
            acl_match(&ssh, pg),
            "outport == @pg_X && ip4 && ip4.src == 0.0.0.0/0 && tcp && tcp.dst == 22"
        );
        let range = rule("ingress", "IPv4", Some("udp"), (Some(1000), Some(2000)));
        assert_eq!(
            acl_match(&range, pg),
            "outport == @pg_X && ip4 && udp && udp.dst >= 1000 && udp.dst <= 2000"
        );
        let mut same_group = rule("ingress", "IPv4", None, (None, None));
        same_group.remote_group_id = Some("ab-cd".into());
        assert_eq!(
            acl_match(&same_group, pg),
            "outport == @pg_X && ip4 && ip4.src == $pg_ab_cd_ip4"
        );
        assert_eq!(
            acl_match(&rule("egress", "IPv6", None, (None, None)), pg),
            "inport == @pg_X && ip6"
        );
        let echo = rule("ingress", "IPv4", Some("icmp"), (Some(8), Some(0)));
        assert_eq!(
            acl_match(&echo, pg),
            "outport == @pg_X && ip4 && icmp4 && icmp4.type == 8 && icmp4.code == 0"
        );
        let v6echo = rule("ingress", "IPv6", Some("ipv6-icmp"), (Some(128), None));
        assert_eq!(acl_match(&v6echo, pg), "outport == @pg_X && ip6 && icmp6 && icmp6.type == 128");
        assert_eq!(
            acl_match(&rule("egress", "IPv4", Some("gre"), (None, None)), pg),
            "inport == @pg_X && ip4 && ip.proto == 47"
        );
        assert_eq!(
            acl_match(&rule("egress", "IPv4", Some("112"), (None, None)), pg),
            "inport == @pg_X && ip4 && ip.proto == 112"
        );
        assert_eq!(pg_name("0b1c-2d"), "pg_0b1c_2d");
    }
}
