//! The local `Open_vSwitch` database through the `ovsdb` crate: the settings ovn-controller
//! reads (`external_ids:system-id`, `ovn-remote`, `ovn-encap-*`, `ovn-bridge-mappings`,
//! `ovn-cms-options`, `ovn-bridge-datapath-type`), the bridges, and the VIF ports on br-int.
//! Every change is computed against what the database holds and nothing is written when it
//! already matches, so running the agent again changes nothing that is correct.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, Context};
use nt_ovsdb::{row, Atom, Client, ClientOptions, Condition, Mutation, Operation, Row, Value};
use uuid::Uuid;

const DB: &str = "Open_vSwitch";

/// The `external_ids` key marking OVS ports the agent plugged (and so may unplug).
pub const OWNER_KEY: &str = "neutrino-agent";

/// What the local Open vSwitch should look like for ovn-controller.
#[derive(Debug, Clone)]
pub struct OvsSettings {
    /// `external_ids:system-id` (the chassis name); `None` keeps the current one or makes one.
    pub system_id: Option<String>,
    /// `external_ids:hostname` (the chassis hostname ports are bound to).
    pub hostname: String,
    /// `external_ids:ovn-remote`: the OVN Southbound DB.
    pub ovn_remote: String,
    /// `external_ids:ovn-encap-type`.
    pub encap_type: String,
    /// `external_ids:ovn-encap-ip`.
    pub encap_ip: String,
    /// `physnet → bridge` (`external_ids:ovn-bridge-mappings`); each bridge is created.
    pub bridge_mappings: Vec<(String, String)>,
    /// Adds `enable-chassis-as-gw` to `external_ids:ovn-cms-options`.
    pub gateway: bool,
    /// `system` (kernel module) or `netdev` (userspace).
    pub datapath_type: String,
    /// The integration bridge, `br-int`.
    pub integration_bridge: String,
}

/// `netdev` when the Open vSwitch kernel module is not loaded, else `system`.
pub fn auto_datapath_type() -> String {
    if std::path::Path::new("/sys/module/openvswitch").exists() {
        "system".into()
    } else {
        "netdev".into()
    }
}

/// A VIF port on the integration bridge.
#[derive(Debug, Clone)]
pub struct VifPort {
    /// The `Port` row.
    pub port_uuid: Uuid,
    /// Port and interface name (the tap device).
    pub name: String,
    /// The interface's `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// The interface's `ofport` (-1 when vswitchd could not open the device).
    pub ofport: i64,
}

/// A connection to the local Open_vSwitch database.
#[derive(Debug, Clone)]
pub struct Ovs {
    client: Client,
}

