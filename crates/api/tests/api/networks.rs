//! Networks: defaults, provider segments, policy, isolation, listing, conditional updates,
//! deletion and bulk creation.

use axum::http::{HeaderValue, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::harness::{ids, TestApp};

#[tokio::test]
async fn network_create_fills_defaults_and_allocates_a_geneve_segment() {
    let app = TestApp::new().await;
    let net = app.network(&app.admin, json!({"name": "n1"})).await;
    assert_eq!(net["name"], "n1");
    assert_eq!(net["status"], "ACTIVE");
    assert_eq!(net["mtu"], 1442);
    assert_eq!(net["provider:network_type"], "geneve");
    assert!(net["provider:segmentation_id"].as_i64().unwrap() >= 1);
    assert_eq!(net["project_id"], app.admin_project.as_str());
    assert_eq!(net["tenant_id"], net["project_id"]);
    assert_eq!(net["shared"], false);
    assert_eq!(net["router:external"], false);
    assert_eq!(net["port_security_enabled"], true);
    assert_eq!(net["subnets"], json!([]));
    assert_eq!(net["created_at"], net["updated_at"]);
    let second = app.network(&app.admin, json!({})).await;
    assert_ne!(second["provider:segmentation_id"], net["provider:segmentation_id"]);
    let id = net["id"].as_str().unwrap();
    let journal: Vec<String> =
        app.logger.journal().into_iter().filter(|l| l.ends_with(id)).collect();
    assert_eq!(
        journal,
        [format!("create_network_precommit {id}"), format!("create_network_postcommit {id}")]
    );
}

#[tokio::test]
async fn provider_networks_reserve_their_segments() {
    let app = TestApp::new().await;
    let flat = app
        .network(
            &app.admin,
            json!({"provider:network_type": "flat", "provider:physical_network": "public"}),
        )
        .await;
    assert_eq!(flat["mtu"], 1500);
    assert_eq!(flat["provider:segmentation_id"], Value::Null);
    let r = app
        .post("/v2.0/networks", &app.admin, json!({"network": {"provider:network_type": "flat", "provider:physical_network": "public"}}))
        .await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "FlatNetworkInUse"));
    let vlan = app
        .network(&app.admin, json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100}))
        .await;
    assert_eq!(vlan["provider:segmentation_id"], 100);
    let r = app
        .post("/v2.0/networks", &app.admin, json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100}}))
        .await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "VlanIdInUse"));
    let auto = app
        .network(
            &app.admin,
            json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1"}),
        )
        .await;
    assert_eq!(auto["provider:segmentation_id"], 101);
    let r = app.post("/v2.0/networks", &app.admin, json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1"}})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let r = app.post("/v2.0/networks", &app.admin, json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "nowhere"}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .post(
            "/v2.0/networks",
            &app.admin,
            json!({"network": {"provider:network_type": "geneve", "provider:segmentation_id": 77}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .post(
            "/v2.0/networks",
            &app.admin,
            json!({"network": {"provider:network_type": "geneve", "provider:segmentation_id": 77}}),
        )
        .await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "TunnelIdInUse"));
    let r = app.post("/v2.0/networks", &app.admin, json!({"network": {"mtu": 9000}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("maximum is 1442"), "{}", r.message());
}

#[tokio::test]
async fn members_cannot_set_admin_attributes_or_other_projects() {
    let app = TestApp::new().await;
    let (member, project) = app.user("p1", "member").await;
    for body in [
        json!({"shared": true}),
        json!({"router:external": true}),
        json!({"provider:network_type": "geneve"}),
    ] {
        let r = app.post("/v2.0/networks", &member, json!({ "network": body })).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(r.error_type(), "PolicyNotAuthorized");
    }
    let r = app
        .post("/v2.0/networks", &member, json!({"network": {"project_id": app.admin_project}}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let net = app.network(&member, json!({"tenant_id": project})).await;
    assert_eq!(net["project_id"], project.as_str());
    assert!(net.get("provider:network_type").is_none(), "provider attributes are admin-only");
    let admin_view =
        app.get(&format!("/v2.0/networks/{}", net["id"].as_str().unwrap()), &app.admin).await;
    assert_eq!(admin_view.body["network"]["provider:network_type"], "geneve");
    let r = app
        .put(
            &format!("/v2.0/networks/{}", net["id"].as_str().unwrap()),
            &member,
            json!({"network": {"shared": false}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "admin-only even at its current value");
    let list = app.get("/v2.0/networks", &app.admin).await;
    assert_eq!(list.body["networks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn projects_see_only_their_own_shared_and_external_networks() {
    let app = TestApp::new().await;
    let (alice, alice_project) = app.user("alice", "member").await;
    let (bob, _) = app.user("bob", "member").await;
    let private = app.network(&alice, json!({"name": "private"})).await;
    let shared = app.network(&app.admin, json!({"name": "shared", "shared": true})).await;
    let external = app.network(&app.admin, json!({"name": "ext", "router:external": true})).await;
    let hidden = app.network(&app.admin, json!({"name": "admin-only"})).await;
    let bob_list = ids(&app.get("/v2.0/networks", &bob).await.body["networks"]);
    assert!(bob_list.contains(&shared["id"].as_str().unwrap().to_string()));
    assert!(bob_list.contains(&external["id"].as_str().unwrap().to_string()));
    assert!(!bob_list.contains(&private["id"].as_str().unwrap().to_string()));
    assert!(!bob_list.contains(&hidden["id"].as_str().unwrap().to_string()));
    let private_path = format!("/v2.0/networks/{}", private["id"].as_str().unwrap());
    let r = app.get(&private_path, &bob).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::NOT_FOUND, "NetworkNotFound"));
    let r = app.put(&private_path, &bob, json!({"network": {"name": "mine"}})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&private_path, &bob).await.status, StatusCode::NOT_FOUND);
    let shared_path = format!("/v2.0/networks/{}", shared["id"].as_str().unwrap());
    let r = app.put(&shared_path, &bob, json!({"network": {"name": "mine"}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "visible but not owned");
    assert_eq!(app.delete(&shared_path, &alice).await.status, StatusCode::FORBIDDEN);
    let admin_filtered =
        app.get(&format!("/v2.0/networks?project_id={alice_project}"), &app.admin).await;
    assert_eq!(ids(&admin_filtered.body["networks"]), [private["id"].as_str().unwrap()]);
    let reader = app.user_in(&alice_project, "alice", "alice-reader", "reader").await;
    assert_eq!(app.get(&private_path, &reader).await.status, StatusCode::OK);
    let r = app.put(&private_path, &reader, json!({"network": {"name": "x"}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post("/v2.0/networks", &reader, json!({"network": {}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn update_bumps_revision_and_if_match_guards_it() {
    let app = TestApp::new().await;
    let net = app.network(&app.admin, json!({"name": "a"})).await;
    let path = format!("/v2.0/networks/{}", net["id"].as_str().unwrap());
    let rev = net["revision_number"].as_i64().unwrap();
    let r = app.put(&path, &app.admin, json!({"network": {"name": "b", "mtu": 1400}})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["network"]["name"], "b");
    assert_eq!(r.body["network"]["mtu"], 1400);
    assert_eq!(r.body["network"]["revision_number"], rev + 1);
    let conditional = |n: i64| {
        Request::builder()
            .method(Method::PUT)
            .uri(&path)
            .header("x-auth-token", &app.admin)
            .header("if-match", HeaderValue::from_str(&format!("revision_number={n}")).unwrap())
            .body(axum::body::Body::from(json!({"network": {"name": "c"}}).to_string()))
            .unwrap()
    };
    let r = app.send(conditional(rev)).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.error_type(), "RevisionNumberConstraintFailed");
    assert_eq!(r.message(), format!("Constrained to {rev}, but current revision is {}", rev + 1));
    let r = app.send(conditional(rev + 1)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.put(&path, &app.admin, json!({"network": {"id": "x"}})).await;
    assert_eq!(r.message(), "Cannot update read-only attribute id");
    let r = app.put(&path, &app.admin, json!({"name": "no envelope"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r =
        app.put(&path, &app.admin, json!({"network": {"provider:network_type": "vxlan"}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn list_filters_sorts_selects_fields_and_paginates() {
    let app = TestApp::new().await;
    for name in ["c", "a", "d", "b"] {
        app.network(&app.admin, json!({"name": name, "admin_state_up": name != "d"})).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app.get("/v2.0/networks?name=a&name=b&sort_key=name&sort_dir=asc", &app.admin).await;
    assert_eq!(names(&r.body), ["a", "b"]);
    let r = app.get("/v2.0/networks?admin_state_up=False", &app.admin).await;
    assert_eq!(names(&r.body), ["d"]);
    let r = app.get("/v2.0/networks?name=", &app.admin).await;
    assert_eq!(names(&r.body), Vec::<String>::new());
    let r = app
        .get("/v2.0/networks?fields=id&fields=name&sort_key=name&sort_dir=desc", &app.admin)
        .await;
    let first = r.body["networks"][0].as_object().unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first["name"], "d");
    let r = app.get("/v2.0/networks?colour=red", &app.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.get("/v2.0/networks?sort_key=name", &app.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.get("/v2.0/networks?sort_key=name&sort_dir=asc&limit=3", &app.admin).await;
    assert_eq!(names(&r.body), ["a", "b", "c"]);
    let links = r.body["networks_links"].as_array().unwrap();
    let next = links.iter().find(|l| l["rel"] == "next").unwrap()["href"].as_str().unwrap();
    assert!(next.starts_with("http://neutrino.test:9696/v2.0/networks?"), "{next}");
    let next_path = next.trim_start_matches("http://neutrino.test:9696");
    let r = app.get(next_path, &app.admin).await;
    assert_eq!(names(&r.body), ["d"]);
    let links = r.body["networks_links"].as_array().unwrap();
    assert!(links.iter().all(|l| l["rel"] != "next"), "a partial page has no next link");
    let prev = links.iter().find(|l| l["rel"] == "previous").unwrap()["href"].as_str().unwrap();
    let r = app.get(prev.trim_start_matches("http://neutrino.test:9696"), &app.admin).await;
    assert_eq!(names(&r.body), ["a", "b", "c"]);
    let r = app
        .get("/v2.0/networks?limit=2&marker=0e9c4b8e-3c3c-4c0b-9f3a-1f0d2c3b4a5e", &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get("/v2.0/networks?limit=x", &app.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn network_delete_is_refused_while_ports_remain() {
    let app = TestApp::new().await;
    let (net, subnet) = app.network_with_subnet(&app.admin, "10.0.0.0/24").await;
    let port = app.port(&app.admin, json!({"network_id": net})).await;
    let dhcp =
        app.port(&app.admin, json!({"network_id": net, "device_owner": "network:dhcp"})).await;
    let path = format!("/v2.0/networks/{net}");
    let r = app.delete(&path, &app.admin).await;
    assert_eq!((r.status, r.error_type()), (StatusCode::CONFLICT, "NetworkInUse"));
    assert!(r.message().contains(port["id"].as_str().unwrap()));
    assert!(!r.message().contains(dhcp["id"].as_str().unwrap()), "DHCP ports do not block");
    assert_eq!(
        app.get(&format!("/v2.0/subnets/{subnet}"), &app.admin).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("/v2.0/ports/{}", port["id"].as_str().unwrap()), &app.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/v2.0/subnets/{subnet}"), &app.admin).await.status,
        StatusCode::NOT_FOUND
    );
    let ports = app.get("/v2.0/ports", &app.admin).await;
    assert_eq!(ports.body["ports"], json!([]), "the DHCP port went with its network");
}

#[tokio::test]
async fn bulk_create_is_all_or_nothing() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/v2.0/networks",
            &app.admin,
            json!({"networks": [{"name": "x"}, {"network": {"name": "y"}}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["networks"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["networks"][1]["name"], "y");
    let r = app
        .post("/v2.0/networks", &app.admin, json!({"networks": [{"name": "z"}, {"mtu": 99999}]}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .post(
            "/v2.0/networks",
            &app.admin,
            json!({"networks": [
        {"name": "z", "provider:network_type": "flat", "provider:physical_network": "p"},
        {"name": "w", "provider:network_type": "flat", "provider:physical_network": "p"}]}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a conflict in the second item rolls back the first"
    );
    let list = app.get("/v2.0/networks?sort_key=name&sort_dir=asc", &app.admin).await;
    let names: Vec<&str> = list.body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x", "y"]);
    let r = app.post("/v2.0/networks", &app.admin, json!({"networks": []})).await;
    assert_eq!(r.message(), "Resources required");
}
