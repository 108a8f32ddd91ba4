//! STAC API item search and mosaics built from its items (cogeo-mosaic's `STACBackend`
//! creation path).
//!
//! [`search`] POSTs a query to a `/search` endpoint and pages through the results. Unlike
//! cogeo-mosaic it follows the STAC API `next` link of either method (GET: its `href`;
//! POST: its `href` with its `body`, merged into the current body when `merge` is true,
//! else replacing it) and needs no `context` (cogeo-mosaic#189, #240). When an API gives no
//! `next` link but reports more matches than returned, cogeo-mosaic's legacy `page`
//! parameter is tried. Paging stops at the first empty page, at a request already made, and
//! at a page identical to one received before (an API ignoring `page`).
//!
//! ```no_run
//! # async fn run() -> mosaic::Result<()> {
//! use mosaic::stac::{ItemAccessor, SearchOptions, client, footprints_from_items, search};
//! let query = serde_json::json!({"collections": ["sentinel-2-l2a"], "bbox": [10, 45, 11, 46]});
//! let http = client()?; // once per process
//! let items = search(&http, "https://example.com/search", &query, &SearchOptions::default()).await?;
//! let footprints = footprints_from_items(&items, &ItemAccessor::Asset("visual".into()))?;
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha224};

use crate::create::{Footprint, parse_geometry};
use crate::error::Context;
use crate::{Error, Result};

/// cogeo-mosaic's page size when the query sets none.
pub const DEFAULT_LIMIT: u64 = 500;

/// Paging limits of a [`search`].
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    /// Items per page, sent as `limit` when the query has none (default [`DEFAULT_LIMIT`]).
    pub limit: Option<u64>,
    /// Stop after this many items (the rest are not requested).
    pub max_items: Option<usize>,
    /// Largest page body accepted, in bytes ([`Error::LimitExceeded`] above it); `None`: no
    /// bound (the CLI).
    pub max_page_bytes: Option<u64>,
    /// Most items the search may return before `max_items` stops it: more is
    /// [`Error::LimitExceeded`] (`MOSAIC_MAX_STAC_ITEMS`), found without fetching further
    /// pages; `None`: no bound (the CLI).
    pub item_budget: Option<u64>,
}

/// How an item becomes an asset of the mosaic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemAccessor {
    /// cogeo-mosaic's `default_stac_accessor`: the item's `self` link, else
    /// `{root}/collections/{collection}/items/{id}`, else its `id`.
    ItemUrl,
    /// The `href` of the item's asset with this key (e.g. `visual`), for mosaics of COGs.
    Asset(String),
}

/// One request of a paged search.
#[derive(Debug, Clone, PartialEq)]
enum Request {
    Get(String),
    Post(String, Value),
}

/// The HTTP client of STAC searches, with their timeouts: build it once per process (see
/// [`crate::backend::Backends::stac_client`]) and pass it to every search.
pub fn client() -> Result<reqwest::Client> {
    client_through(None)
}

/// [`client`] sending every request through the HTTP proxy `proxy` (the tiler's egress
/// gate), or directly when `None`.
pub fn client_through(proxy: Option<&str>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120));
    if let Some(p) = proxy {
        let proxy =
            reqwest::Proxy::all(p).map_err(|e| Error::Internal(format!("HTTP proxy {p}: {e}")))?;
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| Error::Internal(format!("HTTP client: {e}")))
}

