//! External Keystone mode (`identity.md` §1, "External"): incoming tokens are checked against an
//! existing Keystone instead of the embedded identity service.
//!
//! [`KeystoneClient`] logs in to Keystone as a service user (password method, project scope)
//! and keeps that token in memory only, renewing it before it expires: ahead of time in
//! [`KeystoneClient::renew_task`], or on demand when a request finds it due. Each incoming token
//! is checked with `GET {auth_url}/auth/tokens?nocatalog`, the service token as `X-Auth-Token`
//! and the caller's as `X-Subject-Token`:
//!
//! - 200: the token is valid; the [`Principal`] is `token.user.id`, `token.project.id` and
//!   `token.roles[].name` lowercased. Cached for `cache_seconds`, never past its `expires_at`.
//! - 404 (or 400): [`AuthError::Unauthorized`]. Cached for 10 s (at most `cache_seconds`).
//! - 401: Keystone refused the service token: log in again and ask once more.
//! - unreachable, a 5xx, anything else: [`AuthError::Unavailable`], not cached.
//!
//! Answers are cached under the SHA-256 of the token, never the token itself. Plain HTTP only:
//! the HTTP client is built without TLS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::header::HeaderValue;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::authenticator::AuthError;
use crate::Principal;

/// How long an invalid token (404) is remembered, at most (never longer than `cache_seconds`).
const NEGATIVE_TTL_SECS: u64 = 10;

/// Upper bound of one request to Keystone.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Upper bound for connecting to Keystone.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The service token is renewed this long before it expires (at most half its lifetime).
const RENEW_MARGIN_SECS: i64 = 300;

/// A service token is used at least this long before it is renewed (so a very short lifetime
/// or clock skew cannot make renewal spin; Keystone's 401 then triggers a new login).
const MIN_RENEW_AFTER_SECS: i64 = 30;

/// Longest pause between failed renewals of the service token.
const MAX_RENEW_BACKOFF: Duration = Duration::from_secs(60);

/// Longest token sent to Keystone; longer ones are refused without asking.
const MAX_TOKEN_LEN: usize = 8192;

/// Most cache entries kept; when full, expired entries go, then all if none had expired.
const CACHE_CAPACITY: usize = 100_000;

/// Settings of the external Keystone mode (`[identity]` with `mode = "keystone"`).
#[derive(Clone)]
pub struct KeystoneConfig {
    /// Keystone's v3 URL, e.g. `http://127.0.0.1:5000/v3` (`http://` only).
    pub auth_url: String,
    /// The service user's name.
    pub username: String,
    /// The service user's password.
    pub password: String,
    /// The project the service token is scoped to, e.g. `service`.
    pub project_name: String,
    /// Domain of the service user (by name), e.g. `Default`.
    pub user_domain_name: String,
    /// Domain of the service project (by name), e.g. `Default`.
    pub project_domain_name: String,
    /// How long a valid token is trusted without asking Keystone again (seconds; 0: never
    /// cached).
    pub cache_seconds: u64,
}

impl Default for KeystoneConfig {
    fn default() -> Self {
        KeystoneConfig {
            auth_url: "http://127.0.0.1:5000/v3".to_string(),
            username: String::new(),
            password: String::new(),
            project_name: String::new(),
            user_domain_name: "Default".to_string(),
            project_domain_name: "Default".to_string(),
            cache_seconds: 300,
        }
    }
}

impl std::fmt::Debug for KeystoneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeystoneConfig")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .field("password", &"***")
            .field("project_name", &self.project_name)
            .field("user_domain_name", &self.user_domain_name)
            .field("project_domain_name", &self.project_domain_name)
            .field("cache_seconds", &self.cache_seconds)
            .finish()
    }
}

/// neutrino's own token at Keystone.
struct ServiceToken {
    token: String,
    /// When to log in again (this server's clock).
    renew_at: DateTime<Utc>,
    /// When Keystone stops accepting it (this server's clock, from Keystone's lifetime).
    expires_at: DateTime<Utc>,
}

