//! Raft clusters: following the leader, and `monitor_cond_since` resuming from history.

use neutrino_ovsdb::{row, Client, ConnectionEvent, MonitorRequest, Operation, SyncKind, Value};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::harness::{test_options, Cluster, NB, WAIT};

async fn next_reconnect(rx: &mut broadcast::Receiver<ConnectionEvent>) -> String {
    let wait = async {
        loop {
            match rx.recv().await.expect("open") {
                ConnectionEvent::Reconnected { remote } => return remote,
                ConnectionEvent::Disconnected { .. } | ConnectionEvent::Connected { .. } => {}
            }
        }
    };
    tokio::time::timeout(WAIT * 2, wait).await.expect("reconnected in time")
}

async fn insert_switch(client: &Client, name: &str) -> Uuid {
    let results = client
        .transact(NB, vec![Operation::insert("Logical_Switch", row([("name", Value::from(name))]))])
        .await
        .unwrap();
    results[0].uuid().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_connects_to_the_raft_leader_and_follows_it_when_it_fails() {
    let Some(mut cluster) = Cluster::start(3) else { return };
    let leader = cluster.leader();
    // List the leader last so that the client has to skip the followers.
    let mut order: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    order.push(leader);
    let remotes: Vec<String> = order.iter().map(|i| cluster.servers[*i].remote()).collect();
    let client = Client::connect(&remotes.join(","), test_options()).await.unwrap();
    assert_eq!(client.current_remote(), Some(cluster.servers[leader].remote()));
    let monitor = client.monitor(NB, [("Logical_Switch", MonitorRequest::all())]).await.unwrap();
    let before = insert_switch(&client, "before").await;
    let mut events = client.connection_events();

    cluster.servers[leader].kill();
    let now = next_reconnect(&mut events).await;
    let new_leader = cluster.leader();
    assert_ne!(new_leader, leader);
    assert_eq!(now, cluster.servers[new_leader].remote());
    let after = insert_switch(&client, "after").await;
    let cache = monitor.cache();
    assert!(cache.get("Logical_Switch", &before).is_some());
    assert!(cache.get("Logical_Switch", &after).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_cond_since_resumes_from_the_last_transaction_after_a_dropped_connection() {
    let Some(cluster) = Cluster::start(1) else { return };
    let server = &cluster.servers[0];
    let client = Client::connect(&server.remote(), test_options()).await.unwrap();
    let writer = Client::connect(&server.remote(), test_options()).await.unwrap();
    let monitor = client.monitor(NB, [("Logical_Switch", MonitorRequest::all())]).await.unwrap();
    assert_eq!(monitor.last_sync(), Some(SyncKind::Full));
    insert_switch(&writer, "one").await;
    monitor
        .wait_until(WAIT, |c| c.find("Logical_Switch", "name", &Value::from("one")).is_some())
        .await
        .unwrap();
    let txn = monitor.last_txn_id().expect("a clustered server reports transaction ids");
    let mut events = client.connection_events();

    // Drop every client connection; both clients reconnect on their own.
    server.appctl(&["ovsdb-server/reconnect"]);
    next_reconnect(&mut events).await;
    assert_eq!(monitor.last_sync(), Some(SyncKind::Resumed));
    assert_eq!(monitor.cache().len("Logical_Switch"), 1);

    writer.wait_connected(Some(WAIT)).await.unwrap();
    let two = loop {
        // The writer may still be re-establishing; retry the idempotent-enough insert once.
        match writer
            .transact(NB, vec![Operation::insert("Logical_Switch", row([("name", "two".into())]))])
            .await
        {
            Ok(r) => break r[0].uuid().unwrap(),
            Err(e) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                assert!(writer.wait_connected(Some(WAIT)).await.is_ok(), "{e}");
            }
        }
    };
    monitor.wait_until(WAIT, |c| c.get("Logical_Switch", &two).is_some()).await.unwrap();
    assert_ne!(monitor.last_txn_id(), Some(txn));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_leaves_a_server_that_hands_leadership_to_another_member() {
    let Some(cluster) = Cluster::start(3) else { return };
    let client = Client::connect(&cluster.remotes(), test_options()).await.unwrap();
    let leader = cluster.leader();
    assert_eq!(client.current_remote(), Some(cluster.servers[leader].remote()));
    let mut events = client.connection_events();

    // The old leader keeps running and keeps our connection open; the client notices the change
    // in the _Server database and moves on by itself.
    cluster.servers[leader].appctl(&["cluster/failure-test", "transfer-leadership"]);
    let now = next_reconnect(&mut events).await;
    let new_leader = cluster.leader();
    assert_ne!(new_leader, leader);
    assert_eq!(now, cluster.servers[new_leader].remote());
    insert_switch(&client, "on-new-leader").await;
}
