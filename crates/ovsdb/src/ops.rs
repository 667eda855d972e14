//! Transaction operations (RFC 7047 §5.2), conditions, mutations and typed results.
//!
//! A transaction is a list of [`Operation`]s applied atomically. The reply has one element per
//! operation; the first failing operation carries `{"error", "details"}` and the rest are `null`,
//! and a failure at commit time (constraints, referential integrity) is reported as an *extra*
//! element after the per-op results. [`parse_results`] turns that into either typed
//! [`OpResult`]s or one [`OvsdbError::Transaction`] naming the failing operation.

use std::fmt;

use serde_json::{json, Map, Value as Json};
use uuid::Uuid;

use crate::error::OvsdbError;
use crate::schema::{Schema, TableSchema};
use crate::value::{row_to_json, Row, Value};

/// A comparison function of a condition (RFC 7047 §5.1 `<function>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `includes`: the column contains all given elements (or key/value pairs).
    Includes,
    /// `excludes`: the column contains none of the given elements (or pairs).
    Excludes,
}

impl Function {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Gt => ">",
            Function::Ge => ">=",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// One condition of a `where` clause: `[column, function, value]`, or a literal `true`/`false`
/// (accepted in monitor conditions).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `[column, function, value]`
    Compare {
        /// Column name (may be `_uuid`).
        column: String,
        /// Comparison.
        function: Function,
        /// Operand, in the column's encoding.
        value: Value,
    },
    /// The boolean literal `true` or `false`.
    Literal(bool),
}

impl Condition {
    /// `[column, function, value]`.
    pub fn new(column: impl Into<String>, function: Function, value: impl Into<Value>) -> Self {
        Condition::Compare { column: column.into(), function, value: value.into() }
    }

    /// `[column, "==", value]`.
    pub fn eq(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Eq, value)
    }

    /// `[column, "!=", value]`.
    pub fn ne(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Ne, value)
    }

    /// `[column, "<", value]`.
    pub fn lt(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Lt, value)
    }

    /// `[column, "<=", value]`.
    pub fn le(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Le, value)
    }

    /// `[column, ">", value]`.
    pub fn gt(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Gt, value)
    }

    /// `[column, ">=", value]`.
    pub fn ge(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Ge, value)
    }

    /// `[column, "includes", value]`.
    pub fn includes(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Includes, value)
    }

    /// `[column, "excludes", value]`.
    pub fn excludes(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Excludes, value)
    }

    /// `["_uuid", "==", ["uuid", uuid]]`.
    pub fn uuid(uuid: Uuid) -> Self {
        Self::eq("_uuid", Value::uuid(uuid))
    }

    /// The wire encoding.
    pub fn to_json(&self) -> Json {
        match self {
            Condition::Compare { column, function, value } => {
                json!([column, function.as_str(), value.to_json()])
            }
            Condition::Literal(b) => json!(b),
        }
    }

    fn column(&self) -> Option<&str> {
        match self {
            Condition::Compare { column, .. } => Some(column),
            Condition::Literal(_) => None,
        }
    }
}

/// A mutator (RFC 7047 §5.1 `<mutator>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutator {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `%=`
    Mod,
    /// `insert`: add set elements or map pairs (an existing map key is *not* overwritten).
    Insert,
    /// `delete`: remove set elements, map pairs (given a map) or map keys (given a set).
    Delete,
}

impl Mutator {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// One mutation: `[column, mutator, value]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// Column name.
    pub column: String,
    /// What to do.
    pub mutator: Mutator,
    /// Operand.
    pub value: Value,
}

impl Mutation {
    /// `[column, mutator, value]`.
    pub fn new(column: impl Into<String>, mutator: Mutator, value: impl Into<Value>) -> Self {
        Self { column: column.into(), mutator, value: value.into() }
    }

    /// `[column, "insert", value]`.
    pub fn insert(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Mutator::Insert, value)
    }

    /// `[column, "delete", value]`.
    pub fn delete(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Mutator::Delete, value)
    }

    /// `[column, "+=", value]`.
    pub fn add(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(column, Mutator::Add, value)
    }

    /// The wire encoding.
    pub fn to_json(&self) -> Json {
        json!([self.column, self.mutator.as_str(), self.value.to_json()])
    }
}

