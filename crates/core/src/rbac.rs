//! RBAC policies for networks: `access_as_shared` lets a project see a network and create
//! ports and router interfaces on it; `access_as_external` makes a network external for a
//! project. An entry for `*` is what the network's `shared` / `router:external` flags mean, and
//! the two are kept in step. Removing or narrowing an entry while the target still has ports
//! on the network is refused.

use serde_json::{json, Map, Value};

use nt_store::networks::{network_get, network_update, NetworkFlags};
use nt_store::ports::ports_of_network;
use nt_store::rbac::{
    rbac_actions_for, rbac_delete, rbac_get, rbac_insert, rbac_list, rbac_update, RbacKeys,
};
use nt_store::{ResourceRow, Scope, StoreError, Tx};
use nt_types::attr::{check_body, Op};
use nt_types::network::Network;
use nt_types::query::ListQuery;
use nt_types::rbac::{RbacPolicy, ATTRS};
use nt_types::{time, Error, ErrorKind};

use crate::ml2::NetworkContext;
use crate::policy::{authorize, Target};
use crate::{from_row, retrying, to_map, Core, OpContext, TxError, ViewSink};

/// What a project may do with a network through its flags and RBAC entries.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NetAccess {
    /// It may see the network.
    pub read: bool,
    /// The network is shared with it (it may create ports there).
    pub shared: bool,
}

fn render(p: &RbacPolicy) -> Map<String, Value> {
    let mut view = to_map(p);
    view.insert("tenant_id".into(), json!(p.project_id));
    view
}

fn get_str(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(String::from)
}

/// Sets a network's `*` flag for `action` inside `tx`, bumping its revision.
pub(crate) async fn set_network_flag(
    tx: &mut Tx,
    network_id: &str,
    action: &str,
    on: bool,
) -> Result<Option<NetworkContext>, TxError> {
    let row = network_get(&mut **tx, network_id)
        .await?
        .ok_or_else(|| Error::not_found("Network", network_id))?;
    let original: Network = from_row(&row)?;
    let mut net = original.clone();
    match action {
        "access_as_shared" => net.shared = on,
        _ => net.router_external = on,
    }
    if net == original {
        return Ok(None);
    }
    net.updated_at = time::now();
    let revision = row.revision_number + 1;
    let new_row =
        ResourceRow { revision_number: revision, body: Value::Object(to_map(&net)), ..row.clone() };
    let flags = NetworkFlags { shared: net.shared, external: net.router_external };
    network_update(tx, &new_row, flags, row.revision_number).await?;
    Ok(Some(NetworkContext { current: net, original: Some(original), revision_number: revision }))
}

/// Inserts the `*` entry that a network flag stands for (no-op when it exists).
pub(crate) async fn insert_wildcard(
    tx: &mut Tx,
    net: &Network,
    action: &str,
) -> Result<(), TxError> {
    let policy = RbacPolicy {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: net.project_id.clone(),
        object_type: "network".into(),
        object_id: net.id.clone(),
        action: action.into(),
        target_tenant: "*".into(),
    };
    let row = ResourceRow {
        id: policy.id.clone(),
        project_id: policy.project_id.clone(),
        revision_number: 0,
        body: Value::Object(to_map(&policy)),
    };
    let keys = RbacKeys { object_type: "network", object_id: &net.id, action, target_tenant: "*" };
    match rbac_insert(tx, &row, keys).await {
        Err(StoreError::UniqueViolation { .. }) => Ok(()),
        other => other.map_err(TxError::from),
    }
}

impl Core {
    /// What `ctx` may do with `net`, its RBAC entries included.
    pub(crate) async fn network_access(
        &self,
        ctx: &OpContext,
        net: &Network,
    ) -> Result<NetAccess, Error> {
        if ctx.is_privileged() || net.project_id == ctx.project_id {
            return Ok(NetAccess { read: true, shared: net.shared });
        }
        let actions = rbac_actions_for(self.db().reader(), &net.id, &ctx.project_id)
            .await
            .map_err(crate::store_error)?;
        let shared = net.shared || actions.iter().any(|a| a == "access_as_shared");
        let external = net.router_external || actions.iter().any(|a| a == "access_as_external");
        Ok(NetAccess { read: shared || external, shared })
    }

