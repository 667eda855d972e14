//! Response bodies of the admin API, in Keystone's shapes (`identity.md` §7). `url` is always
//! the identity URL (`http://host:9696/v3`), from which every `links.self` is built.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::store::{Assignment, DomainDetail, ProjectDetail, RoleDetail, UserDetail};

/// Starts an entity from its extra attributes; the fields set afterwards win.
fn base(extra: &Map<String, Value>) -> Map<String, Value> {
    extra.clone()
}

fn self_link(url: &str, path: &str) -> Value {
    json!({ "self": format!("{url}/{path}") })
}

/// `{"id", "name", "description", "enabled", "tags", "options", "links"}`.
pub(crate) fn domain(url: &str, d: &DomainDetail) -> Value {
    let mut m = base(&d.extra);
    m.insert("id".into(), json!(d.id));
    m.insert("name".into(), json!(d.name));
    m.insert("description".into(), json!(d.description));
    m.insert("enabled".into(), json!(d.enabled));
    m.entry("tags").or_insert_with(|| json!([]));
    m.entry("options").or_insert_with(|| json!({}));
    m.insert("links".into(), self_link(url, &format!("domains/{}", d.id)));
    Value::Object(m)
}

/// `{"id", "name", "domain_id", "description", "enabled", "parent_id", "is_domain", "tags",
/// "options", "links"}`; the parent of a top-level project is its domain.
pub(crate) fn project(url: &str, p: &ProjectDetail) -> Value {
    let mut m = base(&p.extra);
    m.insert("id".into(), json!(p.id));
    m.insert("name".into(), json!(p.name));
    m.insert("domain_id".into(), json!(p.domain_id));
    m.insert("description".into(), json!(p.description));
    m.insert("enabled".into(), json!(p.enabled));
    m.insert("parent_id".into(), json!(p.domain_id));
    m.insert("is_domain".into(), json!(false));
    m.entry("tags").or_insert_with(|| json!([]));
    m.entry("options").or_insert_with(|| json!({}));
    m.insert("links".into(), self_link(url, &format!("projects/{}", p.id)));
    Value::Object(m)
}

/// `{"id", "name", "domain_id", "enabled", "password_expires_at": null, "options", "links"}`
/// plus `default_project_id`, `description` and `email` when set. Never a password.
pub(crate) fn user(url: &str, u: &UserDetail) -> Value {
    let mut m = base(&u.extra);
    m.insert("id".into(), json!(u.id));
    m.insert("name".into(), json!(u.name));
    m.insert("domain_id".into(), json!(u.domain_id));
    m.insert("enabled".into(), json!(u.enabled));
    m.insert("password_expires_at".into(), Value::Null);
    for (key, value) in [
        ("default_project_id", &u.default_project_id),
        ("description", &u.description),
        ("email", &u.email),
    ] {
        if !value.is_empty() {
            m.insert(key.into(), json!(value));
        }
    }
    m.entry("options").or_insert_with(|| json!({}));
    m.remove("password");
    m.insert("links".into(), self_link(url, &format!("users/{}", u.id)));
    Value::Object(m)
}

/// `{"id", "name", "domain_id": null, "options", "links"}` plus `description` when set.
pub(crate) fn role(url: &str, r: &RoleDetail) -> Value {
    let mut m = base(&r.extra);
    m.insert("id".into(), json!(r.id));
    m.insert("name".into(), json!(r.name));
    m.insert("domain_id".into(), Value::Null);
    if !r.description.is_empty() {
        m.insert("description".into(), json!(r.description));
    }
    m.entry("options").or_insert_with(|| json!({}));
    m.insert("links".into(), self_link(url, &format!("roles/{}", r.id)));
    Value::Object(m)
}

/// A list: `{"<key>": [...], "links": {"self", "previous": null, "next": null}}`.
pub(crate) fn collection(key: &str, items: Vec<Value>, self_url: String) -> Value {
    let mut m = Map::new();
    m.insert(key.into(), Value::Array(items));
    m.insert("links".into(), json!({"self": self_url, "previous": null, "next": null}));
    Value::Object(m)
}

/// Names shown by `GET /v3/role_assignments?include_names`.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub roles: HashMap<String, String>,
    /// user id -> (name, domain id)
    pub users: HashMap<String, (String, String)>,
    /// project id -> (name, domain id)
    pub projects: HashMap<String, (String, String)>,
    pub domains: HashMap<String, String>,
}

