//! neutrino's embedded identity service: the subset of Keystone v3 that clients need to log in
//! and find the network endpoint (`../shared/design/identity.md`).
//!
//! It owns users, projects, domains, roles and their assignments (tables in the store crate's
//! `0002_identity.sql`), Argon2id password hashes, Fernet tokens sealed with keys from a
//! Keystone-style key repository, token revocation, and the service catalog built from
//! configuration.
//!
//! The hot path, [`Identity::validate`], reads no database: a token carries the user, the scope,
//! the effective roles and its expiry, sealed with a key every server sharing the repository
//! holds; revocations are mirrored in memory and refreshed periodically
//! ([`Identity::refresh_task`]). Issuing a token reads the database and verifies a password,
//! never under a global lock.
//!
//! The HTTP layer (`api/src/routes/identity.rs`) only extracts headers and bodies and calls
//! [`Identity::issue_token`], [`Identity::validate_subject`], [`Identity::check_subject`] and
//! [`Identity::revoke_subject`], and for the admin API (§7) [`Identity::authorize_admin`] and
//! the methods of [`AdminApi`]; the wire format lives in [`wire`].
//!
//! In the external Keystone mode none of that runs: [`external::KeystoneClient`] checks each
//! token against an existing Keystone (with a cache), and [`Authenticator`] is what the HTTP
//! layer calls in either mode.
//!
//! This crate knows SQL through the store crate's pools and speaks HTTP only as a client of an
//! external Keystone; it knows nothing of serving HTTP or of OVN.

mod admin;
mod admin_api;
mod auth;
mod authenticator;
mod bootstrap;
mod error;
pub mod external;
pub mod keys;
mod password;
mod revocation;
mod sql;
mod token;
pub mod wire;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use nt_store::Db;
use serde_json::Value;

pub use admin::{ProjectRecord, RoleRecord, UserRecord};
pub use admin_api::{AdminApi, QueryParams};
pub use auth::UNSUPPORTED_METHOD_MESSAGE;
pub use authenticator::{AuthError, Authenticator};
pub use bootstrap::BootstrapOutcome;
pub use error::{error_body, status_title, IdentityError, UNAUTHORIZED_MESSAGE};

use crate::auth::{AuthRequest, DomainRef, ObjectRef, ScopeRequest};
use crate::keys::KeyRing;
use crate::password::Passwords;
use crate::revocation::{Revocation, RevocationKind, RevocationList};
use crate::sql::{DomainRow, ProjectRow, RoleRow, UserRow};
use crate::token::{methods_mask, new_audit_id, TokenPayload, TokenScope};
use crate::wire::ScopeView;

/// How many Argon2 hashes or verifications may run at once.
const PASSWORD_PARALLELISM: usize = 2;

/// Longest token string accepted for decryption; ours are under 255 characters.
const MAX_TOKEN_LEN: usize = 1024;

/// Revocations are kept this long beyond the token lifetime (clock skew between servers).
const REVOCATION_MARGIN_SECS: i64 = 600;

/// How often the revocation table is pruned (each server; deleting nothing is cheap).
const PRUNE_EVERY_SECS: i64 = 300;

/// Attempts for a write transaction that keeps finding the database busy.
const WRITE_ATTEMPTS: u32 = 5;

/// Settings of the embedded identity service.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Public base URL of the server, without a trailing slash, e.g. `http://127.0.0.1:9696`.
    /// The catalog's network URL is this; the identity URL is this plus `/v3`.
    pub public_url: String,
    /// Region of every catalog endpoint, e.g. `RegionOne`.
    pub region: String,
    /// Lifetime of issued tokens in seconds (default 3600).
    pub token_lifetime_secs: i64,
    /// Fernet key repository (e.g. `<state-dir>/fernet-keys`), Keystone's layout: created with
    /// a staged key `0` and a primary key `1` when empty.
    pub key_repository: PathBuf,
    /// Name of the admin user that [`Identity::bootstrap`] creates, e.g. `admin`.
    pub admin_user: String,
    /// Name of the admin project that [`Identity::bootstrap`] creates, e.g. `admin`.
    pub admin_project: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            public_url: "http://127.0.0.1:9696".to_string(),
            region: "RegionOne".to_string(),
            token_lifetime_secs: 3600,
            key_repository: PathBuf::from("fernet-keys"),
            admin_user: "admin".to_string(),
            admin_project: "admin".to_string(),
        }
    }
}