    /// Ports on the network that belong to projects relying on `policy`.
    async fn rbac_dependants(
        &self,
        tx: &mut Tx,
        policy: &RbacPolicy,
        owner: &str,
    ) -> Result<bool, TxError> {
        if policy.action != "access_as_shared" {
            return Ok(false);
        }
        let ports = ports_of_network(&mut **tx, &policy.object_id).await?;
        Ok(ports.iter().any(|p| {
            p.project_id != owner
                && !p.project_id.is_empty()
                && (policy.target_tenant == "*" || p.project_id == policy.target_tenant)
        }))
    }

    /// Creates RBAC policies.
    pub async fn rbac_create(
        &self,
        ctx: &OpContext,
        bodies: &[Value],
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let mut views = Vec::new();
        for body in bodies {
            let attrs = check_body("rbac_policy", ATTRS, body, Op::Create, ctx.caller())?;
            let owner = get_str(&attrs, "project_id").unwrap_or_else(|| ctx.project_id.clone());
            authorize(ctx, "create_rbac_policy", &Target::project(&owner))?;
            let target = get_str(&attrs, "target_tenant").unwrap_or_default();
            if target == "*" {
                authorize(ctx, "create_rbac_policy:target_tenant", &Target::project(&owner))?;
            }
            let object_id = get_str(&attrs, "object_id").unwrap_or_default();
            let (net, _) = self.visible_network(ctx, &object_id).await?;
            if !ctx.is_admin() && net.project_id != ctx.project_id {
                return Err(Error::bad_request(format!(
                    "Invalid input for operation: project {} does not own network {object_id}.",
                    ctx.project_id
                )));
            }
            let policy = RbacPolicy {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: get_str(&attrs, "project_id").unwrap_or_else(|| ctx.project_id.clone()),
                object_type: "network".into(),
                object_id,
                action: get_str(&attrs, "action").unwrap_or_default(),
                target_tenant: target,
            };
            let changed = retrying!(self.rbac_create_once(&policy))?;
            if let Some(c) = &changed {
                self.mech.update_network_postcommit(c).await;
            }
            views.push(render(&policy));
        }
        Ok(views)
    }