/// What Keystone said about one token.
enum Check {
    Valid(Principal),
    Invalid,
    /// Keystone refused the service token itself (401).
    ServiceRefused,
}

/// A client of an external Keystone that validates incoming tokens. Shared as
/// `Arc<KeystoneClient>`.
pub struct KeystoneClient {
    cfg: KeystoneConfig,
    http: reqwest::Client,
    /// `{auth_url}/auth/tokens?nocatalog`.
    tokens_url: String,
    service: RwLock<Option<Arc<ServiceToken>>>,
    /// Serializes logins, so that many requests finding the token due cause one login.
    login_lock: tokio::sync::Mutex<()>,
    cache: TokenCache,
}

impl std::fmt::Debug for KeystoneClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeystoneClient")
            .field("cfg", &self.cfg)
            .field("cached_tokens", &self.cache.len())
            .finish_non_exhaustive()
    }
}

fn unavailable(message: String) -> AuthError {
    AuthError::Unavailable(message)
}

/// "cannot reach Keystone" with the causes (reqwest's own text omits "connection refused").
fn cannot_reach(auth_url: &str, e: &reqwest::Error) -> AuthError {
    let mut message = format!("cannot reach Keystone at {auth_url}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    unavailable(message)
}

/// Parses Keystone's timestamps (`2026-11-01T13:00:00.000000Z`).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// When to renew a token of `lifetime` obtained at `obtained` (this server's clock).
fn renew_time(obtained: DateTime<Utc>, lifetime: TimeDelta) -> DateTime<Utc> {
    let margin = TimeDelta::seconds(RENEW_MARGIN_SECS).min(lifetime / 2);
    let min_use = TimeDelta::seconds(MIN_RENEW_AFTER_SECS);
    obtained + (lifetime - margin).max(min_use)
}

/// The caller's context from the body of Keystone's `GET /v3/auth/tokens`; None if the body
/// lacks the user id or a readable `expires_at`.
fn principal_from_body(body: &Value) -> Option<Principal> {
    let token = body.get("token")?;
    let user_id = token["user"]["id"].as_str().filter(|s| !s.is_empty())?.to_string();
    let project_id = token["project"]["id"].as_str().unwrap_or_default().to_string();
    let mut roles: Vec<String> = Vec::new();
    for role in token["roles"].as_array().map(Vec::as_slice).unwrap_or_default() {
        if let Some(name) = role["name"].as_str() {
            let name = name.to_lowercase();
            if !roles.contains(&name) {
                roles.push(name);
            }
        }
    }
    let audit_id = token["audit_ids"][0].as_str().unwrap_or_default().to_string();
    let expires_at = token["expires_at"].as_str().and_then(parse_time)?;
    Some(Principal { user_id, project_id, roles, audit_id, expires_at })
}

impl KeystoneClient {
    /// A client for the Keystone at `cfg.auth_url`. Does not contact Keystone: call
    /// [`KeystoneClient::login`] to check the service credentials at start, and spawn
    /// [`KeystoneClient::renew_task`].
    ///
    /// Fails on settings that cannot work: an `auth_url` that is not an `http://` URL, an empty
    /// user name, password or project name.
    pub fn new(mut cfg: KeystoneConfig) -> Result<KeystoneClient, String> {
        cfg.auth_url = cfg.auth_url.trim().to_string();
        while cfg.auth_url.ends_with('/') {
            cfg.auth_url.pop();
        }
        if cfg.auth_url.is_empty() {
            return Err("identity auth_url must be set in keystone mode".to_string());
        }
        let url = reqwest::Url::parse(&cfg.auth_url)
            .map_err(|e| format!("identity auth_url '{}' is not a URL: {e}", cfg.auth_url))?;
        if url.scheme() != "http" {
            return Err(format!(
                "identity auth_url '{}': only http:// is supported (no TLS client built in)",
                cfg.auth_url
            ));
        }
        for (name, value) in [
            ("username", &cfg.username),
            ("password", &cfg.password),
            ("project_name", &cfg.project_name),
            ("user_domain_name", &cfg.user_domain_name),
            ("project_domain_name", &cfg.project_domain_name),
        ] {
            if value.is_empty() {
                return Err(format!("identity {name} must be set in keystone mode"));
            }
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let tokens_url = format!("{}/auth/tokens?nocatalog", cfg.auth_url);
        let cache = TokenCache::new(cfg.cache_seconds, CACHE_CAPACITY);
        Ok(KeystoneClient {
            cfg,
            http,
            tokens_url,
            service: RwLock::new(None),
            login_lock: tokio::sync::Mutex::new(()),
            cache,
        })
    }

    /// Keystone's auth URL (no trailing slash), for `WWW-Authenticate`.
    pub fn auth_url(&self) -> &str {
        &self.cfg.auth_url
    }

    /// Logs in as the service user now (replacing any service token held).
    pub async fn login(&self) -> Result<(), AuthError> {
        let _guard = self.login_lock.lock().await;
        self.login_locked().await.map(|_| ())
    }

    /// Whom `token` speaks for, from the cache or from Keystone.
    pub async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || HeaderValue::from_str(token).is_err()
        {
            return Err(AuthError::Unauthorized);
        }
        let key = TokenCache::key(token);
        match self.cache.get(&key, Utc::now()) {
            Some(Cached::Valid(principal)) => return Ok(principal),
            Some(Cached::Invalid) => return Err(AuthError::Unauthorized),
            None => {}
        }
        let service = self.service_token().await?;
        let mut check = self.check(&service.token, token).await?;
        if matches!(check, Check::ServiceRefused) {
            tracing::info!("Keystone refused neutrino's service token; logging in again");
            let service = self.relogin(&service.token).await?;
            check = self.check(&service.token, token).await?;
        }
        match check {
            Check::Valid(principal) => {
                tracing::debug!(user = %principal.user_id, project = %principal.project_id,
                    "token validated by Keystone");
                self.cache.put_valid(key, &principal, Utc::now());
                Ok(principal)
            }
            Check::Invalid => {
                tracing::debug!("Keystone does not know the token");
                self.cache.put_invalid(key, Utc::now());
                Err(AuthError::Unauthorized)
            }
            Check::ServiceRefused => Err(unavailable(
                "Keystone refused neutrino's service token right after a new login".to_string(),
            )),
        }
    }

    /// Keeps the service token fresh: logs in again shortly before it expires (and at start
    /// when there is none), retrying with a growing pause while Keystone cannot be reached.
    /// Spawn it once: `tokio::spawn(client.clone().renew_task())`.
    pub async fn renew_task(self: Arc<Self>) {
        let mut failures: u32 = 0;
        loop {
            let wait = match self.current() {
                Some(t) => (t.renew_at - Utc::now()).to_std().unwrap_or(Duration::ZERO),
                None => Duration::ZERO,
            };
            if !wait.is_zero() {
                // The token may be replaced meanwhile (a login after a 401): look again then.
                tokio::time::sleep(wait).await;
                continue;
            }
            let renewed = {
                let _guard = self.login_lock.lock().await;
                if self.fresh(Utc::now()).is_some() {
                    Ok(())
                } else {
                    self.login_locked().await.map(|_| ())
                }
            };
            match renewed {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause = Duration::from_secs(1u64 << failures.min(6)).min(MAX_RENEW_BACKOFF);
                    tracing::warn!(error = %e, retry_in = ?pause, "service token not renewed");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    fn current(&self) -> Option<Arc<ServiceToken>> {
        self.service.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The service token if it is not yet due for renewal.
    fn fresh(&self, now: DateTime<Utc>) -> Option<Arc<ServiceToken>> {
        self.current().filter(|t| now < t.renew_at)
    }

    /// The service token, logging in first if there is none or it is due for renewal. If that
    /// login fails, a token that has not expired yet is still used.
    async fn service_token(&self) -> Result<Arc<ServiceToken>, AuthError> {
        if let Some(t) = self.fresh(Utc::now()) {
            return Ok(t);
        }
        let _guard = self.login_lock.lock().await;
        if let Some(t) = self.fresh(Utc::now()) {
            return Ok(t);
        }
        match self.login_locked().await {
            Ok(t) => Ok(t),
            Err(e) => match self.current() {
                Some(t) if Utc::now() < t.expires_at => {
                    tracing::warn!(error = %e, "service token not renewed; used until it expires");
                    Ok(t)
                }
                _ => Err(e),
            },
        }
    }

    /// Logs in again after Keystone refused `refused`, unless another request already did.
    async fn relogin(&self, refused: &str) -> Result<Arc<ServiceToken>, AuthError> {
        let _guard = self.login_lock.lock().await;
        if let Some(t) = self.fresh(Utc::now()).filter(|t| t.token != refused) {
            return Ok(t);
        }
        {
            let mut service = self.service.write().unwrap_or_else(|e| e.into_inner());
            if service.as_ref().is_some_and(|t| t.token == refused) {
                *service = None;
            }
        }
        self.login_locked().await
    }

    /// `POST {auth_url}/auth/tokens`: password method, project scope. Call with `login_lock`
    /// held.
    async fn login_locked(&self) -> Result<Arc<ServiceToken>, AuthError> {
        let cfg = &self.cfg;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": cfg.username,
                "domain": {"name": cfg.user_domain_name},
                "password": cfg.password,
            }}},
            "scope": {"project": {
                "name": cfg.project_name,
                "domain": {"name": cfg.project_domain_name},
            }},
        }});
        let obtained = Utc::now();
        let response = self
            .http
            .post(&self.tokens_url)
            .json(&body)
            .send()
            .await
            .map_err(|e| cannot_reach(&cfg.auth_url, &e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(unavailable(format!(
                "Keystone at {} refused the service credentials (user '{}' in domain '{}', \
                 project '{}' in domain '{}')",
                cfg.auth_url,
                cfg.username,
                cfg.user_domain_name,
                cfg.project_name,
                cfg.project_domain_name
            )));
        }
        if !status.is_success() {
            return Err(unavailable(format!(
                "Keystone at {} answered {status} to the service login",
                cfg.auth_url
            )));
        }
        let token = response
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unavailable("Keystone's login answer has no X-Subject-Token".into()))?;
        let body: Value = response
            .json()
            .await
            .map_err(|e| unavailable(format!("Keystone's login answer is not JSON: {e}")))?;
        let expires = body["token"]["expires_at"]
            .as_str()
            .and_then(parse_time)
            .ok_or_else(|| unavailable("Keystone's login answer has no expires_at".into()))?;
        // Keystone's clock may differ from ours: take the lifetime from Keystone's own times.
        let issued = body["token"]["issued_at"].as_str().and_then(parse_time).unwrap_or(obtained);
        let lifetime = expires - issued;
        let service = Arc::new(ServiceToken {
            token,
            renew_at: renew_time(obtained, lifetime),
            expires_at: obtained + lifetime,
        });
        *self.service.write().unwrap_or_else(|e| e.into_inner()) = Some(service.clone());
        tracing::info!(auth_url = %cfg.auth_url, user = %cfg.username, project = %cfg.project_name,
            renew_at = %service.renew_at, "logged in to Keystone as the service user");
        Ok(service)
    }

    /// `GET {auth_url}/auth/tokens?nocatalog` for `subject` with the service token.
    async fn check(&self, service: &str, subject: &str) -> Result<Check, AuthError> {
        let response = self
            .http
            .get(&self.tokens_url)
            .header("X-Auth-Token", service)
            .header("X-Subject-Token", subject)
            .send()
            .await
            .map_err(|e| cannot_reach(&self.cfg.auth_url, &e))?;
        match response.status() {
            StatusCode::OK => {
                let body: Value = response.json().await.map_err(|e| {
                    unavailable(format!("Keystone's token answer is not JSON: {e}"))
                })?;
                principal_from_body(&body).map(Check::Valid).ok_or_else(|| {
                    unavailable("Keystone's token answer lacks user.id or expires_at".into())
                })
            }
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => Ok(Check::Invalid),
            StatusCode::UNAUTHORIZED => Ok(Check::ServiceRefused),
            StatusCode::FORBIDDEN => Err(unavailable(format!(
                "Keystone does not let the service user '{}' validate tokens (403): grant it \
                 role service or admin",
                self.cfg.username
            ))),
            status => Err(unavailable(format!(
                "Keystone at {} answered {status} to a token check",
                self.cfg.auth_url
            ))),
        }
    }
}

