//! Crash durability: every port creation the server acknowledged with 201 survives a SIGKILL.
//!
//! A few concurrent tasks create ports on one network with a /16 subnet while the server is
//! killed with SIGKILL mid-stream. Requests in flight at that moment may or may not have been
//! committed (the client never learnt the outcome), but every 201 is a promise: after a restart on
//! the same state directory each acknowledged port must exist with the same IP and MAC, no IP or
//! MAC may be shared by two ports (a half-written allocation must not be handed out twice), the
//! network and subnet must be intact, and allocation must keep working.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Api, Server, Workdir};
use serde_json::{json, Value};

/// Concurrent creators.
const WORKERS: usize = 4;
/// Kill the server once this many creations were acknowledged (kept below the default port
/// quota of 500 so that the test does not depend on quota administration).
const KILL_AFTER: usize = 150;
/// Bound on each creator's loop; never reached when the kill happens as planned.
const MAX_PER_WORKER: usize = 1000;
/// Stop waiting for acknowledgements after this long (the test then fails).
const STREAM_TIMEOUT: Duration = Duration::from_secs(300);
/// Ports created after the restart to check that allocation resumes without collisions.
const AFTER_RESTART: usize = 20;

/// What the client was told about one created port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    id: String,
    ip: String,
    mac: String,
}

fn acked_from(port: &Value) -> Acked {
    let ips = port["fixed_ips"].as_array().unwrap_or_else(|| panic!("fixed_ips: {port}"));
    assert_eq!(ips.len(), 1, "one address expected from the single subnet: {port}");
    Acked {
        id: port["id"].as_str().expect("port id").to_owned(),
        ip: ips[0]["ip_address"].as_str().expect("ip_address").to_owned(),
        mac: port["mac_address"].as_str().expect("mac_address").to_owned(),
    }
}

/// An error and its sources, for a readable one-line report.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        out.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    out
}

/// Create ports until the server stops answering (at most [`MAX_PER_WORKER`]); record every 201.
/// Returns the transport error that ended the stream, `None` if the cap was reached instead.
async fn creator(
    api: Api,
    network_id: String,
    worker: usize,
    acked: Arc<Mutex<Vec<Acked>>>,
    acked_count: Arc<AtomicUsize>,
) -> Option<String> {
    for n in 0..MAX_PER_WORKER {
        let body = json!({"port": {"network_id": network_id, "name": format!("d-{worker}-{n}")}});
        match api.try_send(reqwest::Method::POST, "/v2.0/ports", Some(&body)).await {
            Ok(reply) if reply.status == 201 => {
                acked.lock().unwrap().push(acked_from(&reply.body["port"]));
                acked_count.fetch_add(1, Ordering::SeqCst);
            }
            Ok(reply) => panic!("port create answered {}: {}", reply.status, reply.body),
            // The server is gone (killed): this request's outcome is unknown, which is fine.
            Err(e) => return Some(error_chain(&e)),
        }
    }
    None
}

/// List every port of the network and return (id -> (ip, mac)), asserting one address each.
async fn ports_on(api: &Api, network_id: &str) -> HashMap<String, (String, String)> {
    let reply = api.get(&format!("/v2.0/ports?network_id={network_id}")).await;
    assert_eq!(reply.status, 200, "list ports: {}", reply.body);
    let mut out = HashMap::new();
    for port in reply.body["ports"].as_array().expect("ports array") {
        let id = port["id"].as_str().expect("port id").to_owned();
        let ips: Vec<String> = port["fixed_ips"]
            .as_array()
            .expect("fixed_ips")
            .iter()
            .map(|ip| ip["ip_address"].as_str().expect("ip_address").to_owned())
            .collect();
        let mac = port["mac_address"].as_str().expect("mac_address").to_owned();
        // Every port here got exactly one IPv4 address (the metadata port too: one subnet).
        assert_eq!(ips.len(), 1, "port {id} has addresses {ips:?}");
        let previous = out.insert(id.clone(), (ips[0].clone(), mac));
        assert!(previous.is_none(), "port {id} listed twice");
    }
    out
}

