//! Turning stored resources into what a given caller sees: computed attributes added,
//! `tenant_id` next to `project_id`, admin-only attributes stripped.

use serde_json::{json, Map, Value};

use nt_types::attr::strip_unreadable;
use nt_types::network::{self, Network};
use nt_types::port::{self, Port};
use nt_types::subnet::{self, Subnet};

use crate::{to_map, OpContext};

fn finish(
    attrs: &[nt_types::attr::Attr],
    mut view: Map<String, Value>,
    revision: i64,
    ctx: &OpContext,
) -> Map<String, Value> {
    view.insert("revision_number".into(), json!(revision));
    if let Some(p) = view.get("project_id").cloned() {
        view.insert("tenant_id".into(), p);
    }
    strip_unreadable(attrs, &mut view, ctx.is_privileged());
    view
}

/// A network as `ctx` sees it.
pub fn network(
    net: &Network,
    revision: i64,
    subnets: Vec<String>,
    ctx: &OpContext,
) -> Map<String, Value> {
    let mut view = to_map(net);
    view.insert("subnets".into(), json!(subnets));
    view.insert("availability_zones".into(), json!([]));
    view.insert("ipv4_address_scope".into(), Value::Null);
    view.insert("ipv6_address_scope".into(), Value::Null);
    view.insert("l2_adjacency".into(), json!(true));
    finish(network::ATTRS, view, revision, ctx)
}

/// A subnet as `ctx` sees it.
pub fn subnet(
    sub: &Subnet,
    revision: i64,
    net: Option<&Network>,
    ctx: &OpContext,
) -> Map<String, Value> {
    let mut view = to_map(sub);
    view.insert("router:external".into(), json!(net.is_some_and(|n| n.router_external)));
    finish(subnet::ATTRS, view, revision, ctx)
}

/// A port as `ctx` sees it.
pub fn port(p: &Port, revision: i64, ctx: &OpContext) -> Map<String, Value> {
    let mut view = to_map(p);
    let assignment: Vec<Value> = p
        .fixed_ips
        .iter()
        .map(|ip| {
            let host = if p.dns_name.is_empty() {
                format!("host-{}", ip.ip_address.replace(['.', ':'], "-"))
            } else {
                p.dns_name.clone()
            };
            json!({"hostname": host, "ip_address": ip.ip_address, "fqdn": format!("{host}.openstacklocal.")})
        })
        .collect();
    view.insert("dns_assignment".into(), Value::Array(assignment));
    view.insert("ip_allocation".into(), json!("immediate"));
    finish(port::ATTRS, view, revision, ctx)
}
