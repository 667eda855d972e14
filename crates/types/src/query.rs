//! List queries: filters (repeated keys OR together, different keys AND), tag filters,
//! `changed_since`, `fields`, sorting and `limit`/`marker` pagination, applied to rendered
//! resources. Parsing is validated against the resource's attribute table.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::attr::Attr;
use crate::{time, Error};

/// A parsed list query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// `(attribute, accepted values)`: a resource matches when, for every entry, its value is
    /// one of the accepted ones.
    pub filters: Vec<(String, Vec<Value>)>,
    /// Filters an attribute table leaves to the resource (e.g. ports' `fixed_ips`), raw.
    pub special: Vec<(String, String)>,
    /// `tags`: must have all.
    pub tags: Vec<String>,
    /// `tags-any`: must have one.
    pub tags_any: Vec<String>,
    /// `not-tags`: must not have all.
    pub not_tags: Vec<String>,
    /// `not-tags-any`: must have none.
    pub not_tags_any: Vec<String>,
    /// `changed_since`: `updated_at` at or after this.
    pub changed_since: Option<String>,
    /// Requested fields (empty: all).
    pub fields: Vec<String>,
    /// Sort keys with `true` for ascending.
    pub sort: Vec<(String, bool)>,
    /// Page size; `None` or 0 means no paging.
    pub limit: Option<usize>,
    /// Id of the last item seen.
    pub marker: Option<String>,
    /// Walk backwards from the marker.
    pub page_reverse: bool,
}

