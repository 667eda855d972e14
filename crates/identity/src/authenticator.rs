//! What the network API asks of identity on every request: "whom does this `X-Auth-Token`
//! speak for?", answered by the embedded service or by an external Keystone
//! (`identity.md` §1).

use std::sync::Arc;

use thiserror::Error;

use crate::external::KeystoneClient;
use crate::{Identity, Principal};

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The token is missing, malformed, expired, revoked or unknown: the client gets a 401.
    #[error("the token is not valid")]
    Unauthorized,
    /// The token could not be checked (Keystone unreachable, a 5xx, the service user refused):
    /// the client gets a 503. The text is for the log.
    #[error("identity service unavailable: {0}")]
    Unavailable(String),
}

/// Checks incoming tokens: the embedded identity service, or an external Keystone.
#[derive(Debug, Clone)]
pub enum Authenticator {
    /// Tokens are Fernet tokens of this server's own identity service (local check, no I/O).
    Embedded(Arc<Identity>),
    /// Tokens are checked against an external Keystone, with a cache.
    Keystone(Arc<KeystoneClient>),
}

impl Authenticator {
    /// Whom `token` speaks for. Unscoped tokens are returned too (empty `project_id`); whether
    /// they may act is the caller's decision.
    pub async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        match self {
            Authenticator::Embedded(identity) => {
                identity.validate(token).map_err(|_| AuthError::Unauthorized)
            }
            Authenticator::Keystone(client) => client.validate(token).await,
        }
    }

    /// The identity URL clients should authenticate at, for `WWW-Authenticate` on a 401:
    /// this server's `/v3`, or the external Keystone's auth URL.
    pub fn identity_url(&self) -> String {
        match self {
            Authenticator::Embedded(identity) => identity.identity_url(),
            Authenticator::Keystone(client) => client.auth_url().to_string(),
        }
    }
}
