//! Rows of `security_groups`, `security_group_rules` and `port_security_groups`.

use sqlx::Row;

use crate::{body_text, delete_row, get_row, guarded, rows, ResourceRow, Scope, StoreError, Tx};

const COLUMNS: &str = "id, project_id, revision_number, body";

/// Inserts a group; a second default group for one project gives
/// [`StoreError::UniqueViolation`].
pub async fn security_group_insert(
    tx: &mut Tx,
    row: &ResourceRow,
    is_default: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO security_groups (id, project_id, is_default, revision_number, body) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.id)
    .bind(&row.project_id)
    .bind(i64::from(is_default))
    .bind(row.revision_number)
    .bind(body_text(row))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One group by id.
pub async fn security_group_get<'e, E>(ex: E, id: &str) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    get_row(ex, "security_groups", id).await
}

/// The default group of a project.
pub async fn security_group_default<'e, E>(
    ex: E,
    project_id: &str,
) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql =
        format!("SELECT {COLUMNS} FROM security_groups WHERE project_id = $1 AND is_default = 1");
    let row = sqlx::query(&sql).bind(project_id).fetch_optional(ex).await?;
    row.as_ref().map(crate::row_from_sql).transpose()
}

/// Groups visible in `scope` (a project sees its own).
pub async fn security_group_list<'e, E>(
    ex: E,
    scope: Scope<'_>,
) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = match scope {
        Scope::All => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM security_groups")).fetch_all(ex).await?
        }
        Scope::Project(p) => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM security_groups WHERE project_id = $1"))
                .bind(p)
                .fetch_all(ex)
                .await?
        }
    };
    rows(list)
}

/// Replaces a group's row if its stored revision is still `expected_revision`.
pub async fn security_group_update(
    tx: &mut Tx,
    row: &ResourceRow,
    expected_revision: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE security_groups SET revision_number = $1, body = $2 WHERE id = $3 AND revision_number = $4",
    )
    .bind(row.revision_number)
    .bind(body_text(row))
    .bind(&row.id)
    .bind(expected_revision)
    .execute(&mut **tx)
    .await?;
    guarded(done)
}

/// Deletes a group and its rules.
pub async fn security_group_delete(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM security_group_rules WHERE security_group_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    delete_row(tx, "security_groups", id).await
}

/// Inserts a rule; the same rule twice in one group gives [`StoreError::UniqueViolation`].
pub async fn rule_insert(
    tx: &mut Tx,
    row: &ResourceRow,
    group_id: &str,
    key: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO security_group_rules (id, security_group_id, project_id, rule_key, revision_number, body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.id)
    .bind(group_id)
    .bind(&row.project_id)
    .bind(key)
    .bind(row.revision_number)
    .bind(body_text(row))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The id of the rule with `key` in `group_id`, if any.
pub async fn rule_with_key<'e, E>(
    ex: E,
    group_id: &str,
    key: &str,
) -> Result<Option<String>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "SELECT id FROM security_group_rules WHERE security_group_id = $1 AND rule_key = $2",
    )
    .bind(group_id)
    .bind(key)
    .fetch_optional(ex)
    .await?;
    Ok(row.map(|r| r.try_get::<String, _>("id")).transpose()?)
}

/// One rule by id.
pub async fn rule_get<'e, E>(ex: E, id: &str) -> Result<Option<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    get_row(ex, "security_group_rules", id).await
}

/// Rules of one group.
pub async fn rules_of_group<'e, E>(ex: E, group_id: &str) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    rows(
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM security_group_rules WHERE security_group_id = $1"
        ))
        .bind(group_id)
        .fetch_all(ex)
        .await?,
    )
}

/// Every rule (visibility follows the groups).
pub async fn rule_list<'e, E>(ex: E) -> Result<Vec<ResourceRow>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    rows(sqlx::query(&format!("SELECT {COLUMNS} FROM security_group_rules")).fetch_all(ex).await?)
}

/// Deletes a rule.
pub async fn rule_delete(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    delete_row(tx, "security_group_rules", id).await
}

/// Sets the groups of a port.
pub async fn port_groups_set(
    tx: &mut Tx,
    port_id: &str,
    groups: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM port_security_groups WHERE port_id = $1")
        .bind(port_id)
        .execute(&mut **tx)
        .await?;
    for g in groups {
        sqlx::query(
            "INSERT INTO port_security_groups (port_id, security_group_id) VALUES ($1, $2)",
        )
        .bind(port_id)
        .bind(g)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Ports using a group.
pub async fn ports_of_group<'e, E>(ex: E, group_id: &str) -> Result<Vec<String>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let list = sqlx::query("SELECT port_id FROM port_security_groups WHERE security_group_id = $1")
        .bind(group_id)
        .fetch_all(ex)
        .await?;
    list.iter().map(|r| r.try_get::<String, _>("port_id").map_err(StoreError::from)).collect()
}