/// Items matching `query` at the search endpoint `url`, in the API's order, every page.
///
/// Errors: 401/403 → [`Error::Auth`], 404 → [`Error::NotFound`], other failures (status,
/// network, a body that is not an ItemCollection) → [`Error::Storage`] naming the URL.
pub async fn search(
    client: &reqwest::Client,
    url: &str,
    query: &Value,
    opts: &SearchOptions,
) -> Result<Vec<Value>> {
    let Value::Object(body) = query else {
        return Err(Error::InvalidInput(format!(
            "a STAC search query is a JSON object, not {query}"
        )));
    };
    let mut body = body.clone();
    body.entry("limit")
        .or_insert_with(|| Value::from(opts.limit.unwrap_or(DEFAULT_LIMIT)));
    let mut request = Request::Post(url.to_string(), Value::Object(body.clone()));
    let mut seen = HashSet::new();
    let mut pages_seen: HashSet<[u8; 28]> = HashSet::new();
    let mut items: Vec<Value> = Vec::new();
    let mut legacy_page = 1u64;
    loop {
        if !seen.insert(format!("{request:?}")) {
            // An API answering the same next link again would page forever.
            tracing::warn!("{url}: the search repeats a page; stopping");
            break;
        }
        let page = fetch_page(client, &request, opts.max_page_bytes).await?;
        let features = match page.get("features") {
            Some(Value::Array(f)) => f,
            _ => {
                return Err(Error::storage(
                    url,
                    "the answer is not an ItemCollection (no `features` array)",
                ));
            }
        };
        if features.is_empty() {
            break;
        }
        // An API that ignores `page` (or hands out fresh `next` links to the same items)
        // would be paged until `numberMatched`, forever when that is huge: a page identical
        // to one received before ends the search.
        let digest: [u8; 28] =
            Sha224::digest(serde_json::to_vec(features).unwrap_or_default()).into();
        if !pages_seen.insert(digest) {
            tracing::warn!("{url}: the search returns a page already received; stopping");
            break;
        }
        items.extend(features.iter().cloned());
        let wanted = opts.max_items.map_or(items.len(), |m| items.len().min(m));
        if let Some(budget) = opts.item_budget {
            crate::limits::check(
                || format!("a STAC search at {url} (stac_max_items stops it earlier)"),
                wanted as u64,
                budget,
                "MOSAIC_MAX_STAC_ITEMS",
            )?;
        }
        if let Some(max) = opts.max_items
            && items.len() >= max
        {
            items.truncate(max);
            break;
        }
        request = match next_request(&page, &request)? {
            Some(next) => next,
            None => {
                // cogeo-mosaic's paging for APIs without links: `page` while matches remain.
                match matched(&page) {
                    Some(m) if (items.len() as u64) < m => {
                        legacy_page += 1;
                        let mut b = body.clone();
                        b.insert("page".into(), Value::from(legacy_page));
                        Request::Post(url.to_string(), Value::Object(b))
                    }
                    _ => break,
                }
            }
        };
    }
    Ok(items)
}

async fn fetch_page(
    client: &reqwest::Client,
    request: &Request,
    max_bytes: Option<u64>,
) -> Result<Value> {
    let (url, sent) = match request {
        Request::Get(url) => (url, client.get(url)),
        Request::Post(url, body) => (
            url,
            client
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        ),
    };
    // A request that did not get an answer (connection, timeout, a body cut short) may
    // succeed later; so may an answer of 429 or 5xx.
    let transport = |what: &str, e: reqwest::Error| Error::transient(url, Context::new(what, e));
    let mut response = sent
        .header("Accept", "application/geo+json, application/json")
        .send()
        .await
        .map_err(|e| transport("request failed", e))?;
    let status = response.status();
    // Read chunk by chunk so a page over the budget is refused before it is held whole.
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport("reading the answer", e))?
    {
        bytes.extend_from_slice(&chunk);
        if let Some(max) = max_bytes {
            crate::limits::check(
                || format!("a STAC page from {url}"),
                bytes.len() as u64,
                max,
                "MOSAIC_MAX_DOCUMENT_BYTES",
            )?;
        }
    }
    if !status.is_success() {
        let excerpt: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
        let answer = format!("{status}: {excerpt}");
        return Err(match status.as_u16() {
            401 | 403 => Error::auth(url, answer),
            404 => Error::NotFound { uri: url.clone() },
            429 | 500..=599 => Error::transient(url, answer),
            _ => Error::storage(url, answer),
        });
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::storage(url, Context::new("the answer is not JSON", e)))
}

