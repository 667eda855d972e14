//! Token authentication for `/v2.0`: the `X-Auth-Token` header becomes an [`OpContext`], or
//! the request gets Keystone's 401 (a 503 when an external Keystone cannot check the token).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nt_core::OpContext;
use nt_identity::AuthError;
use nt_types::Error;
use serde_json::json;

use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::state::AppState;

/// Proof that the request carries a valid token: the caller's context.
#[derive(Debug, Clone)]
pub struct Auth(pub OpContext);

/// The 401 of the token layer, with `WWW-Authenticate` naming the identity URL.
pub fn unauthorized(state: &AppState) -> Response {
    let body = json!({"error": {"code": 401, "title": "Unauthorized",
        "message": "The request you have made requires authentication."}});
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    let uri = format!("Keystone uri=\"{}\"", state.auth.identity_url());
    if let Ok(v) = HeaderValue::from_str(&uri) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts.headers.get("x-auth-token").and_then(|v| v.to_str().ok());
        let Some(token) = token else { return Err(unauthorized(state)) };
        let principal = match state.auth.validate(token).await {
            Ok(principal) => principal,
            Err(AuthError::Unauthorized) => return Err(unauthorized(state)),
            Err(AuthError::Unavailable(detail)) => {
                // The detail is logged (ApiError logs `internal`), never shown to the client.
                let mut error = Error::unavailable(
                    "ServiceUnavailable",
                    "The identity service is unavailable; retry the request later.",
                );
                error.internal = Some(format!("token not checked: {detail}"));
                return Err(ApiError(error).into_response());
            }
        };
        // The network API acts on a project: unscoped, domain- and system-scoped tokens carry none.
        if principal.project_id.is_empty() {
            return Err(unauthorized(state));
        }
        let request_id =
            parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        Ok(Auth(OpContext {
            user_id: principal.user_id,
            project_id: principal.project_id,
            roles: principal.roles,
            request_id,
        }))
    }
}
