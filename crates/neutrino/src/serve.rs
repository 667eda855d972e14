//! `serve`, `bootstrap`, `db-upgrade`: wiring the database, identity (embedded, or an external
//! Keystone), core and HTTP layer.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nt_api::{ApiConfig, AppState};
use nt_core::ml2::logger::LoggerDriver;
use nt_core::ml2::MechanismDriver;
use nt_core::Core;
use nt_identity::external::KeystoneClient;
use nt_identity::{Authenticator, Identity, IdentityConfig};
use nt_ovn::{OvnDriver, SyncMode};
use nt_store::Db;

use crate::config::{Config, IdentityMode};
use crate::ServeArgs;

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NEUTRINO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Loads the configuration, starts logging, creates the state directory and opens the database.
async fn open(args: &ServeArgs) -> anyhow::Result<(Config, Db)> {
    let config = Config::load(args)?;
    init_logging(&config);
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create state directory {}", config.state_dir.display()))?;
    let db = Db::connect(&config.database)
        .await
        .with_context(|| format!("cannot open database {}", redact(&config.database)))?;
    Ok((config, db))
}

/// Opens the embedded identity service (its Fernet key repository is created if missing).
async fn open_identity(config: &Config, db: &Db) -> anyhow::Result<Identity> {
    Identity::open(
        db.clone(),
        IdentityConfig {
            public_url: config.public_url.clone(),
            region: "RegionOne".into(),
            token_lifetime_secs: config.token_lifetime,
            key_repository: config.state_dir.join("fernet-keys"),
            admin_user: "admin".into(),
            admin_project: "admin".into(),
        },
    )
    .await
    .context("cannot open the identity service")
}

/// How tokens are checked: the embedded identity service (bootstrapped, `clouds.yaml` written,
/// its refresh task spawned), or an external Keystone (its service-token task spawned; no
/// bootstrap, no Fernet keys, no `clouds.yaml`).
async fn start_identity(
    config: &Config,
    db: &Db,
) -> anyhow::Result<(Option<Arc<Identity>>, Authenticator)> {
    match config.identity.mode {
        IdentityMode::Embedded => {
            let identity = open_identity(config, db).await?;
            bootstrap_identity(config, &identity).await?;
            let identity = Arc::new(identity);
            tokio::spawn(identity.clone().refresh_task(Duration::from_secs(5)));
            Ok((Some(identity.clone()), Authenticator::Embedded(identity)))
        }
        IdentityMode::Keystone => {
            let client = KeystoneClient::new(config.identity.keystone())
                .map_err(|e| anyhow::anyhow!("invalid [identity] settings: {e}"))?;
            if config.admin_password.is_some() {
                tracing::info!("admin password ignored: users live in the external Keystone");
            }
            tracing::info!(
                auth_url = %client.auth_url(),
                cache_seconds = config.identity.cache_seconds,
                "tokens are checked by an external Keystone; /v3 is not served"
            );
            // Logs in at once and keeps the service token fresh; a Keystone that is not up yet
            // is retried (requests meanwhile get 503), so start order does not matter.
            let client = Arc::new(client);
            tokio::spawn(client.clone().renew_task());
            Ok((None, Authenticator::Keystone(client)))
        }
    }
}

/// Hides the password of a database URL for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Bootstraps identity and writes `clouds.yaml` when the admin password is known.
async fn bootstrap_identity(config: &Config, identity: &Identity) -> anyhow::Result<()> {
    let outcome =
        identity.bootstrap(config.admin_password.as_deref()).await.context("bootstrap failed")?;
    let password = match (&config.admin_password, &outcome.generated_password) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(generated)) => {
            eprintln!("neutrino: generated admin password: {generated}");
            Some(generated.clone())
        }
        (None, None) => None,
    };
    let path = config.state_dir.join("clouds.yaml");
    match password {
        Some(p) => write_clouds_yaml(&path, &config.public_url, &p)?,
        None if path.exists() => {}
        None => tracing::warn!(
            "admin password unknown (set NEUTRINO_ADMIN_PASSWORD or --admin-password) so {} was not written",
            path.display()
        ),
    }
    Ok(())
}

