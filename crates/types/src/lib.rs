//! neutrino's domain model: typed values (CIDRs, MAC addresses), the resources of the
//! Networking API with their attribute tables and validation, listing queries, and the one
//! domain [`Error`] that every layer maps into.
//!
//! No I/O lives here: no tokio, no SQL, no HTTP. The crate is shared by the server, the CLI
//! and (later) the host agent.

pub mod agent;
pub mod attr;
mod error;
pub mod floatingip;
pub mod net;
pub mod network;
pub mod port;
pub mod query;
pub mod rbac;
pub mod router;
pub mod security_group;
pub mod subnet;
pub mod time;

pub use error::{Error, ErrorKind};
pub use net::{Cidr, MacAddr};

/// Result alias used across the domain layers.
pub type Result<T, E = Error> = std::result::Result<T, E>;
