//! The one error type of the identity crate and how it maps to Keystone's HTTP answers.

use nt_store::StoreError;
use thiserror::Error;

/// Keystone's message for a request that lacks valid credentials.
pub const UNAUTHORIZED_MESSAGE: &str = "The request you have made requires authentication.";

/// What can go wrong in identity; each variant maps to one HTTP status ([`IdentityError::status`]).
///
/// The `String` of the client-facing variants is the `message` of Keystone's error body. The
/// server-side variants ([`IdentityError::Store`], [`IdentityError::KeyRepository`],
/// [`IdentityError::Internal`]) are shown to clients as a generic message; their detail is for
/// the log only.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// Malformed request: not JSON, missing or mistyped attributes (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or invalid credentials or token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed to do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The named object (token, user, project, role…) does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with existing data, e.g. a duplicate name (409).
    #[error("{0}")]
    Conflict(String),
    /// The Fernet key repository could not be read or created (500).
    #[error("fernet key repository {path}: {message}")]
    KeyRepository {
        /// Directory or file concerned.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The database failed (500, or 503 when it stayed busy).
    #[error("identity database error")]
    Store(#[source] StoreError),
    /// Any other server-side failure (500).
    #[error("internal identity error: {0}")]
    Internal(String),
}

impl IdentityError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            IdentityError::BadRequest(_) => 400,
            IdentityError::Unauthorized(_) => 401,
            IdentityError::Forbidden(_) => 403,
            IdentityError::NotFound(_) => 404,
            IdentityError::Conflict(_) => 409,
            IdentityError::Store(StoreError::UniqueViolation { .. }) => 409,
            IdentityError::Store(StoreError::Busy(_)) => 503,
            IdentityError::KeyRepository { .. }
            | IdentityError::Store(_)
            | IdentityError::Internal(_) => 500,
        }
    }

    /// The `title` of Keystone's error body for this error.
    pub fn title(&self) -> &'static str {
        status_title(self.status())
    }

    /// The `message` shown to the client: the variant's text for client errors, a generic
    /// sentence for server-side failures (their detail goes to the log, not to the client).
    pub fn public_message(&self) -> String {
        match self {
            IdentityError::Store(StoreError::UniqueViolation { .. }) => {
                "Conflict occurred attempting to store the data.".to_string()
            }
            IdentityError::Store(StoreError::Busy(_)) => {
                "The database is busy; retry the request.".to_string()
            }
            IdentityError::KeyRepository { .. }
            | IdentityError::Store(_)
            | IdentityError::Internal(_) => {
                "An unexpected error prevented the server from fulfilling your request.".to_string()
            }
            other => other.to_string(),
        }
    }

    /// Keystone's error body: `{"error": {"code", "title", "message"}}`.
    pub fn to_body(&self) -> serde_json::Value {
        error_body(self.status(), &self.public_message())
    }

    /// A 401 with Keystone's standard message.
    pub(crate) fn unauthorized() -> Self {
        IdentityError::Unauthorized(UNAUTHORIZED_MESSAGE.to_string())
    }

    /// True for errors worth running the same transaction again for.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, IdentityError::Store(StoreError::Busy(_)))
    }
}

impl From<StoreError> for IdentityError {
    fn from(e: StoreError) -> Self {
        IdentityError::Store(e)
    }
}

impl From<sqlx::Error> for IdentityError {
    fn from(e: sqlx::Error) -> Self {
        // Through StoreError so that busy and unique-violation errors are classified.
        IdentityError::Store(StoreError::from(e))
    }
}

/// Keystone's `title` for an HTTP status.
pub fn status_title(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Keystone's error body for any status and message:
/// `{"error": {"code": 404, "title": "Not Found", "message": "..."}}`.
pub fn error_body(code: u16, message: &str) -> serde_json::Value {
    serde_json::json!({
        "error": { "code": code, "title": status_title(code), "message": message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_titles_follow_keystone() {
        let cases = [
            (IdentityError::BadRequest("x".into()), 400, "Bad Request"),
            (IdentityError::unauthorized(), 401, "Unauthorized"),
            (IdentityError::Forbidden("x".into()), 403, "Forbidden"),
            (IdentityError::NotFound("x".into()), 404, "Not Found"),
            (IdentityError::Conflict("x".into()), 409, "Conflict"),
            (IdentityError::Internal("secret detail".into()), 500, "Internal Server Error"),
            (IdentityError::Store(StoreError::Busy("locked".into())), 503, "Service Unavailable"),
        ];
        for (err, code, title) in cases {
            assert_eq!(err.status(), code, "{err:?}");
            assert_eq!(err.title(), title);
            let body = err.to_body();
            assert_eq!(body["error"]["code"], code);
            assert_eq!(body["error"]["title"], title);
            assert!(body["error"]["message"].is_string());
        }
    }

    #[test]
    fn internal_detail_is_not_shown_to_clients() {
        let err = IdentityError::Internal("secret detail".into());
        assert!(!err.public_message().contains("secret"));
        assert_eq!(IdentityError::unauthorized().public_message(), UNAUTHORIZED_MESSAGE);
    }
}
