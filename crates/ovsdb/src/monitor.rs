//! Monitor requests and the replica they feed: table → row UUID → row, plus change events.
//!
//! `monitor_cond` and `monitor_cond_since` (RFC 7047 §4.1.5 as extended by ovsdb-server(7))
//! answer with `table-updates2` and later send `update2` / `update3` notifications. Each row
//! update is one of `initial`, `insert`, `modify` or `delete`; `initial`/`insert` leave out
//! columns that hold their default value, and `modify` carries *diffs*: a scalar column holds the
//! new value, a set column the elements to toggle (symmetric difference), a map column the pairs
//! to change (absent key → add; same value → remove; other value → replace). Applying diffs needs
//! the column types, so the [`Cache`] is always used together with the server's
//! [`crate::Schema`], and it stores rows completed with the defaults of every monitored column so
//! that a row always has the same columns.
//!
//! After a reconnect without resumable history the client receives a full snapshot; [`Cache::
//! replace`] swaps it in and reports the difference as ordinary insert/modify/delete changes, so
//! subscribers never see a "reset" they would have to handle separately.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};
use uuid::Uuid;

use crate::error::OvsdbError;
use crate::ops::Condition;
use crate::schema::{ColumnType, Schema, TableSchema};
use crate::value::{Row, Value};

/// Which kinds of updates a monitor reports (RFC 7047 §4.1.5 `<monitor-select>`); all by
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MonitorSelect {
    /// Existing rows in the initial reply.
    pub initial: bool,
    /// Inserted rows.
    pub insert: bool,
    /// Deleted rows.
    pub delete: bool,
    /// Modified rows.
    pub modify: bool,
}

impl Default for MonitorSelect {
    fn default() -> Self {
        Self { initial: true, insert: true, delete: true, modify: true }
    }
}

/// What to monitor in one table: columns (all when `None`), an optional condition, and which
/// update kinds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MonitorRequest {
    /// Columns to replicate; `None` for all columns.
    pub columns: Option<Vec<String>>,
    /// Conditions (AND) restricting the replicated rows; `None` for all rows.
    pub conditions: Option<Vec<Condition>>,
    /// Update kinds to report; `None` for all.
    pub select: Option<MonitorSelect>,
}

impl MonitorRequest {
    /// All columns of all rows.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only these columns.
    pub fn columns<S: Into<String>>(cols: impl IntoIterator<Item = S>) -> Self {
        Self { columns: Some(cols.into_iter().map(Into::into).collect()), ..Self::default() }
    }

    /// Restricts the rows by conditions.
    pub fn with_conditions(mut self, conditions: Vec<Condition>) -> Self {
        self.conditions = Some(conditions);
        self
    }

    /// Restricts the reported update kinds.
    pub fn with_select(mut self, select: MonitorSelect) -> Self {
        self.select = Some(select);
        self
    }

    /// The wire encoding (`<monitor-cond-request>`).
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        if let Some(cols) = &self.columns {
            m.insert("columns".into(), json!(cols));
        }
        if let Some(conds) = &self.conditions {
            m.insert("where".into(), Json::Array(conds.iter().map(Condition::to_json).collect()));
        }
        if let Some(s) = &self.select {
            m.insert(
                "select".into(),
                json!({"initial": s.initial, "insert": s.insert, "delete": s.delete,
                       "modify": s.modify}),
            );
        }
        Json::Object(m)
    }
}

/// The requests of one monitor, per table.
pub type MonitorRequests = BTreeMap<String, Vec<MonitorRequest>>;

pub(crate) fn requests_to_json(requests: &MonitorRequests) -> Json {
    Json::Object(
        requests
            .iter()
            .map(|(t, reqs)| {
                (t.clone(), Json::Array(reqs.iter().map(MonitorRequest::to_json).collect()))
            })
            .collect(),
    )
}

