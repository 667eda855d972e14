-- L3: routers and floating IPs. A router's interface and gateway ports are the ports whose
-- device_id is the router id (device_owner network:router_interface / network:router_gateway),
-- hence the index on ports.device_id.
CREATE TABLE routers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX routers_project ON routers (project_id);
CREATE INDEX ports_device ON ports (device_id);

-- One floating IP per (external network, address); one floating IP per (external network,
-- internal port, fixed address): the unique keys settle concurrent associations (NULLs, i.e.
-- unassociated floating IPs, never collide).
CREATE TABLE floatingips (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    floating_network_id TEXT NOT NULL,
    floating_ip_address TEXT NOT NULL,
    port_id TEXT,
    fixed_ip_address TEXT,
    router_id TEXT,
    revision_number BIGINT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (floating_network_id, floating_ip_address),
    UNIQUE (floating_network_id, port_id, fixed_ip_address)
);
CREATE INDEX floatingips_project ON floatingips (project_id);
CREATE INDEX floatingips_port ON floatingips (port_id);
CREATE INDEX floatingips_router ON floatingips (router_id);
