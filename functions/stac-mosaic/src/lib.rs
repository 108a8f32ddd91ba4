//! `stac-mosaic`: a MosaicJSON mosaic from a STAC API search, stored at any writable URI
//! (S3/GCS/Azure document, DynamoDB, SQLite, file).
//!
//! The request names the search and the mosaic; the function pages through every result
//! ([`mosaic::stac::search`]), places each item by its geometry and writes the document:
//!
//! ```json
//! {"url": "https://stac.example.com/search",
//!  "query": {"collections": ["sentinel-2-l2a"], "bbox": [10, 45, 11, 46]},
//!  "minzoom": 8, "maxzoom": 14, "asset": "visual",
//!  "output": "dynamodb:///mosaics:s2-2026"}
//! ```
//!
//! Optional: `quadkey_zoom`, `minimum_tile_cover`, `tile_cover_sort`,
//! `maximum_items_per_tile`, `asset_prefix`, `name`, `description`, `attribution` (as
//! `mosaic create-from-stac`), `limit` (items per page), `max_items`, `overwrite`.

use mosaic::backend::{Backends, WriteMode};
use mosaic::create::CreateOptions;
use mosaic::stac::{ItemAccessor, SearchOptions, mosaic_from_search};
use mosaic::{Error, Result};
use serde::Deserialize;
use serde_json::{Value, json};

/// One invocation's request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MosaicRequest {
    /// The search endpoint (`https://host/search`; a `stac+` prefix is accepted).
    pub url: String,
    /// The search body (collections, bbox, intersects, datetime, query, filter, sortby…).
    #[serde(default = "empty_query")]
    pub query: Value,
    /// Minimum zoom.
    pub minzoom: u8,
    /// Maximum zoom.
    pub maxzoom: u8,
    /// Where the mosaic is written.
    pub output: String,
    /// The item asset whose `href` becomes the mosaic's asset; default: the item's URL.
    #[serde(default)]
    pub asset: Option<String>,
    /// Replace an existing mosaic at `output` (default: refuse).
    #[serde(default)]
    pub overwrite: bool,
    /// Items per page.
    #[serde(default)]
    pub limit: Option<u64>,
    /// Stop after this many items.
    #[serde(default)]
    pub max_items: Option<usize>,
    /// Quadkey zoom (default: minzoom).
    #[serde(default)]
    pub quadkey_zoom: Option<u8>,
    /// Keep items covering more than this fraction of a tile.
    #[serde(default)]
    pub minimum_tile_cover: Option<f64>,
    /// Sort items by tile coverage.
    #[serde(default)]
    pub tile_cover_sort: bool,
    /// Keep at most this many items per tile.
    #[serde(default)]
    pub maximum_items_per_tile: Option<usize>,
    /// Prefix stripped from assets and stored as `asset_prefix`.
    #[serde(default)]
    pub asset_prefix: Option<String>,
    /// Mosaic name.
    #[serde(default)]
    pub name: Option<String>,
    /// Mosaic description.
    #[serde(default)]
    pub description: Option<String>,
    /// Mosaic attribution.
    #[serde(default)]
    pub attribution: Option<String>,
}

fn empty_query() -> Value {
    json!({})
}

impl MosaicRequest {
    /// Parses an invocation payload; unknown fields and wrong types are
    /// [`Error::InvalidInput`] naming the field.
    pub fn from_value(v: Value) -> Result<MosaicRequest> {
        serde_json::from_value(v).map_err(|e| Error::InvalidInput(format!("request: {e}")))
    }

    fn create_options(&self) -> Result<CreateOptions> {
        if self.minzoom > self.maxzoom {
            return Err(Error::InvalidInput(format!(
                "minzoom {} is above maxzoom {}",
                self.minzoom, self.maxzoom
            )));
        }
        let mut o = CreateOptions::new(self.minzoom, self.maxzoom);
        o.quadkey_zoom = self.quadkey_zoom;
        o.minimum_tile_cover = self.minimum_tile_cover;
        o.tile_cover_sort = self.tile_cover_sort;
        o.maximum_items_per_tile = self.maximum_items_per_tile;
        o.asset_prefix = self.asset_prefix.clone();
        o.name = self.name.clone();
        o.description = self.description.clone();
        o.attribution = self.attribution.clone();
        Ok(o)
    }
}

/// Searches, creates and writes. Answers what was stored:
/// `{"output", "items" (found), "assets" (distinct, in the mosaic), "unplaced" (ids of items
/// without a geometry), "quadkeys", "bounds", "minzoom", "maxzoom", "quadkey_zoom"}`.
pub async fn create_mosaic(backends: &Backends, request: &MosaicRequest) -> Result<Value> {
    // Refuse a bad output before paging through a large search.
    let writer = backends.open_writer(&request.output)?;
    let opts = request.create_options()?;
    let search = SearchOptions {
        limit: request.limit,
        max_items: request.max_items,
        ..SearchOptions::default()
    };
    let accessor = match &request.asset {
        Some(key) => ItemAccessor::Asset(key.clone()),
        None => ItemAccessor::ItemUrl,
    };
    let made = mosaic_from_search(
        backends.stac_client(),
        &request.url,
        &request.query,
        &search,
        &accessor,
        &opts,
    )
    .await?;
    let mode = if request.overwrite {
        WriteMode::Overwrite
    } else {
        WriteMode::Create
    };
    writer.write(&made.doc, mode).await?;
    let doc = &made.doc;
    let mut assets: Vec<&String> = doc.tiles.values().flatten().collect();
    assets.sort();
    assets.dedup();
    Ok(json!({
        "output": request.output,
        "items": made.items,
        "assets": assets.len(),
        "unplaced": made.unplaced,
        "quadkeys": doc.tiles.len(),
        "bounds": doc.bounds,
        "minzoom": doc.minzoom,
        "maxzoom": doc.maxzoom,
        "quadkey_zoom": doc.effective_quadkey_zoom(),
    }))
}

/// Handles one invocation payload with the process's backends.
pub async fn handle(backends: &Backends, event: Value) -> Result<Value> {
    let request = MosaicRequest::from_value(event)?;
    let answer = create_mosaic(backends, &request).await?;
    tracing::info!("{answer}");
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_field_by_field() {
        let ok = json!({"url": "http://h/search", "minzoom": 7, "maxzoom": 12, "output": "m.json"});
        let r = MosaicRequest::from_value(ok.clone()).unwrap();
        assert_eq!(r.query, json!({}));
        assert!(!r.overwrite);
        for (bad, field) in [
            (
                json!({"minzoom": 7, "maxzoom": 12, "output": "m.json"}),
                "url",
            ),
            (
                json!({"url": "u", "minzoom": "7", "maxzoom": 12, "output": "m"}),
                "string",
            ),
            (
                json!({"url": "u", "minzoom": 7, "maxzoom": 12, "output": "m", "colour": 1}),
                "colour",
            ),
        ] {
            match MosaicRequest::from_value(bad) {
                Err(Error::InvalidInput(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let mut swapped = ok;
        swapped["minzoom"] = json!(13);
        let r = MosaicRequest::from_value(swapped).unwrap();
        assert!(matches!(r.create_options(), Err(Error::InvalidInput(_))));
    }
}
