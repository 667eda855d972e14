//! The CRUD and tag routes shared by networks, subnets and ports: one generic handler per
//! operation over a [`Collection`] that names the resource and its core service calls.

use std::future::Future;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use nt_core::tags::TagChange;
use nt_core::{Core, OpContext, TaggedResource, ViewSink};
use nt_types::attr::Attr;
use nt_types::query::ListQuery;
use nt_types::Error;
use serde_json::{json, Map, Value};

use crate::auth::Auth;
use crate::body::{create_items, if_match, update_item, JsonBody};
use crate::error::ApiError;
use crate::state::AppState;

type Views = Result<Vec<Map<String, Value>>, Error>;
type View = Result<Map<String, Value>, Error>;

/// A resource collection of the network API and the core calls behind it.
pub trait Collection: Send + Sync + 'static {
    /// JSON key of one item, e.g. `network`.
    const SINGULAR: &'static str;
    /// JSON key of a list, e.g. `networks`.
    const PLURAL: &'static str;
    /// URL segment under `/v2.0` (hyphenated for some collections).
    const PATH: &'static str = Self::PLURAL;
    /// Attribute table.
    const ATTRS: &'static [Attr];
    /// Filters the resource handles itself.
    const SPECIAL_FILTERS: &'static [&'static str];
    /// Kind for the tags sub-resource, if the resource has tags.
    const TAGGED: Option<TaggedResource>;

    /// Creates items.
    fn create<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        items: &'a [Value],
    ) -> impl Future<Output = Views> + Send + 'a;
    /// Lists items into `sink`.
    fn list<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        q: &'a ListQuery,
        sink: &'a mut ViewSink<'a>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a;
    /// Shows one item.
    fn show<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
    ) -> impl Future<Output = View> + Send + 'a;
    /// Updates one item.
    fn update<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
        body: &'a Value,
        if_match: Option<i64>,
    ) -> impl Future<Output = View> + Send + 'a;
    /// Deletes one item.
    fn delete<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
        if_match: Option<i64>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a;
}

macro_rules! collection {
    ($ty:ident, $singular:literal, $plural:literal, $path:literal, $attrs:path, $special:expr, $tagged:expr,
     $create:ident, $list:ident, $show:ident, $update:ident, $delete:ident) => {
        #[doc = concat!("`/v2.0/", $plural, "`.")]
        #[derive(Debug)]
        pub struct $ty;

        impl Collection for $ty {
            const SINGULAR: &'static str = $singular;
            const PLURAL: &'static str = $plural;
            const PATH: &'static str = $path;
            const ATTRS: &'static [Attr] = $attrs;
            const SPECIAL_FILTERS: &'static [&'static str] = $special;
            const TAGGED: Option<TaggedResource> = $tagged;

            fn create<'a>(
                core: &'a Core,
                ctx: &'a OpContext,
                items: &'a [Value],
            ) -> impl Future<Output = Views> + Send + 'a {
                core.$create(ctx, items)
            }
            fn list<'a>(
                core: &'a Core,
                ctx: &'a OpContext,
                q: &'a ListQuery,
                sink: &'a mut ViewSink<'a>,
            ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
                core.$list(ctx, q, sink)
            }
            fn show<'a>(
                core: &'a Core,
                ctx: &'a OpContext,
                id: &'a str,
            ) -> impl Future<Output = View> + Send + 'a {
                core.$show(ctx, id)
            }
            fn update<'a>(
                core: &'a Core,
                ctx: &'a OpContext,
                id: &'a str,
                body: &'a Value,
                if_match: Option<i64>,
            ) -> impl Future<Output = View> + Send + 'a {
                core.$update(ctx, id, body, if_match)
            }
            fn delete<'a>(
                core: &'a Core,
                ctx: &'a OpContext,
                id: &'a str,
                if_match: Option<i64>,
            ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
                core.$delete(ctx, id, if_match)
            }
        }
    };
}
// Other route modules (l3) declare their collections with it too.
pub(super) use collection;

