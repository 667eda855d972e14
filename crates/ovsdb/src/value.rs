//! OVSDB values: atoms, sets and maps, and their JSON wire encodings (RFC 7047 §5.1).
//!
//! The wire format is ambiguous on its own: a set holding exactly one element is sent as the bare
//! atom, so `"x"` may be a string column or a one-element set of strings. [`Value::from_json`]
//! therefore decodes a bare atom as [`Value::Atom`]; code that knows the column type (the monitor
//! cache, `select` results) calls [`crate::ColumnType::normalize`] to turn it into a
//! [`Value::Set`] where the column is a set. Encoding is unambiguous: a one-element
//! [`Value::Set`] is written as the bare atom, an empty set as `["set", []]`, and a map always in
//! the tagged form `["map", [[k, v], …]]`.
//!
//! Atoms are totally ordered (reals by `f64::total_cmp`) so sets and maps are `BTreeSet`/`BTreeMap`
//! with a canonical order: two values that mean the same set compare equal.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value as Json};
use uuid::Uuid;

/// A JSON value that is not a valid OVSDB atom or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OVSDB value {json}: {reason}")]
pub struct ValueError {
    /// The offending JSON, abbreviated.
    pub json: String,
    /// Why it was rejected.
    pub reason: String,
}

impl ValueError {
    pub(crate) fn new(json: &Json, reason: impl Into<String>) -> Self {
        let mut text = json.to_string();
        if text.len() > 200 {
            let mut cut = 200;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        Self { json: text, reason: reason.into() }
    }
}

/// One OVSDB atom (RFC 7047 §5.1 `<atom>`), plus the transaction-local named UUID.
#[derive(Debug, Clone)]
pub enum Atom {
    /// A 64-bit signed integer.
    Integer(i64),
    /// A real number.
    Real(f64),
    /// A boolean.
    Boolean(bool),
    /// A UTF-8 string.
    String(String),
    /// A row UUID, encoded `["uuid", "<uuid>"]`.
    Uuid(Uuid),
    /// A symbolic UUID declared by an `insert` op's `uuid-name` in the same transaction, encoded
    /// `["named-uuid", "<name>"]`.
    NamedUuid(String),
}

impl Atom {
    /// The `["named-uuid", name]` atom referring to a row inserted earlier in the same transaction.
    pub fn named_uuid(name: impl Into<String>) -> Self {
        Atom::NamedUuid(name.into())
    }

    /// The string, if this is a string atom.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer atom.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The number, if this is a real or an integer atom.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Atom::Real(r) => Some(*r),
            Atom::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean atom.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Atom::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The UUID, if this is a (non-named) UUID atom.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    /// The JSON wire encoding of this atom.
    pub fn to_json(&self) -> Json {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    /// Decodes an atom from its JSON wire encoding. A JSON number without fraction or exponent
    /// that fits `i64` becomes [`Atom::Integer`], any other number [`Atom::Real`].
    pub fn from_json(json: &Json) -> Result<Self, ValueError> {
        match json {
            Json::Bool(b) => Ok(Atom::Boolean(*b)),
            Json::String(s) => Ok(Atom::String(s.clone())),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Atom::Integer(i))
                } else if n.is_u64() {
                    Err(ValueError::new(json, "integer out of the 64-bit signed range"))
                } else {
                    n.as_f64()
                        .map(Atom::Real)
                        .ok_or_else(|| ValueError::new(json, "number is not representable"))
                }
            }
            Json::Array(items) => match items.as_slice() {
                [Json::String(tag), Json::String(text)] if tag == "uuid" => Uuid::parse_str(text)
                    .map(Atom::Uuid)
                    .map_err(|e| ValueError::new(json, format!("bad uuid: {e}"))),
                [Json::String(tag), Json::String(name)] if tag == "named-uuid" => {
                    Ok(Atom::NamedUuid(name.clone()))
                }
                _ => Err(ValueError::new(json, "expected an atom")),
            },
            Json::Null | Json::Object(_) => Err(ValueError::new(json, "expected an atom")),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
            Atom::NamedUuid(_) => 5,
        }
    }
}