impl ListQuery {
    /// Parses query pairs against `attrs`; `special` names extra filters the resource handles.
    pub fn parse(
        attrs: &[Attr],
        pairs: &[(String, String)],
        special: &[&str],
    ) -> Result<ListQuery, Error> {
        let mut q = ListQuery::default();
        let mut sort_keys = Vec::new();
        let mut sort_dirs = Vec::new();
        let mut bad_filters = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "fields" => q.fields.extend(split_list(value)),
                "sort_key" => sort_keys.push(value.clone()),
                "sort_dir" => sort_dirs.push(value.clone()),
                "limit" => {
                    let n: i64 = value.parse().map_err(|_| {
                        Error::bad_request(format!(
                            "Limit must be an integer 0 or greater and not '{value}'"
                        ))
                    })?;
                    if n < 0 {
                        return Err(Error::bad_request(format!(
                            "Limit must be an integer 0 or greater and not '{value}'"
                        )));
                    }
                    q.limit = if n == 0 { None } else { Some(n as usize) };
                }
                "marker" => q.marker = Some(value.clone()),
                "page_reverse" => {
                    q.page_reverse = crate::attr::conv::boolean(&Value::String(value.clone()))
                        .map_err(|r| Error::invalid_attr("page_reverse", r))?
                        == Value::Bool(true)
                }
                "tags" => q.tags.extend(split_list(value)),
                "tags-any" => q.tags_any.extend(split_list(value)),
                "not-tags" => q.not_tags.extend(split_list(value)),
                "not-tags-any" => q.not_tags_any.extend(split_list(value)),
                "changed_since" => {
                    let t = time::parse(value).ok_or_else(|| {
                        Error::bad_request(format!(
                            "Invalid input for changed_since. Reason: '{value}' is not a valid timestamp \
                             in the format YYYY-MM-DDTHH:MM:SSZ."
                        ))
                    })?;
                    q.changed_since = Some(time::format(t));
                }
                k if special.contains(&k) => q.special.push((key.clone(), value.clone())),
                k => {
                    let name = if k == "tenant_id" { "project_id" } else { k };
                    let attr = attrs.iter().find(|a| a.name == name && a.filter);
                    let Some(attr) = attr else {
                        if name != "project_id" {
                            bad_filters.push(k.to_string());
                            continue;
                        }
                        push_filter(&mut q.filters, name, Value::String(value.clone()));
                        continue;
                    };
                    let converted = if value.is_empty() {
                        Value::String(String::new())
                    } else {
                        (attr.convert)(&Value::String(value.clone()))
                            .map_err(|r| Error::invalid_attr(name, r))?
                    };
                    push_filter(&mut q.filters, name, converted);
                }
            }
        }
        if !bad_filters.is_empty() {
            let list: Vec<String> = bad_filters.iter().map(|f| format!("'{f}'")).collect();
            return Err(Error::bad_request(format!(
                "[{}] is invalid attribute for filtering",
                list.join(", ")
            )));
        }
        if sort_keys.len() != sort_dirs.len() {
            return Err(Error::bad_request("The number of sort_keys and sort_dirs must be same"));
        }
        for (key, dir) in sort_keys.into_iter().zip(sort_dirs) {
            let asc = match dir.as_str() {
                "asc" => true,
                "desc" => false,
                _ => {
                    return Err(Error::bad_request(format!(
                        "{dir} is invalid value for sort_dirs, valid values are 'asc' and 'desc'"
                    )))
                }
            };
            let key = if key == "tenant_id" { "project_id".to_string() } else { key };
            if !attrs.iter().any(|a| a.name == key && a.sort) && key != "project_id" {
                return Err(Error::bad_request(format!(
                    "{key} is invalid attribute for sort_keys"
                )));
            }
            q.sort.push((key, asc));
        }
        Ok(q)
    }

    /// True when results must be gathered before any is returned (sorting or paging).
    pub fn needs_collect(&self) -> bool {
        !self.sort.is_empty() || self.limit.is_some() || self.marker.is_some()
    }

    /// Values of a plain filter on `attr`, if one was given.
    pub fn filter_values(&self, attr: &str) -> Option<&[Value]> {
        self.filters.iter().find(|(k, _)| k == attr).map(|(_, v)| v.as_slice())
    }

    /// True when `view` passes every filter (plain, tags, changed_since).
    pub fn matches(&self, view: &Map<String, Value>) -> bool {
        for (key, wanted) in &self.filters {
            let have = view.get(key).unwrap_or(&Value::Null);
            let ok = match have {
                Value::Array(items) => wanted.iter().any(|w| items.contains(w)),
                v => wanted.iter().any(|w| values_equal(v, w)),
            };
            if !ok {
                return false;
            }
        }
        if !(self.tags.is_empty()
            && self.tags_any.is_empty()
            && self.not_tags.is_empty()
            && self.not_tags_any.is_empty())
        {
            let tags: Vec<&str> = view
                .get("tags")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let has = |t: &String| tags.contains(&t.as_str());
            if !self.tags.iter().all(has) {
                return false;
            }
            if !self.tags_any.is_empty() && !self.tags_any.iter().any(has) {
                return false;
            }
            if !self.not_tags.is_empty() && self.not_tags.iter().all(has) {
                return false;
            }
            if self.not_tags_any.iter().any(has) {
                return false;
            }
        }
        if let Some(since) = &self.changed_since {
            let updated = view.get("updated_at").and_then(Value::as_str).unwrap_or("");
            if updated < since.as_str() {
                return false;
            }
        }
        true
    }

    /// Sorts, then cuts the page. Returns the page and whether a marker was given but unknown.
    /// Without a `limit` nothing is cut (but a marker still skips).
    pub fn paginate(
        &self,
        mut items: Vec<Map<String, Value>>,
    ) -> Result<Vec<Map<String, Value>>, MarkerNotFound> {
        let paging = self.limit.is_some() || self.marker.is_some();
        if !self.sort.is_empty() || paging {
            let mut keys = self.sort.clone();
            if !keys.iter().any(|(k, _)| k == "id") {
                keys.push(("id".into(), true));
            }
            items.sort_by(|a, b| compare(a, b, &keys));
        }
        let Some(marker) = &self.marker else {
            if let Some(limit) = self.limit {
                if self.page_reverse {
                    let skip = items.len().saturating_sub(limit);
                    items.drain(..skip);
                } else {
                    items.truncate(limit);
                }
            }
            return Ok(items);
        };
        let pos = items
            .iter()
            .position(|v| v.get("id").and_then(Value::as_str) == Some(marker.as_str()))
            .ok_or(MarkerNotFound)?;
        if self.page_reverse {
            items.truncate(pos);
            if let Some(limit) = self.limit {
                let skip = items.len().saturating_sub(limit);
                items.drain(..skip);
            }
        } else {
            items.drain(..=pos);
            if let Some(limit) = self.limit {
                items.truncate(limit);
            }
        }
        Ok(items)
    }

    /// Keeps only the requested fields (no-op without `fields`).
    pub fn select_fields(&self, view: &mut Map<String, Value>) {
        if self.fields.is_empty() {
            return;
        }
        view.retain(|k, _| self.fields.iter().any(|f| f == k));
    }
}

/// The marker of a paginated list names no visible item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerNotFound;

fn push_filter(filters: &mut Vec<(String, Vec<Value>)>, name: &str, value: Value) {
    match filters.iter_mut().find(|(k, _)| k == name) {
        Some((_, values)) => values.push(value),
        None => filters.push((name.to_string(), vec![value])),
    }
}

fn split_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

fn values_equal(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(a), Value::String(b)) => a.to_string() == *b,
        (Value::Bool(a), Value::String(b)) => a.to_string() == b.to_ascii_lowercase(),
        _ => have == want,
    }
}

