//! Routers (the L3 service plugin, API notes §2.6): CRUD, the external gateway, interfaces by
//! subnet or port, and extra routes; plus what routers and floating IPs share: the L3 driver
//! hooks and the `network:*` service ports they own.
//!
//! Every operation is one database transaction. The ports a router owns (interfaces and the
//! gateway) are written inside that transaction with the ML2 mechanism drivers' port hooks, so
//! an error leaves nothing behind and the OVN driver still sees ordinary port changes. Every
//! change of interfaces, gateway or routes bumps the router's revision with a guarded update:
//! concurrent changes of one router are serialised by the revision, the loser runs again.

use std::collections::HashSet;
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use rand::SeedableRng;
use serde_json::{json, Map, Value};

use nt_store::floatingips::floatingips_of_router;
use nt_store::networks::network_get;
use nt_store::ports::{
    ip_allocate, ip_release, ips_of_subnet, ips_taken_among, port_delete, port_get, port_insert,
    port_update, PortKeys,
};
use nt_store::routers::{
    ports_of_device, router_delete, router_get, router_insert, router_list, router_update,
};
use nt_store::subnets::{subnet_get, subnets_of_network};
use nt_store::{ResourceRow, Scope, StoreError, Tx};
use nt_types::attr::{check_body, strip_unreadable, Op};
use nt_types::net::{ip_to_u128, Cidr, MacAddr};
use nt_types::network::Network;
use nt_types::port::{FixedIp, Port};
use nt_types::query::ListQuery;
use nt_types::router::{GatewayInfo, GatewayRequest, Route, Router, ATTRS, MAX_ROUTES};
use nt_types::subnet::Subnet;
use nt_types::{time, Error, ErrorKind};

use crate::ml2::PortContext;
use crate::{check_if_match, from_row, ipam, retrying, to_map, Core, OpContext, TxError};

/// Device owner of router interface ports.
pub const ROUTER_INTERFACE: &str = "network:router_interface";
/// Device owner of router gateway ports.
pub const ROUTER_GATEWAY: &str = "network:router_gateway";
/// Device owner of the ports holding floating IP addresses.
pub const FLOATINGIP_OWNER: &str = "network:floatingip";

/// Which L3 resource a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3Resource {
    /// A router (with its interfaces, gateway and routes).
    Router,
    /// A floating IP.
    FloatingIp,
}

/// What happened to an L3 resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3Event {
    /// Created.
    Created,
    /// Changed (including its interfaces, gateway, routes or association).
    Updated,
    /// Deleted.
    Deleted,
}

/// A backend that follows routers and floating IPs (the OVN driver). Routers are not ML2
/// resources, so they get their own hooks: precommit inside the transaction, postcommit after
/// it (failures are the driver's to log and repair).
#[async_trait]
pub trait L3Driver: Send + Sync + Debug {
    /// Inside the transaction of the change.
    async fn l3_precommit(
        &self,
        _tx: &mut Tx,
        _resource: L3Resource,
        _id: &str,
        _event: L3Event,
    ) -> Result<(), TxError> {
        Ok(())
    }
    /// After commit.
    async fn l3_postcommit(&self, _resource: L3Resource, _id: &str, _event: L3Event) {}
}

/// What to tell drivers once a transaction committed.
#[derive(Debug, Default)]
pub(crate) struct After {
    pub(crate) ports_created: Vec<PortContext>,
    pub(crate) ports_updated: Vec<PortContext>,
    pub(crate) ports_deleted: Vec<PortContext>,
    pub(crate) l3: Vec<(L3Resource, String, L3Event)>,
}

impl After {
    pub(crate) fn extend(&mut self, other: After) {
        self.ports_created.extend(other.ports_created);
        self.ports_updated.extend(other.ports_updated);
        self.ports_deleted.extend(other.ports_deleted);
        self.l3.extend(other.l3);
    }
}

fn bad_router(msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::BadRequest, "BadRequest", format!("Bad router request: {msg}."))
}

fn get_str(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(String::from)
}

fn get_bool(attrs: &Map<String, Value>, key: &str) -> Option<bool> {
    attrs.get(key).and_then(Value::as_bool)
}

fn parse_ip(s: &str) -> Result<IpAddr, Error> {
    s.parse().map_err(|_| Error::internal(format!("stored address {s} is not an IP")))
}

fn router_not_found(id: &str) -> Error {
    Error::not_found("Router", id)
}

/// True when `ctx` may read the router.
fn can_read(ctx: &OpContext, r: &Router) -> bool {
    ctx.is_privileged() || r.project_id == ctx.project_id
}

/// True when `ctx` may change the router.
fn can_write(ctx: &OpContext, r: &Router) -> bool {
    crate::policy::allowed(ctx, "update_router", &crate::policy::Target::project(&r.project_id))
}

/// A router as `ctx` sees it.
pub(crate) fn render(r: &Router, revision: i64, ctx: &OpContext) -> Map<String, Value> {
    let mut view = to_map(r);
    view.remove("gw_port_id");
    view.insert("availability_zones".into(), json!([]));
    view.insert("flavor_id".into(), Value::Null);
    view.insert("revision_number".into(), json!(revision));
    view.insert("tenant_id".into(), json!(r.project_id));
    strip_unreadable(ATTRS, &mut view, ctx.is_privileged());
    view
}

fn keys(p: &Port) -> PortKeys<'_> {
    PortKeys {
        network_id: &p.network_id,
        mac_address: &p.mac_address,
        device_owner: &p.device_owner,
        device_id: &p.device_id,
    }
}

/// Reads a subnet and its network inside `tx`.
pub(crate) async fn load_subnet(tx: &mut Tx, id: &str) -> Result<Option<Subnet>, TxError> {
    Ok(subnet_get(&mut **tx, id).await?.as_ref().map(from_row).transpose()?)
}

pub(crate) async fn load_network(tx: &mut Tx, id: &str) -> Result<Network, TxError> {
    let row = network_get(&mut **tx, id).await?.ok_or_else(|| Error::not_found("Network", id))?;
    Ok(from_row(&row)?)
}

pub(crate) async fn load_subnets(tx: &mut Tx, network_id: &str) -> Result<Vec<Subnet>, TxError> {
    let rows = subnets_of_network(&mut **tx, network_id).await?;
    let mut subnets: Vec<Subnet> = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    subnets.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(subnets)
}

