//! Keystone v3 routes served by the embedded identity (`identity.md` §2, §3, §5, §7): the
//! version document, `/v3/auth/tokens` and the admin API (domains, projects, users, roles,
//! grants, role assignments).
//!
//! Handlers only extract headers, query and body and call `nt_identity::Identity` (for the
//! admin API: `authorize_admin`, then one method of `AdminApi`); parsing of the JSON body, the
//! response bodies and the catalog live in the identity crate. Every error is
//! Keystone's JSON body (`{"error": {"code", "title", "message"}}`); a 401 also carries
//! `WWW-Authenticate: Keystone uri="<identity URL>"`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use nt_identity::{Identity, IdentityError, Principal, QueryParams, UNAUTHORIZED_MESSAGE};
use serde_json::Value;

/// What the `/v3` handlers share: the embedded identity service. The routes are mounted only
/// when there is one (not in the external Keystone mode).
#[derive(Debug, Clone)]
struct V3State {
    identity: Arc<Identity>,
}

/// Header carrying the token a request is about (and the token just issued).
const X_SUBJECT_TOKEN: HeaderName = HeaderName::from_static("x-subject-token");
/// Header carrying the caller's own token.
const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");

/// The `/v3` routes: `GET /v3`, `GET /v3/`, `POST`/`GET`/`HEAD`/`DELETE /v3/auth/tokens`, and
/// the admin API:
///
/// | path | methods |
/// |---|---|
/// | `/v3/domains`, `/v3/domains/{id}` | `GET` |
/// | `/v3/projects` | `GET`, `POST` |
/// | `/v3/projects/{id}` | `GET`, `PATCH`, `DELETE` |
/// | `/v3/users` | `GET`, `POST` |
/// | `/v3/users/{id}` | `GET`, `PATCH`, `DELETE` |
/// | `/v3/roles` | `GET`, `POST` |
/// | `/v3/roles/{id}` | `GET` |
/// | `/v3/projects/{p}/users/{u}/roles` | `GET` |
/// | `/v3/projects/{p}/users/{u}/roles/{r}` | `PUT`, `HEAD`, `GET`, `DELETE` |
/// | `/v3/role_assignments` | `GET` |
pub fn router<S: Clone + Send + Sync + 'static>(identity: Arc<Identity>) -> Router<S> {
    let json_405 = |route: MethodRouter<V3State>| route.fallback(method_not_allowed);
    Router::new()
        .route("/v3", get(version_show))
        .route("/v3/", get(version_show))
        .route(
            "/v3/auth/tokens",
            json_405(get(token_show).head(token_check).post(token_issue).delete(token_revoke)),
        )
        .route("/v3/domains", json_405(get(domain_list)))
        .route("/v3/domains/{domain_id}", json_405(get(domain_show)))
        .route("/v3/projects", json_405(get(project_list).post(project_create)))
        .route(
            "/v3/projects/{project_id}",
            json_405(get(project_show).patch(project_update).delete(project_delete)),
        )
        .route("/v3/users", json_405(get(user_list).post(user_create)))
        .route(
            "/v3/users/{user_id}",
            json_405(get(user_show).patch(user_update).delete(user_delete)),
        )
        .route("/v3/roles", json_405(get(role_list).post(role_create)))
        .route("/v3/roles/{role_id}", json_405(get(role_show)))
        .route("/v3/projects/{project_id}/users/{user_id}/roles", json_405(get(grant_list)))
        .route(
            "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
            json_405(get(grant_check).head(grant_check).put(grant_create).delete(grant_delete)),
        )
        .route("/v3/role_assignments", json_405(get(role_assignments)))
        .with_state(V3State { identity })
}