/// Checks monitor requests against the schema.
pub(crate) fn validate_requests(
    schema: &Schema,
    requests: &MonitorRequests,
) -> Result<(), OvsdbError> {
    for (table, reqs) in requests {
        let Some(ts) = schema.table(table) else {
            return Err(OvsdbError::UnknownTable { db: schema.name.clone(), table: table.clone() });
        };
        let cols = reqs.iter().flat_map(|r| r.columns.iter().flatten());
        let cond_cols =
            reqs.iter().flat_map(|r| r.conditions.iter().flatten()).filter_map(|c| match c {
                Condition::Compare { column, .. } => Some(column),
                Condition::Literal(_) => None,
            });
        for col in cols.chain(cond_cols) {
            if ts.column_type(col).is_none() {
                return Err(OvsdbError::UnknownColumn {
                    db: schema.name.clone(),
                    table: table.clone(),
                    column: col.clone(),
                });
            }
        }
    }
    Ok(())
}

/// One change to the replica.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A row appeared (inserted, or present in a (re)sync snapshot but not before).
    Insert {
        /// Table.
        table: String,
        /// Row UUID.
        uuid: Uuid,
        /// The row.
        new: Row,
    },
    /// A row changed.
    Modify {
        /// Table.
        table: String,
        /// Row UUID.
        uuid: Uuid,
        /// The row before.
        old: Row,
        /// The row after.
        new: Row,
    },
    /// A row disappeared.
    Delete {
        /// Table.
        table: String,
        /// Row UUID.
        uuid: Uuid,
        /// The row before.
        old: Row,
    },
}

impl Change {
    /// The table of the changed row.
    pub fn table(&self) -> &str {
        match self {
            Change::Insert { table, .. }
            | Change::Modify { table, .. }
            | Change::Delete { table, .. } => table,
        }
    }

    /// The UUID of the changed row.
    pub fn uuid(&self) -> Uuid {
        match self {
            Change::Insert { uuid, .. }
            | Change::Modify { uuid, .. }
            | Change::Delete { uuid, .. } => *uuid,
        }
    }

    /// The row after the change (`None` for deletes).
    pub fn new_row(&self) -> Option<&Row> {
        match self {
            Change::Insert { new, .. } | Change::Modify { new, .. } => Some(new),
            Change::Delete { .. } => None,
        }
    }

    /// The row before the change (`None` for inserts).
    pub fn old_row(&self) -> Option<&Row> {
        match self {
            Change::Modify { old, .. } | Change::Delete { old, .. } => Some(old),
            Change::Insert { .. } => None,
        }
    }
}

/// The replica of the monitored tables: table → row UUID → row. Rows do not contain `_uuid`; the
/// key is the UUID.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cache {
    tables: BTreeMap<String, BTreeMap<Uuid, Row>>,
}

impl Cache {
    /// The rows of `table` (empty when the table is not monitored or has no rows).
    pub fn table(&self, table: &str) -> impl Iterator<Item = (&Uuid, &Row)> {
        self.tables.get(table).into_iter().flatten()
    }

    /// One row.
    pub fn get(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    /// Number of rows in `table`.
    pub fn len(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, BTreeMap::len)
    }

