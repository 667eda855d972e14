//! Networks: create (with segment allocation), list, show, update, delete.

use std::collections::HashMap;

use serde_json::{Map, Value};

use nt_store::networks::{
    network_delete, network_get, network_insert, network_list, network_update, NetworkFlags,
};
use nt_store::ports::{port_delete, ports_of_network};
use nt_store::segments::segment_release;
use nt_store::subnets::{subnet_delete, subnet_network_pairs, subnets_of_network};
use nt_store::{ResourceRow, Scope, StoreError};
use nt_types::attr::{check_body, Op};
use nt_types::network::{Network, ATTRS};
use nt_types::port::Port;
use nt_types::query::ListQuery;
use nt_types::subnet::Subnet;
use nt_types::{time, Error};

use crate::ml2::{NetworkContext, Segment, SubnetContext};
use crate::policy::{authorize, Target};
use crate::{check_if_match, from_row, render, retrying, to_map, Core, OpContext, TxError};

/// Device owners whose ports go away with their network instead of blocking its deletion.
pub(crate) const AUTO_DELETED_OWNERS: &[&str] =
    &["network:dhcp", "network:distributed", "network:floatingip_agent_gateway"];

struct NewNetwork {
    network: Network,
    segment: Option<Segment>,
    mtu: Option<i64>,
}

fn flags(n: &Network) -> NetworkFlags {
    NetworkFlags { shared: n.shared, external: n.router_external }
}

/// True when `ctx` may see `net`.
pub(crate) fn can_read(ctx: &OpContext, net: &Network) -> bool {
    ctx.is_privileged() || net.project_id == ctx.project_id || net.shared || net.router_external
}

fn get_str(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(String::from)
}

fn get_bool(attrs: &Map<String, Value>, key: &str) -> Option<bool> {
    attrs.get(key).and_then(Value::as_bool)
}

