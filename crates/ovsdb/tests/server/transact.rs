//! Every transaction operation against a real ovsdb-server.

use neutrino_ovsdb::{
    row, Atom, Client, Condition, Mutation, OpResult, Operation, OvsdbError, Row, Value, WaitUntil,
};
use uuid::Uuid;

use crate::harness::{test_options, Server, NB};

async fn connect(server: &Server) -> Client {
    Client::connect(&server.remote(), test_options()).await.expect("connect")
}

async fn select_all(client: &Client, table: &str, conditions: Vec<Condition>) -> Vec<Row> {
    let results = client.transact(NB, vec![Operation::select(table, conditions)]).await.unwrap();
    results[0].rows().unwrap().to_vec()
}

fn names(rows: &[Row]) -> Vec<&str> {
    let mut names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn list_dbs_and_get_schema_describe_the_server() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let dbs = client.list_dbs().await.unwrap();
    assert!(dbs.contains(&NB.to_owned()) && dbs.contains(&"_Server".to_owned()), "{dbs:?}");
    let schema = client.schema(NB).await.unwrap();
    assert_eq!(schema.name, NB);
    assert!(!schema.version.is_empty());
    let lsp = schema.table("Logical_Switch_Port").unwrap();
    assert!(lsp.column("addresses").unwrap().ty.is_set());
    assert!(!lsp.is_root);
    assert!(matches!(client.schema("Nope").await, Err(OvsdbError::UnknownDatabase { .. })));
    client.echo().await.unwrap();
}

#[tokio::test]
async fn insert_with_named_uuid_references_creates_parent_and_children_in_one_transaction() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let results = client
        .transact(
            NB,
            vec![
                Operation::insert(
                    "Logical_Switch_Port",
                    row([
                        ("name", Value::from("p1")),
                        ("addresses", Value::set(["fa:16:3e:00:00:01 10.0.0.5"])),
                    ]),
                )
                .with_uuid_name("port1"),
                Operation::insert("Logical_Switch_Port", row([("name", Value::from("p2"))]))
                    .with_uuid_name("port2"),
                Operation::insert(
                    "Logical_Switch",
                    row([
                        ("name", Value::from("sw0")),
                        (
                            "ports",
                            Value::set([Atom::named_uuid("port1"), Atom::named_uuid("port2")]),
                        ),
                    ]),
                ),
            ],
        )
        .await
        .unwrap();
    let (p1, p2, sw) =
        (results[0].uuid().unwrap(), results[1].uuid().unwrap(), results[2].uuid().unwrap());
    let switches = select_all(&client, "Logical_Switch", vec![Condition::uuid(sw)]).await;
    assert_eq!(switches.len(), 1);
    assert_eq!(switches[0]["ports"], Value::set([p1, p2]));
    assert_eq!(switches[0]["_uuid"], Value::uuid(sw));
    let port = select_all(&client, "Logical_Switch_Port", vec![Condition::eq("name", "p1")]).await;
    // A one-element set comes back as a bare atom on the wire and is normalized to a set.
    assert_eq!(port[0]["addresses"], Value::set(["fa:16:3e:00:00:01 10.0.0.5"]));
    assert_eq!(port[0]["up"], Value::empty_set());
}

#[tokio::test]
async fn insert_with_a_caller_chosen_uuid_rejects_duplicates() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let id = Uuid::new_v4();
    let insert = || Operation::insert("Logical_Switch", row([("name", "x".into())])).with_uuid(id);
    let results = client.transact(NB, vec![insert()]).await.unwrap();
    assert_eq!(results[0].uuid(), Some(id));
    let err = client.transact(NB, vec![insert()]).await.unwrap_err();
    assert!(
        matches!(&err, OvsdbError::Transaction { op_index: 0, error, .. } if error == "duplicate uuid"),
        "{err:?}"
    );
}

#[tokio::test]
async fn select_with_conditions_returns_only_matching_rows_and_columns() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let ops = ["a", "b", "c"]
        .iter()
        .map(|n| {
            Operation::insert(
                "Address_Set",
                row([
                    ("name", Value::from(*n)),
                    (
                        "external_ids",
                        Value::map([("owner", if *n == "c" { "other" } else { "me" })]),
                    ),
                ]),
            )
        })
        .collect();
    client.transact(NB, ops).await.unwrap();
    let mine = select_all(
        &client,
        "Address_Set",
        vec![Condition::includes("external_ids", Value::map([("owner", "me")]))],
    )
    .await;
    assert_eq!(names(&mine), ["a", "b"]);
    let not_a = select_all(
        &client,
        "Address_Set",
        vec![
            Condition::ne("name", "a"),
            Condition::excludes("external_ids", Value::map([("owner", "me")])),
        ],
    )
    .await;
    assert_eq!(names(&not_a), ["c"]);
    let results = client
        .transact(
            NB,
            vec![Operation::select("Address_Set", vec![Condition::eq("name", "b")])
                .with_columns(["name"])],
        )
        .await
        .unwrap();
    let rows = results[0].rows().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].keys().collect::<Vec<_>>(), ["name"]);
}

