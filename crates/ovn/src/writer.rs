//! Reconciling one resource: read it from our database (the source of truth), compute its NB
//! rows, compare with the replica and write only the difference, guarded by the revision the
//! replica showed so that a stale writer never overwrites a newer one. Used alike by the
//! postcommit path, maintenance and `ovn-sync`.

use std::collections::BTreeMap;

use nt_ovsdb::{row, Atom, Condition, Mutation, Operation, Row, Value, WaitUntil};
use nt_store::networks::network_get;
use nt_store::ovn::{ovn_revision_forget, ovn_revision_written};
use nt_store::ports::{port_get, ports_of_network};
use nt_store::subnets::{subnet_get, subnets_of_network};
use nt_store::Db;
use nt_types::network::Network;
use nt_types::port::Port;
use nt_types::subnet::Subnet;
use nt_types::MacAddr;
use uuid::Uuid;

use crate::names::*;
use crate::nb::{differing, ext, is_lost_race, revision_of, Nb};
use crate::security;
use crate::translate::{self, PortInputs, TranslateConfig};

/// Routers and floating IPs (a child module: it plans into the writer's transactions).
#[path = "l3.rs"]
pub mod l3;

/// Which kind of resource a job is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A network (Logical_Switch, localnet port).
    Network,
    /// A subnet (DHCP_Options).
    Subnet,
    /// A port (Logical_Switch_Port).
    Port,
    /// A security group (Port_Group and its ACLs).
    SecurityGroup,
    /// A router (Logical_Router, its ports, routes, SNAT and HA_Chassis_Group).
    Router,
    /// A floating IP (NAT `dnat_and_snat`).
    FloatingIp,
}

impl Kind {
    /// The `ovn_revisions.resource_type` of this kind.
    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::Network => "networks",
            Kind::Subnet => "subnets",
            Kind::Port => "ports",
            Kind::SecurityGroup => "security_groups",
            Kind::Router => "routers",
            Kind::FloatingIp => "floatingips",
        }
    }

    /// The kind of an `ovn_revisions.resource_type`.
    pub fn from_resource_type(t: &str) -> Option<Kind> {
        match t {
            "networks" => Some(Kind::Network),
            "subnets" => Some(Kind::Subnet),
            "ports" => Some(Kind::Port),
            "security_groups" => Some(Kind::SecurityGroup),
            "routers" => Some(Kind::Router),
            "floatingips" => Some(Kind::FloatingIp),
            _ => None,
        }
    }
}

/// NB rows created, updated and deleted (or, in a dry run, that would be).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows inserted.
    pub created: u64,
    /// Rows changed.
    pub updated: u64,
    /// Rows removed.
    pub deleted: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.created += o.created;
        self.updated += o.updated;
        self.deleted += o.deleted;
    }
}

/// Everything a reconcile needs.
#[derive(Debug, Clone)]
pub struct Writer {
    /// Our database.
    pub db: Db,
    /// NB.
    pub nb: Nb,
    /// Row shaping settings.
    pub config: TranslateConfig,
    /// Base of generated DHCP server MACs.
    pub base_mac: MacAddr,
    /// SB chassis (gateway scheduling).
    pub sb: l3::SbChassis,
    /// Snapshot indexes and database rows for a full pass (`ovn-sync`, maintenance): lookups
    /// that would otherwise scan the replica or query the database per resource.
    pub pass: Option<std::sync::Arc<Pass>>,
}

/// What a full pass reads once instead of once per resource.
#[derive(Debug, Default)]
pub struct Pass {
    /// LSP name → row uuid.
    pub lsp: std::collections::HashMap<String, Uuid>,
    /// LSP uuid → Port_Groups holding it (uuid, name).
    pub memberships: std::collections::HashMap<Uuid, Vec<(Uuid, String)>>,
    /// Ports by id.
    pub ports: std::collections::HashMap<String, nt_store::ResourceRow>,
    /// Networks by id.
    pub networks: std::collections::HashMap<String, nt_store::ResourceRow>,
    /// Subnets by network id.
    pub subnets: std::collections::HashMap<String, Vec<nt_store::ResourceRow>>,
}

