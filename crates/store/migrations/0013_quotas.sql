-- Per-project quota overrides (defaults come from the configuration), and one row per
-- (project, resource) that creates lock while they count, so that concurrent creates cannot
-- both see room for one more.
CREATE TABLE quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    quota_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

CREATE TABLE quota_usage (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    serial BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, resource)
);