/// The `until` of a `wait` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitUntil {
    /// Wait until the selected rows equal `rows`.
    Eq,
    /// Wait until the selected rows differ from `rows`.
    Ne,
}

/// One transaction operation (RFC 7047 §5.2).
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Insert a row. Result: [`OpResult::Insert`].
    Insert {
        /// Table.
        table: String,
        /// Column values; omitted columns take their defaults.
        row: Row,
        /// Symbolic name usable as `["named-uuid", name]` later in the transaction.
        uuid_name: Option<String>,
        /// Caller-chosen row UUID (ovsdb-server ≥ 2.13 extension).
        uuid: Option<Uuid>,
    },
    /// Select rows. Result: [`OpResult::Select`].
    Select {
        /// Table.
        table: String,
        /// Conditions (AND); empty selects all rows.
        conditions: Vec<Condition>,
        /// Columns to return; `None` returns all.
        columns: Option<Vec<String>>,
    },
    /// Replace column values of matching rows. Result: [`OpResult::Count`].
    Update {
        /// Table.
        table: String,
        /// Conditions (AND).
        conditions: Vec<Condition>,
        /// New column values.
        row: Row,
    },
    /// Mutate column values of matching rows. Result: [`OpResult::Count`].
    Mutate {
        /// Table.
        table: String,
        /// Conditions (AND).
        conditions: Vec<Condition>,
        /// Mutations, applied in order.
        mutations: Vec<Mutation>,
    },
    /// Delete matching rows. Result: [`OpResult::Count`].
    Delete {
        /// Table.
        table: String,
        /// Conditions (AND).
        conditions: Vec<Condition>,
    },
    /// Wait until (or fail unless) the selected rows compare to `rows`. Result:
    /// [`OpResult::Empty`], or the error `"timed out"`.
    Wait {
        /// Table.
        table: String,
        /// Conditions (AND).
        conditions: Vec<Condition>,
        /// Columns compared.
        columns: Vec<String>,
        /// Comparison.
        until: WaitUntil,
        /// Expected rows (restricted to `columns`).
        rows: Vec<Row>,
        /// Milliseconds to wait; `Some(0)` fails at once; `None` waits indefinitely.
        timeout_ms: Option<u64>,
    },
    /// Ask for a durable commit. Result: [`OpResult::Empty`].
    Commit {
        /// Whether the commit must reach disk before the reply.
        durable: bool,
    },
    /// Abort the transaction; always fails with `"aborted"`.
    Abort,
    /// A comment for the server's log. Result: [`OpResult::Empty`].
    Comment {
        /// The text.
        comment: String,
    },
    /// Fail with `"not owner"` unless this connection holds `lock`. Result:
    /// [`OpResult::Empty`].
    Assert {
        /// Lock name.
        lock: String,
    },
}

impl Operation {
    /// An `insert` of `row` into `table`.
    pub fn insert(table: impl Into<String>, row: Row) -> Self {
        Operation::Insert { table: table.into(), row, uuid_name: None, uuid: None }
    }

    /// A `select` of all columns of matching rows.
    pub fn select(table: impl Into<String>, conditions: Vec<Condition>) -> Self {
        Operation::Select { table: table.into(), conditions, columns: None }
    }

    /// An `update` of matching rows.
    pub fn update(table: impl Into<String>, conditions: Vec<Condition>, row: Row) -> Self {
        Operation::Update { table: table.into(), conditions, row }
    }

    /// A `mutate` of matching rows.
    pub fn mutate(
        table: impl Into<String>,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    ) -> Self {
        Operation::Mutate { table: table.into(), conditions, mutations }
    }

    /// A `delete` of matching rows.
    pub fn delete(table: impl Into<String>, conditions: Vec<Condition>) -> Self {
        Operation::Delete { table: table.into(), conditions }
    }

