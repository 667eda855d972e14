//! Routers and floating IPs in NB (`ovn-mapping.md` §10, §11), a child of the writer so that a
//! router or floating IP is planned into the same revision-guarded transactions as switches and
//! ports.
//!
//! A router is one `Logical_Router` (`neutron-<id>`, row uuid = router id) whose children are
//! derived, as a whole, from the router and the ports it owns in our database: one
//! `Logical_Router_Port` (`lrp-<port id>`) per interface and for the gateway, the default route
//! and the extra routes (`Logical_Router_Static_Route` rows marked `neutron:is_static_route`),
//! and one `snat` NAT row per attached IPv4 subnet while SNAT is on. The gateway port is
//! scheduled on the SB chassis marked `enable-chassis-as-gw` through the `HA_Chassis_Group`
//! `neutron-<id>` (highest priority = active gateway; the current primary keeps the top when the
//! set changes). Each reconcile compares the desired children with the replica and writes only
//! the difference, under a `wait` on the router's revision. A floating IP is one
//! `dnat_and_snat` NAT row (row uuid = floating IP id) in its router's `nat`, written centralized
//! (`logical_port` set, no `external_mac`).
//!
//! The peer `Logical_Switch_Port`s of router ports (type `router`, `addresses ["router"]`,
//! `options:router-port`) are written by the port path (`translate::logical_switch_port`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use nt_core::routers::{L3Driver, L3Event, L3Resource, ROUTER_GATEWAY, ROUTER_INTERFACE};
use nt_core::TxError;
use nt_ovsdb::{row, Atom, Condition, Monitor, Mutation, Operation, Row, Value, WaitUntil};
use nt_store::floatingips::floatingip_get;
use nt_store::networks::network_get;
use nt_store::ovn::{ovn_revision_create, ovn_revision_mark_deleted};
use nt_store::ports::port_get;
use nt_store::routers::{ports_of_device, router_get};
use nt_store::subnets::subnet_get;
use nt_store::{Db, Scope, Tx};
use nt_types::floatingip::FloatingIp;
use nt_types::network::Network;
use nt_types::port::Port;
use nt_types::router::Router;
use nt_types::subnet::Subnet;
use uuid::Uuid;

use super::{parse, uuid_of, Counts, Failure, Kind, Plan, Step, Writer};
use crate::names::{ls_name, AZ_HINTS, NETWORK_NAME, REVISION};
use crate::nb::{differing, ext, revision_of};
use crate::OvnDriver;

/// Ownership marker of routers and router ports (`neutron-<router id>` on ports).
pub const ROUTER_NAME: &str = "neutron:router_name";
/// The router's gateway port.
pub const GW_PORT_ID: &str = "neutron:gw_port_id";
/// Marks gateway ports and default routes.
pub const IS_EXT_GW: &str = "neutron:is_ext_gw";
/// Marks our static routes.
pub const IS_STATIC_ROUTE: &str = "neutron:is_static_route";
/// Subnets of a router port.
pub const SUBNET_IDS: &str = "neutron:subnet_ids";
/// External subnet of a default route.
pub const ROUTE_SUBNET_ID: &str = "neutron:subnet_id";
/// Router of an HA_Chassis_Group.
pub const ROUTER_ID: &str = "neutron:router_id";
/// Ownership marker of floating IP NAT rows.
pub const FIP_ID: &str = "neutron:fip_id";
/// Internal port of a floating IP.
pub const FIP_PORT_ID: &str = "neutron:fip_port_id";
/// MAC of the floating IP's own port.
pub const FIP_EXTERNAL_MAC: &str = "neutron:fip_external_mac";
/// External network of a floating IP.
pub const FIP_NETWORK_ID: &str = "neutron:fip_network_id";

/// Most chassis in one router's HA group.
const MAX_GATEWAY_CHASSIS: usize = 5;

/// `Logical_Router` (and `HA_Chassis_Group`) name of a router.
pub fn lr_name(router_id: &str) -> String {
    format!("neutron-{router_id}")
}

/// `Logical_Router_Port` name of a router port.
pub fn lrp_name(port_id: &str) -> String {
    format!("lrp-{port_id}")
}

