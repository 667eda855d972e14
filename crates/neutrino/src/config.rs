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
                .ignore(&["CONFIG", "LOG"])
                .split("__")
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        );
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
