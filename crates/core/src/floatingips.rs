//! Floating IPs (API notes §2.7): an address of an external network held by a
//! `network:floatingip` port, optionally associated with a fixed IPv4 address of an internal
//! port whose subnet a router connects to that external network. One transaction per
//! operation; the unique keys of `floatingips` settle races on addresses and associations.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use nt_store::floatingips::{
    floatingip_delete, floatingip_get, floatingip_insert, floatingip_list, floatingip_update,
    floatingips_of_port, FloatingIpKeys,
};
use nt_store::networks::{network_get, network_list};
use nt_store::ports::port_get;
use nt_store::routers::{ports_of_owner_on_networks, router_get};
use nt_store::{ResourceRow, Scope, StoreError, Tx};
use nt_types::attr::{check_body, strip_unreadable, Op};
use nt_types::floatingip::{FloatingIp, ATTRS};
use nt_types::network::Network;
use nt_types::port::Port;
use nt_types::query::ListQuery;
use nt_types::router::Router;
use nt_types::subnet::Subnet;
use nt_types::{time, Error, ErrorKind};

use crate::routers::{
    external_addresses, load_network, load_subnet, load_subnets, After, L3Event, L3Resource,
    FLOATINGIP_OWNER, ROUTER_INTERFACE,
};
use crate::{check_if_match, from_row, retrying, to_map, Core, OpContext, TxError};

fn bad_fip(msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::BadRequest, "BadRequest", format!("Bad floatingip request: {msg}."))
}

fn not_found(id: &str) -> Error {
    Error::not_found("FloatingIP", id)
}

fn get_str(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(String::from)
}

fn fip_keys(f: &FloatingIp) -> FloatingIpKeys<'_> {
    FloatingIpKeys {
        floating_network_id: &f.floating_network_id,
        floating_ip_address: &f.floating_ip_address,
        port_id: f.port_id.as_deref(),
        fixed_ip_address: f.fixed_ip_address.as_deref(),
        router_id: f.router_id.as_deref(),
    }
}

fn can_read(ctx: &OpContext, f: &FloatingIp) -> bool {
    ctx.is_privileged() || f.project_id == ctx.project_id
}

fn can_write(ctx: &OpContext, f: &FloatingIp) -> bool {
    crate::policy::allowed(ctx, "update_floatingip", &crate::policy::Target::project(&f.project_id))
}

/// The association asked for: `None` to disassociate.
#[derive(Debug, Clone)]
struct Association {
    port_id: String,
    fixed_ip_address: Option<String>,
}

/// What an association resolved to.
#[derive(Debug, Clone)]
struct Resolved {
    port_id: String,
    fixed_ip_address: String,
    router_id: String,
}

fn render(
    f: &FloatingIp,
    revision: i64,
    port: Option<&Port>,
    ctx: &OpContext,
) -> Map<String, Value> {
    let mut view = to_map(f);
    view.remove("floating_port_id");
    let details = port.map(|p| {
        json!({"name": p.name, "network_id": p.network_id, "mac_address": p.mac_address,
               "admin_state_up": p.admin_state_up, "status": p.status, "device_id": p.device_id,
               "device_owner": p.device_owner})
    });
    view.insert("port_details".into(), details.unwrap_or(Value::Null));
    view.insert("revision_number".into(), json!(revision));
    view.insert("tenant_id".into(), json!(f.project_id));
    strip_unreadable(ATTRS, &mut view, ctx.is_privileged());
    view
}

fn association_of(attrs: &Map<String, Value>) -> Result<Option<Option<Association>>, Error> {
    let fixed = get_str(attrs, "fixed_ip_address");
    match attrs.get("port_id") {
        None if fixed.is_some() => {
            Err(bad_fip("fixed_ip_address cannot be specified without a port_id"))
        }
        None => Ok(None),
        Some(Value::Null) if fixed.is_some() => {
            Err(bad_fip("fixed_ip_address cannot be specified without a port_id"))
        }
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => Ok(Some(Some(Association {
            port_id: v.as_str().unwrap_or_default().to_string(),
            fixed_ip_address: fixed,
        }))),
    }
}

