//! Agent (`/v2.0/agents`): under OVN, chassis reported as agents. Read-only here.

use crate::attr::{conv, Attr};

/// Attributes of an agent (API notes §2.9).
pub const ATTRS: &[Attr] = &[
    Attr::new("id", conv::string255).fs(),
    Attr::new("agent_type", conv::string255).fs(),
    Attr::new("binary", conv::string255).fs(),
    Attr::new("host", conv::string255).fs(),
    Attr::new("topic", conv::string255).fs(),
    Attr::new("admin_state_up", conv::boolean).fs(),
    Attr::new("alive", conv::boolean).fs(),
    Attr::new("availability_zone", conv::string255).f(),
    Attr::new("description", conv::string255).f(),
    Attr::new("heartbeat_timestamp", conv::string255),
    Attr::new("created_at", conv::string255),
    Attr::new("started_at", conv::string255),
    Attr::new("configurations", conv::dict),
    Attr::new("resources_synced", conv::any),
];
