//! Reconnecting: cache re-sync after a server restart, locks renewed, TCP remotes.

use std::collections::BTreeSet;

use neutrino_ovsdb::{
    row, Change, Client, ClientOptions, Condition, ConnectionEvent, LockEvent, MonitorRequest,
    Operation, OvsdbError, SyncKind, Value,
};
use serde_json::json;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::harness::{test_options, Server, NB, WAIT};
use crate::locks::next_lock_event;
use crate::monitor::next_change;

async fn next_connection_event(rx: &mut broadcast::Receiver<ConnectionEvent>) -> ConnectionEvent {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("a connection event in time").expect("open")
}

async fn insert_switch(client: &Client, name: &str) -> Uuid {
    let results = client
        .transact(NB, vec![Operation::insert("Logical_Switch", row([("name", Value::from(name))]))])
        .await
        .unwrap();
    results[0].uuid().unwrap()
}

/// Kills the server, changes the database file while it is down (insert c, rename b, delete a),
/// restarts it, and checks that the replica and the change stream catch up.
async fn cache_is_resynced_after_restart(opts: ClientOptions) {
    let Some(mut server) = Server::standalone() else { return };
    let client = Client::connect(&server.remote(), opts).await.unwrap();
    let monitor = client.monitor(NB, [("Logical_Switch", MonitorRequest::all())]).await.unwrap();
    let a = insert_switch(&client, "a").await;
    let b = insert_switch(&client, "b").await;
    let mut events = client.connection_events();
    let mut changes = monitor.subscribe();

    server.kill();
    assert!(matches!(
        next_connection_event(&mut events).await,
        ConnectionEvent::Disconnected { .. }
    ));
    assert!(matches!(
        client.transact(NB, vec![Operation::comment("down")]).await,
        Err(OvsdbError::NotConnected)
    ));
    server.offline_transact(&json!([NB,
        {"op": "insert", "table": "Logical_Switch", "row": {"name": "c"}},
        {"op": "update", "table": "Logical_Switch", "where": [["name", "==", "b"]],
         "row": {"name": "b2"}},
        {"op": "delete", "table": "Logical_Switch", "where": [["name", "==", "a"]]}]));
    server.restart();

    assert_eq!(
        next_connection_event(&mut events).await,
        ConnectionEvent::Reconnected { remote: server.remote() }
    );
    // The re-sync is complete before Reconnected is announced.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_change(&mut changes).await);
    }
    let mut kinds: Vec<String> = seen
        .iter()
        .map(|c| match c {
            Change::Insert { new, .. } => format!("insert {}", new["name"].as_str().unwrap()),
            Change::Modify { uuid, new, .. } => {
                assert_eq!(*uuid, b);
                format!("modify {}", new["name"].as_str().unwrap())
            }
            Change::Delete { uuid, .. } => {
                assert_eq!(*uuid, a);
                "delete a".to_owned()
            }
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["delete a", "insert c", "modify b2"]);
    let names: BTreeSet<String> = monitor
        .cache()
        .table("Logical_Switch")
        .map(|(_, r)| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, BTreeSet::from(["b2".to_owned(), "c".to_owned()]));
    // A standalone server keeps no history, so the re-sync is a full snapshot.
    assert_eq!(monitor.last_sync(), Some(SyncKind::Full));

    // The connection works and the monitor keeps following.
    let d = insert_switch(&client, "d").await;
    assert!(monitor.cache().get("Logical_Switch", &d).is_some());
}

#[tokio::test]
async fn client_reconnects_after_a_server_restart_and_resyncs_the_cache() {
    cache_is_resynced_after_restart(test_options()).await;
}

#[tokio::test]
async fn resync_with_plain_monitor_cond_replaces_the_cache_with_the_right_events() {
    cache_is_resynced_after_restart(ClientOptions {
        use_monitor_cond_since: false,
        ..test_options()
    })
    .await;
}

#[tokio::test]
async fn locks_are_lost_on_disconnect_and_requested_again_after_reconnect() {
    let Some(mut server) = Server::standalone() else { return };
    let client = Client::connect(&server.remote(), test_options()).await.unwrap();
    let mut locks = client.lock_events();
    assert!(client.lock("maint").await.unwrap());
    assert_eq!(next_lock_event(&mut locks).await, LockEvent::Locked { name: "maint".into() });
    server.restart();
    assert_eq!(next_lock_event(&mut locks).await, LockEvent::Lost { name: "maint".into() });
    assert_eq!(next_lock_event(&mut locks).await, LockEvent::Locked { name: "maint".into() });
    client.wait_connected(Some(WAIT)).await.unwrap();
    assert!(client.has_lock("maint"));
    client.transact(NB, vec![Operation::assert_lock("maint")]).await.unwrap();
}

