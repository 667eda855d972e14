//! Monitors: initial contents, change events with set/map diffs, conditions.

use neutrino_ovsdb::{row, Change, Client, Condition, MonitorRequest, Mutation, Operation, Value};
use tokio::sync::broadcast;

use crate::harness::{test_options, Server, NB, WAIT};

/// The next change, within a generous bound.
pub async fn next_change(rx: &mut broadcast::Receiver<Change>) -> Change {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("a change in time").expect("open channel")
}

#[tokio::test]
async fn monitor_reports_initial_rows_then_inserts_modifies_and_deletes() {
    let Some(server) = Server::standalone() else { return };
    let client = Client::connect(&server.remote(), test_options()).await.unwrap();
    let existing = client
        .transact(
            NB,
            vec![Operation::insert(
                "Address_Set",
                row([("name", "before".into()), ("addresses", Value::set(["10.0.0.1"]))]),
            )],
        )
        .await
        .unwrap()[0]
        .uuid()
        .unwrap();

    let monitor = client.monitor(NB, [("Address_Set", MonitorRequest::all())]).await.unwrap();
    let cache = monitor.cache();
    let row0 = cache.get("Address_Set", &existing).expect("initial row");
    assert_eq!(row0["name"], Value::from("before"));
    assert_eq!(row0["addresses"], Value::set(["10.0.0.1"]));
    // Columns left out of the initial update are filled with their defaults.
    assert_eq!(row0["external_ids"], Value::empty_map());

    let mut rx = monitor.subscribe();
    let new = client
        .transact(
            NB,
            vec![Operation::insert(
                "Address_Set",
                row([
                    ("name", "as".into()),
                    ("addresses", Value::set(["10.0.0.1", "10.0.0.2"])),
                    ("external_ids", Value::map([("a", ""), ("rev", "1")])),
                ]),
            )],
        )
        .await
        .unwrap()[0]
        .uuid()
        .unwrap();
    match next_change(&mut rx).await {
        Change::Insert { table, uuid, new: r } => {
            assert_eq!((table.as_str(), uuid), ("Address_Set", new));
            assert_eq!(r["external_ids"], Value::map([("a", ""), ("rev", "1")]));
        }
        other => panic!("{other:?}"),
    }

    // One transaction changing a set (remove .1, add .3) and a map (drop a, change rev, add new).
    client
        .transact(
            NB,
            vec![Operation::mutate(
                "Address_Set",
                vec![Condition::uuid(new)],
                vec![
                    Mutation::delete("addresses", Value::set(["10.0.0.1"])),
                    Mutation::insert("addresses", Value::set(["10.0.0.3"])),
                    Mutation::delete("external_ids", Value::set(["a", "rev"])),
                    Mutation::insert("external_ids", Value::map([("rev", "2"), ("new", "1")])),
                ],
            )],
        )
        .await
        .unwrap();
    match next_change(&mut rx).await {
        Change::Modify { uuid, old, new: r, .. } => {
            assert_eq!(uuid, new);
            assert_eq!(old["addresses"], Value::set(["10.0.0.1", "10.0.0.2"]));
            assert_eq!(r["addresses"], Value::set(["10.0.0.2", "10.0.0.3"]));
            assert_eq!(r["external_ids"], Value::map([("rev", "2"), ("new", "1")]));
            assert_eq!(r["name"], Value::from("as"));
        }
        other => panic!("{other:?}"),
    }

    // Scalar column and a set shrinking to one element (sent as a bare atom).
    client
        .transact(
            NB,
            vec![Operation::update(
                "Address_Set",
                vec![Condition::uuid(new)],
                row([("name", "renamed".into()), ("addresses", Value::set(["10.0.0.3"]))]),
            )],
        )
        .await
        .unwrap();
    match next_change(&mut rx).await {
        Change::Modify { new: r, .. } => {
            assert_eq!(r["name"], Value::from("renamed"));
            assert_eq!(r["addresses"], Value::set(["10.0.0.3"]));
        }
        other => panic!("{other:?}"),
    }

    client
        .transact(NB, vec![Operation::delete("Address_Set", vec![Condition::uuid(existing)])])
        .await
        .unwrap();
    match next_change(&mut rx).await {
        Change::Delete { uuid, old, .. } => {
            assert_eq!(uuid, existing);
            assert_eq!(old["name"], Value::from("before"));
        }
        other => panic!("{other:?}"),
    }
    let cache = monitor.cache();
    assert_eq!(cache.len("Address_Set"), 1);
    assert_eq!(
        cache.get("Address_Set", &new).unwrap()["external_ids"],
        Value::map([("rev", "2"), ("new", "1")])
    );
}

