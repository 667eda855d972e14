//! Floating IP (`/v2.0/floatingips`, API notes §2.7): attribute table and stored form.

use serde::{Deserialize, Serialize};

use crate::attr::{conv, Attr, Read};

/// Attributes of a floating IP.
pub const ATTRS: &[Attr] = &[
    Attr::new("id", conv::uuid).fs(),
    Attr::new("description", conv::string255).cu().f(),
    Attr::new("project_id", conv::string255).fs(),
    Attr::new("floating_network_id", conv::uuid).req().fs(),
    Attr::new("floating_ip_address", conv::ip).c().fs(),
    Attr::new("subnet_id", conv::uuid_or_null).c().read(Read::Hidden),
    Attr::new("port_id", conv::uuid_or_null).cu().f(),
    Attr::new("fixed_ip_address", conv::ip_or_null).cu().fs(),
    Attr::new("router_id", conv::uuid_or_null).fs(),
    Attr::new("status", conv::string255).fs(),
    Attr::new("port_details", conv::any),
    Attr::new("tags", conv::string_list),
    Attr::new("created_at", conv::string255).f(),
    Attr::new("updated_at", conv::string255).f(),
    Attr::new("revision_number", conv::non_negative_int).fs(),
];

/// A floating IP as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIp {
    /// Id.
    pub id: String,
    /// Description.
    pub description: String,
    /// Owner.
    pub project_id: String,
    /// External network the address comes from.
    pub floating_network_id: String,
    /// The address.
    pub floating_ip_address: String,
    /// The `network:floatingip` port holding the address (internal, not shown).
    pub floating_port_id: String,
    /// Associated internal port.
    pub port_id: Option<String>,
    /// Address of the internal port the floating IP maps to.
    pub fixed_ip_address: Option<String>,
    /// Router that connects the internal port's subnet to the external network.
    pub router_id: Option<String>,
    /// `ACTIVE` while associated, `DOWN` otherwise.
    pub status: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}