    async fn rbac_create_once(
        &self,
        policy: &RbacPolicy,
    ) -> Result<Option<NetworkContext>, TxError> {
        let mut tx = self.db().begin().await?;
        self.quota_check(&mut tx, &policy.project_id, "rbac_policy", 1).await?;
        let row = ResourceRow {
            id: policy.id.clone(),
            project_id: policy.project_id.clone(),
            revision_number: 0,
            body: Value::Object(to_map(policy)),
        };
        let keys = RbacKeys {
            object_type: &policy.object_type,
            object_id: &policy.object_id,
            action: &policy.action,
            target_tenant: &policy.target_tenant,
        };
        match rbac_insert(&mut tx, &row, keys).await {
            Err(StoreError::UniqueViolation { .. }) => {
                return Err(Error::conflict(
                    "DuplicateRbacPolicy",
                    "An RBAC policy already exists with those values.",
                )
                .into())
            }
            other => other?,
        }
        let changed = if policy.target_tenant == "*" {
            set_network_flag(&mut tx, &policy.object_id, &policy.action, true).await?
        } else {
            None
        };
        if let Some(c) = &changed {
            self.mech.update_network_precommit(&mut tx, c).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(changed)
    }

    async fn visible_policy(&self, ctx: &OpContext, id: &str) -> Result<RbacPolicy, Error> {
        let not_found = || Error::not_found("RbacPolicy", id);
        let row = rbac_get(self.db().reader(), id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let policy: RbacPolicy = from_row(&row).map_err(crate::store_error)?;
        if !(ctx.is_admin() || policy.project_id == ctx.project_id) {
            return Err(not_found());
        }
        Ok(policy)
    }

    /// Policies the caller owns (all for admin).
    pub async fn rbac_list(
        &self,
        ctx: &OpContext,
        query: &ListQuery,
        sink: &mut ViewSink<'_>,
    ) -> Result<(), Error> {
        let scope = if ctx.is_admin() { Scope::All } else { Scope::Project(&ctx.project_id) };
        let rows = rbac_list(self.db().reader(), scope).await.map_err(crate::store_error)?;
        let mut lister = crate::Lister::new(query, sink);
        for row in &rows {
            let p: RbacPolicy = from_row(row).map_err(crate::store_error)?;
            lister.offer(render(&p));
        }
        lister.finish("RbacPolicy")
    }

    /// One policy.
    pub async fn rbac_show(&self, ctx: &OpContext, id: &str) -> Result<Map<String, Value>, Error> {
        Ok(render(&self.visible_policy(ctx, id).await?))
    }

    /// Changes a policy's target.
    pub async fn rbac_update(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
        _if_match: Option<i64>,
    ) -> Result<Map<String, Value>, Error> {
        let attrs = check_body("rbac_policy", ATTRS, body, Op::Update, ctx.caller())?;
        let policy = self.visible_policy(ctx, id).await?;
        let Some(target) = get_str(&attrs, "target_tenant") else { return Ok(render(&policy)) };
        if target == "*" {
            authorize(
                ctx,
                "update_rbac_policy:target_tenant",
                &Target::project(&policy.project_id),
            )?;
        }
        let updated = retrying!(self.rbac_retarget_once(&policy, &target))?;
        Ok(render(&updated))
    }

    async fn rbac_retarget_once(
        &self,
        policy: &RbacPolicy,
        target: &str,
    ) -> Result<RbacPolicy, TxError> {
        let mut tx = self.db().begin().await?;
        let net = network_get(&mut *tx, &policy.object_id)
            .await?
            .map(|r| from_row::<Network>(&r))
            .transpose()?;
        let owner = net.map(|n| n.project_id).unwrap_or_default();
        if target != policy.target_tenant && self.rbac_dependants(&mut tx, policy, &owner).await? {
            return Err(in_use(&policy.id).into());
        }
        let mut updated = policy.clone();
        updated.target_tenant = target.to_string();
        let row = ResourceRow {
            id: updated.id.clone(),
            project_id: updated.project_id.clone(),
            revision_number: 0,
            body: Value::Object(to_map(&updated)),
        };
        match rbac_update(&mut tx, &row, target).await {
            Err(StoreError::UniqueViolation { .. }) => {
                return Err(Error::conflict(
                    "DuplicateRbacPolicy",
                    "An RBAC policy already exists with those values.",
                )
                .into())
            }
            other => other?,
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(updated)
    }

    /// Deletes a policy; 409 `RbacPolicyInUse` while the target still has ports on the network.
    pub async fn rbac_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> Result<(), Error> {
        let policy = self.visible_policy(ctx, id).await?;
        authorize(ctx, "delete_rbac_policy", &Target::project(&policy.project_id))?;
        let changed = retrying!(self.rbac_delete_once(&policy))?;
        if let Some(c) = &changed {
            self.mech.update_network_postcommit(c).await;
        }
        Ok(())
    }

    async fn rbac_delete_once(
        &self,
        policy: &RbacPolicy,
    ) -> Result<Option<NetworkContext>, TxError> {
        let mut tx = self.db().begin().await?;
        let net = network_get(&mut *tx, &policy.object_id)
            .await?
            .map(|r| from_row::<Network>(&r))
            .transpose()?;
        let owner = net.as_ref().map(|n| n.project_id.clone()).unwrap_or_default();
        if self.rbac_dependants(&mut tx, policy, &owner).await? {
            return Err(in_use(&policy.id).into());
        }
        rbac_delete(&mut tx, &policy.id).await?;
        let changed = if policy.target_tenant == "*" && net.is_some() {
            set_network_flag(&mut tx, &policy.object_id, &policy.action, false).await?
        } else {
            None
        };
        if let Some(c) = &changed {
            self.mech.update_network_precommit(&mut tx, c).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(changed)
    }
}

fn in_use(id: &str) -> Error {
    Error::new(
        ErrorKind::Conflict,
        "RbacPolicyInUse",
        format!("RBAC policy on object {id} cannot be removed because other objects depend on it."),
    )
}
