//! Configuration: defaults, then the TOML file, then `NEUTRINO_*` environment variables
//! (`__` separates sections, e.g. `NEUTRINO_ML2__TENANT_NETWORK_TYPES`), then flags.

use std::path::PathBuf;

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use nt_core::CoreConfig;
use serde::{Deserialize, Serialize};

use crate::ServeArgs;

/// The server's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Listen address.
    pub bind: String,
    /// Database URL; empty means SQLite in the state directory.
    pub database: String,
    /// State directory.
    pub state_dir: PathBuf,
    /// Public URL; empty means `http://<bind>`.
    pub public_url: String,
    /// Admin password, when given.
    pub admin_password: Option<String>,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Token lifetime in seconds.
    pub token_lifetime: i64,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Plugin layer settings (`[ml2]`, `base_mac`, limits).
    #[serde(flatten)]
    pub core: CoreConfig,
    /// OVN mechanism driver settings (`[ovn]`).
    pub ovn: nt_ovn::OvnConfig,
    /// Where tokens come from (`[identity]`): the embedded identity or an external Keystone.
    pub identity: IdentitySettings,
}

/// `[identity] mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityMode {
    /// neutrino serves `/v3` from its own database (the default).
    #[default]
    Embedded,
    /// Tokens are checked against an existing Keystone; `/v3` is not served.
    Keystone,
}

/// The `[identity]` section. Everything but `mode` matters only with `mode = "keystone"`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentitySettings {
    /// `embedded` or `keystone`.
    pub mode: IdentityMode,
    /// Keystone's v3 URL, e.g. `http://127.0.0.1:5000/v3`.
    pub auth_url: String,
    /// Service user that validates tokens (needs role `service` or `admin`).
    pub username: String,
    /// Its password.
    pub password: String,
    /// Project the service user logs in to.
    pub project_name: String,
    /// Domain of the service user.
    pub user_domain_name: String,
    /// Domain of the service project.
    pub project_domain_name: String,
    /// How long a validated token is trusted before Keystone is asked again (never past its
    /// expiry).
    pub cache_seconds: u64,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            mode: IdentityMode::Embedded,
            auth_url: String::new(),
            username: String::new(),
            password: String::new(),
            project_name: String::new(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            cache_seconds: 300,
        }
    }
}

impl std::fmt::Debug for IdentitySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySettings")
            .field("mode", &self.mode)
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

impl IdentitySettings {
    /// The external Keystone client's settings.
    pub fn keystone(&self) -> nt_identity::external::KeystoneConfig {
        nt_identity::external::KeystoneConfig {
            auth_url: self.auth_url.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            project_name: self.project_name.clone(),
            user_domain_name: self.user_domain_name.clone(),
            project_domain_name: self.project_domain_name.clone(),
            cache_seconds: self.cache_seconds,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:9696".into(),
            database: String::new(),
            state_dir: PathBuf::from("/var/lib/neutrino"),
            public_url: String::new(),
            admin_password: None,
            max_body_bytes: 1 << 20,
            token_lifetime: 3600,
            log_format: "text".into(),
            core: CoreConfig::default(),
            ovn: nt_ovn::OvnConfig::default(),
            identity: IdentitySettings::default(),
        }
    }
}

impl Config {
    /// Loads the layers and applies the flags.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &args.config {
            anyhow::ensure!(path.exists(), "config file {} does not exist", path.display());
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(
            Env::prefixed("NEUTRINO_")
                .ignore(&["CONFIG", "LOG", "ADMIN_PASSWORD", "IDENTITY__PASSWORD"])
                .split("__")
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        );
        // Passwords verbatim: figment's Env would read `12345` as a number (and `0123` as 123).
        for (var, key) in [
            ("NEUTRINO_ADMIN_PASSWORD", "admin_password"),
            ("NEUTRINO_IDENTITY__PASSWORD", "identity.password"),
        ] {
            if let Ok(value) = std::env::var(var) {
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        let mut config: Config = figment.extract().context("invalid configuration")?;
        if let Some(v) = &args.bind {
            config.bind = v.clone();
        }
        if let Some(v) = &args.database {
            config.database = v.clone();
        }
        if let Some(v) = &args.state_dir {
            config.state_dir = v.clone();
        }
        if let Some(v) = &args.public_url {
            config.public_url = v.clone();
        }
        if let Some(v) = &args.admin_password {
            config.admin_password = Some(v.clone());
        }
        if config.database.is_empty() {
            config.database =
                format!("sqlite://{}", config.state_dir.join("neutrino.db").display());
        }
        if config.public_url.is_empty() {
            config.public_url = format!("http://{}", config.bind);
        }
        while config.public_url.ends_with('/') {
            config.public_url.pop();
        }
        Ok(config)
    }
}
