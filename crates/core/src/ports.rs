//! Ports: address and MAC allocation, bindings, create, list, show, update, delete.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use rand::SeedableRng;
use serde_json::{json, Map, Value};

use nt_store::networks::network_get;
use nt_store::ports::{
    ip_allocate, ip_release, ips_of_subnet, ips_taken_among, mac_in_use, port_delete, port_get,
    port_insert, port_list_raw, port_update, PortKeys,
};
use nt_store::security_groups::port_groups_set;
use nt_store::subnets::subnets_of_network;
use nt_store::{ResourceRow, Scope, StoreError, Tx};
use nt_types::attr::{check_body, Op};
use nt_types::net::{eui64_address, ip_to_u128, u128_to_ip, Cidr, MacAddr};
use nt_types::network::Network;
use nt_types::port::{AddressPair, ExtraDhcpOpt, FixedIp, FixedIpRequest, Port, ATTRS};
use nt_types::query::ListQuery;
use nt_types::subnet::Subnet;
use nt_types::{time, Error, ErrorKind};

use crate::ml2::PortContext;
use crate::policy::{authorize, Target};
use crate::{check_if_match, from_row, ipam, render, retrying, to_map, Core, OpContext, TxError};

/// Attributes only the network's owner (or admin/service) may set on a port.
const OWNER_ONLY: &[&str] = &["mac_address", "port_security_enabled", "allowed_address_pairs"];

fn get_str(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(String::from)
}

fn get_bool(attrs: &Map<String, Value>, key: &str) -> Option<bool> {
    attrs.get(key).and_then(Value::as_bool)
}

fn keys(p: &Port) -> PortKeys<'_> {
    PortKeys {
        network_id: &p.network_id,
        mac_address: &p.mac_address,
        device_owner: &p.device_owner,
        device_id: &p.device_id,
    }
}

/// What was asked of the port's addresses.
#[derive(Debug, Clone)]
enum AddressRequest {
    /// `fixed_ips` not given: the default allocation.
    Default,
    /// Exactly these.
    Listed(Vec<FixedIpRequest>),
}

/// Which of a network's subnets a device owner may take addresses from.
fn serves(subnet: &Subnet, device_owner: &str) -> bool {
    subnet.service_types.is_empty() || subnet.service_types.iter().any(|t| t == device_owner)
}

