//! STAC searches as mosaics: `url=stac+http(s)://…/search` with `stac_query`, `minzoom`,
//! `maxzoom`, `stac_limit`, `stac_max_items`, `stac_asset` and `stac_mosaic_options` on every
//! `/mosaicjson` endpoint, and searches registered once (`POST /mosaicjson/stac/register`)
//! then served as `/mosaics/{id}/…`, titiler-pgstac's model.
//!
//! A registered search is stored where `MOSAIC_URL_TEMPLATE` points, as a MosaicJSON document
//! without tiles whose extension key [`SEARCH_KEY`] holds the search: any writable backend
//! keeps it, and cogeo-mosaic reads it as an empty mosaic. Opening such a document opens its
//! search, through the allowlist again (a stored document is as untrusted as a request).

use std::time::Duration;

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;
use mosaic::backend::{MosaicRead, StacMosaicOptions, StacSearch, WriteMode};
use mosaic::gate::Use;
use mosaic::stac::{ItemAccessor, SearchOptions};
use mosaic::{MosaicJson, TileMatrixSet};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha224};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::params::Query;

/// The extension key of a registered search in its stored document.
pub const SEARCH_KEY: &str = "x-mosaic-stac-search";

/// How long opening one search (every page) may take before the request gives up; within
/// API Gateway's 29 s.
const SEARCH_DEADLINE: Duration = Duration::from_secs(25);

/// A search as requests give it (query parameters or the register body) and as it is stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StacParams {
    /// `stac+http(s)://…/search`.
    pub url: String,
    /// The search body: a JSON object, or its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stac_query: Option<Value>,
    /// The mosaic's zooms (required).
    pub minzoom: Option<u8>,
    /// See `minzoom`.
    pub maxzoom: Option<u8>,
    /// Items per page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stac_limit: Option<u64>,
    /// Stop after this many items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stac_max_items: Option<usize>,
    /// The item asset whose `href` is the mosaic's asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stac_asset: Option<String>,
    /// cogeo-mosaic's `mosaic_options` (object or its text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stac_mosaic_options: Option<Value>,
}

/// A JSON parameter given as an object or as its text.
fn json_param(name: &str, v: &Value) -> ApiResult<Value> {
    match v {
        Value::String(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::BadRequest(format!("`{name}` is not JSON: {e}"))),
        other => Ok(other.clone()),
    }
}

impl StacParams {
    /// The search of a `/mosaicjson` request whose `url` is `url`.
    pub fn from_query(url: &str, q: &Query) -> ApiResult<StacParams> {
        let num = |k: &str| -> ApiResult<Option<u64>> {
            q.get(k)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        ApiError::BadRequest(format!("`{k}`: `{v}` is not a whole number"))
                    })
                })
                .transpose()
        };
        let zoom = |k: &str| -> ApiResult<Option<u8>> {
            num(k)?
                .map(|z| {
                    u8::try_from(z)
                        .ok()
                        .filter(|z| *z <= 30)
                        .ok_or_else(|| ApiError::BadRequest(format!("`{k}` must be 0..=30")))
                })
                .transpose()
        };
        Ok(StacParams {
            url: url.to_string(),
            stac_query: q.get("stac_query").map(|t| Value::String(t.into())),
            minzoom: zoom("minzoom")?,
            maxzoom: zoom("maxzoom")?,
            stac_limit: num("stac_limit")?,
            stac_max_items: num("stac_max_items")?
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            stac_asset: q.get("stac_asset").map(String::from),
            stac_mosaic_options: q
                .get("stac_mosaic_options")
                .map(|t| Value::String(t.into())),
        })
    }

    /// These parameters with their JSON values parsed (the stored, canonical form).
    fn normalized(mut self) -> ApiResult<StacParams> {
        if let Some(q) = &self.stac_query {
            self.stac_query = Some(json_param("stac_query", q)?);
        }
        if let Some(o) = &self.stac_mosaic_options {
            self.stac_mosaic_options = Some(json_param("stac_mosaic_options", o)?);
        }
        Ok(self)
    }

    /// The search, its endpoint admitted by the allowlist, with the request budgets.
    pub fn search(&self, state: &AppState) -> ApiResult<StacSearch> {
        let canonical = state.config.gate.admit(&self.url, Use::Mosaic)?;
        if !canonical.starts_with("stac+") {
            return Err(ApiError::BadRequest(format!(
                "`{}` is not a stac+http(s):// search",
                self.url
            )));
        }
        let (Some(minzoom), Some(maxzoom)) = (self.minzoom, self.maxzoom) else {
            return Err(ApiError::BadRequest(
                "a stac+ mosaic needs `minzoom` and `maxzoom`".into(),
            ));
        };
        let query = match &self.stac_query {
            Some(q) => json_param("stac_query", q)?,
            None => json!({}),
        };
        let mut search = StacSearch::new(&canonical, query, minzoom, maxzoom)?;
        let limits = &state.config.limits;
        search.api = SearchOptions {
            limit: self.stac_limit,
            max_items: self.stac_max_items,
            max_page_bytes: Some(limits.max_document_bytes),
            item_budget: Some(limits.max_stac_items),
        };
        search.max_tiles = Some(limits.max_stac_tiles);
        if let Some(o) = &self.stac_mosaic_options {
            let options = json_param("stac_mosaic_options", o)?;
            search.mosaic = StacMosaicOptions::from_json(&options.to_string())?;
        }
        if let Some(key) = &self.stac_asset {
            search.mosaic.accessor = ItemAccessor::Asset(key.clone());
        }
        Ok(search)
    }
}