impl Ord for Atom {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.total_cmp(b),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            (Atom::NamedUuid(a), Atom::NamedUuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Atom {}

impl Hash for Atom {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Atom::Integer(i) => i.hash(state),
            Atom::Real(r) => r.to_bits().hash(state),
            Atom::Boolean(b) => b.hash(state),
            Atom::String(s) | Atom::NamedUuid(s) => s.hash(state),
            Atom::Uuid(u) => u.hash(state),
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Integer(i) => write!(f, "{i}"),
            Atom::Real(r) => write!(f, "{r}"),
            Atom::Boolean(b) => write!(f, "{b}"),
            Atom::String(s) => write!(f, "{s:?}"),
            Atom::Uuid(u) => write!(f, "{u}"),
            Atom::NamedUuid(n) => write!(f, "@{n}"),
        }
    }
}

impl From<i64> for Atom {
    fn from(v: i64) -> Self {
        Atom::Integer(v)
    }
}

impl From<f64> for Atom {
    fn from(v: f64) -> Self {
        Atom::Real(v)
    }
}

impl From<bool> for Atom {
    fn from(v: bool) -> Self {
        Atom::Boolean(v)
    }
}

impl From<&str> for Atom {
    fn from(v: &str) -> Self {
        Atom::String(v.to_owned())
    }
}

impl From<String> for Atom {
    fn from(v: String) -> Self {
        Atom::String(v)
    }
}

impl From<&String> for Atom {
    fn from(v: &String) -> Self {
        Atom::String(v.clone())
    }
}

impl From<Uuid> for Atom {
    fn from(v: Uuid) -> Self {
        Atom::Uuid(v)
    }
}

impl Serialize for Atom {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Atom {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Json::deserialize(deserializer)?;
        Atom::from_json(&json).map_err(serde::de::Error::custom)
    }
}

/// An OVSDB column value (RFC 7047 §5.1 `<value>`): an atom, a set or a map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// A single atom (a scalar column, or a one-element set before normalization).
    Atom(Atom),
    /// A set of atoms; encoded as the bare atom when it has exactly one element.
    Set(BTreeSet<Atom>),
    /// A map from key atoms to value atoms.
    Map(BTreeMap<Atom, Atom>),
}

/// A row: column name → value. Rows read from the server also carry `_uuid` (and, from
/// `select`, `_version`).
pub type Row = BTreeMap<String, Value>;