#[tokio::test]
async fn own_transaction_is_in_the_cache_when_transact_returns() {
    let Some(server) = Server::standalone() else { return };
    let client = Client::connect(&server.remote(), test_options()).await.unwrap();
    let monitor = client
        .monitor(
            NB,
            [
                ("Logical_Switch", MonitorRequest::columns(["name", "ports"])),
                ("Logical_Switch_Port", MonitorRequest::columns(["name", "up"])),
            ],
        )
        .await
        .unwrap();
    for i in 0..20 {
        let results = client
            .transact(
                NB,
                vec![
                    Operation::insert(
                        "Logical_Switch_Port",
                        row([("name", Value::from(format!("p{i}")))]),
                    )
                    .with_uuid_name("p"),
                    Operation::insert(
                        "Logical_Switch",
                        row([
                            ("name", Value::from(format!("sw{i}"))),
                            ("ports", Value::named_uuid("p")),
                        ]),
                    ),
                ],
            )
            .await
            .unwrap();
        let (port, switch) = (results[0].uuid().unwrap(), results[1].uuid().unwrap());
        monitor.with_cache(|c| {
            let sw = c.get("Logical_Switch", &switch).expect("switch already replicated");
            assert_eq!(sw["ports"], Value::set([port]));
            assert_eq!(sw.len(), 2, "only the monitored columns: {sw:?}");
            assert_eq!(c.get("Logical_Switch_Port", &port).unwrap()["up"], Value::empty_set());
        });
    }
}

#[tokio::test]
async fn conditional_monitor_replicates_only_matching_rows() {
    let Some(server) = Server::standalone() else { return };
    let client = Client::connect(&server.remote(), test_options()).await.unwrap();
    let ours = || Value::map([("owner", "neutrino")]);
    let monitor = client
        .monitor(
            NB,
            [(
                "Logical_Switch",
                MonitorRequest::all()
                    .with_conditions(vec![Condition::includes("external_ids", ours())]),
            )],
        )
        .await
        .unwrap();
    client
        .transact(
            NB,
            vec![
                Operation::insert("Logical_Switch", row([("name", "theirs".into())])),
                Operation::insert(
                    "Logical_Switch",
                    row([("name", "ours".into()), ("external_ids", ours())]),
                ),
            ],
        )
        .await
        .unwrap();
    monitor
        .wait_until(WAIT, |c| c.find("Logical_Switch", "name", &Value::from("ours")).is_some())
        .await
        .unwrap();
    assert_eq!(monitor.cache().len("Logical_Switch"), 1);
    // A row that stops matching leaves the replica.
    let mut rx = monitor.subscribe();
    client
        .transact(
            NB,
            vec![Operation::update(
                "Logical_Switch",
                vec![Condition::eq("name", "ours")],
                row([("external_ids", Value::empty_map())]),
            )],
        )
        .await
        .unwrap();
    assert!(matches!(next_change(&mut rx).await, Change::Delete { .. }));
    assert!(monitor.cache().is_empty());
}

#[tokio::test]
async fn monitors_of_unknown_tables_or_columns_are_refused() {
    let Some(server) = Server::standalone() else { return };
    let client = Client::connect(&server.remote(), test_options()).await.unwrap();
    assert!(client.monitor(NB, [("Nope", MonitorRequest::all())]).await.is_err());
    assert!(client.monitor(NB, [("ACL", MonitorRequest::columns(["tier"]))]).await.is_err());
}

#[tokio::test]
async fn dropping_a_monitor_stops_updates_and_cancel_tells_the_server() {
    let Some(server) = Server::standalone() else { return };
    let client = Client::connect(&server.remote(), test_options()).await.unwrap();
    let monitor = client.monitor(NB, [("Logical_Switch", MonitorRequest::all())]).await.unwrap();
    let id = monitor.id().to_owned();
    monitor.cancel().await.unwrap();
    // Cancelling again on the server fails: it no longer knows the id.
    let err = client.call("monitor_cancel", serde_json::json!([id])).await.unwrap_err();
    assert!(err.server_error().is_some(), "{err:?}");
    let again = client.monitor(NB, [("Logical_Switch", MonitorRequest::all())]).await.unwrap();
    drop(again);
    client
        .transact(NB, vec![Operation::insert("Logical_Switch", row([("name", "x".into())]))])
        .await
        .unwrap();
}
