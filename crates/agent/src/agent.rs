//! The reconcile loop: every port bound to this host has a veth whose host end is an OVS port
//! on br-int with `external_ids:iface-id=<port id>`; ports the agent plugged that are no longer
//! bound here are unplugged. Each pass compares against what exists and only changes what
//! differs, so a restarted agent leaves correct plugs alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cloud::Api;
use crate::net;
use crate::ovs::{Ovs, OvsSettings, VifPort, OWNER_KEY};

/// The agent's settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The host ports are bound to (`binding:host_id`), also the chassis hostname.
    pub host: String,
    /// The local Open_vSwitch DB, e.g. `unix:/var/run/openvswitch/db.sock`.
    pub ovs_db: String,
    /// What the local Open vSwitch should look like.
    pub ovs: OvsSettings,
    /// Time between two passes over the server's ports.
    pub poll_interval: Duration,
}

/// One port the server says is bound here.
#[derive(Debug, Clone)]
struct BoundPort {
    id: String,
    mac: String,
    network_id: String,
    device_id: String,
    vif_type: String,
}

impl BoundPort {
    fn from_json(p: &Value) -> Option<BoundPort> {
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let id = s("id");
        if id.is_empty() {
            return None;
        }
        Some(BoundPort {
            id,
            mac: s("mac_address"),
            network_id: s("network_id"),
            device_id: s("device_id"),
            vif_type: s("binding:vif_type"),
        })
    }

    fn external_ids(&self) -> BTreeMap<String, String> {
        [
            ("iface-id", self.id.as_str()),
            ("attached-mac", self.mac.as_str()),
            ("iface-status", "active"),
            ("vm-id", self.device_id.as_str()),
            (OWNER_KEY, "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// What one pass changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// veth pairs created.
    pub veths_created: usize,
    /// OVS ports added or rewritten.
    pub ports_plugged: usize,
    /// OVS ports removed.
    pub ports_unplugged: usize,
    /// Ports asked to bind again.
    pub rebinds: usize,
}

/// The agent's state between passes.
#[derive(Debug)]
pub struct Agent {
    cfg: AgentConfig,
    api: Api,
    ovs: Ovs,
    mtus: HashMap<String, u32>,
    rebind_after: HashMap<String, Instant>,
}

impl Agent {
    /// Connects to the local Open_vSwitch DB and applies the OVS settings.
    pub async fn start(cfg: AgentConfig, api: Api) -> anyhow::Result<Agent> {
        let ovs = Ovs::connect(&cfg.ovs_db, Duration::from_secs(60)).await?;
        if ovs.configure(&cfg.ovs).await? {
            tracing::info!(host = %cfg.host, "Open_vSwitch configured for OVN");
        } else {
            tracing::info!(host = %cfg.host, "Open_vSwitch already configured");
        }
        Ok(Agent { cfg, api, ovs, mtus: HashMap::new(), rebind_after: HashMap::new() })
    }

    /// Runs passes forever; a failed pass (server or OVS unreachable) changes nothing and is
    /// retried after the poll interval.
    pub async fn run(mut self) -> anyhow::Result<()> {
        let mut last_configure = Instant::now();
        loop {
            if last_configure.elapsed() > Duration::from_secs(30) {
                last_configure = Instant::now();
                if let Err(e) = self.ovs.configure(&self.cfg.ovs).await {
                    tracing::warn!("cannot check the Open_vSwitch settings: {e:#}");
                }
            }
            match self.pass().await {
                Ok(r) if r != PassReport::default() => tracing::debug!(?r, "pass changed things"),
                Ok(_) => {}
                Err(e) => tracing::warn!("pass failed: {e:#}"),
            }
            tokio::time::sleep(self.cfg.poll_interval).await;
        }
    }

    async fn mtu(&mut self, network_id: &str) -> u32 {
        if let Some(m) = self.mtus.get(network_id) {
            return *m;
        }
        match self.api.get(&format!("/v2.0/networks/{network_id}")).await {
            Ok(doc) => {
                let mtu = doc["network"]["mtu"].as_u64().map_or(1500, |m| m as u32);
                self.mtus.insert(network_id.to_string(), mtu);
                mtu
            }
            Err(e) => {
                tracing::warn!(network_id, "cannot read the network's MTU, using 1500: {e:#}");
                1500
            }
        }
    }

    /// One pass: plug what is bound here, unplug what the agent plugged and is not.
    pub async fn pass(&mut self) -> anyhow::Result<PassReport> {
        let bridge = self.cfg.ovs.integration_bridge.clone();
        let ports: Vec<BoundPort> = self
            .api
            .list("ports", &[("binding:host_id", self.cfg.host.as_str())])
            .await?
            .iter()
            .filter_map(BoundPort::from_json)
            .collect();
        let vifs = self.ovs.vif_ports(&bridge).await?;
        let mut report = PassReport::default();
        let wanted: HashSet<&str> = ports.iter().map(|p| p.id.as_str()).collect();

        for port in &ports {
            let tap = net::tap_name(&port.id);
            let existing: Option<&VifPort> = vifs.iter().find(|v| v.name == tap);
            let mut fresh = false;
            if !net::link_exists(&tap) {
                let mtu = self.mtu(&port.network_id).await;
                net::create_veth(&tap, &net::peer_name(&port.id), &port.mac, mtu).await?;
                report.veths_created += 1;
                fresh = true;
                tracing::info!(port = %port.id, %tap, mtu, "veth created");
            }
            let ids = port.external_ids();
            match existing {
                // A device created again needs a fresh OVS port for vswitchd to open it.
                Some(v) if fresh => {
                    self.ovs.remove_port(&bridge, v.port_uuid, &tap).await?;
                    self.ovs.add_port(&bridge, &tap, &ids).await?;
                    report.ports_plugged += 1;
                }
                Some(v) if !crate::ovs::has_all(&v.external_ids, &ids) => {
                    self.ovs.set_interface_ids(&tap, &v.external_ids, &ids).await?;
                    report.ports_plugged += 1;
                }
                Some(_) => {}
                None => {
                    self.ovs.add_port(&bridge, &tap, &ids).await?;
                    report.ports_plugged += 1;
                    tracing::info!(port = %port.id, %tap, "plugged into {bridge}");
                }
            }
            // The server binds when the chassis exists; a port bound before ovn-controller
            // registered stays `binding_failed` until its host is set again.
            if matches!(port.vif_type.as_str(), "binding_failed" | "unbound" | "") {
                let due = self.rebind_after.get(&port.id).is_none_or(|t| Instant::now() >= *t);
                if due {
                    self.rebind_after
                        .insert(port.id.clone(), Instant::now() + Duration::from_secs(5));
                    let body = json!({"port": {"binding:host_id": self.cfg.host}});
                    match self.api.put(&format!("/v2.0/ports/{}", port.id), &body).await {
                        Ok(_) => report.rebinds += 1,
                        Err(e) => tracing::warn!(port = %port.id, "rebind failed: {e:#}"),
                    }
                }
            }
        }
        self.rebind_after.retain(|id, _| wanted.contains(id.as_str()));

        for vif in &vifs {
            if !vif.external_ids.contains_key(OWNER_KEY) {
                continue;
            }
            let iface_id = vif.external_ids.get("iface-id").map(String::as_str).unwrap_or("");
            if wanted.contains(iface_id) {
                continue;
            }
            self.ovs.remove_port(&bridge, vif.port_uuid, &vif.name).await?;
            net::delete_link(&vif.name).await?;
            report.ports_unplugged += 1;
            tracing::info!(port = iface_id, tap = %vif.name, "unplugged");
        }
        Ok(report)
    }
}
