//! `stac+http(s)://…/search`: a read-only mosaic that *is* a STAC API search (cogeo-mosaic's
//! `STACBackend`). Opening one POSTs the query, follows every page ([`crate::stac::search`](fn@crate::stac::search))
//! and indexes the items' footprints in memory; look-ups then never touch the network.
//!
//! A [`StacSearch`] carries everything cogeo-mosaic's constructor takes: the query, the
//! required `minzoom`/`maxzoom`, the reading TMS, `stac_api_options` ([`SearchOptions`]) and
//! `mosaic_options` ([`StacMosaicOptions`]). [`StacSearch::cache_key`] names a search by its
//! URL, its query in canonical form and its options: [`crate::cache::MosaicCache::open_stac`]
//! keeps opened searches under that key, so a second open within the TTL (and every
//! concurrent one) makes no request.
//!
//! ```no_run
//! # async fn run() -> mosaic::Result<()> {
//! use mosaic::backend::{Backends, MosaicRead, StacSearch};
//! let search = StacSearch::new(
//!     "stac+https://stac.example.com/search",
//!     serde_json::json!({"collections": ["satellite"]}),
//!     10,
//!     12,
//! )?;
//! let mosaic = Backends::default().open_stac(&search).await?;
//! let assets = mosaic.assets_for_point(10.5, 45.5, &Default::default()).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::{DocumentBackend, MosaicRead};
use crate::create::{CreateOptions, Footprint};
use crate::index::{Lookup, LookupOptions, QuadkeyQuery};
use crate::mosaicjson::MosaicJson;
use crate::stac::{ItemAccessor, SearchOptions, search_footprints};
use crate::tms::TileMatrixSet;
use crate::{Error, Result};

/// cogeo-mosaic's `mosaic_options` of a STAC mosaic: how its items become a MosaicJSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StacMosaicOptions {
    /// The quadtree TMS of the mosaic's quadkeys (default WebMercatorQuad, not embedded).
    pub tilematrixset: Option<TileMatrixSet>,
    /// The mosaic's minzoom when its TMS is not the reading TMS (required then).
    pub minzoom: Option<u8>,
    /// The mosaic's maxzoom when its TMS is not the reading TMS (required then).
    pub maxzoom: Option<u8>,
    /// Zoom of the quadkey index (default: minzoom).
    pub quadkey_zoom: Option<u8>,
    /// Keep items covering more than this fraction of a tile.
    pub minimum_tile_cover: Option<f64>,
    /// Sort a tile's items by coverage, descending.
    pub tile_cover_sort: bool,
    /// Keep at most this many items per tile.
    pub maximum_items_per_tile: Option<usize>,
    /// Prefix stripped from assets and stored as `asset_prefix`.
    pub asset_prefix: Option<String>,
    /// How an item becomes an asset (default: cogeo-mosaic's `default_stac_accessor`).
    pub accessor: ItemAccessor,
}

impl Default for StacMosaicOptions {
    fn default() -> Self {
        StacMosaicOptions {
            tilematrixset: None,
            minzoom: None,
            maxzoom: None,
            quadkey_zoom: None,
            minimum_tile_cover: None,
            tile_cover_sort: false,
            maximum_items_per_tile: None,
            asset_prefix: None,
            accessor: ItemAccessor::ItemUrl,
        }
    }
}

/// The JSON form of [`StacMosaicOptions`] (CLI `--stac-mosaic-options`, tile API
/// `stac_mosaic_options`): cogeo-mosaic's keys; `tilematrixset` is a built-in TMS id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MosaicOptionsJson {
    tilematrixset: Option<String>,
    minzoom: Option<u8>,
    maxzoom: Option<u8>,
    quadkey_zoom: Option<u8>,
    minimum_tile_cover: Option<f64>,
    #[serde(default)]
    tile_cover_sort: bool,
    maximum_items_per_tile: Option<usize>,
    asset_prefix: Option<String>,
}