fn allocation_failure(network_id: &str) -> Error {
    Error::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

impl Core {
    fn check_owner_only(
        &self,
        ctx: &OpContext,
        network: &Network,
        attrs: &Map<String, Value>,
        verb: &str,
    ) -> Result<(), Error> {
        if ctx.is_privileged() || network.project_id == ctx.project_id {
            return Ok(());
        }
        let target = Target::on_network(&ctx.project_id, &network.project_id, false);
        for key in OWNER_ONLY {
            if attrs.contains_key(*key) {
                authorize(ctx, &format!("{verb}_port:{key}"), &target)?;
            }
        }
        if let Some(Value::Array(ips)) = attrs.get("fixed_ips") {
            if ips.iter().any(|i| i.get("ip_address").is_some()) {
                authorize(ctx, &format!("{verb}_port:fixed_ips:ip_address"), &target)?;
            }
        }
        if get_str(attrs, "device_owner").is_some_and(|o| o.starts_with("network:")) {
            authorize(ctx, &format!("{verb}_port:device_owner"), &target)?;
        }
        Ok(())
    }

    /// The security groups a port gets: those asked for (checked), or else the project's
    /// default group when port security is on and the port is not a `network:*` port.
    async fn port_groups(
        &self,
        ctx: &OpContext,
        port: &Port,
        asked: Option<&Value>,
    ) -> Result<Vec<String>, Error> {
        match asked {
            Some(Value::Array(list)) => {
                let ids: Vec<String> =
                    list.iter().filter_map(Value::as_str).map(String::from).collect();
                if !ids.is_empty() && !port.port_security_enabled {
                    return Err(Error::new(
                        ErrorKind::BadRequest,
                        "PortSecurityAndIPRequiredForSecurityGroups",
                        "Port security must be enabled and port must have an IP address in order to use security groups.",
                    ));
                }
                self.port_groups_check(ctx, &port.project_id, &ids).await
            }
            _ if port.port_security_enabled && !port.device_owner.starts_with("network:") => {
                Ok(vec![self.security_group_default(&port.project_id).await?])
            }
            _ => Ok(vec![]),
        }
    }

    /// A non-admin may not attach a port to another project's router by naming it as the
    /// device of a router port (upstream: `DeviceIDNotOwnedByTenant`).
    async fn check_device_id(
        &self,
        ctx: &OpContext,
        device_owner: &str,
        device_id: &str,
    ) -> Result<(), Error> {
        if ctx.is_privileged()
            || device_id.is_empty()
            || !device_owner.starts_with("network:router")
        {
            return Ok(());
        }
        let router = nt_store::routers::router_get(self.db().reader(), device_id)
            .await
            .map_err(crate::store_error)?;
        match router {
            Some(r) if r.project_id != ctx.project_id => Err(Error::conflict(
                "DeviceIDNotOwnedByTenant",
                format!(
                    "The following device_id {device_id} is not owned by your project or matches \
                     another projects router."
                ),
            )),
            _ => Ok(()),
        }
    }

    fn apply_binding(&self, port: &mut Port, network: &Network) {
        if port.binding_host_id.is_empty() {
            port.binding_vif_type = "unbound".into();
            port.binding_vif_details = json!({});
            return;
        }
        match self.mech.bind_port(port, network) {
            Some(b) => {
                port.binding_vif_type = b.vif_type;
                port.binding_vif_details = b.vif_details;
            }
            None => {
                port.binding_vif_type = "binding_failed".into();
                port.binding_vif_details = json!({});
            }
        }
    }

    fn check_address_pairs(&self, port: &Port) -> Result<(), Error> {
        if !port.allowed_address_pairs.is_empty() && !port.port_security_enabled {
            return Err(Error::conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        if port.allowed_address_pairs.len() > self.config().max_allowed_address_pair {
            return Err(Error::new(
                ErrorKind::BadRequest,
                "AllowedAddressPairExhausted",
                format!(
                    "The number of allowed address pair exceeds the maximum {}.",
                    self.config().max_allowed_address_pair
                ),
            ));
        }
        Ok(())
    }

    fn parse_new_port(
        &self,
        ctx: &OpContext,
        attrs: &Map<String, Value>,
        network: &Network,
    ) -> Result<(Port, AddressRequest, bool), Error> {
        let port_security_enabled =
            get_bool(attrs, "port_security_enabled").unwrap_or(network.port_security_enabled);
        let explicit_mac = attrs.get("mac_address").is_some_and(|v| !v.is_null());
        let now = time::now();
        let mut port = Port {
            id: uuid::Uuid::new_v4().to_string(),
            name: get_str(attrs, "name").unwrap_or_default(),
            description: get_str(attrs, "description").unwrap_or_default(),
            network_id: network.id.clone(),
            project_id: get_str(attrs, "project_id").unwrap_or_else(|| ctx.project_id.clone()),
            admin_state_up: get_bool(attrs, "admin_state_up").unwrap_or(true),
            mac_address: get_str(attrs, "mac_address").unwrap_or_default(),
            fixed_ips: vec![],
            device_id: get_str(attrs, "device_id").unwrap_or_default(),
            device_owner: get_str(attrs, "device_owner").unwrap_or_default(),
            status: "DOWN".into(),
            security_groups: vec![],
            port_security_enabled,
            allowed_address_pairs: vec![],
            extra_dhcp_opts: attrs
                .get("extra_dhcp_opts")
                .and_then(|v| serde_json::from_value::<Vec<ExtraDhcpOpt>>(v.clone()).ok())
                .unwrap_or_default(),
            binding_host_id: get_str(attrs, "binding:host_id").unwrap_or_default(),
            binding_profile: attrs.get("binding:profile").cloned().unwrap_or_else(|| json!({})),
            binding_vnic_type: get_str(attrs, "binding:vnic_type")
                .unwrap_or_else(|| "normal".into()),
            binding_vif_type: String::new(),
            binding_vif_details: json!({}),
            dns_name: get_str(attrs, "dns_name").unwrap_or_default(),
            dns_domain: get_str(attrs, "dns_domain").unwrap_or_default(),
            propagate_uplink_status: get_bool(attrs, "propagate_uplink_status").unwrap_or(true),
            tags: vec![],
            created_at: now.clone(),
            updated_at: now,
        };
        port.allowed_address_pairs =
            address_pairs(attrs.get("allowed_address_pairs"), &port.mac_address);
        if port_security_enabled && attrs.get("allowed_address_pairs").is_none() {
            port.allowed_address_pairs = vec![];
        }
        self.check_address_pairs(&port)?;
        self.apply_binding(&mut port, network);
        let request = match attrs.get("fixed_ips") {
            None => AddressRequest::Default,
            Some(v) => AddressRequest::Listed(FixedIpRequest::list_from(v)),
        };
        Ok((port, request, explicit_mac))
    }

    /// Creates ports, all or none.
    pub async fn port_create(
        &self,
        ctx: &OpContext,
        bodies: &[Value],
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let mut items = Vec::with_capacity(bodies.len());
        for body in bodies {
            let attrs = check_body("port", ATTRS, body, Op::Create, ctx.caller())?;
            let network_id = get_str(&attrs, "network_id").unwrap_or_default();
            let (network, _) = self.visible_network(ctx, &network_id).await?;
            let shared = self.network_access(ctx, &network).await?.shared;
            let target = Target::on_network(&ctx.project_id, &network.project_id, shared);
            authorize(ctx, "create_port", &target)?;
            self.check_owner_only(ctx, &network, &attrs, "create")?;
            let (mut port, request, explicit_mac) = self.parse_new_port(ctx, &attrs, &network)?;
            port.security_groups =
                self.port_groups(ctx, &port, attrs.get("security_groups")).await?;
            self.check_device_id(ctx, &port.device_owner, &port.device_id).await?;
            items.push((port, request, explicit_mac, network));
        }
        let created = retrying!(self.port_create_once(&items))?;
        let mut views = Vec::with_capacity(created.len());
        for c in &created {
            self.mech.create_port_postcommit(c).await;
            views.push(render::port(&c.current, c.revision_number, ctx));
        }
        Ok(views)
    }

    async fn port_create_once(
        &self,
        items: &[(Port, AddressRequest, bool, Network)],
    ) -> Result<Vec<PortContext>, TxError> {
        let mut tx = self.db().begin().await?;
        let mut done = Vec::with_capacity(items.len());
        let mut rng = rand::rngs::StdRng::from_entropy();
        for (template, request, explicit_mac, network) in items {
            let mut port = template.clone();
            if *explicit_mac {
                check_mac_free(&mut tx, &port.network_id, &port.mac_address, None).await?;
            } else {
                port.mac_address = MacAddr::random_with_base(&self.base_mac, &mut rng).to_string();
            }
            for pair in port.allowed_address_pairs.iter_mut().filter(|p| p.mac_address.is_empty()) {
                pair.mac_address = port.mac_address.clone();
            }
            let subnets = load_subnets(&mut tx, &port.network_id).await?;
            port.fixed_ips = allocate(&mut tx, &port, request, &subnets, &[]).await?;
            let row = ResourceRow {
                id: port.id.clone(),
                project_id: port.project_id.clone(),
                revision_number: 0,
                body: Value::Object(to_map(&port)),
            };
            self.quota_check(&mut tx, &port.project_id, "port", 1).await?;
            port_insert(&mut tx, &row, keys(&port)).await?;
            port_groups_set(&mut tx, &port.id, &port.security_groups).await?;
            for ip in &port.fixed_ips {
                ip_allocate(&mut tx, &port.network_id, &ip.subnet_id, &ip.ip_address, &port.id)
                    .await?;
            }
            let c = PortContext {
                current: port,
                original: None,
                network: network.clone(),
                revision_number: 0,
            };
            self.mech.create_port_precommit(&mut tx, &c).await?;
            done.push(c);
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(done)
    }

    async fn visible_port(&self, ctx: &OpContext, id: &str) -> Result<(Port, i64, Network), Error> {
        let not_found = || Error::not_found("Port", id);
        let row = port_get(self.db().reader(), id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let port: Port = from_row(&row).map_err(crate::store_error)?;
        let net_row = network_get(self.db().reader(), &port.network_id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let network: Network = from_row(&net_row).map_err(crate::store_error)?;
        if !(ctx.is_privileged()
            || port.project_id == ctx.project_id
            || network.project_id == ctx.project_id)
        {
            return Err(not_found());
        }
        Ok((port, row.revision_number, network))
    }

    /// Ports visible to `ctx` that match `query`, one page.
    pub async fn port_list(
        &self,
        ctx: &OpContext,
        query: &ListQuery,
        sink: &mut crate::ViewSink<'_>,
    ) -> Result<(), Error> {
        let scope = if ctx.is_privileged() { Scope::All } else { Scope::Project(&ctx.project_id) };
        // The network filter is the common one (`port list --network`): let the index do it.
        let networks: Option<Vec<String>> = query
            .filter_values("network_id")
            .map(|v| v.iter().filter_map(Value::as_str).map(String::from).collect());
        let rows = port_list_raw(self.db().reader(), scope, networks.as_deref())
            .await
            .map_err(crate::store_error)?;
        let ip_filters = parse_fixed_ip_filters(&query.special)?;
        let mut lister = crate::Lister::new(query, sink);
        for row in rows {
            let port: Port = serde_json::from_str(&row.body)
                .map_err(|e| Error::internal(format!("stored port is not valid: {e}")))?;
            if !ip_filters.matches(&port) {
                continue;
            }
            lister.offer(render::port(&port, row.revision_number, ctx));
        }
        lister.finish("Port")
    }

    /// One port.
    pub async fn port_show(&self, ctx: &OpContext, id: &str) -> Result<Map<String, Value>, Error> {
        let (port, revision, _) = self.visible_port(ctx, id).await?;
        Ok(render::port(&port, revision, ctx))
    }

    /// Changes a port.
    pub async fn port_update(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<Map<String, Value>, Error> {
        let attrs = check_body("port", ATTRS, body, Op::Update, ctx.caller())?;
        let (port, _, network) = self.visible_port(ctx, id).await?;
        authorize(ctx, "update_port", &Target::project(&port.project_id))?;
        self.check_owner_only(ctx, &network, &attrs, "update")?;
        if attrs.contains_key("device_owner") || attrs.contains_key("device_id") {
            let owner =
                get_str(&attrs, "device_owner").unwrap_or_else(|| port.device_owner.clone());
            let device = get_str(&attrs, "device_id").unwrap_or_else(|| port.device_id.clone());
            self.check_device_id(ctx, &owner, &device).await?;
        }
        let groups = match attrs.get("security_groups") {
            Some(v) => Some(self.port_groups(ctx, &port, Some(v)).await?),
            None => None,
        };
        let c =
            retrying!(self.port_update_once(id, &attrs, if_match, &network, groups.as_deref()))?;
        self.mech.update_port_postcommit(&c).await;
        Ok(render::port(&c.current, c.revision_number, ctx))
    }

    async fn port_update_once(
        &self,
        id: &str,
        attrs: &Map<String, Value>,
        if_match: Option<i64>,
        network: &Network,
        groups: Option<&[String]>,
    ) -> Result<PortContext, TxError> {
        let mut tx = self.db().begin().await?;
        let row = port_get(&mut *tx, id).await?.ok_or_else(|| Error::not_found("Port", id))?;
        check_if_match(if_match, row.revision_number)?;
        let original: Port = from_row(&row)?;
        let mut port = original.clone();
        if let Some(v) = get_str(attrs, "name") {
            port.name = v;
        }
        if let Some(v) = get_str(attrs, "description") {
            port.description = v;
        }
        if let Some(v) = get_bool(attrs, "admin_state_up") {
            port.admin_state_up = v;
        }
        if let Some(v) = get_str(attrs, "device_id") {
            port.device_id = v;
        }
        if let Some(v) = get_str(attrs, "device_owner") {
            port.device_owner = v;
        }
        if let Some(v) = get_bool(attrs, "port_security_enabled") {
            port.port_security_enabled = v;
        }
        if let Some(groups) = groups {
            port.security_groups = groups.to_vec();
        }
        if !port.port_security_enabled && !port.security_groups.is_empty() {
            if groups.is_some_and(|g| !g.is_empty()) {
                return Err(Error::new(
                    ErrorKind::BadRequest,
                    "PortSecurityAndIPRequiredForSecurityGroups",
                    "Port security must be enabled and port must have an IP address in order to use security groups.",
                )
                .into());
            }
            return Err(Error::conflict(
                "PortSecurityPortHasSecurityGroup",
                "Port has security group associated. Cannot disable port security or IP address until security group is removed.",
            )
            .into());
        }
        if let Some(v) = attrs.get("extra_dhcp_opts") {
            port.extra_dhcp_opts = serde_json::from_value(v.clone()).unwrap_or_default();
        }
        if let Some(v) = attrs.get("binding:profile") {
            port.binding_profile = v.clone();
        }
        if let Some(v) = get_str(attrs, "binding:vnic_type") {
            port.binding_vnic_type = v;
        }
        if let Some(v) = get_str(attrs, "dns_name") {
            port.dns_name = v;
        }
        if let Some(v) = get_str(attrs, "dns_domain") {
            port.dns_domain = v;
        }
        if let Some(v) = get_bool(attrs, "propagate_uplink_status") {
            port.propagate_uplink_status = v;
        }
        if let Some(mac) = attrs.get("mac_address") {
            let new_mac = match mac.as_str() {
                Some(m) => m.to_string(),
                None => {
                    MacAddr::random_with_base(&self.base_mac, &mut rand::thread_rng()).to_string()
                }
            };
            if new_mac != original.mac_address {
                if !original.binding_host_id.is_empty() {
                    return Err(Error::conflict("PortBound", format!(
                        "Unable to complete operation on port {id}, port is already bound, port type: {}, old_mac {}, new_mac {new_mac}.",
                        original.binding_vif_type, original.mac_address
                    )).into());
                }
                if original.device_owner.starts_with("network:") {
                    return Err(Error::conflict("UnsupportedPortDeviceOwner", format!(
                        "Operation mac_address update is not supported for port {id} with device owner {}.",
                        original.device_owner
                    )).into());
                }
                check_mac_free(&mut tx, &port.network_id, &new_mac, Some(id)).await?;
                port.mac_address = new_mac;
            }
        }
        if attrs.contains_key("allowed_address_pairs") {
            port.allowed_address_pairs =
                address_pairs(attrs.get("allowed_address_pairs"), &port.mac_address);
        }
        self.check_address_pairs(&port)?;
        if let Some(v) = get_str(attrs, "binding:host_id") {
            port.binding_host_id = v;
        }
        if attrs.contains_key("binding:host_id") || attrs.contains_key("binding:vnic_type") {
            self.apply_binding(&mut port, network);
        }
        if let Some(v) = attrs.get("fixed_ips") {
            let request = AddressRequest::Listed(FixedIpRequest::list_from(v));
            let subnets = load_subnets(&mut tx, &port.network_id).await?;
            let new_ips = allocate(&mut tx, &port, &request, &subnets, &original.fixed_ips).await?;
            for old in &original.fixed_ips {
                if !new_ips.contains(old) {
                    ip_release(&mut tx, &port.network_id, &old.ip_address).await?;
                }
            }
            for new in &new_ips {
                if !original.fixed_ips.contains(new) {
                    ip_allocate(&mut tx, &port.network_id, &new.subnet_id, &new.ip_address, id)
                        .await?;
                }
            }
            port.fixed_ips = new_ips;
        }
        port.updated_at = time::now();
        let revision = row.revision_number + 1;
        let new_row = ResourceRow {
            revision_number: revision,
            body: Value::Object(to_map(&port)),
            ..row.clone()
        };
        port_update(&mut tx, &new_row, keys(&port), row.revision_number).await?;
        if port.security_groups != original.security_groups {
            port_groups_set(&mut tx, &port.id, &port.security_groups).await?;
        }
        let c = PortContext {
            current: port,
            original: Some(original),
            network: network.clone(),
            revision_number: revision,
        };
        self.mech.update_port_precommit(&mut tx, &c).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(c)
    }

    /// Deletes a port and releases its addresses.
    pub async fn port_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        let (port, _, network) = self.visible_port(ctx, id).await?;
        let target = Target::on_network(&port.project_id, &network.project_id, false);
        authorize(ctx, "delete_port", &target)?;
        let protected =
            ["compute:", "baremetal:", "manila:"].iter().any(|p| port.device_owner.starts_with(p));
        if protected {
            authorize(ctx, "delete_port:device_owner:compute", &target)?;
        }
        self.check_service_port_delete(&port).await?;
        let fips = self.floatingips_on_port(id).await;
        let c = retrying!(self.port_delete_once(id, if_match, &network))?;
        self.mech.delete_port_postcommit(&c).await;
        self.floatingips_changed(fips).await;
        Ok(())
    }

    async fn port_delete_once(
        &self,
        id: &str,
        if_match: Option<i64>,
        network: &Network,
    ) -> Result<PortContext, TxError> {
        let mut tx = self.db().begin().await?;
        let row = port_get(&mut *tx, id).await?.ok_or_else(|| Error::not_found("Port", id))?;
        check_if_match(if_match, row.revision_number)?;
        let port: Port = from_row(&row)?;
        let c = PortContext {
            current: port,
            original: None,
            network: network.clone(),
            revision_number: row.revision_number,
        };
        self.mech.delete_port_precommit(&mut tx, &c).await?;
        self.floatingips_disassociate_port(&mut tx, id).await?;
        port_delete(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(c)
    }
}

impl Core {
    /// Sets a port's `status` (`ACTIVE`, `DOWN`) as reported by the backend, bumping its
    /// revision; returns false when it already had that status or is gone. No policy: only
    /// backend watchers call this.
    pub async fn port_status_set(&self, id: &str, status: &str) -> Result<bool, Error> {
        // Most reports repeat what is stored (every replica re-sync reports every port): answer
        // those from a read instead of queueing for the write connection.
        let current = port_get(self.db().reader(), id).await.map_err(crate::store_error)?;
        let same = current
            .as_ref()
            .is_none_or(|r| r.body.get("status").and_then(Value::as_str) == Some(status));
        if same {
            return Ok(false);
        }
        let changed = retrying!(self.port_status_set_once(id, status))?;
        if let Some(c) = &changed {
            self.mech.update_port_postcommit(c).await;
        }
        Ok(changed.is_some())
    }

    async fn port_status_set_once(
        &self,
        id: &str,
        status: &str,
    ) -> Result<Option<PortContext>, TxError> {
        let mut tx = self.db().begin().await?;
        let Some(row) = port_get(&mut *tx, id).await? else { return Ok(None) };
        let original: Port = from_row(&row)?;
        if original.status == status {
            return Ok(None);
        }
        let net_row = network_get(&mut *tx, &original.network_id)
            .await?
            .ok_or_else(|| Error::not_found("Network", &original.network_id))?;
        let network: Network = from_row(&net_row)?;
        let mut port = original.clone();
        port.status = status.to_string();
        port.updated_at = time::now();
        let revision = row.revision_number + 1;
        let new_row = ResourceRow {
            revision_number: revision,
            body: Value::Object(to_map(&port)),
            ..row.clone()
        };
        port_update(&mut tx, &new_row, keys(&port), row.revision_number).await?;
        let c = PortContext {
            current: port,
            original: Some(original),
            network,
            revision_number: revision,
        };
        self.mech.update_port_precommit(&mut tx, &c).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some(c))
    }
}

fn address_pairs(v: Option<&Value>, own_mac: &str) -> Vec<AddressPair> {
    v.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| AddressPair {
                    ip_address: i["ip_address"].as_str().unwrap_or_default().to_string(),
                    mac_address: i
                        .get("mac_address")
                        .and_then(Value::as_str)
                        .unwrap_or(own_mac)
                        .to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn check_mac_free(
    tx: &mut Tx,
    network_id: &str,
    mac: &str,
    except_port: Option<&str>,
) -> Result<(), TxError> {
    if mac_in_use(&mut **tx, network_id, mac, except_port).await? {
        return Err(Error::conflict(
            "MacAddressInUse",
            format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
        )
        .into());
    }
    Ok(())
}

async fn load_subnets(tx: &mut Tx, network_id: &str) -> Result<Vec<Subnet>, TxError> {
    let rows = subnets_of_network(&mut **tx, network_id).await?;
    let mut subnets: Vec<Subnet> = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    // Creation order is the order upstream tries subnets in.
    subnets.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(subnets)
}

/// How many random addresses of the first pool are probed before a full scan.
const PROBES: u128 = 32;

/// Picks a free address on `subnet`. Common case: a batch of random addresses from the first
/// pool is checked with one indexed lookup and a free one taken, so the cost does not grow with
/// the number of ports. When the probe finds nothing free (a nearly full pool), or the lowest
/// free address is wanted (DHCP and metadata ports), the allocated addresses are read and the
/// pools walked in order, as upstream's IPAM does. `exclude` are addresses this request already
/// took.
async fn pick_address(
    tx: &mut Tx,
    network_id: &str,
    subnet: &Subnet,
    lowest: bool,
    exclude: &[String],
    rng: &mut (impl rand::Rng + Send),
) -> Result<Option<IpAddr>, TxError> {
    let pools = ipam::pool_ranges(&subnet.allocation_pools);
    if let (false, Some(&(start, end))) = (lowest, pools.first()) {
        let size = end - start + 1;
        let mut candidates: Vec<String> = (0..PROBES.min(size))
            .map(|_| u128_to_ip(subnet.ip_version, start + rng.gen_range(0..size)).to_string())
            .filter(|c| !exclude.contains(c))
            .collect();
        candidates.sort();
        candidates.dedup();
        let taken = ips_taken_among(&mut **tx, network_id, &candidates).await?;
        let free: Vec<&String> = candidates.iter().filter(|c| !taken.contains(c)).collect();
        if !free.is_empty() {
            return Ok(free[rng.gen_range(0..free.len())].parse().ok());
        }
    }
    let mut taken = taken_on(tx, &subnet.id).await?;
    taken.extend(exclude.iter().filter_map(|f| f.parse::<IpAddr>().ok()).map(ip_to_u128));
    Ok(ipam::choose_free(subnet.ip_version, &pools, &taken, lowest, rng))
}

async fn taken_on(tx: &mut Tx, subnet_id: &str) -> Result<HashSet<u128>, TxError> {
    Ok(ips_of_subnet(&mut **tx, subnet_id)
        .await?
        .iter()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .map(ip_to_u128)
        .collect())
}

/// Works out the port's addresses: `keep` are its current ones (on update), which stay when
/// named again.
async fn allocate(
    tx: &mut Tx,
    port: &Port,
    request: &AddressRequest,
    subnets: &[Subnet],
    keep: &[FixedIp],
) -> Result<Vec<FixedIp>, TxError> {
    let lowest = matches!(port.device_owner.as_str(), "network:dhcp" | "network:distributed");
    let mac: MacAddr = port.mac_address.parse().map_err(Error::internal)?;
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut out: Vec<FixedIp> = Vec::new();
    match request {
        AddressRequest::Default => {
            let mut got_v4 = false;
            let mut got_v6_stateful = false;
            for subnet in subnets.iter().filter(|s| serves(s, &port.device_owner)) {
                if subnet.is_auto_address() {
                    if !port.device_owner.starts_with("network:router") {
                        out.push(FixedIp {
                            subnet_id: subnet.id.clone(),
                            ip_address: eui64_address(&subnet.cidr(), &mac).to_string(),
                        });
                    }
                    continue;
                }
                if (subnet.ip_version == 4 && got_v4) || (subnet.ip_version == 6 && got_v6_stateful)
                {
                    continue;
                }
                if let Some(ip) =
                    pick_address(tx, &port.network_id, subnet, lowest, &[], &mut rng).await?
                {
                    out.push(FixedIp { subnet_id: subnet.id.clone(), ip_address: ip.to_string() });
                    if subnet.ip_version == 4 {
                        got_v4 = true;
                    } else {
                        got_v6_stateful = true;
                    }
                }
            }
            let wanted_v4 =
                subnets.iter().any(|s| s.ip_version == 4 && serves(s, &port.device_owner));
            if wanted_v4 && !got_v4 {
                return Err(allocation_failure(&port.network_id).into());
            }
        }
        AddressRequest::Listed(list) => {
            if !list.is_empty() && subnets.is_empty() {
                return Err(Error::bad_request(format!(
                    "Invalid input for operation: Failed to create port on network {}, because fixed_ips included invalid subnet.",
                    port.network_id
                ))
                .into());
            }
            let by_id: HashMap<&str, &Subnet> =
                subnets.iter().map(|s| (s.id.as_str(), s)).collect();
            for req in list {
                let subnet = match (&req.subnet_id, &req.ip_address) {
                    (Some(sid), _) => *by_id.get(sid.as_str()).ok_or_else(|| {
                        Error::bad_request(format!(
                            "Invalid input for operation: Failed to create port on network {}, because fixed_ips included invalid subnet {sid}.",
                            port.network_id
                        ))
                    })?,
                    (None, Some(ip)) => {
                        let addr: IpAddr = ip.parse().map_err(|_| Error::invalid_attr("fixed_ips", format!("'{ip}' is not a valid IP address")))?;
                        subnets.iter().find(|s| s.cidr().contains(&addr)).ok_or_else(|| {
                            Error::new(ErrorKind::BadRequest, "InvalidIpForNetwork", format!(
                                "IP address {ip} is not a valid IP for any of the subnets on the specified network."
                            ))
                        })?
                    }
                    (None, None) => {
                        return Err(Error::bad_request("fixed_ips entry needs subnet_id or ip_address").into())
                    }
                };
                let fixed = match &req.ip_address {
                    Some(ip) => {
                        let addr: IpAddr = ip.parse().map_err(|_| {
                            Error::invalid_attr(
                                "fixed_ips",
                                format!("'{ip}' is not a valid IP address"),
                            )
                        })?;
                        check_ip_on_subnet(subnet, &addr, &port.device_owner)?;
                        let fixed =
                            FixedIp { subnet_id: subnet.id.clone(), ip_address: addr.to_string() };
                        let single = std::slice::from_ref(&fixed.ip_address);
                        if !keep.contains(&fixed)
                            && !ips_taken_among(&mut **tx, &port.network_id, single)
                                .await?
                                .is_empty()
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
                        fixed
                    }
                    None => {
                        if let Some(existing) =
                            keep.iter().find(|k| k.subnet_id == subnet.id && !out.contains(k))
                        {
                            existing.clone()
                        } else if subnet.is_auto_address() {
                            FixedIp {
                                subnet_id: subnet.id.clone(),
                                ip_address: eui64_address(&subnet.cidr(), &mac).to_string(),
                            }
                        } else {
                            let exclude: Vec<String> =
                                out.iter().map(|f| f.ip_address.clone()).collect();
                            let ip = pick_address(
                                tx,
                                &port.network_id,
                                subnet,
                                lowest,
                                &exclude,
                                &mut rng,
                            )
                            .await?
                            .ok_or_else(|| allocation_failure(&port.network_id))?;
                            FixedIp { subnet_id: subnet.id.clone(), ip_address: ip.to_string() }
                        }
                    }
                };
                if out.iter().any(|f| f.ip_address == fixed.ip_address) {
                    return Err(Error::bad_request(format!(
                        "Duplicate IP address '{}' in fixed_ips",
                        fixed.ip_address
                    ))
                    .into());
                }
                out.push(fixed);
            }
        }
    }
    Ok(out)
}

fn check_ip_on_subnet(subnet: &Subnet, ip: &IpAddr, device_owner: &str) -> Result<(), Error> {
    let cidr: Cidr = subnet.cidr();
    let invalid = || {
        Error::new(
            ErrorKind::BadRequest,
            "InvalidIpForSubnet",
            format!("IP address {ip} is not a valid IP for the specified subnet."),
        )
    };
    if !cidr.contains(ip) {
        return Err(invalid());
    }
    let is_network = *ip == cidr.network();
    let is_broadcast = subnet.ip_version == 4 && *ip == cidr.last();
    if subnet.ip_version == 4 && cidr.prefix_len() < 31 && (is_network || is_broadcast) {
        return Err(invalid());
    }
    if subnet.ip_version == 6 && is_network && !device_owner.starts_with("network:router") {
        return Err(invalid());
    }
    Ok(())
}

/// Port list filters on `fixed_ips=ip_address=…`, `subnet_id=…`, `ip_address_substr=…`.
#[derive(Debug, Default)]
struct FixedIpFilters {
    ip_address: Vec<String>,
    subnet_id: Vec<String>,
    substr: Vec<String>,
}

impl FixedIpFilters {
    fn matches(&self, port: &Port) -> bool {
        if self.ip_address.is_empty() && self.subnet_id.is_empty() && self.substr.is_empty() {
            return true;
        }
        port.fixed_ips.iter().any(|f| {
            (self.ip_address.is_empty() || self.ip_address.contains(&f.ip_address))
                && (self.subnet_id.is_empty() || self.subnet_id.contains(&f.subnet_id))
                && (self.substr.is_empty()
                    || self.substr.iter().any(|s| f.ip_address.contains(s.as_str())))
        })
    }
}

fn parse_fixed_ip_filters(special: &[(String, String)]) -> Result<FixedIpFilters, Error> {
    let mut f = FixedIpFilters::default();
    for (key, value) in special.iter().filter(|(k, _)| k == "fixed_ips") {
        let (k, v) = value.split_once('=').ok_or_else(|| {
            Error::bad_request(format!("Invalid fixed_ips filter '{value}': use key=value"))
        })?;
        match k {
            "ip_address" => f.ip_address.push(v.to_string()),
            "subnet_id" => f.subnet_id.push(v.to_string()),
            "ip_address_substr" => f.substr.push(v.to_string()),
            _ => {
                return Err(Error::bad_request(format!(
                    "[\'{key}\'] is invalid attribute for filtering"
                )))
            }
        }
    }
    Ok(f)
}
