//! What each resource becomes in the Northbound DB (`ovn-mapping.md` §5–§8), as pure
//! functions from our resources to the columns we own. The writer compares these with the
//! replica and writes only what differs.

use std::collections::BTreeMap;

use nt_ovsdb::{Atom, Row, Value};
use nt_types::network::Network;
use nt_types::port::Port;
use nt_types::subnet::Subnet;
use uuid::Uuid;

use crate::names::*;

fn s(v: impl Into<String>) -> Value {
    Value::Atom(Atom::String(v.into()))
}

fn map<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Value {
    Value::map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)))
}

/// Settings that shape the rows.
#[derive(Debug, Clone)]
pub struct TranslateConfig {
    /// DHCP lease time in seconds.
    pub dhcp_lease_time: u32,
}

/// A network's Logical_Switch and, for flat/vlan networks, its localnet port.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSwitch {
    /// Row uuid: the network id.
    pub uuid: Uuid,
    /// `name`, `external_ids`, `other_config`.
    pub row: Row,
    /// The localnet LSP of a provider network.
    pub localnet: Option<Row>,
}

/// The switch of `net` at `revision`.
pub fn switch(net: &Network, revision: i64) -> Result<DesiredSwitch, String> {
    let uuid = Uuid::parse_str(&net.id).map_err(|e| format!("network id {}: {e}", net.id))?;
    let mut ext = vec![
        (NETWORK_NAME, net.name.clone()),
        (MTU, net.mtu.to_string()),
        (REVISION, revision.to_string()),
        (AZ_HINTS, net.availability_zone_hints.join(",")),
        (PROVNET_TYPE, net.network_type.clone()),
    ];
    if let Some(physnet) = &net.physical_network {
        ext.push((PROVNET_PHYSNET, physnet.clone()));
    }
    let row: Row = [
        ("name".to_string(), s(ls_name(&net.id))),
        ("external_ids".to_string(), map(ext)),
        (
            "other_config".to_string(),
            map([
                ("mcast_snoop", "false".to_string()),
                ("mcast_flood_unregistered", "false".to_string()),
                ("vlan-passthru", "false".to_string()),
            ]),
        ),
    ]
    .into_iter()
    .collect();
    let localnet = net.physical_network.as_ref().map(|physnet| {
        let mut row: Row = [
            ("name".to_string(), s(provnet_name(&net.id))),
            ("type".to_string(), s("localnet")),
            ("addresses".to_string(), Value::set(["unknown"])),
            (
                "options".to_string(),
                map([
                    ("network_name", physnet.clone()),
                    ("mcast_flood", "false".to_string()),
                    ("mcast_flood_reports", "true".to_string()),
                    ("localnet_learn_fdb", "false".to_string()),
                ]),
            ),
            ("external_ids".to_string(), map([(PROVNET_PHYSNET, physnet.clone())])),
        ]
        .into_iter()
        .collect();
        let tag = match (net.network_type.as_str(), net.segmentation_id) {
            ("vlan", Some(id)) => Value::set([id]),
            _ => Value::empty_set(),
        };
        row.insert("tag_request".into(), tag);
        row
    });
    Ok(DesiredSwitch { uuid, row, localnet })
}

/// True when the subnet gets a DHCP_Options row (§6.1).
pub fn subnet_has_dhcp(subnet: &Subnet) -> bool {
    subnet.enable_dhcp
        && subnet.ipv6_address_mode.as_deref() != Some("slaac")
        && subnet.ipv6_ra_mode.as_deref() != Some("slaac")
}

