//! Attribute tables: for each resource, which attributes exist, which may be sent on create or
//! update, which are filters and sort keys, who may write and read them, and how their input is
//! converted. The same table drives body checking, list-query parsing and output stripping, the
//! way Neutron's attribute maps do.

use serde_json::{Map, Value};

use crate::Error;

/// Converts (and so validates) one input value; the `Err` is the reason shown to the client.
pub type Convert = fn(&Value) -> Result<Value, String>;

/// Who may write an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Anyone allowed to act on the resource.
    Any,
    /// Admin only (403 for others).
    Admin,
    /// Admin or the `service` role.
    AdminOrService,
    /// The `service` role only (admin included, as in upstream's `service_api` rule plus admin).
    Service,
}

/// Who sees an attribute in responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Everyone who can read the resource.
    All,
    /// Admin and service only; stripped for others.
    Admin,
    /// Accepted on input, never returned.
    Hidden,
}

/// One attribute of a resource.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    /// JSON key.
    pub name: &'static str,
    /// May be sent on POST.
    pub post: bool,
    /// May be sent on PUT.
    pub put: bool,
    /// Must be sent on POST.
    pub required: bool,
    /// Usable as a list filter.
    pub filter: bool,
    /// Usable as a `sort_key`.
    pub sort: bool,
    /// Write policy.
    pub write: Write,
    /// Read policy.
    pub read: Read,
    /// Input conversion.
    pub convert: Convert,
}

impl Attr {
    /// A read-only, visible attribute with no filter or sort.
    pub const fn new(name: &'static str, convert: Convert) -> Attr {
        Attr {
            name,
            post: false,
            put: false,
            required: false,
            filter: false,
            sort: false,
            write: Write::Any,
            read: Read::All,
            convert,
        }
    }
    /// Allowed on create.
    pub const fn c(mut self) -> Self {
        self.post = true;
        self
    }
    /// Allowed on create and update.
    pub const fn cu(mut self) -> Self {
        self.post = true;
        self.put = true;
        self
    }
    /// Required on create.
    pub const fn req(mut self) -> Self {
        self.post = true;
        self.required = true;
        self
    }
    /// A list filter.
    pub const fn f(mut self) -> Self {
        self.filter = true;
        self
    }
    /// A list filter and sort key.
    pub const fn fs(mut self) -> Self {
        self.filter = true;
        self.sort = true;
        self
    }
    /// Written by admin only.
    pub const fn admin(mut self) -> Self {
        self.write = Write::Admin;
        self
    }
    /// Written by `write`.
    pub const fn write(mut self, write: Write) -> Self {
        self.write = write;
        self
    }
    /// Read by `read`.
    pub const fn read(mut self, read: Read) -> Self {
        self.read = read;
        self
    }
}

/// Whether a body is for create or update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// POST.
    Create,
    /// PUT.
    Update,
}

/// The caller facts body checking needs.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Project of the token.
    pub project_id: &'a str,
    /// Holds `admin`.
    pub is_admin: bool,
    /// Holds `service`.
    pub is_service: bool,
}