fn text_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn map_value(map: &BTreeMap<String, String>) -> Value {
    Value::map(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn text(row: &Row, col: &str) -> String {
    row.get(col).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn uuid_of(row: &Row) -> Option<Uuid> {
    row.get("_uuid").and_then(Value::as_uuid)
}

/// Rows of a select result.
fn rows(results: &[nt_ovsdb::OpResult], i: usize) -> Vec<Row> {
    results.get(i).and_then(|r| r.rows()).map(<[Row]>::to_vec).unwrap_or_default()
}

impl Ovs {
    /// Connects to `remote` (e.g. `unix:/var/run/openvswitch/db.sock`), waiting up to
    /// `timeout` for the server.
    pub async fn connect(remote: &str, timeout: Duration) -> anyhow::Result<Ovs> {
        let opts = ClientOptions {
            leader_only: false,
            initial_connect_timeout: Some(timeout),
            ..ClientOptions::default()
        };
        let client = Client::connect(remote, opts)
            .await
            .with_context(|| format!("cannot connect to the Open_vSwitch DB at {remote}"))?;
        Ok(Ovs { client })
    }

    async fn transact(&self, ops: Vec<Operation>) -> anyhow::Result<Vec<nt_ovsdb::OpResult>> {
        self.client.transact(DB, ops).await.map_err(|e| anyhow!("Open_vSwitch DB: {e}"))
    }

    /// Brings the database to `s`: the `Open_vSwitch` row (created if the database is empty,
    /// as `ovs-vsctl init` does), its `external_ids`, br-int and the mapped bridges. Returns
    /// whether anything was written.
    pub async fn configure(&self, s: &OvsSettings) -> anyhow::Result<bool> {
        let mut results = self
            .transact(vec![
                Operation::select("Open_vSwitch", vec![]),
                Operation::select("Bridge", vec![]),
            ])
            .await?;
        if rows(&results, 0).is_empty() {
            self.transact(vec![Operation::insert("Open_vSwitch", Row::new())]).await?;
            results = self
                .transact(vec![
                    Operation::select("Open_vSwitch", vec![]),
                    Operation::select("Bridge", vec![]),
                ])
                .await?;
        }
        let root =
            rows(&results, 0).into_iter().next().ok_or_else(|| anyhow!("no Open_vSwitch row"))?;
        let root_uuid = uuid_of(&root).ok_or_else(|| anyhow!("Open_vSwitch row without _uuid"))?;
        let bridges = rows(&results, 1);

        let mut ops = Vec::new();
        let current = text_map(root.get("external_ids"));
        let desired = desired_external_ids(&current, s);
        if desired != current {
            ops.extend(map_changes("Open_vSwitch", Condition::uuid(root_uuid), &current, &desired));
        }
        let mut wanted: Vec<(&str, bool)> = vec![(s.integration_bridge.as_str(), true)];
        for (_, bridge) in &s.bridge_mappings {
            if !wanted.iter().any(|(b, _)| b == bridge) {
                wanted.push((bridge.as_str(), false));
            }
        }
        for (i, (name, integration)) in wanted.iter().enumerate() {
            match bridges.iter().find(|b| text(b, "name") == *name) {
                Some(b) => {
                    if text(b, "datapath_type") != s.datapath_type {
                        ops.push(Operation::update(
                            "Bridge",
                            vec![Condition::eq("name", *name)],
                            row([("datapath_type", Value::from(s.datapath_type.as_str()))]),
                        ));
                    }
                }
                None => {
                    let (iface, port, bridge) = (format!("i{i}"), format!("p{i}"), format!("b{i}"));
                    ops.push(
                        Operation::insert(
                            "Interface",
                            row([("name", Value::from(*name)), ("type", Value::from("internal"))]),
                        )
                        .with_uuid_name(&iface),
                    );
                    ops.push(
                        Operation::insert(
                            "Port",
                            row([
                                ("name", Value::from(*name)),
                                ("interfaces", Value::named_uuid(&iface)),
                            ]),
                        )
                        .with_uuid_name(&port),
                    );
                    let mut bridge_row = row([
                        ("name", Value::from(*name)),
                        ("ports", Value::named_uuid(&port)),
                        ("datapath_type", Value::from(s.datapath_type.as_str())),
                    ]);
                    if *integration {
                        bridge_row.insert("fail_mode".into(), Value::from("secure"));
                        bridge_row.insert(
                            "other_config".into(),
                            Value::map([("disable-in-band", "true")]),
                        );
                    }
                    ops.push(Operation::insert("Bridge", bridge_row).with_uuid_name(&bridge));
                    ops.push(Operation::mutate(
                        "Open_vSwitch",
                        vec![Condition::uuid(root_uuid)],
                        vec![Mutation::insert("bridges", Value::named_uuid(&bridge))],
                    ));
                }
            }
        }
        if ops.is_empty() {
            return Ok(false);
        }
        ops.push(Operation::comment("neutrino agent: configure"));
        self.transact(ops).await?;
        Ok(true)
    }

    /// The ports on `bridge` other than its own internal port.
    pub async fn vif_ports(&self, bridge: &str) -> anyhow::Result<Vec<VifPort>> {
        let results = self
            .transact(vec![
                Operation::select("Bridge", vec![Condition::eq("name", bridge)])
                    .with_columns(["ports"]),
                Operation::select("Port", vec![]).with_columns(["_uuid", "name", "interfaces"]),
                Operation::select("Interface", vec![]).with_columns([
                    "_uuid",
                    "name",
                    "external_ids",
                    "ofport",
                ]),
            ])
            .await?;
        let Some(bridge_row) = rows(&results, 0).into_iter().next() else {
            return Ok(vec![]);
        };
        let members: Vec<Uuid> = bridge_row
            .get("ports")
            .map(|v| v.elements().into_iter().filter_map(Atom::as_uuid).collect())
            .unwrap_or_default();
        let ifaces: BTreeMap<Uuid, Row> =
            rows(&results, 2).into_iter().filter_map(|r| Some((uuid_of(&r)?, r))).collect();
        let mut out = Vec::new();
        for port in rows(&results, 1) {
            let Some(port_uuid) = uuid_of(&port) else { continue };
            let name = text(&port, "name");
            if !members.contains(&port_uuid) || name == bridge {
                continue;
            }
            let iface = port
                .get("interfaces")
                .and_then(|v| v.elements().into_iter().find_map(Atom::as_uuid))
                .and_then(|u| ifaces.get(&u));
            out.push(VifPort {
                port_uuid,
                name,
                external_ids: text_map(iface.and_then(|i| i.get("external_ids"))),
                ofport: iface.and_then(|i| i.get("ofport")).and_then(Value::as_i64).unwrap_or(-1),
            });
        }
        Ok(out)
    }

    /// Adds port and interface `name` (a system device) to `bridge` with `external_ids`.
    pub async fn add_port(
        &self,
        bridge: &str,
        name: &str,
        external_ids: &BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        self.transact(vec![
            Operation::insert(
                "Interface",
                row([("name", Value::from(name)), ("external_ids", map_value(external_ids))]),
            )
            .with_uuid_name("iface"),
            Operation::insert(
                "Port",
                row([("name", Value::from(name)), ("interfaces", Value::named_uuid("iface"))]),
            )
            .with_uuid_name("port"),
            Operation::mutate(
                "Bridge",
                vec![Condition::eq("name", bridge)],
                vec![Mutation::insert("ports", Value::named_uuid("port"))],
            ),
            Operation::comment(format!("neutrino agent: plug {name}")),
        ])
        .await?;
        Ok(())
    }

    /// Sets these `external_ids` keys of interface `name` (keys ovn-controller adds, such as
    /// `ovn-installed`, are kept).
    pub async fn set_interface_ids(
        &self,
        name: &str,
        current: &BTreeMap<String, String>,
        external_ids: &BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let mut desired = current.clone();
        desired.extend(external_ids.iter().map(|(k, v)| (k.clone(), v.clone())));
        let ops = map_changes("Interface", Condition::eq("name", name), current, &desired);
        if !ops.is_empty() {
            self.transact(ops).await?;
        }
        Ok(())
    }

    /// Removes a port from `bridge` (the Port and Interface rows go with it).
    pub async fn remove_port(&self, bridge: &str, port: Uuid, name: &str) -> anyhow::Result<()> {
        self.transact(vec![
            Operation::mutate(
                "Bridge",
                vec![Condition::eq("name", bridge)],
                vec![Mutation::delete("ports", Value::uuid(port))],
            ),
            Operation::comment(format!("neutrino agent: unplug {name}")),
        ])
        .await?;
        Ok(())
    }

    /// `external_ids` of the `Open_vSwitch` row.
    pub async fn system_external_ids(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let results = self.transact(vec![Operation::select("Open_vSwitch", vec![])]).await?;
        Ok(rows(&results, 0).first().map(|r| text_map(r.get("external_ids"))).unwrap_or_default())
    }
}

/// Whether `have` holds every pair of `want`.
pub fn has_all(have: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Mutations turning the `external_ids` of the selected row from `current` into `desired`,
/// touching only the keys that differ (others may be written concurrently by OVS/OVN).
fn map_changes(
    table: &str,
    cond: Condition,
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Vec<Operation> {
    let changed: Vec<&String> = current
        .keys()
        .chain(desired.keys())
        .filter(|k| current.get(*k) != desired.get(*k))
        .collect();
    if changed.is_empty() {
        return vec![];
    }
    let mut mutations =
        vec![Mutation::delete("external_ids", Value::set(changed.iter().map(|k| k.as_str())))];
    let inserts: BTreeMap<String, String> =
        changed.iter().filter_map(|k| Some(((*k).clone(), desired.get(*k)?.clone()))).collect();
    if !inserts.is_empty() {
        mutations.push(Mutation::insert("external_ids", map_value(&inserts)));
    }
    vec![Operation::mutate(table, vec![cond], mutations)]
}

/// `current` with the keys neutrino manages set from `s` (others are kept).
pub fn desired_external_ids(
    current: &BTreeMap<String, String>,
    s: &OvsSettings,
) -> BTreeMap<String, String> {
    let mut ids = current.clone();
    let system_id = s
        .system_id
        .clone()
        .or_else(|| current.get("system-id").cloned())
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    ids.insert("system-id".into(), system_id);
    ids.insert("hostname".into(), s.hostname.clone());
    ids.insert("ovn-remote".into(), s.ovn_remote.clone());
    ids.insert("ovn-encap-type".into(), s.encap_type.clone());
    ids.insert("ovn-encap-ip".into(), s.encap_ip.clone());
    ids.insert("ovn-bridge".into(), s.integration_bridge.clone());
    let mappings: Vec<String> = s.bridge_mappings.iter().map(|(p, b)| format!("{p}:{b}")).collect();
    if mappings.is_empty() {
        ids.remove("ovn-bridge-mappings");
    } else {
        ids.insert("ovn-bridge-mappings".into(), mappings.join(","));
    }
    let mut cms: Vec<String> = current
        .get("ovn-cms-options")
        .map(|c| c.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect())
        .unwrap_or_default();
    let gw = "enable-chassis-as-gw";
    let has_gw = cms.iter().any(|o| o == gw);
    if s.gateway && !has_gw {
        cms.push(gw.into());
    } else if !s.gateway && has_gw {
        cms.retain(|o| o != gw);
    }
    if cms.is_empty() {
        ids.remove("ovn-cms-options");
    } else {
        ids.insert("ovn-cms-options".into(), cms.join(","));
    }
    if s.datapath_type == "system" {
        ids.remove("ovn-bridge-datapath-type");
    } else {
        ids.insert("ovn-bridge-datapath-type".into(), s.datapath_type.clone());
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OvsSettings {
        OvsSettings {
            system_id: None,
            hostname: "host1".into(),
            ovn_remote: "unix:/run/sb.sock".into(),
            encap_type: "geneve".into(),
            encap_ip: "127.0.0.1".into(),
            bridge_mappings: vec![("public".into(), "br-ex".into())],
            gateway: true,
            datapath_type: "netdev".into(),
            integration_bridge: "br-int".into(),
        }
    }

    #[test]
    fn external_ids_are_stable_once_set() {
        let first = desired_external_ids(&BTreeMap::new(), &settings());
        assert_eq!(first["ovn-bridge-mappings"], "public:br-ex");
        assert_eq!(first["ovn-cms-options"], "enable-chassis-as-gw");
        assert_eq!(first["ovn-bridge-datapath-type"], "netdev");
        // A second pass over the result changes nothing (the system-id is kept).
        assert_eq!(desired_external_ids(&first, &settings()), first);
    }

    #[test]
    fn unrelated_keys_and_cms_options_are_kept() {
        let mut current = BTreeMap::new();
        current.insert("ovn-cms-options".to_string(), "availability-zones=az1".to_string());
        current.insert("custom".to_string(), "x".to_string());
        let ids = desired_external_ids(&current, &settings());
        assert_eq!(ids["ovn-cms-options"], "availability-zones=az1,enable-chassis-as-gw");
        assert_eq!(ids["custom"], "x");
        let mut s = settings();
        s.gateway = false;
        assert_eq!(desired_external_ids(&ids, &s)["ovn-cms-options"], "availability-zones=az1");
    }
}
