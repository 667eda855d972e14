//! One rendering of errors for the network API: Neutron's
//! `{"NeutronError": {"type", "message", "detail"}}` with the status of the error's kind.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nt_types::{Error, ErrorKind};
use serde_json::json;

/// A domain error on its way to becoming an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// The HTTP status of an error kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status_of(e.kind);
        if let Some(internal) = &e.internal {
            tracing::error!(r#type = %e.r#type, internal = %internal, "request failed");
        } else if status.is_server_error() {
            tracing::error!(r#type = %e.r#type, message = %e.message, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), r#type = %e.r#type, message = %e.message, "request refused");
        }
        let key = if e.kind == ErrorKind::NotImplemented {
            "NotImplementedError"
        } else {
            "NeutronError"
        };
        let body = json!({ key: {"type": e.r#type, "message": e.message, "detail": ""} });
        (status, Json(body)).into_response()
    }
}