impl Pass {
    /// Builds the indexes from the replica and the given database rows.
    pub fn build(
        nb: &Nb,
        networks: &[nt_store::ResourceRow],
        subnets: &[nt_store::ResourceRow],
        ports: &[nt_store::ResourceRow],
    ) -> Pass {
        let mut pass = Pass::default();
        nb.monitor.with_cache(|c| {
            for (u, r) in c.table("Logical_Switch_Port") {
                if let Some(name) = r.get("name").and_then(Value::as_str) {
                    pass.lsp.insert(name.to_string(), *u);
                }
            }
            for (pu, r) in c.table("Port_Group") {
                let name = r.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                if let Some(Value::Set(members)) = r.get("ports") {
                    for m in members.iter().filter_map(Atom::as_uuid) {
                        pass.memberships.entry(m).or_default().push((*pu, name.clone()));
                    }
                } else if let Some(m) = r.get("ports").and_then(Value::as_uuid) {
                    pass.memberships.entry(m).or_default().push((*pu, name));
                }
            }
        });
        pass.networks = networks.iter().map(|r| (r.id.clone(), r.clone())).collect();
        pass.ports = ports.iter().map(|r| (r.id.clone(), r.clone())).collect();
        for s in subnets {
            let net = s.body.get("network_id").and_then(|v| v.as_str()).unwrap_or_default();
            pass.subnets.entry(net.to_string()).or_default().push(s.clone());
        }
        pass
    }
}

/// True when a set column holds `uuid` (without copying the set).
pub fn set_holds(value: Option<&Value>, uuid: Uuid) -> bool {
    match value {
        Some(Value::Set(s)) => s.contains(&Atom::Uuid(uuid)),
        Some(Value::Atom(a)) => a.as_uuid() == Some(uuid),
        _ => false,
    }
}

#[derive(Debug)]
enum Failure {
    /// The guard failed: the replica was stale or another writer won.
    Lost,
    Other(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Other(s)
    }
}

impl From<nt_store::StoreError> for Failure {
    fn from(e: nt_store::StoreError) -> Self {
        Failure::Other(format!("database: {e}"))
    }
}

type Step = Result<Counts, Failure>;

/// NB operations gathered for one transaction, and what to do once it commits.
#[derive(Debug, Default)]
struct Plan {
    ops: Vec<Operation>,
    /// `(kind, id, revision)`: revision NB holds after commit (`None`: resource gone).
    records: Vec<(Kind, String, Option<i64>)>,
    /// Resources to write after this one.
    after: Vec<(Kind, String)>,
    /// Distinguishes named uuids of several resources in one transaction.
    tag: usize,
    /// `neutron_pg_drop` is already being created in this plan.
    drop_group_planned: bool,
    dry_run: bool,
}

impl Plan {
    fn new(dry_run: bool) -> Plan {
        Plan { dry_run, ..Plan::default() }
    }

    /// A named uuid unique within the transaction.
    fn name(&self, base: &str) -> String {
        format!("{base}{}", self.tag)
    }
}

fn parse<T: serde::de::DeserializeOwned>(row: &nt_store::ResourceRow) -> Result<T, Failure> {
    serde_json::from_value(row.body.clone())
        .map_err(|e| Failure::Other(format!("stored {}: {e}", row.id)))
}

fn uuid_of(id: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(id).map_err(|e| Failure::Other(format!("{id}: {e}")))
}

/// A `wait` that holds only while the row named `name` still carries revision `rev`.
fn guard(table: &str, name_col: &str, name: &Value, rev: i64) -> Operation {
    let mut conditions = vec![Condition::eq(name_col, name.clone())];
    if rev >= 0 {
        conditions
            .push(Condition::includes("external_ids", Value::map([(REVISION, rev.to_string())])));
    }
    Operation::wait(
        table,
        conditions,
        vec![name_col.into()],
        WaitUntil::Eq,
        vec![row([(name_col, name.clone())])],
    )
}

/// A `wait` that holds only while no row named `name` exists (create-if-absent).
fn absent(table: &str, name_col: &str, name: &Value) -> Operation {
    Operation::wait(
        table,
        vec![Condition::eq(name_col, name.clone())],
        vec![name_col.into()],
        WaitUntil::Eq,
        vec![],
    )
}

impl Writer {
    async fn run(&self, ops: Vec<Operation>, dry_run: bool) -> Result<(), Failure> {
        if dry_run || ops.is_empty() {
            return Ok(());
        }
        match self.nb.transact(ops).await {
            Ok(()) => Ok(()),
            Err(e) if is_lost_race(&e) => {
                tracing::debug!(error = %e, "NB transaction lost a race");
                Err(Failure::Lost)
            }
            Err(e) => Err(Failure::Other(format!("NB transaction failed: {e}"))),
        }
    }

    /// Adds the NB changes of one resource to `plan`.
    async fn plan(&self, kind: Kind, id: &str, plan: &mut Plan) -> Step {
        match kind {
            Kind::Network => self.network(id, plan).await,
            Kind::Subnet => self.subnet(id, plan).await,
            Kind::Port => self.port(id, plan).await,
            Kind::SecurityGroup => self.security_group(id, plan).await,
            Kind::Router => self.router(id, plan).await,
            Kind::FloatingIp => self.floatingip(id, plan).await,
        }
    }

