-- RBAC policies: who else may use an object (networks: access_as_shared, access_as_external).
-- Entries for every project ('*') are mirrored in the networks.shared/external columns.
CREATE TABLE rbac_policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target_tenant TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (object_type, object_id, action, target_tenant)
);
CREATE INDEX rbac_policies_target ON rbac_policies (target_tenant);
CREATE INDEX rbac_policies_object ON rbac_policies (object_id);