/// Builds a [`Row`] from `(column, value)` pairs: `row([("name", "sw0".into())])`.
pub fn row<K: Into<String>>(columns: impl IntoIterator<Item = (K, Value)>) -> Row {
    columns.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

impl Value {
    /// A set of the given atoms.
    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Self {
        Value::Set(items.into_iter().map(Into::into).collect())
    }

    /// The empty set, `["set", []]` (also the "absent" value of an optional column).
    pub fn empty_set() -> Self {
        Value::Set(BTreeSet::new())
    }

    /// A map of the given pairs.
    pub fn map<K: Into<Atom>, V: Into<Atom>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The empty map, `["map", []]`.
    pub fn empty_map() -> Self {
        Value::Map(BTreeMap::new())
    }

    /// A UUID atom value.
    pub fn uuid(uuid: Uuid) -> Self {
        Value::Atom(Atom::Uuid(uuid))
    }

    /// A `["named-uuid", name]` atom value.
    pub fn named_uuid(name: impl Into<String>) -> Self {
        Value::Atom(Atom::NamedUuid(name.into()))
    }

    /// The single atom of a scalar value or a one-element set.
    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Value::Atom(a) => Some(a),
            Value::Set(s) if s.len() == 1 => s.iter().next(),
            _ => None,
        }
    }

    /// The string of a string scalar (or one-element set).
    pub fn as_str(&self) -> Option<&str> {
        self.as_atom().and_then(Atom::as_str)
    }

    /// The integer of an integer scalar (or one-element set).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_atom().and_then(Atom::as_i64)
    }

    /// The number of a real or integer scalar (or one-element set).
    pub fn as_f64(&self) -> Option<f64> {
        self.as_atom().and_then(Atom::as_f64)
    }

    /// The boolean of a boolean scalar (or one-element set).
    pub fn as_bool(&self) -> Option<bool> {
        self.as_atom().and_then(Atom::as_bool)
    }

    /// The UUID of a UUID scalar (or one-element set).
    pub fn as_uuid(&self) -> Option<Uuid> {
        self.as_atom().and_then(Atom::as_uuid)
    }

    /// The elements of a set, treating a bare atom as a one-element set. Empty for a map.
    pub fn elements(&self) -> Vec<&Atom> {
        match self {
            Value::Atom(a) => vec![a],
            Value::Set(s) => s.iter().collect(),
            Value::Map(_) => Vec::new(),
        }
    }

    /// The pairs of a map; `None` for atoms and non-empty sets (an empty set counts as an empty
    /// map since the two have the same meaning when the column type is unknown).
    pub fn as_map(&self) -> Option<&BTreeMap<Atom, Atom>> {
        static EMPTY: BTreeMap<Atom, Atom> = BTreeMap::new();
        match self {
            Value::Map(m) => Some(m),
            Value::Set(s) if s.is_empty() => Some(&EMPTY),
            _ => None,
        }
    }

    /// The value stored under string key `key` of a map value.
    pub fn map_get(&self, key: &str) -> Option<&Atom> {
        self.as_map()?.get(&Atom::String(key.to_owned()))
    }

    /// The JSON wire encoding of this value.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Atom(a) => a.to_json(),
            Value::Set(s) if s.len() == 1 => s.iter().next().map(Atom::to_json).unwrap_or_default(),
            Value::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Value::Map(m) => json!([
                "map",
                m.iter().map(|(k, v)| json!([k.to_json(), v.to_json()])).collect::<Vec<_>>()
            ]),
        }
    }

    /// Decodes a value from its JSON wire encoding without knowing the column type: a bare atom
    /// becomes [`Value::Atom`] (see the module doc for normalization).
    pub fn from_json(json: &Json) -> Result<Self, ValueError> {
        if let Json::Array(items) = json {
            if let [Json::String(tag), Json::Array(elems)] = items.as_slice() {
                if tag == "set" {
                    return elems
                        .iter()
                        .map(Atom::from_json)
                        .collect::<Result<_, _>>()
                        .map(Value::Set);
                }
                if tag == "map" {
                    let mut map = BTreeMap::new();
                    for pair in elems {
                        let Some([k, v]) = pair
                            .as_array()
                            .map(Vec::as_slice)
                            .and_then(|p| <&[Json; 2]>::try_from(p).ok())
                        else {
                            return Err(ValueError::new(json, "map pair is not [key, value]"));
                        };
                        map.insert(Atom::from_json(k)?, Atom::from_json(v)?);
                    }
                    return Ok(Value::Map(map));
                }
            }
        }
        Atom::from_json(json).map(Value::Atom)
    }
}

impl<T: Into<Atom>> From<T> for Value {
    fn from(v: T) -> Self {
        Value::Atom(v.into())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Json::deserialize(deserializer)?;
        Value::from_json(&json).map_err(serde::de::Error::custom)
    }
}