    /// Sends a plan as one transaction, then records the revisions NB now holds and runs the
    /// follow-ups.
    async fn execute(&self, plan: Plan) -> Result<(), Failure> {
        self.run(plan.ops, plan.dry_run).await?;
        if plan.dry_run {
            return Ok(());
        }
        // One database transaction for all the revisions a (possibly batched) plan wrote.
        if !plan.records.is_empty() {
            let mut tx = self.db.begin().await?;
            for (kind, id, revision) in plan.records {
                match revision {
                    Some(r) => ovn_revision_written(&mut *tx, kind.resource_type(), &id, r).await?,
                    None => ovn_revision_forget(&mut *tx, kind.resource_type(), &id).await?,
                }
            }
            tx.commit().await.map_err(nt_store::StoreError::from)?;
        }
        for (kind, id) in plan.after {
            // A full pass visits every subnet and port after the networks and subnets.
            if self.pass.is_some() && matches!(kind, Kind::Subnet | Kind::Port) {
                continue;
            }
            if let Err(e) = Box::pin(self.reconcile(kind, &id, false)).await {
                tracing::warn!(?kind, id, error = %e, "follow-up NB write deferred");
            }
        }
        Ok(())
    }

    /// Brings the NB rows of one resource in step with our database.
    pub async fn reconcile(&self, kind: Kind, id: &str, dry_run: bool) -> Result<Counts, String> {
        let mut writer = std::borrow::Cow::Borrowed(self);
        for _ in 0..5 {
            let mut plan = Plan::new(dry_run);
            let step = match writer.plan(kind, id, &mut plan).await {
                Ok(counts) => writer.execute(plan).await.map(|()| counts),
                Err(e) => Err(e),
            };
            match step {
                Ok(c) => return Ok(c),
                Err(Failure::Lost) if writer.pass.is_some() => {
                    // A pass's snapshot is stale once it loses a race: plan from the replica.
                    writer = std::borrow::Cow::Owned(Writer { pass: None, ..self.clone() });
                }
                Err(Failure::Lost) => continue,
                Err(Failure::Other(e)) => return Err(e),
            }
        }
        Err(format!("{kind:?} {id}: NB kept changing under us; left to maintenance"))
    }

    /// Writes several resources in one NB transaction; if any part cannot be planned or the
    /// transaction loses a race, each resource is written on its own instead.
    pub async fn reconcile_many(&self, jobs: &[(Kind, String)]) -> Vec<Result<Counts, String>> {
        if jobs.len() > 1 {
            let mut plan = Plan::new(false);
            let mut planned = Some(Vec::with_capacity(jobs.len()));
            for (tag, (kind, id)) in jobs.iter().enumerate() {
                plan.tag = tag;
                match self.plan(*kind, id, &mut plan).await {
                    Ok(c) => planned.as_mut().map(|p: &mut Vec<Counts>| p.push(c)).unwrap_or(()),
                    Err(e) => {
                        tracing::debug!(?kind, id, error = ?e, "batch not planned; one by one");
                        planned = None;
                        break;
                    }
                }
            }
            if let Some(counts) = planned {
                match self.execute(plan).await {
                    Ok(()) => return counts.into_iter().map(Ok).collect(),
                    Err(Failure::Lost) if self.pass.is_some() => {
                        // The pass's snapshot went stale (something wrote these rows since):
                        // plan the batch once more from the replica.
                        tracing::info!(
                            jobs = jobs.len(),
                            "batched NB transaction lost; replanning"
                        );
                        let live = Writer { pass: None, ..self.clone() };
                        return Box::pin(live.reconcile_many(jobs)).await;
                    }
                    Err(e) => tracing::info!(
                        jobs = jobs.len(),
                        error = ?e,
                        "batched NB transaction failed; one by one"
                    ),
                }
            }
        }
        let mut results = Vec::with_capacity(jobs.len());
        for (kind, id) in jobs {
            results.push(self.reconcile(*kind, id, false).await);
        }
        results
    }

    fn lsp_by_name(&self, name: &str) -> Option<(Uuid, Row)> {
        if let Some(pass) = &self.pass {
            let u = *pass.lsp.get(name)?;
            return self
                .nb
                .monitor
                .with_cache(|c| c.get("Logical_Switch_Port", &u).cloned())
                .map(|r| (u, r));
        }
        let wanted = Value::Atom(Atom::String(name.to_string()));
        self.nb.monitor.with_cache(|c| {
            c.find("Logical_Switch_Port", "name", &wanted).map(|(u, r)| (*u, r.clone()))
        })
    }

    fn dhcp_rows_of(&self, subnet_id: &str) -> Vec<(Uuid, Row)> {
        self.nb.monitor.with_cache(|c| {
            c.table("DHCP_Options")
                .filter(|(_, r)| ext(r, SUBNET_ID) == Some(subnet_id))
                .map(|(u, r)| (*u, r.clone()))
                .collect()
        })
    }

