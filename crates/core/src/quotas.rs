//! Quotas: limits per project and resource (configured defaults, per-project overrides),
//! usage, and the check every create runs inside its transaction. The check takes a row lock
//! on (project, resource) before counting, so concurrent creates are counted one after the
//! other and never overshoot a limit.

use serde_json::{json, Map, Value};

use nt_store::quotas::{
    quota_lock, quota_overrides, quota_projects, quota_reset, quota_set, usage,
};
use nt_store::{StoreError, Tx};
use nt_types::{Error, ErrorKind};

use crate::policy::{authorize, Target};
use crate::{retrying, store_error, Core, OpContext, TxError};

/// Largest settable limit.
const MAX_LIMIT: i64 = i32::MAX as i64;

fn over_quota(resource: &str) -> Error {
    Error::conflict("OverQuota", format!("Quota exceeded for resources: ['{resource}']."))
}

impl Core {
    /// Checks inside `tx` that `project_id` may create `adding` more `resource`s.
    pub(crate) async fn quota_check(
        &self,
        tx: &mut Tx,
        project_id: &str,
        resource: &str,
        adding: i64,
    ) -> Result<(), TxError> {
        let overrides = quota_overrides(&mut **tx, project_id).await?;
        let limit = overrides
            .iter()
            .find(|(r, _)| r == resource)
            .map(|(_, l)| *l)
            .or_else(|| self.config().quotas.get(resource).copied())
            .unwrap_or(-1);
        if limit < 0 {
            return Ok(());
        }
        quota_lock(tx, project_id, resource).await?;
        let used = usage(&mut **tx, project_id, resource).await?;
        if used + adding > limit {
            return Err(over_quota(resource).into());
        }
        Ok(())
    }

    fn quota_allowed(ctx: &OpContext, project_id: &str) -> Result<(), Error> {
        authorize(ctx, "get_quota", &Target::project(project_id))
    }

    async fn limits(&self, project_id: &str) -> Result<Map<String, Value>, Error> {
        let overrides =
            quota_overrides(self.db().reader(), project_id).await.map_err(store_error)?;
        let mut out = Map::new();
        for (resource, default) in &self.config().quotas {
            let limit =
                overrides.iter().find(|(r, _)| r == resource).map(|(_, l)| *l).unwrap_or(*default);
            out.insert(resource.clone(), json!(limit));
        }
        Ok(out)
    }

    /// `GET /quotas/{project}`: the project's limits.
    pub async fn quota_show(
        &self,
        ctx: &OpContext,
        project_id: &str,
    ) -> Result<Map<String, Value>, Error> {
        Self::quota_allowed(ctx, project_id)?;
        self.limits(project_id).await
    }

    /// `GET /quotas/{project}/default`: the configured defaults.
    pub async fn quota_default(
        &self,
        ctx: &OpContext,
        project_id: &str,
    ) -> Result<Map<String, Value>, Error> {
        Self::quota_allowed(ctx, project_id)?;
        Ok(self.config().quotas.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    }

    /// `GET /quotas/{project}/details`: limit, used and reserved per resource.
    pub async fn quota_details(
        &self,
        ctx: &OpContext,
        project_id: &str,
    ) -> Result<Map<String, Value>, Error> {
        Self::quota_allowed(ctx, project_id)?;
        let limits = self.limits(project_id).await?;
        let mut out = Map::new();
        for (resource, limit) in limits {
            let used =
                usage(self.db().reader(), project_id, &resource).await.map_err(store_error)?;
            out.insert(resource, json!({"limit": limit, "used": used, "reserved": 0}));
        }
        Ok(out)
    }

    /// `GET /quotas`: projects with overrides (admin).
    pub async fn quota_list(&self, ctx: &OpContext) -> Result<Vec<Map<String, Value>>, Error> {
        authorize(ctx, "get_quotas", &Target::project(&ctx.project_id))?;
        let mut out = Vec::new();
        for project in quota_projects(self.db().reader()).await.map_err(store_error)? {
            let mut limits = self.limits(&project).await?;
            limits.insert("project_id".into(), json!(project));
            limits.insert("tenant_id".into(), json!(project));
            out.push(limits);
        }
        Ok(out)
    }

    /// `PUT /quotas/{project}` (admin): new limits; below current usage needs `force`.
    pub async fn quota_update(
        &self,
        ctx: &OpContext,
        project_id: &str,
        body: &Value,
    ) -> Result<Map<String, Value>, Error> {
        authorize(ctx, "update_quota", &Target::project(project_id))?;
        let Some(obj) = body.as_object() else {
            return Err(Error::bad_request("Body contains invalid data"));
        };
        let force = match obj.get("force") {
            None => false,
            Some(v) => {
                nt_types::attr::conv::boolean(v).map_err(|r| Error::invalid_attr("force", r))?
                    == Value::Bool(true)
            }
        };
        let mut changes = Vec::new();
        for (key, value) in
            obj.iter().filter(|(k, _)| k.as_str() != "force" && k.as_str() != "check_limit")
        {
            if !self.config().quotas.contains_key(key) {
                return Err(Error::bad_request(format!("Unrecognized attribute(s) '{key}'")));
            }
            let limit = value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok()));
            let Some(limit) = limit.filter(|l| (-1..=MAX_LIMIT).contains(l)) else {
                return Err(Error::invalid_attr(
                    key,
                    format!("'{value}' is not an integer between -1 and {MAX_LIMIT}"),
                ));
            };
            if !force && limit >= 0 {
                let used = usage(self.db().reader(), project_id, key).await.map_err(store_error)?;
                if limit < used {
                    return Err(Error::new(
                        ErrorKind::BadRequest,
                        "InvalidQuotaValue",
                        format!("Quota limit {limit} for {key} must be greater than or equal to already used {used}"),
                    ));
                }
            }
            changes.push((key.clone(), limit));
        }
        retrying!(self.quota_update_once(project_id, &changes))?;
        self.limits(project_id).await
    }

    async fn quota_update_once(
        &self,
        project_id: &str,
        changes: &[(String, i64)],
    ) -> Result<(), TxError> {
        let mut tx = self.db().begin().await?;
        for (resource, limit) in changes {
            quota_set(&mut tx, project_id, resource, *limit).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// `DELETE /quotas/{project}` (admin): back to the defaults.
    pub async fn quota_delete(&self, ctx: &OpContext, project_id: &str) -> Result<(), Error> {
        authorize(ctx, "delete_quota", &Target::project(project_id))?;
        retrying!(self.quota_delete_once(project_id))
    }

    async fn quota_delete_once(&self, project_id: &str) -> Result<(), TxError> {
        let mut tx = self.db().begin().await?;
        quota_reset(&mut tx, project_id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