/// A subnet's DHCP_Options row (`cidr`, `options`, `external_ids`). `existing` is the row in NB,
/// whose generated server MAC / DUID is kept; `metadata_ip` the metadata port's address on the
/// subnet.
pub fn dhcp_options(
    subnet: &Subnet,
    network: &Network,
    revision: i64,
    existing: Option<&Row>,
    metadata_ip: Option<&str>,
    config: &TranslateConfig,
    new_mac: impl FnOnce() -> String,
) -> Row {
    let kept = |key: &str| {
        existing
            .and_then(|r| r.get("options"))
            .and_then(|o| o.map_get(key))
            .and_then(Atom::as_str)
            .map(String::from)
    };
    let mut options: BTreeMap<&str, String> = BTreeMap::new();
    let dns: Vec<&String> = subnet.dns_nameservers.iter().collect();
    let announce_dns = !dns.is_empty() && !dns.iter().any(|d| *d == "0.0.0.0" || *d == "::");
    if subnet.ip_version == 4 {
        let server_mac = kept("server_mac").unwrap_or_else(new_mac);
        options.insert("server_mac", server_mac);
        options.insert("lease_time", config.dhcp_lease_time.to_string());
        options.insert("mtu", network.mtu.to_string());
        if let Some(server) = subnet.gateway_ip.as_deref().or(metadata_ip) {
            options.insert("server_id", server.to_string());
        }
        if let Some(gw) = &subnet.gateway_ip {
            options.insert("router", gw.clone());
        }
        if announce_dns {
            options.insert(
                "dns_server",
                format!("{{{}}}", dns.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")),
            );
        }
        let mut routes: Vec<String> = Vec::new();
        if let Some(ip) = metadata_ip {
            routes.push(format!("169.254.169.254/32,{ip}"));
        }
        for r in &subnet.host_routes {
            routes.push(format!("{},{}", r.destination, r.nexthop));
        }
        if !routes.is_empty() {
            if let Some(gw) = &subnet.gateway_ip {
                routes.push(format!("0.0.0.0/0,{gw}"));
            }
            options.insert("classless_static_route", format!("{{{}}}", routes.join(", ")));
        }
    } else {
        let duid = kept("server_id").unwrap_or_else(new_mac);
        options.insert("server_id", duid);
        if announce_dns {
            options.insert(
                "dns_server",
                format!("{{{}}}", dns.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")),
            );
        }
        if subnet.ipv6_address_mode.as_deref() == Some("dhcpv6-stateless") {
            options.insert("dhcpv6_stateless", "true".into());
        }
    }
    [
        ("cidr".to_string(), s(&subnet.cidr)),
        ("options".to_string(), map(options)),
        (
            "external_ids".to_string(),
            map([
                (SUBNET_ID, subnet.id.clone()),
                (NETWORK_ID, subnet.network_id.clone()),
                (REVISION, revision.to_string()),
            ]),
        ),
    ]
    .into_iter()
    .collect()
}

/// What a port's LSP needs besides the port.
#[derive(Debug, Clone, Default)]
pub struct PortInputs<'a> {
    /// The network's subnets.
    pub subnets: &'a [Subnet],
    /// The DHCPv4 row the LSP refers to (a subnet row, a per-port row, or a named uuid of a
    /// per-port row inserted in the same transaction).
    pub dhcp_v4: Option<Atom>,
    /// The DHCPv6 row the LSP refers to.
    pub dhcp_v6: Option<Atom>,
    /// `external_ids` of the LSP in NB, whose keys owned by other writers are kept.
    pub existing_external_ids: Option<&'a Value>,
}

/// LSP `type` of a port.
pub fn lsp_type(port: &Port) -> &'static str {
    match port.device_owner.as_str() {
        "network:distributed" => "localport",
        // Router interfaces and gateways: the peer of their Logical_Router_Port (§10.2, §10.3).
        "network:router_interface" | "network:router_gateway" => "router",
        _ => "",
    }
}