#[tokio::test]
async fn update_replaces_whole_column_values_and_counts_rows() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    client
        .transact(
            NB,
            vec![Operation::insert(
                "Address_Set",
                row([
                    ("name", "as1".into()),
                    ("addresses", Value::set(["10.0.0.1", "10.0.0.2"])),
                    ("external_ids", Value::map([("a", "1"), ("b", "2")])),
                ]),
            )],
        )
        .await
        .unwrap();
    let results = client
        .transact(
            NB,
            vec![Operation::update(
                "Address_Set",
                vec![Condition::eq("name", "as1")],
                row([
                    ("addresses", Value::set(["10.0.0.3"])),
                    ("external_ids", Value::map([("c", "3")])),
                ]),
            )],
        )
        .await
        .unwrap();
    assert_eq!(results[0], OpResult::Count(1));
    let rows = select_all(&client, "Address_Set", vec![Condition::eq("name", "as1")]).await;
    assert_eq!(rows[0]["addresses"], Value::set(["10.0.0.3"]));
    assert_eq!(rows[0]["external_ids"], Value::map([("c", "3")]));
    let none = client
        .transact(
            NB,
            vec![Operation::update("Address_Set", vec![Condition::eq("name", "zz")], Row::new())],
        )
        .await
        .unwrap();
    assert_eq!(none[0].count(), Some(0));
}

#[tokio::test]
async fn mutate_inserts_and_deletes_set_elements_and_map_keys() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    client
        .transact(
            NB,
            vec![
                Operation::insert(
                    "Address_Set",
                    row([
                        ("name", "as1".into()),
                        ("addresses", Value::set(["10.0.0.1", "10.0.0.2"])),
                        ("external_ids", Value::map([("keep", "1"), ("rev", "1"), ("drop", "x")])),
                    ]),
                ),
                Operation::insert("NB_Global", Row::new()),
            ],
        )
        .await
        .unwrap();
    let by_name = || vec![Condition::eq("name", "as1")];
    let results = client
        .transact(
            NB,
            vec![
                Operation::mutate(
                    "Address_Set",
                    by_name(),
                    vec![
                        Mutation::insert("addresses", Value::set(["10.0.0.3"])),
                        Mutation::delete("addresses", Value::set(["10.0.0.1"])),
                        // Map insert never overwrites: delete the key first, then insert.
                        Mutation::delete("external_ids", Value::set(["rev"])),
                        Mutation::insert(
                            "external_ids",
                            Value::map([("rev", "2"), ("keep", "no")]),
                        ),
                        // Deleting by pair only removes a matching pair.
                        Mutation::delete(
                            "external_ids",
                            Value::map([("drop", "x"), ("keep", "2")]),
                        ),
                    ],
                ),
                Operation::mutate("NB_Global", vec![], vec![Mutation::add("nb_cfg", 5)]),
            ],
        )
        .await
        .unwrap();
    assert_eq!((results[0].count(), results[1].count()), (Some(1), Some(1)));
    let rows = select_all(&client, "Address_Set", by_name()).await;
    assert_eq!(rows[0]["addresses"], Value::set(["10.0.0.2", "10.0.0.3"]));
    assert_eq!(rows[0]["external_ids"], Value::map([("keep", "1"), ("rev", "2")]));
    let global = select_all(&client, "NB_Global", vec![]).await;
    assert_eq!(global[0]["nb_cfg"], Value::from(5));
}

#[tokio::test]
async fn delete_removes_matching_rows() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let ops = ["a", "b"]
        .iter()
        .map(|n| Operation::insert("Logical_Switch", row([("name", Value::from(*n))])))
        .collect();
    client.transact(NB, ops).await.unwrap();
    let results = client
        .transact(NB, vec![Operation::delete("Logical_Switch", vec![Condition::eq("name", "a")])])
        .await
        .unwrap();
    assert_eq!(results[0].count(), Some(1));
    assert_eq!(names(&select_all(&client, "Logical_Switch", vec![]).await), ["b"]);
}

