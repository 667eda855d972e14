//! Parsing `POST /v3/auth/tokens` request bodies.
//!
//! The body is walked by hand rather than deserialised so that every way it can be wrong gets
//! Keystone's answer: 400 with a message naming the attribute for missing keys and wrong types,
//! 401 for a method neutrino does not implement. The order of checks follows Keystone's: every
//! listed method must have its object in `identity` (400) before unsupported methods are
//! refused (401).

use serde_json::{Map, Value};

use crate::IdentityError;

/// Keystone's message for an authentication method it does not implement.
pub const UNSUPPORTED_METHOD_MESSAGE: &str =
    "Attempted to authenticate with an unsupported method.";

/// A domain named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DomainRef {
    Id(String),
    Name(String),
}

/// A user or project named by id, or by name within a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ObjectRef {
    /// By id; a `domain` sent alongside is accepted and ignored (the id is unique anyway).
    Id(String),
    Name {
        name: String,
        domain: DomainRef,
    },
}

/// The `password` method's credentials.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PasswordAuth {
    pub user: ObjectRef,
    pub password: String,
}

impl std::fmt::Debug for PasswordAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordAuth").field("user", &self.user).finish_non_exhaustive()
    }
}

/// The requested scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScopeRequest {
    /// No `scope`: the user's default project if usable, else unscoped.
    Default,
    /// `"scope": "unscoped"`.
    Unscoped,
    Project(ObjectRef),
    Domain(DomainRef),
    /// `{"system": {"all": true}}`.
    System,
}

/// A parsed authentication request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthRequest {
    /// Method names as listed (deduplicated, in order).
    pub methods: Vec<String>,
    pub password: Option<PasswordAuth>,
    /// The `token` method's token id.
    pub token: Option<String>,
    pub scope: ScopeRequest,
}

fn bad(message: impl Into<String>) -> IdentityError {
    IdentityError::BadRequest(message.into())
}

fn required(key: &str, path: &str) -> IdentityError {
    bad(format!("Invalid input for field '{path}': '{key}' is a required property."))
}

fn wrong_type(path: &str, expected: &str) -> IdentityError {
    bad(format!("Invalid input for field '{path}': expected {expected}."))
}

fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, IdentityError> {
    v.as_object().ok_or_else(|| wrong_type(path, "an object"))
}

/// A required object member.
fn req_object<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, IdentityError> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(required(key, path)),
        Some(v) => as_object(v, &format!("{path}.{key}")),
    }
}

/// An optional string member; `null` counts as absent.
fn opt_str<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, IdentityError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(&format!("{path}.{key}"), "a string")),
    }
}

fn parse_domain(obj: &Map<String, Value>, path: &str) -> Result<DomainRef, IdentityError> {
    if let Some(id) = opt_str(obj, "id", path)? {
        return Ok(DomainRef::Id(id.to_string()));
    }
    if let Some(name) = opt_str(obj, "name", path)? {
        return Ok(DomainRef::Name(name.to_string()));
    }
    Err(bad(format!("Invalid input for field '{path}': either 'id' or 'name' is required.")))
}

/// A user or project: `id`, or `name` plus `domain`.
fn parse_object_ref(obj: &Map<String, Value>, path: &str) -> Result<ObjectRef, IdentityError> {
    // A domain sent next to an id is accepted; it must still be well-formed.
    let domain = match obj.get("domain") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let dpath = format!("{path}.domain");
            Some(parse_domain(as_object(v, &dpath)?, &dpath)?)
        }
    };
    if let Some(id) = opt_str(obj, "id", path)? {
        return Ok(ObjectRef::Id(id.to_string()));
    }
    let Some(name) = opt_str(obj, "name", path)? else {
        return Err(bad(format!(
            "Invalid input for field '{path}': either 'id' or 'name' is required."
        )));
    };
    let Some(domain) = domain else {
        return Err(bad(format!(
            "Invalid input for field '{path}': 'domain' is required when 'name' is given."
        )));
    };
    Ok(ObjectRef::Name { name: name.to_string(), domain })
}

