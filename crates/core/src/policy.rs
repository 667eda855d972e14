//! The policy table: for each action, who may perform it, as upstream Neutron's default policy
//! (new defaults, scope checks on). Reading is governed by visibility (a caller that may not
//! read an object gets 404 before policy is asked); this table decides the writes and the
//! admin-only reads. An action missing from the table is refused.

use nt_types::Error;

use crate::OpContext;

/// One kind of caller a rule lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Holds `admin` (cloud-wide).
    Admin,
    /// Holds `service` (another OpenStack service).
    Service,
    /// Member (or more) of the project owning the target.
    ProjectMember,
    /// Reader (or more) of the project owning the target.
    ProjectReader,
    /// Member of the project owning the target's network.
    NetworkOwnerMember,
    /// Member of a project the target's network is shared with.
    SharedNetworkMember,
}

use Who::*;

/// Owners-only port attributes: who may set them (API notes §4, attribute rules).
const PORT_OWNER_ONLY: &[Who] = &[Admin, Service, NetworkOwnerMember];

/// Every action with the callers allowed to perform it.
pub const RULES: &[(&str, &[Who])] = &[
    ("create_network", &[Admin, ProjectMember]),
    ("update_network", &[Admin, ProjectMember]),
    ("delete_network", &[Admin, ProjectMember]),
    ("create_subnet", &[Admin, NetworkOwnerMember]),
    ("update_subnet", &[Admin, ProjectMember, NetworkOwnerMember]),
    ("delete_subnet", &[Admin, ProjectMember, NetworkOwnerMember]),
    ("create_port", &[Admin, Service, NetworkOwnerMember, SharedNetworkMember]),
    ("create_port:mac_address", PORT_OWNER_ONLY),
    ("create_port:fixed_ips:ip_address", PORT_OWNER_ONLY),
    ("create_port:port_security_enabled", PORT_OWNER_ONLY),
    ("create_port:allowed_address_pairs", PORT_OWNER_ONLY),
    ("create_port:device_owner", PORT_OWNER_ONLY),
    ("update_port", &[Admin, Service, ProjectMember]),
    ("update_port:mac_address", PORT_OWNER_ONLY),
    ("update_port:fixed_ips:ip_address", PORT_OWNER_ONLY),
    ("update_port:port_security_enabled", PORT_OWNER_ONLY),
    ("update_port:allowed_address_pairs", PORT_OWNER_ONLY),
    ("update_port:device_owner", PORT_OWNER_ONLY),
    ("delete_port", &[Admin, Service, ProjectMember, NetworkOwnerMember]),
    // Ports of compute, bare metal and file-share services are deleted by those services.
    ("delete_port:device_owner:compute", &[Admin, Service]),
    ("create_router", &[Admin, ProjectMember]),
    ("update_router", &[Admin, ProjectMember]),
    ("delete_router", &[Admin, ProjectMember]),
    ("create_floatingip", &[Admin, ProjectMember]),
    ("update_floatingip", &[Admin, ProjectMember]),
    ("delete_floatingip", &[Admin, ProjectMember]),
    ("create_security_group", &[Admin, ProjectMember]),
    ("update_security_group", &[Admin, ProjectMember]),
    ("delete_security_group", &[Admin, ProjectMember]),
    ("create_security_group_rule", &[Admin, ProjectMember]),
    ("delete_security_group_rule", &[Admin, ProjectMember]),
    ("create_rbac_policy", &[Admin, ProjectMember]),
    ("create_rbac_policy:target_tenant", &[Admin]),
    ("update_rbac_policy:target_tenant", &[Admin]),
    ("delete_rbac_policy", &[Admin, ProjectMember]),
    ("get_quota", &[Admin, ProjectReader]),
    ("get_quotas", &[Admin]),
    ("update_quota", &[Admin]),
    ("delete_quota", &[Admin]),
    ("update_tags", &[Admin, ProjectMember]),
    ("delete_tags", &[Admin, ProjectMember]),
];

/// What an action is performed on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// Project owning the target.
    pub project_id: &'a str,
    /// Project owning the target's network, for network-scoped rules.
    pub network_owner: Option<&'a str>,
    /// The target's network is shared with the caller's project.
    pub network_shared: bool,
}

