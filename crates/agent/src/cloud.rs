//! Finding the server and credentials as the `openstack` CLI does (`OS_CLOUD` and
//! `clouds.yaml`), and a small Networking API client on top of a Keystone v3 password login.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// Where `neutrino up` records the state directory of the running all-in-one, so that client
/// commands find its `clouds.yaml` without any environment.
pub const UP_POINTER: &str = "/run/neutrino/up-state-dir";

/// The cloud used when `OS_CLOUD` is not set (the one `neutrino serve`/`up` write).
pub const DEFAULT_CLOUD: &str = "neutrino";

/// One cloud's login settings from `clouds.yaml`.
#[derive(Clone, Deserialize)]
pub struct Cloud {
    /// The `auth` section.
    pub auth: CloudAuth,
    /// Region for the catalog lookup.
    #[serde(default)]
    pub region_name: Option<String>,
    /// Endpoint interface (`public` by default).
    #[serde(default)]
    pub interface: Option<String>,
}

/// The `auth` section of a cloud.
#[derive(Clone, Deserialize)]
pub struct CloudAuth {
    /// Keystone URL (with or without `/v3`).
    pub auth_url: String,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Project to scope to.
    pub project_name: String,
    /// The user's domain.
    #[serde(default)]
    pub user_domain_name: Option<String>,
    /// The project's domain.
    #[serde(default)]
    pub project_domain_name: Option<String>,
}

impl std::fmt::Debug for CloudAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudAuth")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .field("project_name", &self.project_name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloud")
            .field("auth_url", &self.auth.auth_url)
            .field("username", &self.auth.username)
            .field("project_name", &self.auth.project_name)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct CloudsFile {
    #[serde(default)]
    clouds: std::collections::BTreeMap<String, Cloud>,
}

/// The `clouds.yaml` files searched, in order: `OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`,
/// `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`, then the one of the running
/// `neutrino up` and the default state directory's.
pub fn candidate_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(f) = std::env::var("OS_CLIENT_CONFIG_FILE") {
        files.push(PathBuf::from(f));
    }
    files.push(PathBuf::from("clouds.yaml"));
    if let Ok(home) = std::env::var("HOME") {
        files.push(Path::new(&home).join(".config/openstack/clouds.yaml"));
    }
    files.push(PathBuf::from("/etc/openstack/clouds.yaml"));
    if let Ok(dir) = std::fs::read_to_string(UP_POINTER) {
        files.push(Path::new(dir.trim()).join("clouds.yaml"));
    }
    files.push(PathBuf::from("/var/lib/neutrino/clouds.yaml"));
    files
}