/// Who a valid token speaks for: the context every authenticated request runs in.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's id.
    pub user_id: String,
    /// The project the token is scoped to; empty for unscoped, domain- or system-scoped tokens.
    pub project_id: String,
    /// Effective role names, implied roles included, lowercase.
    pub roles: Vec<String>,
    /// The token's audit id (22 characters of URL-safe base64).
    pub audit_id: String,
    /// When the token stops being valid.
    pub expires_at: DateTime<Utc>,
}

impl Principal {
    /// True if the token holds role `role` (compared case-insensitively).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// True if the token holds role `admin`.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }
}

/// A token just issued by [`Identity::issue_token`].
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token, for the `X-Subject-Token` response header.
    pub token: String,
    /// The response body, `{"token": {...}}`.
    pub body: Value,
}

/// The embedded identity service. Shared as `Arc<Identity>`.
pub struct Identity {
    db: Db,
    cfg: IdentityConfig,
    keys: RwLock<Arc<KeyRing>>,
    revocations: RevocationList,
    passwords: Passwords,
    /// A hash verified against when the user is unknown, so that a wrong user name costs as
    /// much time as a wrong password.
    dummy_hash: String,
    last_prune: AtomicI64,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("public_url", &self.cfg.public_url)
            .field("region", &self.cfg.region)
            .field("key_repository", &self.cfg.key_repository)
            .field("revocations", &self.revocations.len())
            .finish_non_exhaustive()
    }
}

/// Microseconds since the Unix epoch, now.
fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// A new id: 32 lowercase hex characters (a UUID4 without dashes), as Keystone generates.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Runs `op` again (with a short pause) while it fails with a retryable database error.
async fn with_retry<T, F, Fut>(mut op: F) -> Result<T, IdentityError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, IdentityError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "identity database busy, retrying");
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

impl Identity {
    /// Opens the identity service: the key repository (created if empty) and the revocations
    /// recorded within the last token lifetime. Migrations have run when `db` was connected.
    pub async fn open(db: Db, mut cfg: IdentityConfig) -> Result<Identity, IdentityError> {
        while cfg.public_url.ends_with('/') {
            cfg.public_url.pop();
        }
        if cfg.token_lifetime_secs <= 0 {
            return Err(IdentityError::Internal(format!(
                "token lifetime must be positive, got {}",
                cfg.token_lifetime_secs
            )));
        }
        let dir = cfg.key_repository.clone();
        let ring = tokio::task::spawn_blocking(move || keys::load_or_create(&dir))
            .await
            .map_err(|e| IdentityError::Internal(format!("key repository task failed: {e}")))??;
        let passwords = Passwords::new(PASSWORD_PARALLELISM);
        let dummy_password = new_id();
        let dummy_hash = passwords.hash(&dummy_password).await?;
        let identity = Identity {
            db,
            cfg,
            keys: RwLock::new(Arc::new(ring)),
            revocations: RevocationList::default(),
            passwords,
            dummy_hash,
            last_prune: AtomicI64::new(0),
        };
        let since = now_micros() - identity.revocation_retention_micros();
        identity.revocations.merge(&revocation::load(&identity.db, since).await?);
        Ok(identity)
    }

    /// The configured public URL (no trailing slash).
    pub fn public_url(&self) -> &str {
        &self.cfg.public_url
    }

    /// The identity URL clients use as auth URL: the public URL plus `/v3`.
    pub fn identity_url(&self) -> String {
        format!("{}/v3", self.cfg.public_url)
    }

    /// The service catalog of every scoped token.
    pub fn catalog(&self) -> Value {
        wire::catalog(&self.cfg.public_url, &self.cfg.region)
    }

    /// The `GET /v3` version document.
    pub fn version_document(&self) -> Value {
        wire::version_document(&self.identity_url())
    }