/// A port's Logical_Switch_Port columns (§8.2–8.4).
pub fn logical_switch_port(
    port: &Port,
    network: &Network,
    revision: i64,
    inputs: &PortInputs<'_>,
) -> Row {
    let ty = lsp_type(port);
    let trusted = port.device_owner.starts_with("network:");
    let ips: Vec<&str> = port.fixed_ips.iter().map(|f| f.ip_address.as_str()).collect();
    let all = std::iter::once(port.mac_address.as_str())
        .chain(ips.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let (v4_ref, v6_ref) =
        if trusted { (None, None) } else { (inputs.dhcp_v4.clone(), inputs.dhcp_v6.clone()) };
    let has_dhcp = v4_ref.is_some() || v6_ref.is_some();
    let (addresses, port_security): (Vec<String>, Vec<String>) = if ty == "router" {
        (vec!["router".into()], vec![])
    } else if !ty.is_empty() {
        let ps = if port.port_security_enabled && !trusted { vec![all.clone()] } else { vec![] };
        (vec![all], ps)
    } else if trusted {
        (vec!["unknown".into()], vec![])
    } else if !port.port_security_enabled {
        if has_dhcp {
            (vec![all, "unknown".into()], vec![])
        } else {
            (vec!["unknown".into()], vec![])
        }
    } else {
        let mut own = all.clone();
        let mut extra_ps = Vec::new();
        let mut extra_macs: Vec<String> = Vec::new();
        for pair in &port.allowed_address_pairs {
            if pair.mac_address == port.mac_address {
                own.push(' ');
                own.push_str(&pair.ip_address);
            } else {
                extra_ps.push(format!("{} {}", pair.mac_address, pair.ip_address));
                if !extra_macs.contains(&pair.mac_address) {
                    extra_macs.push(pair.mac_address.clone());
                }
            }
        }
        let mut ps = vec![own];
        ps.extend(extra_ps);
        let mut addresses = vec![all];
        addresses.extend(extra_macs);
        (addresses, ps)
    };
    let cidrs: Vec<String> = port
        .fixed_ips
        .iter()
        .map(|f| {
            let len = inputs
                .subnets
                .iter()
                .find(|s| s.id == f.subnet_id)
                .map(|s| s.cidr().prefix_len())
                .unwrap_or(if f.ip_address.contains(':') { 128 } else { 32 });
            format!("{}/{len}", f.ip_address)
        })
        .collect();
    let mut ext: BTreeMap<String, String> = BTreeMap::new();
    if let Some(Value::Map(existing)) = inputs.existing_external_ids {
        for key in PRESERVED_LSP_KEYS {
            if let Some(v) = existing.get(&Atom::String((*key).to_string())).and_then(Atom::as_str)
            {
                ext.insert((*key).to_string(), v.to_string());
            }
        }
    }
    for (k, v) in [
        (PORT_NAME, port.name.clone()),
        (DEVICE_ID, port.device_id.clone()),
        (DEVICE_OWNER, port.device_owner.clone()),
        (PROJECT_ID, port.project_id.clone()),
        (NETWORK_NAME, ls_name(&network.id)),
        (CIDRS, cidrs.join(" ")),
        (SECURITY_GROUP_IDS, if trusted { String::new() } else { port.security_groups.join(" ") }),
        (REVISION, revision.to_string()),
        (VNIC_TYPE, port.binding_vnic_type.clone()),
        (PORT_CAPABILITIES, String::new()),
        (ADDR_SCOPE4, String::new()),
        (ADDR_SCOPE6, String::new()),
        (MTU, if ty == "localport" { network.mtu.to_string() } else { String::new() }),
    ] {
        ext.insert(k.to_string(), v);
    }
    let mut options: BTreeMap<&str, String> = BTreeMap::new();
    if ty.is_empty() && !port.binding_host_id.is_empty() {
        options.insert("requested-chassis", port.binding_host_id.clone());
    }
    if ty == "router" {
        options.insert("router-port", format!("lrp-{}", port.id));
        if port.device_owner == "network:router_gateway" {
            options.insert("nat-addresses", "router".into());
            options.insert("exclude-lb-vips-from-garp", "true".into());
        }
    }
    let opt_ref = |r: Option<Atom>| match r {
        Some(a) => Value::Set([a].into_iter().collect()),
        None => Value::empty_set(),
    };
    [
        ("name".to_string(), s(&port.id)),
        ("type".to_string(), s(ty)),
        ("addresses".to_string(), Value::set(addresses)),
        ("port_security".to_string(), Value::set(port_security)),
        ("enabled".to_string(), Value::set([port.admin_state_up])),
        ("options".to_string(), map(options)),
        ("external_ids".to_string(), Value::map(ext)),
        ("dhcpv4_options".to_string(), opt_ref(v4_ref)),
        ("dhcpv6_options".to_string(), opt_ref(v6_ref)),
    ]
    .into_iter()
    .collect()
}

/// The subnets whose DHCP rows a port refers to: its first IPv4 subnet with a row, and its
/// IPv6 subnet with a row (stateful preferred). `has_row` tells which subnets have one.
pub fn dhcp_subnets<'s>(
    port: &Port,
    subnets: &'s [Subnet],
    has_row: impl Fn(&str) -> bool,
) -> (Option<&'s Subnet>, Option<&'s Subnet>) {
    let mut v4 = None;
    let mut v6: Option<(&Subnet, bool)> = None;
    for f in &port.fixed_ips {
        let Some(subnet) = subnets.iter().find(|s| s.id == f.subnet_id) else { continue };
        if !has_row(&subnet.id) {
            continue;
        }
        if subnet.ip_version == 4 {
            v4 = v4.or(Some(subnet));
        } else {
            let stateful = subnet.ipv6_address_mode.as_deref() == Some("dhcpv6-stateful");
            match v6 {
                Some((_, true)) => {}
                Some((_, false)) if !stateful => {}
                _ => v6 = Some((subnet, stateful)),
            }
        }
    }
    (v4, v6.map(|(s, _)| s))
}