fn parse_scope(auth: &Map<String, Value>) -> Result<ScopeRequest, IdentityError> {
    let scope = match auth.get("scope") {
        None | Some(Value::Null) => return Ok(ScopeRequest::Default),
        Some(Value::String(s)) if s == "unscoped" => return Ok(ScopeRequest::Unscoped),
        Some(v) => as_object(v, "auth.scope")?,
    };
    let kinds: Vec<&str> = ["project", "domain", "system", "OS-TRUST:trust"]
        .into_iter()
        .filter(|k| scope.contains_key(*k))
        .collect();
    match kinds.as_slice() {
        ["project"] => {
            let project = req_object(scope, "project", "auth.scope")?;
            Ok(ScopeRequest::Project(parse_object_ref(project, "auth.scope.project")?))
        }
        ["domain"] => {
            let domain = req_object(scope, "domain", "auth.scope")?;
            Ok(ScopeRequest::Domain(parse_domain(domain, "auth.scope.domain")?))
        }
        ["system"] => {
            let system = req_object(scope, "system", "auth.scope")?;
            match system.get("all") {
                Some(Value::Bool(true)) => Ok(ScopeRequest::System),
                _ => Err(bad("Invalid input for field 'auth.scope.system': only {\"all\": true} is supported.")),
            }
        }
        ["OS-TRUST:trust"] => Err(bad("Trust scope is not supported.")),
        [] => Err(bad(
            "Invalid input for field 'auth.scope': expected one of 'project', 'domain' or 'system'.",
        )),
        _ => Err(bad(
            "Invalid input for field 'auth.scope': only one of 'project', 'domain' or 'system' may be given.",
        )),
    }
}

