//! Store tests, run on SQLite always and on PostgreSQL when `NEUTRINO_TEST_PG_URL` names a
//! server whose role may create databases (each test creates and drops its own).

use neutrino_store::networks::{
    network_get, network_insert, network_list, network_update, NetworkFlags,
};
use neutrino_store::ports::{
    ip_allocate, ips_of_subnet, port_delete, port_insert, port_list, PortKeys,
};
use neutrino_store::segments::{segment_allocate, segments_taken};
use neutrino_store::subnets::subnet_insert;
use neutrino_store::{Backend, Db, ResourceRow, Scope, StoreError};
use serde_json::json;
use sqlx::Executor;

/// A database for one test; dropped (on PostgreSQL) when the test ends.
struct TestDb {
    db: Db,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        TestDb { db, _dir: Some(dir), pg: None }
    }

    async fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var("NEUTRINO_TEST_PG_URL").ok()?;
        sqlx::any::install_default_drivers();
        let name = format!("neutrino_test_{}", uuid::Uuid::new_v4().simple());
        let admin =
            sqlx::AnyPool::connect(&admin_url).await.expect("NEUTRINO_TEST_PG_URL unreachable");
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        admin.close().await;
        let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        let db = Db::connect(&format!("{base}/{name}")).await.unwrap();
        Some(TestDb { db, _dir: None, pg: Some((admin_url, name)) })
    }

    async fn drop_pg(self) {
        let TestDb { db, pg, .. } = self;
        drop(db);
        if let Some((admin_url, name)) = pg {
            let admin = sqlx::AnyPool::connect(&admin_url).await.unwrap();
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}

/// Runs `body` on SQLite, and on PostgreSQL when configured. In CI the variable is always set,
/// so both engines are covered there.
macro_rules! on_both_engines {
    ($name:ident, $body:expr) => {
        #[tokio::test]
        async fn $name() {
            let t = TestDb::sqlite().await;
            ($body)(&t.db).await;
            if std::env::var("CI").as_deref() == Ok("true") {
                assert!(
                    std::env::var("NEUTRINO_TEST_PG_URL").is_ok(),
                    "CI must run the store tests on PostgreSQL"
                );
            }
            if let Some(t) = TestDb::postgres().await {
                assert_eq!(t.db.backend(), Backend::Postgres);
                ($body)(&t.db).await;
                t.drop_pg().await;
            }
        }
    };
}

fn row(id: &str, project: &str) -> ResourceRow {
    ResourceRow {
        id: id.into(),
        project_id: project.into(),
        revision_number: 0,
        body: json!({"id": id}),
    }
}

async fn seed_network(db: &Db, id: &str, project: &str, flags: NetworkFlags) {
    let mut tx = db.begin().await.unwrap();
    network_insert(&mut tx, &row(id, project), flags).await.unwrap();
    tx.commit().await.unwrap();
}

on_both_engines!(migrations_apply_to_an_empty_database, |db: &Db| {
    let db = db.clone();
    async move {
        assert_eq!(db.applied_migrations().await.unwrap(), Db::known_migrations());
        assert!(Db::known_migrations().len() >= 2);
    }
});

on_both_engines!(an_address_is_allocated_once_per_network, |db: &Db| {
    let db = db.clone();
    async move {
        seed_network(&db, "n1", "p", NetworkFlags::default()).await;
        let mut tx = db.begin().await.unwrap();
        subnet_insert(&mut tx, &row("s1", "p"), "n1").await.unwrap();
        for (port, mac) in [("a", "fa:16:3e:00:00:01"), ("b", "fa:16:3e:00:00:02")] {
            let keys =
                PortKeys { network_id: "n1", mac_address: mac, device_owner: "", device_id: "" };
            port_insert(&mut tx, &row(port, "p"), keys).await.unwrap();
        }
        ip_allocate(&mut tx, "n1", "s1", "10.0.0.5", "a").await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let e = ip_allocate(&mut tx, "n1", "s1", "10.0.0.5", "b").await.unwrap_err();
        assert!(matches!(e, StoreError::UniqueViolation { .. }), "{e:?}");
        assert!(e.is_retryable());
        drop(tx);
        assert_eq!(ips_of_subnet(db.reader(), "s1").await.unwrap(), ["10.0.0.5"]);
        let mut tx = db.begin().await.unwrap();
        port_delete(&mut tx, "a").await.unwrap();
        ip_allocate(&mut tx, "n1", "s1", "10.0.0.5", "b").await.unwrap();
        tx.commit().await.unwrap();
    }
});

on_both_engines!(a_mac_is_unique_per_network_only, |db: &Db| {
    let db = db.clone();
    async move {
        seed_network(&db, "n1", "p", NetworkFlags::default()).await;
        seed_network(&db, "n2", "p", NetworkFlags::default()).await;
        let mac = "fa:16:3e:00:00:01";
        let mut tx = db.begin().await.unwrap();
        port_insert(
            &mut tx,
            &row("a", "p"),
            PortKeys { network_id: "n1", mac_address: mac, device_owner: "", device_id: "" },
        )
        .await
        .unwrap();
        port_insert(
            &mut tx,
            &row("b", "p"),
            PortKeys { network_id: "n2", mac_address: mac, device_owner: "", device_id: "" },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let e = port_insert(
            &mut tx,
            &row("c", "p"),
            PortKeys { network_id: "n1", mac_address: mac, device_owner: "", device_id: "" },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::UniqueViolation { .. }), "{e:?}");
    }
});

on_both_engines!(updates_are_guarded_by_revision, |db: &Db| {
    let db = db.clone();
    async move {
        seed_network(&db, "n1", "p", NetworkFlags::default()).await;
        let mut next = row("n1", "p");
        next.revision_number = 1;
        next.body = json!({"id": "n1", "name": "new"});
        let mut tx = db.begin().await.unwrap();
        network_update(&mut tx, &next, NetworkFlags { shared: true, external: false }, 0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let e = network_update(&mut tx, &next, NetworkFlags::default(), 0).await.unwrap_err();
        assert!(matches!(e, StoreError::RevisionMismatch));
        drop(tx);
        let stored = network_get(db.reader(), "n1").await.unwrap().unwrap();
        assert_eq!((stored.revision_number, stored.body["name"].as_str()), (1, Some("new")));
    }
});

on_both_engines!(project_scope_sees_own_shared_and_external_networks_and_ports, |db: &Db| {
    let db = db.clone();
    async move {
        seed_network(&db, "own", "p1", NetworkFlags::default()).await;
        seed_network(&db, "shared", "admin", NetworkFlags { shared: true, external: false }).await;
        seed_network(&db, "ext", "admin", NetworkFlags { shared: false, external: true }).await;
        seed_network(&db, "other", "p2", NetworkFlags::default()).await;
        let mut ids: Vec<String> = network_list(db.reader(), Scope::Project("p1"))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["ext", "own", "shared"]);
        assert_eq!(network_list(db.reader(), Scope::All).await.unwrap().len(), 4);
        let mut tx = db.begin().await.unwrap();
        let keys =
            |n, m| PortKeys { network_id: n, mac_address: m, device_owner: "", device_id: "" };
        port_insert(&mut tx, &row("mine", "p1"), keys("shared", "fa:16:3e:00:00:01"))
            .await
            .unwrap();
        port_insert(&mut tx, &row("on-my-net", "p2"), keys("own", "fa:16:3e:00:00:02"))
            .await
            .unwrap();
        port_insert(&mut tx, &row("theirs", "p2"), keys("other", "fa:16:3e:00:00:03"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut ids: Vec<String> = port_list(db.reader(), Scope::Project("p1"))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["mine", "on-my-net"]);
    }
});

on_both_engines!(segments_are_taken_once, |db: &Db| {
    let db = db.clone();
    async move {
        let mut tx = db.begin().await.unwrap();
        segment_allocate(&mut tx, "geneve", "", 5, "n1").await.unwrap();
        segment_allocate(&mut tx, "vlan", "physnet1", 5, "n2").await.unwrap();
        assert_eq!(segments_taken(&mut tx, "geneve", "").await.unwrap(), [5]);
        tx.commit().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let e = segment_allocate(&mut tx, "geneve", "", 5, "n3").await.unwrap_err();
        assert!(matches!(e, StoreError::UniqueViolation { .. }));
    }
});