impl Names {
    fn domain_ref(&self, id: &str) -> Value {
        json!({"id": id, "name": self.domains.get(id).cloned().unwrap_or_default()})
    }
}

/// One entry of `GET /v3/role_assignments`. `prior`: for an implied role listed by
/// `?effective`, the assigned role that implies it.
pub(crate) fn assignment(
    url: &str,
    a: &Assignment,
    prior: Option<&str>,
    names: Option<&Names>,
) -> Value {
    let mut role = json!({"id": a.role_id});
    let mut user = json!({"id": a.actor_id});
    let (mut scope, scope_path) = match a.target_type.as_str() {
        "project" => (json!({"project": {"id": a.target_id}}), format!("projects/{}", a.target_id)),
        "domain" => (json!({"domain": {"id": a.target_id}}), format!("domains/{}", a.target_id)),
        _ => (json!({"system": {"all": true}}), "system".to_string()),
    };
    if let Some(n) = names {
        role["name"] = json!(n.roles.get(&a.role_id).cloned().unwrap_or_default());
        if let Some((name, domain_id)) = n.users.get(&a.actor_id) {
            user["name"] = json!(name);
            user["domain"] = n.domain_ref(domain_id);
        }
        match a.target_type.as_str() {
            "project" => {
                if let Some((name, domain_id)) = n.projects.get(&a.target_id) {
                    scope["project"]["name"] = json!(name);
                    scope["project"]["domain"] = n.domain_ref(domain_id);
                }
            }
            "domain" => {
                scope["domain"]["name"] =
                    json!(n.domains.get(&a.target_id).cloned().unwrap_or_default());
            }
            _ => {}
        }
    }
    let link_role = prior.unwrap_or(&a.role_id);
    let mut m = Map::new();
    m.insert("role".into(), role);
    m.insert("user".into(), user);
    m.insert("scope".into(), scope);
    if let Some(prior) = prior {
        m.insert("prior_role".into(), json!({"id": prior}));
    }
    m.insert(
        "links".into(),
        json!({"assignment": format!("{url}/{scope_path}/users/{}/roles/{link_role}", a.actor_id)}),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://h:9696/v3";

    #[test]
    fn project_and_user_bodies_have_keystone_fields() {
        let p = ProjectDetail {
            id: "p1".into(),
            name: "demo".into(),
            domain_id: "default".into(),
            description: "d".into(),
            enabled: true,
            extra: json!({"colour": "blue", "id": "forged"}).as_object().unwrap().clone(),
        };
        let body = project(URL, &p);
        assert_eq!(
            body,
            json!({"id": "p1", "name": "demo", "domain_id": "default", "description": "d",
                "enabled": true, "parent_id": "default", "is_domain": false, "tags": [],
                "options": {}, "colour": "blue",
                "links": {"self": "http://h:9696/v3/projects/p1"}})
        );
        let u = UserDetail {
            id: "u1".into(),
            name: "alice".into(),
            domain_id: "default".into(),
            enabled: false,
            default_project_id: String::new(),
            description: String::new(),
            email: "a@example.org".into(),
            extra: json!({"password": "x"}).as_object().unwrap().clone(),
        };
        let body = user(URL, &u);
        assert_eq!(
            body,
            json!({"id": "u1", "name": "alice", "domain_id": "default", "enabled": false,
                "password_expires_at": null, "email": "a@example.org", "options": {},
                "links": {"self": "http://h:9696/v3/users/u1"}})
        );
    }

    #[test]
    fn assignments_link_to_their_grant() {
        let a = Assignment {
            actor_id: "u".into(),
            target_type: "project".into(),
            target_id: "p".into(),
            role_id: "r".into(),
        };
        assert_eq!(
            assignment(URL, &a, None, None),
            json!({"role": {"id": "r"}, "user": {"id": "u"}, "scope": {"project": {"id": "p"}},
                "links": {"assignment": "http://h:9696/v3/projects/p/users/u/roles/r"}})
        );
        let implied =
            assignment(URL, &Assignment { role_id: "m".into(), ..a.clone() }, Some("r"), None);
        assert_eq!(implied["prior_role"]["id"], "r");
        assert_eq!(implied["links"]["assignment"], "http://h:9696/v3/projects/p/users/u/roles/r");
        let system = Assignment { target_type: "system".into(), target_id: "all".into(), ..a };
        let body = assignment(URL, &system, None, None);
        assert_eq!(body["scope"], json!({"system": {"all": true}}));
        assert_eq!(body["links"]["assignment"], "http://h:9696/v3/system/users/u/roles/r");
    }
}
