//! The Keystone admin API (`../shared/design/identity.md` §7): domains, projects, users, roles,
//! grants and role assignments, JSON in and JSON out.
//!
//! The HTTP layer authenticates with [`Identity::authorize_admin`] (401 without a valid token,
//! 403 without role `admin`), then calls one method of [`AdminApi`] with the path ids, the
//! query ([`QueryParams`]) and the parsed body, and answers with the status the method's doc
//! names. Bodies are checked in [`input`], rendered in [`render`]; SQL lives in [`store`].
//!
//! Writes are short transactions retried while the database is busy. Changes that must end
//! tokens (a user deleted, disabled or given a new password; a project deleted or disabled; an
//! assignment removed) record a revocation after their transaction commits, so that a token
//! issued while the change was in flight is revoked too; this server refuses the tokens at
//! once, the others from their next refresh of the shared revocation table.

mod input;
mod render;
mod store;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::admin::{check_name, check_password, duplicate, MAX_PROJECT_NAME, MAX_USER_NAME};
use crate::sql;
use crate::{new_id, now_micros, with_retry, Identity, IdentityError, Principal};
use input::{merge_extra, ProjectInput, RoleInput, UserInput};
use store::{first, Assignment};
pub(crate) use store::{ProjectDetail, UserDetail};

/// Longest role name (characters).
const MAX_ROLE_NAME: usize = 255;

/// A request's query string, percent-decoded (`+` is a space).
#[derive(Debug, Default, Clone)]
pub struct QueryParams {
    raw: String,
    pairs: Vec<(String, String)>,
}

/// Decodes `%XX` escapes and `+`; malformed escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl QueryParams {
    /// Parses a raw query string (without the `?`).
    pub fn parse(raw: Option<&str>) -> QueryParams {
        let raw = raw.unwrap_or("");
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        QueryParams { raw: raw.to_string(), pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Keystone's boolean filters: present (even without a value) and not `0`, `false`, `no`
    /// or `off`.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off")
        })
    }

    /// `?enabled=` as a filter, if given.
    fn enabled(&self) -> Option<bool> {
        self.get("enabled").map(|_| self.flag("enabled"))
    }

    /// A collection's `self` link: `base` plus the query as received.
    fn self_url(&self, base: String) -> String {
        if self.raw.is_empty() {
            base
        } else {
            format!("{base}?{}", self.raw)
        }
    }
}

/// The admin API of one [`Identity`]; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct AdminApi<'a> {
    identity: &'a Identity,
}

fn not_found(kind: &str, id: &str) -> IdentityError {
    IdentityError::NotFound(format!("Could not find {kind}: {id}."))
}

fn required(kind: &str, name: Option<String>) -> Result<String, IdentityError> {
    name.ok_or_else(|| {
        IdentityError::BadRequest(format!("Invalid input for field 'name': a {kind} needs a name."))
    })
}

fn unchangeable(field: &str, kind: &str) -> IdentityError {
    IdentityError::BadRequest(format!(
        "Invalid input for field '{field}': a {kind}'s {field} cannot be changed."
    ))
}

impl Identity {
    /// The admin API over this service.
    pub fn admin_api(&self) -> AdminApi<'_> {
        AdminApi { identity: self }
    }

    /// Checks the caller of an admin call: its `X-Auth-Token` must be valid (else 401) and
    /// hold role `admin` (else 403, naming Keystone's policy `action`, e.g.
    /// `identity:create_project`).
    pub fn authorize_admin(
        &self,
        token: Option<&str>,
        action: &str,
    ) -> Result<Principal, IdentityError> {
        let principal = self.validate(token.ok_or_else(IdentityError::unauthorized)?)?;
        if !principal.is_admin() {
            tracing::info!(user = %principal.user_id, action, "admin call refused");
            return Err(IdentityError::Forbidden(format!(
                "You are not authorized to perform the requested action: {action}."
            )));
        }
        Ok(principal)
    }
}

