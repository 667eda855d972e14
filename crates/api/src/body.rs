//! Request bodies: a size limit checked before parsing (413), JSON parsing with Neutron's
//! errors, envelopes (`{"network": {…}}`, bulk `{"networks": […]}`), and `If-Match`.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use nt_types::{Error, ErrorKind};
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// A parsed JSON body (`Value::Null` when the body is empty).
#[derive(Debug)]
pub struct JsonBody(pub Value);

fn too_large(limit: usize) -> ApiError {
    ApiError(Error::new(
        ErrorKind::PayloadTooLarge,
        "HTTPRequestEntityTooLarge",
        format!("Request is too large: the limit is {limit} bytes."),
    ))
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.max_body_bytes;
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let bytes =
            axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| too_large(limit))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError(Error::bad_request(format!("Malformed request body: {e}"))))
    }
}

fn missing(singular: &str) -> Error {
    Error::bad_request(format!("Unable to find '{singular}' in request body"))
}

/// The items of a create body and whether it was a bulk request.
pub fn create_items(
    body: Value,
    singular: &str,
    plural: &str,
) -> Result<(Vec<Value>, bool), Error> {
    let Value::Object(mut obj) = body else {
        return Err(Error::bad_request("Body contains invalid data"));
    };
    if let Some(list) = obj.remove(plural) {
        let Value::Array(items) = list else {
            return Err(Error::bad_request("Body contains invalid data"));
        };
        if items.is_empty() {
            return Err(Error::bad_request("Resources required"));
        }
        let items = items
            .into_iter()
            .map(|item| match item {
                Value::Object(mut m) if m.len() == 1 && m.contains_key(singular) => {
                    m.remove(singular).unwrap_or(Value::Null)
                }
                other => other,
            })
            .collect();
        return Ok((items, true));
    }
    let item = obj.remove(singular).ok_or_else(|| missing(singular))?;
    Ok((vec![item], false))
}

/// The attributes of an update body.
pub fn update_item(body: Value, singular: &str) -> Result<Value, Error> {
    let Value::Object(mut obj) = body else {
        return Err(Error::bad_request("Body contains invalid data"));
    };
    obj.remove(singular).ok_or_else(|| missing(singular))
}

/// `If-Match: revision_number=N`; plain ETags are ignored, two revision constraints or a
/// non-integer one are refused.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, Error> {
    let mut found = None;
    for value in headers.get_all(axum::http::header::IF_MATCH) {
        let text =
            value.to_str().map_err(|_| Error::bad_request("If-Match header is not valid"))?;
        for tag in text.split(',').map(str::trim) {
            let Some(n) = tag.strip_prefix("revision_number=") else { continue };
            if found.is_some() {
                return Err(Error::bad_request(
                    "Multiple revision_number etags are not supported.",
                ));
            }
            let n: i64 = n
                .trim()
                .parse()
                .map_err(|_| Error::bad_request("If-Match revision_number must be an integer."))?;
            found = Some(n);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn envelopes_single_bulk_and_errors() {
        let (items, bulk) =
            create_items(json!({"network": {"name": "a"}}), "network", "networks").unwrap();
        assert_eq!((items.len(), bulk), (1, false));
        let (items, bulk) = create_items(
            json!({"networks": [{"name": "a"}, {"network": {"name": "b"}}]}),
            "network",
            "networks",
        )
        .unwrap();
        assert_eq!((items[1]["name"].as_str(), bulk), (Some("b"), true));
        assert_eq!(
            create_items(json!({"networks": []}), "network", "networks").unwrap_err().message,
            "Resources required"
        );
        assert!(create_items(json!({"port": {}}), "network", "networks")
            .unwrap_err()
            .message
            .contains("'network'"));
        assert!(create_items(json!([1]), "network", "networks").is_err());
    }

    #[test]
    fn if_match_reads_revision_constraints_only() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        h.insert("if-match", "\"abc\", revision_number=3".parse().unwrap());
        assert_eq!(if_match(&h).unwrap(), Some(3));
        h.insert("if-match", "revision_number=x".parse().unwrap());
        assert!(if_match(&h).is_err());
        h.insert("if-match", "revision_number=1, revision_number=2".parse().unwrap());
        assert!(if_match(&h).is_err());
    }
}
