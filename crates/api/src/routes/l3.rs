//! Routers and floating IPs: the generic collection routes (CRUD and tags), the router member
//! actions (`add_router_interface`, `remove_router_interface`, `add_extraroutes`,
//! `remove_extraroutes`) and `/v2.0/floatingip-pools`.

use std::future::Future;

use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use nt_core::{Core, OpContext, TaggedResource, ViewSink};
use nt_types::attr::Attr;
use nt_types::query::ListQuery;
use nt_types::Error;
use serde_json::{json, Map, Value};

use super::resources::{self, collection, Collection};
use crate::auth::Auth;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::state::AppState;

type Views = Result<Vec<Map<String, Value>>, Error>;
type View = Result<Map<String, Value>, Error>;

collection!(
    Routers,
    "router",
    "routers",
    "routers",
    nt_types::router::ATTRS,
    &[],
    Some(TaggedResource::Router),
    router_create,
    router_list,
    router_show,
    router_update,
    router_delete
);
collection!(
    FloatingIps,
    "floatingip",
    "floatingips",
    "floatingips",
    nt_types::floatingip::ATTRS,
    &[],
    Some(TaggedResource::FloatingIp),
    floatingip_create,
    floatingip_list,
    floatingip_show,
    floatingip_update,
    floatingip_delete
);

/// The routes of routers, floating IPs and floating IP pools.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(resources::router::<Routers>())
        .merge(resources::router::<FloatingIps>())
        .route("/v2.0/routers/{id}/add_router_interface", put(add_interface))
        .route("/v2.0/routers/{id}/remove_router_interface", put(remove_interface))
        .route("/v2.0/routers/{id}/add_extraroutes", put(add_extraroutes))
        .route("/v2.0/routers/{id}/remove_extraroutes", put(remove_extraroutes))
        .route("/v2.0/floatingip-pools", get(pools))
}

async fn add_interface(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(state.core.router_add_interface(&ctx, &id, &body).await?)))
}

async fn remove_interface(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(state.core.router_remove_interface(&ctx, &id, &body).await?)))
}

async fn add_extraroutes(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let view = state.core.router_extraroutes(&ctx, &id, &body, true).await?;
    Ok(Json(json!({ "router": view })))
}

async fn remove_extraroutes(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let view = state.core.router_extraroutes(&ctx, &id, &body, false).await?;
    Ok(Json(json!({ "router": view })))
}

async fn pools(State(state): State<AppState>, Auth(ctx): Auth) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "floatingip_pools": state.core.floatingip_pool_list(&ctx).await? })))
}