    async fn network(&self, id: &str, plan: &mut Plan) -> Step {
        let uuid = uuid_of(id)?;
        let existing = self.nb.monitor.with_cache(|c| c.get("Logical_Switch", &uuid).cloned());
        let mut counts = Counts::default();
        let Some(stored) = network_get(self.db.reader(), id).await? else {
            if existing.is_some() {
                plan.ops
                    .extend(vec![Operation::delete("Logical_Switch", vec![Condition::uuid(uuid)])]);
                counts.deleted += 1;
            }
            plan.records.push((Kind::Network, id.to_string(), None));
            return Ok(counts);
        };
        let net: Network = parse(&stored)?;
        let revision = stored.revision_number;
        let desired = translate::switch(&net, revision)?;
        let ls_row = self.nb.normalize("Logical_Switch", desired.row)?;
        let localnet =
            desired.localnet.map(|r| self.nb.normalize("Logical_Switch_Port", r)).transpose()?;
        let localnet_existing = self.lsp_by_name(&provnet_name(id));
        let mut ops = Vec::new();
        match existing {
            None => {
                let mut ls = ls_row;
                if let Some(ln) = localnet {
                    ops.push(
                        Operation::insert("Logical_Switch_Port", ln)
                            .with_uuid_name(plan.name("localnet")),
                    );
                    ls.insert(
                        "ports".into(),
                        Value::Set([Atom::named_uuid(plan.name("localnet"))].into_iter().collect()),
                    );
                    counts.created += 1;
                }
                ops.push(Operation::insert("Logical_Switch", ls).with_uuid(uuid));
                counts.created += 1;
            }
            Some(ex) => {
                if revision_of(&ex) > revision {
                    return Ok(counts);
                }
                let diff = differing(&ls_row, &ex);
                if ext(&ls_row, MTU) != ext(&ex, MTU) {
                    // The MTU is also a DHCP option of every subnet.
                    let subnets = subnets_of_network(self.db.reader(), id).await?;
                    plan.after.extend(subnets.into_iter().map(|s| (Kind::Subnet, s.id)));
                }
                if !diff.is_empty() {
                    ops.push(guard("Logical_Switch", "name", &ex["name"], revision_of(&ex)));
                    ops.push(Operation::update(
                        "Logical_Switch",
                        vec![Condition::uuid(uuid)],
                        diff,
                    ));
                    counts.updated += 1;
                }
                match (localnet, localnet_existing) {
                    (Some(ln), None) => {
                        ops.push(
                            Operation::insert("Logical_Switch_Port", ln)
                                .with_uuid_name(plan.name("localnet")),
                        );
                        ops.push(Operation::mutate(
                            "Logical_Switch",
                            vec![Condition::uuid(uuid)],
                            vec![Mutation::insert(
                                "ports",
                                Value::named_uuid(plan.name("localnet")),
                            )],
                        ));
                        counts.created += 1;
                    }
                    (Some(ln), Some((lu, lrow))) => {
                        let diff = differing(&ln, &lrow);
                        if !diff.is_empty() {
                            ops.push(Operation::update(
                                "Logical_Switch_Port",
                                vec![Condition::uuid(lu)],
                                diff,
                            ));
                            counts.updated += 1;
                        }
                    }
                    (None, Some((lu, _))) => {
                        ops.push(Operation::mutate(
                            "Logical_Switch",
                            vec![Condition::uuid(uuid)],
                            vec![Mutation::delete("ports", Value::uuid(lu))],
                        ));
                        counts.deleted += 1;
                    }
                    (None, None) => {}
                }
            }
        }
        plan.ops.extend(ops);
        plan.records.push((Kind::Network, id.to_string(), Some(revision)));
        Ok(counts)
    }

