//! Keystone v3 routes served by the embedded identity (`identity.md` §2, §3, §5): the version
//! document and `/v3/auth/tokens`.
//!
//! Handlers only extract headers, query and body and call `nt_identity::Identity`; parsing of
//! the JSON body, the token body and the catalog live in the identity crate. Every error is
//! Keystone's JSON body (`{"error": {"code", "title", "message"}}`); a 401 also carries
//! `WWW-Authenticate: Keystone uri="<identity URL>"`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use nt_identity::{IdentityError, Principal, UNAUTHORIZED_MESSAGE};

use crate::state::AppState;

/// Header carrying the token a request is about (and the token just issued).
const X_SUBJECT_TOKEN: HeaderName = HeaderName::from_static("x-subject-token");
/// Header carrying the caller's own token.
const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");

/// The `/v3` routes: `GET /v3`, `GET /v3/`, and `POST`/`GET`/`HEAD`/`DELETE /v3/auth/tokens`.
pub fn router() -> Router<AppState> {
    Router::new().route("/v3", get(version_show)).route("/v3/", get(version_show)).route(
        "/v3/auth/tokens",
        get(token_show)
            .head(token_check)
            .post(token_issue)
            .delete(token_revoke)
            .fallback(method_not_allowed),
    )
}

/// Keystone's error response for any status.
fn keystone_error(state: &AppState, status: StatusCode, message: &str) -> Response {
    let mut response =
        (status, Json(nt_identity::error_body(status.as_u16(), message))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        let uri = format!("Keystone uri=\"{}\"", state.identity.identity_url());
        if let Ok(value) = HeaderValue::from_str(&uri) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// Renders an identity error; server-side failures are logged with their whole chain.
fn error_response(state: &AppState, err: &IdentityError) -> Response {
    if err.status() >= 500 {
        let mut chain = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "identity request failed");
    }
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    keystone_error(state, status, &err.public_message())
}

fn header_str<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// `?nocatalog` (any value, as Keystone: presence is what counts).
fn no_catalog(query: Option<&str>) -> bool {
    query.unwrap_or("").split('&').any(|pair| pair.split('=').next() == Some("nocatalog"))
}

/// The caller's `X-Auth-Token`, checked (401 if missing or invalid).
fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, IdentityError> {
    match header_str(headers, &X_AUTH_TOKEN) {
        Some(token) => state.identity.validate(token),
        None => Err(IdentityError::Unauthorized(UNAUTHORIZED_MESSAGE.to_string())),
    }
}

/// Attaches `X-Subject-Token` to a response.
fn with_subject(mut response: Response, token: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(token.trim()) {
        response.headers_mut().insert(X_SUBJECT_TOKEN, value);
    }
    response
}

/// `GET /v3`, `GET /v3/`: the identity version document.
async fn version_show(State(state): State<AppState>) -> Response {
    Json(state.identity.version_document()).into_response()
}

/// `POST /v3/auth/tokens`: 201, the token in `X-Subject-Token`, its body in the response.
async fn token_issue(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return keystone_error(&state, rejection.status(), &rejection.body_text())
        }
    };
    let content_type = header_str(&headers, &header::CONTENT_TYPE);
    let issued = match nt_identity::wire::parse_json_body(content_type, &body) {
        Ok(json) => state.identity.issue_token(&json, !no_catalog(query.as_deref())).await,
        Err(e) => Err(e),
    };
    match issued {
        Ok(issued) => {
            with_subject((StatusCode::CREATED, Json(issued.body)).into_response(), &issued.token)
        }
        Err(e) => error_response(&state, &e),
    }
}

/// `GET /v3/auth/tokens`: validates `X-Subject-Token`, 200 with its body.
async fn token_show(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let subject = header_str(&headers, &X_SUBJECT_TOKEN);
    let result = match caller(&state, &headers) {
        Ok(caller) => {
            state.identity.validate_subject(&caller, subject, !no_catalog(query.as_deref())).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => with_subject(Json(body).into_response(), subject.unwrap_or_default()),
        Err(e) => error_response(&state, &e),
    }
}

/// `HEAD /v3/auth/tokens`: the same check as `GET`, 200 without a body.
async fn token_check(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let subject = header_str(&headers, &X_SUBJECT_TOKEN);
    let result = caller(&state, &headers).and_then(|c| state.identity.check_subject(&c, subject));
    match result {
        Ok(()) => with_subject(StatusCode::OK.into_response(), subject.unwrap_or_default()),
        Err(e) => error_response(&state, &e),
    }
}

/// `DELETE /v3/auth/tokens`: revokes `X-Subject-Token`, 204.
async fn token_revoke(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let subject = header_str(&headers, &X_SUBJECT_TOKEN);
    let result = match caller(&state, &headers) {
        Ok(caller) => state.identity.revoke_subject(&caller, subject).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&state, &e),
    }
}

/// Any other method on `/v3/auth/tokens`: Keystone's 405 body.
async fn method_not_allowed(State(state): State<AppState>) -> Response {
    keystone_error(
        &state,
        StatusCode::METHOD_NOT_ALLOWED,
        "The method is not allowed for the requested URL.",
    )
}