// ---- cache -----------------------------------------------------------------------------------

/// A cached answer about one token.
#[derive(Debug, Clone)]
enum Cached {
    Valid(Principal),
    Invalid,
}

#[derive(Debug)]
struct CacheEntry {
    value: Cached,
    until: DateTime<Utc>,
}

/// Keystone's recent answers, keyed by the SHA-256 of the token. Every method takes `now`, so
/// that expiry is tested without waiting.
#[derive(Debug)]
struct TokenCache {
    positive_ttl: TimeDelta,
    negative_ttl: TimeDelta,
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], CacheEntry>>,
}

impl TokenCache {
    fn new(cache_seconds: u64, capacity: usize) -> TokenCache {
        let secs = |s: u64| TimeDelta::seconds(i64::from(u32::try_from(s).unwrap_or(u32::MAX)));
        TokenCache {
            positive_ttl: secs(cache_seconds),
            negative_ttl: secs(cache_seconds.min(NEGATIVE_TTL_SECS)),
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], CacheEntry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn len(&self) -> usize {
        self.entries().len()
    }

    /// The answer for `key` if it is still good at `now` (an expired entry is dropped).
    fn get(&self, key: &[u8; 32], now: DateTime<Utc>) -> Option<Cached> {
        let mut entries = self.entries();
        match entries.get(key) {
            Some(entry) if now < entry.until => Some(entry.value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers a valid token for the positive TTL, never past its `expires_at`.
    fn put_valid(&self, key: [u8; 32], principal: &Principal, now: DateTime<Utc>) {
        let until = (now + self.positive_ttl).min(principal.expires_at);
        self.insert(key, Cached::Valid(principal.clone()), until, now);
    }

    /// Remembers an invalid token for the negative TTL.
    fn put_invalid(&self, key: [u8; 32], now: DateTime<Utc>) {
        self.insert(key, Cached::Invalid, now + self.negative_ttl, now);
    }

    fn insert(&self, key: [u8; 32], value: Cached, until: DateTime<Utc>, now: DateTime<Utc>) {
        if until <= now {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, e| now < e.until);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, CacheEntry { value, until });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        parse_time("2026-11-01T13:00:00.000000Z").unwrap()
    }

    fn principal(expires_at: DateTime<Utc>) -> Principal {
        Principal {
            user_id: "u1".into(),
            project_id: "p1".into(),
            roles: vec!["member".into(), "reader".into()],
            audit_id: "a".into(),
            expires_at,
        }
    }

    fn valid(cache: &TokenCache, key: &[u8; 32], now: DateTime<Utc>) -> bool {
        matches!(cache.get(key, now), Some(Cached::Valid(_)))
    }

    #[test]
    fn valid_token_is_cached_for_the_ttl() {
        let cache = TokenCache::new(300, 10);
        let key = TokenCache::key("tok");
        let now = t0();
        cache.put_valid(key, &principal(now + TimeDelta::hours(1)), now);
        assert!(valid(&cache, &key, now));
        assert!(valid(&cache, &key, now + TimeDelta::seconds(299)));
        assert!(cache.get(&key, now + TimeDelta::seconds(300)).is_none());
        // The expired entry is gone, not only hidden.
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn valid_token_is_never_cached_past_its_expiry() {
        let cache = TokenCache::new(300, 10);
        let key = TokenCache::key("tok");
        let now = t0();
        cache.put_valid(key, &principal(now + TimeDelta::seconds(20)), now);
        assert!(valid(&cache, &key, now + TimeDelta::seconds(19)));
        assert!(cache.get(&key, now + TimeDelta::seconds(20)).is_none());
        // Already expired (Keystone's clock behind ours): not cached at all.
        let key2 = TokenCache::key("tok2");
        cache.put_valid(key2, &principal(now - TimeDelta::seconds(1)), now);
        assert!(cache.get(&key2, now).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn invalid_token_is_cached_briefly() {
        let cache = TokenCache::new(300, 10);
        let key = TokenCache::key("bad");
        let now = t0();
        cache.put_invalid(key, now);
        assert!(matches!(cache.get(&key, now + TimeDelta::seconds(9)), Some(Cached::Invalid)));
        assert!(cache.get(&key, now + TimeDelta::seconds(10)).is_none());
        // Never longer than the positive TTL.
        let short = TokenCache::new(1, 10);
        short.put_invalid(key, now);
        assert!(short.get(&key, now + TimeDelta::seconds(1)).is_none());
    }

    #[test]
    fn zero_seconds_disables_the_cache() {
        let cache = TokenCache::new(0, 10);
        let now = t0();
        cache.put_valid(TokenCache::key("a"), &principal(now + TimeDelta::hours(1)), now);
        cache.put_invalid(TokenCache::key("b"), now);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn tokens_are_keyed_by_hash_and_kept_apart() {
        let cache = TokenCache::new(300, 10);
        let now = t0();
        let mut other = principal(now + TimeDelta::hours(1));
        other.user_id = "u2".into();
        cache.put_valid(TokenCache::key("a"), &principal(now + TimeDelta::hours(1)), now);
        cache.put_valid(TokenCache::key("b"), &other, now);
        match cache.get(&TokenCache::key("b"), now) {
            Some(Cached::Valid(p)) => assert_eq!(p.user_id, "u2"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(cache.get(&TokenCache::key("c"), now).is_none());
        assert_ne!(TokenCache::key("a"), TokenCache::key("b"));
    }

    #[test]
    fn full_cache_drops_expired_entries_first() {
        let cache = TokenCache::new(300, 2);
        let now = t0();
        cache.put_valid(TokenCache::key("short"), &principal(now + TimeDelta::seconds(5)), now);
        cache.put_valid(TokenCache::key("long"), &principal(now + TimeDelta::hours(1)), now);
        let later = now + TimeDelta::seconds(10);
        cache.put_valid(TokenCache::key("new"), &principal(later + TimeDelta::hours(1)), later);
        assert_eq!(cache.len(), 2);
        assert!(valid(&cache, &TokenCache::key("long"), later));
        assert!(valid(&cache, &TokenCache::key("new"), later));
        // Full of live entries: start over rather than grow.
        cache.put_valid(TokenCache::key("newer"), &principal(later + TimeDelta::hours(1)), later);
        assert_eq!(cache.len(), 1);
        assert!(valid(&cache, &TokenCache::key("newer"), later));
    }

    #[test]
    fn principal_is_read_from_keystones_token_body() {
        let body = json!({"token": {
            "user": {"id": "u1", "name": "demo", "domain": {"id": "default"}},
            "project": {"id": "p1", "name": "demo", "domain": {"id": "default"}},
            "roles": [{"id": "r1", "name": "Member"}, {"id": "r2", "name": "reader"},
                      {"id": "r3", "name": "member"}],
            "audit_ids": ["abc"],
            "expires_at": "2026-11-01T14:00:00.000000Z",
            "issued_at": "2026-11-01T13:00:00.000000Z",
        }});
        let p = principal_from_body(&body).unwrap();
        assert_eq!(p.user_id, "u1");
        assert_eq!(p.project_id, "p1");
        assert_eq!(p.roles, vec!["member", "reader"]);
        assert_eq!(p.audit_id, "abc");
        assert_eq!(p.expires_at, t0() + TimeDelta::hours(1));
        // Unscoped: no project, so no project id (the network API refuses it).
        let unscoped = json!({"token": {"user": {"id": "u1"}, "roles": [],
            "expires_at": "2026-11-01T14:00:00Z"}});
        assert_eq!(principal_from_body(&unscoped).unwrap().project_id, "");
        assert!(principal_from_body(&json!({"token": {"user": {"id": "u1"}}})).is_none());
        assert!(principal_from_body(&json!({"error": {}})).is_none());
    }

    #[test]
    fn service_token_is_renewed_before_it_expires() {
        let now = t0();
        assert_eq!(renew_time(now, TimeDelta::hours(1)), now + TimeDelta::seconds(3300));
        assert_eq!(renew_time(now, TimeDelta::seconds(120)), now + TimeDelta::seconds(60));
        // Very short or negative lifetimes (clock skew) never make renewal spin.
        assert_eq!(renew_time(now, TimeDelta::seconds(10)), now + TimeDelta::seconds(30));
        assert_eq!(renew_time(now, TimeDelta::seconds(-50)), now + TimeDelta::seconds(30));
    }

    /// One request as the fake Keystone saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        auth: String,
        subject: String,
    }

    /// A scripted Keystone on a loopback port: logins hand out `svc-1`, `svc-2`, …; only the
    /// latest service token is accepted (`revoke_service` makes the current one stale); subject
    /// `good*` is valid, `bad` unknown (404), `boom` a 500; `refuse_login` makes logins 401.
    #[derive(Debug, Default)]
    struct FakeState {
        logins: usize,
        service_revoked: bool,
        refuse_login: bool,
        seen: Vec<Seen>,
    }

    type Fake = Arc<Mutex<FakeState>>;

    fn respond(fake: &Fake, method: &str, headers: &HashMap<String, String>) -> String {
        let mut st = fake.lock().unwrap();
        let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
        st.seen.push(Seen {
            method: method.to_string(),
            auth: header("x-auth-token"),
            subject: header("x-subject-token"),
        });
        let now = Utc::now();
        let token = |mut t: Value| {
            t["issued_at"] = json!(crate::wire::format_timestamp(now));
            t["expires_at"] = json!(crate::wire::format_timestamp(now + TimeDelta::hours(1)));
            json!({ "token": t }).to_string()
        };
        let error = |code: u16| json!({"error": {"code": code}}).to_string();
        let (status, extra, body) = if method == "POST" {
            if st.refuse_login {
                (401, String::new(), error(401))
            } else {
                st.logins += 1;
                st.service_revoked = false;
                (201, format!("X-Subject-Token: svc-{}\r\n", st.logins), token(json!({})))
            }
        } else if st.service_revoked || header("x-auth-token") != format!("svc-{}", st.logins) {
            (401, String::new(), error(401))
        } else {
            match header("x-subject-token").as_str() {
                s if s.starts_with("good") => {
                    let body = token(json!({
                        "user": {"id": format!("u-{s}")},
                        "project": {"id": "p1"},
                        "roles": [{"name": "Member"}],
                        "audit_ids": ["a"],
                    }));
                    (200, String::new(), body)
                }
                "boom" => (500, String::new(), "{}".to_string()),
                _ => (404, String::new(), error(404)),
            }
        };
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    }

    /// Starts the fake Keystone; returns its auth URL and the task serving it.
    async fn fake_keystone(fake: Fake) -> (String, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v3", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else { return };
                let fake = fake.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let Ok(n) = conn.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut lines = head.split("\r\n");
                    let method = lines.next().unwrap_or("").split(' ').next().unwrap_or("");
                    let headers: HashMap<String, String> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let length: usize =
                        headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                    while buf.len() < head_end + length {
                        let Ok(n) = conn.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let reply = respond(&fake, method, &headers);
                    let _ = conn.write_all(reply.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        (url, task)
    }

    fn client_for(url: &str) -> KeystoneClient {
        KeystoneClient::new(KeystoneConfig {
            auth_url: url.to_string(),
            username: "neutron".into(),
            password: "pw".into(),
            project_name: "service".into(),
            ..KeystoneConfig::default()
        })
        .unwrap()
    }

    fn gets(fake: &Fake) -> usize {
        fake.lock().unwrap().seen.iter().filter(|s| s.method == "GET").count()
    }

    #[tokio::test]
    async fn tokens_are_checked_cached_and_the_service_token_renewed() {
        let fake = Fake::default();
        let (url, server) = fake_keystone(fake.clone()).await;
        let client = client_for(&url);

        // A valid token: one login, one check; the context comes from Keystone's body.
        let p = client.validate("good-1").await.unwrap();
        assert_eq!((p.user_id.as_str(), p.project_id.as_str()), ("u-good-1", "p1"));
        assert_eq!(p.roles, vec!["member"]);
        assert_eq!(fake.lock().unwrap().logins, 1);
        let seen = fake.lock().unwrap().seen.last().cloned().unwrap();
        assert_eq!((seen.auth.as_str(), seen.subject.as_str()), ("svc-1", "good-1"));
        // Asked again: from the cache.
        client.validate("good-1").await.unwrap();
        assert_eq!(gets(&fake), 1);

        // An unknown token: 401, and remembered for a while.
        assert_eq!(client.validate("bad").await.unwrap_err(), AuthError::Unauthorized);
        assert_eq!(client.validate("bad").await.unwrap_err(), AuthError::Unauthorized);
        assert_eq!(gets(&fake), 2);
        // Empty or absurd tokens never reach Keystone.
        assert_eq!(client.validate("  ").await.unwrap_err(), AuthError::Unauthorized);
        assert_eq!(client.validate("a\u{1}b").await.unwrap_err(), AuthError::Unauthorized);
        assert_eq!(gets(&fake), 2);

        // Keystone refuses the service token: log in again and ask once more.
        fake.lock().unwrap().service_revoked = true;
        assert_eq!(client.validate("good-2").await.unwrap().user_id, "u-good-2");
        assert_eq!(fake.lock().unwrap().logins, 2);
        assert_eq!(gets(&fake), 4);
        // The new service token is kept.
        client.validate("good-3").await.unwrap();
        assert_eq!(fake.lock().unwrap().logins, 2);

        // Keystone failing is 503, not 401, and not cached.
        assert!(matches!(client.validate("boom").await, Err(AuthError::Unavailable(_))));
        assert!(matches!(client.validate("boom").await, Err(AuthError::Unavailable(_))));
        assert_eq!(gets(&fake), 7);

        // Service credentials refused after the service token was: 503.
        {
            let mut st = fake.lock().unwrap();
            st.service_revoked = true;
            st.refuse_login = true;
        }
        assert!(matches!(client.validate("good-4").await, Err(AuthError::Unavailable(_))));

        // Keystone gone: 503 for what is not cached; cached answers still count.
        server.abort();
        let _ = server.await;
        assert!(matches!(client.validate("good-5").await, Err(AuthError::Unavailable(_))));
        assert_eq!(client.validate("good-1").await.unwrap().user_id, "u-good-1");
    }

    #[tokio::test]
    async fn renew_task_logs_in_ahead_of_requests() {
        let fake = Fake::default();
        let (url, server) = fake_keystone(fake.clone()).await;
        let client = Arc::new(client_for(&url));
        let renewer = tokio::spawn(client.clone().renew_task());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while fake.lock().unwrap().logins == 0 {
            assert!(std::time::Instant::now() < deadline, "renew task never logged in");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        client.validate("good-1").await.unwrap();
        assert_eq!(fake.lock().unwrap().logins, 1);
        renewer.abort();
        server.abort();
    }

    #[test]
    fn settings_are_checked() {
        let good = KeystoneConfig {
            auth_url: "http://127.0.0.1:5000/v3/".into(),
            username: "neutron".into(),
            password: "pw".into(),
            project_name: "service".into(),
            ..KeystoneConfig::default()
        };
        let client = KeystoneClient::new(good.clone()).unwrap();
        assert_eq!(client.auth_url(), "http://127.0.0.1:5000/v3");
        assert!(!format!("{client:?}").contains("pw\""));
        let https = KeystoneConfig { auth_url: "https://k:5000/v3".into(), ..good.clone() };
        assert!(KeystoneClient::new(https).unwrap_err().contains("http://"));
        let no_password = KeystoneConfig { password: String::new(), ..good };
        assert!(KeystoneClient::new(no_password).unwrap_err().contains("password"));
    }
}