/// The request of the page after `page`, from its `next` link.
fn next_request(page: &Value, current: &Request) -> Result<Option<Request>> {
    let Some(link) = page["links"]
        .as_array()
        .and_then(|links| links.iter().find(|l| l["rel"] == "next"))
    else {
        return Ok(None);
    };
    let Some(href) = link["href"].as_str() else {
        return Err(Error::storage(
            current_url(current),
            "a `next` link without `href`",
        ));
    };
    let method = link["method"].as_str().unwrap_or("GET");
    if method.eq_ignore_ascii_case("GET") {
        return Ok(Some(Request::Get(href.to_string())));
    }
    if !method.eq_ignore_ascii_case("POST") {
        return Err(Error::storage(
            href,
            format!("`next` link with method {method}"),
        ));
    }
    let link_body = link["body"].as_object().cloned().unwrap_or_default();
    let body = if link["merge"] == true {
        let mut merged: Map<String, Value> = match current {
            Request::Post(_, Value::Object(b)) => b.clone(),
            _ => Map::new(),
        };
        merged.extend(link_body);
        merged
    } else {
        link_body
    };
    Ok(Some(Request::Post(href.to_string(), Value::Object(body))))
}

fn current_url(r: &Request) -> &str {
    match r {
        Request::Get(u) | Request::Post(u, _) => u,
    }
}

/// Matches reported by the page: `numberMatched`, or the `context` / `meta` extension's
/// `matched` / `found`.
fn matched(page: &Value) -> Option<u64> {
    page["numberMatched"].as_u64().or_else(|| {
        ["context", "meta"]
            .iter()
            .find_map(|k| page[k]["matched"].as_u64().or(page[k]["found"].as_u64()))
    })
}

/// The asset an item stands for.
pub fn item_asset(item: &Value, accessor: &ItemAccessor) -> Result<String> {
    let id = item["id"].as_str().unwrap_or("(no id)");
    match accessor {
        ItemAccessor::Asset(key) => item["assets"][key]["href"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| Error::InvalidInput(format!("item {id} has no asset `{key}`"))),
        ItemAccessor::ItemUrl => {
            let link = |rel: &str| {
                item["links"]
                    .as_array()
                    .and_then(|l| l.iter().find(|l| l["rel"] == rel))
                    .and_then(|l| l["href"].as_str())
            };
            if let Some(href) = link("self") {
                return Ok(href.to_string());
            }
            if let (Some(root), Some(collection)) = (link("root"), item["collection"].as_str()) {
                return Ok(format!(
                    "{}/collections/{collection}/items/{id}",
                    root.trim_end_matches('/')
                ));
            }
            item["id"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| Error::InvalidInput("an item without links has no `id`".into()))
        }
    }
}

/// Footprints of `items` (Polygon or MultiPolygon geometries) in their order. Items without
/// a geometry cannot be placed: they are left out and their ids returned.
pub fn footprints_from_items(
    items: &[Value],
    accessor: &ItemAccessor,
) -> Result<(Vec<Footprint>, Vec<String>)> {
    let mut footprints = Vec::with_capacity(items.len());
    let mut unplaced = Vec::new();
    for item in items {
        let id = item["id"].as_str().unwrap_or("(no id)");
        let geometry = &item["geometry"];
        if geometry.is_null() {
            unplaced.push(id.to_string());
            continue;
        }
        let polygons =
            parse_geometry(geometry).map_err(|e| Error::InvalidInput(format!("item {id}: {e}")))?;
        footprints.push(Footprint {
            asset: item_asset(item, accessor)?,
            polygons,
        });
    }
    Ok((footprints, unplaced))
}

/// A mosaic built from a search, with what the search gave.
#[derive(Debug, Clone)]
pub struct SearchMosaic {
    /// The document.
    pub doc: crate::MosaicJson,
    /// Items the search returned.
    pub items: usize,
    /// Ids of the items left out for lack of a geometry.
    pub unplaced: Vec<String>,
}

