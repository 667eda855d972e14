//! `/v2.0/quotas`: limits, defaults and usage per project.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use nt_types::{Error, ErrorKind};
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::body::{update_item, JsonBody};
use crate::error::ApiError;
use crate::state::AppState;

/// The quota routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2.0/quotas", get(list).post(not_implemented))
        .route("/v2.0/quotas/project", get(who_am_i))
        .route("/v2.0/quotas/tenant", get(who_am_i_tenant))
        .route("/v2.0/quotas/{project}", get(show).put(update).delete(delete))
        .route("/v2.0/quotas/{project}/default", get(default))
        .route("/v2.0/quotas/{project}/details", get(details))
}

async fn list(State(state): State<AppState>, Auth(ctx): Auth) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"quotas": state.core.quota_list(&ctx).await?})))
}

async fn not_implemented(_auth: Auth) -> ApiError {
    ApiError(Error::new(ErrorKind::NotImplemented, "NotImplementedError", "Not implemented"))
}

async fn who_am_i(Auth(ctx): Auth) -> Json<Value> {
    Json(json!({"project": {"project_id": ctx.project_id}}))
}

async fn who_am_i_tenant(Auth(ctx): Auth) -> Json<Value> {
    Json(json!({"tenant": {"tenant_id": ctx.project_id}}))
}

async fn show(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"quota": state.core.quota_show(&ctx, &project).await?})))
}

async fn default(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"quota": state.core.quota_default(&ctx, &project).await?})))
}

async fn details(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"quota": state.core.quota_details(&ctx, &project).await?})))
}

async fn update(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(project): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let attrs = update_item(body, "quota")?;
    Ok(Json(json!({"quota": state.core.quota_update(&ctx, &project, &attrs).await?})))
}

async fn delete(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.core.quota_delete(&ctx, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}