/// Checks a resource body in upstream's order (1.4 of the API notes): project ids, unknown
/// keys, create/update permissions, required attributes, conversions, then attribute policy.
/// Returns the converted attributes that were sent; `project_id` is normalised from `tenant_id`.
pub fn check_body(
    resource: &str,
    attrs: &[Attr],
    body: &Value,
    op: Op,
    caller: Caller<'_>,
) -> Result<Map<String, Value>, Error> {
    let Some(obj) = body.as_object() else {
        return Err(Error::bad_request("Body contains invalid data"));
    };
    let mut obj = obj.clone();
    if op == Op::Create {
        normalise_project(&mut obj, caller)?;
    }
    let mut unknown: Vec<&str> = obj
        .keys()
        .filter(|k| !attrs.iter().any(|a| a.name == k.as_str()) && k.as_str() != "project_id")
        .map(String::as_str)
        .collect();
    if op == Op::Update && obj.contains_key("project_id") {
        return Err(Error::bad_request("Cannot update read-only attribute project_id"));
    }
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(Error::bad_request(format!(
            "Unrecognized attribute(s) '{}'",
            unknown.join(", ")
        )));
    }
    for key in obj.keys().filter(|k| k.as_str() != "project_id") {
        let Some(attr) = attrs.iter().find(|a| a.name == key.as_str()) else { continue };
        match op {
            Op::Create if !attr.post => {
                return Err(Error::bad_request(format!("Attribute '{key}' not allowed in POST")))
            }
            Op::Update if !attr.put => {
                return Err(Error::bad_request(format!("Cannot update read-only attribute {key}")))
            }
            _ => {}
        }
    }
    if op == Op::Create {
        if let Some(missing) = attrs.iter().find(|a| a.required && !obj.contains_key(a.name)) {
            return Err(Error::bad_request(format!(
                "Failed to parse request. Required attribute '{}' not specified",
                missing.name
            )));
        }
    }
    let mut out = Map::new();
    for (key, value) in obj {
        if key == "project_id" {
            out.insert(key, value);
            continue;
        }
        let attr = attrs.iter().find(|a| a.name == key).expect("checked above");
        let converted = (attr.convert)(&value).map_err(|r| Error::invalid_attr(&key, r))?;
        out.insert(key, converted);
    }
    let verb = if op == Op::Create { "create" } else { "update" };
    for key in out.keys() {
        let Some(attr) = attrs.iter().find(|a| a.name == key.as_str()) else { continue };
        let allowed = match attr.write {
            Write::Any => true,
            Write::Admin => caller.is_admin,
            Write::AdminOrService | Write::Service => caller.is_admin || caller.is_service,
        };
        if !allowed {
            return Err(Error::policy(&format!("{verb}_{resource}:{key}")));
        }
    }
    Ok(out)
}

fn normalise_project(obj: &mut Map<String, Value>, caller: Caller<'_>) -> Result<(), Error> {
    let tenant = obj.remove("tenant_id");
    let project = obj.remove("project_id");
    let value = match (tenant, project) {
        (Some(t), Some(p)) if t != p => {
            return Err(Error::bad_request("'project_id' and 'tenant_id' do not match"))
        }
        (Some(v), _) | (None, Some(v)) => v,
        (None, None) => return Ok(()),
    };
    let Some(project) = value.as_str() else {
        return Err(Error::invalid_attr("project_id", format!("'{value}' is not a valid string")));
    };
    if project.is_empty() || project.len() > 255 {
        return Err(Error::invalid_attr("project_id", "project_id must be 1 to 255 characters"));
    }
    if project != caller.project_id && !caller.is_admin && !caller.is_service {
        return Err(Error::bad_request(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in \
             request requires admin privileges",
        ));
    }
    obj.insert("project_id".into(), Value::String(project.to_string()));
    Ok(())
}

/// Removes the attributes the caller may not read from a rendered resource.
pub fn strip_unreadable(attrs: &[Attr], view: &mut Map<String, Value>, privileged: bool) {
    for attr in attrs {
        let hide = match attr.read {
            Read::All => false,
            Read::Admin => !privileged,
            Read::Hidden => true,
        };
        if hide {
            view.remove(attr.name);
        }
    }
}

/// Value converters shared by the resource tables.
pub mod conv {
    use std::net::IpAddr;

    use serde_json::Value;

    use crate::net::{Cidr, MacAddr};

    fn describe(v: &Value) -> String {
        match v {
            Value::String(s) => format!("'{s}'"),
            other => format!("'{other}'"),
        }
    }

    /// Any JSON value, kept as is.
    pub fn any(v: &Value) -> Result<Value, String> {
        Ok(v.clone())
    }

    /// A string of at most 255 characters.
    pub fn string255(v: &Value) -> Result<Value, String> {
        string_max(v, 255)
    }

    /// A string of at most `max` characters.
    pub fn string_max(v: &Value, max: usize) -> Result<Value, String> {
        match v {
            Value::String(s) if s.chars().count() <= max => Ok(v.clone()),
            Value::String(s) => Err(format!("'{s}' exceeds maximum length of {max}")),
            other => Err(format!("{} is not a valid string", describe(other))),
        }
    }

    /// A name: at most 255 printable characters, no leading or trailing whitespace.
    pub fn name(v: &Value) -> Result<Value, String> {
        let s = string_max(v, 255)?;
        let text = s.as_str().unwrap_or_default();
        if text.trim() != text {
            return Err(format!("'{text}' Leading or trailing whitespace is not allowed"));
        }
        if text.chars().any(char::is_control) {
            return Err(format!("'{}' contains control characters", text.escape_debug()));
        }
        Ok(s)
    }