fn assert_no_shared_addresses(ports: &HashMap<String, (String, String)>) {
    let mut ips = HashMap::new();
    let mut macs = HashMap::new();
    for (id, (ip, mac)) in ports {
        if let Some(other) = ips.insert(ip.clone(), id.clone()) {
            panic!("IP {ip} is shared by ports {other} and {id}");
        }
        if let Some(other) = macs.insert(mac.clone(), id.clone()) {
            panic!("MAC {mac} is shared by ports {other} and {id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_ports_survive_sigkill_with_unique_addresses() {
    let mut workdir = Workdir::new();
    let password = "durability-secret";
    let mut server = Server::start(&mut workdir, password);
    let api = Api::login(&server.url, password).await;

    let network = api.create("networks", "network", json!({"name": "durable"})).await;
    let network_id = network["id"].as_str().expect("network id").to_owned();
    let subnet = api
        .create(
            "subnets",
            "subnet",
            json!({"network_id": network_id, "ip_version": 4, "cidr": "10.20.0.0/16",
                   "name": "durable-v4"}),
        )
        .await;
    let subnet_id = subnet["id"].as_str().expect("subnet id").to_owned();

    // The stream of creations: each creator runs until the server is gone.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        tasks.push(tokio::spawn(creator(
            api.clone(),
            network_id.clone(),
            worker,
            acked.clone(),
            acked_count.clone(),
        )));
    }
    let deadline = Instant::now() + STREAM_TIMEOUT;
    while acked_count.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "only {} ports acknowledged within {STREAM_TIMEOUT:?}",
            acked_count.load(Ordering::SeqCst)
        );
        if tasks.iter().any(|t| t.is_finished()) {
            // A creator gave up (it panicked on an unexpected answer); joining below reports it.
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Kill while the creators are still sending: some requests are in flight right now.
    server.kill9();
    let mut cut_off = Vec::new();
    for task in tasks {
        cut_off.push(task.await.expect("creator task panicked"));
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= KILL_AFTER, "creators stopped after {} ports", acked.len());
    // Every creator was still running when the server died, so each one's stream ended with a
    // failed request rather than by reaching its cap.
    let ended: Vec<String> = cut_off
        .into_iter()
        .map(|e| e.expect("a creator reached its cap before the kill"))
        .collect();
    eprintln!(
        "killed the server after {} acknowledged creations; the creators ended with: {ended:?}",
        acked.len()
    );

    // Restart on the same state directory.
    let server = Server::start(&mut workdir, password);
    let api = Api::login(&server.url, password).await;

    let reply = api.get(&format!("/v2.0/networks/{network_id}")).await;
    assert_eq!(reply.status, 200, "network after restart: {}", reply.body);
    assert_eq!(reply.body["network"]["name"], "durable");
    let subnets = reply.body["network"]["subnets"].as_array().expect("network.subnets");
    assert_eq!(subnets, &vec![json!(subnet_id)], "network's subnets after restart");
    let reply = api.get(&format!("/v2.0/subnets/{subnet_id}")).await;
    assert_eq!(reply.status, 200, "subnet after restart: {}", reply.body);
    assert_eq!(reply.body["subnet"]["cidr"], "10.20.0.0/16");
    assert_eq!(reply.body["subnet"]["network_id"], json!(network_id));

    let ports = ports_on(&api, &network_id).await;
    for port in &acked {
        let Some((ip, mac)) = ports.get(&port.id) else {
            panic!("acknowledged port {} is missing after the restart", port.id)
        };
        assert_eq!((ip, mac), (&port.ip, &port.mac), "port {} changed across the restart", port.id);
    }
    assert_no_shared_addresses(&ports);
    let acked_ids: HashSet<&str> = acked.iter().map(|p| p.id.as_str()).collect();
    eprintln!(
        "{} ports after restart: {} acknowledged, {} others (unacknowledged or service ports)",
        ports.len(),
        acked_ids.len(),
        ports.len() - acked_ids.len()
    );

    // Allocation resumes without handing out an address that survived the crash.
    for n in 0..AFTER_RESTART {
        api.create(
            "ports",
            "port",
            json!({"network_id": network_id, "name": format!("after-{n}")}),
        )
        .await;
    }
    let after = ports_on(&api, &network_id).await;
    assert_eq!(after.len(), ports.len() + AFTER_RESTART);
    assert_no_shared_addresses(&after);
}