    /// Whether no table has rows.
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(BTreeMap::is_empty)
    }

    /// The first row of `table` whose `column` equals `value` (after schema normalization, so
    /// compare sets with sets).
    pub fn find(&self, table: &str, column: &str, value: &Value) -> Option<(&Uuid, &Row)> {
        self.table(table).find(|(_, row)| row.get(column) == Some(value))
    }

    /// The tables present, with their rows.
    pub fn tables(&self) -> &BTreeMap<String, BTreeMap<Uuid, Row>> {
        &self.tables
    }

    /// Applies a `table-updates2` object (from an `update2`/`update3` notification or a resumed
    /// `monitor_cond_since` reply) and returns the changes in order.
    pub(crate) fn apply_updates2(
        &mut self,
        schema: &Schema,
        columns: &BTreeMap<String, Option<Vec<String>>>,
        updates: &Json,
    ) -> Result<Vec<Change>, OvsdbError> {
        let mut changes = Vec::new();
        let tables = updates
            .as_object()
            .ok_or_else(|| OvsdbError::Protocol("table-updates2 is not an object".to_owned()))?;
        for (table, rows) in tables {
            let ts = schema.table(table).ok_or_else(|| {
                OvsdbError::Protocol(format!("update for table {table:?} missing from the schema"))
            })?;
            let cols = columns.get(table).cloned().flatten();
            let rows = rows
                .as_object()
                .ok_or_else(|| OvsdbError::Protocol(format!("updates of {table} not an object")))?;
            let cached = self.tables.entry(table.clone()).or_default();
            for (uuid_text, update) in rows {
                let uuid = Uuid::parse_str(uuid_text)
                    .map_err(|e| OvsdbError::Protocol(format!("bad row uuid {uuid_text}: {e}")))?;
                let (kind, body) = update
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .ok_or_else(|| OvsdbError::Protocol(format!("bad row update {update}")))?;
                match kind.as_str() {
                    "initial" | "insert" => {
                        let new = complete_row(ts, cols.as_deref(), body)?;
                        match cached.insert(uuid, new.clone()) {
                            Some(old) if old != new => changes.push(Change::Modify {
                                table: table.clone(),
                                uuid,
                                old,
                                new,
                            }),
                            Some(_) => {}
                            None => {
                                changes.push(Change::Insert { table: table.clone(), uuid, new })
                            }
                        }
                    }
                    "modify" => {
                        let old = match cached.get(&uuid) {
                            Some(old) => old.clone(),
                            None => {
                                tracing::warn!(%table, %uuid, "modify for a row not in the cache");
                                complete_row(ts, cols.as_deref(), &json!({}))?
                            }
                        };
                        let new = apply_diff(ts, &old, body)?;
                        cached.insert(uuid, new.clone());
                        changes.push(Change::Modify { table: table.clone(), uuid, old, new });
                    }
                    "delete" => {
                        if let Some(old) = cached.remove(&uuid) {
                            changes.push(Change::Delete { table: table.clone(), uuid, old });
                        }
                    }
                    other => {
                        return Err(OvsdbError::Protocol(format!("unknown row update {other:?}")))
                    }
                }
            }
        }
        Ok(changes)
    }

    /// Builds a cache from a full snapshot (`table-updates2` with `initial` rows).
    pub(crate) fn from_snapshot(
        schema: &Schema,
        columns: &BTreeMap<String, Option<Vec<String>>>,
        updates: &Json,
    ) -> Result<Self, OvsdbError> {
        let mut cache = Cache::default();
        for table in columns.keys() {
            cache.tables.entry(table.clone()).or_default();
        }
        cache.apply_updates2(schema, columns, updates)?;
        Ok(cache)
    }

    /// Replaces the contents with `fresh` and returns the difference as changes.
    pub(crate) fn replace(&mut self, fresh: Cache) -> Vec<Change> {
        let mut changes = Vec::new();
        let old_tables = std::mem::take(&mut self.tables);
        for (table, old_rows) in &old_tables {
            let new_rows = fresh.tables.get(table);
            for (uuid, old) in old_rows {
                match new_rows.and_then(|r| r.get(uuid)) {
                    None => changes.push(Change::Delete {
                        table: table.clone(),
                        uuid: *uuid,
                        old: old.clone(),
                    }),
                    Some(new) if new != old => changes.push(Change::Modify {
                        table: table.clone(),
                        uuid: *uuid,
                        old: old.clone(),
                        new: new.clone(),
                    }),
                    Some(_) => {}
                }
            }
        }
        for (table, new_rows) in &fresh.tables {
            let old_rows = old_tables.get(table);
            for (uuid, new) in new_rows {
                if old_rows.is_none_or(|r| !r.contains_key(uuid)) {
                    changes.push(Change::Insert {
                        table: table.clone(),
                        uuid: *uuid,
                        new: new.clone(),
                    });
                }
            }
        }
        self.tables = fresh.tables;
        changes
    }
}

/// Decodes an `initial`/`insert` row and fills in defaults of the monitored columns it omits.
fn complete_row(
    ts: &TableSchema,
    columns: Option<&[String]>,
    body: &Json,
) -> Result<Row, OvsdbError> {
    let mut row = ts.decode_row(body).map_err(OvsdbError::Value)?;
    let mut fill = |name: &str| {
        if let Some(ty) = ts.column_type(name) {
            row.entry(name.to_owned()).or_insert_with(|| ty.default_value());
        }
    };
    match columns {
        Some(cols) => cols.iter().for_each(|c| fill(c)),
        None => ts.columns.keys().for_each(|c| fill(c)),
    }
    Ok(row)
}