impl<'a> Target<'a> {
    /// A target owned by `project_id`.
    pub fn project(project_id: &'a str) -> Self {
        Target { project_id, ..Target::default() }
    }

    /// A target on a network owned by `network_owner`.
    pub fn on_network(project_id: &'a str, network_owner: &'a str, network_shared: bool) -> Self {
        Target { project_id, network_owner: Some(network_owner), network_shared }
    }
}

fn passes(ctx: &OpContext, who: Who, target: &Target<'_>) -> bool {
    let member = ctx.has_role("member") || ctx.is_admin();
    let reader = member || ctx.has_role("reader");
    match who {
        Admin => ctx.is_admin(),
        Service => ctx.is_service(),
        ProjectMember => member && ctx.project_id == target.project_id,
        ProjectReader => reader && ctx.project_id == target.project_id,
        NetworkOwnerMember => member && target.network_owner == Some(ctx.project_id.as_str()),
        SharedNetworkMember => member && target.network_shared,
    }
}

/// True when `ctx` may perform `action` on `target`; unknown actions are refused.
pub fn allowed(ctx: &OpContext, action: &str, target: &Target<'_>) -> bool {
    RULES
        .iter()
        .find(|(name, _)| *name == action)
        .is_some_and(|(_, whos)| whos.iter().any(|w| passes(ctx, *w, target)))
}

/// `Ok` when allowed, else 403 `PolicyNotAuthorized` naming the rule.
pub fn authorize(ctx: &OpContext, action: &str, target: &Target<'_>) -> Result<(), Error> {
    if allowed(ctx, action, target) {
        Ok(())
    } else {
        Err(Error::policy(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(project: &str, roles: &[&str]) -> OpContext {
        OpContext {
            user_id: "u".into(),
            project_id: project.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            request_id: "req".into(),
        }
    }

    /// Every rule, once with a caller it admits and once with one it refuses.
    #[test]
    fn each_rule_admits_and_refuses() {
        let admin = ctx("other", &["admin", "member", "reader"]);
        let service = ctx("other", &["service"]);
        let member = ctx("p", &["member", "reader"]);
        let reader = ctx("p", &["reader"]);
        let stranger = ctx("q", &["member", "reader"]);
        let own = Target::project("p");
        let own_net = Target::on_network("x", "p", false);
        let shared_net = Target::on_network("q", "z", true);
        for (action, whos) in RULES {
            for who in *whos {
                let (caller, target) = match who {
                    Admin => (&admin, own),
                    Service => (&service, own),
                    ProjectMember => (&member, own),
                    ProjectReader => (&reader, own),
                    NetworkOwnerMember => (&member, own_net),
                    SharedNetworkMember => (&stranger, shared_net),
                };
                assert!(allowed(caller, action, &target), "{action} should admit {who:?}");
            }
            // A member of another project, on a target of this project, on a network that is
            // neither its own nor shared with it, passes no rule.
            let foreign = Target::on_network("p", "p", false);
            assert!(!allowed(&stranger, action, &foreign), "{action} must refuse strangers");
            if !whos.contains(&ProjectReader) {
                assert!(!allowed(&reader, action, &own_net), "{action} must refuse readers");
            }
        }
    }

    #[test]
    fn unknown_actions_are_refused_even_to_admins() {
        let admin = ctx("p", &["admin", "member", "reader"]);
        assert!(!allowed(&admin, "launch_rockets", &Target::project("p")));
        assert_eq!(
            authorize(&admin, "launch_rockets", &Target::project("p")).unwrap_err().r#type,
            "PolicyNotAuthorized"
        );
    }

    #[test]
    fn compute_ports_need_a_service() {
        let member = ctx("p", &["member", "reader"]);
        let service = ctx("other", &["service"]);
        let target = Target::project("p");
        assert!(allowed(&member, "delete_port", &target));
        assert!(!allowed(&member, "delete_port:device_owner:compute", &target));
        assert!(allowed(&service, "delete_port:device_owner:compute", &target));
    }
}