collection!(
    Networks,
    "network",
    "networks",
    "networks",
    nt_types::network::ATTRS,
    &[],
    Some(TaggedResource::Network),
    network_create,
    network_list,
    network_show,
    network_update,
    network_delete
);
collection!(
    Subnets,
    "subnet",
    "subnets",
    "subnets",
    nt_types::subnet::ATTRS,
    &[],
    Some(TaggedResource::Subnet),
    subnet_create,
    subnet_list,
    subnet_show,
    subnet_update,
    subnet_delete
);
collection!(
    Ports,
    "port",
    "ports",
    "ports",
    nt_types::port::ATTRS,
    &["fixed_ips"],
    Some(TaggedResource::Port),
    port_create,
    port_list,
    port_show,
    port_update,
    port_delete
);
collection!(
    SecurityGroups,
    "security_group",
    "security_groups",
    "security-groups",
    nt_types::security_group::ATTRS,
    &[],
    Some(TaggedResource::SecurityGroup),
    security_group_create,
    security_group_list,
    security_group_show,
    security_group_update,
    security_group_delete
);
collection!(
    SecurityGroupRules,
    "security_group_rule",
    "security_group_rules",
    "security-group-rules",
    nt_types::security_group::RULE_ATTRS,
    &[],
    None,
    security_group_rule_create,
    security_group_rule_list,
    security_group_rule_show,
    security_group_rule_update,
    security_group_rule_delete
);
collection!(
    RbacPolicies,
    "rbac_policy",
    "rbac_policies",
    "rbac-policies",
    nt_types::rbac::ATTRS,
    &[],
    None,
    rbac_create,
    rbac_list,
    rbac_show,
    rbac_update,
    rbac_delete
);

/// `/v2.0/agents`: list and show only.
#[derive(Debug)]
pub struct Agents;

fn read_only() -> Error {
    Error::new(
        nt_types::ErrorKind::MethodNotAllowed,
        "HTTPMethodNotAllowed",
        "The method is not allowed for the requested URL.",
    )
}

impl Collection for Agents {
    const SINGULAR: &'static str = "agent";
    const PLURAL: &'static str = "agents";
    const ATTRS: &'static [Attr] = nt_types::agent::ATTRS;
    const SPECIAL_FILTERS: &'static [&'static str] = &[];
    const TAGGED: Option<TaggedResource> = None;

    async fn create<'a>(_: &'a Core, _: &'a OpContext, _: &'a [Value]) -> Views {
        Err(read_only())
    }
    fn list<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        q: &'a ListQuery,
        sink: &'a mut ViewSink<'a>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        core.agent_list(ctx, q, sink)
    }
    fn show<'a>(
        core: &'a Core,
        ctx: &'a OpContext,
        id: &'a str,
    ) -> impl Future<Output = View> + Send + 'a {
        core.agent_show(ctx, id)
    }
    async fn update<'a>(
        _: &'a Core,
        _: &'a OpContext,
        _: &'a str,
        _: &'a Value,
        _: Option<i64>,
    ) -> View {
        Err(read_only())
    }
    async fn delete<'a>(
        _: &'a Core,
        _: &'a OpContext,
        _: &'a str,
        _: Option<i64>,
    ) -> Result<(), Error> {
        Err(read_only())
    }
}

/// Routes of a collection that is only read.
pub fn read_only_router<C: Collection>() -> Router<AppState> {
    let base = format!("/v2.0/{}", C::PATH);
    Router::new().route(&base, get(list::<C>)).route(&format!("{base}/{{id}}"), get(show::<C>))
}

/// The routes of one collection.
pub fn router<C: Collection>() -> Router<AppState> {
    let base = format!("/v2.0/{}", C::PATH);
    let mut router = Router::new()
        .route(&base, get(list::<C>).post(create::<C>))
        .route(&format!("{base}/{{id}}"), get(show::<C>).put(update::<C>).delete(delete::<C>));
    if C::TAGGED.is_some() {
        router = router
            .route(
                &format!("{base}/{{id}}/tags"),
                get(tags_list::<C>)
                    .put(tags_replace::<C>)
                    .post(tags_add_all::<C>)
                    .delete(tags_clear::<C>),
            )
            .route(
                &format!("{base}/{{id}}/tags/{{tag}}"),
                get(tag_check::<C>).put(tag_add::<C>).delete(tag_remove::<C>),
            );
    }
    router
}

/// The tag kind of a collection whose tag routes exist.
fn tagged<C: Collection>() -> TaggedResource {
    C::TAGGED.expect("tag routes exist only for tagged collections")
}

type Pairs = Query<Vec<(String, String)>>;

async fn list<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    OriginalUri(uri): OriginalUri,
    Query(pairs): Pairs,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(C::ATTRS, &pairs, C::SPECIAL_FILTERS)?;
    // The body is written item by item as the core hands views over, so a list of thousands
    // of resources is never held as a whole in memory besides its JSON text.
    let mut out: Vec<u8> = format!("{{\"{}\":[", C::PLURAL).into_bytes();
    let mut count = 0usize;
    let (mut first, mut last) = (None::<String>, None::<String>);
    {
        let mut sink = |mut view: Map<String, Value>| {
            let id = view.get("id").and_then(Value::as_str).map(String::from);
            if first.is_none() {
                first.clone_from(&id);
            }
            last = id;
            query.select_fields(&mut view);
            if count > 0 {
                out.push(b',');
            }
            count += 1;
            serde_json::to_writer(&mut out, &view).expect("a JSON map always serializes");
        };
        C::list(&state.core, &ctx, &query, &mut sink).await?;
    }
    out.push(b']');
    if let Some(limit) = query.limit {
        let page = Page { first, last, count, limit, reverse: query.page_reverse };
        let links = page_links(&state, uri.path(), &pairs, &page);
        out.extend_from_slice(format!(",\"{}_links\":", C::PLURAL).as_bytes());
        serde_json::to_writer(&mut out, &links).expect("links serialize");
    }
    out.push(b'}');
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// What the links of a page are built from.
struct Page {
    first: Option<String>,
    last: Option<String>,
    count: usize,
    limit: usize,
    reverse: bool,
}

