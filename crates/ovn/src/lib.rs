//! The OVN mechanism driver: keeps the OVN Northbound database in step with neutrino's
//! database, as Neutron's ML2/OVN driver does (`ovn-mapping.md`).
//!
//! Write path: the API transaction records the resource in `ovn_revisions` (precommit); after
//! commit the request hands `(kind, id)` to the NB writer and waits, bounded, for it. The writer
//! reads the resource back from the database, computes its rows ([`translate`]) and writes the
//! difference to NB guarded by the revision the replica showed ([`writer`]). If NB is down the
//! request still succeeds; the resource stays behind in `ovn_revisions` until maintenance
//! (one server at a time, elected by an OVSDB lock) repairs it. Status: a monitor on
//! `Logical_Switch_Port.up` turns ports ACTIVE/DOWN.
//!
//! Depends on the core (driver trait, status updates), the store and the OVSDB client; knows
//! nothing of HTTP.

pub mod names;
pub mod nb;
mod nb_codegen;
pub mod nb_tables;
pub mod security;
pub mod translate;
pub mod writer;

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use nt_core::ml2::{
    MechanismDriver, NetworkContext, PortBinding, PortContext, SecurityGroupContext, SubnetContext,
};
use nt_core::{Core, TxError};
use nt_ovsdb::{Atom, Client, ClientOptions, ConnectionEvent, LockEvent, MonitorRequest, Value};
use nt_store::ovn::{ovn_revision_create, ovn_revision_mark_deleted, ovn_revisions_lagging};
use nt_store::{Db, Scope, Tx};
use nt_types::network::Network;
use nt_types::port::Port;
use nt_types::{Error, MacAddr};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::names::*;
use crate::nb::{ext, Nb};
use crate::translate::TranslateConfig;
pub use crate::writer::{Counts, Kind, Writer};

/// `[ovn]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OvnConfig {
    /// NB remotes, e.g. `unix:/run/ovn/ovnnb_db.sock` or `tcp:127.0.0.1:6641` (comma-separated
    /// for a cluster).
    pub nb_connection: String,
    /// SB remotes (chassis for bindings and agents); empty to not read SB.
    pub sb_connection: String,
    /// How long a request waits for its change to reach NB before answering anyway.
    pub write_timeout_ms: u64,
    /// Maintenance period.
    pub maintenance_interval_secs: u64,
    /// DHCP lease time.
    pub dhcp_lease_time: u32,
    /// Keep a metadata port per network for the OVN metadata agent.
    pub metadata_enabled: bool,
}

impl Default for OvnConfig {
    fn default() -> Self {
        OvnConfig {
            nb_connection: "unix:/var/run/ovn/ovnnb_db.sock".into(),
            sb_connection: String::new(),
            write_timeout_ms: 5000,
            maintenance_interval_secs: 10,
            dhcp_lease_time: 43200,
            metadata_enabled: true,
        }
    }
}

/// Most jobs written in one NB transaction.
const MAX_BATCH: usize = 128;

/// Ports per NB transaction in a full repair: few large transactions also spare ovn-northd,
/// which recomputes after every one.
const REPAIR_BATCH: usize = 1000;

/// How often chassis liveness is probed (`NB_Global.nb_cfg` bump).
const LIVENESS_PROBE: Duration = Duration::from_secs(30);

/// `ovn-sync` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Compare and report only.
    Log,
    /// Compare and fix.
    Repair,
}

/// Who waits for a job's outcome.
type Waiter = oneshot::Sender<Result<(), String>>;

struct Job {
    kind: Kind,
    id: String,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

struct Shared {
    config: OvnConfig,
    db: Db,
    base_mac: MacAddr,
    nb_client: Client,
    writer: OnceLock<Writer>,
    ready: watch::Sender<bool>,
    jobs: mpsc::UnboundedSender<Job>,
    core: OnceLock<Weak<Core>>,
    sb: Option<(Client, Arc<OnceLock<nt_ovsdb::Monitor>>)>,
}

/// The OVN mechanism driver (cheap to clone).
#[derive(Clone)]
pub struct OvnDriver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for OvnDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvnDriver").field("nb", &self.shared.config.nb_connection).finish()
    }
}

fn client_options() -> ClientOptions {
    ClientOptions {
        initial_connect_timeout: None,
        backoff_max: Duration::from_secs(2),
        ..ClientOptions::default()
    }
}