    /// A `wait` with timeout 0: the transaction fails with `"timed out"` unless the rows
    /// selected by `conditions`, restricted to `columns`, compare to `rows` as `until` says.
    pub fn wait(
        table: impl Into<String>,
        conditions: Vec<Condition>,
        columns: Vec<String>,
        until: WaitUntil,
        rows: Vec<Row>,
    ) -> Self {
        Operation::Wait {
            table: table.into(),
            conditions,
            columns,
            until,
            rows,
            timeout_ms: Some(0),
        }
    }

    /// A `commit`.
    pub fn commit(durable: bool) -> Self {
        Operation::Commit { durable }
    }

    /// A `comment`.
    pub fn comment(comment: impl Into<String>) -> Self {
        Operation::Comment { comment: comment.into() }
    }

    /// An `assert` of lock ownership.
    pub fn assert_lock(lock: impl Into<String>) -> Self {
        Operation::Assert { lock: lock.into() }
    }

    /// Sets the `uuid-name` of an `insert` (no effect on other ops).
    pub fn with_uuid_name(mut self, name: impl Into<String>) -> Self {
        if let Operation::Insert { uuid_name, .. } = &mut self {
            *uuid_name = Some(name.into());
        }
        self
    }

    /// Sets the caller-chosen row `uuid` of an `insert` (no effect on other ops).
    pub fn with_uuid(mut self, id: Uuid) -> Self {
        if let Operation::Insert { uuid, .. } = &mut self {
            *uuid = Some(id);
        }
        self
    }