/// How an extra DHCP option is written in OVN: its OVN name and value shape.
enum OptShape {
    Plain,
    Quoted,
    List,
}

/// OVN's name for a Neutron extra DHCP option (by name or number), per family.
fn ovn_option(name: &str, version: u8) -> Option<(&'static str, OptShape)> {
    use OptShape::*;
    let v4 = [
        (&["router", "3"][..], "router", Plain),
        (&["dns-server", "6"], "dns_server", List),
        (&["log-server", "7"], "log_server", List),
        (&["lpr-server", "9"], "lpr_server", List),
        (&["domain-name", "15"], "domain_name", Quoted),
        (&["swap-server", "16"], "swap_server", Plain),
        (&["ip-forward-enable", "19"], "ip_forward_enable", Plain),
        (&["policy-filter", "21"], "policy_filter", List),
        (&["default-ttl", "23"], "default_ttl", Plain),
        (&["mtu", "26"], "mtu", Plain),
        (&["router-discovery", "31"], "router_discovery", Plain),
        (&["router-solicitation", "32"], "router_solicitation", Plain),
        (&["arp-timeout", "35"], "arp_cache_timeout", Plain),
        (&["ethernet-encap", "36"], "ethernet_encap", Plain),
        (&["tcp-ttl", "37"], "tcp_ttl", Plain),
        (&["tcp-keepalive", "38"], "tcp_keepalive_interval", Plain),
        (&["nis-server", "41"], "nis_server", List),
        (&["ntp-server", "42"], "ntp_server", List),
        (&["netbios-ns", "44"], "netbios_name_server", List),
        (&["netbios-nodetype", "46"], "netbios_node_type", Plain),
        (&["lease-time", "51"], "lease_time", Plain),
        (&["T1", "58"], "T1", Plain),
        (&["T2", "59"], "T2", Plain),
        (&["tftp-server", "66"], "tftp_server", Quoted),
        (&["bootfile-name", "67"], "bootfile_name", Quoted),
        (&["domain-search", "119"], "domain_search_list", Quoted),
        (&["classless-static-route", "121"], "classless_static_route", List),
        (&["tftp-server-address", "150"], "tftp_server_address", Plain),
        (&["wpad", "252"], "wpad", Quoted),
        (&["server-ip-address", "255"], "next_server", Plain),
    ];
    let v6 = [
        (&["dns-server", "23"][..], "dns_server", List),
        (&["domain-search", "24"], "domain_search", Quoted),
    ];
    let table: &[(&[&str], &'static str, OptShape)] = if version == 4 { &v4 } else { &v6 };
    table.iter().find(|(names, _, _)| names.contains(&name)).map(|(_, ovn, shape)| {
        let shape = match shape {
            Plain => Plain,
            Quoted => Quoted,
            List => List,
        };
        (*ovn, shape)
    })
}

/// True when the port asks for no DHCP on `version` (`dhcp_disabled=true`).
pub fn dhcp_disabled(port: &Port, version: u8) -> bool {
    port.extra_dhcp_opts.iter().any(|o| {
        o.ip_version == version
            && o.opt_name == "dhcp_disabled"
            && o.opt_value.as_deref() == Some("true")
    })
}

/// The per-port DHCP_Options row of a port with extra options for `version` (§6.4): the
/// subnet row with the port's options merged over it and `external_ids:port_id`. `None` when
/// the port has no (known) extra options for that family.
pub fn port_dhcp_options(subnet_row: &Row, port: &Port, version: u8) -> Option<Row> {
    let mut options: BTreeMap<String, String> = subnet_row
        .get("options")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let mut any = false;
    for opt in port
        .extra_dhcp_opts
        .iter()
        .filter(|o| o.ip_version == version && o.opt_name != "dhcp_disabled")
    {
        let Some((name, shape)) = ovn_option(&opt.opt_name, version) else {
            tracing::warn!(port = %port.id, option = %opt.opt_name, "extra DHCP option unknown to OVN; ignored");
            continue;
        };
        let Some(value) = &opt.opt_value else {
            options.remove(name);
            any = true;
            continue;
        };
        let value = match shape {
            OptShape::Plain => value.clone(),
            OptShape::Quoted => format!("\"{value}\""),
            OptShape::List if value.starts_with('{') => value.clone(),
            OptShape::List => format!("{{{value}}}"),
        };
        options.insert(name.to_string(), value);
        any = true;
    }
    if !any {
        return None;
    }
    let mut ext: BTreeMap<String, String> = subnet_row
        .get("external_ids")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    ext.insert(PORT_ID.to_string(), port.id.clone());
    let mut row = Row::new();
    row.insert("cidr".into(), subnet_row.get("cidr").cloned().unwrap_or_else(|| s("")));
    row.insert("options".into(), Value::map(options));
    row.insert("external_ids".into(), Value::map(ext));
    Some(row)
}

#[cfg(test)]
mod tests {
    use nt_types::port::{AddressPair, FixedIp};
    use serde_json::json;

    use super::*;

    fn network() -> Network {
        serde_json::from_value(json!({
            "id": "10000000-0000-4000-8000-000000000002", "name": "private", "description": "",
            "admin_state_up": true, "status": "ACTIVE", "project_id": "p", "shared": false,
            "router:external": false, "provider:network_type": "geneve",
            "provider:physical_network": null, "provider:segmentation_id": 7, "mtu": 1442,
            "port_security_enabled": true, "availability_zone_hints": [], "dns_domain": "",
            "is_default": false, "tags": [], "created_at": "", "updated_at": ""}))
        .unwrap()
    }

    fn subnet() -> Subnet {
        serde_json::from_value(json!({
            "id": "30000000-0000-4000-8000-000000000002", "name": "", "description": "",
            "network_id": "10000000-0000-4000-8000-000000000002", "project_id": "p", "ip_version": 4,
            "cidr": "10.0.0.0/24", "subnetpool_id": null, "gateway_ip": "10.0.0.1",
            "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.254"}],
            "dns_nameservers": ["8.8.8.8"], "host_routes": [], "enable_dhcp": true,
            "ipv6_ra_mode": null, "ipv6_address_mode": null, "service_types": [], "segment_id": null,
            "dns_publish_fixed_ip": false, "tags": [], "created_at": "", "updated_at": ""}))
        .unwrap()
    }

    fn port() -> Port {
        serde_json::from_value(json!({
            "id": "50000000-0000-4000-8000-000000000001", "name": "vm1-port", "description": "",
            "network_id": "10000000-0000-4000-8000-000000000002", "project_id": "p",
            "admin_state_up": true, "mac_address": "fa:16:3e:00:00:11",
            "fixed_ips": [{"subnet_id": "30000000-0000-4000-8000-000000000002", "ip_address": "10.0.0.11"}],
            "device_id": "vm1", "device_owner": "compute:nova", "status": "DOWN", "security_groups": [],
            "port_security_enabled": true, "allowed_address_pairs": [], "extra_dhcp_opts": [],
            "binding:host_id": "compute-1", "binding:profile": {}, "binding:vnic_type": "normal",
            "binding:vif_type": "ovs", "binding:vif_details": {}, "dns_name": "", "dns_domain": "",
            "propagate_uplink_status": true, "tags": [], "created_at": "", "updated_at": ""}))
        .unwrap()
    }

    fn text_set(row: &Row, col: &str) -> Vec<String> {
        row[col].elements().iter().filter_map(|a| a.as_str().map(String::from)).collect()
    }

    #[test]
    fn switch_carries_neutron_external_ids_and_provider_localnet() {
        let mut net = network();
        let ls = switch(&net, 3).unwrap();
        assert_eq!(ls.row["name"].as_str(), Some("neutron-10000000-0000-4000-8000-000000000002"));
        assert_eq!(ls.row["external_ids"].map_get(MTU).and_then(Atom::as_str), Some("1442"));
        assert_eq!(ls.row["external_ids"].map_get(REVISION).and_then(Atom::as_str), Some("3"));
        assert!(ls.localnet.is_none(), "tunnelled networks have no localnet port");
        net.network_type = "vlan".into();
        net.physical_network = Some("physnet1".into());
        net.segmentation_id = Some(100);
        let ls = switch(&net, 1).unwrap();
        let localnet = ls.localnet.unwrap();
        assert_eq!(localnet["type"].as_str(), Some("localnet"));
        assert_eq!(
            localnet["options"].map_get("network_name").and_then(Atom::as_str),
            Some("physnet1")
        );
        assert_eq!(localnet["tag_request"].elements()[0].as_i64(), Some(100));
        assert_eq!(
            ls.row["external_ids"].map_get(PROVNET_PHYSNET).and_then(Atom::as_str),
            Some("physnet1")
        );
    }

    #[test]
    fn dhcp_options_follow_the_mapping() {
        let cfg = TranslateConfig { dhcp_lease_time: 43200 };
        let row = dhcp_options(&subnet(), &network(), 2, None, Some("10.0.0.2"), &cfg, || {
            "fa:16:3e:aa:bb:cc".into()
        });
        let opt = |k: &str| row["options"].map_get(k).and_then(Atom::as_str).map(String::from);
        assert_eq!(opt("server_id").as_deref(), Some("10.0.0.1"));
        assert_eq!(opt("router").as_deref(), Some("10.0.0.1"));
        assert_eq!(opt("mtu").as_deref(), Some("1442"));
        assert_eq!(opt("lease_time").as_deref(), Some("43200"));
        assert_eq!(opt("dns_server").as_deref(), Some("{8.8.8.8}"));
        assert_eq!(
            opt("classless_static_route").as_deref(),
            Some("{169.254.169.254/32,10.0.0.2, 0.0.0.0/0,10.0.0.1}")
        );
        let again = dhcp_options(&subnet(), &network(), 3, Some(&row), None, &cfg, || {
            "fa:16:3e:00:00:00".into()
        });
        assert_eq!(
            again["options"].map_get("server_mac").and_then(Atom::as_str),
            Some("fa:16:3e:aa:bb:cc"),
            "kept"
        );
    }

    #[test]
    fn port_security_and_addresses_follow_the_table() {
        let net = network();
        let subnets = vec![subnet()];
        let dhcp: Uuid = "60000000-0000-4000-8000-000000000001".parse().unwrap();
        let inputs = PortInputs {
            subnets: &subnets,
            dhcp_v4: Some(Atom::Uuid(dhcp)),
            dhcp_v6: None,
            existing_external_ids: None,
        };
        let mut p = port();
        let lsp = logical_switch_port(&p, &net, 4, &inputs);
        assert_eq!(text_set(&lsp, "addresses"), ["fa:16:3e:00:00:11 10.0.0.11"]);
        assert_eq!(text_set(&lsp, "port_security"), ["fa:16:3e:00:00:11 10.0.0.11"]);
        assert_eq!(
            lsp["options"].map_get("requested-chassis").and_then(Atom::as_str),
            Some("compute-1")
        );
        assert_eq!(lsp["dhcpv4_options"].elements()[0].as_uuid(), Some(dhcp));
        assert_eq!(lsp["external_ids"].map_get(CIDRS).and_then(Atom::as_str), Some("10.0.0.11/24"));
        p.allowed_address_pairs = vec![
            AddressPair { ip_address: "10.0.0.100".into(), mac_address: p.mac_address.clone() },
            AddressPair {
                ip_address: "10.0.0.101".into(),
                mac_address: "fa:16:3e:99:99:99".into(),
            },
        ];
        let lsp = logical_switch_port(&p, &net, 4, &inputs);
        let mut ps = text_set(&lsp, "port_security");
        ps.sort();
        assert_eq!(ps, ["fa:16:3e:00:00:11 10.0.0.11 10.0.0.100", "fa:16:3e:99:99:99 10.0.0.101"]);
        let mut addrs = text_set(&lsp, "addresses");
        addrs.sort();
        assert_eq!(addrs, ["fa:16:3e:00:00:11 10.0.0.11", "fa:16:3e:99:99:99"]);
        p.allowed_address_pairs.clear();
        p.port_security_enabled = false;
        let lsp = logical_switch_port(&p, &net, 4, &inputs);
        assert!(text_set(&lsp, "port_security").is_empty());
        let mut addrs = text_set(&lsp, "addresses");
        addrs.sort();
        assert_eq!(addrs, ["fa:16:3e:00:00:11 10.0.0.11", "unknown"]);
        p.device_owner = "network:distributed".into();
        p.fixed_ips =
            vec![FixedIp { subnet_id: subnets[0].id.clone(), ip_address: "10.0.0.2".into() }];
        let lsp = logical_switch_port(&p, &net, 4, &inputs);
        assert_eq!(lsp["type"].as_str(), Some("localport"));
        assert!(lsp["dhcpv4_options"].elements().is_empty(), "network:* ports get no DHCP");
        assert_eq!(lsp["external_ids"].map_get(MTU).and_then(Atom::as_str), Some("1442"));
    }

    #[test]
    fn extra_dhcp_options_make_a_per_port_row() {
        let cfg = TranslateConfig { dhcp_lease_time: 43200 };
        let subnet_row =
            dhcp_options(&subnet(), &network(), 2, None, None, &cfg, || "fa:16:3e:aa:bb:cc".into());
        let mut p = port();
        assert!(port_dhcp_options(&subnet_row, &p, 4).is_none());
        p.extra_dhcp_opts = serde_json::from_value(json!([
            {"opt_name": "mtu", "opt_value": "1400", "ip_version": 4},
            {"opt_name": "67", "opt_value": "pxelinux.0", "ip_version": 4},
            {"opt_name": "no-such-option", "opt_value": "x", "ip_version": 4}]))
        .unwrap();
        let row = port_dhcp_options(&subnet_row, &p, 4).unwrap();
        let opt = |k: &str| row["options"].map_get(k).and_then(Atom::as_str).map(String::from);
        assert_eq!(opt("mtu").as_deref(), Some("1400"));
        assert_eq!(opt("bootfile_name").as_deref(), Some("\"pxelinux.0\""));
        assert_eq!(opt("router").as_deref(), Some("10.0.0.1"), "subnet options are kept");
        assert_eq!(
            row["external_ids"].map_get(PORT_ID).and_then(Atom::as_str),
            Some(p.id.as_str())
        );
        assert!(!dhcp_disabled(&p, 4));
        p.extra_dhcp_opts = serde_json::from_value(
            json!([{"opt_name": "dhcp_disabled", "opt_value": "true", "ip_version": 4}]),
        )
        .unwrap();
        assert!(dhcp_disabled(&p, 4));
    }
}
