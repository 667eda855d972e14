//! JSON-RPC 1.0 messages as OVSDB uses them (RFC 7047 §4).
//!
//! Requests are `{"method", "params", "id"}` with no `"jsonrpc"` member, notifications the same
//! with `"id": null`, responses `{"id", "result", "error"}`. ovsdb-server leaves `result` out of
//! error replies, and its `error` is sometimes a bare string (`"unknown method"`) and sometimes an
//! object (`{"error": "unknown database", "details": …, "syntax": …}`); [`RpcError`] accepts both.

use std::fmt;

use serde_json::{json, Value as Json};

/// An error returned by the server for a request (or inside a transaction result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The short error tag, e.g. `"unknown database"`, `"not owner"`, `"timed out"`.
    pub error: String,
    /// Human-readable details, when given.
    pub details: Option<String>,
    /// The offending request fragment, when given.
    pub syntax: Option<String>,
}

impl RpcError {
    /// Decodes the `error` member of a response: a string or an object with `error`, `details`
    /// and `syntax`.
    pub fn from_json(json: &Json) -> Self {
        let text = |v: &Json| match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        match json {
            Json::String(s) => Self { error: s.clone(), details: None, syntax: None },
            Json::Object(obj) => Self {
                error: obj.get("error").map(text).unwrap_or_else(|| json.to_string()),
                details: obj.get("details").filter(|v| !v.is_null()).map(text),
                syntax: obj.get("syntax").filter(|v| !v.is_null()).map(text),
            },
            other => Self { error: other.to_string(), details: None, syntax: None },
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)?;
        if let Some(details) = &self.details {
            write!(f, " ({details})")?;
        }
        Ok(())
    }
}

/// One decoded incoming message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// A request from the server (only `echo` in practice) that needs a reply with the same id.
    Request { method: String, params: Json, id: Json },
    /// A notification (`update2`, `update3`, `locked`, `stolen`, …).
    Notification { method: String, params: Json },
    /// A reply to one of our requests.
    Response { id: Json, result: Result<Json, RpcError> },
}

impl Incoming {
    /// Classifies a framed JSON object; `Err` names what is wrong with it.
    pub(crate) fn from_json(msg: Json) -> Result<Self, String> {
        let Json::Object(mut obj) = msg else {
            return Err("message is not an object".into());
        };
        let id = obj.remove("id").unwrap_or(Json::Null);
        if let Some(method) = obj.remove("method") {
            let Json::String(method) = method else {
                return Err("\"method\" is not a string".into());
            };
            let params = obj.remove("params").unwrap_or_else(|| json!([]));
            return Ok(if id.is_null() {
                Incoming::Notification { method, params }
            } else {
                Incoming::Request { method, params, id }
            });
        }
        if id.is_null() {
            return Err("message has neither \"method\" nor \"id\"".into());
        }
        let result = match obj.remove("error") {
            Some(err) if !err.is_null() => Err(RpcError::from_json(&err)),
            _ => Ok(obj.remove("result").unwrap_or(Json::Null)),
        };
        Ok(Incoming::Response { id, result })
    }
}

/// Encodes a request.
pub(crate) fn request(method: &str, params: &Json, id: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({"method": method, "params": params, "id": id}))
        .expect("JSON values always serialize")
}

/// Encodes a successful reply.
pub(crate) fn reply(id: &Json, result: &Json) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "result": result, "error": null}))
        .expect("JSON values always serialize")
}

/// Encodes an error reply.
pub(crate) fn error_reply(id: &Json, error: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "result": null, "error": error}))
        .expect("JSON values always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified() {
        let cases = vec![
            (
                json!({"method": "echo", "params": [1], "id": "e1"}),
                Incoming::Request { method: "echo".into(), params: json!([1]), id: json!("e1") },
            ),
            (
                json!({"method": "update2", "params": ["m", {}], "id": null}),
                Incoming::Notification { method: "update2".into(), params: json!(["m", {}]) },
            ),
            (
                json!({"id": 3, "result": ["a"], "error": null}),
                Incoming::Response { id: json!(3), result: Ok(json!(["a"])) },
            ),
            (
                json!({"id": 4, "error": "unknown method"}),
                Incoming::Response {
                    id: json!(4),
                    result: Err(RpcError {
                        error: "unknown method".into(),
                        details: None,
                        syntax: None,
                    }),
                },
            ),
            (
                json!({"id": 5, "result": null,
                       "error": {"error": "unknown database", "details": "no db X", "syntax": "[\"X\"]"}}),
                Incoming::Response {
                    id: json!(5),
                    result: Err(RpcError {
                        error: "unknown database".into(),
                        details: Some("no db X".into()),
                        syntax: Some("[\"X\"]".into()),
                    }),
                },
            ),
        ];
        for (json, want) in cases {
            assert_eq!(Incoming::from_json(json.clone()).unwrap(), want, "{json}");
        }
        assert!(Incoming::from_json(json!([1])).is_err());
        assert!(Incoming::from_json(json!({"result": 1})).is_err());
    }

    #[test]
    fn requests_have_no_jsonrpc_member() {
        let bytes = request("list_dbs", &json!([]), 7);
        let v: Json = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v, json!({"method": "list_dbs", "params": [], "id": 7}));
    }
}
