//! Keystone's wire format: JSON request bodies, the token body, the catalog, the version
//! document and timestamps.
//!
//! The HTTP layer stays a thin shell around these, so what clients see is tested here.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::sql::{DomainRow, ProjectRow, RoleRow, UserRow};
use crate::token::{method_names, micros_to_time, TokenPayload};
use crate::IdentityError;

/// Formats a time as Keystone does: UTC, microseconds, literal `Z`
/// (`2026-11-01T13:00:00.000000Z`).
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parses a request body that must be a JSON object.
///
/// `content_type` is the request's `Content-Type` header if any: a body declared as something
/// other than JSON is refused, as is an empty body, one that is not JSON, or JSON that is not an
/// object. Every refusal is a 400 ([`IdentityError::BadRequest`]).
pub fn parse_json_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, IdentityError> {
    if let Some(ct) = content_type {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        if !json {
            return Err(IdentityError::BadRequest(format!(
                "Expected a JSON request body (Content-Type: application/json), got '{essence}'."
            )));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(IdentityError::BadRequest("The request body is empty; expected JSON.".into()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        IdentityError::BadRequest(format!("The request body is not valid JSON: {e}."))
    })?;
    if !value.is_object() {
        return Err(IdentityError::BadRequest("The request body must be a JSON object.".into()));
    }
    Ok(value)
}

/// The identity API's version document (`GET /v3`), its `self` link built from the identity URL.
pub fn version_document(identity_url: &str) -> Value {
    json!({
        "version": {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": format!("{identity_url}/")}],
            "media-types": [{
                "base": "application/json",
                "type": "application/vnd.openstack.identity-v3+json"
            }]
        }
    })
}

/// A stable 32-hex id derived from text (FNV-1a, two 64-bit lanes). The catalog is built from
/// configuration rather than stored, but its ids must not change between requests or servers.
fn stable_id(text: &str) -> String {
    let lane = |seed: u64| {
        text.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
    };
    format!("{:016x}{:016x}", lane(0xcbf2_9ce4_8422_2325), lane(0x6c62_272e_07bb_0142))
}

/// One catalog service with its public, internal and admin endpoints, all on the same URL.
fn catalog_service(kind: &str, name: &str, url: &str, region: &str) -> Value {
    let endpoints: Vec<Value> = ["public", "internal", "admin"]
        .iter()
        .map(|interface| {
            json!({
                "id": stable_id(&format!("endpoint|{kind}|{interface}|{region}|{url}")),
                "interface": interface,
                "region": region,
                "region_id": region,
                "url": url,
            })
        })
        .collect();
    json!({
        "id": stable_id(&format!("service|{kind}")),
        "type": kind,
        "name": name,
        "endpoints": endpoints,
    })
}

/// The service catalog: exactly one `network` (the server root) and one `identity` (`/v3`)
/// service.
pub fn catalog(public_url: &str, region: &str) -> Value {
    let identity_url = format!("{public_url}/v3");
    json!([
        catalog_service("network", "neutron", public_url, region),
        catalog_service("identity", "keystone", &identity_url, region),
    ])
}

fn domain_ref(d: &DomainRow) -> Value {
    json!({"id": d.id, "name": d.name})
}

/// What a token is scoped to, with the rows its body shows.
#[derive(Debug)]
pub(crate) enum ScopeView {
    Unscoped,
    Project { project: ProjectRow, domain: DomainRow },
    Domain(DomainRow),
    System,
}

/// The body of `POST`/`GET /v3/auth/tokens` (`{"token": {...}}`).
pub(crate) fn token_body(
    payload: &TokenPayload,
    user: &UserRow,
    user_domain: &DomainRow,
    scope: &ScopeView,
    roles: &[RoleRow],
    catalog: Option<Value>,
) -> Value {
    let mut token = serde_json::Map::new();
    token.insert("methods".into(), json!(method_names(payload.methods)));
    token.insert(
        "user".into(),
        json!({
            "id": user.id,
            "name": user.name,
            "password_expires_at": null,
            "domain": domain_ref(user_domain),
        }),
    );
    token.insert("audit_ids".into(), json!(payload.audit_ids()));
    token.insert("expires_at".into(), json!(format_timestamp(micros_to_time(payload.expires_at))));
    token.insert("issued_at".into(), json!(format_timestamp(micros_to_time(payload.issued_at))));
    let scoped = match scope {
        ScopeView::Unscoped => false,
        ScopeView::Project { project, domain } => {
            token.insert(
                "project".into(),
                json!({"id": project.id, "name": project.name, "domain": domain_ref(domain)}),
            );
            token.insert("is_domain".into(), json!(false));
            true
        }
        ScopeView::Domain(domain) => {
            token.insert("domain".into(), domain_ref(domain));
            true
        }
        ScopeView::System => {
            token.insert("system".into(), json!({"all": true}));
            true
        }
    };
    if scoped {
        let roles: Vec<Value> = roles.iter().map(|r| json!({"id": r.id, "name": r.name})).collect();
        token.insert("roles".into(), Value::Array(roles));
        if let Some(catalog) = catalog {
            token.insert("catalog".into(), catalog);
        }
    }
    json!({ "token": token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{methods_mask, TokenScope};

    #[test]
    fn timestamps_have_microseconds_and_z() {
        let t = DateTime::from_timestamp(1_793_538_000, 0).unwrap();
        assert_eq!(format_timestamp(t), "2026-11-01T13:00:00.000000Z");
        let t = DateTime::from_timestamp_micros(1_793_538_000_000_042).unwrap();
        assert_eq!(format_timestamp(t), "2026-11-01T13:00:00.000042Z");
    }

    #[test]
    fn json_bodies_are_checked() {
        assert!(parse_json_body(Some("application/json"), br#"{"a":1}"#).is_ok());
        assert!(parse_json_body(Some("application/json; charset=utf-8"), b"{}").is_ok());
        assert!(parse_json_body(None, b"{}").is_ok());
        for (ct, body) in [
            (Some("text/plain"), &b"{}"[..]),
            (Some("application/x-www-form-urlencoded"), b"{}"),
            (Some("application/json"), b""),
            (Some("application/json"), b"{"),
            (Some("application/json"), b"[1]"),
            (Some("application/json"), b"\"auth\""),
            (None, b"not json"),
        ] {
            let err = parse_json_body(ct, body).unwrap_err();
            assert_eq!(err.status(), 400, "{ct:?} {body:?}");
        }
    }

    #[test]
    fn version_document_links_to_identity_url() {
        let doc = version_document("http://127.0.0.1:9696/v3");
        assert_eq!(doc["version"]["id"], "v3.14");
        assert_eq!(doc["version"]["links"][0]["href"], "http://127.0.0.1:9696/v3/");
        assert_eq!(
            doc["version"]["media-types"][0]["type"],
            "application/vnd.openstack.identity-v3+json"
        );
    }

    #[test]
    fn catalog_has_one_network_and_one_identity_service_with_three_interfaces() {
        let cat = catalog("http://127.0.0.1:9696", "RegionOne");
        let services = cat.as_array().unwrap();
        assert_eq!(services.len(), 2);
        for (service, kind, url) in [
            (&services[0], "network", "http://127.0.0.1:9696"),
            (&services[1], "identity", "http://127.0.0.1:9696/v3"),
        ] {
            assert_eq!(service["type"], kind);
            assert_eq!(service["id"].as_str().unwrap().len(), 32);
            let endpoints = service["endpoints"].as_array().unwrap();
            let interfaces: Vec<&str> =
                endpoints.iter().map(|e| e["interface"].as_str().unwrap()).collect();
            assert_eq!(interfaces, ["public", "internal", "admin"]);
            for e in endpoints {
                assert_eq!(e["url"], url);
                assert_eq!(e["region"], "RegionOne");
                assert_eq!(e["region_id"], "RegionOne");
            }
        }
        // Ids are stable and distinct.
        assert_eq!(cat, catalog("http://127.0.0.1:9696", "RegionOne"));
        let mut ids: Vec<String> = services
            .iter()
            .flat_map(|s| {
                std::iter::once(s["id"].as_str().unwrap().to_string()).chain(
                    s["endpoints"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["id"].as_str().unwrap().to_string()),
                )
            })
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8);
    }

    #[test]
    fn project_token_body_has_every_field_clients_read() {
        let payload = TokenPayload {
            user_id: "u1".into(),
            scope: TokenScope::Project("p1".into()),
            issued_at: 1_793_538_000_000_000,
            expires_at: 1_793_541_600_000_000,
            audit_id: [1; 16],
            parent_audit_id: None,
            methods: methods_mask(["password"]),
            roles: vec!["member".into()],
        };
        let user = UserRow {
            id: "u1".into(),
            name: "alice".into(),
            domain_id: "default".into(),
            enabled: true,
            password_hash: "$argon2id$secret".into(),
            default_project_id: String::new(),
        };
        let domain = DomainRow { id: "default".into(), name: "Default".into(), enabled: true };
        let project = ProjectRow {
            id: "p1".into(),
            name: "demo".into(),
            domain_id: "default".into(),
            enabled: true,
        };
        let roles = vec![RoleRow { id: "r1".into(), name: "member".into() }];
        let scope = ScopeView::Project { project, domain: domain.clone() };
        let body =
            token_body(&payload, &user, &domain, &scope, &roles, Some(catalog("http://h", "R")));
        let t = &body["token"];
        assert_eq!(t["methods"], json!(["password"]));
        assert_eq!(t["user"]["id"], "u1");
        assert_eq!(t["user"]["name"], "alice");
        assert_eq!(t["user"]["domain"], json!({"id": "default", "name": "Default"}));
        assert!(t["user"]["password_expires_at"].is_null());
        assert!(t["user"].get("password_expires_at").is_some());
        assert_eq!(
            t["project"],
            json!({"id": "p1", "name": "demo",
            "domain": {"id": "default", "name": "Default"}})
        );
        assert_eq!(t["is_domain"], false);
        assert_eq!(t["roles"], json!([{"id": "r1", "name": "member"}]));
        assert_eq!(t["expires_at"], "2026-11-01T14:00:00.000000Z");
        assert_eq!(t["issued_at"], "2026-11-01T13:00:00.000000Z");
        assert_eq!(t["audit_ids"].as_array().unwrap().len(), 1);
        assert_eq!(t["catalog"].as_array().unwrap().len(), 2);
        assert!(!body.to_string().contains("argon2"));

        let body = token_body(&payload, &user, &domain, &scope, &roles, None);
        assert!(body["token"].get("catalog").is_none());
        let body = token_body(&payload, &user, &domain, &ScopeView::Unscoped, &[], None);
        assert!(body["token"].get("project").is_none());
        assert!(body["token"].get("roles").is_none());
    }
}