impl Cloud {
    /// The cloud named `name` (default: `OS_CLOUD`, else `neutrino`) from the first
    /// `clouds.yaml` that defines it.
    pub fn load(name: Option<&str>) -> anyhow::Result<Cloud> {
        let env = std::env::var("OS_CLOUD").ok();
        let name = name.or(env.as_deref()).unwrap_or(DEFAULT_CLOUD);
        let files = candidate_files();
        for file in &files {
            let Ok(text) = std::fs::read_to_string(file) else { continue };
            let parsed: CloudsFile = serde_yaml::from_str(&text)
                .with_context(|| format!("{} is not a valid clouds.yaml", file.display()))?;
            if let Some(cloud) = parsed.clouds.get(name) {
                return Ok(cloud.clone());
            }
        }
        bail!(
            "cloud '{name}' not found in any clouds.yaml (looked at {}); run `neutrino up` or \
             set OS_CLIENT_CONFIG_FILE and OS_CLOUD",
            files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    }
}

#[derive(Clone)]
struct Session {
    token: String,
    network_url: String,
    project_id: String,
}

/// A logged-in Networking API client. Logs in again when the token is refused.
pub struct Api {
    http: reqwest::Client,
    cloud: Cloud,
    session: Mutex<Option<Session>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("cloud", &self.cloud).finish_non_exhaustive()
    }
}

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Method and path.
    pub request: String,
    /// The error body's message (or the raw body).
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {}: {}", self.request, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl Api {
    /// A client for `cloud`; nothing is sent before the first request.
    pub fn new(cloud: Cloud) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Api { http, cloud, session: Mutex::new(None) })
    }

    /// Loads the cloud (see [`Cloud::load`]) and makes a client for it.
    pub fn from_env(name: Option<&str>) -> anyhow::Result<Api> {
        Api::new(Cloud::load(name)?)
    }

    async fn login(&self) -> anyhow::Result<Session> {
        let a = &self.cloud.auth;
        let base = a.auth_url.trim_end_matches('/');
        let url = if base.ends_with("/v3") {
            format!("{base}/auth/tokens")
        } else {
            format!("{base}/v3/auth/tokens")
        };
        let user_domain = a.user_domain_name.as_deref().unwrap_or("Default");
        let project_domain = a.project_domain_name.as_deref().unwrap_or("Default");
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": a.username, "domain": {"name": user_domain}, "password": a.password}}},
            "scope": {"project": {"name": a.project_name, "domain": {"name": project_domain}}},
        }});
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach identity at {url}"))?;
        let status = resp.status();
        let token =
            resp.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(String::from);
        let doc: Value = resp.json().await.unwrap_or(Value::Null);
        let Some(token) = token.filter(|_| status.is_success()) else {
            bail!("login to {url} failed ({status}): {}", error_message(&doc));
        };
        let interface = self.cloud.interface.as_deref().unwrap_or("public");
        let region = self.cloud.region_name.as_deref();
        let network_url = doc["token"]["catalog"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["type"] == "network")
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .find(|e| {
                e["interface"] == interface
                    && region.is_none_or(|r| e["region"] == r || e["region_id"] == r)
            })
            .and_then(|e| e["url"].as_str().map(|u| u.trim_end_matches('/').to_string()))
            .ok_or_else(|| anyhow!("the catalog has no {interface} network endpoint"))?;
        let project_id = doc["token"]["project"]["id"].as_str().unwrap_or_default().to_string();
        Ok(Session { token, network_url, project_id })
    }

    async fn session(&self, fresh: bool) -> anyhow::Result<Session> {
        let mut slot = self.session.lock().await;
        if fresh || slot.is_none() {
            *slot = Some(self.login().await?);
        }
        Ok(slot.clone().expect("session set above"))
    }

    /// The id of the project the client is scoped to.
    pub async fn project_id(&self) -> anyhow::Result<String> {
        Ok(self.session(false).await?.project_id)
    }

    /// Sends one request to the network endpoint (`path` starts with `/v2.0/`) and returns the
    /// decoded body (`Null` for 204). Logs in again once if the token is refused.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut fresh = false;
        loop {
            let session = self.session(fresh).await?;
            let url = format!("{}{path}", session.network_url);
            let mut req =
                self.http.request(method.clone(), &url).header("X-Auth-Token", &session.token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.with_context(|| format!("cannot reach {url}"))?;
            let status = resp.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !fresh {
                fresh = true;
                continue;
            }
            let text = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                let doc: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                return Err(ApiError {
                    status: status.as_u16(),
                    request: format!("{method} {path}"),
                    message: error_message(&doc),
                }
                .into());
            }
            if text.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .with_context(|| format!("{method} {path}: bad JSON"));
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.request(reqwest::Method::PUT, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.request(reqwest::Method::DELETE, path, None).await.map(|_| ())
    }

    /// `GET /v2.0/<collection>?<query>` and the list under the collection key
    /// (`ports`, `networks`, …).
    pub async fn list(
        &self,
        collection: &str,
        query: &[(&str, &str)],
    ) -> anyhow::Result<Vec<Value>> {
        let mut path = format!("/v2.0/{collection}");
        for (i, (k, v)) in query.iter().enumerate() {
            path.push(if i == 0 { '?' } else { '&' });
            path.push_str(&encode(k));
            path.push('=');
            path.push_str(&encode(v));
        }
        let doc = self.get(&path).await?;
        let key = collection.replace('-', "_");
        doc.get(&key)
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| anyhow!("GET {path}: no '{key}' list in the answer"))
    }

    /// The one resource of `collection` whose id or name is `name_or_id`; names must be
    /// unique among what `extra` selects.
    pub async fn find(
        &self,
        collection: &str,
        name_or_id: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        if uuid::Uuid::parse_str(name_or_id).is_ok() {
            let mut query = vec![("id", name_or_id)];
            query.extend_from_slice(extra);
            if let Some(found) = self.list(collection, &query).await?.into_iter().next() {
                return Ok(found);
            }
        }
        let mut query = vec![("name", name_or_id)];
        query.extend_from_slice(extra);
        let mut found = self.list(collection, &query).await?;
        match found.len() {
            0 => bail!("no {} named '{name_or_id}'", singular(collection)),
            1 => Ok(found.remove(0)),
            n => bail!("{n} {collection} are named '{name_or_id}': use the id"),
        }
    }
}

fn singular(collection: &str) -> String {
    collection.trim_end_matches('s').replace('-', " ")
}

/// Percent-encodes a query component.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The message of a Neutron (`NeutronError`) or Keystone (`error`) error body.
fn error_message(doc: &Value) -> String {
    doc["NeutronError"]["message"]
        .as_str()
        .or_else(|| doc["error"]["message"].as_str())
        .map(String::from)
        .unwrap_or_else(|| match doc {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
}

/// Whether `err` is an API answer with this HTTP status.
pub fn is_status(err: &anyhow::Error, status: u16) -> bool {
    err.downcast_ref::<ApiError>().is_some_and(|e| e.status == status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_are_encoded() {
        assert_eq!(encode("binding:host_id"), "binding:host_id");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn clouds_yaml_parses() {
        let text = "clouds:\n  neutrino:\n    auth:\n      auth_url: http://127.0.0.1:9696/v3\n      username: admin\n      password: p\n      project_name: admin\n    region_name: RegionOne\n";
        let file: CloudsFile = serde_yaml::from_str(text).unwrap();
        assert_eq!(file.clouds["neutrino"].auth.username, "admin");
    }
}
