//! neutrino's HTTP layer: the Neutron v2.0 routes and the Keystone v3 routes on one axum
//! router, with request ids, token authentication, body limits and error rendering.
//!
//! Handlers only parse, authenticate and wrap: every decision is the core's or the identity
//! service's. This crate knows neither SQL nor OVSDB.

mod auth;
mod body;
mod error;
mod middleware;
pub mod routes;
pub mod state;

pub use error::ApiError;
pub use state::{ApiConfig, AppState};

/// The whole HTTP application.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}
