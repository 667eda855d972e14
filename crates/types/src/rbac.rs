//! RBAC policy (`/v2.0/rbac-policies`): who else may use an object.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attr::{conv, Attr};

/// Attributes of an RBAC policy (API notes §4.1).
pub const ATTRS: &[Attr] = &[
    Attr::new("id", conv::uuid).fs(),
    Attr::new("object_type", object_type).req().fs(),
    Attr::new("object_id", conv::uuid).req().fs(),
    Attr::new("action", action).req().fs(),
    Attr::new("target_tenant", conv::string255).req().cu().fs(),
    Attr::new("project_id", conv::string255).fs(),
];

/// An RBAC policy as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RbacPolicy {
    /// Id.
    pub id: String,
    /// Owner (the object's owner, usually).
    pub project_id: String,
    /// `network`.
    pub object_type: String,
    /// The object.
    pub object_id: String,
    /// `access_as_shared` or `access_as_external`.
    pub action: String,
    /// The project given access, or `*` for every project.
    pub target_tenant: String,
}

fn object_type(v: &Value) -> Result<Value, String> {
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("network") => Ok(Value::String("network".into())),
        _ => Err(format!("{v} is not in ['network']")),
    }
}

fn action(v: &Value) -> Result<Value, String> {
    conv::one_of(v, &["access_as_shared", "access_as_external"], false)
}