    /// A string or null.
    pub fn string255_or_null(v: &Value) -> Result<Value, String> {
        if v.is_null() {
            Ok(Value::Null)
        } else {
            string255(v)
        }
    }

    /// A boolean in any of the spellings Neutron accepts.
    pub fn boolean(v: &Value) -> Result<Value, String> {
        let parsed = match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
                "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        parsed
            .map(Value::Bool)
            .ok_or_else(|| format!("{} cannot be converted to boolean", describe(v)))
    }

    /// A UUID, returned in lower-case hyphenated form.
    pub fn uuid(v: &Value) -> Result<Value, String> {
        match v {
            Value::String(s) => uuid::Uuid::parse_str(s)
                .ok()
                .filter(|_| s.len() == 36)
                .map(|u| Value::String(u.to_string()))
                .ok_or_else(|| format!("'{s}' is not a valid UUID")),
            other => Err(format!("{} is not a valid UUID", describe(other))),
        }
    }

    /// A UUID or null.
    pub fn uuid_or_null(v: &Value) -> Result<Value, String> {
        if v.is_null() {
            Ok(Value::Null)
        } else {
            uuid(v)
        }
    }

    /// A list of UUIDs, without duplicates.
    pub fn uuid_list(v: &Value) -> Result<Value, String> {
        let Value::Array(items) = v else {
            return Err(format!("{} is not a list", describe(v)));
        };
        let mut out: Vec<Value> = Vec::with_capacity(items.len());
        for item in items {
            let u = uuid(item)?;
            if out.contains(&u) {
                return Err(format!("Duplicate items in the list: '{}'", u.as_str().unwrap_or("")));
            }
            out.push(u);
        }
        Ok(Value::Array(out))
    }

    /// A list of strings.
    pub fn string_list(v: &Value) -> Result<Value, String> {
        let Value::Array(items) = v else {
            return Err(format!("{} is not a list", describe(v)));
        };
        for item in items {
            string255(item)?;
        }
        Ok(v.clone())
    }

