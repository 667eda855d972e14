use std::borrow::Cow;
use std::fmt;

/// Broad class of a failure; the HTTP layer maps each to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed or violates a validation rule.
    BadRequest,
    /// 401: no valid credentials.
    Unauthorized,
    /// 403: policy refuses the action.
    Forbidden,
    /// 404: the resource does not exist or is not visible to the caller.
    NotFound,
    /// 405: the method is not allowed on this URL.
    MethodNotAllowed,
    /// 409: conflicts with the current state (in use, already allocated, over quota).
    Conflict,
    /// 412: `If-Match` revision constraint failed.
    PreconditionFailed,
    /// 413: the request body is too large.
    PayloadTooLarge,
    /// 500: a bug or an unexpected failure of a dependency.
    Internal,
    /// 501: not implemented.
    NotImplemented,
    /// 503: a needed resource pool or backend is unavailable.
    Unavailable,
}

/// The domain error: a kind, Neutron's exception class name as `type`, and a user-facing
/// message. An optional internal detail is logged, never shown to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// Which family the error belongs to.
    pub kind: ErrorKind,
    /// Upstream exception class name, e.g. `NetworkNotFound`; clients match on it.
    pub r#type: Cow<'static, str>,
    /// Message shown to the client.
    pub message: String,
    /// Detail for the logs only.
    pub internal: Option<String>,
}

impl Error {
    /// An error of `kind` with Neutron exception type `ty` and message `message`.
    pub fn new(
        kind: ErrorKind,
        ty: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Error { kind, r#type: ty.into(), message: message.into(), internal: None }
    }

    /// 400 `HTTPBadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, "HTTPBadRequest", message)
    }

    /// 400 `InvalidInput` with Neutron's "Invalid input for operation" wording.
    pub fn invalid_input(message: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::BadRequest,
            "InvalidInput",
            format!("Invalid input for operation: {message}."),
        )
    }

    /// 400 for a value that failed conversion: "Invalid input for x. Reason: …".
    pub fn invalid_attr(attr: &str, reason: impl fmt::Display) -> Self {
        Self::bad_request(format!("Invalid input for {attr}. Reason: {reason}."))
    }

    /// 404 `<Kind>NotFound`, e.g. `not_found("Network", id)`.
    pub fn not_found(resource: &str, id: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            format!("{resource}NotFound"),
            format!("{resource} {id} could not be found."),
        )
    }

    /// 404 `HTTPNotFound` "The resource could not be found."
    pub fn http_not_found() -> Self {
        Self::new(ErrorKind::NotFound, "HTTPNotFound", "The resource could not be found.")
    }

    /// 409 with an explicit Neutron exception type.
    pub fn conflict(ty: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, ty, message)
    }

    /// 403 `PolicyNotAuthorized` naming the rule that refused.
    pub fn policy(rule: &str) -> Self {
        Self::new(
            ErrorKind::Forbidden,
            "PolicyNotAuthorized",
            format!("rule:{rule} is disallowed by policy"),
        )
    }

    /// 500 with the generic message; `internal` goes to the logs only.
    pub fn internal(internal: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Internal,
            r#type: "HTTPInternalServerError".into(),
            message: "Request Failed: internal server error while processing your request.".into(),
            internal: Some(internal.into()),
        }
    }

    /// 503 `ServiceUnavailable`.
    pub fn unavailable(ty: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, ty, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.r#type, self.message)?;
        if let Some(internal) = &self.internal {
            write!(f, " ({internal})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