#[tokio::test]
async fn connect_gives_up_after_the_initial_timeout_when_nothing_listens() {
    let dir = tempfile::tempdir().unwrap();
    let remote = format!("unix:{}", dir.path().join("none.sock").display());
    let opts = ClientOptions {
        initial_connect_timeout: Some(std::time::Duration::from_millis(300)),
        ..test_options()
    };
    let err = Client::connect(&remote, opts).await.unwrap_err();
    assert!(matches!(err, OvsdbError::Timeout { .. }), "{err:?}");
    assert!(matches!(
        Client::connect("ssl:127.0.0.1:6641", test_options()).await,
        Err(OvsdbError::InvalidRemote { .. })
    ));
}

#[tokio::test]
async fn tcp_remotes_work_like_unix_sockets() {
    let Some(server) = Server::standalone_with_remotes(&["ptcp:0:127.0.0.1"]) else { return };
    let port = server.tcp_port();
    let client = Client::connect(&format!("tcp:127.0.0.1:{port}"), test_options()).await.unwrap();
    assert_eq!(client.current_remote(), Some(format!("tcp:127.0.0.1:{port}")));
    let monitor = client.monitor(NB, [("Logical_Switch", MonitorRequest::all())]).await.unwrap();
    let uuid = insert_switch(&client, "over-tcp").await;
    assert!(monitor.cache().get("Logical_Switch", &uuid).is_some());
    let rows = client
        .transact(NB, vec![Operation::select("Logical_Switch", vec![Condition::uuid(uuid)])])
        .await
        .unwrap();
    assert_eq!(rows[0].rows().unwrap()[0]["name"], Value::from("over-tcp"));
}

#[tokio::test]
async fn a_list_of_remotes_skips_the_unreachable_ones() {
    let Some(server) = Server::standalone() else { return };
    let dir = tempfile::tempdir().unwrap();
    let remotes = format!("unix:{}/missing.sock,{}", dir.path().display(), server.remote());
    let client = Client::connect(&remotes, test_options()).await.unwrap();
    assert_eq!(client.current_remote(), Some(server.remote()));
}

#[tokio::test]
async fn server_echo_probes_are_answered_so_idle_tcp_connections_survive() {
    let Some(server) = Server::standalone_with_remotes(&["ptcp:0:127.0.0.1"]) else { return };
    let port = server.tcp_port();
    server.appctl(&["vlog/set", "jsonrpc:file:dbg"]);
    let client = Client::connect(&format!("tcp:127.0.0.1:{port}"), test_options()).await.unwrap();
    let mut events = client.connection_events();
    // ovsdb-server probes TCP clients after 5 s of silence and drops them 5 s later if the
    // probe is not answered. Stay silent for longer than both.
    let deadline = std::time::Instant::now() + WAIT;
    while !server.log().contains("received reply, result=[], id=\"echo\"") {
        assert!(std::time::Instant::now() < deadline, "no echo exchange:\n{}", server.log());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert!(matches!(events.try_recv(), Err(broadcast::error::TryRecvError::Empty)));
    insert_switch(&client, "still-here").await;
}

#[tokio::test]
async fn idle_clients_probe_the_server_with_echo() {
    let Some(server) = Server::standalone() else { return };
    server.appctl(&["vlog/set", "jsonrpc:file:dbg"]);
    let opts = ClientOptions {
        probe_interval: Some(std::time::Duration::from_millis(100)),
        ..test_options()
    };
    let client = Client::connect(&server.remote(), opts).await.unwrap();
    let mut events = client.connection_events();
    let deadline = std::time::Instant::now() + WAIT;
    while !server.log().contains("method=\"echo\", params=[\"probe\"]") {
        assert!(std::time::Instant::now() < deadline, "no probe:\n{}", server.log());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(matches!(events.try_recv(), Err(broadcast::error::TryRecvError::Empty)));
    assert!(client.is_connected());
}