/// The footprints of the items `query` finds at `url` (every page), with how many items
/// came back and the ids of those left out for lack of a geometry (logged as a warning).
/// A search that places nothing is [`Error::EmptyMosaic`].
pub async fn search_footprints(
    client: &reqwest::Client,
    url: &str,
    query: &Value,
    search_opts: &SearchOptions,
    accessor: &ItemAccessor,
) -> Result<(Vec<Footprint>, usize, Vec<String>)> {
    let url = url.strip_prefix("stac+").unwrap_or(url);
    let items = search(client, url, query, search_opts).await?;
    let (footprints, unplaced) = footprints_from_items(&items, accessor)?;
    if !unplaced.is_empty() {
        tracing::warn!(
            "{url}: {} of {} items have no geometry and are left out: {}",
            unplaced.len(),
            items.len(),
            unplaced
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if footprints.is_empty() {
        return Err(Error::EmptyMosaic(format!(
            "the STAC search at {url} found {}",
            if items.is_empty() {
                "no items".to_string()
            } else {
                format!("{} items, none with a geometry", items.len())
            }
        )));
    }
    Ok((footprints, items.len(), unplaced))
}

/// A mosaic of the items `query` finds at `url` (cogeo-mosaic's `STACBackend` creation):
/// every page fetched ([`search_footprints`]), created with `create` off the async runtime.
pub async fn mosaic_from_search(
    client: &reqwest::Client,
    url: &str,
    query: &Value,
    search_opts: &SearchOptions,
    accessor: &ItemAccessor,
    create: &crate::create::CreateOptions,
) -> Result<SearchMosaic> {
    let (footprints, items, unplaced) =
        search_footprints(client, url, query, search_opts, accessor).await?;
    let create = create.clone();
    let doc = crate::run_blocking("create", move || {
        crate::MosaicJson::from_footprints_owned(footprints, &create)
    })
    .await?;
    Ok(SearchMosaic {
        doc,
        items,
        unplaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn next_links_of_either_method() {
        let post = Request::Post("u".into(), json!({"collections": ["c"], "limit": 5}));
        let page = json!({"links": [{"rel": "next", "href": "http://h/search?token=x"}]});
        assert_eq!(
            next_request(&page, &post).unwrap(),
            Some(Request::Get("http://h/search?token=x".into()))
        );
        let page = json!({"links": [{"rel": "next", "href": "http://h/search", "method": "POST",
                                     "body": {"token": "next:1"}}]});
        assert_eq!(
            next_request(&page, &post).unwrap(),
            Some(Request::Post(
                "http://h/search".into(),
                json!({"token": "next:1"})
            ))
        );
        let page = json!({"links": [{"rel": "next", "href": "http://h/search", "method": "POST",
                                     "body": {"token": "next:1"}, "merge": true}]});
        assert_eq!(
            next_request(&page, &post).unwrap(),
            Some(Request::Post(
                "http://h/search".into(),
                json!({"collections": ["c"], "limit": 5, "token": "next:1"})
            ))
        );
        assert_eq!(next_request(&json!({"links": []}), &post).unwrap(), None);
    }

    #[test]
    fn matched_from_numbers_context_or_meta() {
        assert_eq!(matched(&json!({"numberMatched": 7})), Some(7));
        assert_eq!(matched(&json!({"context": {"matched": 8}})), Some(8));
        assert_eq!(matched(&json!({"meta": {"found": 9}})), Some(9));
        assert_eq!(matched(&json!({})), None);
    }

    #[test]
    fn accessors() {
        let item = json!({"id": "i", "collection": "c",
                          "links": [{"rel": "root", "href": "http://h/api/"}],
                          "assets": {"visual": {"href": "s3://b/i.tif"}}});
        assert_eq!(
            item_asset(&item, &ItemAccessor::ItemUrl).unwrap(),
            "http://h/api/collections/c/items/i"
        );
        assert_eq!(
            item_asset(&item, &ItemAccessor::Asset("visual".into())).unwrap(),
            "s3://b/i.tif"
        );
        assert!(item_asset(&item, &ItemAccessor::Asset("red".into())).is_err());
        let with_self = json!({"id": "i", "links": [{"rel": "self", "href": "http://h/i.json"}]});
        assert_eq!(
            item_asset(&with_self, &ItemAccessor::ItemUrl).unwrap(),
            "http://h/i.json"
        );
        assert_eq!(
            item_asset(&json!({"id": "i"}), &ItemAccessor::ItemUrl).unwrap(),
            "i"
        );
    }

    #[test]
    fn items_without_geometry_are_left_out() {
        let items = [
            json!({"id": "a", "geometry": null}),
            json!({"id": "b", "geometry": {"type": "Polygon",
                   "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}}),
        ];
        let (fps, unplaced) = footprints_from_items(&items, &ItemAccessor::ItemUrl).unwrap();
        assert_eq!(unplaced, ["a"]);
        assert_eq!(fps.len(), 1);
        assert_eq!(fps[0].asset, "b");
    }
}