    /// Restricts the columns returned by a `select` (no effect on other ops).
    pub fn with_columns<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        if let Operation::Select { columns, .. } = &mut self {
            *columns = Some(cols.into_iter().map(Into::into).collect());
        }
        self
    }

    /// Sets the timeout of a `wait` in milliseconds (`None` waits indefinitely).
    pub fn with_timeout_ms(mut self, ms: Option<u64>) -> Self {
        if let Operation::Wait { timeout_ms, .. } = &mut self {
            *timeout_ms = ms;
        }
        self
    }

    /// The `op` name.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Insert { .. } => "insert",
            Operation::Select { .. } => "select",
            Operation::Update { .. } => "update",
            Operation::Mutate { .. } => "mutate",
            Operation::Delete { .. } => "delete",
            Operation::Wait { .. } => "wait",
            Operation::Commit { .. } => "commit",
            Operation::Abort => "abort",
            Operation::Comment { .. } => "comment",
            Operation::Assert { .. } => "assert",
        }
    }

    /// The table the operation works on, if any.
    pub fn table(&self) -> Option<&str> {
        match self {
            Operation::Insert { table, .. }
            | Operation::Select { table, .. }
            | Operation::Update { table, .. }
            | Operation::Mutate { table, .. }
            | Operation::Delete { table, .. }
            | Operation::Wait { table, .. } => Some(table),
            _ => None,
        }
    }

    /// The wire encoding.
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("op".into(), json!(self.name()));
        if let Some(table) = self.table() {
            m.insert("table".into(), json!(table));
        }
        let conds = |c: &[Condition]| Json::Array(c.iter().map(Condition::to_json).collect());
        match self {
            Operation::Insert { row, uuid_name, uuid, .. } => {
                m.insert("row".into(), row_to_json(row));
                if let Some(name) = uuid_name {
                    m.insert("uuid-name".into(), json!(name));
                }
                if let Some(u) = uuid {
                    m.insert("uuid".into(), json!(u.to_string()));
                }
            }
            Operation::Select { conditions, columns, .. } => {
                m.insert("where".into(), conds(conditions));
                if let Some(cols) = columns {
                    m.insert("columns".into(), json!(cols));
                }
            }
            Operation::Update { conditions, row, .. } => {
                m.insert("where".into(), conds(conditions));
                m.insert("row".into(), row_to_json(row));
            }
            Operation::Mutate { conditions, mutations, .. } => {
                m.insert("where".into(), conds(conditions));
                m.insert(
                    "mutations".into(),
                    Json::Array(mutations.iter().map(Mutation::to_json).collect()),
                );
            }
            Operation::Delete { conditions, .. } => {
                m.insert("where".into(), conds(conditions));
            }
            Operation::Wait { conditions, columns, until, rows, timeout_ms, .. } => {
                m.insert("where".into(), conds(conditions));
                m.insert("columns".into(), json!(columns));
                m.insert(
                    "until".into(),
                    json!(match until {
                        WaitUntil::Eq => "==",
                        WaitUntil::Ne => "!=",
                    }),
                );
                m.insert("rows".into(), Json::Array(rows.iter().map(row_to_json).collect()));
                if let Some(ms) = timeout_ms {
                    m.insert("timeout".into(), json!(ms));
                }
            }
            Operation::Commit { durable } => {
                m.insert("durable".into(), json!(durable));
            }
            Operation::Abort => {}
            Operation::Comment { comment } => {
                m.insert("comment".into(), json!(comment));
            }
            Operation::Assert { lock } => {
                m.insert("lock".into(), json!(lock));
            }
        }
        Json::Object(m)
    }

    /// Checks that every table and column the operation names exists in `schema`, and that no
    /// operation writes the read-only `_uuid`/`_version` columns. The server would otherwise abort
    /// the whole transaction (`"unknown column"`), possibly after other writers relied on it.
    pub fn validate(&self, schema: &Schema) -> Result<(), OvsdbError> {
        let Some(table_name) = self.table() else { return Ok(()) };
        let table = schema.table(table_name).ok_or_else(|| OvsdbError::UnknownTable {
            db: schema.name.clone(),
            table: table_name.to_owned(),
        })?;
        let readable = |col: &str| check_column(schema, table, col, false);
        let writable = |col: &str| check_column(schema, table, col, true);
        let check_conds =
            |c: &[Condition]| c.iter().filter_map(Condition::column).try_for_each(readable);
        match self {
            Operation::Insert { row, uuid_name, .. } => {
                if let Some(name) = uuid_name {
                    if !is_identifier(name) {
                        return Err(OvsdbError::InvalidRequest(format!(
                            "uuid-name {name:?} is not an identifier"
                        )));
                    }
                }
                row.keys().map(String::as_str).try_for_each(writable)
            }
            Operation::Select { conditions, columns, .. } => {
                check_conds(conditions)?;
                columns.iter().flatten().map(String::as_str).try_for_each(readable)
            }
            Operation::Update { conditions, row, .. } => {
                check_conds(conditions)?;
                row.keys().map(String::as_str).try_for_each(writable)
            }
            Operation::Mutate { conditions, mutations, .. } => {
                check_conds(conditions)?;
                mutations.iter().map(|m| m.column.as_str()).try_for_each(writable)
            }
            Operation::Delete { conditions, .. } => check_conds(conditions),
            Operation::Wait { conditions, columns, rows, .. } => {
                check_conds(conditions)?;
                columns.iter().map(String::as_str).try_for_each(readable)?;
                rows.iter().flat_map(|r| r.keys()).map(String::as_str).try_for_each(readable)
            }
            _ => Ok(()),
        }
    }
}