/// Opens `search` through the cache, within [`SEARCH_DEADLINE`].
pub async fn open(
    state: &AppState,
    search: &StacSearch,
) -> ApiResult<std::sync::Arc<dyn MosaicRead>> {
    match tokio::time::timeout(SEARCH_DEADLINE, state.cache.open_stac(search)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ApiError::Mosaic(mosaic::Error::transient(
            search.endpoint(),
            format!("the search did not finish within {SEARCH_DEADLINE:?}"),
        ))),
    }
}

/// The search a stored document holds, when it is a registered search.
pub fn registered(doc: &MosaicJson) -> ApiResult<Option<StacParams>> {
    let Some(v) = doc.extra.get(SEARCH_KEY) else {
        return Ok(None);
    };
    serde_json::from_value(v.clone()).map(Some).map_err(|e| {
        ApiError::Mosaic(mosaic::Error::InvalidMosaic {
            field: Some(SEARCH_KEY.into()),
            reason: e.to_string(),
        })
    })
}

/// `POST /mosaicjson/stac/register`: stores the search (body: [`StacParams`]) under an id
/// derived from it and answers the id with the URLs of its tiles.
pub async fn register(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let template = state.config.url_template.clone().ok_or_else(|| {
        ApiError::NotFound("registering searches needs MOSAIC_URL_TEMPLATE".into())
    })?;
    if body.len() as u64 > 1 << 20 {
        return Err(ApiError::Mosaic(mosaic::Error::LimitExceeded {
            what: "a search registration".into(),
            limit: 1 << 20,
            setting: "a fixed 1 MiB",
            detail: None,
        }));
    }
    let params: StacParams = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Unprocessable(format!("search registration: {e}")))?;
    let params = params.normalized()?;
    // Checked as a request would be: endpoint allowed, query and options valid.
    let search = params.search(&state)?;
    let stored = StacParams {
        url: search.url.clone(),
        ..params
    };
    let canonical = serde_json::to_vec(&stored).unwrap_or_default();
    let id: String = Sha224::digest(&canonical)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let id = format!("stac-{id}");
    let mut doc = MosaicJson::new(search.minzoom, search.maxzoom);
    doc.name = Some(format!("STAC search {id}"));
    doc.extra.insert(
        SEARCH_KEY.into(),
        serde_json::to_value(&stored).unwrap_or_default(),
    );
    let location = template.replace("{id}", &id);
    state
        .cache
        .backends()
        .open_writer(&location)?
        .write(&doc, WriteMode::Overwrite)
        .await?;
    state.cache.invalidate(&location).await;
    // A backend that keeps only MosaicJSON's own fields (SQLite's fixed columns) would store
    // an empty mosaic: read the registration back.
    let kept = state.cache.backends().open(&location).await?;
    if registered(&kept.document())?.as_ref() != Some(&stored) {
        return Err(ApiError::Mosaic(mosaic::Error::Unsupported {
            what: format!(
                "keeping a registered search at `{location}` (MOSAIC_URL_TEMPLATE: this backend drops the search; use a file, s3://, gs://, az:// or dynamodb:// template)"
            ),
            feature: None,
        }));
    }
    let base = crate::routes::base_url(&state, &headers, &uri, "/mosaicjson/stac/register", 0);
    let tms = TileMatrixSet::web_mercator();
    let prefix = format!("{base}/mosaics/{id}");
    let tilejson = format!("{prefix}/{}/tilejson.json", tms.id());
    let tiles = format!("{prefix}/tiles/{}/{{z}}/{{x}}/{{y}}", tms.id());
    let value = json!({
        "id": id,
        "tilejson": tilejson,
        "tiles": tiles,
        "links": [
            {"rel": "metadata", "href": format!("{prefix}/info"), "type": "application/json"},
            {"rel": "tilejson", "href": tilejson, "type": "application/json"},
            {"rel": "tiles", "href": tiles, "templated": true},
            {"rel": "map", "href": format!("{prefix}/{}/map.html", tms.id()), "type": "text/html"},
        ],
    });
    // A registration changes state: not for caches.
    let mut resp = axum::response::IntoResponse::into_response(axum::Json(value));
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_from_a_query() {
        let q = Query::parse(Some(
            "url=stac%2Bhttp%3A%2F%2Fh%2Fsearch&stac_query=%7B%22collections%22%3A%5B%22c%22%5D%7D&minzoom=7&maxzoom=12&stac_limit=9&stac_asset=data",
        ));
        let p = StacParams::from_query("stac+http://h/search", &q)
            .unwrap()
            .normalized()
            .unwrap();
        assert_eq!(p.stac_query, Some(json!({"collections": ["c"]})));
        assert_eq!(
            (p.minzoom, p.maxzoom, p.stac_limit),
            (Some(7), Some(12), Some(9))
        );
        let bad = Query::parse(Some("minzoom=99"));
        assert!(StacParams::from_query("stac+http://h/search", &bad).is_err());
        let bad_json = Query::parse(Some("stac_query=%7Bnot"));
        assert!(
            StacParams::from_query("stac+http://h/search", &bad_json)
                .unwrap()
                .normalized()
                .is_err()
        );
    }
}
