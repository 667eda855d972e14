//! Request bodies of the admin API, checked as Keystone's JSON schemas do: the envelope
//! (`{"project": {...}}`) must be an object, known attributes must have their type (a string
//! where `null` is also accepted means "none"), and any other attribute is kept in `extra`, as
//! Keystone stores and returns it. Every refusal is a 400.

use serde_json::{Map, Value};

use crate::IdentityError;

/// Most tags on one project (Keystone's limit).
const MAX_TAGS: usize = 80;

/// Longest tag (characters).
const MAX_TAG_LEN: usize = 255;

/// Attributes the API itself handles (or ignores, like `links`) for each kind.
const PROJECT_KEYS: [&str; 10] = [
    "id",
    "links",
    "name",
    "description",
    "domain_id",
    "enabled",
    "parent_id",
    "is_domain",
    "tags",
    "options",
];
const USER_KEYS: [&str; 11] = [
    "id",
    "links",
    "name",
    "password",
    "domain_id",
    "default_project_id",
    "enabled",
    "description",
    "email",
    "options",
    "password_expires_at",
];
const ROLE_KEYS: [&str; 6] = ["id", "links", "name", "description", "domain_id", "options"];

fn invalid(field: &str, expected: &str) -> IdentityError {
    IdentityError::BadRequest(format!("Invalid input for field '{field}': expected {expected}."))
}

/// The object under `key` in a request body (`{"project": {...}}`).
fn envelope<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, IdentityError> {
    match body.get(key) {
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(invalid(key, "an object")),
        None => Err(IdentityError::BadRequest(format!("Expecting to find {key} in request body."))),
    }
}

/// Typed access to the attributes of one object.
struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// Absent: None; `null`: Some(None); a string: Some(Some(s)); anything else: 400.
    fn nullable_string(&self, key: &str) -> Result<Option<Option<&'a str>>, IdentityError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.as_str()))),
            Some(_) => Err(invalid(key, "a string or null")),
        }
    }

    /// A string attribute where `null` means "none" (stored as '').
    fn text(&self, key: &str) -> Result<Option<String>, IdentityError> {
        Ok(self.nullable_string(key)?.map(|s| s.unwrap_or("").to_string()))
    }

    /// A string attribute that may not be `null`.
    fn string(&self, key: &str) -> Result<Option<&'a str>, IdentityError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(invalid(key, "a string")),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, IdentityError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid(key, "a boolean")),
        }
    }

    fn object(&self, key: &str) -> Result<Option<Map<String, Value>>, IdentityError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map.clone())),
            Some(_) => Err(invalid(key, "an object")),
        }
    }

    /// `tags`: up to 80 strings of 1 to 255 characters without `/` or `,`.
    fn tags(&self) -> Result<Option<Vec<Value>>, IdentityError> {
        let Some(value) = self.0.get("tags") else { return Ok(None) };
        let expected = "a list of at most 80 tags, each 1 to 255 characters without '/' or ','";
        let Value::Array(items) = value else { return Err(invalid("tags", expected)) };
        if items.len() > MAX_TAGS {
            return Err(invalid("tags", expected));
        }
        let mut tags: Vec<Value> = Vec::with_capacity(items.len());
        for item in items {
            let Value::String(tag) = item else { return Err(invalid("tags", expected)) };
            let len = tag.chars().count();
            if len == 0 || len > MAX_TAG_LEN || tag.contains(['/', ',']) {
                return Err(invalid("tags", expected));
            }
            if !tags.contains(item) {
                tags.push(item.clone());
            }
        }
        Ok(Some(tags))
    }

    /// Every attribute not in `known`.
    fn extras(&self, known: &[&str]) -> Map<String, Value> {
        self.0
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A project create or update body. `None`: attribute absent (create: default; update: keep).
#[derive(Debug, Default)]
pub(crate) struct ProjectInput {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Some(None): `null`, the caller's domain.
    pub domain_id: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// Some(None): `null`, top-level.
    pub parent_id: Option<Option<String>>,
    pub is_domain: Option<bool>,
    pub tags: Option<Vec<Value>>,
    pub options: Option<Map<String, Value>>,
    /// Attributes Keystone stores as they are.
    pub extra: Map<String, Value>,
}

impl ProjectInput {
    /// Parses `{"project": {...}}`.
    pub(crate) fn parse(body: &Value) -> Result<ProjectInput, IdentityError> {
        let f = Fields(envelope(body, "project")?);
        Ok(ProjectInput {
            id: f.string("id")?.map(str::to_string),
            name: f.string("name")?.map(str::to_string),
            description: f.text("description")?,
            domain_id: f.nullable_string("domain_id")?.map(|d| d.map(str::to_string)),
            enabled: f.boolean("enabled")?,
            parent_id: f.nullable_string("parent_id")?.map(|p| p.map(str::to_string)),
            is_domain: f.boolean("is_domain")?,
            tags: f.tags()?,
            options: f.object("options")?,
            extra: f.extras(&PROJECT_KEYS),
        })
    }
}

/// A user create or update body.
#[derive(Default)]
pub(crate) struct UserInput {
    pub id: Option<String>,
    pub name: Option<String>,
    /// Some(None): `null`, no password.
    pub password: Option<Option<String>>,
    pub domain_id: Option<Option<String>>,
    /// Some(""): `null`, none.
    pub default_project_id: Option<String>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub options: Option<Map<String, Value>>,
    pub extra: Map<String, Value>,
}

impl std::fmt::Debug for UserInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserInput")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("domain_id", &self.domain_id)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl UserInput {
    /// Parses `{"user": {...}}`.
    pub(crate) fn parse(body: &Value) -> Result<UserInput, IdentityError> {
        let f = Fields(envelope(body, "user")?);
        Ok(UserInput {
            id: f.string("id")?.map(str::to_string),
            name: f.string("name")?.map(str::to_string),
            password: f.nullable_string("password")?.map(|p| p.map(str::to_string)),
            domain_id: f.nullable_string("domain_id")?.map(|d| d.map(str::to_string)),
            default_project_id: f.text("default_project_id")?,
            enabled: f.boolean("enabled")?,
            description: f.text("description")?,
            email: f.text("email")?,
            options: f.object("options")?,
            extra: f.extras(&USER_KEYS),
        })
    }
}

