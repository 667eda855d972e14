//! Subnets: validation of prefixes, gateways, pools, DNS and routes; create, list, show,
//! update, delete.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

use nt_store::networks::{network_get, network_list, network_update, NetworkFlags};
use nt_store::ports::{ip_release, port_get, port_update, ports_on_subnet, PortKeys};
use nt_store::subnets::{
    subnet_delete, subnet_get, subnet_insert, subnet_list, subnet_update, subnets_of_network,
};
use nt_store::{ResourceRow, Scope, StoreError, Tx};
use nt_types::attr::{check_body, Op};
use nt_types::net::{ip_version, Cidr};
use nt_types::network::Network;
use nt_types::port::Port;
use nt_types::query::ListQuery;
use nt_types::subnet::{AllocationPool, HostRoute, Subnet, ATTRS};
use nt_types::{time, Error, ErrorKind};

use crate::ml2::SubnetContext;
use crate::networks::{can_read, AUTO_DELETED_OWNERS};
use crate::policy::{authorize, Target};
use crate::{check_if_match, from_row, ipam, render, retrying, to_map, Core, OpContext, TxError};

fn get_str(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(String::from)
}

fn typed<T: serde::de::DeserializeOwned>(attrs: &Map<String, Value>, key: &str) -> Option<T> {
    attrs.get(key).and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// Bumps a network's revision inside `tx` (subnet changes count as network changes).
pub(crate) async fn bump_network(tx: &mut Tx, network_id: &str) -> Result<(), TxError> {
    let row = network_get(&mut **tx, network_id)
        .await?
        .ok_or_else(|| Error::not_found("Network", network_id))?;
    let net: Network = from_row(&row)?;
    let mut new_row = row.clone();
    new_row.revision_number += 1;
    if let Value::Object(body) = &mut new_row.body {
        body.insert("updated_at".into(), Value::String(time::now()));
    }
    let flags = NetworkFlags { shared: net.shared, external: net.router_external };
    network_update(tx, &new_row, flags, row.revision_number).await?;
    Ok(())
}

/// Removes the port's addresses on `subnet_id`, bumping the port's revision.
pub(crate) async fn strip_subnet_from_port(
    tx: &mut Tx,
    port_id: &str,
    subnet_id: &str,
) -> Result<(), TxError> {
    let Some(row) = port_get(&mut **tx, port_id).await? else { return Ok(()) };
    let mut port: Port = from_row(&row)?;
    for ip in port.fixed_ips.iter().filter(|ip| ip.subnet_id == subnet_id) {
        ip_release(tx, &port.network_id, &ip.ip_address).await?;
    }
    port.fixed_ips.retain(|ip| ip.subnet_id != subnet_id);
    port.updated_at = time::now();
    let new_row = ResourceRow {
        revision_number: row.revision_number + 1,
        body: Value::Object(to_map(&port)),
        ..row.clone()
    };
    let keys = PortKeys {
        network_id: &port.network_id,
        mac_address: &port.mac_address,
        device_owner: &port.device_owner,
        device_id: &port.device_id,
    };
    port_update(tx, &new_row, keys, row.revision_number).await?;
    Ok(())
}

fn check_version(attr: &str, ip: &IpAddr, version: u8) -> Result<(), Error> {
    if ip_version(ip) != version {
        return Err(Error::invalid_input(format!(
            "{attr} {ip} does not match the subnet's IP version {version}"
        )));
    }
    Ok(())
}

impl Core {
    /// Checks the attributes of a subnet that depend on each other.
    fn validate_subnet(&self, s: &Subnet) -> Result<(), Error> {
        let cidr = s.cidr();
        let v = s.ip_version;
        if cidr.version() != v {
            return Err(Error::invalid_input(format!(
                "Cannot use CIDR {cidr} with IP version {v}"
            )));
        }
        if v == 6 && cidr.network() == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED) {
            return Err(Error::invalid_input(format!("{cidr} is not a valid prefix for a subnet")));
        }
        let net = cidr.network();
        let reserved = match net {
            IpAddr::V4(a) => a.is_multicast() || a.is_loopback() || a.octets()[0] == 0,
            IpAddr::V6(a) => a.is_multicast() || a.is_loopback(),
        };
        if s.enable_dhcp && reserved {
            return Err(Error::invalid_input(format!(
                "{cidr} is not a valid unicast subnet for DHCP"
            )));
        }
        if s.enable_dhcp
            && ((v == 4 && cidr.prefix_len() > 30) || (v == 6 && cidr.prefix_len() > 126))
        {
            return Err(Error::invalid_input(format!(
                "The CIDR {cidr} is too small for DHCP: the prefix is too long"
            )));
        }
        if v == 4 && (s.ipv6_ra_mode.is_some() || s.ipv6_address_mode.is_some()) {
            return Err(Error::invalid_input("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False or ip_version is 4"));
        }
        if let (Some(ra), Some(addr)) = (&s.ipv6_ra_mode, &s.ipv6_address_mode) {
            if ra != addr {
                return Err(Error::invalid_input(format!(
                    "ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{addr}' is not valid. If both attributes are set, they must be the same value"
                )));
            }
        }
        if !s.enable_dhcp && (s.ipv6_ra_mode.is_some() || s.ipv6_address_mode.is_some()) {
            return Err(Error::invalid_input(
                "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False",
            ));
        }
        let auto = |m: &Option<String>| matches!(m.as_deref(), Some("slaac" | "dhcpv6-stateless"));
        if (auto(&s.ipv6_ra_mode) || auto(&s.ipv6_address_mode)) && cidr.prefix_len() != 64 {
            return Err(Error::invalid_input(format!(
                "Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
            )));
        }
        let gateway = match &s.gateway_ip {
            Some(g) => {
                let ip: IpAddr = g.parse().map_err(|_| {
                    Error::invalid_attr("gateway_ip", format!("'{g}' is not a valid IP address"))
                })?;
                check_version("gateway_ip", &ip, v)?;
                if v == 4
                    && cidr.prefix_len() < 31
                    && cidr.contains(&ip)
                    && (ip == cidr.network() || ip == cidr.last())
                {
                    return Err(Error::new(
                        ErrorKind::BadRequest,
                        "InvalidInput",
                        format!(
                            "Invalid input for operation: Gateway is not valid on subnet {cidr}."
                        ),
                    ));
                }
                Some(ip)
            }
            None => None,
        };
        ipam::validate_pools(&cidr, &s.allocation_pools, gateway)?;
        if s.dns_nameservers.len() > self.config().max_dns_nameservers {
            return Err(Error::new(ErrorKind::BadRequest, "DNSNameServersExhausted", format!(
                "Unable to complete operation for {}. The number of DNS nameservers exceeds the limit {}.",
                s.id, self.config().max_dns_nameservers
            )));
        }
        for d in &s.dns_nameservers {
            let ip: IpAddr = d
                .parse()
                .map_err(|_| Error::invalid_input(format!("{d} is not a valid nameserver")))?;
            check_version("dns_nameserver", &ip, v)?;
        }
        if s.host_routes.len() > self.config().max_subnet_host_routes {
            return Err(Error::new(ErrorKind::BadRequest, "HostRoutesExhausted", format!(
                "Unable to complete operation for {}. The number of host routes exceeds the limit {}.",
                s.id, self.config().max_subnet_host_routes
            )));
        }
        for r in &s.host_routes {
            let dest = Cidr::parse(&r.destination).map_err(Error::invalid_input)?;
            let hop: IpAddr = r.nexthop.parse().map_err(|_| {
                Error::invalid_input(format!("{} is not a valid nexthop", r.nexthop))
            })?;
            if dest.version() != v {
                return Err(Error::invalid_input(format!(
                    "host route destination {dest} does not match the subnet's IP version {v}"
                )));
            }
            check_version("nexthop", &hop, v)?;
        }
        Ok(())
    }

    fn parse_new_subnet(
        &self,
        ctx: &OpContext,
        body: &Value,
        network: &Network,
    ) -> Result<Subnet, Error> {
        let attrs = check_body("subnet", ATTRS, body, Op::Create, ctx.caller())?;
        if attrs.get("subnetpool_id").is_some_and(|v| !v.is_null()) {
            let id = get_str(&attrs, "subnetpool_id").unwrap_or_default();
            return Err(Error::not_found("SubnetPool", &id));
        }
        let Some(cidr_text) = get_str(&attrs, "cidr") else {
            return Err(Error::bad_request(
                "A cidr must be specified in the absence of a subnet pool",
            ));
        };
        let cidr = Cidr::parse(&cidr_text).map_err(Error::bad_request)?;
        let ip_version = attrs.get("ip_version").and_then(Value::as_u64).unwrap_or(4) as u8;
        let gateway_ip = match attrs.get("gateway_ip") {
            None => ipam::default_gateway(&cidr).map(|g| g.to_string()),
            Some(Value::Null) => None,
            Some(v) => v.as_str().map(String::from),
        };
        let gateway: Option<IpAddr> = gateway_ip.as_deref().and_then(|g| g.parse().ok());
        let allocation_pools: Vec<AllocationPool> = match typed(&attrs, "allocation_pools") {
            Some(p) => p,
            None if cidr.version() == ip_version => ipam::default_pools(&cidr, gateway),
            None => vec![],
        };
        let now = time::now();
        let subnet = Subnet {
            id: uuid::Uuid::new_v4().to_string(),
            name: get_str(&attrs, "name").unwrap_or_default(),
            description: get_str(&attrs, "description").unwrap_or_default(),
            network_id: network.id.clone(),
            project_id: get_str(&attrs, "project_id").unwrap_or_else(|| ctx.project_id.clone()),
            ip_version,
            cidr: cidr.to_string(),
            subnetpool_id: None,
            gateway_ip,
            allocation_pools,
            dns_nameservers: typed(&attrs, "dns_nameservers").unwrap_or_default(),
            host_routes: typed::<Vec<HostRoute>>(&attrs, "host_routes").unwrap_or_default(),
            enable_dhcp: attrs.get("enable_dhcp").and_then(Value::as_bool).unwrap_or(true),
            ipv6_ra_mode: get_str(&attrs, "ipv6_ra_mode"),
            ipv6_address_mode: get_str(&attrs, "ipv6_address_mode"),
            service_types: typed(&attrs, "service_types").unwrap_or_default(),
            segment_id: get_str(&attrs, "segment_id"),
            dns_publish_fixed_ip: attrs
                .get("dns_publish_fixed_ip")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            tags: vec![],
            created_at: now.clone(),
            updated_at: now,
        };
        self.validate_subnet(&subnet)?;
        Ok(subnet)
    }

    /// Creates subnets, all or none.
    pub async fn subnet_create(
        &self,
        ctx: &OpContext,
        bodies: &[Value],
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let mut subnets = Vec::with_capacity(bodies.len());
        for body in bodies {
            let network_id = body
                .get("network_id")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or_default();
            // Attribute errors (missing network_id included) come first, as upstream.
            check_body("subnet", ATTRS, body, Op::Create, ctx.caller())?;
            let (network, _) = self.visible_network(ctx, &network_id).await?;
            let target = Target::on_network(&ctx.project_id, &network.project_id, false);
            authorize(ctx, "create_subnet", &target)?;
            subnets.push(self.parse_new_subnet(ctx, body, &network)?);
        }
        let created = retrying!(self.subnet_create_once(&subnets))?;
        let mut views = Vec::with_capacity(created.len());
        for c in &created {
            // The metadata port's address on the subnet is part of its DHCP options.
            self.metadata_port_after(&c.current.network_id).await;
            self.mech.create_subnet_postcommit(c).await;
            views.push(render::subnet(&c.current, c.revision_number, Some(&c.network), ctx));
        }
        Ok(views)
    }

    async fn subnet_create_once(&self, subnets: &[Subnet]) -> Result<Vec<SubnetContext>, TxError> {
        let mut tx = self.db().begin().await?;
        let mut done = Vec::with_capacity(subnets.len());
        for subnet in subnets {
            let existing = subnets_of_network(&mut *tx, &subnet.network_id).await?;
            let cidr = subnet.cidr();
            for other in &existing {
                let other: Subnet = from_row(other)?;
                if other.cidr().overlaps(&cidr) {
                    return Err(Error::invalid_input(format!(
                        "Requested subnet with cidr: {cidr} for network: {} overlaps with another subnet",
                        subnet.network_id
                    ))
                    .into());
                }
            }
            let net_row = network_get(&mut *tx, &subnet.network_id)
                .await?
                .ok_or_else(|| Error::not_found("Network", &subnet.network_id))?;
            let network: Network = from_row(&net_row)?;
            if subnet.ip_version == 6 && network.mtu < 1280 {
                return Err(Error::invalid_input(
                    "IPv6 subnets need a network MTU of at least 1280",
                )
                .into());
            }
            let row = ResourceRow {
                id: subnet.id.clone(),
                project_id: subnet.project_id.clone(),
                revision_number: 0,
                body: Value::Object(to_map(subnet)),
            };
            self.quota_check(&mut tx, &subnet.project_id, "subnet", 1).await?;
            subnet_insert(&mut tx, &row, &subnet.network_id).await?;
            bump_network(&mut tx, &subnet.network_id).await?;
            let c = SubnetContext {
                current: subnet.clone(),
                original: None,
                network,
                revision_number: 0,
            };
            self.mech.create_subnet_precommit(&mut tx, &c).await?;
            done.push(c);
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(done)
    }

    async fn visible_subnet(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<(Subnet, i64, Network), Error> {
        let not_found = || Error::not_found("Subnet", id);
        let row = subnet_get(self.db().reader(), id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let subnet: Subnet = from_row(&row).map_err(crate::store_error)?;
        let net_row = network_get(self.db().reader(), &subnet.network_id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let network: Network = from_row(&net_row).map_err(crate::store_error)?;
        let readable = can_read(ctx, &network) || self.network_access(ctx, &network).await?.read;
        if !(subnet.project_id == ctx.project_id || readable) {
            return Err(not_found());
        }
        Ok((subnet, row.revision_number, network))
    }

    /// Subnets visible to `ctx` that match `query`, one page.
    pub async fn subnet_list(
        &self,
        ctx: &OpContext,
        query: &ListQuery,
        sink: &mut crate::ViewSink<'_>,
    ) -> Result<(), Error> {
        let scope = if ctx.is_privileged() { Scope::All } else { Scope::Project(&ctx.project_id) };
        let networks: HashMap<String, Network> = network_list(self.db().reader(), scope)
            .await
            .map_err(crate::store_error)?
            .iter()
            .map(|r| from_row::<Network>(r).map(|n| (n.id.clone(), n)))
            .collect::<Result<_, _>>()
            .map_err(crate::store_error)?;
        let rows = subnet_list(self.db().reader()).await.map_err(crate::store_error)?;
        let mut lister = crate::Lister::new(query, sink);
        for row in &rows {
            let subnet: Subnet = from_row(row).map_err(crate::store_error)?;
            let network = networks.get(&subnet.network_id);
            if !(ctx.is_privileged() || subnet.project_id == ctx.project_id || network.is_some()) {
                continue;
            }
            let mut view = render::subnet(&subnet, row.revision_number, network, ctx);
            if let Some(shared) = query.filter_values("shared") {
                let is_shared = Value::Bool(network.is_some_and(|n| n.shared));
                if !shared.contains(&is_shared) {
                    continue;
                }
            }
            let saved_shared = query.filters.iter().any(|(k, _)| k == "shared");
            if saved_shared {
                view.insert("shared".into(), Value::Bool(network.is_some_and(|n| n.shared)));
            }
            if query.matches(&view) {
                view.remove("shared");
                lister.offer(view);
            }
        }
        lister.finish("Subnet")
    }

    /// One subnet.
    pub async fn subnet_show(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<Map<String, Value>, Error> {
        let (subnet, revision, network) = self.visible_subnet(ctx, id).await?;
        Ok(render::subnet(&subnet, revision, Some(&network), ctx))
    }

    /// Changes a subnet.
    pub async fn subnet_update(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<Map<String, Value>, Error> {
        let attrs = check_body("subnet", ATTRS, body, Op::Update, ctx.caller())?;
        let (subnet, _, network) = self.visible_subnet(ctx, id).await?;
        authorize(
            ctx,
            "update_subnet",
            &Target::on_network(&subnet.project_id, &network.project_id, false),
        )?;
        let c = retrying!(self.subnet_update_once(id, &attrs, if_match))?;
        self.metadata_port_after(&c.current.network_id).await;
        self.mech.update_subnet_postcommit(&c).await;
        Ok(render::subnet(&c.current, c.revision_number, Some(&c.network), ctx))
    }

    async fn subnet_update_once(
        &self,
        id: &str,
        attrs: &Map<String, Value>,
        if_match: Option<i64>,
    ) -> Result<SubnetContext, TxError> {
        let mut tx = self.db().begin().await?;
        let row = subnet_get(&mut *tx, id).await?.ok_or_else(|| Error::not_found("Subnet", id))?;
        check_if_match(if_match, row.revision_number)?;
        let original: Subnet = from_row(&row)?;
        let mut s = original.clone();
        if let Some(v) = get_str(attrs, "name") {
            s.name = v;
        }
        if let Some(v) = get_str(attrs, "description") {
            s.description = v;
        }
        if let Some(v) = attrs.get("gateway_ip") {
            s.gateway_ip = v.as_str().map(String::from);
        }
        if let Some(v) = typed(attrs, "allocation_pools") {
            s.allocation_pools = v;
        }
        if let Some(v) = typed(attrs, "dns_nameservers") {
            s.dns_nameservers = v;
        }
        if let Some(v) = typed(attrs, "host_routes") {
            s.host_routes = v;
        }
        if let Some(v) = attrs.get("enable_dhcp").and_then(Value::as_bool) {
            s.enable_dhcp = v;
        }
        if let Some(v) = typed(attrs, "service_types") {
            s.service_types = v;
        }
        if let Some(v) = attrs.get("dns_publish_fixed_ip").and_then(Value::as_bool) {
            s.dns_publish_fixed_ip = v;
        }
        self.validate_subnet(&s)?;
        s.updated_at = time::now();
        let revision = row.revision_number + 1;
        let new_row = ResourceRow {
            revision_number: revision,
            body: Value::Object(to_map(&s)),
            ..row.clone()
        };
        subnet_update(&mut tx, &new_row, row.revision_number).await?;
        bump_network(&mut tx, &s.network_id).await?;
        let net_row = network_get(&mut *tx, &s.network_id)
            .await?
            .ok_or_else(|| Error::not_found("Network", &s.network_id))?;
        let network: Network = from_row(&net_row)?;
        let c = SubnetContext {
            current: s,
            original: Some(original),
            network,
            revision_number: revision,
        };
        self.mech.update_subnet_precommit(&mut tx, &c).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(c)
    }

    /// Deletes a subnet; 409 `SubnetInUse` while ports hold addresses on it.
    pub async fn subnet_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        let (subnet, _, network) = self.visible_subnet(ctx, id).await?;
        authorize(
            ctx,
            "delete_subnet",
            &Target::on_network(&subnet.project_id, &network.project_id, false),
        )?;
        let c = retrying!(self.subnet_delete_once(id, if_match))?;
        self.mech.delete_subnet_postcommit(&c).await;
        Ok(())
    }

    async fn subnet_delete_once(
        &self,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<SubnetContext, TxError> {
        let mut tx = self.db().begin().await?;
        let row = subnet_get(&mut *tx, id).await?.ok_or_else(|| Error::not_found("Subnet", id))?;
        check_if_match(if_match, row.revision_number)?;
        let subnet: Subnet = from_row(&row)?;
        let holders = ports_on_subnet(&mut *tx, id).await?;
        let auto_address = subnet.is_auto_address();
        // Auto-address (SLAAC) subnets release user ports' addresses instead of refusing;
        // router interfaces always hold the subnet.
        let in_use = holders.iter().any(|(_, owner)| {
            let released = AUTO_DELETED_OWNERS.contains(&owner.as_str())
                || (auto_address && owner != "network:router_interface");
            !released
        });
        if in_use {
            return Err(Error::conflict(
                "SubnetInUse",
                format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
            )
            .into());
        }
        for (port_id, _) in &holders {
            strip_subnet_from_port(&mut tx, port_id, id).await?;
        }
        let net_row = network_get(&mut *tx, &subnet.network_id)
            .await?
            .ok_or_else(|| Error::not_found("Network", &subnet.network_id))?;
        let network: Network = from_row(&net_row)?;
        let c = SubnetContext {
            current: subnet,
            original: None,
            network,
            revision_number: row.revision_number,
        };
        self.mech.delete_subnet_precommit(&mut tx, &c).await?;
        subnet_delete(&mut tx, id).await?;
        bump_network(&mut tx, &c.current.network_id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(c)
    }
}