    async fn subnet(&self, id: &str, plan: &mut Plan) -> Step {
        let rows = self.dhcp_rows_of(id);
        let existing = rows.iter().find(|(_, r)| ext(r, PORT_ID).is_none()).cloned();
        let mut counts = Counts::default();
        let stored = subnet_get(self.db.reader(), id).await?;
        let subnet: Option<Subnet> = stored.as_ref().map(parse).transpose()?;
        let Some(subnet) = subnet.filter(translate::subnet_has_dhcp) else {
            if !rows.is_empty() {
                let ops = vec![Operation::delete(
                    "DHCP_Options",
                    vec![Condition::includes(
                        "external_ids",
                        Value::map([(SUBNET_ID, id.to_string())]),
                    )],
                )];
                plan.ops.extend(ops);
                counts.deleted += rows.len() as u64;
            }
            let revision = stored.as_ref().map(|s| s.revision_number);
            plan.records.push((Kind::Subnet, id.to_string(), revision));
            return Ok(counts);
        };
        let revision = stored.as_ref().map(|s| s.revision_number).unwrap_or(0);
        let Some(net_row) = network_get(self.db.reader(), &subnet.network_id).await? else {
            return Ok(counts);
        };
        let net: Network = parse(&net_row)?;
        let metadata_ip = self.metadata_ip(&subnet).await?;
        let base = self.base_mac;
        let desired = translate::dhcp_options(
            &subnet,
            &net,
            revision,
            existing.as_ref().map(|(_, r)| r),
            metadata_ip.as_deref(),
            &self.config,
            || MacAddr::random_with_base(&base, &mut rand::thread_rng()).to_string(),
        );
        let desired = self.nb.normalize("DHCP_Options", desired)?;
        let mut created = false;
        let ops = match &existing {
            None => {
                created = true;
                counts.created += 1;
                let marker =
                    Condition::includes("external_ids", Value::map([(SUBNET_ID, id.to_string())]));
                vec![
                    Operation::wait(
                        "DHCP_Options",
                        vec![marker],
                        vec!["cidr".into()],
                        WaitUntil::Eq,
                        vec![],
                    ),
                    Operation::insert("DHCP_Options", desired),
                ]
            }
            Some((u, ex)) => {
                if revision_of(ex) > revision {
                    return Ok(counts);
                }
                let diff = differing(&desired, ex);
                if diff.is_empty() {
                    vec![]
                } else {
                    counts.updated += 1;
                    let mut guard_conditions = vec![Condition::uuid(*u)];
                    if revision_of(ex) >= 0 {
                        guard_conditions.push(Condition::includes(
                            "external_ids",
                            Value::map([(REVISION, revision_of(ex).to_string())]),
                        ));
                    }
                    vec![
                        Operation::wait(
                            "DHCP_Options",
                            guard_conditions,
                            vec!["cidr".into()],
                            WaitUntil::Eq,
                            vec![row([("cidr", ex["cidr"].clone())])],
                        ),
                        Operation::update("DHCP_Options", vec![Condition::uuid(*u)], diff),
                    ]
                }
            }
        };
        let changed = !ops.is_empty();
        plan.ops.extend(ops);
        // Subnet changes bump the network's revision; its switch records it.
        counts += Box::pin(self.network(&subnet.network_id, plan)).await?;
        plan.records.push((Kind::Subnet, id.to_string(), Some(revision)));
        if changed && !created {
            // Per-port rows copy the subnet's options: derive them again.
            let owners = rows.iter().filter_map(|(_, r)| ext(r, PORT_ID).map(String::from));
            plan.after.extend(owners.map(|p| (Kind::Port, p)));
        }
        if created {
            // Ports on the subnet now get their DHCP reference.
            let ports = ports_of_network(self.db.reader(), &subnet.network_id).await?;
            plan.after.extend(ports.into_iter().map(|p| (Kind::Port, p.id)));
        }
        Ok(counts)
    }

    fn port_group_by_name(&self, name: &str) -> Option<(Uuid, Row)> {
        let wanted = Value::Atom(Atom::String(name.to_string()));
        self.nb
            .monitor
            .with_cache(|c| c.find("Port_Group", "name", &wanted).map(|(u, r)| (*u, r.clone())))
    }

    /// Plans `neutron_pg_drop` with its drop ACLs unless NB has it (create-if-absent).
    fn drop_group(&self, plan: &mut Plan) -> Result<Counts, Failure> {
        let mut counts = Counts::default();
        if self.port_group_by_name(security::DROP_GROUP).is_some() || plan.drop_group_planned {
            return Ok(counts);
        }
        let name = Value::Atom(Atom::String(security::DROP_GROUP.to_string()));
        plan.ops.push(absent("Port_Group", "name", &name));
        let mut acls = Vec::new();
        for (i, acl) in security::drop_acls().into_iter().enumerate() {
            let acl_name = plan.name(&format!("dropacl{i}"));
            plan.ops.push(
                Operation::insert("ACL", self.nb.normalize("ACL", acl)?).with_uuid_name(&acl_name),
            );
            acls.push(Atom::named_uuid(acl_name));
        }
        let pg = row([("name", name), ("acls", Value::Set(acls.into_iter().collect()))]);
        plan.ops.push(Operation::insert("Port_Group", pg));
        plan.drop_group_planned = true;
        counts.created += 3;
        Ok(counts)
    }

