//! The `/tags` sub-resource of networks, subnets and ports: tags live in the resource's body
//! and every change bumps its revision.

use serde_json::Value;

use nt_store::networks::{network_get, network_update, NetworkFlags};
use nt_store::ports::{port_get, port_update, PortKeys};
use nt_store::security_groups::{security_group_get, security_group_update};
use nt_store::subnets::{subnet_get, subnet_update};
use nt_store::{ResourceRow, StoreError};
use nt_types::network::Network;
use nt_types::port::Port;
use nt_types::{time, Error, ErrorKind};

use crate::policy::{authorize, Target};
use crate::{check_if_match, from_row, retrying, Core, OpContext, TxError};

/// Most tags one resource may carry.
const MAX_TAGS: usize = 50;

/// A resource kind that carries tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaggedResource {
    /// `/v2.0/networks/{id}/tags`.
    Network,
    /// `/v2.0/subnets/{id}/tags`.
    Subnet,
    /// `/v2.0/ports/{id}/tags`.
    Port,
    /// `/v2.0/security-groups/{id}/tags`.
    SecurityGroup,
    /// `/v2.0/routers/{id}/tags`.
    Router,
    /// `/v2.0/floatingips/{id}/tags`.
    FloatingIp,
}

impl TaggedResource {
    fn name(self) -> &'static str {
        match self {
            TaggedResource::Network => "Network",
            TaggedResource::Subnet => "Subnet",
            TaggedResource::Port => "Port",
            TaggedResource::SecurityGroup => "SecurityGroup",
            TaggedResource::Router => "Router",
            TaggedResource::FloatingIp => "FloatingIP",
        }
    }
}

/// How to change a resource's tags.
#[derive(Debug, Clone)]
pub enum TagChange {
    /// Add one (PUT `/tags/{tag}`).
    Add(String),
    /// Add several (POST `/tags`).
    AddAll(Vec<String>),
    /// Replace all (PUT `/tags`).
    Replace(Vec<String>),
    /// Remove one (DELETE `/tags/{tag}`); 404 when absent.
    Remove(String),
    /// Remove all (DELETE `/tags`).
    Clear,
}

fn check_tag(tag: &str) -> Result<(), Error> {
    if tag.is_empty() || tag.chars().count() > 255 {
        return Err(Error::invalid_attr(
            "tags",
            format!("'{tag}' is not a valid tag: 1 to 255 characters"),
        ));
    }
    if tag.contains(',') || tag.contains('/') {
        return Err(Error::invalid_attr(
            "tags",
            format!("'{tag}' is not a valid tag: no commas or slashes"),
        ));
    }
    Ok(())
}

impl Core {
    /// Checks that `ctx` may read the resource and returns its tags and owner project.
    async fn tagged(
        &self,
        ctx: &OpContext,
        kind: TaggedResource,
        id: &str,
    ) -> Result<(Vec<String>, String), Error> {
        let view = match kind {
            TaggedResource::Network => self.network_show(ctx, id).await?,
            TaggedResource::Subnet => self.subnet_show(ctx, id).await?,
            TaggedResource::Port => self.port_show(ctx, id).await?,
            TaggedResource::SecurityGroup => self.security_group_show(ctx, id).await?,
            TaggedResource::Router => self.router_show(ctx, id).await?,
            TaggedResource::FloatingIp => self.floatingip_show(ctx, id).await?,
        };
        let tags = serde_json::from_value(view.get("tags").cloned().unwrap_or(Value::Null))
            .unwrap_or_default();
        let project =
            view.get("project_id").and_then(Value::as_str).unwrap_or_default().to_string();
        Ok((tags, project))
    }

    /// The tags of a resource.
    pub async fn tags_get(
        &self,
        ctx: &OpContext,
        kind: TaggedResource,
        id: &str,
    ) -> Result<Vec<String>, Error> {
        Ok(self.tagged(ctx, kind, id).await?.0)
    }