impl StacMosaicOptions {
    /// Parses `{"quadkey_zoom": 8, "tilematrixset": "WGS1984Quad", ...}` (cogeo-mosaic's
    /// `mosaic_options` keys; the accessor is set apart). A TMS is named by its built-in id,
    /// never read from a file: this text may come from a request.
    pub fn from_json(text: &str) -> Result<StacMosaicOptions> {
        let o: MosaicOptionsJson = serde_json::from_str(text)
            .map_err(|e| Error::InvalidInput(format!("STAC mosaic options: {e}")))?;
        Ok(StacMosaicOptions {
            tilematrixset: o
                .tilematrixset
                .as_deref()
                .map(TileMatrixSet::builtin)
                .transpose()?,
            minzoom: o.minzoom,
            maxzoom: o.maxzoom,
            quadkey_zoom: o.quadkey_zoom,
            minimum_tile_cover: o.minimum_tile_cover,
            tile_cover_sort: o.tile_cover_sort,
            maximum_items_per_tile: o.maximum_items_per_tile,
            asset_prefix: o.asset_prefix,
            accessor: ItemAccessor::ItemUrl,
        })
    }
}

/// A STAC search opened as a mosaic: cogeo-mosaic's `STACBackend(input, query, minzoom,
/// maxzoom, tms, stac_api_options, mosaic_options)`.
#[derive(Debug, Clone)]
pub struct StacSearch {
    /// The search endpoint with its `stac+` prefix (`stac+https://host/search`).
    pub url: String,
    /// The search body (a JSON object).
    pub query: Value,
    /// Zooms of the mosaic when its TMS is the reading TMS (cogeo-mosaic's required
    /// `minzoom`).
    pub minzoom: u8,
    /// See `minzoom`.
    pub maxzoom: u8,
    /// The reading TMS (default WebMercatorQuad).
    pub tms: TileMatrixSet,
    /// Paging: `limit`, `max_items`, the page size budget.
    pub api: SearchOptions,
    /// Creation of the mosaic from the items.
    pub mosaic: StacMosaicOptions,
    /// Most (item, quadkey) pairs the mosaic may hold, estimated from each item's bbox at
    /// the quadkey zoom before any is placed ([`Error::LimitExceeded`] above it); `None`:
    /// no bound (the CLI).
    pub max_tiles: Option<u64>,
}

impl StacSearch {
    /// A search of `url` (`stac+http(s)://…`, or a plain `http(s)://` search endpoint) for
    /// `query` (a JSON object), as a mosaic of `minzoom..=maxzoom`.
    pub fn new(url: &str, query: Value, minzoom: u8, maxzoom: u8) -> Result<StacSearch> {
        let bare = url.strip_prefix("stac+").unwrap_or(url);
        if !(bare.starts_with("http://") || bare.starts_with("https://")) {
            return Err(Error::InvalidUri {
                uri: url.to_string(),
                reason: "a STAC search is stac+http(s)://host/…/search".into(),
            });
        }
        if !query.is_object() {
            return Err(Error::InvalidInput(format!(
                "a STAC search query is a JSON object, not {query}"
            )));
        }
        if minzoom > maxzoom || maxzoom > 30 {
            return Err(Error::InvalidInput(format!(
                "zooms {minzoom}..{maxzoom}: need minzoom <= maxzoom <= 30"
            )));
        }
        Ok(StacSearch {
            url: format!("stac+{bare}"),
            query,
            minzoom,
            maxzoom,
            tms: TileMatrixSet::web_mercator(),
            api: SearchOptions::default(),
            mosaic: StacMosaicOptions::default(),
            max_tiles: None,
        })
    }

    /// The search endpoint without its `stac+` prefix: what is POSTed to.
    pub fn endpoint(&self) -> &str {
        self.url.strip_prefix("stac+").unwrap_or(&self.url)
    }

    /// The name of this search in caches: URL, query with its keys sorted (so two spellings
    /// of one query share an entry), paging and mosaic options.
    pub fn cache_key(&self) -> String {
        format!(
            "{}\n{}\n{:?}|{:?}|{:?}\n{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{}|{:?}",
            self.url,
            canonical_json(&self.query),
            self.api.limit,
            self.api.max_items,
            self.max_tiles,
            self.tms.id(),
            self.minzoom,
            self.maxzoom,
            self.mosaic.minzoom,
            self.mosaic.maxzoom,
            self.mosaic.quadkey_zoom,
            self.mosaic
                .tilematrixset
                .as_ref()
                .map(|t| t.id())
                .unwrap_or("-"),
            self.mosaic.minimum_tile_cover,
            self.mosaic.maximum_items_per_tile,
            self.mosaic.asset_prefix,
            self.mosaic.tile_cover_sort,
            self.mosaic.accessor,
        )
    }