fn write_clouds_yaml(path: &Path, public_url: &str, password: &str) -> anyhow::Result<()> {
    let doc = serde_json::json!({"clouds": {"neutrino": {
        "auth": {
            "auth_url": format!("{public_url}/v3"),
            "username": "admin",
            "password": password,
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": "RegionOne",
        "interface": "public",
        "identity_api_version": 3,
    }}});
    let text = serde_yaml::to_string(&doc)?;
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The configured mechanism drivers in order, and the OVN driver among them if enabled.
type Drivers = (Vec<Arc<dyn MechanismDriver>>, Option<OvnDriver>);

fn mechanism_drivers(config: &Config, db: &Db) -> anyhow::Result<Drivers> {
    let mut drivers: Vec<Arc<dyn MechanismDriver>> = Vec::new();
    let mut ovn = None;
    for name in &config.core.ml2.mechanism_drivers {
        match name.as_str() {
            "logger" => drivers.push(Arc::new(LoggerDriver::default())),
            "ovn" => {
                let driver =
                    OvnDriver::start(db.clone(), config.ovn.clone(), &config.core.base_mac)
                        .map_err(anyhow::Error::msg)?;
                drivers.push(Arc::new(driver.clone()));
                ovn = Some(driver);
            }
            other => anyhow::bail!("unknown mechanism driver '{other}' (available: logger, ovn)"),
        }
    }
    Ok((drivers, ovn))
}

/// `neutrino serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (config, db) = open(&args).await?;
    let (identity, auth) = start_identity(&config, &db).await?;
    let (drivers, ovn) = mechanism_drivers(&config, &db)?;
    let mut core_config = config.core.clone();
    core_config.metadata_port = ovn.is_some() && config.ovn.metadata_enabled;
    let core = Arc::new(Core::new(db, core_config, drivers).map_err(anyhow::Error::msg)?);
    if let Some(ovn) = &ovn {
        ovn.attach(&core);
        core.add_agent_source(Arc::new(ovn.clone()));
        core.add_l3_driver(Arc::new(ovn.clone()));
    }
    let state = AppState {
        core,
        identity,
        auth,
        config: Arc::new(ApiConfig {
            public_url: config.public_url.clone(),
            max_body_bytes: config.max_body_bytes,
        }),
    };
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    tracing::info!(bind = %config.bind, public_url = %config.public_url, "neutrino listening");
    eprintln!(
        "neutrino: listening on {} (state in {})",
        config.public_url,
        config.state_dir.display()
    );
    axum::serve(listener, nt_api::app(state)).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// `neutrino bootstrap`.
pub async fn bootstrap(args: ServeArgs) -> anyhow::Result<()> {
    let (config, db) = open(&args).await?;
    anyhow::ensure!(
        config.identity.mode == IdentityMode::Embedded,
        "bootstrap sets up the embedded identity; with [identity] mode = \"keystone\" users, \
         projects and roles are managed in that Keystone"
    );
    let identity = open_identity(&config, &db).await?;
    bootstrap_identity(&config, &identity).await?;
    eprintln!("neutrino: bootstrap done; clouds.yaml in {}", config.state_dir.display());
    Ok(())
}

/// `neutrino db-upgrade`.
pub async fn db_upgrade(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(&args)?;
    let db = Db::connect(&config.database).await.context("cannot open database")?;
    eprintln!("neutrino: database at migration {:?}", db.applied_migrations().await?.last());
    Ok(())
}

/// `neutrino ovn-sync`: compares (and with `repair` fixes) the NB DB against the database.
pub async fn ovn_sync(args: ServeArgs, mode: &str) -> anyhow::Result<()> {
    let config = Config::load(&args)?;
    init_logging(&config);
    let mode = match mode {
        "log" => SyncMode::Log,
        "repair" => SyncMode::Repair,
        other => anyhow::bail!("unknown mode '{other}': use log or repair"),
    };
    let db = Db::connect(&config.database).await.context("cannot open database")?;
    let driver = OvnDriver::start(db, config.ovn.clone(), &config.core.base_mac)
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        driver.wait_ready(Duration::from_secs(30)).await,
        "OVN NB at {} not reachable",
        config.ovn.nb_connection
    );
    let started = std::time::Instant::now();
    let counts = driver.sync(mode).await.map_err(anyhow::Error::msg)?;
    let verb = if mode == SyncMode::Log { "to create" } else { "created" };
    println!(
        "ovn-sync ({}): {} {verb}, {} {}, {} {} in {:.2}s",
        if mode == SyncMode::Log { "log" } else { "repair" },
        counts.created,
        counts.updated,
        if mode == SyncMode::Log { "to update" } else { "updated" },
        counts.deleted,
        if mode == SyncMode::Log { "to delete" } else { "deleted" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_database_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