    /// Changes the tags of a resource and returns the new list.
    pub async fn tags_change(
        &self,
        ctx: &OpContext,
        kind: TaggedResource,
        id: &str,
        change: TagChange,
    ) -> Result<Vec<String>, Error> {
        let (_, project) = self.tagged(ctx, kind, id).await?;
        let action = match change {
            TagChange::Remove(_) | TagChange::Clear => "delete_tags",
            _ => "update_tags",
        };
        authorize(ctx, action, &Target::project(&project))?;
        match &change {
            TagChange::Add(t) | TagChange::Remove(t) => check_tag(t)?,
            TagChange::AddAll(list) | TagChange::Replace(list) => {
                list.iter().try_for_each(|t| check_tag(t))?
            }
            TagChange::Clear => {}
        }
        retrying!(self.tags_change_once(kind, id, &change))
    }

    async fn tags_change_once(
        &self,
        kind: TaggedResource,
        id: &str,
        change: &TagChange,
    ) -> Result<Vec<String>, TxError> {
        let mut tx = self.db().begin().await?;
        let row = match kind {
            TaggedResource::Network => network_get(&mut *tx, id).await?,
            TaggedResource::Subnet => subnet_get(&mut *tx, id).await?,
            TaggedResource::Port => port_get(&mut *tx, id).await?,
            TaggedResource::SecurityGroup => security_group_get(&mut *tx, id).await?,
            TaggedResource::Router => nt_store::routers::router_get(&mut *tx, id).await?,
            TaggedResource::FloatingIp => {
                nt_store::floatingips::floatingip_get(&mut *tx, id).await?
            }
        }
        .ok_or_else(|| Error::not_found(kind.name(), id))?;
        check_if_match(None, row.revision_number)?;
        let mut tags: Vec<String> =
            serde_json::from_value(row.body.get("tags").cloned().unwrap_or(Value::Null))
                .unwrap_or_default();
        let before = tags.clone();
        match change {
            TagChange::Add(t) => {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            TagChange::AddAll(list) => {
                for t in list {
                    if !tags.contains(t) {
                        tags.push(t.clone());
                    }
                }
            }
            TagChange::Replace(list) => {
                tags.clear();
                for t in list {
                    if !tags.contains(t) {
                        tags.push(t.clone());
                    }
                }
            }
            TagChange::Remove(t) => {
                if !tags.contains(t) {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        "TagNotFound",
                        format!("Tag {t} could not be found."),
                    )
                    .into());
                }
                tags.retain(|x| x != t);
            }
            TagChange::Clear => tags.clear(),
        }
        if tags.len() > MAX_TAGS {
            return Err(Error::invalid_input(format!(
                "Number of tags exceeds the limit of {MAX_TAGS}"
            ))
            .into());
        }
        if tags == before {
            return Ok(tags);
        }
        let mut new_row: ResourceRow = row.clone();
        new_row.revision_number += 1;
        if let Value::Object(body) = &mut new_row.body {
            body.insert("tags".into(), serde_json::json!(tags));
            body.insert("updated_at".into(), Value::String(time::now()));
        }
        match kind {
            TaggedResource::Network => {
                let net: Network = from_row(&row)?;
                let flags = NetworkFlags { shared: net.shared, external: net.router_external };
                network_update(&mut tx, &new_row, flags, row.revision_number).await?;
            }
            TaggedResource::Subnet => subnet_update(&mut tx, &new_row, row.revision_number).await?,
            TaggedResource::SecurityGroup => {
                security_group_update(&mut tx, &new_row, row.revision_number).await?
            }
            TaggedResource::Router => {
                nt_store::routers::router_update(&mut tx, &new_row, row.revision_number).await?
            }
            TaggedResource::FloatingIp => {
                crate::floatingips::floatingip_row_update(&mut tx, &new_row, row.revision_number)
                    .await?
            }
            TaggedResource::Port => {
                let port: Port = from_row(&row)?;
                let keys = PortKeys {
                    network_id: &port.network_id,
                    mac_address: &port.mac_address,
                    device_owner: &port.device_owner,
                    device_id: &port.device_id,
                };
                port_update(&mut tx, &new_row, keys, row.revision_number).await?;
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(tags)
    }
}