#[tokio::test]
async fn wait_passes_when_rows_match_and_times_out_when_they_do_not() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    client
        .transact(NB, vec![Operation::insert("Logical_Switch", row([("name", "sw".into())]))])
        .await
        .unwrap();
    let wait = |until, rows| {
        Operation::wait(
            "Logical_Switch",
            vec![Condition::eq("name", "sw")],
            vec!["name".into()],
            until,
            rows,
        )
    };
    let present = vec![row([("name", Value::from("sw"))])];
    let results = client
        .transact(
            NB,
            vec![
                wait(WaitUntil::Eq, present.clone()),
                wait(WaitUntil::Ne, vec![]),
                Operation::insert("Logical_Switch", row([("name", "guarded".into())])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(results[0], OpResult::Empty);
    // Idempotent create guard: "no row named sw" is false, so the whole transaction fails.
    let err = client
        .transact(
            NB,
            vec![
                Operation::comment("guarded create"),
                wait(WaitUntil::Eq, vec![]),
                Operation::insert("Logical_Switch", row([("name", "sw".into())])),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OvsdbError::Transaction { op_index: 1, error, .. } if error == "timed out"),
        "{err:?}"
    );
    assert_eq!(names(&select_all(&client, "Logical_Switch", vec![]).await), ["guarded", "sw"]);
}

#[tokio::test]
async fn commit_and_comment_succeed_and_abort_fails_the_transaction() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let results = client
        .transact(
            NB,
            vec![
                Operation::comment("neutrino test"),
                Operation::insert("Logical_Switch", row([("name", "kept".into())])),
                Operation::commit(true),
            ],
        )
        .await
        .unwrap();
    assert_eq!(results[0], OpResult::Empty);
    assert_eq!(results[2], OpResult::Empty);
    let err = client
        .transact(
            NB,
            vec![
                Operation::insert("Logical_Switch", row([("name", "dropped".into())])),
                Operation::Abort,
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OvsdbError::Transaction { op_index: 1, error, .. } if error == "aborted"),
        "{err:?}"
    );
    assert_eq!(names(&select_all(&client, "Logical_Switch", vec![]).await), ["kept"]);
}

#[tokio::test]
async fn assert_without_holding_the_lock_fails_with_not_owner() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let err = client
        .transact(
            NB,
            vec![
                Operation::assert_lock("maintenance"),
                Operation::insert("Logical_Switch", row([("name", "x".into())])),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.server_error(), Some("not owner"), "{err:?}");
    assert!(matches!(err, OvsdbError::Transaction { op_index: 0, .. }));
    assert!(client.lock("maintenance").await.unwrap());
    client
        .transact(NB, vec![Operation::assert_lock("maintenance"), Operation::comment("mine")])
        .await
        .unwrap();
}

#[tokio::test]
async fn commit_time_violations_are_reported_after_the_last_operation() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let dup = || Operation::insert("Address_Set", row([("name", "dup".into())]));
    let err = client.transact(NB, vec![dup(), dup()]).await.unwrap_err();
    assert!(
        matches!(&err, OvsdbError::Transaction { op_index: 2, error, .. } if error == "constraint violation"),
        "{err:?}"
    );
    let dangling = Operation::insert(
        "Logical_Switch",
        row([("name", "sw".into()), ("ports", Value::set([Uuid::new_v4()]))]),
    );
    let err = client.transact(NB, vec![dangling]).await.unwrap_err();
    assert!(
        matches!(&err, OvsdbError::Transaction { op_index: 1, error, .. }
            if error == "referential integrity violation"),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_tables_and_columns_are_refused_before_sending() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let err = client
        .transact(
            NB,
            vec![
                Operation::insert("Logical_Switch", row([("name", "x".into())])),
                Operation::update("ACL", vec![], row([("tier", 1.into())])),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OvsdbError::UnknownColumn { column, .. } if column == "tier"),
        "{err:?}"
    );
    let err =
        client.transact(NB, vec![Operation::delete("No_Such_Table", vec![])]).await.unwrap_err();
    assert!(matches!(err, OvsdbError::UnknownTable { .. }), "{err:?}");
    assert!(select_all(&client, "Logical_Switch", vec![]).await.is_empty());
}

#[tokio::test]
async fn many_requests_in_flight_share_one_connection() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let name = format!("sw{i}");
                let results = client
                    .transact(
                        NB,
                        vec![Operation::insert("Logical_Switch", row([("name", name.into())]))],
                    )
                    .await?;
                Ok::<_, OvsdbError>(results[0].uuid().unwrap())
            })
        })
        .collect();
    let mut uuids = Vec::new();
    for t in tasks {
        uuids.push(t.await.unwrap().unwrap());
    }
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), 64);
    assert_eq!(select_all(&client, "Logical_Switch", vec![]).await.len(), 64);
}

#[tokio::test]
async fn values_of_every_shape_round_trip_through_the_server() {
    let Some(server) = Server::standalone() else { return };
    let client = connect(&server).await;
    let written = row([
        ("name", Value::from("p\"{quoted}\" ünï")),
        ("type", Value::from("")),
        ("addresses", Value::set(["a", "b c", "d"])),
        ("port_security", Value::empty_set()),
        ("options", Value::map([("k1", "v1"), ("k2", "")])),
        ("external_ids", Value::empty_map()),
        ("tag_request", Value::set([4095])),
        ("enabled", Value::set([false])),
        ("parent_name", Value::set(["parent"])),
    ]);
    let results = client
        .transact(
            NB,
            vec![
                Operation::insert("Logical_Switch_Port", written.clone()).with_uuid_name("p"),
                Operation::insert(
                    "Logical_Switch",
                    row([("name", "sw".into()), ("ports", Value::named_uuid("p"))]),
                ),
            ],
        )
        .await
        .unwrap();
    let uuid = results[0].uuid().unwrap();
    let read = select_all(&client, "Logical_Switch_Port", vec![Condition::uuid(uuid)]).await;
    for (column, value) in &written {
        assert_eq!(&read[0][column], value, "column {column}");
    }
    assert!(read[0]["_version"].as_uuid().is_some());
}
