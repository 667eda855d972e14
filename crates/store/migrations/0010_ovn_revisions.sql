-- What the OVN mechanism driver last wrote to the Northbound DB for each resource. A row is
-- written with revision -1 in the transaction that creates the resource; the NB writer raises it
-- to the resource's revision once NB holds that revision. `deleted` marks resources gone from
-- our database whose NB rows may still exist. Rows that lag are what maintenance repairs.
CREATE TABLE ovn_revisions (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (resource_type, resource_id)
);