impl AdminApi<'_> {
    fn url(&self) -> String {
        self.identity.identity_url()
    }

    fn reader(&self) -> &sqlx::AnyPool {
        self.identity.db.reader()
    }

    /// Keystone's rule for a create without `domain_id`: the domain of the caller's project
    /// (`default` for a token not scoped to a project).
    async fn caller_domain(&self, caller: &Principal) -> Result<String, IdentityError> {
        if caller.project_id.is_empty() {
            return Ok("default".to_string());
        }
        let project = with_retry(|| sql::project_get(self.reader(), &caller.project_id)).await?;
        Ok(project.map(|p| p.domain_id).unwrap_or_else(|| "default".to_string()))
    }

    // ---- domains ------------------------------------------------------------------------------

    /// `GET /v3/domains` (200), `?name=` an exact match, `?enabled=`.
    pub async fn domain_list(&self, query: &QueryParams) -> Result<Value, IdentityError> {
        let mut filters = Vec::new();
        if let Some(name) = query.get("name") {
            filters.push(("name", name));
        }
        let mut domains = with_retry(|| store::domains(self.reader(), &filters)).await?;
        if let Some(enabled) = query.enabled() {
            domains.retain(|d| d.enabled == enabled);
        }
        let url = self.url();
        let items = domains.iter().map(|d| render::domain(&url, d)).collect();
        Ok(render::collection("domains", items, query.self_url(format!("{url}/domains"))))
    }

    /// `GET /v3/domains/{id}` (200; 404 unknown).
    pub async fn domain_show(&self, id: &str) -> Result<Value, IdentityError> {
        let filters = [("id", id)];
        let found = with_retry(|| store::domains(self.reader(), &filters)).await?;
        let domain = first(found).ok_or_else(|| not_found("domain", id))?;
        Ok(json!({"domain": render::domain(&self.url(), &domain)}))
    }

    // ---- projects -----------------------------------------------------------------------------

    /// `POST /v3/projects` (201): `{"project": {"name", "description", "domain_id", "enabled",
    /// "tags", ...}}`; without `domain_id`, the caller's project's domain. 400 bad body, 404
    /// unknown domain, 409 name taken in the domain.
    pub async fn project_create(
        &self,
        caller: &Principal,
        body: &Value,
    ) -> Result<Value, IdentityError> {
        let input = ProjectInput::parse(body)?;
        let name = required("project", input.name)?;
        check_name("project", &name, MAX_PROJECT_NAME)?;
        if input.is_domain == Some(true) {
            return Err(IdentityError::BadRequest(
                "Invalid input for field 'is_domain': projects acting as domains are not \
                 supported."
                    .into(),
            ));
        }
        let domain_id = match input.domain_id.flatten() {
            Some(d) => d,
            None => self.caller_domain(caller).await?,
        };
        if let Some(Some(parent)) = &input.parent_id {
            if *parent != domain_id {
                return Err(IdentityError::BadRequest(
                    "Invalid input for field 'parent_id': project hierarchies are not supported; \
                     the parent must be the project's domain."
                        .into(),
                ));
            }
        }
        let mut extra = input.extra;
        extra.retain(|_, v| !v.is_null());
        if let Some(tags) = input.tags {
            extra.insert("tags".into(), Value::Array(tags));
        }
        if let Some(options) = input.options {
            extra.insert("options".into(), Value::Object(options));
        }
        let project = ProjectDetail {
            id: new_id(),
            name,
            domain_id,
            description: input.description.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
            extra,
        };
        self.identity.project_insert(&project).await?;
        Ok(json!({"project": render::project(&self.url(), &project)}))
    }

    /// `GET /v3/projects` (200), `?name=`, `?domain_id=`, `?enabled=`.
    pub async fn project_list(&self, query: &QueryParams) -> Result<Value, IdentityError> {
        let mut filters = Vec::new();
        for key in ["name", "domain_id"] {
            if let Some(value) = query.get(key) {
                filters.push((key, value));
            }
        }
        let mut projects = with_retry(|| store::projects(self.reader(), &filters)).await?;
        if let Some(enabled) = query.enabled() {
            projects.retain(|p| p.enabled == enabled);
        }
        let url = self.url();
        let items = projects.iter().map(|p| render::project(&url, p)).collect();
        Ok(render::collection("projects", items, query.self_url(format!("{url}/projects"))))
    }

    async fn project_get(&self, id: &str) -> Result<ProjectDetail, IdentityError> {
        let filters = [("id", id)];
        let found = with_retry(|| store::projects(self.reader(), &filters)).await?;
        first(found).ok_or_else(|| not_found("project", id))
    }

    /// `GET /v3/projects/{id}` (200; 404 unknown).
    pub async fn project_show(&self, id: &str) -> Result<Value, IdentityError> {
        let project = self.project_get(id).await?;
        Ok(json!({"project": render::project(&self.url(), &project)}))
    }

    /// `PATCH /v3/projects/{id}` (200): name, description, enabled, tags, options and extra
    /// attributes. Disabling the project revokes the tokens scoped to it. 400 bad body or an
    /// attempt to change id, domain or parent; 404 unknown; 409 name taken.
    pub async fn project_update(&self, id: &str, body: &Value) -> Result<Value, IdentityError> {
        let input = ProjectInput::parse(body)?;
        if let Some(name) = &input.name {
            check_name("project", name, MAX_PROJECT_NAME)?;
        }
        if input.is_domain == Some(true) {
            return Err(unchangeable("is_domain", "project"));
        }
        let (before, after) = with_retry(|| self.project_update_tx(id, &input)).await?;
        if before.enabled && !after.enabled {
            self.identity.revoke_project_tokens(id).await?;
        }
        tracing::info!(project = id, "project updated");
        Ok(json!({"project": render::project(&self.url(), &after)}))
    }

    async fn project_update_tx(
        &self,
        id: &str,
        input: &ProjectInput,
    ) -> Result<(ProjectDetail, ProjectDetail), IdentityError> {
        let mut tx = self.identity.db.begin().await?;
        let current = first(store::projects(&mut *tx, &[("id", id)]).await?)
            .ok_or_else(|| not_found("project", id))?;
        if input.id.as_ref().is_some_and(|given| given != id) {
            return Err(unchangeable("id", "project"));
        }
        if input.domain_id.as_ref().is_some_and(|d| d.as_deref() != Some(&current.domain_id)) {
            return Err(unchangeable("domain_id", "project"));
        }
        if input.parent_id.as_ref().is_some_and(|p| p.as_deref() != Some(&current.domain_id)) {
            return Err(unchangeable("parent_id", "project"));
        }
        let mut next = current.clone();
        if let Some(name) = &input.name {
            next.name = name.clone();
        }
        if let Some(description) = &input.description {
            next.description = description.clone();
        }
        if let Some(enabled) = input.enabled {
            next.enabled = enabled;
        }
        if let Some(tags) = &input.tags {
            next.extra.insert("tags".into(), Value::Array(tags.clone()));
        }
        if let Some(options) = &input.options {
            next.extra.insert("options".into(), Value::Object(options.clone()));
        }
        merge_extra(&mut next.extra, input.extra.clone());
        if next.name != current.name {
            let filters = [("domain_id", current.domain_id.as_str()), ("name", next.name.as_str())];
            if !store::projects(&mut *tx, &filters).await?.is_empty() {
                return Err(duplicate("project", &next.name, &next.domain_id));
            }
        }
        if next != current {
            store::project_update(&mut *tx, &next).await?;
        }
        tx.commit().await?;
        Ok((current, next))
    }

    /// `DELETE /v3/projects/{id}` (204; 404 unknown): the project and the assignments on it;
    /// tokens scoped to it stop working.
    pub async fn project_delete(&self, id: &str) -> Result<(), IdentityError> {
        with_retry(|| self.project_delete_tx(id)).await?;
        self.identity.revoke_project_tokens(id).await?;
        tracing::info!(project = id, "project deleted");
        Ok(())
    }

    async fn project_delete_tx(&self, id: &str) -> Result<(), IdentityError> {
        let mut tx = self.identity.db.begin().await?;
        store::delete_target_assignments(&mut *tx, "project", id).await?;
        if !store::delete_by_id(&mut *tx, "identity_projects", id).await? {
            return Err(not_found("project", id));
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- users --------------------------------------------------------------------------------

    /// `POST /v3/users` (201): `{"user": {"name", "password", "domain_id",
    /// "default_project_id", "enabled", "description", "email", ...}}`; without `domain_id`,
    /// the caller's project's domain. The response never holds the password. 400 bad body,
    /// 404 unknown domain, 409 name taken in the domain.
    pub async fn user_create(
        &self,
        caller: &Principal,
        body: &Value,
    ) -> Result<Value, IdentityError> {
        let input = UserInput::parse(body)?;
        let name = required("user", input.name)?;
        let domain_id = match input.domain_id.flatten() {
            Some(d) => d,
            None => self.caller_domain(caller).await?,
        };
        let mut extra = input.extra;
        extra.retain(|_, v| !v.is_null());
        if let Some(options) = input.options {
            extra.insert("options".into(), Value::Object(options));
        }
        let user = UserDetail {
            id: new_id(),
            name,
            domain_id,
            enabled: input.enabled.unwrap_or(true),
            default_project_id: input.default_project_id.unwrap_or_default(),
            description: input.description.unwrap_or_default(),
            email: input.email.unwrap_or_default(),
            extra,
        };
        let password = input.password.flatten().unwrap_or_default();
        self.identity.user_insert(&user, &password).await?;
        Ok(json!({"user": render::user(&self.url(), &user)}))
    }

    /// `GET /v3/users` (200), `?name=`, `?domain_id=`, `?enabled=`.
    pub async fn user_list(&self, query: &QueryParams) -> Result<Value, IdentityError> {
        let mut filters = Vec::new();
        for key in ["name", "domain_id"] {
            if let Some(value) = query.get(key) {
                filters.push((key, value));
            }
        }
        let mut users = with_retry(|| store::users(self.reader(), &filters)).await?;
        if let Some(enabled) = query.enabled() {
            users.retain(|u| u.enabled == enabled);
        }
        let url = self.url();
        let items = users.iter().map(|u| render::user(&url, u)).collect();
        Ok(render::collection("users", items, query.self_url(format!("{url}/users"))))
    }

    async fn user_get(&self, id: &str) -> Result<UserDetail, IdentityError> {
        let filters = [("id", id)];
        let found = with_retry(|| store::users(self.reader(), &filters)).await?;
        first(found).ok_or_else(|| not_found("user", id))
    }

    /// `GET /v3/users/{id}` (200; 404 unknown).
    pub async fn user_show(&self, id: &str) -> Result<Value, IdentityError> {
        let user = self.user_get(id).await?;
        Ok(json!({"user": render::user(&self.url(), &user)}))
    }

    /// `PATCH /v3/users/{id}` (200): name, password (`null` removes it), enabled,
    /// default_project_id, description, email, options and extra attributes. A new password
    /// or disabling the user revokes its tokens. 400 bad body or an attempt to change id or
    /// domain; 404 unknown; 409 name taken.
    pub async fn user_update(&self, id: &str, body: &Value) -> Result<Value, IdentityError> {
        let input = UserInput::parse(body)?;
        if let Some(name) = &input.name {
            check_name("user", name, MAX_USER_NAME)?;
        }
        let new_hash = match &input.password {
            None => None,
            Some(password) => {
                let password = password.as_deref().unwrap_or("");
                check_password(password)?;
                // No Argon2 for a user that does not exist.
                self.user_get(id).await?;
                Some(if password.is_empty() {
                    String::new()
                } else {
                    self.identity.passwords.hash(password).await?
                })
            }
        };
        let (before, after) =
            with_retry(|| self.user_update_tx(id, &input, new_hash.as_deref())).await?;
        if new_hash.is_some() || (before.enabled && !after.enabled) {
            self.identity.revoke_user_tokens(id).await?;
        }
        tracing::info!(user = id, password_changed = new_hash.is_some(), "user updated");
        Ok(json!({"user": render::user(&self.url(), &after)}))
    }

    async fn user_update_tx(
        &self,
        id: &str,
        input: &UserInput,
        new_hash: Option<&str>,
    ) -> Result<(UserDetail, UserDetail), IdentityError> {
        let mut tx = self.identity.db.begin().await?;
        let current = first(store::users(&mut *tx, &[("id", id)]).await?)
            .ok_or_else(|| not_found("user", id))?;
        if input.id.as_ref().is_some_and(|given| given != id) {
            return Err(unchangeable("id", "user"));
        }
        if input.domain_id.as_ref().is_some_and(|d| d.as_deref() != Some(&current.domain_id)) {
            return Err(unchangeable("domain_id", "user"));
        }
        let mut next = current.clone();
        if let Some(name) = &input.name {
            next.name = name.clone();
        }
        if let Some(enabled) = input.enabled {
            next.enabled = enabled;
        }
        for (field, value) in [
            (&mut next.default_project_id, &input.default_project_id),
            (&mut next.description, &input.description),
            (&mut next.email, &input.email),
        ] {
            if let Some(value) = value {
                value.clone_into(field);
            }
        }
        if let Some(options) = &input.options {
            next.extra.insert("options".into(), Value::Object(options.clone()));
        }
        merge_extra(&mut next.extra, input.extra.clone());
        if next.name != current.name {
            let filters = [("domain_id", current.domain_id.as_str()), ("name", next.name.as_str())];
            if !store::users(&mut *tx, &filters).await?.is_empty() {
                return Err(duplicate("user", &next.name, &next.domain_id));
            }
        }
        if next != current {
            store::user_update(&mut *tx, &next).await?;
        }
        if let Some(hash) = new_hash {
            store::user_set_password(&mut *tx, id, hash, now_micros()).await?;
        }
        tx.commit().await?;
        Ok((current, next))
    }

    /// `DELETE /v3/users/{id}` (204; 404 unknown): the user and its assignments; its tokens
    /// stop working.
    pub async fn user_delete(&self, id: &str) -> Result<(), IdentityError> {
        with_retry(|| self.user_delete_tx(id)).await?;
        self.identity.revoke_user_tokens(id).await?;
        tracing::info!(user = id, "user deleted");
        Ok(())
    }

    async fn user_delete_tx(&self, id: &str) -> Result<(), IdentityError> {
        let mut tx = self.identity.db.begin().await?;
        store::delete_actor_assignments(&mut *tx, id).await?;
        if !store::delete_by_id(&mut *tx, "identity_users", id).await? {
            return Err(not_found("user", id));
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- roles --------------------------------------------------------------------------------

    /// `GET /v3/roles` (200), `?name=` compared case-insensitively (clients look roles up by
    /// name that way). Roles are global: `?domain_id=<id>` lists none.
    pub async fn role_list(&self, query: &QueryParams) -> Result<Value, IdentityError> {
        let mut roles = with_retry(|| store::roles(self.reader(), &[])).await?;
        if let Some(name) = query.get("name") {
            let wanted = name.to_lowercase();
            roles.retain(|r| r.name.to_lowercase() == wanted);
        }
        if query.get("domain_id").is_some_and(|d| !d.is_empty()) {
            roles.clear();
        }
        let url = self.url();
        let items = roles.iter().map(|r| render::role(&url, r)).collect();
        Ok(render::collection("roles", items, query.self_url(format!("{url}/roles"))))
    }

    /// `GET /v3/roles/{id}` (200; 404 unknown).
    pub async fn role_show(&self, id: &str) -> Result<Value, IdentityError> {
        let filters = [("id", id)];
        let found = with_retry(|| store::roles(self.reader(), &filters)).await?;
        let role = first(found).ok_or_else(|| not_found("role", id))?;
        Ok(json!({"role": render::role(&self.url(), &role)}))
    }

    /// `POST /v3/roles` (201): `{"role": {"name", "description", ...}}`. Role names are
    /// global and compared case-insensitively: 409 if taken. 400 bad body or a
    /// domain-specific role.
    pub async fn role_create(&self, body: &Value) -> Result<Value, IdentityError> {
        let input = RoleInput::parse(body)?;
        let name = required("role", input.name)?;
        check_name("role", &name, MAX_ROLE_NAME)?;
        if input.domain_id.as_ref().is_some_and(Option::is_some) {
            return Err(IdentityError::BadRequest(
                "Invalid input for field 'domain_id': domain-specific roles are not supported."
                    .into(),
            ));
        }
        let mut extra = input.extra;
        extra.retain(|_, v| !v.is_null());
        if let Some(options) = input.options {
            extra.insert("options".into(), Value::Object(options));
        }
        let role = store::RoleDetail {
            id: new_id(),
            name,
            description: input.description.unwrap_or_default(),
            extra,
        };
        with_retry(|| self.role_create_tx(&role)).await?;
        tracing::info!(role = %role.id, name = %role.name, "role created");
        Ok(json!({"role": render::role(&self.url(), &role)}))
    }

    async fn role_create_tx(&self, role: &store::RoleDetail) -> Result<(), IdentityError> {
        let conflict = || {
            IdentityError::Conflict(format!(
                "Conflict occurred attempting to store role - Duplicate entry found with name \
                 {}.",
                role.name
            ))
        };
        let mut tx = self.identity.db.begin().await?;
        let wanted = role.name.to_lowercase();
        let existing = store::roles(&mut *tx, &[]).await?;
        if existing.iter().any(|r| r.name.to_lowercase() == wanted) {
            return Err(conflict());
        }
        if !store::role_insert(&mut *tx, role, now_micros()).await? {
            return Err(conflict());
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- grants -------------------------------------------------------------------------------

    /// `PUT /v3/projects/{p}/users/{u}/roles/{r}` (204, again 204 when granted already; 404
    /// if the project, user or role is unknown).
    pub async fn grant_create(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), IdentityError> {
        self.identity.role_grant(project_id, user_id, role_id).await
    }

    /// 404 unless the project, the user and the role exist (in that order).
    async fn check_grant_parts(
        conn: &mut sqlx::AnyConnection,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), IdentityError> {
        if sql::project_get(&mut *conn, project_id).await?.is_none() {
            return Err(not_found("project", project_id));
        }
        if sql::user_get(&mut *conn, user_id).await?.is_none() {
            return Err(not_found("user", user_id));
        }
        if store::roles(&mut *conn, &[("id", role_id)]).await?.is_empty() {
            return Err(not_found("role", role_id));
        }
        Ok(())
    }

    fn no_grant(project_id: &str, user_id: &str, role_id: &str) -> IdentityError {
        IdentityError::NotFound(format!(
            "Could not find role assignment with role: {role_id}, user or group: {user_id}, \
             project, domain, or system: {project_id}."
        ))
    }

    /// `HEAD` (or `GET`) `/v3/projects/{p}/users/{u}/roles/{r}`: Ok (204) if the user holds
    /// the role on the project by a direct assignment, else 404.
    pub async fn grant_check(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), IdentityError> {
        let filters = [
            ("actor_id", user_id),
            ("target_type", "project"),
            ("target_id", project_id),
            ("role_id", role_id),
        ];
        let found = with_retry(|| async {
            let mut conn = self.reader().acquire().await?;
            Self::check_grant_parts(&mut conn, project_id, user_id, role_id).await?;
            store::assignments(&mut *conn, &filters).await
        })
        .await?;
        if found.is_empty() {
            return Err(Self::no_grant(project_id, user_id, role_id));
        }
        Ok(())
    }

    /// `DELETE /v3/projects/{p}/users/{u}/roles/{r}` (204; 404 if there is no such grant).
    /// The user's tokens scoped to the project stop working.
    pub async fn grant_delete(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), IdentityError> {
        with_retry(|| self.grant_delete_tx(project_id, user_id, role_id)).await?;
        self.identity.revoke_assignment_tokens(user_id, project_id).await?;
        tracing::info!(project = project_id, user = user_id, role = role_id, "role revoked");
        Ok(())
    }

    async fn grant_delete_tx(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), IdentityError> {
        let mut tx = self.identity.db.begin().await?;
        Self::check_grant_parts(&mut tx, project_id, user_id, role_id).await?;
        if !store::delete_project_assignment(&mut *tx, project_id, user_id, role_id).await? {
            return Err(Self::no_grant(project_id, user_id, role_id));
        }
        tx.commit().await?;
        Ok(())
    }

    /// `GET /v3/projects/{p}/users/{u}/roles` (200): the roles assigned directly to the user
    /// on the project. 404 if the project or the user is unknown.
    pub async fn grant_list(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> Result<Value, IdentityError> {
        let pool = self.reader();
        if with_retry(|| sql::project_get(pool, project_id)).await?.is_none() {
            return Err(not_found("project", project_id));
        }
        if with_retry(|| sql::user_get(pool, user_id)).await?.is_none() {
            return Err(not_found("user", user_id));
        }
        let filters =
            [("actor_id", user_id), ("target_type", "project"), ("target_id", project_id)];
        let assigned: HashSet<String> = with_retry(|| store::assignments(pool, &filters))
            .await?
            .into_iter()
            .map(|a| a.role_id)
            .collect();
        let mut roles = with_retry(|| store::roles(pool, &[])).await?;
        roles.retain(|r| assigned.contains(&r.id));
        let url = self.url();
        let items = roles.iter().map(|r| render::role(&url, r)).collect();
        let self_url = format!("{url}/projects/{project_id}/users/{user_id}/roles");
        Ok(render::collection("roles", items, self_url))
    }

    /// `GET /v3/role_assignments` (200). Filters `user.id`, `scope.project.id`,
    /// `scope.domain.id`, `scope.system`, `role.id` (`group.id` matches nothing: there are no
    /// groups); `?effective` adds the roles implied by each assignment (with `prior_role`),
    /// `?include_names` the names of roles, users, projects and domains.
    pub async fn role_assignments(&self, query: &QueryParams) -> Result<Value, IdentityError> {
        let url = self.url();
        let self_url = query.self_url(format!("{url}/role_assignments"));
        if query.get("group.id").is_some() {
            return Ok(render::collection("role_assignments", Vec::new(), self_url));
        }
        let project = query.get("scope.project.id");
        let domain = query.get("scope.domain.id");
        if project.is_some() && domain.is_some() {
            return Err(IdentityError::BadRequest(
                "Specify a domain or project scope, not both.".into(),
            ));
        }
        let mut filters: Vec<(&'static str, &str)> = Vec::new();
        if let Some(user) = query.get("user.id") {
            filters.push(("actor_id", user));
        }
        if let Some(project) = project {
            filters.extend([("target_type", "project"), ("target_id", project)]);
        } else if let Some(domain) = domain {
            filters.extend([("target_type", "domain"), ("target_id", domain)]);
        } else if query.get("scope.system").is_some() {
            filters.push(("target_type", "system"));
        }
        let pool = self.reader();
        let rows = with_retry(|| store::assignments(pool, &filters)).await?;
        let roles = with_retry(|| sql::roles_all(pool)).await?;

        // (assignment, prior role): direct assignments first, then what they imply.
        let mut listed: Vec<(Assignment, Option<String>)> =
            rows.iter().cloned().map(|a| (a, None)).collect();
        if query.flag("effective") {
            let implications = with_retry(|| sql::implications_all(pool)).await?;
            for a in &rows {
                let closure =
                    sql::implied_closure(std::slice::from_ref(&a.role_id), &implications, &roles);
                for implied in closure.into_iter().filter(|r| r.id != a.role_id) {
                    let entry = Assignment { role_id: implied.id, ..a.clone() };
                    listed.push((entry, Some(a.role_id.clone())));
                }
            }
            let mut seen = HashSet::new();
            listed.retain(|(a, _)| seen.insert(a.clone()));
        }
        if let Some(role) = query.get("role.id") {
            listed.retain(|(a, _)| a.role_id == role);
        }

        let names = if query.flag("include_names") {
            Some(self.names(&listed, &roles).await?)
        } else {
            None
        };
        let items = listed
            .iter()
            .map(|(a, prior)| render::assignment(&url, a, prior.as_deref(), names.as_ref()))
            .collect();
        Ok(render::collection("role_assignments", items, self_url))
    }

    /// The names `?include_names` shows for these assignments.
    async fn names(
        &self,
        listed: &[(Assignment, Option<String>)],
        roles: &[sql::RoleRow],
    ) -> Result<render::Names, IdentityError> {
        let pool = self.reader();
        let mut names = render::Names {
            roles: roles.iter().map(|r| (r.id.clone(), r.name.clone())).collect(),
            ..render::Names::default()
        };
        let mut domain_ids: HashSet<String> = HashSet::new();
        for (a, _) in listed {
            if !names.users.contains_key(&a.actor_id) {
                if let Some(u) = with_retry(|| sql::user_get(pool, &a.actor_id)).await? {
                    domain_ids.insert(u.domain_id.clone());
                    names.users.insert(u.id, (u.name, u.domain_id));
                }
            }
            match a.target_type.as_str() {
                "project" if !names.projects.contains_key(&a.target_id) => {
                    if let Some(p) = with_retry(|| sql::project_get(pool, &a.target_id)).await? {
                        domain_ids.insert(p.domain_id.clone());
                        names.projects.insert(p.id, (p.name, p.domain_id));
                    }
                }
                "domain" => {
                    domain_ids.insert(a.target_id.clone());
                }
                _ => {}
            }
        }
        for id in domain_ids {
            if let Some(d) = with_retry(|| sql::domain_get(pool, &id)).await? {
                names.domains.insert(d.id, d.name);
            }
        }
        Ok(names)
    }
}