fn s(v: impl Into<String>) -> Value {
    Value::Atom(Atom::String(v.into()))
}

fn smap<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Value {
    Value::map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)))
}

/// The SB chassis replica, once SB is connected.
#[derive(Debug, Clone, Default)]
pub struct SbChassis(pub Arc<OnceLock<Monitor>>);

impl SbChassis {
    /// Gateway chassis names (`ovn-cms-options` holds `enable-chassis-as-gw`) that can reach
    /// `physnet` (when given) through their bridge mappings, sorted.
    pub fn gateways(&self, physnet: Option<&str>) -> Vec<String> {
        let Some(m) = self.0.get() else { return vec![] };
        let mut out: Vec<String> = m.with_cache(|c| {
            c.table("Chassis")
                .filter_map(|(_, r)| {
                    let other = |key: &str| {
                        r.get("other_config")
                            .and_then(|o| o.map_get(key))
                            .or_else(|| r.get("external_ids").and_then(|o| o.map_get(key)))
                            .and_then(Atom::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    let gw = other("ovn-cms-options")
                        .split(',')
                        .any(|o| o.trim() == "enable-chassis-as-gw");
                    let mapped = physnet.is_none_or(|p| {
                        other("ovn-bridge-mappings")
                            .split(',')
                            .any(|m| m.split(':').next().map(str::trim) == Some(p))
                    });
                    (gw && mapped).then(|| r.get("name").and_then(Value::as_str).map(String::from))
                })
                .flatten()
                .collect()
        });
        out.sort();
        out
    }
}

/// What a router reconcile needs from our database.
struct RouterInputs {
    router: Router,
    revision: i64,
    /// `(port, revision, network, subnets of its addresses)`.
    ports: Vec<(Port, i64, Network, Vec<Subnet>)>,
}

async fn router_inputs(db: &Db, id: &str) -> Result<Option<RouterInputs>, Failure> {
    let Some(row) = router_get(db.reader(), id).await? else { return Ok(None) };
    let router: Router = parse(&row)?;
    let mut ports = Vec::new();
    for prow in ports_of_device(db.reader(), id, &[ROUTER_INTERFACE, ROUTER_GATEWAY]).await? {
        let port: Port = parse(&prow)?;
        let Some(nrow) = network_get(db.reader(), &port.network_id).await? else { continue };
        let network: Network = parse(&nrow)?;
        let mut subnets: Vec<Subnet> = Vec::new();
        for f in &port.fixed_ips {
            if subnets.iter().any(|s| s.id == f.subnet_id) {
                continue;
            }
            if let Some(srow) = subnet_get(db.reader(), &f.subnet_id).await? {
                subnets.push(parse(&srow)?);
            }
        }
        ports.push((port, prow.revision_number, network, subnets));
    }
    Ok(Some(RouterInputs { router, revision: row.revision_number, ports }))
}

/// The Logical_Router columns we own.
fn router_row(r: &Router, revision: i64) -> Row {
    row([
        ("name", s(lr_name(&r.id))),
        ("enabled", Value::set([r.admin_state_up])),
        (
            "external_ids",
            smap([
                (ROUTER_NAME, r.name.clone()),
                (REVISION, revision.to_string()),
                (AZ_HINTS, r.availability_zone_hints.join(",")),
                (GW_PORT_ID, r.gw_port_id.clone().unwrap_or_default()),
            ]),
        ),
        (
            "options",
            smap([
                ("always_learn_from_arp_request", "false".to_string()),
                ("dynamic_neigh_routers", "true".to_string()),
                ("mac_binding_age_threshold", "300".to_string()),
            ]),
        ),
    ])
}

/// A router port's Logical_Router_Port columns; `hcg` is the gateway's HA group.
fn lrp_row(
    router_id: &str,
    port: &Port,
    revision: i64,
    subnets: &[Subnet],
    gateway: bool,
    hcg: Option<Atom>,
) -> Row {
    let networks: Vec<String> = port
        .fixed_ips
        .iter()
        .map(|f| {
            let len = subnets
                .iter()
                .find(|s| s.id == f.subnet_id)
                .map(|s| s.cidr().prefix_len())
                .unwrap_or(if f.ip_address.contains(':') { 128 } else { 32 });
            format!("{}/{len}", f.ip_address)
        })
        .collect();
    let subnet_ids: Vec<&str> = port.fixed_ips.iter().map(|f| f.subnet_id.as_str()).collect();
    row([
        ("name", s(lrp_name(&port.id))),
        ("mac", s(&port.mac_address)),
        ("networks", Value::set(networks)),
        (
            "external_ids",
            smap([
                (REVISION, revision.to_string()),
                (SUBNET_IDS, subnet_ids.join(" ")),
                (NETWORK_NAME, ls_name(&port.network_id)),
                (IS_EXT_GW, if gateway { "True" } else { "False" }.to_string()),
                (ROUTER_NAME, lr_name(router_id)),
            ]),
        ),
        ("ha_chassis_group", Value::Set(hcg.into_iter().collect())),
    ])
}

/// `(ip_prefix, nexthop, external_ids)` of the router's static routes: a default route per
/// external subnet with a gateway, then the extra routes.
fn desired_routes(inputs: &RouterInputs) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (port, _, _, subnets) in inputs.ports.iter().filter(|p| p.0.device_owner == ROUTER_GATEWAY)
    {
        for subnet in subnets {
            let Some(gw) = &subnet.gateway_ip else { continue };
            let prefix = if subnet.ip_version == 4 { "0.0.0.0/0" } else { "::/0" };
            let _ = port;
            out.push((
                prefix.to_string(),
                gw.clone(),
                smap([
                    (IS_EXT_GW, "true".to_string()),
                    (ROUTE_SUBNET_ID, subnet.id.clone()),
                    (IS_STATIC_ROUTE, "true".to_string()),
                ]),
            ));
        }
    }
    for r in &inputs.router.routes {
        out.push((
            r.destination.clone(),
            r.nexthop.clone(),
            smap([(IS_STATIC_ROUTE, "true".to_string())]),
        ));
    }
    out
}

/// `(logical_ip, external_ip)` of the router's SNAT rows.
fn desired_snat(inputs: &RouterInputs) -> Vec<(String, String)> {
    let snat = inputs.router.external_gateway_info.as_ref().is_some_and(|g| g.enable_snat);
    if !snat {
        return vec![];
    }
    let gw_ips: Vec<&str> = inputs
        .ports
        .iter()
        .filter(|p| p.0.device_owner == ROUTER_GATEWAY)
        .flat_map(|p| p.0.fixed_ips.iter().map(|f| f.ip_address.as_str()))
        .filter(|ip| !ip.contains(':'))
        .collect();
    let mut out = Vec::new();
    for (_, _, _, subnets) in inputs.ports.iter().filter(|p| p.0.device_owner == ROUTER_INTERFACE) {
        for subnet in subnets.iter().filter(|s| s.ip_version == 4) {
            for ip in &gw_ips {
                let pair = (subnet.cidr.clone(), ip.to_string());
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
    }
    out
}

fn children(lr: &Row, column: &str) -> Vec<Uuid> {
    lr.get(column)
        .map(|v| v.elements().iter().filter_map(|a| a.as_uuid()).collect())
        .unwrap_or_default()
}

impl Writer {
    fn lr(&self, uuid: &Uuid) -> Option<Row> {
        self.nb.monitor.with_cache(|c| c.get("Logical_Router", uuid).cloned())
    }

    fn rows_of(&self, table: &str, uuids: &[Uuid]) -> Vec<(Uuid, Row)> {
        self.nb.monitor.with_cache(|c| {
            uuids.iter().filter_map(|u| c.get(table, u).map(|r| (*u, r.clone()))).collect()
        })
    }

    fn hcg_by_name(&self, name: &str) -> Option<(Uuid, Row)> {
        let wanted = Value::Atom(Atom::String(name.to_string()));
        self.nb.monitor.with_cache(|c| {
            c.find("HA_Chassis_Group", "name", &wanted).map(|(u, r)| (*u, r.clone()))
        })
    }

    /// `(chassis, priority)` of an HA group's members.
    fn hcg_members(&self, hcg: &Row) -> Vec<(String, i64)> {
        let uuids = children(hcg, "ha_chassis");
        let mut out: Vec<(String, i64)> = self
            .rows_of("HA_Chassis", &uuids)
            .into_iter()
            .map(|(_, r)| {
                let name = r.get("chassis_name").and_then(Value::as_str).unwrap_or("").to_string();
                (name, r.get("priority").and_then(Value::as_i64).unwrap_or(0))
            })
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// How many HA groups other than `except` each chassis is the primary of.
    fn primaries(&self, except: &str) -> BTreeMap<String, usize> {
        let groups: Vec<Row> = self.nb.monitor.with_cache(|c| {
            c.table("HA_Chassis_Group")
                .filter(|(_, r)| r.get("name").and_then(Value::as_str) != Some(except))
                .map(|(_, r)| r.clone())
                .collect()
        });
        let mut out = BTreeMap::new();
        for g in &groups {
            if let Some((top, _)) = self.hcg_members(g).first() {
                *out.entry(top.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    /// The gateway chassis of a router in priority order: the current primary stays on top
    /// while it is a candidate; the others are ordered by how few groups they lead.
    fn schedule(
        &self,
        name: &str,
        current: &[(String, i64)],
        physnet: Option<&str>,
    ) -> Vec<String> {
        let candidates = self.sb.gateways(physnet);
        let load = self.primaries(name);
        let mut order: Vec<String> = candidates;
        order.sort_by_key(|c| (load.get(c).copied().unwrap_or(0), c.clone()));
        if let Some((top, _)) = current.first() {
            if let Some(pos) = order.iter().position(|c| c == top) {
                let t = order.remove(pos);
                order.insert(0, t);
            }
        }
        order.truncate(MAX_GATEWAY_CHASSIS);
        order
    }

    /// Plans the NB rows of one router.
    pub(super) async fn router(&self, id: &str, plan: &mut Plan) -> Step {
        let uuid = uuid_of(id)?;
        let existing = self.lr(&uuid);
        let hcg_name = lr_name(id);
        let hcg = self.hcg_by_name(&hcg_name);
        let mut counts = Counts::default();
        let Some(inputs) = router_inputs(&self.db, id).await? else {
            // Gone from our database: the HA group (after clearing the references to it) and the
            // router with all its children.
            if let Some(lr) = &existing {
                if let Some((hu, _)) = &hcg {
                    for (pu, prow) in self.rows_of("Logical_Router_Port", &children(lr, "ports")) {
                        if prow.get("ha_chassis_group").is_some_and(|v| !v.elements().is_empty()) {
                            plan.ops.push(Operation::update(
                                "Logical_Router_Port",
                                vec![Condition::uuid(pu)],
                                row([("ha_chassis_group", Value::empty_set())]),
                            ));
                        }
                    }
                    plan.ops
                        .push(Operation::delete("HA_Chassis_Group", vec![Condition::uuid(*hu)]));
                    counts.deleted += 1;
                }
                plan.ops.push(Operation::delete("Logical_Router", vec![Condition::uuid(uuid)]));
                counts.deleted += 1;
            } else if let Some((hu, _)) = &hcg {
                plan.ops.push(Operation::delete("HA_Chassis_Group", vec![Condition::uuid(*hu)]));
                counts.deleted += 1;
            }
            plan.records.push((Kind::Router, id.to_string(), None));
            return Ok(counts);
        };
        let revision = inputs.revision;
        let lr_row = self.nb.normalize("Logical_Router", router_row(&inputs.router, revision))?;
        let mut ops: Vec<Operation> = Vec::new();
        let lr_existing = match &existing {
            None => {
                ops.push(Operation::insert("Logical_Router", lr_row).with_uuid(uuid));
                counts.created += 1;
                Row::new()
            }
            Some(ex) => {
                if revision_of(ex) > revision {
                    return Ok(counts);
                }
                let diff = differing(&lr_row, ex);
                if !diff.is_empty() {
                    ops.push(Operation::update(
                        "Logical_Router",
                        vec![Condition::uuid(uuid)],
                        diff,
                    ));
                    counts.updated += 1;
                }
                ex.clone()
            }
        };
        let lr_cond = || vec![Condition::uuid(uuid)];

        // The gateway's HA group.
        let gateway = inputs.ports.iter().find(|p| p.0.device_owner == ROUTER_GATEWAY);
        let mut hcg_ref: Option<Atom> = None;
        if let Some((_, _, network, _)) = gateway {
            let current = hcg.as_ref().map(|(_, r)| self.hcg_members(r)).unwrap_or_default();
            let order = self.schedule(&hcg_name, &current, network.physical_network.as_deref());
            let n = order.len() as i64;
            let wanted: Vec<(String, i64)> =
                order.iter().enumerate().map(|(i, c)| (c.clone(), n - i as i64)).collect();
            let mut sorted_current = current;
            sorted_current.sort();
            let mut sorted_wanted = wanted.clone();
            sorted_wanted.sort();
            let mut members: Vec<Atom> = Vec::new();
            let rebuild = hcg.is_none() || sorted_current != sorted_wanted;
            if rebuild {
                for (i, (chassis, priority)) in wanted.iter().enumerate() {
                    let name = plan.name(&format!("hac{i}_"));
                    ops.push(
                        Operation::insert(
                            "HA_Chassis",
                            row([
                                ("chassis_name", s(chassis)),
                                ("priority", Value::set([*priority])),
                            ]),
                        )
                        .with_uuid_name(&name),
                    );
                    members.push(Atom::named_uuid(name));
                }
            }
            let members = Value::Set(members.into_iter().collect());
            let hcg_ext = smap([
                (ROUTER_ID, id.to_string()),
                (AZ_HINTS, inputs.router.availability_zone_hints.join(",")),
            ]);
            match &hcg {
                None => {
                    let name = plan.name("hcg");
                    ops.push(
                        Operation::insert(
                            "HA_Chassis_Group",
                            row([
                                ("name", s(&hcg_name)),
                                ("ha_chassis", members),
                                ("external_ids", hcg_ext),
                            ]),
                        )
                        .with_uuid_name(&name),
                    );
                    counts.created += 1;
                    hcg_ref = Some(Atom::named_uuid(name));
                }
                Some((hu, _)) => {
                    if rebuild {
                        ops.push(Operation::update(
                            "HA_Chassis_Group",
                            vec![Condition::uuid(*hu)],
                            row([("ha_chassis", members)]),
                        ));
                        counts.updated += 1;
                    }
                    hcg_ref = Some(Atom::Uuid(*hu));
                }
            }
        }

        // Router ports.
        let existing_lrps: BTreeMap<String, (Uuid, Row)> = self
            .rows_of("Logical_Router_Port", &children(&lr_existing, "ports"))
            .into_iter()
            .filter_map(|(u, r)| Some((r.get("name")?.as_str()?.to_string(), (u, r))))
            .collect();
        let mut wanted_names = BTreeSet::new();
        for (i, (port, prev, _, subnets)) in inputs.ports.iter().enumerate() {
            if port.fixed_ips.is_empty() {
                continue;
            }
            let is_gw = port.device_owner == ROUTER_GATEWAY;
            let desired = lrp_row(
                id,
                port,
                *prev,
                subnets,
                is_gw,
                if is_gw { hcg_ref.clone() } else { None },
            );
            let desired = self.nb.normalize("Logical_Router_Port", desired)?;
            let name = lrp_name(&port.id);
            wanted_names.insert(name.clone());
            match existing_lrps.get(&name) {
                None => {
                    let named = plan.name(&format!("lrp{i}_"));
                    ops.push(
                        Operation::insert("Logical_Router_Port", desired).with_uuid_name(&named),
                    );
                    ops.push(Operation::mutate(
                        "Logical_Router",
                        lr_cond(),
                        vec![Mutation::insert("ports", Value::named_uuid(named))],
                    ));
                    counts.created += 1;
                }
                Some((u, ex)) => {
                    let diff = differing(&desired, ex);
                    if !diff.is_empty() {
                        ops.push(Operation::update(
                            "Logical_Router_Port",
                            vec![Condition::uuid(*u)],
                            diff,
                        ));
                        counts.updated += 1;
                    }
                }
            }
        }
        for (name, (u, _)) in &existing_lrps {
            if !wanted_names.contains(name) {
                ops.push(Operation::mutate(
                    "Logical_Router",
                    lr_cond(),
                    vec![Mutation::delete("ports", Value::uuid(*u))],
                ));
                counts.deleted += 1;
            }
        }

        // Static routes (ours only).
        let routes = desired_routes(&inputs);
        let existing_routes: Vec<(Uuid, Row)> = self
            .rows_of("Logical_Router_Static_Route", &children(&lr_existing, "static_routes"))
            .into_iter()
            .filter(|(_, r)| ext(r, IS_STATIC_ROUTE).is_some())
            .collect();
        let route_key = |r: &Row| {
            (
                r.get("ip_prefix").and_then(Value::as_str).unwrap_or("").to_string(),
                r.get("nexthop").and_then(Value::as_str).unwrap_or("").to_string(),
                ext(r, IS_EXT_GW).is_some(),
            )
        };
        let mut kept = Vec::new();
        for (i, (prefix, hop, ext_ids)) in routes.iter().enumerate() {
            let is_gw = ext_ids.map_get(IS_EXT_GW).is_some();
            let found = existing_routes.iter().find(|(u, r)| {
                !kept.contains(u) && route_key(r) == (prefix.clone(), hop.clone(), is_gw)
            });
            if let Some((u, _)) = found {
                kept.push(*u);
                continue;
            }
            let named = plan.name(&format!("route{i}_"));
            let r = row([
                ("ip_prefix", s(prefix)),
                ("nexthop", s(hop)),
                ("external_ids", ext_ids.clone()),
            ]);
            ops.push(Operation::insert("Logical_Router_Static_Route", r).with_uuid_name(&named));
            ops.push(Operation::mutate(
                "Logical_Router",
                lr_cond(),
                vec![Mutation::insert("static_routes", Value::named_uuid(named))],
            ));
            counts.created += 1;
        }
        for (u, _) in existing_routes.iter().filter(|(u, _)| !kept.contains(u)) {
            ops.push(Operation::mutate(
                "Logical_Router",
                lr_cond(),
                vec![Mutation::delete("static_routes", Value::uuid(*u))],
            ));
            counts.deleted += 1;
        }

        // SNAT rows (floating IP rows are their own resources).
        let snat = desired_snat(&inputs);
        let existing_snat: Vec<(Uuid, Row)> = self
            .rows_of("NAT", &children(&lr_existing, "nat"))
            .into_iter()
            .filter(|(_, r)| {
                r.get("type").and_then(Value::as_str) == Some("snat") && ext(r, FIP_ID).is_none()
            })
            .collect();
        let nat_key = |r: &Row| {
            (
                r.get("logical_ip").and_then(Value::as_str).unwrap_or("").to_string(),
                r.get("external_ip").and_then(Value::as_str).unwrap_or("").to_string(),
            )
        };
        let mut kept = Vec::new();
        for (i, pair) in snat.iter().enumerate() {
            if let Some((u, _)) =
                existing_snat.iter().find(|(u, r)| !kept.contains(u) && nat_key(r) == *pair)
            {
                kept.push(*u);
                continue;
            }
            let named = plan.name(&format!("snat{i}_"));
            let r =
                row([("type", s("snat")), ("logical_ip", s(&pair.0)), ("external_ip", s(&pair.1))]);
            ops.push(Operation::insert("NAT", r).with_uuid_name(&named));
            ops.push(Operation::mutate(
                "Logical_Router",
                lr_cond(),
                vec![Mutation::insert("nat", Value::named_uuid(named))],
            ));
            counts.created += 1;
        }
        for (u, _) in existing_snat.iter().filter(|(u, _)| !kept.contains(u)) {
            ops.push(Operation::mutate(
                "Logical_Router",
                lr_cond(),
                vec![Mutation::delete("nat", Value::uuid(*u))],
            ));
            counts.deleted += 1;
        }

        if let (Some(ex), false) = (&existing, ops.is_empty()) {
            // Every change of an existing router is guarded by the revision the replica showed.
            let name = ex.get("name").cloned().unwrap_or_else(|| s(lr_name(id)));
            plan.ops.push(super::guard("Logical_Router", "name", &name, revision_of(ex)));
        }
        plan.ops.extend(ops);
        plan.records.push((Kind::Router, id.to_string(), Some(revision)));
        Ok(counts)
    }

    /// Plans the NAT row of one floating IP.
    pub(super) async fn floatingip(&self, id: &str, plan: &mut Plan) -> Step {
        let uuid = uuid_of(id)?;
        let mut counts = Counts::default();
        let existing = self.nb.monitor.with_cache(|c| c.get("NAT", &uuid).cloned());
        let holder: Option<Uuid> = self.nb.monitor.with_cache(|c| {
            c.table("Logical_Router")
                .find(|(_, r)| children(r, "nat").contains(&uuid))
                .map(|(u, _)| *u)
        });
        let stored = floatingip_get(self.db.reader(), id).await?;
        let fip: Option<FloatingIp> = stored.as_ref().map(parse).transpose()?;
        let revision = stored.as_ref().map(|r| r.revision_number);
        let associated = fip.as_ref().and_then(|f| {
            Some((f, f.port_id.clone()?, f.fixed_ip_address.clone()?, f.router_id.clone()?))
        });
        let Some((f, port_id, fixed, router_id)) = associated else {
            if let (Some(_), Some(lr)) = (&existing, holder) {
                plan.ops.push(Operation::mutate(
                    "Logical_Router",
                    vec![Condition::uuid(lr)],
                    vec![Mutation::delete("nat", Value::uuid(uuid))],
                ));
                counts.deleted += 1;
            }
            plan.records.push((Kind::FloatingIp, id.to_string(), revision));
            return Ok(counts);
        };
        let revision = revision.unwrap_or(0);
        let lr = uuid_of(&router_id)?;
        if self.lr(&lr).is_none() {
            // The router comes first, in the same transaction.
            counts += Box::pin(self.router(&router_id, plan)).await?;
        }
        let fip_mac = match port_get(self.db.reader(), &f.floating_port_id).await? {
            Some(r) => parse::<Port>(&r)?.mac_address,
            None => String::new(),
        };
        let desired = row([
            ("type", s("dnat_and_snat")),
            ("external_ip", s(&f.floating_ip_address)),
            ("logical_ip", s(&fixed)),
            ("logical_port", Value::set([port_id.clone()])),
            ("options", smap([("stateless", "false".to_string())])),
            (
                "external_ids",
                smap([
                    (FIP_ID, f.id.clone()),
                    (REVISION, revision.to_string()),
                    (FIP_PORT_ID, port_id.clone()),
                    (ROUTER_NAME, lr_name(&router_id)),
                    (FIP_EXTERNAL_MAC, fip_mac),
                    (FIP_NETWORK_ID, f.floating_network_id.clone()),
                ]),
            ),
        ]);
        let desired = self.nb.normalize("NAT", desired)?;
        match (&existing, holder) {
            (Some(ex), Some(h)) if h == lr => {
                if revision_of(ex) > revision {
                    return Ok(counts);
                }
                let diff = differing(&desired, ex);
                if !diff.is_empty() {
                    let mut conditions = vec![Condition::uuid(uuid)];
                    if revision_of(ex) >= 0 {
                        conditions.push(Condition::includes(
                            "external_ids",
                            Value::map([(REVISION, revision_of(ex).to_string())]),
                        ));
                    }
                    plan.ops.push(Operation::wait(
                        "NAT",
                        conditions,
                        vec!["type".into()],
                        WaitUntil::Eq,
                        vec![row([("type", ex["type"].clone())])],
                    ));
                    plan.ops.push(Operation::update("NAT", vec![Condition::uuid(uuid)], diff));
                    counts.updated += 1;
                }
            }
            (Some(_), holder) => {
                // Moving to another router: a uuid cannot be deleted and inserted in one
                // transaction, so the insert follows in the next.
                if let Some(h) = holder {
                    plan.ops.push(Operation::mutate(
                        "Logical_Router",
                        vec![Condition::uuid(h)],
                        vec![Mutation::delete("nat", Value::uuid(uuid))],
                    ));
                }
                counts.deleted += 1;
                plan.after.push((Kind::FloatingIp, id.to_string()));
                return Ok(counts);
            }
            (None, _) => {
                plan.ops.push(Operation::insert("NAT", desired).with_uuid(uuid));
                plan.ops.push(Operation::mutate(
                    "Logical_Router",
                    vec![Condition::uuid(lr)],
                    vec![Mutation::insert("nat", Value::uuid(uuid))],
                ));
                counts.created += 1;
            }
        }
        plan.records.push((Kind::FloatingIp, id.to_string(), Some(revision)));
        Ok(counts)
    }

    /// Routers and floating IPs compared with NB (and, unless `dry`, fixed), including rows of
    /// ours whose resource is gone.
    pub(crate) async fn sync_l3(&self, dry: bool) -> Result<Counts, String> {
        let err = |e: nt_store::StoreError| e.to_string();
        let mut counts = Counts::default();
        let routers =
            nt_store::routers::router_list(self.db.reader(), Scope::All).await.map_err(err)?;
        for r in &routers {
            counts += self.reconcile(Kind::Router, &r.id, dry).await?;
        }
        let fips = nt_store::floatingips::floatingip_list(self.db.reader(), Scope::All)
            .await
            .map_err(err)?;
        for f in &fips {
            counts += self.reconcile(Kind::FloatingIp, &f.id, dry).await?;
        }
        let router_ids: Vec<&str> = routers.iter().map(|r| r.id.as_str()).collect();
        let fip_ids: Vec<&str> = fips.iter().map(|r| r.id.as_str()).collect();
        let (orphan_lr, orphan_nat) = self.nb.monitor.with_cache(|c| {
            let lr: Vec<String> = c
                .table("Logical_Router")
                .filter(|(_, r)| ext(r, ROUTER_NAME).is_some())
                .map(|(u, _)| u.to_string())
                .filter(|u| !router_ids.contains(&u.as_str()))
                .collect();
            let nat: Vec<String> = c
                .table("NAT")
                .filter_map(|(_, r)| ext(r, FIP_ID).map(String::from))
                .filter(|f| !fip_ids.contains(&f.as_str()))
                .collect();
            (lr, nat)
        });
        for id in orphan_nat {
            counts += self.reconcile(Kind::FloatingIp, &id, dry).await?;
        }
        for id in orphan_lr {
            counts += self.reconcile(Kind::Router, &id, dry).await?;
        }
        Ok(counts)
    }
}

#[async_trait]
impl L3Driver for OvnDriver {
    async fn l3_precommit(
        &self,
        tx: &mut Tx,
        resource: L3Resource,
        id: &str,
        event: L3Event,
    ) -> Result<(), TxError> {
        let kind = kind_of(resource);
        match event {
            L3Event::Created => ovn_revision_create(tx, kind.resource_type(), id).await?,
            L3Event::Deleted => ovn_revision_mark_deleted(tx, kind.resource_type(), id).await?,
            L3Event::Updated => {}
        }
        Ok(())
    }

    async fn l3_postcommit(&self, resource: L3Resource, id: &str, _event: L3Event) {
        self.write(kind_of(resource), id).await;
    }
}

fn kind_of(resource: L3Resource) -> Kind {
    match resource {
        L3Resource::Router => Kind::Router,
        L3Resource::FloatingIp => Kind::FloatingIp,
    }
}

impl OvnDriver {
    /// Reschedules routers' gateways when the set of gateway chassis changes.
    pub(crate) async fn gateway_chassis_loop(self) {
        let Some((_, slot)) = &self.shared.sb else { return };
        let monitor = loop {
            if let Some(m) = slot.get() {
                break m.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let chassis = SbChassis(slot.clone());
        let mut last = chassis.gateways(None);
        loop {
            let (_, mut rx) = monitor.snapshot_and_subscribe();
            loop {
                match rx.recv().await {
                    Ok(change) if change.table() == "Chassis" => {}
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
                let now = chassis.gateways(None);
                if now == last {
                    continue;
                }
                last = now;
                let Ok(routers) =
                    nt_store::routers::router_list(self.shared.db.reader(), Scope::All).await
                else {
                    continue;
                };
                for r in routers {
                    if r.body.get("external_gateway_info").is_some_and(|g| !g.is_null()) {
                        let driver = self.clone();
                        tokio::spawn(async move { driver.write(Kind::Router, &r.id).await });
                    }
                }
            }
        }
    }
}