/// A role create body.
#[derive(Debug, Default)]
pub(crate) struct RoleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Some(Some(_)): a domain-specific role, which neutrino does not support.
    pub domain_id: Option<Option<String>>,
    pub options: Option<Map<String, Value>>,
    pub extra: Map<String, Value>,
}

impl RoleInput {
    /// Parses `{"role": {...}}`.
    pub(crate) fn parse(body: &Value) -> Result<RoleInput, IdentityError> {
        let f = Fields(envelope(body, "role")?);
        Ok(RoleInput {
            name: f.string("name")?.map(str::to_string),
            description: f.text("description")?,
            domain_id: f.nullable_string("domain_id")?.map(|d| d.map(str::to_string)),
            options: f.object("options")?,
            extra: f.extras(&ROLE_KEYS),
        })
    }
}

/// Applies an update's extra attributes: `null` removes one, anything else sets it.
pub(crate) fn merge_extra(extra: &mut Map<String, Value>, changes: Map<String, Value>) {
    for (key, value) in changes {
        if value.is_null() {
            extra.remove(&key);
        } else {
            extra.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn status<T: std::fmt::Debug>(r: Result<T, IdentityError>) -> u16 {
        r.unwrap_err().status()
    }

    #[test]
    fn project_bodies_are_typed_and_keep_unknown_attributes() {
        let p = ProjectInput::parse(&json!({"project": {"name": "p", "description": null,
            "domain_id": "default", "enabled": false, "tags": ["a", "b", "a"],
            "colour": "blue", "links": {}}}))
        .unwrap();
        assert_eq!(p.name.as_deref(), Some("p"));
        assert_eq!(p.description.as_deref(), Some(""));
        assert_eq!(p.domain_id, Some(Some("default".to_string())));
        assert_eq!(p.enabled, Some(false));
        assert_eq!(p.tags, Some(vec![json!("a"), json!("b")]));
        assert_eq!(Value::Object(p.extra), json!({"colour": "blue"}));

        for body in [
            json!({}),
            json!({"project": "p"}),
            json!({"project": {"name": 1}}),
            json!({"project": {"name": null}}),
            json!({"project": {"name": "p", "enabled": "true"}}),
            json!({"project": {"name": "p", "enabled": null}}),
            json!({"project": {"name": "p", "description": 5}}),
            json!({"project": {"name": "p", "domain_id": []}}),
            json!({"project": {"name": "p", "tags": "a"}}),
            json!({"project": {"name": "p", "tags": ["a/b"]}}),
            json!({"project": {"name": "p", "tags": [""]}}),
            json!({"project": {"name": "p", "tags": [1]}}),
            json!({"project": {"name": "p", "options": []}}),
            json!({"project": {"name": "p", "is_domain": "no"}}),
        ] {
            assert_eq!(status(ProjectInput::parse(&body)), 400, "{body}");
        }
    }

    #[test]
    fn user_and_role_bodies_are_typed() {
        let u = UserInput::parse(&json!({"user": {"name": "u", "password": "pw",
            "default_project_id": null, "email": "u@example.org", "enabled": true}}))
        .unwrap();
        assert_eq!(u.password, Some(Some("pw".to_string())));
        assert_eq!(u.default_project_id.as_deref(), Some(""));
        assert_eq!(u.email.as_deref(), Some("u@example.org"));
        assert!(!format!("{u:?}").contains("pw\""));
        let u = UserInput::parse(&json!({"user": {"password": null}})).unwrap();
        assert_eq!(u.password, Some(None));
        for body in [
            json!({"user": []}),
            json!({"user": {"name": "u", "password": 5}}),
            json!({"user": {"name": "u", "enabled": 1}}),
            json!({"user": {"name": "u", "default_project_id": 5}}),
            json!({"user": {"name": "u", "email": false}}),
        ] {
            assert_eq!(status(UserInput::parse(&body)), 400, "{body}");
        }
        let r = RoleInput::parse(&json!({"role": {"name": "x", "domain_id": null}})).unwrap();
        assert_eq!(r.domain_id, Some(None));
        assert_eq!(status(RoleInput::parse(&json!({"role": {"name": 3}}))), 400);
        assert_eq!(status(RoleInput::parse(&json!({"roles": {}}))), 400);
    }

    #[test]
    fn extras_merge_and_null_removes() {
        let mut extra = json!({"a": 1, "b": 2}).as_object().unwrap().clone();
        merge_extra(&mut extra, json!({"a": null, "c": 3}).as_object().unwrap().clone());
        assert_eq!(Value::Object(extra), json!({"b": 2, "c": 3}));
    }
}