    fn revocation_retention_micros(&self) -> i64 {
        (self.cfg.token_lifetime_secs + REVOCATION_MARGIN_SECS) * 1_000_000
    }

    fn key_ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Opens a token: Fernet signature and decryption with any repository key, payload
    /// format, expiry and revocation. No database read.
    fn open_token(&self, token: &str) -> Result<TokenPayload, IdentityError> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(IdentityError::unauthorized());
        }
        let Some(bytes) = self.key_ring().open(token) else {
            tracing::debug!("token refused: not sealed with a known key");
            return Err(IdentityError::unauthorized());
        };
        let Some(payload) = TokenPayload::decode(&bytes) else {
            tracing::debug!("token refused: unknown payload");
            return Err(IdentityError::unauthorized());
        };
        if payload.expires_at <= now_micros() {
            tracing::debug!("token refused: expired");
            return Err(IdentityError::unauthorized());
        }
        if self.revocations.is_revoked(&payload) {
            tracing::debug!("token refused: revoked");
            return Err(IdentityError::unauthorized());
        }
        Ok(payload)
    }

    /// Checks an `X-Auth-Token` and returns whom it speaks for.
    ///
    /// Fernet decryption, expiry and the in-memory revocation list: no database read. Any
    /// failure is [`IdentityError::Unauthorized`].
    pub fn validate(&self, token: &str) -> Result<Principal, IdentityError> {
        self.open_token(token).map(|p| p.principal())
    }

    /// Seals a payload into a token string.
    fn seal(&self, payload: &TokenPayload) -> Result<String, IdentityError> {
        let bytes = payload
            .encode()
            .ok_or_else(|| IdentityError::Internal("token payload does not fit".into()))?;
        Ok(self.key_ring().seal(&bytes))
    }

    // ---- issuing --------------------------------------------------------------------------

    /// Resolves a domain reference; unknown or disabled domains are 401.
    async fn auth_domain(&self, domain: &DomainRef) -> Result<DomainRow, IdentityError> {
        let row = match domain {
            DomainRef::Id(id) => sql::domain_get(self.db.reader(), id).await?,
            DomainRef::Name(name) => sql::domain_by_name(self.db.reader(), name).await?,
        };
        match row {
            Some(d) if d.enabled => Ok(d),
            _ => Err(IdentityError::unauthorized()),
        }
    }

    /// A usable user and its domain: both exist and are enabled (else 401).
    async fn usable_user(
        &self,
        user: Option<UserRow>,
    ) -> Result<(UserRow, DomainRow), IdentityError> {
        let Some(user) = user.filter(|u| u.enabled) else {
            return Err(IdentityError::unauthorized());
        };
        match sql::domain_get(self.db.reader(), &user.domain_id).await? {
            Some(d) if d.enabled => Ok((user, d)),
            _ => Err(IdentityError::unauthorized()),
        }
    }

    /// The `password` method: finds the user and verifies the password.
    async fn password_user(
        &self,
        auth: &auth::PasswordAuth,
    ) -> Result<(UserRow, DomainRow), IdentityError> {
        let user = match &auth.user {
            ObjectRef::Id(id) => sql::user_get(self.db.reader(), id).await?,
            ObjectRef::Name { name, domain } => match self.auth_domain(domain).await {
                Ok(d) => sql::user_by_name(self.db.reader(), &d.id, name).await?,
                Err(IdentityError::Unauthorized(_)) => None,
                Err(e) => return Err(e),
            },
        };
        let hash = match &user {
            Some(u) if !u.password_hash.is_empty() => u.password_hash.as_str(),
            _ => self.dummy_hash.as_str(),
        };
        let verified = self.passwords.verify(&auth.password, hash).await?;
        let user = user.filter(|u| verified && !u.password_hash.is_empty());
        if user.is_none() {
            tracing::info!(user = ?auth.user, "password authentication failed");
        }
        self.usable_user(user).await
    }

    /// Resolves a project reference to a usable project and its domain, or None.
    async fn usable_project(
        &self,
        project: &ObjectRef,
    ) -> Result<Option<(ProjectRow, DomainRow)>, IdentityError> {
        let row = match project {
            ObjectRef::Id(id) => sql::project_get(self.db.reader(), id).await?,
            ObjectRef::Name { name, domain } => match self.auth_domain(domain).await {
                Ok(d) => sql::project_by_name(self.db.reader(), &d.id, name).await?,
                Err(IdentityError::Unauthorized(_)) => None,
                Err(e) => return Err(e),
            },
        };
        let Some(project) = row.filter(|p| p.enabled) else {
            return Ok(None);
        };
        match sql::domain_get(self.db.reader(), &project.domain_id).await? {
            Some(d) if d.enabled => Ok(Some((project, d))),
            _ => Ok(None),
        }
    }

    /// The scope a request asks for, its rows and the user's effective roles on it.
    async fn resolve_scope(
        &self,
        user: &UserRow,
        scope: &ScopeRequest,
    ) -> Result<(TokenScope, ScopeView, Vec<RoleRow>), IdentityError> {
        let pool = self.db.reader();
        let no_access = || IdentityError::Unauthorized(UNAUTHORIZED_MESSAGE.to_string());
        match scope {
            ScopeRequest::Unscoped => Ok((TokenScope::Unscoped, ScopeView::Unscoped, Vec::new())),
            ScopeRequest::Default => {
                // Keystone: scope to the default project when it is usable, else unscoped.
                if !user.default_project_id.is_empty() {
                    let target = ObjectRef::Id(user.default_project_id.clone());
                    if let Some((project, domain)) = self.usable_project(&target).await? {
                        let roles =
                            sql::effective_roles(pool, &user.id, "project", &project.id).await?;
                        if !roles.is_empty() {
                            return Ok((
                                TokenScope::Project(project.id.clone()),
                                ScopeView::Project { project, domain },
                                roles,
                            ));
                        }
                    }
                }
                Ok((TokenScope::Unscoped, ScopeView::Unscoped, Vec::new()))
            }
            ScopeRequest::Project(target) => {
                let Some((project, domain)) = self.usable_project(target).await? else {
                    return Err(no_access());
                };
                let roles = sql::effective_roles(pool, &user.id, "project", &project.id).await?;
                if roles.is_empty() {
                    tracing::info!(user = %user.id, project = %project.id, "no role on project");
                    return Err(no_access());
                }
                Ok((
                    TokenScope::Project(project.id.clone()),
                    ScopeView::Project { project, domain },
                    roles,
                ))
            }
            ScopeRequest::Domain(target) => {
                let domain = self.auth_domain(target).await?;
                let roles = sql::effective_roles(pool, &user.id, "domain", &domain.id).await?;
                if roles.is_empty() {
                    return Err(no_access());
                }
                Ok((TokenScope::Domain(domain.id.clone()), ScopeView::Domain(domain), roles))
            }
            ScopeRequest::System => {
                let roles = sql::effective_roles(pool, &user.id, "system", "all").await?;
                if roles.is_empty() {
                    return Err(no_access());
                }
                Ok((TokenScope::System, ScopeView::System, roles))
            }
        }
    }

    /// Issues a token for a `POST /v3/auth/tokens` body (already parsed as JSON, see
    /// [`wire::parse_json_body`]).
    ///
    /// Methods `password` and `token` (rescoping; the new token expires with the old one);
    /// scope to a project (by id, or by name and domain), a domain, the system, or none (the
    /// user's default project if usable). Errors: 400 for a malformed body, 401 for bad
    /// credentials, no role on the scope or an unsupported method.
    pub async fn issue_token(
        &self,
        body: &Value,
        include_catalog: bool,
    ) -> Result<IssuedToken, IdentityError> {
        let request: AuthRequest = auth::parse_auth_request(body)?;
        let mut identified: Option<(UserRow, DomainRow)> = None;
        if let Some(pw) = &request.password {
            identified = Some(self.password_user(pw).await?);
        }
        let mut parent: Option<TokenPayload> = None;
        if let Some(token) = &request.token {
            let previous = self.open_token(token)?;
            match &identified {
                Some((user, _)) if user.id != previous.user_id => {
                    return Err(IdentityError::unauthorized())
                }
                Some(_) => {}
                None => {
                    let user = sql::user_get(self.db.reader(), &previous.user_id).await?;
                    identified = Some(self.usable_user(user).await?);
                }
            }
            parent = Some(previous);
        }
        let Some((user, user_domain)) = identified else {
            return Err(IdentityError::unauthorized());
        };
        let (scope, view, roles) = self.resolve_scope(&user, &request.scope).await?;

        let issued_at = now_micros();
        let mut expires_at = issued_at + self.cfg.token_lifetime_secs * 1_000_000;
        let mut methods = methods_mask(request.methods.iter().map(String::as_str));
        let mut parent_audit_id = None;
        if let Some(parent) = &parent {
            // A rescoped token never outlives the one it came from.
            expires_at = expires_at.min(parent.expires_at);
            methods |= parent.methods;
            parent_audit_id = Some(parent.parent_audit_id.unwrap_or(parent.audit_id));
        }
        let payload = TokenPayload {
            user_id: user.id.clone(),
            scope,
            issued_at,
            expires_at,
            audit_id: new_audit_id(),
            parent_audit_id,
            methods,
            roles: roles.iter().map(|r| r.name.clone()).collect(),
        };
        let token = self.seal(&payload)?;
        let catalog = include_catalog.then(|| self.catalog());
        let body = wire::token_body(&payload, &user, &user_domain, &view, &roles, catalog);
        tracing::info!(user = %user.id, project = payload.project_id(), "token issued");
        Ok(IssuedToken { token, body })
    }

    // ---- validate / check / revoke another token ---------------------------------------------

    /// Opens the `X-Subject-Token` of a validate/check/revoke request on behalf of `caller`.
    ///
    /// Missing, malformed, expired or revoked: 404 (Keystone's answer). Another user's token:
    /// only with role `admin` or `service` (else 403).
    fn subject_payload(
        &self,
        caller: &Principal,
        subject: Option<&str>,
    ) -> Result<TokenPayload, IdentityError> {
        let not_found = || IdentityError::NotFound("Could not find token.".to_string());
        let subject = subject.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(not_found)?;
        let payload = self.open_token(subject).map_err(|_| not_found())?;
        if payload.user_id != caller.user_id && !caller.is_admin() && !caller.has_role("service") {
            return Err(IdentityError::Forbidden(
                "You are not authorized to perform the requested action: identity:validate_token."
                    .to_string(),
            ));
        }
        Ok(payload)
    }

    /// `GET /v3/auth/tokens`: validates `subject` for `caller` and returns its token body.
    ///
    /// Reads the user, project and role names from the database; a subject whose user or
    /// project is gone is 404.
    pub async fn validate_subject(
        &self,
        caller: &Principal,
        subject: Option<&str>,
        include_catalog: bool,
    ) -> Result<Value, IdentityError> {
        let payload = self.subject_payload(caller, subject)?;
        let not_found = || IdentityError::NotFound("Could not find token.".to_string());
        let pool = self.db.reader();
        let user = sql::user_get(pool, &payload.user_id).await?.ok_or_else(not_found)?;
        let user_domain = sql::domain_get(pool, &user.domain_id).await?.ok_or_else(not_found)?;
        let view = match &payload.scope {
            TokenScope::Unscoped => ScopeView::Unscoped,
            TokenScope::Project(id) => {
                let project = sql::project_get(pool, id).await?.ok_or_else(not_found)?;
                let domain =
                    sql::domain_get(pool, &project.domain_id).await?.ok_or_else(not_found)?;
                ScopeView::Project { project, domain }
            }
            TokenScope::Domain(id) => {
                ScopeView::Domain(sql::domain_get(pool, id).await?.ok_or_else(not_found)?)
            }
            TokenScope::System => ScopeView::System,
        };
        let roles = sql::roles_by_names(pool, &payload.roles).await?;
        let catalog = include_catalog.then(|| self.catalog());
        Ok(wire::token_body(&payload, &user, &user_domain, &view, &roles, catalog))
    }

    /// `HEAD /v3/auth/tokens`: the same checks as [`Identity::validate_subject`], no body and no
    /// database read.
    pub fn check_subject(
        &self,
        caller: &Principal,
        subject: Option<&str>,
    ) -> Result<(), IdentityError> {
        self.subject_payload(caller, subject).map(|_| ())
    }

    /// `DELETE /v3/auth/tokens`: revokes `subject` (and tokens rescoped from it) on every server
    /// sharing the database; this server refuses it at once, others from their next refresh.
    pub async fn revoke_subject(
        &self,
        caller: &Principal,
        subject: Option<&str>,
    ) -> Result<(), IdentityError> {
        let payload = self.subject_payload(caller, subject)?;
        let revocation = revocation::audit_revocation(&payload.audit_id, now_micros());
        self.record_revocation(revocation).await?;
        tracing::info!(user = %payload.user_id, "token revoked");
        Ok(())
    }

    /// Revokes every token of `user_id` issued until now (user deleted, disabled, or its
    /// password changed).
    pub async fn revoke_user_tokens(&self, user_id: &str) -> Result<(), IdentityError> {
        let now = now_micros();
        self.record_revocation(Revocation {
            kind: RevocationKind::User,
            subject: user_id.to_string(),
            issued_before: now,
            created_at: now,
        })
        .await
    }

    /// Revokes every token scoped to `project_id` issued until now (project deleted or
    /// disabled).
    pub async fn revoke_project_tokens(&self, project_id: &str) -> Result<(), IdentityError> {
        let now = now_micros();
        self.record_revocation(Revocation {
            kind: RevocationKind::Project,
            subject: project_id.to_string(),
            issued_before: now,
            created_at: now,
        })
        .await
    }

    /// Revokes every token of `user_id` scoped to `project_id` issued until now (a role
    /// assignment of the user on the project removed).
    pub async fn revoke_assignment_tokens(
        &self,
        user_id: &str,
        project_id: &str,
    ) -> Result<(), IdentityError> {
        let now = now_micros();
        self.record_revocation(Revocation {
            kind: RevocationKind::Assignment,
            subject: revocation::assignment_subject(user_id, project_id),
            issued_before: now,
            created_at: now,
        })
        .await
    }

    async fn record_revocation(&self, r: Revocation) -> Result<(), IdentityError> {
        with_retry(|| revocation::insert(&self.db, &r)).await?;
        self.revocations.merge(std::slice::from_ref(&r));
        Ok(())
    }

    // ---- shared state refresh ----------------------------------------------------------------

    /// Picks up what other servers sharing the database and key repository changed: reloads
    /// the Fernet keys (after a rotation), merges recent revocations and forgets those older
    /// than the token lifetime (pruning the table every few minutes).
    pub async fn refresh(&self) -> Result<(), IdentityError> {
        let dir = self.cfg.key_repository.clone();
        match tokio::task::spawn_blocking(move || keys::load(&dir)).await {
            Ok(Ok(ring)) => *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring),
            // Keep the keys we have: a half-done rotation must not stop token checks.
            Ok(Err(e)) => tracing::warn!(error = %e, "fernet keys not reloaded"),
            Err(e) => tracing::warn!(error = %e, "fernet key reload task failed"),
        }
        let now = now_micros();
        let horizon = now - self.revocation_retention_micros();
        self.revocations.merge(&revocation::load(&self.db, horizon).await?);
        self.revocations.prune(horizon);
        let last = self.last_prune.load(Ordering::Relaxed);
        if now - last >= PRUNE_EVERY_SECS * 1_000_000
            && self
                .last_prune
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let pruned = revocation::prune_table(&self.db, horizon).await?;
            if pruned > 0 {
                tracing::debug!(pruned, "pruned expired token revocations");
            }
        }
        Ok(())
    }

    /// Runs [`Identity::refresh`] every `every` forever (errors are logged, not fatal). Spawn it
    /// once per server: `tokio::spawn(identity.clone().refresh_task(Duration::from_secs(5)))`.
    pub async fn refresh_task(self: Arc<Self>, every: Duration) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; open() has just loaded everything
        loop {
            ticker.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "identity refresh failed");
            }
        }
    }
}

#[cfg(test)]
mod tests;
