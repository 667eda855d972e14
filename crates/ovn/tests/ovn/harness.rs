//! Starts OVN central (NB, SB, northd) and a core with the OVN driver.

use std::sync::Arc;
use std::time::{Duration, Instant};

use neutrino_ovn::{OvnConfig, OvnDriver};
use nt_core::ml2::MechanismDriver;
use nt_core::{Core, CoreConfig, OpContext};
use serde_json::{json, Value};

pub use nt_testing::{ovn_available, OvnCentral};

/// neutrino's core with the OVN driver over SQLite.
pub struct Neutrino {
    pub core: Arc<Core>,
    pub driver: OvnDriver,
    pub admin: OpContext,
    _dir: tempfile::TempDir,
}

impl Neutrino {
    pub async fn start(ovn: &OvnCentral) -> Neutrino {
        let dir = tempfile::tempdir().unwrap();
        let db = nt_store::Db::connect(&format!("sqlite://{}/db.sqlite", dir.path().display()))
            .await
            .unwrap();
        Self::start_on(ovn, db, dir).await
    }

    pub async fn start_on(ovn: &OvnCentral, db: nt_store::Db, dir: tempfile::TempDir) -> Neutrino {
        let config = OvnConfig {
            nb_connection: ovn.nb_remote(),
            sb_connection: ovn.sb_remote(),
            write_timeout_ms: 5000,
            maintenance_interval_secs: 1,
            ..OvnConfig::default()
        };
        let driver = OvnDriver::start(db.clone(), config, "fa:16:3e:00:00:00").unwrap();
        assert!(driver.wait_ready(Duration::from_secs(20)).await, "NB replica not ready");
        let mut core_config = CoreConfig::default();
        core_config.ml2.network_vlan_ranges = vec!["physnet1:100:200".into()];
        core_config.metadata_port = true;
        let drivers: Vec<Arc<dyn MechanismDriver>> = vec![Arc::new(driver.clone())];
        let core = Arc::new(Core::new(db, core_config, drivers).unwrap());
        driver.attach(&core);
        core.add_agent_source(Arc::new(driver.clone()));
        core.add_l3_driver(Arc::new(driver.clone()));
        Neutrino { core, driver, admin: OpContext::admin("p1"), _dir: dir }
    }

    pub async fn network(&self, body: Value) -> Value {
        Value::Object(self.core.network_create(&self.admin, &[body]).await.unwrap().remove(0))
    }

    pub async fn subnet(&self, body: Value) -> Value {
        Value::Object(self.core.subnet_create(&self.admin, &[body]).await.unwrap().remove(0))
    }

    pub async fn port(&self, body: Value) -> Value {
        Value::Object(self.core.port_create(&self.admin, &[body]).await.unwrap().remove(0))
    }

    pub async fn show_port(&self, id: &str) -> Value {
        Value::Object(self.core.port_show(&self.admin, id).await.unwrap())
    }

    /// A network with a /24 subnet: `(network id, subnet id)`.
    pub async fn network_with_subnet(&self, cidr: &str) -> (String, String) {
        let net = self.network(json!({"name": "net"})).await;
        let id = net["id"].as_str().unwrap().to_string();
        let sub = self.subnet(json!({"network_id": id, "cidr": cidr, "ip_version": 4, "dns_nameservers": ["8.8.8.8"]})).await;
        (id, sub["id"].as_str().unwrap().to_string())
    }
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "condition not reached in {secs}s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