/// Applies a `modify` diff row to `old`.
fn apply_diff(ts: &TableSchema, old: &Row, diff: &Json) -> Result<Row, OvsdbError> {
    let diff = diff
        .as_object()
        .ok_or_else(|| OvsdbError::Protocol(format!("modify is not a row: {diff}")))?;
    let mut new = old.clone();
    for (col, d) in diff {
        let Some(ty) = ts.column_type(col) else {
            new.insert(col.clone(), Value::from_json(d).map_err(OvsdbError::Value)?);
            continue;
        };
        let d = ty.decode(d).map_err(OvsdbError::Value)?;
        let current = new.remove(col).unwrap_or_else(|| ty.default_value());
        new.insert(col.clone(), apply_column_diff(&ty, current, d));
    }
    Ok(new)
}

/// Applies one column diff: new value for scalars and for sets of at most one element
/// (ovsdb-server sends those whole, e.g. `Logical_Switch_Port.up` going `false` → `true`
/// arrives as `true`), symmetric difference for larger sets, per-key add/remove/replace for maps.
pub(crate) fn apply_column_diff(ty: &ColumnType, current: Value, diff: Value) -> Value {
    if !ty.is_map() && !ty.is_scalar() && ty.max == Some(1) {
        return match diff {
            Value::Atom(a) => Value::Set([a].into_iter().collect()),
            other => other,
        };
    }
    match (current, diff) {
        (Value::Map(mut map), Value::Map(d)) if ty.is_map() => {
            for (k, v) in d {
                match map.get(&k) {
                    Some(existing) if *existing == v => {
                        map.remove(&k);
                    }
                    _ => {
                        map.insert(k, v);
                    }
                }
            }
            Value::Map(map)
        }
        (Value::Set(mut set), Value::Set(d)) if ty.is_set() => {
            for atom in d {
                if !set.remove(&atom) {
                    set.insert(atom);
                }
            }
            Value::Set(set)
        }
        (_, d) => d,
    }
}

/// Helpers for the `[found, last-txn-id, updates]` reply of `monitor_cond_since`.
pub(crate) fn parse_since_reply(result: &Json) -> Result<(bool, Option<Uuid>, &Json), OvsdbError> {
    let bad = || OvsdbError::Protocol(format!("bad monitor_cond_since reply: {result}"));
    let items = result.as_array().ok_or_else(bad)?;
    let [found, txn, updates] = items.as_slice() else { return Err(bad()) };
    let found = found.as_bool().ok_or_else(bad)?;
    let txn = txn.as_str().and_then(|t| Uuid::parse_str(t).ok()).filter(|u| !u.is_nil());
    Ok((found, txn, updates))
}

