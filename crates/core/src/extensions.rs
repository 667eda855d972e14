//! The API extensions neutrino offers: exactly the aliases whose behaviour works. Names,
//! descriptions and timestamps are upstream's (clients look extensions up by name).

/// One advertised extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    /// Alias, e.g. `net-mtu`.
    pub alias: &'static str,
    /// Upstream's name.
    pub name: &'static str,
    /// Upstream's description.
    pub description: &'static str,
    /// Upstream's timestamp string, verbatim (some are not valid dates).
    pub updated: &'static str,
}

/// Every extension served, sorted by alias.
pub fn extensions() -> Vec<Extension> {
    let mut list = EXTENSIONS.to_vec();
    list.sort_by_key(|e| e.alias);
    list
}

/// The extension with `alias`.
pub fn extension(alias: &str) -> Option<Extension> {
    EXTENSIONS.iter().find(|e| e.alias == alias).copied()
}

const EXTENSIONS: &[Extension] = &[
    Extension {
        alias: "quotas",
        name: "Quota management support",
        description: "Expose functions for quotas management per project",
        updated: "2012-07-29T10:00:00-00:00",
    },
    Extension {
        alias: "quota_details",
        name: "Quota details management support",
        description: "Expose functions for quotas usage statistics per project",
        updated: "2017-02-10T10:00:00-00:00",
    },
    Extension {
        alias: "rbac-policies",
        name: "RBAC Policies",
        description: "Allows creation and modification of policies that control project access to resources.",
        updated: "2015-06-17T12:15:12-00:00",
    },
    Extension {
        alias: "security-group",
        name: "security-group",
        description: "The security groups extension.",
        updated: "2012-10-05T10:00:00-00:00",
    },
    Extension {
        alias: "agent",
        name: "agent",
        description: "The agent management extension.",
        updated: "2013-02-03T10:00:00-00:00",
    },
    Extension {
        alias: "allowed-address-pairs",
        name: "Allowed Address Pairs",
        description: "Provides allowed address pairs",
        updated: "2013-07-23T10:00:00-00:00",
    },
    Extension {
        alias: "binding",
        name: "Port Binding",
        description: "Expose port bindings of a virtual port to external application",
        updated: "2014-02-03T10:00:00-00:00",
    },
    Extension {
        alias: "empty-string-filtering",
        name: "Empty String Filtering Extension",
        description: "Allow filtering by attributes with empty string value",
        updated: "2018-05-01T10:00:00-00:00",
    },
    Extension {
        alias: "external-net",
        name: "Neutron external network",
        description: "Adds external network attribute to network resource.",
        updated: "2013-01-14T10:00:00-00:00",
    },
    Extension {
        alias: "extra_dhcp_opt",
        name: "Neutron Extra DHCP options",
        description: "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)",
        updated: "2013-03-17T12:00:00-00:00",
    },
    Extension {
        alias: "filter-validation",
        name: "Filter parameters validation",
        description: "Provides validation on filter parameters.",
        updated: "2018-07-04T10:00:00-00:00",
    },
    Extension {
        alias: "net-mtu",
        name: "Network MTU",
        description: "Provides MTU attribute for a network resource.",
        updated: "2015-03-25T10:00:00-00:00",
    },
    Extension {
        alias: "net-mtu-writable",
        name: "Network MTU (writable)",
        description: "Provides a writable MTU attribute for a network resource.",
        updated: "2017-07-12T00:00:00-00:00",
    },
    Extension {
        alias: "port-security",
        name: "Port Security",
        description: "Provides port security",
        updated: "2012-07-23T10:00:00-00:00",
    },
    Extension {
        alias: "provider",
        name: "Provider Network",
        description: "Expose mapping of virtual networks to physical networks",
        updated: "2012-09-07T10:00:00-00:00",
    },
    Extension {
        alias: "standard-attr-revisions",
        name: "Resource revision numbers",
        description: "This extension will display the revision number of neutron resources.",
        updated: "2016-04-11T10:00:00-00:00",
    },
    Extension {
        alias: "revision-if-match",
        name: "If-Match constraints based on revision_number",
        description: "Extension indicating that If-Match based on revision_number is supported.",
        updated: "2016-12-11T00:00:00-00:00",
    },
    Extension {
        alias: "standard-attr-description",
        name: "standard-attr-description",
        description: "Extension to add descriptions to standard attributes",
        updated: "2016-02-10T10:00:00-00:00",
    },
    Extension {
        alias: "standard-attr-tag",
        name: "Tag support for resources with standard attribute: port, subnet, network",
        description: "Enables to set tag on resources with standard attribute.",
        updated: "2017-01-01T00:00:00-00:00",
    },
    Extension {
        alias: "tag-creation",
        name: "Tag creation extension",
        description: "Allow to create multiple tags for a resource",
        updated: "2024-23-07T10:00:00-00:00",
    },
    Extension {
        alias: "standard-attr-timestamp",
        name: "Resource timestamps",
        description: "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
        updated: "2016-09-12T10:00:00-00:00",
    },
    Extension {
        alias: "pagination",
        name: "Pagination support",
        description: "Extension that indicates that pagination is enabled.",
        updated: "2016-06-12T00:00:00-00:00",
    },
    Extension {
        alias: "sorting",
        name: "Sorting support",
        description: "Extension that indicates that sorting is enabled.",
        updated: "2016-06-12T00:00:00-00:00",
    },
    Extension {
        alias: "project-id",
        name: "project_id field enabled",
        description: "Extension that indicates that project_id field is enabled.",
        updated: "2016-09-09T09:09:09-09:09",
    },
    Extension {
        alias: "ip-substring-filtering",
        name: "IP address substring filtering",
        description: "Provides IP address substring filtering when listing ports",
        updated: "2017-11-28T09:00:00-00:00",
    },
    Extension {
        alias: "subnet-service-types",
        name: "Subnet service types",
        description: "Provides ability to set the subnet service_types field",
        updated: "2016-03-15T18:00:00-00:00",
    },
    Extension {
        alias: "port-mac-address-regenerate",
        name: "Neutron Port MAC address regenerate",
        description: "Network port MAC address regenerate",
        updated: "2018-05-03T10:00:00-00:00",
    },
    Extension {
        alias: "subnet-external-network",
        name: "Subnet belongs to an external network",
        description: "Informs if the subnet belongs to an external network",
        updated: "2024-02-05T18:00:00-00:00",
    },
    Extension {
        alias: "uplink-status-propagation",
        name: "Uplink status propagation extension",
        description: "Provides ability to propagate port uplink status.",
        updated: "2018-05-31T18:00:00-00:00",
    },
    Extension {
        alias: "uplink-status-propagation-updatable",
        name: "Uplink status propagation updatable extension",
        description: "Provides ability to update the port uplink status.",
        updated: "2024-09-03T18:00:00-00:00",
    },
    Extension {
        alias: "router",
        name: "Neutron L3 Router",
        description: "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
        updated: "2012-07-20T10:00:00-00:00",
    },
    Extension {
        alias: "extraroute",
        name: "Neutron Extra Route",
        description: "Extra routes configuration for L3 router",
        updated: "2013-02-01T10:00:00-00:00",
    },
    Extension {
        alias: "extraroute-atomic",
        name: "Atomically add/remove extra routes",
        description: "Edit extra routes of a router on server side by atomically adding/removing extra routes",
        updated: "2019-07-10T00:00:00+00:00",
    },
    Extension {
        alias: "ext-gw-mode",
        name: "Neutron L3 Configurable external gateway mode",
        description: "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
        updated: "2013-03-28T10:00:00-00:00",
    },
    Extension {
        alias: "fip-port-details",
        name: "Floating IP Port Details Extension",
        description: "Add port_details attribute to Floating IP resource",
        updated: "2018-04-09T10:00:00-00:00",
    },
    Extension {
        alias: "floatingip-pools",
        name: "Floating IP Pools Extension",
        description: "Provides a floating IP pools API.",
        updated: "2018-03-21T10:00:00-00:00",
    },
];
