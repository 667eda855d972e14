//! Version discovery (`GET /`, `GET /v2.0/`) and `/v2.0/extensions`.

use axum::extract::{Path, State};
use axum::Json;
use nt_core::extensions::{extension, extensions, Extension};
use nt_types::{Error, ErrorKind};
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /`: the versions document; no token needed (clients discover from it).
pub async fn root(State(state): State<AppState>) -> Json<Value> {
    let href = format!("{}/v2.0/", state.config.public_url);
    Json(
        json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}),
    )
}

/// `GET /v2.0/`: the core resources.
pub async fn v2(State(state): State<AppState>, _auth: Auth) -> Json<Value> {
    let resources: Vec<Value> = [("network", "networks"), ("subnet", "subnets"), ("port", "ports")]
        .iter()
        .map(|(name, collection)| {
            json!({"name": name, "collection": collection,
                   "links": [{"rel": "self", "href": format!("{}/v2.0/{collection}", state.config.public_url)}]})
        })
        .collect();
    Json(json!({ "resources": resources }))
}

fn render(e: &Extension) -> Value {
    json!({"name": e.name, "alias": e.alias, "description": e.description, "updated": e.updated, "links": []})
}

/// `GET /v2.0/extensions`.
pub async fn extension_list(_auth: Auth) -> Json<Value> {
    let list: Vec<Value> = extensions().iter().map(render).collect();
    Json(json!({ "extensions": list }))
}

/// `GET /v2.0/extensions/{alias}`.
pub async fn extension_show(
    _auth: Auth,
    Path(alias): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = extension(&alias).ok_or_else(|| {
        ApiError(Error::new(
            ErrorKind::NotFound,
            "HTTPNotFound",
            format!("Extension with alias {alias} does not exist"),
        ))
    })?;
    Ok(Json(json!({ "extension": render(&e) })))
}