impl Core {
    /// Loads a network visible to `ctx`, or 404.
    pub(crate) async fn visible_network(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<(Network, i64), Error> {
        let row = network_get(self.db().reader(), id).await.map_err(crate::store_error)?;
        let not_found = || Error::not_found("Network", id);
        let row = row.ok_or_else(not_found)?;
        let net: Network = from_row(&row).map_err(crate::store_error)?;
        if !can_read(ctx, &net) && !self.network_access(ctx, &net).await?.read {
            return Err(not_found());
        }
        Ok((net, row.revision_number))
    }

    fn parse_new_network(&self, ctx: &OpContext, body: &Value) -> Result<NewNetwork, Error> {
        let attrs = check_body("network", ATTRS, body, Op::Create, ctx.caller())?;
        let project = attrs.get("project_id").and_then(Value::as_str).unwrap_or(&ctx.project_id);
        if !ctx.is_privileged() {
            authorize(ctx, "create_network", &Target::project(project))?;
        }
        let now = time::now();
        let network_type = get_str(&attrs, "provider:network_type");
        let physical_network = get_str(&attrs, "provider:physical_network");
        let segmentation_id = attrs.get("provider:segmentation_id").and_then(Value::as_i64);
        let segment = match (&network_type, &physical_network, segmentation_id) {
            (None, None, None) => None,
            (None, _, _) => {
                return Err(Error::invalid_input("provider:network_type required"));
            }
            (Some(t), _, _) => Some(Segment {
                network_type: t.clone(),
                physical_network: physical_network.clone(),
                segmentation_id,
            }),
        };
        let network = Network {
            id: uuid::Uuid::new_v4().to_string(),
            name: get_str(&attrs, "name").unwrap_or_default(),
            description: get_str(&attrs, "description").unwrap_or_default(),
            admin_state_up: get_bool(&attrs, "admin_state_up").unwrap_or(true),
            status: "ACTIVE".into(),
            project_id: get_str(&attrs, "project_id").unwrap_or_else(|| ctx.project_id.clone()),
            shared: get_bool(&attrs, "shared").unwrap_or(false),
            router_external: get_bool(&attrs, "router:external").unwrap_or(false),
            network_type: String::new(),
            physical_network: None,
            segmentation_id: None,
            mtu: 0,
            port_security_enabled: get_bool(&attrs, "port_security_enabled").unwrap_or(true),
            availability_zone_hints: attrs
                .get("availability_zone_hints")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
            dns_domain: get_str(&attrs, "dns_domain").unwrap_or_default(),
            is_default: get_bool(&attrs, "is_default").unwrap_or(false),
            tags: vec![],
            created_at: now.clone(),
            updated_at: now,
        };
        if !network.availability_zone_hints.is_empty() {
            let az = &network.availability_zone_hints[0];
            return Err(Error::new(
                nt_types::ErrorKind::NotFound,
                "AvailabilityZoneNotFound",
                format!("AvailabilityZone {az} could not be found."),
            ));
        }
        let mtu = attrs.get("mtu").and_then(Value::as_i64).filter(|m| *m > 0);
        Ok(NewNetwork { network, segment, mtu })
    }

    /// Creates networks, all or none.
    pub async fn network_create(
        &self,
        ctx: &OpContext,
        bodies: &[Value],
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let mut items =
            bodies.iter().map(|b| self.parse_new_network(ctx, b)).collect::<Result<Vec<_>, _>>()?;
        let created = retrying!(self.network_create_once(&mut items))?;
        let mut views = Vec::with_capacity(created.len());
        for c in &created {
            // As upstream: a project's first network brings its default security group.
            if let Err(e) = self.security_group_default(&c.current.project_id).await {
                tracing::warn!(project = %c.current.project_id, error = %e, "default security group not created");
            }
            self.mech.create_network_postcommit(c).await;
            self.metadata_port_after(&c.current.id).await;
            views.push(render::network(&c.current, c.revision_number, vec![], ctx));
        }
        Ok(views)
    }

    async fn network_create_once(
        &self,
        items: &mut [NewNetwork],
    ) -> Result<Vec<NetworkContext>, TxError> {
        let mut tx = self.db().begin().await?;
        let mut done = Vec::with_capacity(items.len());
        for item in items.iter_mut() {
            let net = &mut item.network;
            let segment = match &item.segment {
                Some(s) => self.types.reserve_provider_segment(&mut tx, s, &net.id).await?,
                None => self.types.allocate_tenant_segment(&mut tx, &net.id).await?,
            };
            let max_mtu = self.types.mtu(&segment);
            net.mtu = match item.mtu {
                Some(m) if m > max_mtu => {
                    return Err(Error::invalid_input(format!(
                        "Requested MTU is too big, maximum is {max_mtu}"
                    ))
                    .into())
                }
                Some(m) => m,
                None => max_mtu,
            };
            net.network_type = segment.network_type;
            net.physical_network = segment.physical_network;
            net.segmentation_id = segment.segmentation_id;
            let row = ResourceRow {
                id: net.id.clone(),
                project_id: net.project_id.clone(),
                revision_number: 0,
                body: Value::Object(to_map(&*net)),
            };
            self.quota_check(&mut tx, &net.project_id, "network", 1).await?;
            network_insert(&mut tx, &row, flags(net)).await?;
            // The flags stand for `*` RBAC entries; keep the entries in step.
            if net.shared {
                crate::rbac::insert_wildcard(&mut tx, net, "access_as_shared").await?;
            }
            if net.router_external {
                crate::rbac::insert_wildcard(&mut tx, net, "access_as_external").await?;
            }
            let ctx = NetworkContext { current: net.clone(), original: None, revision_number: 0 };
            self.mech.create_network_precommit(&mut tx, &ctx).await?;
            done.push(ctx);
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(done)
    }

    /// Networks visible to `ctx` that match `query`, one page.
    pub async fn network_list(
        &self,
        ctx: &OpContext,
        query: &ListQuery,
        sink: &mut crate::ViewSink<'_>,
    ) -> Result<(), Error> {
        let scope = if ctx.is_privileged() { Scope::All } else { Scope::Project(&ctx.project_id) };
        let rows = network_list(self.db().reader(), scope).await.map_err(crate::store_error)?;
        let pairs = subnet_network_pairs(self.db().reader()).await.map_err(crate::store_error)?;
        let mut subnets: HashMap<String, Vec<String>> = HashMap::new();
        for (subnet, network) in pairs {
            subnets.entry(network).or_default().push(subnet);
        }
        // `shared` is per viewer: RBAC entries for the caller's project count too.
        let shared_to_me: Vec<String> = if ctx.is_privileged() {
            vec![]
        } else {
            nt_store::rbac::rbac_networks_for(self.db().reader(), &ctx.project_id)
                .await
                .map_err(crate::store_error)?
                .into_iter()
                .filter(|(_, action)| action == "access_as_shared")
                .map(|(id, _)| id)
                .collect()
        };
        let mut lister = crate::Lister::new(query, sink);
        for row in &rows {
            let net: Network = from_row(row).map_err(crate::store_error)?;
            let mut view = render::network(
                &net,
                row.revision_number,
                subnets.remove(&net.id).unwrap_or_default(),
                ctx,
            );
            if shared_to_me.contains(&net.id) {
                view.insert("shared".into(), Value::Bool(true));
            }
            lister.offer(view);
        }
        lister.finish("Network")
    }

    /// One network.
    pub async fn network_show(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<Map<String, Value>, Error> {
        let (net, revision) = self.visible_network(ctx, id).await?;
        let subnets =
            subnets_of_network(self.db().reader(), id).await.map_err(crate::store_error)?;
        let shared = self.network_access(ctx, &net).await?.shared;
        let mut view =
            render::network(&net, revision, subnets.into_iter().map(|r| r.id).collect(), ctx);
        view.insert("shared".into(), Value::Bool(shared));
        Ok(view)
    }

    /// Changes a network.
    pub async fn network_update(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<Map<String, Value>, Error> {
        let attrs = check_body("network", ATTRS, body, Op::Update, ctx.caller())?;
        let (net, _) = self.visible_network(ctx, id).await?;
        authorize(ctx, "update_network", &Target::project(&net.project_id))?;
        let (c, subnets) = retrying!(self.network_update_once(id, &attrs, if_match))?;
        self.mech.update_network_postcommit(&c).await;
        Ok(render::network(&c.current, c.revision_number, subnets, ctx))
    }

    async fn network_update_once(
        &self,
        id: &str,
        attrs: &Map<String, Value>,
        if_match: Option<i64>,
    ) -> Result<(NetworkContext, Vec<String>), TxError> {
        let mut tx = self.db().begin().await?;
        let row =
            network_get(&mut *tx, id).await?.ok_or_else(|| Error::not_found("Network", id))?;
        check_if_match(if_match, row.revision_number)?;
        let original: Network = from_row(&row)?;
        let mut net = original.clone();
        for (key, old) in [
            ("provider:network_type", Value::String(net.network_type.clone())),
            ("provider:physical_network", serde_json::json!(net.physical_network)),
            ("provider:segmentation_id", serde_json::json!(net.segmentation_id)),
        ] {
            if attrs.get(key).is_some_and(|v| *v != old) {
                return Err(Error::invalid_input(format!(
                    "Plugin does not support updating the following provider network attributes: {key}"
                ))
                .into());
            }
        }
        let subnet_rows = subnets_of_network(&mut *tx, id).await?;
        let subnets: Vec<Subnet> = subnet_rows.iter().map(from_row).collect::<Result<_, _>>()?;
        if let Some(v) = get_str(attrs, "name") {
            net.name = v;
        }
        if let Some(v) = get_str(attrs, "description") {
            net.description = v;
        }
        if let Some(v) = get_bool(attrs, "admin_state_up") {
            net.admin_state_up = v;
        }
        if let Some(v) = get_bool(attrs, "port_security_enabled") {
            net.port_security_enabled = v;
        }
        if let Some(v) = get_bool(attrs, "router:external") {
            net.router_external = v;
        }
        if let Some(v) = get_bool(attrs, "is_default") {
            net.is_default = v;
        }
        if let Some(v) = get_str(attrs, "dns_domain") {
            net.dns_domain = v;
        }
        if let Some(v) = get_bool(attrs, "shared") {
            if original.shared && !v {
                let ports = ports_of_network(&mut *tx, id).await?;
                let foreign = ports.iter().any(|p| p.project_id != net.project_id);
                if foreign {
                    return Err(Error::conflict(
                        "InvalidSharedSetting",
                        format!("Unable to reconfigure sharing settings for network {id}. Multiple tenants are using it."),
                    )
                    .into());
                }
            }
            net.shared = v;
        }
        if let Some(mtu) = attrs.get("mtu").and_then(Value::as_i64) {
            let segment = Segment {
                network_type: net.network_type.clone(),
                physical_network: net.physical_network.clone(),
                segmentation_id: net.segmentation_id,
            };
            let max = self.types.mtu(&segment);
            let mtu = if mtu == 0 { max } else { mtu };
            if mtu > max {
                return Err(Error::invalid_input(format!(
                    "Requested MTU is too big, maximum is {max}"
                ))
                .into());
            }
            let has_v6 = subnets.iter().any(|s| s.ip_version == 6);
            if (!subnets.is_empty() && mtu < 68) || (has_v6 && mtu < 1280) {
                return Err(Error::conflict(
                    "NetworkMTUSubnetConflict",
                    format!("MTU of {id} is not compatible with subnet(s) on the network."),
                )
                .into());
            }
            net.mtu = mtu;
        }
        net.updated_at = time::now();
        let revision = row.revision_number + 1;
        let new_row = ResourceRow {
            revision_number: revision,
            body: Value::Object(to_map(&net)),
            ..row.clone()
        };
        network_update(&mut tx, &new_row, flags(&net), row.revision_number).await?;
        for (action, was, is) in [
            ("access_as_shared", original.shared, net.shared),
            ("access_as_external", original.router_external, net.router_external),
        ] {
            match (was, is) {
                (false, true) => crate::rbac::insert_wildcard(&mut tx, &net, action).await?,
                (true, false) => {
                    nt_store::rbac::rbac_delete_wildcard(&mut tx, &net.id, action).await?
                }
                _ => {}
            }
        }
        let c =
            NetworkContext { current: net, original: Some(original), revision_number: revision };
        self.mech.update_network_precommit(&mut tx, &c).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok((c, subnets.into_iter().map(|s| s.id).collect()))
    }

    /// Deletes a network, its subnets and its automatically managed ports; 409 while other
    /// ports remain.
    pub async fn network_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        let (net, _) = self.visible_network(ctx, id).await?;
        authorize(ctx, "delete_network", &Target::project(&net.project_id))?;
        let (c, subnets) = retrying!(self.network_delete_once(id, if_match))?;
        for s in &subnets {
            self.mech.delete_subnet_postcommit(s).await;
        }
        self.mech.delete_network_postcommit(&c).await;
        Ok(())
    }

    async fn network_delete_once(
        &self,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(NetworkContext, Vec<SubnetContext>), TxError> {
        let mut tx = self.db().begin().await?;
        let row =
            network_get(&mut *tx, id).await?.ok_or_else(|| Error::not_found("Network", id))?;
        check_if_match(if_match, row.revision_number)?;
        let net: Network = from_row(&row)?;
        let ports = ports_of_network(&mut *tx, id).await?;
        let mut blocking = Vec::new();
        let mut auto = Vec::new();
        for p in &ports {
            let port: Port = from_row(p)?;
            if AUTO_DELETED_OWNERS.contains(&port.device_owner.as_str()) {
                auto.push(port.id);
            } else {
                blocking.push(port.id);
            }
        }
        if !blocking.is_empty() {
            return Err(Error::conflict(
                "NetworkInUse",
                format!(
                    "Unable to complete operation on network {id}. There are one or more ports still in use \
                     on the network, id for these ports is: {}.",
                    blocking.join(",")
                ),
            )
            .into());
        }
        for port_id in &auto {
            port_delete(&mut tx, port_id).await?;
        }
        let mut subnet_ctxs = Vec::new();
        for s in subnets_of_network(&mut *tx, id).await? {
            let subnet: Subnet = from_row(&s)?;
            let c = SubnetContext {
                current: subnet,
                original: None,
                network: net.clone(),
                revision_number: s.revision_number,
            };
            self.mech.delete_subnet_precommit(&mut tx, &c).await?;
            subnet_delete(&mut tx, &s.id).await?;
            subnet_ctxs.push(c);
        }
        segment_release(&mut tx, id).await?;
        let c =
            NetworkContext { current: net, original: None, revision_number: row.revision_number };
        self.mech.delete_network_precommit(&mut tx, &c).await?;
        nt_store::rbac::rbac_delete_object(&mut tx, id).await?;
        network_delete(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok((c, subnet_ctxs))
    }
}