fn check_column(
    schema: &Schema,
    table: &TableSchema,
    column: &str,
    write: bool,
) -> Result<(), OvsdbError> {
    let known =
        if write { table.column(column).is_some() } else { table.column_type(column).is_some() };
    if known {
        Ok(())
    } else {
        Err(OvsdbError::UnknownColumn {
            db: schema.name.clone(),
            table: table.name.clone(),
            column: column.to_owned(),
        })
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// The typed result of one successful operation.
#[derive(Debug, Clone, PartialEq)]
pub enum OpResult {
    /// `insert`: the new row's UUID.
    Insert {
        /// Row UUID.
        uuid: Uuid,
    },
    /// `select`: the matching rows (with `_uuid` and `_version` unless columns were restricted),
    /// values normalized by the schema.
    Select {
        /// Rows.
        rows: Vec<Row>,
    },
    /// `update`, `mutate`, `delete`: the number of matching rows.
    Count(u64),
    /// `wait`, `commit`, `comment`, `assert`.
    Empty,
}

impl OpResult {
    /// The UUID of an insert result.
    pub fn uuid(&self) -> Option<Uuid> {
        match self {
            OpResult::Insert { uuid } => Some(*uuid),
            _ => None,
        }
    }

    /// The rows of a select result.
    pub fn rows(&self) -> Option<&[Row]> {
        match self {
            OpResult::Select { rows } => Some(rows),
            _ => None,
        }
    }

    /// The count of an update/mutate/delete result.
    pub fn count(&self) -> Option<u64> {
        match self {
            OpResult::Count(n) => Some(*n),
            _ => None,
        }
    }
}

fn error_of(result: &Json) -> Option<OvsdbError> {
    let err = result.get("error").filter(|e| !e.is_null())?;
    let text = |v: &Json| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    Some(OvsdbError::Transaction {
        op_index: 0,
        error: text(err),
        details: result.get("details").filter(|d| !d.is_null()).map(text),
    })
}

fn with_index(e: OvsdbError, index: usize) -> OvsdbError {
    match e {
        OvsdbError::Transaction { error, details, .. } => {
            OvsdbError::Transaction { op_index: index, error, details }
        }
        other => other,
    }
}

/// Turns the `transact` result array into typed results, or the first error.
pub fn parse_results(
    ops: &[Operation],
    schema: Option<&Schema>,
    result: &Json,
) -> Result<Vec<OpResult>, OvsdbError> {
    let items = result.as_array().ok_or_else(|| {
        OvsdbError::Protocol(format!("transact result is not an array: {result}"))
    })?;
    // Errors first: the failing op, or the extra commit-error element after the per-op results.
    for (index, item) in items.iter().enumerate() {
        if let Some(e) = error_of(item) {
            return Err(with_index(e, index));
        }
    }
    if items.len() < ops.len() {
        return Err(OvsdbError::Protocol(format!(
            "transact returned {} results for {} operations",
            items.len(),
            ops.len()
        )));
    }
    ops.iter().zip(items).map(|(op, item)| parse_one(op, schema, item)).collect()
}

fn parse_one(op: &Operation, schema: Option<&Schema>, item: &Json) -> Result<OpResult, OvsdbError> {
    let bad = || OvsdbError::Protocol(format!("unexpected {} result: {item}", op.name()));
    match op {
        Operation::Insert { .. } => {
            let uuid = item
                .get("uuid")
                .and_then(|u| crate::value::Atom::from_json(u).ok())
                .and_then(|a| a.as_uuid())
                .ok_or_else(bad)?;
            Ok(OpResult::Insert { uuid })
        }
        Operation::Select { table, .. } => {
            let rows = item.get("rows").and_then(Json::as_array).ok_or_else(bad)?;
            let table = schema.and_then(|s| s.table(table));
            let rows = rows
                .iter()
                .map(|r| match table {
                    Some(t) => t.decode_row(r),
                    None => r
                        .as_object()
                        .ok_or_else(|| crate::value::ValueError::new(r, "row is not an object"))?
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), Value::from_json(v)?)))
                        .collect(),
                })
                .collect::<Result<_, _>>()
                .map_err(OvsdbError::Value)?;
            Ok(OpResult::Select { rows })
        }
        Operation::Update { .. } | Operation::Mutate { .. } | Operation::Delete { .. } => {
            item.get("count").and_then(Json::as_u64).map(OpResult::Count).ok_or_else(bad)
        }
        _ => Ok(OpResult::Empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{row, Atom};

    #[test]
    fn operations_encode_as_rfc7047_objects() {
        let u = Uuid::parse_str("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap();
        let cases = vec![
            (
                Operation::insert("T", row([("name", "a".into())])).with_uuid_name("new_t"),
                json!({"op": "insert", "table": "T", "row": {"name": "a"}, "uuid-name": "new_t"}),
            ),
            (
                Operation::insert("T", Row::new()).with_uuid(u),
                json!({"op": "insert", "table": "T", "row": {}, "uuid": u.to_string()}),
            ),
            (
                Operation::select("T", vec![Condition::eq("name", "a")]).with_columns(["name"]),
                json!({"op": "select", "table": "T", "where": [["name", "==", "a"]],
                       "columns": ["name"]}),
            ),
            (
                Operation::mutate(
                    "T",
                    vec![Condition::uuid(u)],
                    vec![
                        Mutation::delete("ids", Value::set(["k"])),
                        Mutation::insert("ids", Value::map([("k", "v")])),
                    ],
                ),
                json!({"op": "mutate", "table": "T", "where": [["_uuid", "==", ["uuid", u.to_string()]]],
                       "mutations": [["ids", "delete", "k"], ["ids", "insert", ["map", [["k", "v"]]]]]}),
            ),
            (
                Operation::wait("T", vec![], vec!["name".into()], WaitUntil::Eq, vec![]),
                json!({"op": "wait", "table": "T", "where": [], "columns": ["name"],
                       "until": "==", "rows": [], "timeout": 0}),
            ),
            (Operation::commit(true), json!({"op": "commit", "durable": true})),
            (Operation::Abort, json!({"op": "abort"})),
            (Operation::comment("hi"), json!({"op": "comment", "comment": "hi"})),
            (Operation::assert_lock("l"), json!({"op": "assert", "lock": "l"})),
            (
                Operation::delete("T", vec![Condition::includes("ids", Value::map([("a", "b")]))]),
                json!({"op": "delete", "table": "T", "where": [["ids", "includes", ["map", [["a", "b"]]]]]}),
            ),
        ];
        for (op, want) in cases {
            assert_eq!(op.to_json(), want);
        }
        assert_eq!(Condition::Literal(true).to_json(), json!(true));
    }

    #[test]
    fn results_are_typed_and_errors_carry_the_op_index() {
        let ops = vec![
            Operation::insert("T", Row::new()),
            Operation::select("T", vec![]),
            Operation::delete("T", vec![]),
            Operation::comment("c"),
        ];
        let u = Uuid::new_v4();
        let ok = json!([{"uuid": ["uuid", u.to_string()]}, {"rows": [{"name": "x"}]},
                        {"count": 2}, {}]);
        let results = parse_results(&ops, None, &ok).unwrap();
        assert_eq!(results[0].uuid(), Some(u));
        assert_eq!(results[1].rows().unwrap()[0]["name"], Value::from("x"));
        assert_eq!(results[2].count(), Some(2));
        assert_eq!(results[3], OpResult::Empty);

        let failed = json!([{"uuid": ["uuid", u.to_string()]}, {"error": "timed out",
                            "details": "wait"}, null, null]);
        match parse_results(&ops, None, &failed) {
            Err(OvsdbError::Transaction { op_index: 1, error, details }) => {
                assert_eq!((error.as_str(), details.as_deref()), ("timed out", Some("wait")));
            }
            other => panic!("{other:?}"),
        }
        let commit_failed = json!([{"uuid": ["uuid", u.to_string()]}, {"rows": []}, {"count": 0},
                                   {}, {"error": "referential integrity violation"}]);
        assert!(matches!(
            parse_results(&ops, None, &commit_failed),
            Err(OvsdbError::Transaction { op_index: 4, .. })
        ));
    }

    #[test]
    fn validation_rejects_unknown_tables_and_columns() {
        let schema = Schema::from_json(&json!({"name": "D", "tables": {"T": {"columns": {
            "name": {"type": "string"}}}}}))
        .unwrap();
        assert!(Operation::insert("T", row([("name", "x".into())])).validate(&schema).is_ok());
        assert!(Operation::select("T", vec![Condition::uuid(Uuid::nil())])
            .validate(&schema)
            .is_ok());
        assert!(matches!(
            Operation::insert("U", Row::new()).validate(&schema),
            Err(OvsdbError::UnknownTable { .. })
        ));
        assert!(matches!(
            Operation::update("T", vec![], row([("tier", 1.into())])).validate(&schema),
            Err(OvsdbError::UnknownColumn { column, .. }) if column == "tier"
        ));
        assert!(Operation::update(
            "T",
            vec![],
            row([("_uuid", Value::from(Atom::Uuid(Uuid::nil())))])
        )
        .validate(&schema)
        .is_err());
        assert!(Operation::insert("T", Row::new())
            .with_uuid_name("1bad")
            .validate(&schema)
            .is_err());
    }
}
