-- Security groups and rules. One default group per project (the partial unique index settles
-- two requests creating it at once); a rule's canonical key is unique within its group.
CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    revision_number BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX security_groups_project ON security_groups (project_id);
CREATE UNIQUE INDEX security_groups_one_default ON security_groups (project_id) WHERE is_default = 1;

CREATE TABLE security_group_rules (
    id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id),
    project_id TEXT NOT NULL,
    rule_key TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (security_group_id, rule_key)
);
CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);

-- Which ports use which groups (also in the port's body); makes "group in use" one lookup.
CREATE TABLE port_security_groups (
    port_id TEXT NOT NULL REFERENCES ports (id),
    security_group_id TEXT NOT NULL REFERENCES security_groups (id),
    PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);