fn compare(a: &Map<String, Value>, b: &Map<String, Value>, keys: &[(String, bool)]) -> Ordering {
    for (key, asc) in keys {
        let ord =
            compare_values(a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null));
        let ord = if *asc { ord } else { ord.reverse() };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::attr::conv;

    const ATTRS: &[Attr] = &[
        Attr::new("id", conv::uuid).fs(),
        Attr::new("name", conv::name).fs(),
        Attr::new("admin_state_up", conv::boolean).fs(),
        Attr::new("description", conv::string255).f(),
    ];

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn item(id: &str, name: &str, tags: &[&str]) -> Map<String, Value> {
        json!({"id": id, "name": name, "admin_state_up": true, "tags": tags})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn repeated_keys_or_and_different_keys_and() {
        let q = ListQuery::parse(
            ATTRS,
            &pairs(&[("name", "a"), ("name", "b"), ("admin_state_up", "True")]),
            &[],
        )
        .unwrap();
        assert!(q.matches(&item("1", "a", &[])));
        assert!(q.matches(&item("2", "b", &[])));
        assert!(!q.matches(&item("3", "c", &[])));
        let q = ListQuery::parse(ATTRS, &pairs(&[("admin_state_up", "false")]), &[]).unwrap();
        assert!(!q.matches(&item("1", "a", &[])));
    }

    #[test]
    fn invalid_filters_and_sorts_are_refused() {
        let e = ListQuery::parse(ATTRS, &pairs(&[("bogus", "1")]), &[]).unwrap_err();
        assert_eq!(e.message, "['bogus'] is invalid attribute for filtering");
        assert!(ListQuery::parse(ATTRS, &pairs(&[("sort_key", "name")]), &[]).is_err());
        assert!(ListQuery::parse(
            ATTRS,
            &pairs(&[("sort_key", "description"), ("sort_dir", "asc")]),
            &[]
        )
        .is_err());
        assert!(ListQuery::parse(ATTRS, &pairs(&[("sort_key", "name"), ("sort_dir", "up")]), &[])
            .is_err());
        assert!(ListQuery::parse(ATTRS, &pairs(&[("limit", "-1")]), &[]).is_err());
        assert!(ListQuery::parse(ATTRS, &pairs(&[("admin_state_up", "maybe")]), &[]).is_err());
    }

    #[test]
    fn tag_filters_follow_upstream_semantics() {
        let a = item("1", "a", &["red", "blue"]);
        let b = item("2", "b", &["red"]);
        let q = |p: &[(&str, &str)]| ListQuery::parse(ATTRS, &pairs(p), &[]).unwrap();
        assert!(q(&[("tags", "red,blue")]).matches(&a) && !q(&[("tags", "red,blue")]).matches(&b));
        assert!(q(&[("tags-any", "blue"), ("tags-any", "green")]).matches(&a));
        assert!(
            !q(&[("not-tags", "red,blue")]).matches(&a)
                && q(&[("not-tags", "red,blue")]).matches(&b)
        );
        assert!(
            !q(&[("not-tags-any", "blue")]).matches(&a)
                && q(&[("not-tags-any", "blue")]).matches(&b)
        );
    }

    #[test]
    fn pagination_walks_forward_and_back_from_a_marker() {
        let items: Vec<_> = ["c", "a", "d", "b"].iter().map(|id| item(id, id, &[])).collect();
        let ids = |v: Vec<Map<String, Value>>| -> Vec<String> {
            v.iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
        };
        let q = ListQuery::parse(ATTRS, &pairs(&[("limit", "2")]), &[]).unwrap();
        assert_eq!(ids(q.paginate(items.clone()).unwrap()), ["a", "b"]);
        let q = ListQuery::parse(ATTRS, &pairs(&[("limit", "2"), ("marker", "b")]), &[]).unwrap();
        assert_eq!(ids(q.paginate(items.clone()).unwrap()), ["c", "d"]);
        let q = ListQuery::parse(
            ATTRS,
            &pairs(&[("limit", "1"), ("marker", "c"), ("page_reverse", "True")]),
            &[],
        )
        .unwrap();
        assert_eq!(ids(q.paginate(items.clone()).unwrap()), ["b"]);
        let q = ListQuery::parse(ATTRS, &pairs(&[("sort_key", "name"), ("sort_dir", "desc")]), &[])
            .unwrap();
        assert_eq!(ids(q.paginate(items.clone()).unwrap()), ["d", "c", "b", "a"]);
        let q = ListQuery::parse(ATTRS, &pairs(&[("marker", "zz"), ("limit", "1")]), &[]).unwrap();
        assert_eq!(q.paginate(items), Err(MarkerNotFound));
    }
}