fn page_links(state: &AppState, path: &str, pairs: &[(String, String)], page: &Page) -> Vec<Value> {
    let link = |rel: &str, marker: &str, page_reverse: bool| {
        let mut query: Vec<(String, String)> =
            pairs.iter().filter(|(k, _)| k != "marker" && k != "page_reverse").cloned().collect();
        query.push(("marker".into(), marker.to_string()));
        if page_reverse {
            query.push(("page_reverse".into(), "True".into()));
        }
        let encoded: Vec<String> =
            query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        json!({"rel": rel, "href": format!("{}{path}?{}", state.config.public_url, encoded.join("&"))})
    };
    let full = page.count >= page.limit;
    let mut links = Vec::new();
    // Forward: `next` only after a full page, `previous` always; reversed the other way round.
    let (next_always, previous_always) = (page.reverse, !page.reverse);
    if let (true, Some(last)) = (next_always || full, &page.last) {
        links.push(link("next", last, false));
    }
    if let (true, Some(first)) = (previous_always || full, &page.first) {
        links.push(link("previous", first, true));
    }
    links
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn create<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (items, bulk) = create_items(body, C::SINGULAR, C::PLURAL)?;
    let mut views = C::create(&state.core, &ctx, &items).await?;
    let body = if bulk { json!({ C::PLURAL: views }) } else { json!({ C::SINGULAR: views.pop() }) };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn show<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Query(pairs): Pairs,
) -> Result<Json<Value>, ApiError> {
    let mut view = C::show(&state.core, &ctx, &id).await?;
    let fields: Vec<String> =
        pairs.into_iter().filter(|(k, _)| k == "fields").map(|(_, v)| v).collect();
    if !fields.is_empty() {
        view.retain(|k, _| fields.iter().any(|f| f == k));
    }
    Ok(Json(json!({ C::SINGULAR: view })))
}

async fn update<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let constraint = if_match(&headers)?;
    let attrs = update_item(body, C::SINGULAR)?;
    let view = C::update(&state.core, &ctx, &id, &attrs, constraint).await?;
    Ok(Json(json!({ C::SINGULAR: view })))
}

async fn delete<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    if !body.is_null() {
        return Err(Error::bad_request("Request body is not supported in DELETE.").into());
    }
    let constraint = if_match(&headers)?;
    C::delete(&state.core, &ctx, &id, constraint).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tags_list<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"tags": state.core.tags_get(&ctx, tagged::<C>(), &id).await?})))
}

fn tag_list(body: Value) -> Result<Vec<String>, Error> {
    let tags = body
        .get("tags")
        .cloned()
        .ok_or_else(|| Error::bad_request("Unable to find 'tags' in request body"))?;
    serde_json::from_value(tags)
        .map_err(|_| Error::invalid_attr("tags", "tags must be a list of strings"))
}

async fn tags_replace<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let tags = tag_list(body)?;
    let tags = state.core.tags_change(&ctx, tagged::<C>(), &id, TagChange::Replace(tags)).await?;
    Ok(Json(json!({ "tags": tags })))
}

async fn tags_add_all<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let tags = tag_list(body)?;
    let tags = state.core.tags_change(&ctx, tagged::<C>(), &id, TagChange::AddAll(tags)).await?;
    Ok(Json(json!({ "tags": tags })))
}

async fn tags_clear<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.core.tags_change(&ctx, tagged::<C>(), &id, TagChange::Clear).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_check<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tags = state.core.tags_get(&ctx, tagged::<C>(), &id).await?;
    if tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::new(
            nt_types::ErrorKind::NotFound,
            "TagNotFound",
            format!("Tag {tag} could not be found."),
        )
        .into())
    }
}

async fn tag_add<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.core.tags_change(&ctx, tagged::<C>(), &id, TagChange::Add(tag)).await?;
    Ok(StatusCode::CREATED)
}

async fn tag_remove<C: Collection>(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.core.tags_change(&ctx, tagged::<C>(), &id, TagChange::Remove(tag)).await?;
    Ok(StatusCode::NO_CONTENT)
}
