-- Embedded identity (the Keystone v3 subset, ../shared/design/identity.md). The same SQL runs on
-- SQLite and PostgreSQL: TEXT, BIGINT and INTEGER only; booleans are 0/1 integers, times are
-- microseconds since the Unix epoch, an absent optional string is ''. `extra` holds any further
-- attributes as a JSON object.

CREATE TABLE identity_domains (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

-- Names are unique per domain. parent_id is the domain id for top-level projects (Keystone).
CREATE TABLE identity_projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES identity_domains (id),
    parent_id TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

-- password_hash is an Argon2id PHC string, '' for a user who cannot log in with a password.
CREATE TABLE identity_users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES identity_domains (id),
    enabled INTEGER NOT NULL DEFAULT 1,
    password_hash TEXT NOT NULL DEFAULT '',
    default_project_id TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL DEFAULT 0,
    UNIQUE (domain_id, name)
);

-- Role names are global.
CREATE TABLE identity_roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

-- prior implies implied (admin -> member -> reader); tokens carry the closure.
CREATE TABLE identity_role_implications (
    prior_role_id TEXT NOT NULL REFERENCES identity_roles (id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES identity_roles (id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);

-- A role granted to a user (actor) on a target: target_type 'project' (target_id a project
-- id), 'domain' (a domain id) or 'system' (target_id 'all'). No foreign key on actor and target:
-- their table depends on the type; whoever deletes a user or project deletes its assignments.
CREATE TABLE identity_assignments (
    actor_id TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES identity_roles (id) ON DELETE CASCADE,
    PRIMARY KEY (actor_id, target_type, target_id, role_id)
);
CREATE INDEX identity_assignments_target ON identity_assignments (target_type, target_id);
CREATE INDEX identity_assignments_role ON identity_assignments (role_id);

CREATE TABLE identity_regions (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    parent_region_id TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Token revocations, mirrored in memory by every server: kind 'audit' (subject an audit id),
-- 'user' or 'project' (subject an id; tokens issued at or before issued_before are revoked).
-- Rows older than the longest token lifetime are pruned.
CREATE TABLE identity_revocations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    issued_before BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX identity_revocations_created ON identity_revocations (created_at);
