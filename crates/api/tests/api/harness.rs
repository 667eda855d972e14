//! The test application and request helpers.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use neutrino_api::{ApiConfig, AppState};
use nt_core::ml2::logger::LoggerDriver;
use nt_core::{Core, CoreConfig};
use nt_identity::{Identity, IdentityConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const ADMIN_PASSWORD: &str = "admin-secret";

/// One server under test.
pub struct TestApp {
    router: Router,
    pub identity: Arc<Identity>,
    pub logger: Arc<LoggerDriver>,
    pub admin: String,
    pub admin_project: String,
    _dir: tempfile::TempDir,
}

/// A response: status, JSON body (Null when empty) and headers.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    /// `NeutronError.type`.
    pub fn error_type(&self) -> &str {
        self.body["NeutronError"]["type"].as_str().unwrap_or("")
    }
    /// `NeutronError.message`.
    pub fn message(&self) -> &str {
        self.body["NeutronError"]["message"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_config(CoreConfig::default()).await
    }

    pub async fn with_config(mut config: CoreConfig) -> TestApp {
        if config.ml2.network_vlan_ranges.is_empty() {
            config.ml2.network_vlan_ranges = vec!["physnet1:100:101".into()];
        }
        let dir = tempfile::tempdir().unwrap();
        let db = nt_store::Db::connect(&format!("sqlite://{}/db.sqlite", dir.path().display()))
            .await
            .unwrap();
        let identity = Identity::open(
            db.clone(),
            IdentityConfig {
                public_url: "http://neutrino.test:9696".into(),
                region: "RegionOne".into(),
                token_lifetime_secs: 3600,
                key_repository: dir.path().join("keys"),
                admin_user: "admin".into(),
                admin_project: "admin".into(),
            },
        )
        .await
        .unwrap();
        let outcome = identity.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap();
        let logger = Arc::new(LoggerDriver::default());
        let core = Core::new(db, config, vec![logger.clone()]).unwrap();
        let identity = Arc::new(identity);
        let state = AppState {
            core: Arc::new(core),
            identity: Some(identity.clone()),
            auth: nt_identity::Authenticator::Embedded(identity.clone()),
            config: Arc::new(ApiConfig {
                public_url: "http://neutrino.test:9696".into(),
                max_body_bytes: 64 * 1024,
            }),
        };
        let mut app = TestApp {
            router: neutrino_api::app(state),
            identity,
            logger,
            admin: String::new(),
            admin_project: outcome.admin_project_id,
            _dir: dir,
        };
        app.admin = app.login("admin", ADMIN_PASSWORD, "admin").await;
        app
    }

    /// Logs in by name and returns the token.
    pub async fn login(&self, user: &str, password: &str, project: &str) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let reply = self.call(Method::POST, "/v3/auth/tokens", None, Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "login failed: {}", reply.body);
        reply.headers["x-subject-token"].to_str().unwrap().to_string()
    }

    /// A user in a new project holding `role` (`member` or `reader`): `(token, project id)`.
    pub async fn user(&self, project: &str, role: &str) -> (String, String) {
        let p = self.identity.project_create(project, "default", "").await.unwrap();
        let name = format!("{project}-{role}");
        let u = self.identity.user_create(&name, "default", "pw", None).await.unwrap();
        let r = self.identity.role_by_name(role).await.unwrap();
        self.identity.role_grant(&p.id, &u.id, &r.id).await.unwrap();
        (self.login(&name, "pw", project).await, p.id)
    }

    /// A second user in an existing project.
    pub async fn user_in(&self, project_id: &str, project: &str, name: &str, role: &str) -> String {
        let u = self.identity.user_create(name, "default", "pw", None).await.unwrap();
        let r = self.identity.role_by_name(role).await.unwrap();
        self.identity.role_grant(project_id, &u.id, &r.id).await.unwrap();
        self.login(name, "pw", project).await
    }

    /// Sends a request with an optional token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder =
            Request::builder().method(method).uri(path).header("content-type", "application/json");
        if let Some(t) = token {
            builder = builder.header("x-auth-token", t);
        }
        let request = builder
            .body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty))
            .unwrap();
        self.send(request).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Reply { status, body, headers }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a network as `token` and returns it.
    pub async fn network(&self, token: &str, body: Value) -> Value {
        let r = self.post("/v2.0/networks", token, json!({ "network": body })).await;
        assert_eq!(r.status, StatusCode::CREATED, "network create: {}", r.body);
        r.body["network"].clone()
    }

    /// Creates a subnet as `token` and returns it.
    pub async fn subnet(&self, token: &str, body: Value) -> Value {
        let r = self.post("/v2.0/subnets", token, json!({ "subnet": body })).await;
        assert_eq!(r.status, StatusCode::CREATED, "subnet create: {}", r.body);
        r.body["subnet"].clone()
    }

    /// Creates a port as `token` and returns it.
    pub async fn port(&self, token: &str, body: Value) -> Value {
        let r = self.post("/v2.0/ports", token, json!({ "port": body })).await;
        assert_eq!(r.status, StatusCode::CREATED, "port create: {}", r.body);
        r.body["port"].clone()
    }

    /// A network with one IPv4 /24 subnet: `(network id, subnet id)`.
    pub async fn network_with_subnet(&self, token: &str, cidr: &str) -> (String, String) {
        let net = self.network(token, json!({"name": "net"})).await;
        let id = net["id"].as_str().unwrap().to_string();
        let sub =
            self.subnet(token, json!({"network_id": id, "cidr": cidr, "ip_version": 4})).await;
        (id, sub["id"].as_str().unwrap().to_string())
    }
}

/// Ids of a list of resources.
pub fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()).collect()
}