/// The JSON encoding of a row (`{"col": value, …}`).
pub fn row_to_json(row: &Row) -> Json {
    Json::Object(row.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

    fn u1() -> Uuid {
        Uuid::parse_str(U1).unwrap()
    }

    /// Each case: the value, its wire JSON, and the value decoded back from that JSON without a
    /// schema (a one-element set comes back as the bare atom).
    #[test]
    fn value_encodings_round_trip_through_json() {
        let cases: Vec<(Value, Json, Value)> = vec![
            (Value::from(42), json!(42), Value::from(42)),
            (Value::from(-7i64), json!(-7), Value::from(-7i64)),
            (Value::from(i64::MAX), json!(i64::MAX), Value::from(i64::MAX)),
            (Value::from(1.5), json!(1.5), Value::from(1.5)),
            (Value::from(true), json!(true), Value::from(true)),
            (Value::from("sw0"), json!("sw0"), Value::from("sw0")),
            (Value::from(""), json!(""), Value::from("")),
            (Value::from("a\"b{c}"), json!("a\"b{c}"), Value::from("a\"b{c}")),
            (Value::uuid(u1()), json!(["uuid", U1]), Value::uuid(u1())),
            (Value::named_uuid("row1"), json!(["named-uuid", "row1"]), Value::named_uuid("row1")),
            (Value::empty_set(), json!(["set", []]), Value::empty_set()),
            (Value::set(["a"]), json!("a"), Value::from("a")),
            (Value::set(["b", "a"]), json!(["set", ["a", "b"]]), Value::set(["a", "b"])),
            (
                Value::set([Atom::Uuid(u1()), Atom::named_uuid("x")]),
                json!(["set", [["uuid", U1], ["named-uuid", "x"]]]),
                Value::set([Atom::Uuid(u1()), Atom::named_uuid("x")]),
            ),
            (Value::empty_map(), json!(["map", []]), Value::empty_map()),
            (Value::map([("k", "v")]), json!(["map", [["k", "v"]]]), Value::map([("k", "v")])),
            (
                Value::map([("b", 2), ("a", 1)]),
                json!(["map", [["a", 1], ["b", 2]]]),
                Value::map([("a", 1), ("b", 2)]),
            ),
            (
                Value::map([(1, Atom::Uuid(u1()))]),
                json!(["map", [[1, ["uuid", U1]]]]),
                Value::map([(1, Atom::Uuid(u1()))]),
            ),
        ];
        for (value, wire, decoded) in cases {
            assert_eq!(value.to_json(), wire, "encoding {value:?}");
            assert_eq!(Value::from_json(&wire).unwrap(), decoded, "decoding {wire}");
            let via_serde: Value = serde_json::from_str(&serde_json::to_string(&value).unwrap())
                .expect("serde round trip");
            assert_eq!(via_serde, decoded);
        }
    }

    #[test]
    fn malformed_values_are_rejected() {
        let bad = [
            json!(null),
            json!({"a": 1}),
            json!(["uuid", "not-a-uuid"]),
            json!(["uuid"]),
            json!(["set", [["set", []]]]),
            json!(["map", [["k"]]]),
            json!(["map", [1]]),
            json!(["bogus", []]),
            json!(u64::MAX),
        ];
        for json in bad {
            assert!(Value::from_json(&json).is_err(), "{json} should not decode");
        }
    }

    #[test]
    fn accessors_see_through_one_element_sets() {
        assert_eq!(Value::set(["x"]).as_str(), Some("x"));
        assert_eq!(Value::from(3).as_i64(), Some(3));
        assert_eq!(Value::from(3).as_f64(), Some(3.0));
        assert_eq!(Value::set([true]).as_bool(), Some(true));
        assert_eq!(Value::set(["a", "b"]).as_str(), None);
        assert_eq!(Value::uuid(u1()).as_uuid(), Some(u1()));
        assert_eq!(Value::map([("k", "v")]).map_get("k"), Some(&Atom::from("v")));
        assert_eq!(Value::empty_set().as_map().map(BTreeMap::len), Some(0));
        assert_eq!(Value::from("a").elements(), vec![&Atom::from("a")]);
    }

    #[test]
    fn atoms_order_totally_including_reals() {
        assert_eq!(Atom::Real(f64::NAN), Atom::Real(f64::NAN));
        assert!(Atom::Integer(5) < Atom::Real(0.0));
        assert_eq!(Value::set([1.0, 1.0]).elements().len(), 1);
    }
}