impl Core {
    async fn port_of_fip(&self, f: &FloatingIp) -> Result<Option<Port>, Error> {
        let Some(pid) = &f.port_id else { return Ok(None) };
        let row = port_get(self.db().reader(), pid).await.map_err(crate::store_error)?;
        row.as_ref().map(from_row).transpose().map_err(crate::store_error)
    }

    async fn visible_floatingip(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<(FloatingIp, i64), Error> {
        let row = floatingip_get(self.db().reader(), id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(|| not_found(id))?;
        let f: FloatingIp = from_row(&row).map_err(crate::store_error)?;
        if !can_read(ctx, &f) {
            return Err(not_found(id));
        }
        Ok((f, row.revision_number))
    }

    /// Checks that `ctx` may associate the floating IP with the port: the port is visible
    /// (404) and, unless admin, of the floating IP's project (400).
    async fn check_association(
        &self,
        ctx: &OpContext,
        project_id: &str,
        a: &Association,
    ) -> Result<(), Error> {
        let (port, network) = self.port_with_network(&a.port_id).await?;
        if !(ctx.is_privileged()
            || port.project_id == ctx.project_id
            || network.project_id == ctx.project_id)
        {
            return Err(Error::not_found("Port", &a.port_id));
        }
        if !ctx.is_admin() && port.project_id != project_id {
            return Err(bad_fip(format!(
                "Cannot create floating IP and bind it to Port {}, since that port is owned by a different tenant",
                a.port_id
            )));
        }
        Ok(())
    }

    /// Creates floating IPs, all or none.
    pub async fn floatingip_create(
        &self,
        ctx: &OpContext,
        bodies: &[Value],
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let mut items = Vec::with_capacity(bodies.len());
        for body in bodies {
            let attrs = check_body("floatingip", ATTRS, body, Op::Create, ctx.caller())?;
            let owner = attrs.get("project_id").and_then(Value::as_str).unwrap_or(&ctx.project_id);
            if !ctx.is_privileged() {
                crate::policy::authorize(
                    ctx,
                    "create_floatingip",
                    &crate::policy::Target::project(owner),
                )?;
            }
            if attrs.contains_key("floating_ip_address")
                && !(ctx.is_admin() || ctx.has_role("manager"))
            {
                return Err(Error::policy("create_floatingip:floating_ip_address"));
            }
            let network_id = get_str(&attrs, "floating_network_id").unwrap_or_default();
            let net_row =
                network_get(self.db().reader(), &network_id).await.map_err(crate::store_error)?;
            let network: Network = net_row
                .as_ref()
                .map(from_row)
                .transpose()
                .map_err(crate::store_error)?
                .ok_or_else(|| Error::not_found("Network", &network_id))?;
            if !network.router_external {
                return Err(bad_fip(format!(
                    "Network {network_id} is not a valid external network"
                )));
            }
            let assoc = association_of(&attrs)?.flatten();
            let project_id =
                get_str(&attrs, "project_id").unwrap_or_else(|| ctx.project_id.clone());
            if let Some(a) = &assoc {
                self.check_association(ctx, &project_id, a).await?;
            }
            let now = time::now();
            let fip = FloatingIp {
                id: uuid::Uuid::new_v4().to_string(),
                description: get_str(&attrs, "description").unwrap_or_default(),
                project_id,
                floating_network_id: network_id,
                floating_ip_address: get_str(&attrs, "floating_ip_address").unwrap_or_default(),
                floating_port_id: String::new(),
                port_id: None,
                fixed_ip_address: None,
                router_id: None,
                status: "DOWN".into(),
                tags: vec![],
                created_at: now.clone(),
                updated_at: now,
            };
            items.push((fip, get_str(&attrs, "subnet_id"), assoc));
        }
        let (created, after) = retrying!(self.floatingip_create_once(&items))?;
        self.run_after(after).await;
        let mut views = Vec::with_capacity(created.len());
        for f in &created {
            let port = self.port_of_fip(f).await?;
            views.push(render(f, 0, port.as_ref(), ctx));
        }
        Ok(views)
    }

    async fn floatingip_create_once(
        &self,
        items: &[(FloatingIp, Option<String>, Option<Association>)],
    ) -> Result<(Vec<FloatingIp>, After), TxError> {
        let mut tx = self.db().begin().await?;
        let mut after = After::default();
        let mut out = Vec::with_capacity(items.len());
        for (template, subnet_id, assoc) in items {
            let mut fip = template.clone();
            let network = load_network(&mut tx, &fip.floating_network_id).await?;
            let v4: Vec<Subnet> = load_subnets(&mut tx, &network.id)
                .await?
                .into_iter()
                .filter(|s| s.ip_version == 4)
                .collect();
            if v4.is_empty() {
                return Err(bad_fip(format!(
                    "Network {} does not contain any IPv4 subnet",
                    network.id
                ))
                .into());
            }
            if let Some(sid) = subnet_id {
                if !v4.iter().any(|s| &s.id == sid) {
                    return Err(bad_fip(format!(
                        "Subnet {sid} is not an IPv4 subnet of network {}",
                        network.id
                    ))
                    .into());
                }
            }
            let requested = if fip.floating_ip_address.is_empty() && subnet_id.is_none() {
                None
            } else {
                let ip =
                    (!fip.floating_ip_address.is_empty()).then(|| fip.floating_ip_address.clone());
                Some(vec![(subnet_id.clone(), ip)])
            };
            let ips =
                external_addresses(&mut tx, &network, requested.as_deref(), true, false).await?;
            let c = self
                .service_port_insert(&mut tx, &network, "", FLOATINGIP_OWNER, &fip.id, ips)
                .await?;
            fip.floating_ip_address = c.current.fixed_ips[0].ip_address.clone();
            fip.floating_port_id = c.current.id.clone();
            after.ports_created.push(c);
            if let Some(a) = assoc {
                let resolved = self.resolve_association(&mut tx, &fip, a).await?;
                fip.port_id = Some(resolved.port_id);
                fip.fixed_ip_address = Some(resolved.fixed_ip_address);
                fip.router_id = Some(resolved.router_id);
                fip.status = "ACTIVE".into();
            }
            let row = ResourceRow {
                id: fip.id.clone(),
                project_id: fip.project_id.clone(),
                revision_number: 0,
                body: Value::Object(to_map(&fip)),
            };
            self.quota_check(&mut tx, &fip.project_id, "floatingip", 1).await?;
            floatingip_insert(&mut tx, &row, fip_keys(&fip)).await?;
            self.l3_precommit(&mut tx, L3Resource::FloatingIp, &fip.id, L3Event::Created).await?;
            after.l3.push((L3Resource::FloatingIp, fip.id.clone(), L3Event::Created));
            out.push(fip);
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok((out, after))
    }

    /// Checks an association inside `tx` and finds the router that connects the port's subnet
    /// to the floating IP's network.
    async fn resolve_association(
        &self,
        tx: &mut Tx,
        fip: &FloatingIp,
        a: &Association,
    ) -> Result<Resolved, TxError> {
        let row = port_get(&mut **tx, &a.port_id)
            .await?
            .ok_or_else(|| Error::not_found("Port", &a.port_id))?;
        let port: Port = from_row(&row)?;
        if port.device_owner == "network:dhcp"
            || port.device_owner.starts_with("network:router")
            || port.device_owner == FLOATINGIP_OWNER
        {
            return Err(bad_fip(format!(
                "Port {} has owner {} and therefore cannot be assigned to a floating IP",
                port.id, port.device_owner
            ))
            .into());
        }
        let v4: Vec<&str> = port
            .fixed_ips
            .iter()
            .map(|f| f.ip_address.as_str())
            .filter(|ip| ip.parse::<IpAddr>().is_ok_and(|i| i.is_ipv4()))
            .collect();
        let fixed = match &a.fixed_ip_address {
            Some(ip) => {
                let is_v4 = ip.parse::<IpAddr>().is_ok_and(|i| i.is_ipv4());
                if !is_v4 {
                    return Err(bad_fip(format!("Cannot add floating IP to port {} that has no fixed IPv4 addresses", port.id)).into());
                }
                if !v4.contains(&ip.as_str()) {
                    return Err(bad_fip(format!("Port {} does not have fixed ip {ip}", port.id)).into());
                }
                ip.clone()
            }
            None => match v4.as_slice() {
                [] => {
                    return Err(bad_fip(format!("Cannot add floating IP to port {} that has no fixed IPv4 addresses", port.id)).into())
                }
                [one] => (*one).to_string(),
                _ => {
                    return Err(bad_fip(format!(
                        "Port {} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP",
                        port.id
                    ))
                    .into())
                }
            },
        };
        let subnet_id = port
            .fixed_ips
            .iter()
            .find(|f| f.ip_address == fixed)
            .map(|f| f.subnet_id.clone())
            .unwrap_or_default();
        let subnet = load_subnet(tx, &subnet_id).await?;
        // Routers with an interface on the subnet and a gateway on the floating network; the one
        // whose interface holds the subnet's gateway address wins.
        let mut chosen: Option<(String, bool)> = None;
        for prow in ports_of_owner_on_networks(
            &mut **tx,
            ROUTER_INTERFACE,
            std::slice::from_ref(&port.network_id),
        )
        .await?
        {
            let rport: Port = from_row(&prow)?;
            let Some(on_subnet) = rport.fixed_ips.iter().find(|f| f.subnet_id == subnet_id) else {
                continue;
            };
            let Some(rrow) = router_get(&mut **tx, &rport.device_id).await? else { continue };
            let router: Router = from_row(&rrow)?;
            if router
                .external_gateway_info
                .as_ref()
                .is_none_or(|g| g.network_id != fip.floating_network_id)
            {
                continue;
            }
            let is_gateway = subnet.as_ref().and_then(|s| s.gateway_ip.as_deref())
                == Some(on_subnet.ip_address.as_str());
            match &chosen {
                Some((_, true)) => {}
                Some((_, false)) if !is_gateway => {}
                _ => chosen = Some((router.id.clone(), is_gateway)),
            }
        }
        let Some((router_id, _)) = chosen else {
            return Err(Error::new(
                ErrorKind::NotFound,
                "ExternalGatewayForFloatingIPNotFound",
                format!(
                    "External network {} is not reachable from subnet {subnet_id}.  Therefore, cannot associate Port {} with a Floating IP.",
                    fip.floating_network_id, port.id
                ),
            )
            .into());
        };
        for other in floatingips_of_port(&mut **tx, &port.id).await? {
            let o: FloatingIp = from_row(&other)?;
            if o.id != fip.id
                && o.fixed_ip_address.as_deref() == Some(fixed.as_str())
                && o.floating_network_id == fip.floating_network_id
            {
                return Err(Error::conflict(
                    "FloatingIPPortAlreadyAssociated",
                    format!(
                        "Cannot associate floating IP {} ({}) with port {} using fixed IP {fixed}, as that fixed IP already has a floating IP on external network {}.",
                        fip.floating_ip_address, fip.id, port.id, fip.floating_network_id
                    ),
                )
                .into());
            }
        }
        Ok(Resolved { port_id: port.id, fixed_ip_address: fixed, router_id })
    }

    /// Floating IPs visible to `ctx` that match `query`, one page.
    pub async fn floatingip_list(
        &self,
        ctx: &OpContext,
        query: &ListQuery,
        sink: &mut crate::ViewSink<'_>,
    ) -> Result<(), Error> {
        let scope = if ctx.is_privileged() { Scope::All } else { Scope::Project(&ctx.project_id) };
        let rows = floatingip_list(self.db().reader(), scope).await.map_err(crate::store_error)?;
        let mut lister = crate::Lister::new(query, sink);
        for row in &rows {
            let f: FloatingIp = from_row(row).map_err(crate::store_error)?;
            let port = self.port_of_fip(&f).await?;
            lister.offer(render(&f, row.revision_number, port.as_ref(), ctx));
        }
        lister.finish("FloatingIP")
    }

    /// One floating IP.
    pub async fn floatingip_show(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<Map<String, Value>, Error> {
        let (f, revision) = self.visible_floatingip(ctx, id).await?;
        let port = self.port_of_fip(&f).await?;
        Ok(render(&f, revision, port.as_ref(), ctx))
    }

    /// Changes a floating IP: description and association.
    pub async fn floatingip_update(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<Map<String, Value>, Error> {
        let attrs = check_body("floatingip", ATTRS, body, Op::Update, ctx.caller())?;
        let (f, _) = self.visible_floatingip(ctx, id).await?;
        if !can_write(ctx, &f) {
            return Err(Error::policy("update_floatingip"));
        }
        let assoc = association_of(&attrs)?;
        if let Some(Some(a)) = &assoc {
            self.check_association(ctx, &f.project_id, a).await?;
        }
        let description = get_str(&attrs, "description");
        let (f, revision, after) = retrying!(self.floatingip_update_once(
            id,
            description.as_deref(),
            assoc.as_ref(),
            if_match
        ))?;
        self.run_after(after).await;
        let port = self.port_of_fip(&f).await?;
        Ok(render(&f, revision, port.as_ref(), ctx))
    }

    async fn floatingip_update_once(
        &self,
        id: &str,
        description: Option<&str>,
        assoc: Option<&Option<Association>>,
        if_match: Option<i64>,
    ) -> Result<(FloatingIp, i64, After), TxError> {
        let mut tx = self.db().begin().await?;
        let row = floatingip_get(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
        check_if_match(if_match, row.revision_number)?;
        let mut f: FloatingIp = from_row(&row)?;
        if let Some(d) = description {
            f.description = d.to_string();
        }
        match assoc {
            None => {}
            Some(None) => {
                f.port_id = None;
                f.fixed_ip_address = None;
                f.router_id = None;
                f.status = "DOWN".into();
            }
            Some(Some(a)) => {
                let resolved = self.resolve_association(&mut tx, &f, a).await?;
                f.port_id = Some(resolved.port_id);
                f.fixed_ip_address = Some(resolved.fixed_ip_address);
                f.router_id = Some(resolved.router_id);
                f.status = "ACTIVE".into();
            }
        }
        let revision = save(&mut tx, &row, &mut f).await?;
        self.l3_precommit(&mut tx, L3Resource::FloatingIp, id, L3Event::Updated).await?;
        let after = After {
            l3: vec![(L3Resource::FloatingIp, id.to_string(), L3Event::Updated)],
            ..After::default()
        };
        tx.commit().await.map_err(StoreError::from)?;
        Ok((f, revision, after))
    }

    /// Deletes a floating IP and its port.
    pub async fn floatingip_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        let (f, _) = self.visible_floatingip(ctx, id).await?;
        if !can_write(ctx, &f) {
            return Err(Error::policy("delete_floatingip"));
        }
        let after = retrying!(self.floatingip_delete_once(id, if_match))?;
        self.run_after(after).await;
        Ok(())
    }

    async fn floatingip_delete_once(
        &self,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<After, TxError> {
        let mut tx = self.db().begin().await?;
        let row = floatingip_get(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
        check_if_match(if_match, row.revision_number)?;
        let f: FloatingIp = from_row(&row)?;
        let mut after = After::default();
        floatingip_delete(&mut tx, id).await?;
        if let Some(prow) = port_get(&mut *tx, &f.floating_port_id).await? {
            after.ports_deleted.push(self.service_port_delete(&mut tx, &prow).await?);
        }
        self.l3_precommit(&mut tx, L3Resource::FloatingIp, id, L3Event::Deleted).await?;
        after.l3.push((L3Resource::FloatingIp, id.to_string(), L3Event::Deleted));
        tx.commit().await.map_err(StoreError::from)?;
        Ok(after)
    }

    /// Ids of the floating IPs associated with a port (read before deleting it).
    pub(crate) async fn floatingips_on_port(&self, port_id: &str) -> Vec<String> {
        floatingips_of_port(self.db().reader(), port_id)
            .await
            .map(|rows| rows.into_iter().map(|r| r.id).collect())
            .unwrap_or_default()
    }

    /// Disassociates the floating IPs of a port being deleted, inside its transaction.
    pub(crate) async fn floatingips_disassociate_port(
        &self,
        tx: &mut Tx,
        port_id: &str,
    ) -> Result<(), TxError> {
        for row in floatingips_of_port(&mut **tx, port_id).await? {
            let mut f: FloatingIp = from_row(&row)?;
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.status = "DOWN".into();
            save(tx, &row, &mut f).await?;
            self.l3_precommit(tx, L3Resource::FloatingIp, &f.id, L3Event::Updated).await?;
        }
        Ok(())
    }

    /// Tells the L3 drivers that these floating IPs changed.
    pub(crate) async fn floatingips_changed(&self, ids: Vec<String>) {
        let l3 = ids.into_iter().map(|id| (L3Resource::FloatingIp, id, L3Event::Updated)).collect();
        self.run_after(After { l3, ..After::default() }).await;
    }

    /// `GET /v2.0/floatingip-pools`: the IPv4 subnets of external networks.
    pub async fn floatingip_pool_list(
        &self,
        ctx: &OpContext,
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let scope = if ctx.is_privileged() { Scope::All } else { Scope::Project(&ctx.project_id) };
        let rows = network_list(self.db().reader(), scope).await.map_err(crate::store_error)?;
        let mut out = Vec::new();
        for row in &rows {
            let net: Network = from_row(row).map_err(crate::store_error)?;
            if !net.router_external {
                continue;
            }
            let subnets = nt_store::subnets::subnets_of_network(self.db().reader(), &net.id)
                .await
                .map_err(crate::store_error)?;
            for s in &subnets {
                let s: Subnet = from_row(s).map_err(crate::store_error)?;
                if s.ip_version != 4 {
                    continue;
                }
                let item = json!({"subnet_id": s.id, "subnet_name": s.name, "network_id": net.id,
                                  "cidr": s.cidr, "project_id": s.project_id, "tenant_id": s.project_id});
                out.push(item.as_object().cloned().unwrap_or_default());
            }
        }
        Ok(out)
    }
}

async fn save(tx: &mut Tx, row: &ResourceRow, f: &mut FloatingIp) -> Result<i64, TxError> {
    f.updated_at = time::now();
    let revision = row.revision_number + 1;
    let new_row =
        ResourceRow { revision_number: revision, body: Value::Object(to_map(&*f)), ..row.clone() };
    floatingip_update(tx, &new_row, fip_keys(f), row.revision_number).await?;
    Ok(revision)
}

/// Writes a floating IP row whose body changed (tags), keeping its key columns.
pub(crate) async fn floatingip_row_update(
    tx: &mut Tx,
    new_row: &ResourceRow,
    expected_revision: i64,
) -> Result<(), TxError> {
    let f: FloatingIp = from_row(new_row)?;
    floatingip_update(tx, new_row, fip_keys(&f), expected_revision).await?;
    Ok(())
}