impl OvnDriver {
    /// Starts the driver: NB (and SB) connections, the writer, the status watcher and
    /// maintenance run in the background; NB may come up later.
    pub fn start(db: Db, config: OvnConfig, base_mac: &str) -> Result<OvnDriver, String> {
        let base_mac: MacAddr = base_mac.parse()?;
        let nb_client = Client::start(
            &config.nb_connection,
            ClientOptions { database: Some(NB.into()), ..client_options() },
        )
        .map_err(|e| format!("NB connection {}: {e}", config.nb_connection))?;
        let sb = if config.sb_connection.is_empty() {
            None
        } else {
            let c = Client::start(
                &config.sb_connection,
                ClientOptions { database: Some(SB.into()), ..client_options() },
            )
            .map_err(|e| format!("SB connection {}: {e}", config.sb_connection))?;
            Some((c, Arc::default()))
        };
        let (jobs, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            config,
            db,
            base_mac,
            nb_client,
            writer: OnceLock::new(),
            ready: watch::Sender::new(false),
            jobs,
            core: OnceLock::new(),
            sb,
        });
        let driver = OvnDriver { shared };
        tokio::spawn(driver.clone().setup());
        tokio::spawn(driver.clone().write_loop(rx));
        tokio::spawn(driver.clone().status_loop());
        tokio::spawn(driver.clone().maintenance_loop());
        if driver.shared.sb.is_some() {
            tokio::spawn(driver.clone().sb_setup());
            tokio::spawn(driver.clone().gateway_chassis_loop());
        }
        Ok(driver)
    }

    /// Gives the driver the core it reports port status to.
    pub fn attach(&self, core: &Arc<Core>) {
        let _ = self.shared.core.set(Arc::downgrade(core));
    }

    /// Waits until NB is connected and replicated.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.ready.subscribe();
        let ready = tokio::time::timeout(timeout, rx.wait_for(|r| *r)).await;
        matches!(ready, Ok(Ok(_)))
    }

    fn writer(&self) -> Option<&Writer> {
        self.shared.writer.get()
    }

    async fn setup(self) {
        let client = self.shared.nb_client.clone();
        loop {
            if client.wait_connected(None).await.is_err() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let attempt = async {
                let schema = client.schema(NB).await?;
                let monitor = client
                    .monitor(
                        NB,
                        [
                            ("Logical_Switch", MonitorRequest::all()),
                            ("Logical_Switch_Port", MonitorRequest::all()),
                            ("DHCP_Options", MonitorRequest::all()),
                            ("Port_Group", MonitorRequest::all()),
                            ("ACL", MonitorRequest::all()),
                            ("Logical_Router", MonitorRequest::all()),
                            ("Logical_Router_Port", MonitorRequest::all()),
                            ("Logical_Router_Static_Route", MonitorRequest::all()),
                            ("NAT", MonitorRequest::all()),
                            ("HA_Chassis_Group", MonitorRequest::all()),
                            ("HA_Chassis", MonitorRequest::all()),
                            ("NB_Global", MonitorRequest::columns(["nb_cfg", "sb_cfg", "hv_cfg"])),
                        ],
                    )
                    .await?;
                Ok::<_, nt_ovsdb::OvsdbError>(Nb { client: client.clone(), monitor, schema })
            };
            match attempt.await {
                Ok(nb) => {
                    let writer = Writer {
                        db: self.shared.db.clone(),
                        nb,
                        config: TranslateConfig {
                            dhcp_lease_time: self.shared.config.dhcp_lease_time,
                        },
                        base_mac: self.shared.base_mac,
                        sb: writer::l3::SbChassis(
                            self.shared.sb.as_ref().map(|(_, s)| s.clone()).unwrap_or_default(),
                        ),
                        pass: None,
                    };
                    let _ = self.shared.writer.set(writer);
                    self.shared.ready.send_replace(true);
                    tracing::info!(nb = %self.shared.config.nb_connection, "OVN NB replicated");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "NB replica not established yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn sb_setup(self) {
        let Some((client, slot)) = &self.shared.sb else { return };
        loop {
            if client.wait_connected(None).await.is_ok() {
                let tables = [
                    ("Chassis", MonitorRequest::all()),
                    ("Chassis_Private", MonitorRequest::all()),
                ];
                match client.monitor(SB, tables).await {
                    Ok(m) => {
                        let _ = slot.set(m);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "SB replica not established yet; retrying")
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Applies jobs: whatever queued up while the last transaction was in flight (up to
    /// [`MAX_BATCH`]) is merged (duplicates once) and written as one transaction.
    async fn write_loop(self, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            let mut merged: Vec<(Kind, String, Vec<Waiter>)> = Vec::new();
            for job in batch {
                let waiters: Vec<_> = job.done.into_iter().collect();
                match merged.iter_mut().find(|(k, id, _)| *k == job.kind && *id == job.id) {
                    Some((_, _, w)) => w.extend(waiters),
                    None => merged.push((job.kind, job.id, waiters)),
                }
            }
            let jobs: Vec<(Kind, String)> =
                merged.iter().map(|(k, id, _)| (*k, id.clone())).collect();
            // Everything queued while the previous transaction was in flight goes out as one.
            let results = match self.writer() {
                Some(w) => w.reconcile_many(&jobs).await,
                None => jobs
                    .iter()
                    .map(|_| Err("NB not connected; left to maintenance".to_string()))
                    .collect(),
            };
            for ((kind, id, waiters), result) in merged.into_iter().zip(results) {
                let result = result.map(|_| ());
                if let Err(e) = &result {
                    tracing::warn!(?kind, id, error = %e, "NB write deferred");
                }
                for w in waiters {
                    let _ = w.send(result.clone());
                }
            }
        }
    }

    /// Hands a change to the writer and waits (bounded) for it to reach NB.
    async fn write(&self, kind: Kind, id: &str) {
        let (tx, rx) = oneshot::channel();
        let job = Job { kind, id: id.to_string(), done: Some(tx) };
        if self.shared.jobs.send(job).is_err() {
            return;
        }
        let timeout = Duration::from_millis(self.shared.config.write_timeout_ms);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(?kind, id, error = %e, "resource pending in NB"),
            _ => tracing::warn!(?kind, id, "NB write not confirmed in time; resource pending"),
        }
    }

    fn port_status_of(row: &nt_ovsdb::Row) -> Option<(String, &'static str)> {
        ext(row, PORT_NAME)?;
        let name = row.get("name").and_then(Value::as_str)?.to_string();
        let up = row.get("up").and_then(Value::as_bool).unwrap_or(false);
        let enabled = row.get("enabled").and_then(Value::as_bool).unwrap_or(true);
        Some((name, if up && enabled { "ACTIVE" } else { "DOWN" }))
    }

    async fn apply_status(&self, row: &nt_ovsdb::Row) {
        let Some((port, status)) = Self::port_status_of(row) else { return };
        let Some(core) = self.shared.core.get().and_then(Weak::upgrade) else { return };
        if let Err(e) = core.port_status_set(&port, status).await {
            tracing::warn!(port, status, error = %e, "port status not recorded");
        }
    }

    /// Follows `Logical_Switch_Port.up`; after every (re)sync the whole replica is re-read, so no
    /// transition is lost across reconnects.
    async fn status_loop(self) {
        let mut ready = self.shared.ready.subscribe();
        if ready.wait_for(|r| *r).await.is_err() {
            return;
        }
        let Some(writer) = self.writer() else { return };
        let monitor = writer.nb.monitor.clone();
        loop {
            let (cache, mut rx) = monitor.snapshot_and_subscribe();
            let rows: Vec<nt_ovsdb::Row> =
                cache.table("Logical_Switch_Port").map(|(_, r)| r.clone()).collect();
            drop(cache);
            for row in &rows {
                self.apply_status(row).await;
            }
            loop {
                match rx.recv().await {
                    Ok(change) if change.table() == "Logical_Switch_Port" => {
                        let relevant = match (change.old_row(), change.new_row()) {
                            (Some(old), Some(new)) => {
                                old.get("up") != new.get("up")
                                    || old.get("enabled") != new.get("enabled")
                            }
                            _ => true,
                        };
                        if let (true, Some(new)) = (relevant, change.new_row()) {
                            self.apply_status(new).await;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }

    /// Repairs lagging resources on a timer and after every reconnect, while this server holds
    /// the maintenance lock.
    async fn maintenance_loop(self) {
        let mut ready = self.shared.ready.subscribe();
        if ready.wait_for(|r| *r).await.is_err() {
            return;
        }
        let client = self.shared.nb_client.clone();
        let mut locks = client.lock_events();
        let mut conns = client.connection_events();
        if let Err(e) = client.lock(MAINTENANCE_LOCK).await {
            tracing::warn!(error = %e, "maintenance lock not requested");
        }
        let period = Duration::from_secs(self.shared.config.maintenance_interval_secs.max(1));
        let mut full = true;
        let mut last_probe: Option<std::time::Instant> = None;
        loop {
            if client.has_lock(MAINTENANCE_LOCK)
                && last_probe.is_none_or(|t| t.elapsed() >= LIVENESS_PROBE)
            {
                // Chassis answer by copying nb_cfg into Chassis_Private: that is their liveness.
                let bump = nt_ovsdb::Operation::mutate(
                    "NB_Global",
                    vec![],
                    vec![nt_ovsdb::Mutation::add("nb_cfg", Value::Atom(Atom::Integer(1)))],
                );
                if let Err(e) = client.transact(NB, vec![bump]).await {
                    tracing::debug!(error = %e, "liveness probe not sent");
                }
                last_probe = Some(std::time::Instant::now());
            }
            if client.has_lock(MAINTENANCE_LOCK) {
                let started = std::time::Instant::now();
                let result = if full {
                    self.sync(SyncMode::Repair).await
                } else {
                    self.repair_lagging().await
                };
                match result {
                    Ok(c) if c != Counts::default() => {
                        let secs = started.elapsed().as_secs_f64();
                        tracing::info!(?c, full, secs, "maintenance repaired NB")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "maintenance failed"),
                }
                full = false;
            }
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                ev = conns.recv() => if let Ok(ConnectionEvent::Reconnected { .. }) = ev { full = true },
                ev = locks.recv() => if let Ok(LockEvent::Locked { .. }) = ev { full = true },
            }
        }
    }

    /// Reconciles every resource whose NB revision lags.
    pub async fn repair_lagging(&self) -> Result<Counts, String> {
        let writer = self.writer().ok_or("NB not connected")?;
        let lagging =
            ovn_revisions_lagging(self.shared.db.reader()).await.map_err(|e| e.to_string())?;
        let mut counts = Counts::default();
        for l in lagging {
            let Some(kind) = Kind::from_resource_type(&l.resource_type) else { continue };
            counts += writer.reconcile(kind, &l.resource_id, false).await?;
        }
        Ok(counts)
    }

    /// Compares every resource with NB and, in repair mode, fixes the difference; NB rows that
    /// carry our markers but whose resource is gone are deleted.
    pub async fn sync(&self, mode: SyncMode) -> Result<Counts, String> {
        let base = self.writer().ok_or("NB not connected")?;
        let dry = mode == SyncMode::Log;
        let db = &self.shared.db;
        let err = |e: nt_store::StoreError| e.to_string();
        let mut counts = Counts::default();
        let networks =
            nt_store::networks::network_list(db.reader(), Scope::All).await.map_err(err)?;
        let subnets = nt_store::subnets::subnet_list(db.reader()).await.map_err(err)?;
        let ports = nt_store::ports::port_list(db.reader(), Scope::All).await.map_err(err)?;
        // Everything read once: the pass answers the per-resource lookups.
        let pass = writer::Pass::build(&base.nb, &networks, &subnets, &ports);
        let writer = Writer { pass: Some(std::sync::Arc::new(pass)), ..base.clone() };
        for n in &networks {
            counts += writer.reconcile(Kind::Network, &n.id, dry).await?;
        }
        let groups = nt_store::security_groups::security_group_list(db.reader(), Scope::All)
            .await
            .map_err(err)?;
        for g in &groups {
            counts += writer.reconcile(Kind::SecurityGroup, &g.id, dry).await?;
        }
        let group_ids: std::collections::HashSet<&str> =
            groups.iter().map(|r| r.id.as_str()).collect();
        let orphan_groups: Vec<String> = writer.nb.monitor.with_cache(|c| {
            c.table("Port_Group")
                .filter_map(|(_, r)| ext(r, security::SECURITY_GROUP_ID).map(String::from))
                .filter(|g| !group_ids.contains(g.as_str()))
                .collect()
        });
        for g in orphan_groups {
            counts += writer.reconcile(Kind::SecurityGroup, &g, dry).await?;
        }
        for s in &subnets {
            counts += writer.reconcile(Kind::Subnet, &s.id, dry).await?;
        }
        let writer = if dry {
            for p in &ports {
                counts += writer.reconcile(Kind::Port, &p.id, true).await?;
            }
            writer
        } else {
            // The switches and subnets written above brought LSPs of their own (localnet,
            // metadata ports): index the replica again so later steps do not plan them twice.
            let pass = writer::Pass::build(&base.nb, &networks, &subnets, &ports);
            let writer = Writer { pass: Some(std::sync::Arc::new(pass)), ..base.clone() };
            // Repairs go out in batches: one NB transaction per chunk of ports.
            let jobs: Vec<(Kind, String)> =
                ports.iter().map(|p| (Kind::Port, p.id.clone())).collect();
            for chunk in jobs.chunks(REPAIR_BATCH) {
                for result in writer.reconcile_many(chunk).await {
                    counts += result?;
                }
            }
            writer
        };
        counts += writer.sync_l3(dry).await?;
        // NB rows of ours whose resource no longer exists.
        let net_ids: std::collections::HashSet<&str> =
            networks.iter().map(|r| r.id.as_str()).collect();
        let subnet_ids: std::collections::HashSet<&str> =
            subnets.iter().map(|r| r.id.as_str()).collect();
        let port_ids: std::collections::HashSet<&str> =
            ports.iter().map(|r| r.id.as_str()).collect();
        let (orphan_ls, orphan_dhcp, orphan_lsp) = writer.nb.monitor.with_cache(|c| {
            let ls: Vec<String> = c
                .table("Logical_Switch")
                .filter(|(_, r)| ext(r, NETWORK_NAME).is_some())
                .map(|(u, _)| u.to_string())
                .filter(|u| !net_ids.contains(u.as_str()))
                .collect();
            let mut dhcp: Vec<String> = c
                .table("DHCP_Options")
                .filter_map(|(_, r)| ext(r, SUBNET_ID).map(String::from))
                .filter(|s| !subnet_ids.contains(s.as_str()))
                .collect();
            dhcp.sort();
            dhcp.dedup();
            let lsp: Vec<String> = c
                .table("Logical_Switch_Port")
                .filter(|(_, r)| ext(r, PORT_NAME).is_some())
                .filter_map(|(_, r)| r.get("name").and_then(Value::as_str).map(String::from))
                .filter(|n| !port_ids.contains(n.as_str()))
                .collect();
            (ls, dhcp, lsp)
        });
        // Orphans are looked up in the live replica, not the snapshot.
        for id in orphan_lsp {
            counts += base.reconcile(Kind::Port, &id, dry).await?;
        }
        for id in orphan_dhcp {
            counts += base.reconcile(Kind::Subnet, &id, dry).await?;
        }
        for id in orphan_ls {
            counts += base.reconcile(Kind::Network, &id, dry).await?;
        }
        Ok(counts)
    }

    fn chassis_for(&self, host: &str) -> bool {
        let Some((_, slot)) = &self.shared.sb else { return false };
        let Some(monitor) = slot.get() else { return false };
        let host_atom = Atom::String(host.to_string());
        monitor.with_cache(|c| {
            c.table("Chassis").any(|(_, r)| {
                let matches = |col: &str| r.get(col).and_then(Value::as_atom) == Some(&host_atom);
                matches("hostname") || matches("name")
            })
        })
    }
}

macro_rules! tracked {
    ($($create:ident, $update:ident, $delete:ident, $pc:ident, $pu:ident, $pd:ident, $ctx:ty, $kind:expr;)*) => {
        #[async_trait]
        impl MechanismDriver for OvnDriver {
            fn name(&self) -> &str {
                "ovn"
            }

            fn bind_port(&self, _port: &Port, _network: &Network) -> Option<PortBinding> {
                if !self.chassis_for(&_port.binding_host_id) {
                    return None;
                }
                Some(PortBinding {
                    vif_type: "ovs".into(),
                    vif_details: serde_json::json!({"port_filter": true, "connectivity": "l2", "bridge_name": "br-int"}),
                })
            }

            $(
                async fn $create(&self, tx: &mut Tx, ctx: &$ctx) -> Result<(), TxError> {
                    ovn_revision_create(tx, $kind.resource_type(), &ctx.current.id).await?;
                    Ok(())
                }
                async fn $delete(&self, tx: &mut Tx, ctx: &$ctx) -> Result<(), TxError> {
                    ovn_revision_mark_deleted(tx, $kind.resource_type(), &ctx.current.id).await?;
                    Ok(())
                }
                async fn $pc(&self, ctx: &$ctx) -> Result<(), Error> {
                    self.write($kind, &ctx.current.id).await;
                    Ok(())
                }
                async fn $pu(&self, ctx: &$ctx) -> Result<(), Error> {
                    self.write($kind, &ctx.current.id).await;
                    Ok(())
                }
                async fn $pd(&self, ctx: &$ctx) -> Result<(), Error> {
                    self.write($kind, &ctx.current.id).await;
                    Ok(())
                }
            )*
        }
    };
}

tracked! {
    create_network_precommit, update_network_precommit, delete_network_precommit,
    create_network_postcommit, update_network_postcommit, delete_network_postcommit, NetworkContext, Kind::Network;
    create_subnet_precommit, update_subnet_precommit, delete_subnet_precommit,
    create_subnet_postcommit, update_subnet_postcommit, delete_subnet_postcommit, SubnetContext, Kind::Subnet;
    create_port_precommit, update_port_precommit, delete_port_precommit,
    create_port_postcommit, update_port_postcommit, delete_port_postcommit, PortContext, Kind::Port;
    create_security_group_precommit, update_security_group_precommit, delete_security_group_precommit,
    create_security_group_postcommit, update_security_group_postcommit, delete_security_group_postcommit,
    SecurityGroupContext, Kind::SecurityGroup;
}

impl nt_core::agents::AgentSource for OvnDriver {
    /// OVN controllers as agents (SB `Chassis`), alive when their `Chassis_Private.nb_cfg`
    /// has caught up with the last liveness probe, as upstream's OVN driver reports them.
    fn agents(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let Some((_, slot)) = &self.shared.sb else { return vec![] };
        let Some(sb) = slot.get() else { return vec![] };
        let nb_cfg = self
            .writer()
            .map(|w| {
                w.nb.monitor.with_cache(|c| {
                    c.table("NB_Global")
                        .next()
                        .and_then(|(_, r)| r.get("nb_cfg"))
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                })
            })
            .unwrap_or(0);
        sb.with_cache(|c| {
            c.table("Chassis")
                .map(|(_, chassis)| {
                    let text = |row: &nt_ovsdb::Row, col: &str| {
                        row.get(col).and_then(Value::as_str).unwrap_or("").to_string()
                    };
                    let name = text(chassis, "name");
                    let private = c
                        .table("Chassis_Private")
                        .map(|(_, r)| r)
                        .find(|r| text(r, "name") == name);
                    let alive = private.is_some_and(|p| {
                        p.get("nb_cfg").and_then(Value::as_i64).unwrap_or(0) + 1 >= nb_cfg
                    });
                    let heartbeat = private
                        .and_then(|p| p.get("nb_cfg_timestamp").and_then(Value::as_i64))
                        .filter(|ms| *ms > 0)
                        .and_then(chrono_like)
                        .unwrap_or_default();
                    let other = |key: &str| {
                        chassis
                            .get("other_config")
                            .and_then(|o| o.map_get(key))
                            .or_else(|| chassis.get("external_ids").and_then(|o| o.map_get(key)))
                            .and_then(Atom::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    let cms = other("ovn-cms-options");
                    let gateway = cms.split(',').any(|o| o.trim() == "enable-chassis-as-gw");
                    let agent_type = if gateway {
                        "OVN Controller Gateway agent"
                    } else {
                        "OVN Controller agent"
                    };
                    serde_json::json!({
                        "id": name,
                        "agent_type": agent_type,
                        "binary": "ovn-controller",
                        "host": text(chassis, "hostname"),
                        "topic": "n/a",
                        "admin_state_up": true,
                        "alive": alive,
                        "availability_zone": "",
                        "description": "",
                        "heartbeat_timestamp": heartbeat,
                        "created_at": heartbeat,
                        "started_at": heartbeat,
                        "resources_synced": null,
                        "configurations": {
                            "chassis_name": name,
                            "bridge-mappings": other("ovn-bridge-mappings"),
                            "datapath-type": other("datapath-type"),
                            "iface-types": other("iface-types"),
                            "ovn-cms-options": cms,
                        },
                    })
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
                })
                .collect()
        })
    }
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time in milliseconds, as upstream shows agent timestamps.
fn chrono_like(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}
