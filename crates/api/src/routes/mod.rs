//! The routes: version documents, extensions, networks, subnets, ports and their tags, and the
//! Keystone `/v3` routes; JSON fallbacks for unknown paths (404) and methods (405).

pub mod identity;
mod l3;
mod quotas;
mod resources;
mod versions;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use nt_types::{Error, ErrorKind};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;
pub use resources::{
    Agents, Collection, Networks, Ports, RbacPolicies, SecurityGroupRules, SecurityGroups, Subnets,
};

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(versions::root))
        .route("/v2.0/", get(versions::v2))
        .route("/v2.0/extensions", get(versions::extension_list))
        .route("/v2.0/extensions/{alias}", get(versions::extension_show))
        .merge(resources::router::<Networks>())
        .merge(resources::router::<Subnets>())
        .merge(resources::router::<Ports>())
        .merge(resources::router::<SecurityGroups>())
        .merge(resources::router::<SecurityGroupRules>())
        .merge(resources::router::<RbacPolicies>())
        .merge(l3::router())
        .merge(resources::read_only_router::<Agents>())
        .merge(quotas::router())
        .merge(state.identity.clone().map(identity::router).unwrap_or_default())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::middleware::request_id))
        .with_state(state)
}

fn keystone_error(status: StatusCode, title: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "title": title, "message": message}});
    (status, Json(body)).into_response()
}

async fn not_found(State(_): State<AppState>, request: Request) -> Response {
    if request.uri().path().starts_with("/v3") {
        return keystone_error(
            StatusCode::NOT_FOUND,
            "Not Found",
            "The resource could not be found.",
        );
    }
    ApiError(Error::http_not_found()).into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    if request.uri().path().starts_with("/v3") {
        return keystone_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            "The method is not allowed for the requested URL.",
        );
    }
    ApiError(Error::new(
        ErrorKind::MethodNotAllowed,
        "HTTPMethodNotAllowed",
        "The method is not allowed for the requested URL.",
    ))
    .into_response()
}
