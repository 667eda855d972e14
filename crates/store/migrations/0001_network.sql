-- Neutron core resources. Each resource row keeps the attributes that constraints, lookups and
-- project scoping need as columns, and the full resource as a JSON document in `body`: the
-- attribute set grows with every extension, while the columns only grow when a constraint does.
CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    shared INTEGER NOT NULL DEFAULT 0,
    external INTEGER NOT NULL DEFAULT 0,
    revision_number BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);

CREATE TABLE subnets (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks (id),
    project_id TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX subnets_network ON subnets (network_id);

-- One MAC per network: the unique constraint settles races between concurrent creates.
CREATE TABLE ports (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks (id),
    project_id TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    device_owner TEXT NOT NULL,
    device_id TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (network_id, mac_address)
);
CREATE INDEX ports_network ON ports (network_id);
CREATE INDEX ports_project ON ports (project_id);

-- One address per network: subnets of a network never overlap, so (network, address) is the
-- key that makes two concurrent allocations of one IP impossible.
CREATE TABLE ip_allocations (
    network_id TEXT NOT NULL,
    ip_address TEXT NOT NULL,
    subnet_id TEXT NOT NULL REFERENCES subnets (id),
    port_id TEXT NOT NULL REFERENCES ports (id),
    PRIMARY KEY (network_id, ip_address)
);
CREATE INDEX ip_allocations_subnet ON ip_allocations (subnet_id);
CREATE INDEX ip_allocations_port ON ip_allocations (port_id);

-- Segmentation ids (VLAN ids, VNIs) taken by networks, per type and physical network
-- ('' for tunnel types). Reserved before the network row is written, hence no foreign key.
CREATE TABLE segment_allocations (
    network_type TEXT NOT NULL,
    physical_network TEXT NOT NULL,
    segmentation_id BIGINT NOT NULL,
    network_id TEXT NOT NULL,
    PRIMARY KEY (network_type, physical_network, segmentation_id)
);
CREATE INDEX segment_allocations_network ON segment_allocations (network_id);