/// A free address of `subnet`'s pools not in `exclude`.
async fn free_ip(
    tx: &mut Tx,
    subnet: &Subnet,
    exclude: &[String],
) -> Result<Option<IpAddr>, TxError> {
    let mut taken: HashSet<u128> = ips_of_subnet(&mut **tx, &subnet.id)
        .await?
        .iter()
        .chain(exclude)
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .map(ip_to_u128)
        .collect();
    if let Some(gw) = subnet.gateway_ip.as_deref().and_then(|g| g.parse::<IpAddr>().ok()) {
        taken.insert(ip_to_u128(gw));
    }
    let pools = ipam::pool_ranges(&subnet.allocation_pools);
    let mut rng = rand::rngs::StdRng::from_entropy();
    Ok(ipam::choose_free(subnet.ip_version, &pools, &taken, false, &mut rng))
}

fn generation_failure(network_id: &str) -> Error {
    Error::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

/// Addresses for a service port on an external network: the requested ones (each checked),
/// or one IPv4 address and one stateful IPv6 address when none is requested. `v4_only` is for
/// floating IPs.
pub(crate) async fn external_addresses(
    tx: &mut Tx,
    network: &Network,
    requested: Option<&[(Option<String>, Option<String>)]>,
    v4_only: bool,
    refuse_gateway: bool,
) -> Result<Vec<FixedIp>, TxError> {
    let subnets: Vec<Subnet> = load_subnets(tx, &network.id)
        .await?
        .into_iter()
        .filter(|s| !v4_only || s.ip_version == 4)
        .collect();
    let mut out: Vec<FixedIp> = Vec::new();
    match requested {
        None | Some([]) => {
            let mut got = [false, false];
            for s in subnets.iter().filter(|s| !s.is_auto_address()) {
                let slot = usize::from(s.ip_version == 6);
                if got[slot] {
                    continue;
                }
                if let Some(ip) = free_ip(tx, s, &[]).await? {
                    out.push(FixedIp { subnet_id: s.id.clone(), ip_address: ip.to_string() });
                    got[slot] = true;
                }
            }
            if out.is_empty() {
                if subnets.is_empty() {
                    return Err(Error::new(
                        ErrorKind::BadRequest,
                        "BadRequest",
                        format!(
                            "Bad request: No IPs available for external network {}.",
                            network.id
                        ),
                    )
                    .into());
                }
                return Err(generation_failure(&network.id).into());
            }
        }
        Some(list) => {
            for (subnet_id, ip) in list {
                let subnet = match (subnet_id, ip) {
                    (Some(sid), _) => subnets.iter().find(|s| &s.id == sid).ok_or_else(|| {
                        Error::bad_request(format!(
                            "Invalid input for operation: Failed to create port on network {}, \
                             because fixed_ips included invalid subnet {sid}.",
                            network.id
                        ))
                    })?,
                    (None, Some(ip)) => {
                        let addr = parse_ip(ip)?;
                        subnets.iter().find(|s| s.cidr().contains(&addr)).ok_or_else(|| {
                            Error::new(
                                ErrorKind::BadRequest,
                                "InvalidIpForNetwork",
                                format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                            )
                        })?
                    }
                    (None, None) => {
                        return Err(
                            Error::bad_request("fixed IP needs subnet_id or ip_address").into()
                        )
                    }
                };
                let ip = match ip {
                    Some(ip) => {
                        let addr = parse_ip(ip)?;
                        let cidr = subnet.cidr();
                        let edge = subnet.ip_version == 4
                            && cidr.prefix_len() < 31
                            && (addr == cidr.network() || addr == cidr.last());
                        if !cidr.contains(&addr) || edge {
                            return Err(Error::new(
                                ErrorKind::BadRequest,
                                "InvalidIpForSubnet",
                                format!(
                                    "IP address {ip} is not a valid IP for the specified subnet."
                                ),
                            )
                            .into());
                        }
                        if refuse_gateway && subnet.gateway_ip.as_deref() == Some(ip.as_str()) {
                            return Err(bad_router(format!(
                                "The IP address {ip} is the gateway of subnet {}",
                                subnet.id
                            ))
                            .into());
                        }
                        let single = [addr.to_string()];
                        if !ips_taken_among(&mut **tx, &network.id, &single).await?.is_empty()
                            || out.iter().any(|f| f.ip_address == single[0])
                        {
                            return Err(Error::conflict(
                                "IpAddressAlreadyAllocated",
                                format!(
                                    "IP address {addr} already allocated in subnet {}",
                                    subnet.id
                                ),
                            )
                            .into());
                        }
                        addr
                    }
                    None => {
                        let exclude: Vec<String> =
                            out.iter().map(|f| f.ip_address.clone()).collect();
                        free_ip(tx, subnet, &exclude)
                            .await?
                            .ok_or_else(|| generation_failure(&network.id))?
                    }
                };
                out.push(FixedIp { subnet_id: subnet.id.clone(), ip_address: ip.to_string() });
            }
        }
    }
    Ok(out)
}

impl Core {
    /// Registers a driver that follows routers and floating IPs.
    pub fn add_l3_driver(&self, driver: Arc<dyn L3Driver>) {
        self.l3_drivers.write().expect("l3 drivers lock").push(driver);
    }

    fn l3(&self) -> Vec<Arc<dyn L3Driver>> {
        self.l3_drivers.read().expect("l3 drivers lock").clone()
    }

    /// Runs the L3 drivers' precommit hooks.
    pub(crate) async fn l3_precommit(
        &self,
        tx: &mut Tx,
        resource: L3Resource,
        id: &str,
        event: L3Event,
    ) -> Result<(), TxError> {
        for d in self.l3() {
            d.l3_precommit(tx, resource, id, event).await?;
        }
        Ok(())
    }

    /// Tells drivers what a committed transaction changed.
    pub(crate) async fn run_after(&self, after: After) {
        for c in &after.ports_deleted {
            self.mech.delete_port_postcommit(c).await;
        }
        for c in &after.ports_created {
            self.mech.create_port_postcommit(c).await;
        }
        for c in &after.ports_updated {
            self.mech.update_port_postcommit(c).await;
        }
        let drivers = self.l3();
        for (resource, id, event) in &after.l3 {
            for d in &drivers {
                d.l3_postcommit(*resource, id, *event).await;
            }
        }
    }

    /// Inserts a `network:*` port with the given addresses inside `tx`, with the mechanism
    /// drivers' precommit hooks.
    pub(crate) async fn service_port_insert(
        &self,
        tx: &mut Tx,
        network: &Network,
        project_id: &str,
        device_owner: &str,
        device_id: &str,
        fixed_ips: Vec<FixedIp>,
    ) -> Result<PortContext, TxError> {
        let now = time::now();
        let mac = MacAddr::random_with_base(&self.base_mac, &mut rand::thread_rng()).to_string();
        let port = Port {
            id: uuid::Uuid::new_v4().to_string(),
            name: String::new(),
            description: String::new(),
            network_id: network.id.clone(),
            project_id: project_id.to_string(),
            admin_state_up: true,
            mac_address: mac,
            fixed_ips,
            device_id: device_id.to_string(),
            device_owner: device_owner.to_string(),
            status: if device_owner == FLOATINGIP_OWNER { "N/A".into() } else { "DOWN".into() },
            security_groups: vec![],
            port_security_enabled: network.port_security_enabled,
            allowed_address_pairs: vec![],
            extra_dhcp_opts: vec![],
            binding_host_id: String::new(),
            binding_profile: json!({}),
            binding_vnic_type: "normal".into(),
            binding_vif_type: "unbound".into(),
            binding_vif_details: json!({}),
            dns_name: String::new(),
            dns_domain: String::new(),
            propagate_uplink_status: true,
            tags: vec![],
            created_at: now.clone(),
            updated_at: now,
        };
        let row = ResourceRow {
            id: port.id.clone(),
            project_id: port.project_id.clone(),
            revision_number: 0,
            body: Value::Object(to_map(&port)),
        };
        port_insert(tx, &row, keys(&port)).await?;
        for ip in &port.fixed_ips {
            ip_allocate(tx, &port.network_id, &ip.subnet_id, &ip.ip_address, &port.id).await?;
        }
        let c = PortContext {
            current: port,
            original: None,
            network: network.clone(),
            revision_number: 0,
        };
        self.mech.create_port_precommit(tx, &c).await?;
        Ok(c)
    }

    /// Deletes a port inside `tx`, with the mechanism drivers' precommit hooks.
    pub(crate) async fn service_port_delete(
        &self,
        tx: &mut Tx,
        row: &ResourceRow,
    ) -> Result<PortContext, TxError> {
        let port: Port = from_row(row)?;
        let network = load_network(tx, &port.network_id).await?;
        let c = PortContext {
            current: port,
            original: None,
            network,
            revision_number: row.revision_number,
        };
        self.mech.delete_port_precommit(tx, &c).await?;
        port_delete(tx, &row.id).await?;
        Ok(c)
    }

    /// Changes a port inside `tx` (addresses follow `fixed_ips`), bumping its revision.
    pub(crate) async fn service_port_change(
        &self,
        tx: &mut Tx,
        row: &ResourceRow,
        change: impl FnOnce(&mut Port),
    ) -> Result<PortContext, TxError> {
        let original: Port = from_row(row)?;
        let mut port = original.clone();
        change(&mut port);
        for old in original.fixed_ips.iter().filter(|f| !port.fixed_ips.contains(f)) {
            ip_release(tx, &port.network_id, &old.ip_address).await?;
        }
        for new in port.fixed_ips.iter().filter(|f| !original.fixed_ips.contains(f)) {
            ip_allocate(tx, &port.network_id, &new.subnet_id, &new.ip_address, &port.id).await?;
        }
        port.updated_at = time::now();
        let revision = row.revision_number + 1;
        let new_row = ResourceRow {
            revision_number: revision,
            body: Value::Object(to_map(&port)),
            ..row.clone()
        };
        port_update(tx, &new_row, keys(&port), row.revision_number).await?;
        let network = load_network(tx, &port.network_id).await?;
        let c = PortContext {
            current: port,
            original: Some(original),
            network,
            revision_number: revision,
        };
        self.mech.update_port_precommit(tx, &c).await?;
        Ok(c)
    }

    /// Refuses deleting a router or floating IP port through the port API while its router or
    /// floating IP exists (409 `ServicePortInUse`).
    pub(crate) async fn check_service_port_delete(&self, port: &Port) -> Result<(), Error> {
        let owner = port.device_owner.as_str();
        let exists = match owner {
            ROUTER_INTERFACE | ROUTER_GATEWAY => router_get(self.db().reader(), &port.device_id)
                .await
                .map_err(crate::store_error)?
                .is_some(),
            FLOATINGIP_OWNER => {
                nt_store::floatingips::floatingip_get(self.db().reader(), &port.device_id)
                    .await
                    .map_err(crate::store_error)?
                    .is_some()
            }
            _ => false,
        };
        if exists {
            return Err(Error::conflict(
                "ServicePortInUse",
                format!(
                    "Port {} cannot be deleted directly via the port API: has device owner {owner}.",
                    port.id
                ),
            ));
        }
        Ok(())
    }

    /// Loads a router visible to `ctx`, or 404.
    pub(crate) async fn visible_router(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<(Router, i64), Error> {
        let row = router_get(self.db().reader(), id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(|| router_not_found(id))?;
        let r: Router = from_row(&row).map_err(crate::store_error)?;
        if !can_read(ctx, &r) {
            return Err(router_not_found(id));
        }
        Ok((r, row.revision_number))
    }

    async fn writable_router(
        &self,
        ctx: &OpContext,
        id: &str,
        verb: &str,
    ) -> Result<Router, Error> {
        let (r, _) = self.visible_router(ctx, id).await?;
        if !can_write(ctx, &r) {
            return Err(Error::policy(&format!("{verb}_router")));
        }
        Ok(r)
    }

    /// Checks the parts of a requested gateway that need admin, and that its network exists
    /// and is external.
    async fn check_gateway(
        &self,
        ctx: &OpContext,
        g: &GatewayRequest,
        verb: &str,
    ) -> Result<(), Error> {
        if !ctx.is_admin() {
            if g.enable_snat.is_some() {
                return Err(Error::policy(&format!(
                    "{verb}_router:external_gateway_info:enable_snat"
                )));
            }
            if g.external_fixed_ips.is_some() {
                return Err(Error::policy(&format!(
                    "{verb}_router:external_gateway_info:external_fixed_ips"
                )));
            }
        }
        let net =
            network_get(self.db().reader(), &g.network_id).await.map_err(crate::store_error)?;
        let net: Network = net
            .as_ref()
            .map(from_row)
            .transpose()
            .map_err(crate::store_error)?
            .ok_or_else(|| Error::not_found("Network", &g.network_id))?;
        if !net.router_external {
            return Err(bad_router(format!("Network {} is not an external network", net.id)));
        }
        Ok(())
    }

    /// Creates routers, all or none.
    pub async fn router_create(
        &self,
        ctx: &OpContext,
        bodies: &[Value],
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let mut items = Vec::with_capacity(bodies.len());
        for body in bodies {
            let attrs = check_body("router", ATTRS, body, Op::Create, ctx.caller())?;
            let owner = attrs.get("project_id").and_then(Value::as_str).unwrap_or(&ctx.project_id);
            if !ctx.is_privileged() {
                crate::policy::authorize(
                    ctx,
                    "create_router",
                    &crate::policy::Target::project(owner),
                )?;
            }
            let gw = attrs.get("external_gateway_info").and_then(GatewayRequest::from_value);
            if let Some(g) = &gw {
                self.check_gateway(ctx, g, "create").await?;
            }
            if let Some(f) = get_str(&attrs, "flavor_id") {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    "FlavorNotFound",
                    format!("Flavor {f} could not be found."),
                ));
            }
            let hints: Vec<String> = attrs
                .get("availability_zone_hints")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            if let Some(az) = hints.first() {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    "AvailabilityZoneNotFound",
                    format!("AvailabilityZone {az} could not be found."),
                ));
            }
            let now = time::now();
            let router = Router {
                id: uuid::Uuid::new_v4().to_string(),
                name: get_str(&attrs, "name").unwrap_or_default(),
                description: get_str(&attrs, "description").unwrap_or_default(),
                admin_state_up: get_bool(&attrs, "admin_state_up").unwrap_or(true),
                status: "ACTIVE".into(),
                project_id: get_str(&attrs, "project_id").unwrap_or_else(|| ctx.project_id.clone()),
                external_gateway_info: None,
                gw_port_id: None,
                routes: vec![],
                availability_zone_hints: hints,
                ha: get_bool(&attrs, "ha").unwrap_or(false),
                tags: vec![],
                created_at: now.clone(),
                updated_at: now,
            };
            items.push((router, gw));
        }
        let (created, after) = retrying!(self.router_create_once(&items))?;
        self.run_after(after).await;
        Ok(created.iter().map(|r| render(r, 0, ctx)).collect())
    }

    async fn router_create_once(
        &self,
        items: &[(Router, Option<GatewayRequest>)],
    ) -> Result<(Vec<Router>, After), TxError> {
        let mut tx = self.db().begin().await?;
        let mut after = After::default();
        let mut out = Vec::with_capacity(items.len());
        for (template, gw) in items {
            let mut router = template.clone();
            if let Some(g) = gw {
                let c = self.gateway_create(&mut tx, &router, g, &[]).await?;
                router.external_gateway_info = Some(GatewayInfo {
                    network_id: g.network_id.clone(),
                    enable_snat: g.enable_snat.unwrap_or(true),
                    external_fixed_ips: c.current.fixed_ips.clone(),
                });
                router.gw_port_id = Some(c.current.id.clone());
                after.ports_created.push(c);
            }
            let row = ResourceRow {
                id: router.id.clone(),
                project_id: router.project_id.clone(),
                revision_number: 0,
                body: Value::Object(to_map(&router)),
            };
            self.quota_check(&mut tx, &router.project_id, "router", 1).await?;
            router_insert(&mut tx, &row).await?;
            self.l3_precommit(&mut tx, L3Resource::Router, &router.id, L3Event::Created).await?;
            after.l3.push((L3Resource::Router, router.id.clone(), L3Event::Created));
            out.push(router);
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok((out, after))
    }

    /// Creates the gateway port of `router` on the requested external network; the gateway's
    /// subnets may not overlap the router's interface subnets (`interface_cidrs`).
    async fn gateway_create(
        &self,
        tx: &mut Tx,
        router: &Router,
        g: &GatewayRequest,
        interface_subnets: &[Subnet],
    ) -> Result<PortContext, TxError> {
        let network = load_network(tx, &g.network_id).await?;
        if !network.router_external {
            return Err(
                bad_router(format!("Network {} is not an external network", network.id)).into()
            );
        }
        let ips =
            external_addresses(tx, &network, g.external_fixed_ips.as_deref(), false, true).await?;
        for s in load_subnets(tx, &network.id).await? {
            check_overlap(&s, interface_subnets)?;
        }
        self.service_port_insert(tx, &network, "", ROUTER_GATEWAY, &router.id, ips).await
    }

    /// Routers visible to `ctx` that match `query`, one page.
    pub async fn router_list(
        &self,
        ctx: &OpContext,
        query: &ListQuery,
        sink: &mut crate::ViewSink<'_>,
    ) -> Result<(), Error> {
        let scope = if ctx.is_privileged() { Scope::All } else { Scope::Project(&ctx.project_id) };
        let rows = router_list(self.db().reader(), scope).await.map_err(crate::store_error)?;
        let mut lister = crate::Lister::new(query, sink);
        for row in &rows {
            let r: Router = from_row(row).map_err(crate::store_error)?;
            lister.offer(render(&r, row.revision_number, ctx));
        }
        lister.finish("Router")
    }

    /// One router.
    pub async fn router_show(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<Map<String, Value>, Error> {
        let (r, revision) = self.visible_router(ctx, id).await?;
        Ok(render(&r, revision, ctx))
    }

    /// Changes a router: name, description, state, `ha`, gateway and routes.
    pub async fn router_update(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<Map<String, Value>, Error> {
        let attrs = check_body("router", ATTRS, body, Op::Update, ctx.caller())?;
        self.writable_router(ctx, id, "update").await?;
        if let Some(v) = attrs.get("external_gateway_info") {
            if let Some(g) = GatewayRequest::from_value(v) {
                self.check_gateway(ctx, &g, "update").await?;
            }
        }
        let (r, revision, after) = retrying!(self.router_update_once(id, &attrs, if_match))?;
        self.run_after(after).await;
        Ok(render(&r, revision, ctx))
    }

    async fn router_update_once(
        &self,
        id: &str,
        attrs: &Map<String, Value>,
        if_match: Option<i64>,
    ) -> Result<(Router, i64, After), TxError> {
        let mut tx = self.db().begin().await?;
        let row = router_get(&mut *tx, id).await?.ok_or_else(|| router_not_found(id))?;
        check_if_match(if_match, row.revision_number)?;
        let mut r: Router = from_row(&row)?;
        let mut after = After::default();
        if let Some(v) = get_str(attrs, "name") {
            r.name = v;
        }
        if let Some(v) = get_str(attrs, "description") {
            r.description = v;
        }
        if let Some(v) = get_bool(attrs, "admin_state_up") {
            r.admin_state_up = v;
        }
        if let Some(v) = get_bool(attrs, "ha") {
            r.ha = v;
        }
        if let Some(v) = attrs.get("external_gateway_info") {
            let wanted = GatewayRequest::from_value(v);
            after.extend(self.gateway_set(&mut tx, &mut r, wanted).await?);
        }
        if let Some(v) = attrs.get("routes") {
            r.routes =
                serde_json::from_value(v.clone()).map_err(|e| Error::internal(e.to_string()))?;
        }
        if attrs.contains_key("routes") || attrs.contains_key("external_gateway_info") {
            self.validate_routes(&mut tx, &r).await?;
        }
        let revision = self.router_save(&mut tx, &row, &mut r).await?;
        self.l3_precommit(&mut tx, L3Resource::Router, id, L3Event::Updated).await?;
        after.l3.push((L3Resource::Router, id.to_string(), L3Event::Updated));
        tx.commit().await.map_err(StoreError::from)?;
        Ok((r, revision, after))
    }

    /// Writes the router back with its revision bumped; returns the new revision.
    async fn router_save(
        &self,
        tx: &mut Tx,
        row: &ResourceRow,
        r: &mut Router,
    ) -> Result<i64, TxError> {
        r.updated_at = time::now();
        let revision = row.revision_number + 1;
        let new_row = ResourceRow {
            revision_number: revision,
            body: Value::Object(to_map(&*r)),
            ..row.clone()
        };
        router_update(tx, &new_row, row.revision_number).await?;
        Ok(revision)
    }

    /// Sets, changes or clears the router's gateway inside `tx`.
    async fn gateway_set(
        &self,
        tx: &mut Tx,
        r: &mut Router,
        wanted: Option<GatewayRequest>,
    ) -> Result<After, TxError> {
        let mut after = After::default();
        let current = r.external_gateway_info.clone();
        let same_network =
            matches!((&current, &wanted), (Some(c), Some(w)) if c.network_id == w.network_id);
        let gw_row = match &r.gw_port_id {
            Some(p) => port_get(&mut **tx, p).await?,
            None => None,
        };
        if let (Some(cur), false) = (&current, same_network) {
            // Removing the gateway or moving it to another network: floating IPs need it.
            if !floatingips_of_router(&mut **tx, &r.id).await?.is_empty() {
                return Err(Error::conflict(
                    "RouterExternalGatewayInUseByFloatingIp",
                    format!(
                        "Gateway cannot be updated for router {}, since a gateway to external network {} is required by one or more floating IPs.",
                        r.id, cur.network_id
                    ),
                )
                .into());
            }
            if let Some(row) = &gw_row {
                after.ports_deleted.push(self.service_port_delete(tx, row).await?);
            }
            r.external_gateway_info = None;
            r.gw_port_id = None;
        }
        let Some(w) = wanted else { return Ok(after) };
        let enable_snat = w.enable_snat.unwrap_or(true);
        if same_network {
            let cur = current.unwrap_or_else(|| unreachable!("same network implies a gateway"));
            let mut ips = cur.external_fixed_ips.clone();
            if let (Some(requested), Some(row)) = (&w.external_fixed_ips, &gw_row) {
                let port: Port = from_row(row)?;
                let keep: Vec<FixedIp> = port
                    .fixed_ips
                    .iter()
                    .filter(|f| {
                        requested.iter().any(|(s, i)| {
                            i.as_deref() == Some(f.ip_address.as_str())
                                || (i.is_none() && s.as_deref() == Some(f.subnet_id.as_str()))
                        })
                    })
                    .cloned()
                    .collect();
                let fresh: Vec<(Option<String>, Option<String>)> = requested
                    .iter()
                    .filter(|(s, i)| {
                        !keep.iter().any(|k| {
                            i.as_deref() == Some(k.ip_address.as_str())
                                || (i.is_none() && s.as_deref() == Some(k.subnet_id.as_str()))
                        })
                    })
                    .cloned()
                    .collect();
                let network = load_network(tx, &cur.network_id).await?;
                let mut new_ips = keep;
                if !fresh.is_empty() {
                    new_ips
                        .extend(external_addresses(tx, &network, Some(&fresh), false, true).await?);
                }
                if new_ips != port.fixed_ips {
                    let c = self
                        .service_port_change(tx, row, |p| p.fixed_ips = new_ips.clone())
                        .await?;
                    ips = c.current.fixed_ips.clone();
                    after.ports_updated.push(c);
                }
            }
            r.external_gateway_info = Some(GatewayInfo {
                network_id: cur.network_id,
                enable_snat,
                external_fixed_ips: ips,
            });
            return Ok(after);
        }
        let interface_subnets = self.interface_subnets(tx, &r.id).await?;
        let c = self.gateway_create(tx, r, &w, &interface_subnets).await?;
        r.external_gateway_info = Some(GatewayInfo {
            network_id: w.network_id.clone(),
            enable_snat,
            external_fixed_ips: c.current.fixed_ips.clone(),
        });
        r.gw_port_id = Some(c.current.id.clone());
        after.ports_created.push(c);
        Ok(after)
    }

    /// The subnets of the router's interface ports.
    async fn interface_subnets(
        &self,
        tx: &mut Tx,
        router_id: &str,
    ) -> Result<Vec<Subnet>, TxError> {
        self.router_subnets(tx, router_id, &[ROUTER_INTERFACE]).await
    }

    async fn router_subnets(
        &self,
        tx: &mut Tx,
        router_id: &str,
        owners: &[&str],
    ) -> Result<Vec<Subnet>, TxError> {
        let mut out: Vec<Subnet> = Vec::new();
        for row in ports_of_device(&mut **tx, router_id, owners).await? {
            let port: Port = from_row(&row)?;
            for f in &port.fixed_ips {
                if out.iter().any(|s| s.id == f.subnet_id) {
                    continue;
                }
                if let Some(s) = load_subnet(tx, &f.subnet_id).await? {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// Checks the router's routes against its subnets and addresses (400 `InvalidRoutes`) and
    /// the per-router limit (409 `OverQuota`).
    async fn validate_routes(&self, tx: &mut Tx, r: &Router) -> Result<(), TxError> {
        if r.routes.len() > MAX_ROUTES {
            return Err(Error::conflict(
                "OverQuota",
                "Quota exceeded for resources: ['router_route'].",
            )
            .into());
        }
        if r.routes.is_empty() {
            return Ok(());
        }
        let mut cidrs: Vec<Cidr> = Vec::new();
        let mut own: Vec<IpAddr> = Vec::new();
        for row in ports_of_device(&mut **tx, &r.id, &[ROUTER_INTERFACE, ROUTER_GATEWAY]).await? {
            let port: Port = from_row(&row)?;
            for f in &port.fixed_ips {
                own.push(parse_ip(&f.ip_address)?);
                if let Some(s) = load_subnet(tx, &f.subnet_id).await? {
                    cidrs.push(s.cidr());
                }
            }
        }
        for route in &r.routes {
            let hop = parse_ip(&route.nexthop)?;
            let reason = if !cidrs.iter().any(|c| c.contains(&hop)) {
                Some("the nexthop is not connected with router")
            } else if own.contains(&hop) {
                Some("the nexthop is used by router")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::new(
                    ErrorKind::BadRequest,
                    "InvalidRoutes",
                    format!(
                        "Invalid format for routes: [{{'destination': '{}', 'nexthop': '{}'}}], {reason}.",
                        route.destination, route.nexthop
                    ),
                )
                .into());
            }
        }
        Ok(())
    }

    /// Deletes a router and its gateway; 409 `RouterInUse` while interfaces remain.
    pub async fn router_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        self.writable_router(ctx, id, "delete").await?;
        let after = retrying!(self.router_delete_once(id, if_match))?;
        self.run_after(after).await;
        Ok(())
    }

    async fn router_delete_once(&self, id: &str, if_match: Option<i64>) -> Result<After, TxError> {
        let mut tx = self.db().begin().await?;
        let row = router_get(&mut *tx, id).await?.ok_or_else(|| router_not_found(id))?;
        check_if_match(if_match, row.revision_number)?;
        let mut r: Router = from_row(&row)?;
        if !ports_of_device(&mut *tx, id, &[ROUTER_INTERFACE]).await?.is_empty() {
            return Err(
                Error::conflict("RouterInUse", format!("Router {id} still has ports")).into()
            );
        }
        let mut after = self.gateway_set(&mut tx, &mut r, None).await?;
        // Ports that claim the router without being its gateway (a stale gateway).
        for row in ports_of_device(&mut *tx, id, &[ROUTER_GATEWAY]).await? {
            after.ports_deleted.push(self.service_port_delete(&mut tx, &row).await?);
        }
        router_delete(&mut tx, id).await?;
        self.l3_precommit(&mut tx, L3Resource::Router, id, L3Event::Deleted).await?;
        after.l3.push((L3Resource::Router, id.to_string(), L3Event::Deleted));
        tx.commit().await.map_err(StoreError::from)?;
        Ok(after)
    }
}

/// 400 when `subnet` overlaps a subnet the router already has (or is that subnet).
fn check_overlap(subnet: &Subnet, existing: &[Subnet]) -> Result<(), Error> {
    for other in existing {
        if other.id == subnet.id {
            return Err(bad_router(format!("Router already has a port on subnet {}", subnet.id)));
        }
        if other.cidr().overlaps(&subnet.cidr()) {
            return Err(bad_router(format!(
                "Cidr {} of subnet {} overlaps with cidr {} of subnet {}",
                subnet.cidr, subnet.id, other.cidr, other.id
            )));
        }
    }
    Ok(())
}

/// What `add_router_interface` / `remove_router_interface` were given.
#[derive(Debug, Clone)]
struct InterfaceRequest {
    subnet_id: Option<String>,
    port_id: Option<String>,
}

fn interface_request(body: &Value) -> Result<InterfaceRequest, Error> {
    let obj = body.as_object().ok_or_else(|| Error::bad_request("Body contains invalid data"))?;
    let field = |k: &str| -> Result<Option<String>, Error> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => nt_types::attr::conv::uuid(v)
                .map(|u| u.as_str().map(String::from))
                .map_err(|r| Error::invalid_attr(k, r)),
        }
    };
    Ok(InterfaceRequest { subnet_id: field("subnet_id")?, port_id: field("port_id")? })
}

fn interface_info(r: &Router, port: &Port) -> Map<String, Value> {
    let subnet_ids: Vec<&str> = port.fixed_ips.iter().map(|f| f.subnet_id.as_str()).collect();
    json!({
        "id": r.id, "tenant_id": r.project_id, "project_id": r.project_id,
        "port_id": port.id, "network_id": port.network_id,
        "subnet_id": subnet_ids.first(), "subnet_ids": subnet_ids,
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

impl Core {
    /// `PUT /routers/{id}/add_router_interface` with `{"subnet_id"}` or `{"port_id"}`.
    pub async fn router_add_interface(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
    ) -> Result<Map<String, Value>, Error> {
        let req = interface_request(body)?;
        let r = self.writable_router(ctx, id, "add_router_interface").await?;
        match (&req.subnet_id, &req.port_id) {
            (None, None) => {
                return Err(bad_router("Either subnet_id or port_id must be specified"))
            }
            (Some(_), Some(_)) => {
                return Err(bad_router("Cannot specify both subnet-id and port-id"))
            }
            (Some(sid), None) => self.check_interface_subnet(ctx, &r, sid).await?,
            (None, Some(pid)) => self.check_interface_port(ctx, pid).await?,
        }
        let (view, after) = retrying!(self.router_add_interface_once(id, &req))?;
        self.run_after(after).await;
        Ok(view)
    }

    async fn check_interface_subnet(
        &self,
        ctx: &OpContext,
        r: &Router,
        sid: &str,
    ) -> Result<(), Error> {
        let not_found = || Error::not_found("Subnet", sid);
        let row = subnet_get(self.db().reader(), sid)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let subnet: Subnet = from_row(&row).map_err(crate::store_error)?;
        let net_row = network_get(self.db().reader(), &subnet.network_id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let network: Network = from_row(&net_row).map_err(crate::store_error)?;
        if !(subnet.project_id == ctx.project_id || crate::networks::can_read(ctx, &network)) {
            return Err(not_found());
        }
        if !ctx.is_admin()
            && subnet.project_id != r.project_id
            && network.project_id != r.project_id
        {
            return Err(bad_router(format!(
                "Cannot add interface to router {}: subnet {sid} belongs to another project",
                r.id
            )));
        }
        if subnet.gateway_ip.is_none() {
            return Err(bad_router("Subnet for router interface must have a gateway IP"));
        }
        if subnet.ip_version == 6
            && subnet.ipv6_address_mode.is_some()
            && subnet.ipv6_ra_mode.is_none()
        {
            return Err(bad_router(format!(
                "IPv6 subnet {sid} configured to receive RAs from an external router cannot be added to Neutron Router"
            )));
        }
        Ok(())
    }

    async fn check_interface_port(&self, ctx: &OpContext, pid: &str) -> Result<(), Error> {
        let (port, network) = self.port_with_network(pid).await?;
        if !(ctx.is_privileged()
            || port.project_id == ctx.project_id
            || network.project_id == ctx.project_id)
        {
            return Err(Error::not_found("Port", pid));
        }
        Ok(())
    }

    /// A port and its network, or 404 `PortNotFound`.
    pub(crate) async fn port_with_network(&self, pid: &str) -> Result<(Port, Network), Error> {
        let not_found = || Error::not_found("Port", pid);
        let row = port_get(self.db().reader(), pid)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let port: Port = from_row(&row).map_err(crate::store_error)?;
        let net_row = network_get(self.db().reader(), &port.network_id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        Ok((port, from_row(&net_row).map_err(crate::store_error)?))
    }

    async fn router_add_interface_once(
        &self,
        id: &str,
        req: &InterfaceRequest,
    ) -> Result<(Map<String, Value>, After), TxError> {
        let mut tx = self.db().begin().await?;
        let row = router_get(&mut *tx, id).await?.ok_or_else(|| router_not_found(id))?;
        let mut r: Router = from_row(&row)?;
        let mut after = After::default();
        let existing =
            self.router_subnets(&mut tx, id, &[ROUTER_INTERFACE, ROUTER_GATEWAY]).await?;
        let port = match (&req.subnet_id, &req.port_id) {
            (Some(sid), _) => {
                let subnet = load_subnet(&mut tx, sid)
                    .await?
                    .ok_or_else(|| Error::not_found("Subnet", sid))?;
                check_overlap(&subnet, &existing)?;
                let gw = subnet.gateway_ip.clone().ok_or_else(|| {
                    bad_router("Subnet for router interface must have a gateway IP")
                })?;
                let single = [gw.clone()];
                if !ips_taken_among(&mut *tx, &subnet.network_id, &single).await?.is_empty() {
                    return Err(Error::conflict(
                        "IpAddressAlreadyAllocated",
                        format!("IP address {gw} already allocated in subnet {sid}"),
                    )
                    .into());
                }
                let network = load_network(&mut tx, &subnet.network_id).await?;
                let fixed = vec![FixedIp { subnet_id: sid.clone(), ip_address: gw }];
                let c = self
                    .service_port_insert(
                        &mut tx,
                        &network,
                        &r.project_id,
                        ROUTER_INTERFACE,
                        id,
                        fixed,
                    )
                    .await?;
                let port = c.current.clone();
                after.ports_created.push(c);
                port
            }
            (None, Some(pid)) => {
                let prow =
                    port_get(&mut *tx, pid).await?.ok_or_else(|| Error::not_found("Port", pid))?;
                let port: Port = from_row(&prow)?;
                if !port.device_id.is_empty() {
                    return Err(Error::conflict(
                        "PortInUse",
                        format!(
                            "Unable to complete operation on port {pid} for network {}. Port already has an attached device {}.",
                            port.network_id, port.device_id
                        ),
                    )
                    .into());
                }
                if port.fixed_ips.is_empty() {
                    return Err(bad_router("Router port must have at least one fixed IP").into());
                }
                let mut v4 = 0;
                for f in &port.fixed_ips {
                    let subnet = load_subnet(&mut tx, &f.subnet_id)
                        .await?
                        .ok_or_else(|| Error::not_found("Subnet", &f.subnet_id))?;
                    if subnet.ip_version == 4 {
                        v4 += 1;
                    }
                    check_overlap(&subnet, &existing)?;
                }
                if v4 > 1 {
                    return Err(
                        bad_router("Cannot have multiple IPv4 subnets on router port").into()
                    );
                }
                let c = self
                    .service_port_change(&mut tx, &prow, |p| {
                        p.device_id = id.to_string();
                        p.device_owner = ROUTER_INTERFACE.to_string();
                    })
                    .await?;
                let port = c.current.clone();
                after.ports_updated.push(c);
                port
            }
            (None, None) => {
                return Err(bad_router("Either subnet_id or port_id must be specified").into())
            }
        };
        self.router_save(&mut tx, &row, &mut r).await?;
        self.l3_precommit(&mut tx, L3Resource::Router, id, L3Event::Updated).await?;
        after.l3.push((L3Resource::Router, id.to_string(), L3Event::Updated));
        tx.commit().await.map_err(StoreError::from)?;
        Ok((interface_info(&r, &port), after))
    }

    /// `PUT /routers/{id}/remove_router_interface` with `{"subnet_id"}` and/or `{"port_id"}`.
    pub async fn router_remove_interface(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
    ) -> Result<Map<String, Value>, Error> {
        let req = interface_request(body)?;
        self.writable_router(ctx, id, "remove_router_interface").await?;
        if req.subnet_id.is_none() && req.port_id.is_none() {
            return Err(bad_router("Either subnet_id or port_id must be specified"));
        }
        let (view, after) = retrying!(self.router_remove_interface_once(id, &req))?;
        self.run_after(after).await;
        Ok(view)
    }

    async fn router_remove_interface_once(
        &self,
        id: &str,
        req: &InterfaceRequest,
    ) -> Result<(Map<String, Value>, After), TxError> {
        let mut tx = self.db().begin().await?;
        let row = router_get(&mut *tx, id).await?.ok_or_else(|| router_not_found(id))?;
        let mut r: Router = from_row(&row)?;
        let interfaces = ports_of_device(&mut *tx, id, &[ROUTER_INTERFACE]).await?;
        let (prow, port) = match (&req.port_id, &req.subnet_id) {
            (Some(pid), sid) => {
                let prow = interfaces.iter().find(|p| &p.id == pid).ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        "RouterInterfaceNotFound",
                        format!("Router {id} does not have an interface with id {pid}"),
                    )
                })?;
                let port: Port = from_row(prow)?;
                if let Some(sid) = sid {
                    if !port.fixed_ips.iter().any(|f| &f.subnet_id == sid) {
                        return Err(Error::new(
                            ErrorKind::BadRequest,
                            "SubnetMismatchForPort",
                            format!(
                                "Subnet on port {pid} does not match the requested subnet {sid}."
                            ),
                        )
                        .into());
                    }
                }
                (prow.clone(), port)
            }
            (None, Some(sid)) => {
                let mut found = None;
                for p in &interfaces {
                    let port: Port = from_row(p)?;
                    if port.fixed_ips.iter().any(|f| &f.subnet_id == sid) {
                        found = Some((p.clone(), port));
                        break;
                    }
                }
                found.ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        "RouterInterfaceNotFoundForSubnet",
                        format!("Router {id} has no interface on subnet {sid}"),
                    )
                })?
            }
            (None, None) => {
                return Err(bad_router("Either subnet_id or port_id must be specified").into())
            }
        };
        // The subnets this removal takes away from the router.
        let removed: Vec<String> = match &req.subnet_id {
            Some(sid) if req.port_id.is_none() => vec![sid.clone()],
            _ => port.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect(),
        };
        let fips = floatingips_of_router(&mut *tx, id).await?;
        for sid in &removed {
            let Some(subnet) = load_subnet(&mut tx, sid).await? else { continue };
            let cidr = subnet.cidr();
            let in_subnet = |ip: Option<&str>| {
                ip.and_then(|i| i.parse::<IpAddr>().ok()).is_some_and(|i| cidr.contains(&i))
            };
            for f in &fips {
                let fixed = f.body.get("fixed_ip_address").and_then(Value::as_str);
                if in_subnet(fixed) {
                    return Err(Error::conflict(
                        "RouterInterfaceInUseByFloatingIP",
                        format!("Router interface for subnet {sid} on router {id} cannot be deleted, as it is required by one or more floating IPs."),
                    )
                    .into());
                }
            }
            if r.routes.iter().any(|route: &Route| in_subnet(Some(&route.nexthop))) {
                return Err(Error::conflict(
                    "RouterInterfaceInUseByRoute",
                    format!("Router interface for subnet {sid} on router {id} cannot be deleted, as it is required by one or more routes."),
                )
                .into());
            }
        }
        let mut after = After::default();
        let remaining: Vec<FixedIp> =
            port.fixed_ips.iter().filter(|f| !removed.contains(&f.subnet_id)).cloned().collect();
        if remaining.is_empty() {
            after.ports_deleted.push(self.service_port_delete(&mut tx, &prow).await?);
        } else {
            after
                .ports_updated
                .push(self.service_port_change(&mut tx, &prow, |p| p.fixed_ips = remaining).await?);
        }
        self.router_save(&mut tx, &row, &mut r).await?;
        self.l3_precommit(&mut tx, L3Resource::Router, id, L3Event::Updated).await?;
        after.l3.push((L3Resource::Router, id.to_string(), L3Event::Updated));
        tx.commit().await.map_err(StoreError::from)?;
        let mut info = interface_info(&r, &port);
        if req.port_id.is_none() {
            let sid = req.subnet_id.clone();
            info.insert("subnet_id".into(), json!(sid));
            info.insert("subnet_ids".into(), json!([sid]));
        }
        Ok((info, after))
    }

    /// `PUT /routers/{id}/add_extraroutes` (`add` true) or `remove_extraroutes`, body
    /// `{"router": {"routes": [...]}}`: atomically adds or removes routes; returns the router.
    pub async fn router_extraroutes(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
        add: bool,
    ) -> Result<Map<String, Value>, Error> {
        let inner = body
            .as_object()
            .and_then(|o| o.get("router"))
            .ok_or_else(|| Error::bad_request("Unable to find 'router' in request body"))?;
        let inner =
            inner.as_object().ok_or_else(|| Error::bad_request("Body contains invalid data"))?;
        if let Some(k) = inner.keys().find(|k| k.as_str() != "routes") {
            return Err(Error::bad_request(format!("Unrecognized attribute(s) '{k}'")));
        }
        let routes = inner.get("routes").ok_or_else(|| {
            Error::bad_request("Failed to parse request. Required attribute 'routes' not specified")
        })?;
        let routes =
            nt_types::router::routes(routes).map_err(|r| Error::invalid_attr("routes", r))?;
        let routes: Vec<Route> =
            serde_json::from_value(routes).map_err(|e| Error::internal(e.to_string()))?;
        let verb = if add { "add_extraroutes" } else { "remove_extraroutes" };
        self.writable_router(ctx, id, verb).await?;
        let (r, revision, after) = retrying!(self.router_extraroutes_once(id, &routes, add))?;
        self.run_after(after).await;
        Ok(render(&r, revision, ctx))
    }

    async fn router_extraroutes_once(
        &self,
        id: &str,
        routes: &[Route],
        add: bool,
    ) -> Result<(Router, i64, After), TxError> {
        let mut tx = self.db().begin().await?;
        let row = router_get(&mut *tx, id).await?.ok_or_else(|| router_not_found(id))?;
        let mut r: Router = from_row(&row)?;
        if add {
            for route in routes {
                if !r.routes.contains(route) {
                    r.routes.push(route.clone());
                }
            }
            self.validate_routes(&mut tx, &r).await?;
        } else {
            r.routes.retain(|x| !routes.contains(x));
        }
        let revision = self.router_save(&mut tx, &row, &mut r).await?;
        self.l3_precommit(&mut tx, L3Resource::Router, id, L3Event::Updated).await?;
        let after = After {
            l3: vec![(L3Resource::Router, id.to_string(), L3Event::Updated)],
            ..After::default()
        };
        tx.commit().await.map_err(StoreError::from)?;
        Ok((r, revision, after))
    }
}
