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

use super::resources::{self, Collection};
use crate::auth::Auth;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::state::AppState;

type Views = Result<Vec<Map<String, Value>>, Error>;
type View = Result<Map<String, Value>, Error>;

/// `/v2.0/routers`.
#[derive(Debug)]
pub struct Routers;

impl Collection for Routers {
    const SINGULAR: &'static str = "router";
    const PLURAL: &'static str = "routers";
    const ATTRS: &'static [Attr] = nt_types::router::ATTRS;
    const SPECIAL_FILTERS: &'static [&'static str] = &[];
    const TAGGED: Option<TaggedResource> = Some(TaggedResource::Router);

    fn create<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        items: &'a [Value],
    ) -> impl Future<Output = Views> + Send + 'a {
        core.router_create(ctx, items)
    }
    fn list<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        q: &'a ListQuery,
        sink: &'a mut ViewSink<'a>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        core.router_list(ctx, q, sink)
    }
    fn show<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
    ) -> impl Future<Output = View> + Send + 'a {
        core.router_show(ctx, id)
    }
    fn update<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
        body: &'a Value,
        if_match: Option<i64>,
    ) -> impl Future<Output = View> + Send + 'a {
        core.router_update(ctx, id, body, if_match)
    }
    fn delete<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
        if_match: Option<i64>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        core.router_delete(ctx, id, if_match)
    }
}

/// `/v2.0/floatingips`.
#[derive(Debug)]
pub struct FloatingIps;

impl Collection for FloatingIps {
    const SINGULAR: &'static str = "floatingip";
    const PLURAL: &'static str = "floatingips";
    const ATTRS: &'static [Attr] = nt_types::floatingip::ATTRS;
    const SPECIAL_FILTERS: &'static [&'static str] = &[];
    const TAGGED: Option<TaggedResource> = Some(TaggedResource::FloatingIp);

    fn create<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        items: &'a [Value],
    ) -> impl Future<Output = Views> + Send + 'a {
        core.floatingip_create(ctx, items)
    }
    fn list<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        q: &'a ListQuery,
        sink: &'a mut ViewSink<'a>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        core.floatingip_list(ctx, q, sink)
    }
    fn show<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
    ) -> impl Future<Output = View> + Send + 'a {
        core.floatingip_show(ctx, id)
    }
    fn update<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
        body: &'a Value,
        if_match: Option<i64>,
    ) -> impl Future<Output = View> + Send + 'a {
        core.floatingip_update(ctx, id, body, if_match)
    }
    fn delete<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
        if_match: Option<i64>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        core.floatingip_delete(ctx, id, if_match)
    }
}

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