    /// The creation options, with cogeo-mosaic's zoom rule: the search's zooms when the
    /// mosaic TMS is the reading TMS, else the mosaic options' own, which are then required.
    pub fn create_options(&self) -> Result<CreateOptions> {
        let o = &self.mosaic;
        let mosaic_tms_id = o
            .tilematrixset
            .as_ref()
            .map(|t| t.id())
            .unwrap_or("WebMercatorQuad");
        let (minzoom, maxzoom) = if mosaic_tms_id == self.tms.id() {
            (self.minzoom, self.maxzoom)
        } else {
            match (o.minzoom, o.maxzoom) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(Error::InvalidInput(
                        "Min/Max zoom HAVE TO be provided through `mosaic_options` when using different TMS for Read and Mosaic creation".into(),
                    ));
                }
            }
        };
        let mut c = CreateOptions::new(minzoom, maxzoom);
        c.quadkey_zoom = o.quadkey_zoom;
        c.tilematrixset = o.tilematrixset.clone();
        c.minimum_tile_cover = o.minimum_tile_cover;
        c.tile_cover_sort = o.tile_cover_sort;
        c.maximum_items_per_tile = o.maximum_items_per_tile;
        c.asset_prefix = o.asset_prefix.clone();
        Ok(c)
    }
}