/// Parses an authentication request body (already known to be JSON).
pub(crate) fn parse_auth_request(body: &Value) -> Result<AuthRequest, IdentityError> {
    let root = as_object(body, "body")?;
    let auth = req_object(root, "auth", "body")?;
    let identity = req_object(auth, "identity", "auth")?;
    let methods = match identity.get("methods") {
        None | Some(Value::Null) => return Err(required("methods", "auth.identity")),
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(_) => return Err(wrong_type("auth.identity.methods", "a non-empty list of strings")),
    };
    let mut names: Vec<String> = Vec::with_capacity(methods.len());
    for m in methods {
        let Some(name) = m.as_str() else {
            return Err(wrong_type("auth.identity.methods", "a non-empty list of strings"));
        };
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    // Keystone's order: each listed method needs its object (400) ...
    for name in &names {
        if !identity.contains_key(name) {
            return Err(required(name, "auth.identity"));
        }
    }
    // ... and only then are unknown methods refused (401).
    if names.iter().any(|n| n != "password" && n != "token") {
        return Err(IdentityError::Unauthorized(UNSUPPORTED_METHOD_MESSAGE.to_string()));
    }

    let password = if names.iter().any(|n| n == "password") {
        let pw = req_object(identity, "password", "auth.identity")?;
        let user = req_object(pw, "user", "auth.identity.password")?;
        let user_ref = parse_object_ref(user, "auth.identity.password.user")?;
        let Some(password) = opt_str(user, "password", "auth.identity.password.user")? else {
            return Err(required("password", "auth.identity.password.user"));
        };
        Some(PasswordAuth { user: user_ref, password: password.to_string() })
    } else {
        None
    };
    let token = if names.iter().any(|n| n == "token") {
        let tok = req_object(identity, "token", "auth.identity")?;
        let Some(id) = opt_str(tok, "id", "auth.identity.token")? else {
            return Err(required("id", "auth.identity.token"));
        };
        Some(id.to_string())
    } else {
        None
    };
    let scope = parse_scope(auth)?;
    Ok(AuthRequest { methods: names, password, token, scope })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<AuthRequest, IdentityError> {
        parse_auth_request(&v)
    }

    fn status(v: Value) -> u16 {
        parse(v).map(|_| 200).unwrap_or_else(|e| e.status())
    }

    #[test]
    fn password_by_name_scoped_to_project_by_name() {
        let req = parse(json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "s"}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}))
        .unwrap();
        assert_eq!(req.methods, ["password"]);
        let pw = req.password.unwrap();
        assert_eq!(
            pw.user,
            ObjectRef::Name { name: "admin".into(), domain: DomainRef::Name("Default".into()) }
        );
        assert_eq!(pw.password, "s");
        assert_eq!(
            req.scope,
            ScopeRequest::Project(ObjectRef::Name {
                name: "admin".into(),
                domain: DomainRef::Name("Default".into())
            })
        );
    }

    #[test]
    fn ids_with_domain_next_to_them_and_mixed_forms() {
        let req = parse(json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"id": "u1", "domain": {"id": "default"}, "password": "s"}}},
            "scope": {"project": {"id": "p1", "domain": {"id": "default"}}}}}))
        .unwrap();
        assert_eq!(req.password.unwrap().user, ObjectRef::Id("u1".into()));
        assert_eq!(req.scope, ScopeRequest::Project(ObjectRef::Id("p1".into())));

        let req = parse(json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"id": "u1", "password": "s"}}},
            "scope": {"project": {"name": "p", "domain": {"id": "default"}}}}}))
        .unwrap();
        assert_eq!(
            req.scope,
            ScopeRequest::Project(ObjectRef::Name {
                name: "p".into(),
                domain: DomainRef::Id("default".into())
            })
        );
    }

    #[test]
    fn other_scopes_and_token_method() {
        let base = |scope: Value| {
            json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "abc"}},
                "scope": scope}})
        };
        assert_eq!(
            parse(base(json!({"system": {"all": true}}))).unwrap().scope,
            ScopeRequest::System
        );
        assert_eq!(
            parse(base(json!({"domain": {"name": "Default"}}))).unwrap().scope,
            ScopeRequest::Domain(DomainRef::Name("Default".into()))
        );
        assert_eq!(parse(base(json!("unscoped"))).unwrap().scope, ScopeRequest::Unscoped);
        let req =
            parse(json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "abc"}}}}))
                .unwrap();
        assert_eq!(req.token.as_deref(), Some("abc"));
        assert_eq!(req.scope, ScopeRequest::Default);
    }

    #[test]
    fn unsupported_method_is_401_but_missing_method_object_is_400() {
        let err =
            parse(json!({"auth": {"identity": {"methods": ["totp"], "totp": {}}}})).unwrap_err();
        assert_eq!(err.status(), 401);
        assert_eq!(err.to_string(), UNSUPPORTED_METHOD_MESSAGE);
        assert_eq!(status(json!({"auth": {"identity": {"methods": ["totp"]}}})), 400);
    }

    #[test]
    fn malformed_requests_are_400() {
        let user = json!({"name": "admin", "domain": {"name": "Default"}, "password": "s"});
        let cases = vec![
            json!([]),
            json!("auth"),
            json!({}),
            json!({"auth": []}),
            json!({"auth": {}}),
            json!({"auth": {"identity": {}}}),
            json!({"auth": {"identity": {"methods": []}}}),
            json!({"auth": {"identity": {"methods": "password", "password": {"user": user}}}}),
            json!({"auth": {"identity": {"methods": [1], "password": {"user": user}}}}),
            json!({"auth": {"identity": {"methods": ["password"]}}}),
            json!({"auth": {"identity": {"methods": ["password"], "password": {}}}}),
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": "admin"}}}}),
            // password missing, or not a string
            json!({"auth": {"identity": {"methods": ["password"],
                "password": {"user": {"name": "admin", "domain": {"name": "Default"}}}}}}),
            json!({"auth": {"identity": {"methods": ["password"],
                "password": {"user": {"id": "u", "password": 5}}}}}),
            // name without domain; domain without id or name; id of wrong type
            json!({"auth": {"identity": {"methods": ["password"],
                "password": {"user": {"name": "admin", "password": "s"}}}}}),
            json!({"auth": {"identity": {"methods": ["password"],
                "password": {"user": {"name": "admin", "domain": {}, "password": "s"}}}}}),
            json!({"auth": {"identity": {"methods": ["password"],
                "password": {"user": {"id": 7, "password": "s"}}}}}),
            // scope problems
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": {"name": "p"}}}}),
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": {"id": "p"}, "domain": {"id": "default"}}}}),
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": "p"}}}),
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {}}}),
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                "scope": 3}}),
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"system": {"all": "yes"}}}}),
            json!({"auth": {"identity": {"methods": ["token"], "token": {}}}}),
        ];
        for case in cases {
            assert_eq!(status(case.clone()), 400, "{case}");
        }
    }
}
