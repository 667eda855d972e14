//! What every handler gets: the services, by `State<AppState>`.

use std::sync::Arc;

/// Shared state of the HTTP layer.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Network services (networks, subnets, ports, …).
    pub core: Arc<nt_core::Core>,
    /// Embedded identity: tokens, users, projects, roles, served under `/v3`. None in the
    /// external Keystone mode, where `/v3` is not served.
    pub identity: Option<Arc<nt_identity::Identity>>,
    /// Checks the `X-Auth-Token` of network API requests: the embedded identity or an external
    /// Keystone.
    pub auth: nt_identity::Authenticator,
    /// Server settings the HTTP layer needs.
    pub config: Arc<ApiConfig>,
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Public base URL of this server without a trailing slash, e.g. `http://127.0.0.1:9696`.
    pub public_url: String,
    /// Largest accepted request body in bytes (413 above it, before parsing).
    pub max_body_bytes: usize,
}