/// The monitored columns per table: `None` = all.
pub(crate) fn monitored_columns(
    requests: &MonitorRequests,
) -> BTreeMap<String, Option<Vec<String>>> {
    requests
        .iter()
        .map(|(table, reqs)| {
            let cols = if reqs.is_empty() || reqs.iter().any(|r| r.columns.is_none()) {
                None
            } else {
                let mut all: Vec<String> =
                    reqs.iter().flat_map(|r| r.columns.iter().flatten().cloned()).collect();
                all.sort();
                all.dedup();
                Some(all)
            };
            (table.clone(), cols)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::from_json(&json!({"name": "D", "tables": {"T": {"columns": {
            "name": {"type": "string"},
            "n": {"type": "integer"},
            "tags": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
            "opt": {"type": {"key": "integer", "min": 0, "max": 1}},
            "ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}
        }}}}))
        .unwrap()
    }

    fn all_columns() -> BTreeMap<String, Option<Vec<String>>> {
        BTreeMap::from([("T".to_owned(), None)])
    }

    #[test]
    fn inserts_are_completed_with_defaults_and_modifies_apply_diffs() {
        let s = schema();
        let u = Uuid::new_v4();
        let mut cache = Cache::default();
        let changes = cache
            .apply_updates2(
                &s,
                &all_columns(),
                &json!({"T": {u.to_string(): {"insert": {
                "name": "a", "tags": ["set", ["x", "y"]],
                "ids": ["map", [["a", ""], ["rev", "1"]]]}}}}),
            )
            .unwrap();
        assert!(matches!(&changes[..], [Change::Insert { .. }]));
        let row = cache.get("T", &u).unwrap();
        assert_eq!(row["n"], Value::from(0));
        assert_eq!(row["opt"], Value::empty_set());
        assert_eq!(row["tags"], Value::set(["x", "y"]));

        // Toggle x out and z in; remove key a, change rev, add new; set opt; replace name.
        let changes = cache
            .apply_updates2(
                &s,
                &all_columns(),
                &json!({"T": {u.to_string(): {"modify": {
                "name": "b", "tags": ["set", ["x", "z"]], "opt": 5,
                "ids": ["map", [["a", ""], ["rev", "2"], ["new", "1"]]]}}}}),
            )
            .unwrap();
        let [Change::Modify { old, new, .. }] = &changes[..] else { panic!("{changes:?}") };
        assert_eq!(old["name"], Value::from("a"));
        assert_eq!(new["name"], Value::from("b"));
        assert_eq!(new["tags"], Value::set(["y", "z"]));
        assert_eq!(new["opt"], Value::set([5]));
        assert_eq!(new["ids"], Value::map([("rev", "2"), ("new", "1")]));

        // A one-element set diff arrives as a bare atom and toggles; an optional column's value
        // arrives whole (as ovsdb-server sends it).
        cache
            .apply_updates2(
                &s,
                &all_columns(),
                &json!({"T": {u.to_string(): {"modify": {
                "tags": "y", "opt": 6}}}}),
            )
            .unwrap();
        let row = cache.get("T", &u).unwrap();
        assert_eq!(row["tags"], Value::set(["z"]));
        assert_eq!(row["opt"], Value::set([6]));
        cache
            .apply_updates2(
                &s,
                &all_columns(),
                &json!({"T": {u.to_string(): {"modify": {"opt": ["set", []]}}}}),
            )
            .unwrap();
        assert_eq!(cache.get("T", &u).unwrap()["opt"], Value::empty_set());

        let changes = cache
            .apply_updates2(&s, &all_columns(), &json!({"T": {u.to_string(): {"delete": null}}}))
            .unwrap();
        assert!(matches!(&changes[..], [Change::Delete { .. }]));
        assert_eq!(cache.len("T"), 0);
    }

    #[test]
    fn replace_reports_the_difference() {
        let s = schema();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut cache = Cache::from_snapshot(
            &s,
            &all_columns(),
            &json!({"T": {
            a.to_string(): {"initial": {"name": "a"}},
            b.to_string(): {"initial": {"name": "b"}}}}),
        )
        .unwrap();
        let fresh = Cache::from_snapshot(
            &s,
            &all_columns(),
            &json!({"T": {
            a.to_string(): {"initial": {"name": "a"}},
            b.to_string(): {"initial": {"name": "b2"}},
            c.to_string(): {"initial": {"name": "c"}}}}),
        )
        .unwrap();
        let mut changes = cache.replace(fresh.clone());
        changes.sort_by_key(Change::uuid);
        let mut kinds: Vec<(Uuid, &str)> = changes
            .iter()
            .map(|c| {
                (
                    c.uuid(),
                    match c {
                        Change::Insert { .. } => "insert",
                        Change::Modify { .. } => "modify",
                        Change::Delete { .. } => "delete",
                    },
                )
            })
            .collect();
        kinds.sort();
        let mut want = vec![(b, "modify"), (c, "insert")];
        want.sort();
        assert_eq!(kinds, want);
        assert_eq!(cache, fresh);
        let empty = Cache::from_snapshot(&s, &all_columns(), &json!({})).unwrap();
        assert_eq!(cache.replace(empty).len(), 3);
    }

    #[test]
    fn since_reply_is_parsed() {
        let u = Uuid::new_v4();
        let reply = json!([true, u.to_string(), {}]);
        let (found, txn, _) = parse_since_reply(&reply).unwrap();
        assert!(found);
        assert_eq!(txn, Some(u));
        let reply = json!([false, Uuid::nil().to_string(), {}]);
        assert_eq!(parse_since_reply(&reply).unwrap().1, None);
    }
}
