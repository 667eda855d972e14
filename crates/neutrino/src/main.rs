//! `neutrino`: the Networking service (Neutron API v2.0) with embedded Keystone v3 identity.

mod agent_cmd;
mod bench;
mod config;
mod instance;
mod serve;
mod up;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

// mimalloc: listing thousands of resources builds many short-lived maps; it keeps both the
// time and the peak RSS of that lower than the system allocator (see `neutrino bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// neutrino — OpenStack Networking (Neutron API v2.0) with an embedded Keystone v3 subset.
#[derive(Debug, Parser)]
#[command(name = "neutrino", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server (network API under /v2.0, identity under /v3).
    Serve(ServeArgs),
    /// Create or update the admin user, project and roles, then exit.
    Bootstrap(ServeArgs),
    /// Apply database migrations, then exit.
    DbUpgrade(ServeArgs),
    /// Compare the OVN Northbound DB with the database; `--mode repair` also fixes it.
    OvnSync {
        /// `log` reports differences, `repair` fixes them.
        #[arg(long, default_value = "log", value_parser = ["log", "repair"])]
        mode: String,
        #[command(flatten)]
        args: ServeArgs,
    },
    /// Measure API latency and throughput against a server of its own (or --url).
    Bench(bench::BenchArgs),
    /// Run the host agent: Open vSwitch settings for OVN, br-int, VIFs for ports bound here.
    Agent(agent_cmd::AgentArgs),
    /// Start the all-in-one on this machine (OVN, Open vSwitch, server, agent, `public`).
    Up(up::UpArgs),
    /// Stop what `neutrino up` started.
    Down(up::DownArgs),
    /// Instances as network namespaces (create, list, show, delete, exec).
    Instance(instance::InstanceArgs),
}

/// Settings shared by `serve`, `bootstrap` and `db-upgrade`. Each overrides the config file
/// and `NEUTRINO_*` environment variables.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Config file (TOML).
    #[arg(long, value_name = "FILE", env = "NEUTRINO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9696].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Database URL: sqlite://PATH or postgres://USER:PASS@HOST/DB [default: sqlite in the state directory].
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Directory for the database, Fernet keys and clouds.yaml [default: /var/lib/neutrino].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// URL clients reach this server at, used in the catalog and links [default: http://ADDR].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Admin password; generated and printed on first start when not given.
    #[arg(long, value_name = "PASS", env = "NEUTRINO_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Bootstrap(args) => serve::bootstrap(args).await,
            Command::DbUpgrade(args) => serve::db_upgrade(args).await,
            Command::OvnSync { mode, args } => serve::ovn_sync(args, &mode).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Agent(args) => agent_cmd::run(args).await,
            Command::Up(args) => up::up(args).await,
            Command::Down(args) => up::down(args).await,
            Command::Instance(args) => instance::run(args).await,
        }
    })
}