    /// A non-negative integer (numbers or numeric strings).
    pub fn non_negative_int(v: &Value) -> Result<Value, String> {
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= 0 => Ok(Value::from(n)),
            _ => Err(format!("{} is not a non-negative integer", describe(v))),
        }
    }

    /// An integer or null.
    pub fn int_or_null(v: &Value) -> Result<Value, String> {
        if v.is_null() {
            Ok(Value::Null)
        } else {
            non_negative_int(v)
        }
    }

    /// An IP address (4 or 6), in canonical form.
    pub fn ip(v: &Value) -> Result<Value, String> {
        match v {
            Value::String(s) => parse_ip(s).map(|ip| Value::String(ip.to_string())),
            other => Err(format!("{} is not a valid IP address", describe(other))),
        }
    }

    /// Strict address parsing: no leading zeros in IPv4 octets, no zone.
    pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
        s.parse::<IpAddr>().map_err(|_| format!("'{s}' is not a valid IP address"))
    }

    /// An IP address or null.
    pub fn ip_or_null(v: &Value) -> Result<Value, String> {
        if v.is_null() {
            Ok(Value::Null)
        } else {
            ip(v)
        }
    }

    /// A CIDR; host bits are allowed on input and cleared.
    pub fn cidr(v: &Value) -> Result<Value, String> {
        match v {
            Value::String(s) => Cidr::parse(s).map(|c| Value::String(c.to_string())),
            other => Err(format!("{} is not a valid IP subnet", describe(other))),
        }
    }

    /// A MAC address in lower-case colon form.
    pub fn mac(v: &Value) -> Result<Value, String> {
        match v {
            Value::String(s) => {
                let m: MacAddr = s.parse()?;
                if m.is_zero() || m.is_multicast() {
                    return Err(format!("'{s}' is not a valid MAC address"));
                }
                Ok(Value::String(m.to_string()))
            }
            other => Err(format!("{} is not a valid MAC address", describe(other))),
        }
    }

    /// A dictionary.
    pub fn dict(v: &Value) -> Result<Value, String> {
        match v {
            Value::Object(_) => Ok(v.clone()),
            Value::Null => Ok(Value::Object(Default::default())),
            other => Err(format!("{} is not a dictionary", describe(other))),
        }
    }

    /// One of a fixed set of strings, or null when `nullable`.
    pub fn one_of(v: &Value, allowed: &[&str], nullable: bool) -> Result<Value, String> {
        match v {
            Value::Null if nullable => Ok(Value::Null),
            Value::String(s) if allowed.contains(&s.as_str()) => Ok(v.clone()),
            other => Err(format!("{} is not in {:?}", describe(other), allowed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorKind;

    const ATTRS: &[Attr] = &[
        Attr::new("id", conv::uuid).fs(),
        Attr::new("name", conv::name).cu().fs(),
        Attr::new("admin_state_up", conv::boolean).cu().fs(),
        Attr::new("provider:network_type", conv::string255).cu().admin().read(Read::Admin),
        Attr::new("network_id", conv::uuid).req(),
    ];

    fn member() -> Caller<'static> {
        Caller { project_id: "p1", is_admin: false, is_service: false }
    }

    fn check(body: Value, op: Op) -> Result<Map<String, Value>, Error> {
        check_body("thing", ATTRS, &body, op, member())
    }

    #[test]
    fn checks_run_in_upstream_order() {
        let nid = "4a1fd8a0-5b3b-4a1e-8c6e-0c9d2a8f9b10";
        assert!(check(json!([]), Op::Create).unwrap_err().message.contains("invalid data"));
        let e = check(json!({"bogus": 1, "network_id": nid}), Op::Create).unwrap_err();
        assert_eq!(e.message, "Unrecognized attribute(s) 'bogus'");
        let e = check(json!({"id": nid, "network_id": nid}), Op::Create).unwrap_err();
        assert_eq!(e.message, "Attribute 'id' not allowed in POST");
        let e = check(json!({"network_id": nid}), Op::Update).unwrap_err();
        assert_eq!(e.message, "Cannot update read-only attribute network_id");
        let e = check(json!({"name": "x"}), Op::Create).unwrap_err();
        assert!(e.message.contains("Required attribute 'network_id'"));
        let e = check(json!({"network_id": "nope"}), Op::Create).unwrap_err();
        assert_eq!(e.message, "Invalid input for network_id. Reason: 'nope' is not a valid UUID.");
        let e = check(json!({"network_id": nid, "provider:network_type": "vlan"}), Op::Create)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Forbidden);
        let ok = check(json!({"network_id": nid, "admin_state_up": "on"}), Op::Create).unwrap();
        assert_eq!(ok["admin_state_up"], json!(true));
    }

    #[test]
    fn foreign_project_needs_admin() {
        let nid = "4a1fd8a0-5b3b-4a1e-8c6e-0c9d2a8f9b10";
        let e = check(json!({"network_id": nid, "tenant_id": "p2"}), Op::Create).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        let ok = check(json!({"network_id": nid, "tenant_id": "p1"}), Op::Create).unwrap();
        assert_eq!(ok["project_id"], json!("p1"));
        let admin = Caller { project_id: "p1", is_admin: true, is_service: false };
        let ok = check_body(
            "t",
            ATTRS,
            &json!({"network_id": nid, "project_id": "p2"}),
            Op::Create,
            admin,
        )
        .unwrap();
        assert_eq!(ok["project_id"], json!("p2"));
        let e =
            check(json!({"network_id": nid, "tenant_id": "p1", "project_id": "p2"}), Op::Create)
                .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
    }

    #[test]
    fn booleans_accept_upstream_spellings() {
        for (input, want) in [
            (json!("True"), true),
            (json!("f"), false),
            (json!(1), true),
            (json!("off"), false),
            (json!(true), true),
        ] {
            assert_eq!(conv::boolean(&input).unwrap(), json!(want), "{input}");
        }
        assert!(conv::boolean(&json!("maybe")).is_err());
        assert!(conv::boolean(&json!(2)).is_err());
    }

    #[test]
    fn admin_only_attributes_are_stripped_for_others() {
        let mut view =
            json!({"name": "n", "provider:network_type": "geneve"}).as_object().unwrap().clone();
        strip_unreadable(ATTRS, &mut view, false);
        assert!(!view.contains_key("provider:network_type"));
    }
}