/// `value` as JSON text with every object's keys sorted.
fn canonical_json(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let keys: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(keys.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Refuses a search whose footprints would place more (item, quadkey) pairs than `max`,
/// estimated from each footprint's bbox at the quadkey zoom: a global item at zoom 20 must
/// not be burnt tile by tile on a request's behalf.
fn check_tile_budget(footprints: &[Footprint], opts: &CreateOptions, max: u64) -> Result<()> {
    let tms = opts
        .tilematrixset
        .clone()
        .unwrap_or_else(TileMatrixSet::web_mercator);
    let qz = opts.quadkey_zoom.filter(|z| *z > 0).unwrap_or(opts.minzoom);
    let mut total: u64 = 0;
    for fp in footprints {
        let (mut w, mut s, mut e, mut n) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for [x, y] in fp.polygons.iter().flatten().flatten() {
            (w, s, e, n) = (w.min(*x), s.min(*y), e.max(*x), n.max(*y));
        }
        if w > e {
            continue;
        }
        let tl = tms.tile(w, n, qz);
        let br = tms.tile(e, s, qz);
        let count = (br.x.saturating_sub(tl.x) + 1).saturating_mul(br.y.saturating_sub(tl.y) + 1);
        total = total.saturating_add(count);
        if total > max {
            return crate::limits::check(
                || {
                    format!(
                        "a STAC mosaic of {} items at quadkey zoom {qz}",
                        footprints.len()
                    )
                },
                total,
                max,
                "MOSAIC_MAX_STAC_TILES",
            );
        }
    }
    Ok(())
}

/// A STAC search held as a mosaic: the items' MosaicJSON, indexed in memory. Read-only:
/// [`super::Backends::open_writer`] answers [`Error::ReadOnly`] for `stac+` URIs.
#[derive(Debug)]
pub struct StacBackend {
    inner: DocumentBackend,
    items: usize,
    unplaced: Vec<String>,
}

impl StacBackend {
    /// Runs `search` through `client` (every page) and builds its mosaic off the async
    /// runtime. An empty search (or one whose items all lack a geometry) is
    /// [`Error::EmptyMosaic`]; items without a geometry are left out with a warning
    /// ([`search_footprints`]).
    pub async fn open(client: &reqwest::Client, search: &StacSearch) -> Result<StacBackend> {
        let create = search.create_options()?;
        let (footprints, items, unplaced) = search_footprints(
            client,
            search.endpoint(),
            &search.query,
            &search.api,
            &search.mosaic.accessor,
        )
        .await?;
        if let Some(max) = search.max_tiles {
            check_tile_budget(&footprints, &create, max)?;
        }
        let doc = crate::run_blocking("create", move || {
            MosaicJson::from_footprints_owned(footprints, &create)
        })
        .await?;
        Ok(StacBackend {
            inner: DocumentBackend::new(&search.url, "STAC", doc, 0)?,
            items,
            unplaced,
        })
    }

    /// How many items the search returned.
    pub fn items(&self) -> usize {
        self.items
    }

    /// Ids of the items left out for lack of a geometry.
    pub fn unplaced(&self) -> &[String] {
        &self.unplaced
    }
}

#[async_trait]
impl MosaicRead for StacBackend {
    fn uri(&self) -> &str {
        self.inner.uri()
    }

    fn backend_name(&self) -> &'static str {
        "STAC"
    }

    fn document(&self) -> Arc<MosaicJson> {
        self.inner.document()
    }

    async fn query(&self, q: &QuadkeyQuery) -> Result<Vec<String>> {
        self.inner.query(q).await
    }

    async fn quadkeys(&self) -> Result<Vec<String>> {
        self.inner.quadkeys().await
    }

    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>> {
        self.inner.tiles().await
    }

    async fn lookup(&self, lookup: &Lookup, opts: &LookupOptions) -> Result<Vec<String>> {
        self.inner.lookup(lookup, opts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_name_the_search_not_its_spelling() {
        let a = StacSearch::new(
            "stac+http://h/search",
            json!({"a": 1, "b": {"y": 2, "x": 1}}),
            7,
            12,
        )
        .unwrap();
        let b = StacSearch::new(
            "http://h/search",
            json!({"b": {"x": 1, "y": 2}, "a": 1}),
            7,
            12,
        )
        .unwrap();
        assert_eq!(a.url, "stac+http://h/search");
        assert_eq!(a.cache_key(), b.cache_key());
        let mut c = b.clone();
        c.api.max_items = Some(3);
        assert_ne!(a.cache_key(), c.cache_key());
        let mut d = b.clone();
        d.mosaic.accessor = ItemAccessor::Asset("data".into());
        assert_ne!(a.cache_key(), d.cache_key());
    }

    #[test]
    fn arguments_are_checked() {
        assert!(matches!(
            StacSearch::new("stac+file:///etc/passwd", json!({}), 1, 2),
            Err(Error::InvalidUri { .. })
        ));
        assert!(matches!(
            StacSearch::new("stac+http://h/search", json!([1]), 1, 2),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            StacSearch::new("stac+http://h/search", json!({}), 5, 2),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn another_mosaic_tms_needs_its_own_zooms() {
        let mut s = StacSearch::new("stac+http://h/search", json!({}), 7, 12).unwrap();
        assert_eq!(s.create_options().unwrap().minzoom, 7);
        s.mosaic = StacMosaicOptions::from_json(r#"{"tilematrixset": "WGS1984Quad"}"#).unwrap();
        let e = s.create_options().unwrap_err();
        assert!(
            e.to_string().contains("Min/Max zoom HAVE TO be provided"),
            "{e}"
        );
        s.mosaic.minzoom = Some(3);
        s.mosaic.maxzoom = Some(6);
        let c = s.create_options().unwrap();
        assert_eq!((c.minzoom, c.maxzoom), (3, 6));
        // The reading TMS equal to the mosaic's: the search's zooms again.
        s.tms = TileMatrixSet::builtin("WGS1984Quad").unwrap();
        assert_eq!(s.create_options().unwrap().minzoom, 7);
        assert!(StacMosaicOptions::from_json(r#"{"tilematrixset": "/etc/tms.json"}"#).is_err());
        assert!(StacMosaicOptions::from_json(r#"{"unknown": 1}"#).is_err());
    }

    #[test]
    fn the_tile_budget_counts_bbox_tiles() {
        let world = Footprint::from_bbox("a", [-179.0, -80.0, 179.0, 80.0]);
        let opts = CreateOptions::new(10, 12);
        assert!(matches!(
            check_tile_budget(std::slice::from_ref(&world), &opts, 100_000),
            Err(Error::LimitExceeded { .. })
        ));
        assert!(check_tile_budget(&[world], &CreateOptions::new(3, 5), 100_000).is_ok());
    }
}