    async fn security_group(&self, id: &str, plan: &mut Plan) -> Step {
        use nt_store::security_groups::{rules_of_group, security_group_get};
        use nt_types::security_group::{SecurityGroup, SecurityGroupRule};
        let mut counts = Counts::default();
        let name = security::pg_name(id);
        let existing = self.port_group_by_name(&name);
        let Some(stored) = security_group_get(self.db.reader(), id).await? else {
            if let Some((u, _)) = existing {
                plan.ops.push(Operation::delete("Port_Group", vec![Condition::uuid(u)]));
                counts.deleted += 1;
            }
            plan.records.push((Kind::SecurityGroup, id.to_string(), None));
            return Ok(counts);
        };
        let group: SecurityGroup = parse(&stored)?;
        let revision = stored.revision_number;
        let rules: Vec<SecurityGroupRule> = rules_of_group(self.db.reader(), id)
            .await?
            .iter()
            .map(parse)
            .collect::<Result<_, _>>()?;
        let pg_row = self.nb.normalize("Port_Group", security::port_group(&group, revision))?;
        let desired: Vec<(String, Row)> = rules
            .iter()
            .map(|r| Ok((r.id.clone(), self.nb.normalize("ACL", security::acl(r, &group))?)))
            .collect::<Result<_, String>>()?;
        match existing {
            None => {
                let mut acls = Vec::new();
                for (i, (_, acl)) in desired.into_iter().enumerate() {
                    let acl_name = plan.name(&format!("acl{i}_"));
                    plan.ops.push(Operation::insert("ACL", acl).with_uuid_name(&acl_name));
                    acls.push(Atom::named_uuid(acl_name));
                    counts.created += 1;
                }
                let mut pg = pg_row;
                pg.insert("acls".into(), Value::Set(acls.into_iter().collect()));
                let pg_name_value = pg["name"].clone();
                plan.ops.push(absent("Port_Group", "name", &pg_name_value));
                plan.ops.push(Operation::insert("Port_Group", pg));
                counts.created += 1;
            }
            Some((u, ex)) => {
                if revision_of(&ex) > revision {
                    return Ok(counts);
                }
                let current: Vec<(Uuid, Row)> = self.nb.monitor.with_cache(|c| {
                    ex.get("acls")
                        .map(|a| a.elements())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|a| a.as_uuid())
                        .filter_map(|acl| c.get("ACL", &acl).map(|r| (acl, r.clone())))
                        .collect()
                });
                let mut ops = Vec::new();
                let diff = differing(&pg_row, &ex);
                if !diff.is_empty() {
                    ops.push(Operation::update("Port_Group", vec![Condition::uuid(u)], diff));
                    counts.updated += 1;
                }
                for (i, (rule_id, acl)) in desired.iter().enumerate() {
                    match current
                        .iter()
                        .find(|(_, r)| ext(r, security::RULE_ID) == Some(rule_id.as_str()))
                    {
                        None => {
                            let acl_name = plan.name(&format!("acl{i}_"));
                            ops.push(
                                Operation::insert("ACL", acl.clone()).with_uuid_name(&acl_name),
                            );
                            ops.push(Operation::mutate(
                                "Port_Group",
                                vec![Condition::uuid(u)],
                                vec![Mutation::insert("acls", Value::named_uuid(acl_name))],
                            ));
                            counts.created += 1;
                        }
                        Some((au, ar)) => {
                            let diff = differing(acl, ar);
                            if !diff.is_empty() {
                                ops.push(Operation::update(
                                    "ACL",
                                    vec![Condition::uuid(*au)],
                                    diff,
                                ));
                                counts.updated += 1;
                            }
                        }
                    }
                }
                for (au, ar) in &current {
                    let wanted = ext(ar, security::RULE_ID)
                        .is_some_and(|r| desired.iter().any(|(d, _)| d == r));
                    if !wanted {
                        ops.push(Operation::mutate(
                            "Port_Group",
                            vec![Condition::uuid(u)],
                            vec![Mutation::delete("acls", Value::uuid(*au))],
                        ));
                        counts.deleted += 1;
                    }
                }
                if !ops.is_empty() {
                    plan.ops.push(guard("Port_Group", "name", &ex["name"], revision_of(&ex)));
                    plan.ops.extend(ops);
                }
            }
        }
        plan.records.push((Kind::SecurityGroup, id.to_string(), Some(revision)));
        Ok(counts)
    }

    /// Plans the port's Port_Group memberships: one per security group and `neutron_pg_drop`
    /// while port security is on and the port is not a `network:*` port. `lsp` is the port's
    /// row uuid, or `None` when it is inserted in this plan under its named uuid.
    async fn port_groups(&self, port: &Port, lsp: Option<Uuid>, plan: &mut Plan) -> Step {
        let mut counts = Counts::default();
        let filtered = port.port_security_enabled && !port.device_owner.starts_with("network:");
        let mut wanted: Vec<String> = Vec::new();
        if filtered {
            wanted.extend(port.security_groups.iter().map(|g| security::pg_name(g)));
            wanted.push(security::DROP_GROUP.to_string());
        }
        let member_of: Vec<(Uuid, String)> = match (lsp, &self.pass) {
            (None, _) => vec![],
            (Some(u), Some(pass)) => pass.memberships.get(&u).cloned().unwrap_or_default(),
            (Some(u), None) => self.nb.monitor.with_cache(|c| {
                c.table("Port_Group")
                    .filter(|(_, r)| set_holds(r.get("ports"), u))
                    .filter_map(|(pu, r)| {
                        r.get("name").and_then(Value::as_str).map(|n| (*pu, n.to_string()))
                    })
                    .collect()
            }),
        };
        let member: Value = match lsp {
            Some(u) => Value::uuid(u),
            None => Value::named_uuid(plan.name("lsp")),
        };
        for pg in &wanted {
            if member_of.iter().any(|(_, n)| n == pg) {
                continue;
            }
            if pg == security::DROP_GROUP {
                counts += self.drop_group(plan)?;
            } else if self.port_group_by_name(pg).is_none() {
                let group_id = port
                    .security_groups
                    .iter()
                    .find(|g| security::pg_name(g) == *pg)
                    .cloned()
                    .unwrap_or_default();
                counts += Box::pin(self.security_group(&group_id, plan)).await?;
            }
            plan.ops.push(Operation::mutate(
                "Port_Group",
                vec![Condition::eq("name", Value::Atom(Atom::String(pg.clone())))],
                vec![Mutation::insert("ports", member.clone())],
            ));
        }
        for (pu, name) in &member_of {
            if !wanted.contains(name) {
                plan.ops.push(Operation::mutate(
                    "Port_Group",
                    vec![Condition::uuid(*pu)],
                    vec![Mutation::delete("ports", member.clone())],
                ));
            }
        }
        Ok(counts)
    }

    async fn metadata_ip(&self, subnet: &Subnet) -> Result<Option<String>, Failure> {
        let ports = ports_of_network(self.db.reader(), &subnet.network_id).await?;
        for p in &ports {
            if p.body.get("device_owner").and_then(|v| v.as_str()) != Some("network:distributed") {
                continue;
            }
            let port: Port = parse(p)?;
            if let Some(f) = port.fixed_ips.iter().find(|f| f.subnet_id == subnet.id) {
                return Ok(Some(f.ip_address.clone()));
            }
        }
        Ok(None)
    }

    async fn port(&self, id: &str, plan: &mut Plan) -> Step {
        let existing = self.lsp_by_name(id);
        let mut counts = Counts::default();
        let stored = match &self.pass {
            Some(pass) => pass.ports.get(id).cloned(),
            None => port_get(self.db.reader(), id).await?,
        };
        let port: Option<Port> = stored.as_ref().map(parse).transpose()?;
        let Some(port) = port.filter(|p| p.device_owner != "network:floatingip") else {
            let own_rows = self.nb.monitor.with_cache(|c| {
                c.table("DHCP_Options").filter(|(_, r)| ext(r, PORT_ID) == Some(id)).count()
            });
            if own_rows > 0 {
                let marker =
                    Condition::includes("external_ids", Value::map([(PORT_ID, id.to_string())]));
                plan.ops.push(Operation::delete("DHCP_Options", vec![marker]));
                counts.deleted += own_rows as u64;
            }
            if let Some((u, _)) = &existing {
                // The switch that holds the port: removing it from `ports` deletes the row.
                let holder = self.nb.monitor.with_cache(|c| {
                    c.table("Logical_Switch")
                        .find(|(_, r)| set_holds(r.get("ports"), *u))
                        .map(|(ls, _)| *ls)
                });
                if let Some(ls) = holder {
                    let op = Operation::mutate(
                        "Logical_Switch",
                        vec![Condition::uuid(ls)],
                        vec![Mutation::delete("ports", Value::uuid(*u))],
                    );
                    plan.ops.push(op);
                    counts.deleted += 1;
                }
            }
            plan.records.push((Kind::Port, id.to_string(), stored.map(|s| s.revision_number)));
            return Ok(counts);
        };
        let revision = stored.as_ref().map(|s| s.revision_number).unwrap_or(0);
        let ls = uuid_of(&port.network_id)?;
        if !self.nb.monitor.with_cache(|c| c.get("Logical_Switch", &ls).is_some()) {
            // The switch comes first; if it cannot be written now, maintenance retries both.
            // Written in the same transaction, before the port.
            counts += Box::pin(self.network(&port.network_id, plan)).await?;
        }
        let (net_row, subnet_rows) = match &self.pass {
            Some(pass) => (
                pass.networks.get(&port.network_id).cloned(),
                pass.subnets.get(&port.network_id).cloned().unwrap_or_default(),
            ),
            None => (
                network_get(self.db.reader(), &port.network_id).await?,
                subnets_of_network(self.db.reader(), &port.network_id).await?,
            ),
        };
        let Some(net_row) = net_row else {
            return Ok(counts);
        };
        let net: Network = parse(&net_row)?;
        let subnets: Vec<Subnet> = subnet_rows.iter().map(parse).collect::<Result<_, _>>()?;
        // Subnet-wide DHCP rows of the network's subnets, and this port's own rows (§6.4).
        let mut subnet_rows: BTreeMap<String, (Uuid, Row)> = BTreeMap::new();
        let mut own_rows: Vec<(Uuid, Row)> = Vec::new();
        for s in &subnets {
            for (u, r) in self.dhcp_rows_of(&s.id) {
                match ext(&r, PORT_ID) {
                    None => {
                        subnet_rows.insert(s.id.clone(), (u, r));
                    }
                    Some(p) if p == id => own_rows.push((u, r)),
                    Some(_) => {}
                }
            }
        }
        let trusted = port.device_owner.starts_with("network:");
        let (s4, s6) = if trusted {
            (None, None)
        } else {
            translate::dhcp_subnets(&port, &subnets, |sid| subnet_rows.contains_key(sid))
        };
        let mut pre_ops = Vec::new();
        let mut kept_rows: Vec<Uuid> = Vec::new();
        let mut refs: [Option<Atom>; 2] = [None, None];
        for (slot, (version, subnet)) in [(4u8, s4), (6u8, s6)].into_iter().enumerate() {
            let Some(subnet) = subnet else { continue };
            if translate::dhcp_disabled(&port, version) {
                continue;
            }
            let (subnet_uuid, subnet_row) = &subnet_rows[&subnet.id];
            let own = own_rows.iter().find(|(_, r)| ext(r, SUBNET_ID) == Some(subnet.id.as_str()));
            refs[slot] = Some(match translate::port_dhcp_options(subnet_row, &port, version) {
                None => Atom::Uuid(*subnet_uuid),
                Some(per_port) => {
                    let per_port = self.nb.normalize("DHCP_Options", per_port)?;
                    match own {
                        Some((u, ex)) => {
                            kept_rows.push(*u);
                            let diff = differing(&per_port, ex);
                            if !diff.is_empty() {
                                pre_ops.push(Operation::update(
                                    "DHCP_Options",
                                    vec![Condition::uuid(*u)],
                                    diff,
                                ));
                                counts.updated += 1;
                            }
                            Atom::Uuid(*u)
                        }
                        None => {
                            let name = plan.name(&format!("dhcp{version}"));
                            pre_ops.push(
                                Operation::insert("DHCP_Options", per_port).with_uuid_name(&name),
                            );
                            counts.created += 1;
                            Atom::named_uuid(name)
                        }
                    }
                }
            });
        }
        for (u, _) in own_rows.iter().filter(|(u, _)| !kept_rows.contains(u)) {
            pre_ops.push(Operation::delete("DHCP_Options", vec![Condition::uuid(*u)]));
            counts.deleted += 1;
        }
        let [dhcp_v4, dhcp_v6] = refs;
        let inputs = PortInputs {
            subnets: &subnets,
            dhcp_v4,
            dhcp_v6,
            existing_external_ids: existing.as_ref().and_then(|(_, r)| r.get("external_ids")),
        };
        let desired = translate::logical_switch_port(&port, &net, revision, &inputs);
        let desired = self.nb.normalize("Logical_Switch_Port", desired)?;
        let name = Value::Atom(Atom::String(id.to_string()));
        let ops = match &existing {
            None => {
                counts.created += 1;
                vec![
                    absent("Logical_Switch_Port", "name", &name),
                    Operation::insert("Logical_Switch_Port", desired)
                        .with_uuid_name(plan.name("lsp")),
                    Operation::mutate(
                        "Logical_Switch",
                        vec![Condition::uuid(ls)],
                        vec![Mutation::insert("ports", Value::named_uuid(plan.name("lsp")))],
                    ),
                ]
            }
            Some((u, ex)) => {
                if revision_of(ex) > revision {
                    return Ok(counts);
                }
                let diff = differing(&desired, ex);
                if diff.is_empty() {
                    vec![]
                } else {
                    counts.updated += 1;
                    vec![
                        guard("Logical_Switch_Port", "name", &name, revision_of(ex)),
                        Operation::update("Logical_Switch_Port", vec![Condition::uuid(*u)], diff),
                    ]
                }
            }
        };
        // Per-port DHCP rows go in the same transaction as the LSP that refers to them, so
        // no orphan survives a failure.
        let mut all = ops;
        if !pre_ops.is_empty() {
            let guard_at = usize::from(!all.is_empty() && existing.is_some());
            let tail = all.split_off(guard_at);
            all.extend(pre_ops);
            all.extend(tail);
        }
        plan.ops.extend(all);
        counts += self.port_groups(&port, existing.as_ref().map(|(u, _)| *u), plan).await?;
        plan.records.push((Kind::Port, id.to_string(), Some(revision)));
        Ok(counts)
    }
}
