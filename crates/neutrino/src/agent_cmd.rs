//! `neutrino agent`: the host agent (see the `neutrino-agent` crate).

use std::time::Duration;

use clap::Args;
use nt_agent::{Agent, AgentConfig, Api, OvsSettings};

/// `neutrino agent` options.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Host name ports are bound to (`binding:host_id`) and the chassis reports
    /// [default: this machine's hostname].
    #[arg(long, env = "NEUTRINO_HOST")]
    pub host: Option<String>,
    /// The local Open_vSwitch database.
    #[arg(long, value_name = "REMOTE", default_value = "unix:/var/run/openvswitch/db.sock")]
    pub ovs_db: String,
    /// OVN Southbound database for ovn-controller (`external_ids:ovn-remote`).
    #[arg(long, value_name = "REMOTE", default_value = "unix:/var/run/ovn/ovnsb_db.sock")]
    pub ovn_remote: String,
    /// Tunnel type (`external_ids:ovn-encap-type`).
    #[arg(long, default_value = "geneve")]
    pub encap_type: String,
    /// Tunnel endpoint address (`external_ids:ovn-encap-ip`).
    #[arg(long, default_value = "127.0.0.1")]
    pub encap_ip: String,
    /// Provider network mapping PHYSNET:BRIDGE (repeat or comma-separate); bridges are created.
    #[arg(long = "bridge-mapping", value_name = "PHYSNET:BRIDGE", value_delimiter = ',')]
    pub bridge_mappings: Vec<String>,
    /// Offer this host as a gateway chassis (`ovn-cms-options=enable-chassis-as-gw`).
    #[arg(long)]
    pub gateway: bool,
    /// Datapath of the bridges: `auto` picks `netdev` (userspace) when the Open vSwitch kernel
    /// module is not loaded.
    #[arg(long, default_value = "auto", value_parser = ["auto", "system", "netdev"])]
    pub datapath_type: String,
    /// Chassis name (`external_ids:system-id`) [default: keep the current one or make one].
    #[arg(long)]
    pub system_id: Option<String>,
    /// Milliseconds between two looks at the ports bound to this host.
    #[arg(long, default_value_t = 250)]
    pub poll_interval_ms: u64,
    /// Cloud in clouds.yaml to use [default: OS_CLOUD, else `neutrino`].
    #[arg(long)]
    pub os_cloud: Option<String>,
}

impl AgentArgs {
    /// The Open vSwitch settings these options describe.
    pub fn ovs_settings(&self) -> anyhow::Result<OvsSettings> {
        let mut mappings = Vec::new();
        for m in &self.bridge_mappings {
            let Some((physnet, bridge)) = m.split_once(':') else {
                anyhow::bail!("--bridge-mapping '{m}': expected PHYSNET:BRIDGE");
            };
            mappings.push((physnet.trim().to_string(), bridge.trim().to_string()));
        }
        Ok(OvsSettings {
            system_id: self.system_id.clone(),
            hostname: self.host(),
            ovn_remote: self.ovn_remote.clone(),
            encap_type: self.encap_type.clone(),
            encap_ip: self.encap_ip.clone(),
            bridge_mappings: mappings,
            gateway: self.gateway,
            datapath_type: match self.datapath_type.as_str() {
                "auto" => nt_agent::ovs::auto_datapath_type(),
                other => other.to_string(),
            },
            integration_bridge: "br-int".into(),
        })
    }

    /// The host name in use.
    pub fn host(&self) -> String {
        self.host.clone().unwrap_or_else(nt_agent::hostname)
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NEUTRINO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// `neutrino agent`.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    init_logging();
    let api = Api::from_env(args.os_cloud.as_deref())?;
    let cfg = AgentConfig {
        host: args.host(),
        ovs_db: args.ovs_db.clone(),
        ovs: args.ovs_settings()?,
        poll_interval: Duration::from_millis(args.poll_interval_ms.max(50)),
    };
    tracing::info!(host = %cfg.host, ovs_db = %cfg.ovs_db, "neutrino agent starting");
    let agent = Agent::start(cfg, api).await?;
    tokio::select! {
        r = agent.run() => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