/// Keystone's error response for any status.
fn keystone_error(state: &V3State, status: StatusCode, message: &str) -> Response {
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
fn error_response(state: &V3State, err: &IdentityError) -> Response {
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
fn caller(state: &V3State, headers: &HeaderMap) -> Result<Principal, IdentityError> {
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
async fn version_show(State(state): State<V3State>) -> Response {
    Json(state.identity.version_document()).into_response()
}

/// `POST /v3/auth/tokens`: 201, the token in `X-Subject-Token`, its body in the response.
async fn token_issue(
    State(state): State<V3State>,
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
    State(state): State<V3State>,
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
async fn token_check(State(state): State<V3State>, headers: HeaderMap) -> Response {
    let subject = header_str(&headers, &X_SUBJECT_TOKEN);
    let result = caller(&state, &headers).and_then(|c| state.identity.check_subject(&c, subject));
    match result {
        Ok(()) => with_subject(StatusCode::OK.into_response(), subject.unwrap_or_default()),
        Err(e) => error_response(&state, &e),
    }
}

/// `DELETE /v3/auth/tokens`: revokes `X-Subject-Token`, 204.
async fn token_revoke(State(state): State<V3State>, headers: HeaderMap) -> Response {
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
async fn method_not_allowed(State(state): State<V3State>) -> Response {
    keystone_error(
        &state,
        StatusCode::METHOD_NOT_ALLOWED,
        "The method is not allowed for the requested URL.",
    )
}

// ---- admin API (identity.md §7) ---------------------------------------------------------------

/// Why an admin call failed: an identity error, or a request axum could not extract (its
/// status and text, rendered as Keystone's body).
enum Failure {
    Identity(IdentityError),
    Extract(StatusCode, String),
}

impl From<IdentityError> for Failure {
    fn from(e: IdentityError) -> Self {
        Failure::Identity(e)
    }
}

impl From<PathRejection> for Failure {
    fn from(rejection: PathRejection) -> Self {
        Failure::Extract(rejection.status(), rejection.body_text())
    }
}

type Outcome = Result<Response, Failure>;

/// Renders an admin call's outcome.
fn finish(state: &V3State, outcome: Outcome) -> Response {
    match outcome {
        Ok(response) => response,
        Err(Failure::Identity(e)) => error_response(state, &e),
        Err(Failure::Extract(status, text)) => keystone_error(state, status, &text),
    }
}

/// The caller of an admin call: a valid token holding `admin` (401, 403).
fn admin(state: &V3State, headers: &HeaderMap, action: &str) -> Result<Principal, Failure> {
    let token = header_str(headers, &X_AUTH_TOKEN);
    Ok(state.identity.authorize_admin(token, action)?)
}

/// The request body as a JSON object (400 otherwise; 413 when over the limit).
fn json_body(headers: &HeaderMap, body: RawBody) -> Result<Value, Failure> {
    let body = body.map_err(|r| Failure::Extract(r.status(), r.body_text()))?;
    let content_type = header_str(headers, &header::CONTENT_TYPE);
    Ok(nt_identity::wire::parse_json_body(content_type, &body)?)
}

fn ok(body: Value) -> Outcome {
    Ok(Json(body).into_response())
}

fn created(body: Value) -> Outcome {
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn no_content() -> Outcome {
    Ok(StatusCode::NO_CONTENT.into_response())
}

type Id = Result<Path<String>, PathRejection>;
type TwoIds = Result<Path<(String, String)>, PathRejection>;
type ThreeIds = Result<Path<(String, String, String)>, PathRejection>;
type RawBody = Result<Bytes, BytesRejection>;

/// `GET /v3/domains` (`?name=`).
async fn domain_list(
    State(s): State<V3State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let run = async {
        admin(&s, &headers, "identity:list_domains")?;
        ok(s.identity.admin_api().domain_list(&QueryParams::parse(q.as_deref())).await?)
    };
    finish(&s, run.await)
}

/// `GET /v3/domains/{id}`.
async fn domain_show(State(s): State<V3State>, headers: HeaderMap, id: Id) -> Response {
    let run = async {
        admin(&s, &headers, "identity:get_domain")?;
        let Path(id) = id?;
        ok(s.identity.admin_api().domain_show(&id).await?)
    };
    finish(&s, run.await)
}

/// `POST /v3/projects`: 201.
async fn project_create(State(s): State<V3State>, headers: HeaderMap, body: RawBody) -> Response {
    let run = async {
        let caller = admin(&s, &headers, "identity:create_project")?;
        let body = json_body(&headers, body)?;
        created(s.identity.admin_api().project_create(&caller, &body).await?)
    };
    finish(&s, run.await)
}

/// `GET /v3/projects` (`?name=`, `?domain_id=`).
async fn project_list(
    State(s): State<V3State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let run = async {
        admin(&s, &headers, "identity:list_projects")?;
        ok(s.identity.admin_api().project_list(&QueryParams::parse(q.as_deref())).await?)
    };
    finish(&s, run.await)
}

/// `GET /v3/projects/{id}`.
async fn project_show(State(s): State<V3State>, headers: HeaderMap, id: Id) -> Response {
    let run = async {
        admin(&s, &headers, "identity:get_project")?;
        let Path(id) = id?;
        ok(s.identity.admin_api().project_show(&id).await?)
    };
    finish(&s, run.await)
}

/// `PATCH /v3/projects/{id}`.
async fn project_update(
    State(s): State<V3State>,
    headers: HeaderMap,
    id: Id,
    body: RawBody,
) -> Response {
    let run = async {
        admin(&s, &headers, "identity:update_project")?;
        let Path(id) = id?;
        let body = json_body(&headers, body)?;
        ok(s.identity.admin_api().project_update(&id, &body).await?)
    };
    finish(&s, run.await)
}

/// `DELETE /v3/projects/{id}`: 204.
async fn project_delete(State(s): State<V3State>, headers: HeaderMap, id: Id) -> Response {
    let run = async {
        admin(&s, &headers, "identity:delete_project")?;
        let Path(id) = id?;
        s.identity.admin_api().project_delete(&id).await?;
        no_content()
    };
    finish(&s, run.await)
}

/// `POST /v3/users`: 201.
async fn user_create(State(s): State<V3State>, headers: HeaderMap, body: RawBody) -> Response {
    let run = async {
        let caller = admin(&s, &headers, "identity:create_user")?;
        let body = json_body(&headers, body)?;
        created(s.identity.admin_api().user_create(&caller, &body).await?)
    };
    finish(&s, run.await)
}

/// `GET /v3/users` (`?name=`, `?domain_id=`).
async fn user_list(
    State(s): State<V3State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let run = async {
        admin(&s, &headers, "identity:list_users")?;
        ok(s.identity.admin_api().user_list(&QueryParams::parse(q.as_deref())).await?)
    };
    finish(&s, run.await)
}

/// `GET /v3/users/{id}`.
async fn user_show(State(s): State<V3State>, headers: HeaderMap, id: Id) -> Response {
    let run = async {
        admin(&s, &headers, "identity:get_user")?;
        let Path(id) = id?;
        ok(s.identity.admin_api().user_show(&id).await?)
    };
    finish(&s, run.await)
}

/// `PATCH /v3/users/{id}`.
async fn user_update(
    State(s): State<V3State>,
    headers: HeaderMap,
    id: Id,
    body: RawBody,
) -> Response {
    let run = async {
        admin(&s, &headers, "identity:update_user")?;
        let Path(id) = id?;
        let body = json_body(&headers, body)?;
        ok(s.identity.admin_api().user_update(&id, &body).await?)
    };
    finish(&s, run.await)
}

/// `DELETE /v3/users/{id}`: 204.
async fn user_delete(State(s): State<V3State>, headers: HeaderMap, id: Id) -> Response {
    let run = async {
        admin(&s, &headers, "identity:delete_user")?;
        let Path(id) = id?;
        s.identity.admin_api().user_delete(&id).await?;
        no_content()
    };
    finish(&s, run.await)
}

/// `GET /v3/roles` (`?name=`).
async fn role_list(
    State(s): State<V3State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let run = async {
        admin(&s, &headers, "identity:list_roles")?;
        ok(s.identity.admin_api().role_list(&QueryParams::parse(q.as_deref())).await?)
    };
    finish(&s, run.await)
}

/// `GET /v3/roles/{id}`.
async fn role_show(State(s): State<V3State>, headers: HeaderMap, id: Id) -> Response {
    let run = async {
        admin(&s, &headers, "identity:get_role")?;
        let Path(id) = id?;
        ok(s.identity.admin_api().role_show(&id).await?)
    };
    finish(&s, run.await)
}

/// `POST /v3/roles`: 201.
async fn role_create(State(s): State<V3State>, headers: HeaderMap, body: RawBody) -> Response {
    let run = async {
        admin(&s, &headers, "identity:create_role")?;
        let body = json_body(&headers, body)?;
        created(s.identity.admin_api().role_create(&body).await?)
    };
    finish(&s, run.await)
}

/// `GET /v3/projects/{p}/users/{u}/roles`.
async fn grant_list(State(s): State<V3State>, headers: HeaderMap, ids: TwoIds) -> Response {
    let run = async {
        admin(&s, &headers, "identity:list_grants")?;
        let Path((project, user)) = ids?;
        ok(s.identity.admin_api().grant_list(&project, &user).await?)
    };
    finish(&s, run.await)
}

/// `PUT /v3/projects/{p}/users/{u}/roles/{r}`: 204, also when granted already. Any body is
/// ignored.
async fn grant_create(State(s): State<V3State>, headers: HeaderMap, ids: ThreeIds) -> Response {
    let run = async {
        admin(&s, &headers, "identity:create_grant")?;
        let Path((project, user, role)) = ids?;
        s.identity.admin_api().grant_create(&project, &user, &role).await?;
        no_content()
    };
    finish(&s, run.await)
}

/// `HEAD`/`GET /v3/projects/{p}/users/{u}/roles/{r}`: 204 if granted, else 404.
async fn grant_check(State(s): State<V3State>, headers: HeaderMap, ids: ThreeIds) -> Response {
    let run = async {
        admin(&s, &headers, "identity:check_grant")?;
        let Path((project, user, role)) = ids?;
        s.identity.admin_api().grant_check(&project, &user, &role).await?;
        no_content()
    };
    finish(&s, run.await)
}

/// `DELETE /v3/projects/{p}/users/{u}/roles/{r}`: 204, 404 if there is no such grant.
async fn grant_delete(State(s): State<V3State>, headers: HeaderMap, ids: ThreeIds) -> Response {
    let run = async {
        admin(&s, &headers, "identity:revoke_grant")?;
        let Path((project, user, role)) = ids?;
        s.identity.admin_api().grant_delete(&project, &user, &role).await?;
        no_content()
    };
    finish(&s, run.await)
}

/// `GET /v3/role_assignments` (`user.id`, `scope.project.id`, `role.id`, `effective`, …).
async fn role_assignments(
    State(s): State<V3State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let run = async {
        admin(&s, &headers, "identity:list_role_assignments")?;
        ok(s.identity.admin_api().role_assignments(&QueryParams::parse(q.as_deref())).await?)
    };
    finish(&s, run.await)
}
