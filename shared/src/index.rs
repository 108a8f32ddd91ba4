//! Asset look-up: which assets cover a tile, a point or a bbox.
//!
//! A look-up is first *planned* into quadkey queries at the mosaic's `quadkey_zoom`
//! ([`plan_tile`], [`plan_point`], [`plan_bbox`]) and then answered by a store. A tile
//! above `quadkey_zoom` maps to its ancestor's key; a tile below it is a **prefix range**
//! over the sorted keys (one binary search, never the 4^(qz−z) children cogeo-mosaic#236
//! enumerates), which yields the children in the same lexicographic order cogeo-mosaic uses.
//! [`MemoryIndex`] answers queries for a document held in memory; database backends answer
//! them with their own range queries.

use std::collections::HashSet;
use std::sync::Arc;

use crate::crs::{self, Crs};
use crate::mosaicjson::MosaicJson;
use crate::tms::{Tile, TileMatrixSet};
use crate::{Error, Result};

/// One quadkey query at the mosaic's `quadkey_zoom`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QuadkeyQuery {
    /// The assets of exactly this quadkey.
    Exact(String),
    /// The assets of every quadkey starting with this prefix, in lexicographic key order.
    Prefix(String),
}

/// Options of a look-up, as cogeo-mosaic's backends take them.
#[derive(Debug, Clone, Default)]
pub struct LookupOptions {
    /// Reverse each per-tile asset list (cogeo-mosaic's `reverse=True`).
    pub reverse: bool,
    /// The TMS the request's tile indices refer to (default: the mosaic's TMS).
    pub tms: Option<TileMatrixSet>,
    /// CRS of point/bbox coordinates (default: the read TMS's geographic CRS).
    pub coord_crs: Option<Crs>,
    /// Most quadkeys a bbox look-up may visit (`None`: no bound); more is
    /// [`Error::LimitExceeded`] before anything is enumerated.
    pub max_quadkeys: Option<u64>,
}

/// A look-up request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup {
    /// Assets of a tile (of `LookupOptions::tms`).
    Tile(Tile),
    /// Assets at a point.
    Point {
        /// x / longitude.
        lon: f64,
        /// y / latitude.
        lat: f64,
    },
    /// Assets intersecting a bbox `[xmin, ymin, xmax, ymax]` (`xmin > xmax` yields nothing).
    Bbox([f64; 4]),
}

/// The query for one tile of the mosaic's own TMS.
pub fn plan_tile(tms: &TileMatrixSet, quadkey_zoom: u8, tile: Tile) -> QuadkeyQuery {
    if tile.z >= quadkey_zoom {
        QuadkeyQuery::Exact(tms.quadkey(tile.ancestor(quadkey_zoom)))
    } else {
        QuadkeyQuery::Prefix(tms.quadkey(tile))
    }
}

/// The quadkey-zoom tile of a point given in `coord_crs`.
pub fn plan_point(
    tms: &TileMatrixSet,
    quadkey_zoom: u8,
    lon: f64,
    lat: f64,
    coord_crs: &Crs,
) -> Result<Tile> {
    let geo = tms.geographic_crs();
    let (lon, lat) = if coord_crs != geo {
        crs::transform_point(coord_crs, geo, lon, lat)?
    } else {
        (lon, lat)
    };
    Ok(tms.tile(lon, lat, quadkey_zoom))
}

/// The quadkey-zoom tiles of a bbox given in `coord_crs`, x outer and y inner (cogeo-mosaic's order).
pub fn plan_bbox(
    tms: &TileMatrixSet,
    quadkey_zoom: u8,
    bbox: [f64; 4],
    coord_crs: &Crs,
    max_quadkeys: Option<u64>,
) -> Result<Vec<Tile>> {
    if bbox.iter().any(|v| v.is_nan()) {
        return Err(Error::InvalidInput(format!("bbox {bbox:?} has NaN values")));
    }
    let geo = tms.geographic_crs();
    let [xmin, ymin, xmax, ymax] = if coord_crs != geo {
        crs::transform_bounds(coord_crs, geo, bbox, 21)?
    } else {
        bbox
    };
    let tl = tms.tile(xmin, ymax, quadkey_zoom);
    let br = tms.tile(xmax, ymin, quadkey_zoom);
    if tl.x > br.x || tl.y > br.y {
        return Ok(Vec::new());
    }
    let count = (br.x - tl.x + 1).saturating_mul(br.y - tl.y + 1);
    if let Some(max) = max_quadkeys {
        crate::limits::check(
            || {
                format!(
                    "a look-up over {count} quadkeys (bbox {bbox:?} at quadkey zoom {quadkey_zoom})"
                )
            },
            count,
            max,
            "MOSAIC_MAX_LOOKUP_QUADKEYS",
        )?;
    }
    let mut tiles = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 20));
    for x in tl.x..=br.x {
        for y in tl.y..=br.y {
            tiles.push(Tile::new(x, y, quadkey_zoom));
        }
    }
    Ok(tiles)
}

/// Plans any look-up into per-tile query groups. Each inner `Vec` is one `get_assets` call of
/// cogeo-mosaic (de-duplicated and reversed on its own); the groups are then concatenated and
/// de-duplicated again.
pub fn plan(doc: &MosaicJson, lookup: &Lookup, opts: &LookupOptions) -> Result<Vec<QuadkeyQuery>> {
    let mosaic_tms = doc.tms();
    let qz = doc.effective_quadkey_zoom();
    let read_tms = opts.tms.clone().unwrap_or_else(|| mosaic_tms.clone());
    let default_crs = read_tms.geographic_crs().clone();
    let coord_crs = opts.coord_crs.as_ref().unwrap_or(&default_crs);
    match *lookup {
        Lookup::Tile(tile) => {
            // A tile outside the grid has no quadkey of its own: its digits would alias
            // another tile's (3-12-2 reads as 3-4-2), so it is refused for either TMS.
            let max = read_tms.matrix(tile.z);
            if tile.z > 30 || tile.x >= max.matrix_width || tile.y >= max.matrix_height {
                return Err(Error::InvalidInput(format!(
                    "tile {tile} is outside the {} grid",
                    read_tms.id()
                )));
            }
            if read_tms == mosaic_tms {
                return Ok(vec![plan_tile(&mosaic_tms, qz, tile)]);
            }
            // Different grids: go through the tile's geographic bounds, as cogeo-mosaic does.
            let b = read_tms.bounds(tile);
            let tiles = plan_bbox(
                &mosaic_tms,
                qz,
                b,
                read_tms.geographic_crs(),
                opts.max_quadkeys,
            )?;
            Ok(tiles
                .into_iter()
                .map(|t| plan_tile(&mosaic_tms, qz, t))
                .collect())
        }
        Lookup::Point { lon, lat } => {
            if !lon.is_finite() || !lat.is_finite() {
                return Err(Error::InvalidInput(format!(
                    "point ({lon}, {lat}) is not finite"
                )));
            }
            let t = plan_point(&mosaic_tms, qz, lon, lat, coord_crs)?;
            Ok(vec![plan_tile(&mosaic_tms, qz, t)])
        }
        Lookup::Bbox(b) => {
            // NaN is refused by `plan_bbox`; an infinite edge would be clamped to the grid's
            // edge and answer for a bbox nobody asked for.
            if b.iter().any(|v| v.is_infinite()) {
                return Err(Error::InvalidInput(format!(
                    "bbox {b:?} has infinite values"
                )));
            }
            let tiles = plan_bbox(&mosaic_tms, qz, b, coord_crs, opts.max_quadkeys)?;
            Ok(tiles
                .into_iter()
                .map(|t| plan_tile(&mosaic_tms, qz, t))
                .collect())
        }
    }
}

/// Combines per-query asset lists the way cogeo-mosaic does: each list de-duplicated
/// (first occurrence kept), prefixed with `asset_prefix`, reversed on request; then all
/// lists concatenated and de-duplicated again.
pub fn combine<S: AsRef<str>>(
    groups: Vec<Vec<S>>,
    asset_prefix: Option<&str>,
    reverse: bool,
) -> Vec<String> {
    let prefix = asset_prefix.unwrap_or("");
    let mut seen_all: HashSet<&str> = HashSet::new();
    let mut out: Vec<&str> = Vec::new();
    for group in &groups {
        // De-duplicated within the group (first occurrence), reversed on request...
        let mut seen = HashSet::with_capacity(group.len());
        let mut list: Vec<&str> = group
            .iter()
            .map(AsRef::as_ref)
            .filter(|a| seen.insert(*a))
            .collect();
        if reverse {
            list.reverse();
        }
        // ...then across groups. The prefix is common to all, so it can be added last.
        out.extend(list.into_iter().filter(|a| seen_all.insert(*a)));
    }
    out.into_iter().map(|a| format!("{prefix}{a}")).collect()
}

/// An in-memory quadkey index over a MosaicJSON document.
#[derive(Debug, Clone)]
pub struct MemoryIndex {
    doc: Arc<MosaicJson>,
    /// Positions in `doc.tiles`, sorted by quadkey: prefix queries are binary searches.
    sorted: Arc<Vec<usize>>,
}

impl MemoryIndex {
    /// Indexes a document.
    pub fn new(doc: impl Into<Arc<MosaicJson>>) -> Result<MemoryIndex> {
        let doc = doc.into();
        doc.tms().ensure_quadtree()?;
        let keys: Vec<&str> = doc.tiles.keys().map(String::as_str).collect();
        let mut sorted: Vec<usize> = (0..keys.len()).collect();
        sorted.sort_unstable_by(|a, b| keys[*a].cmp(keys[*b]));
        Ok(MemoryIndex {
            doc,
            sorted: Arc::new(sorted),
        })
    }

    /// The indexed document.
    pub fn document(&self) -> &Arc<MosaicJson> {
        &self.doc
    }

    /// Raw assets (no prefix, no de-duplication) of one query, borrowed from the document.
    pub fn query_refs(&self, q: &QuadkeyQuery) -> Vec<&str> {
        let tiles = &self.doc.tiles;
        match q {
            QuadkeyQuery::Exact(qk) => tiles
                .get(qk)
                .map(|v| v.iter().map(String::as_str).collect())
                .unwrap_or_default(),
            QuadkeyQuery::Prefix(prefix) => {
                let qz = usize::from(self.doc.effective_quadkey_zoom());
                let key = |i: usize| tiles.get_index(i).map(|(k, _)| k.as_str()).unwrap_or("");
                let start = self.sorted.partition_point(|&i| key(i) < prefix.as_str());
                let mut out = Vec::new();
                for &i in &self.sorted[start..] {
                    let Some((k, assets)) = tiles.get_index(i) else {
                        break;
                    };
                    if !k.starts_with(prefix.as_str()) {
                        break;
                    }
                    // Keys of another length are not quadkeys of this mosaic's level.
                    if k.len() == qz {
                        out.extend(assets.iter().map(String::as_str));
                    }
                }
                out
            }
        }
    }

    /// Every quadkey with its raw assets, in document order.
    pub fn tiles(&self) -> Vec<(String, Vec<String>)> {
        self.doc
            .tiles
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Raw assets (no prefix, no de-duplication) of one query.
    pub fn query(&self, q: &QuadkeyQuery) -> Vec<String> {
        self.query_refs(q).into_iter().map(String::from).collect()
    }

    /// Answers a look-up (only the returned assets are copied).
    pub fn lookup(&self, lookup: &Lookup, opts: &LookupOptions) -> Result<Vec<String>> {
        let groups = plan(&self.doc, lookup, opts)?
            .iter()
            .map(|q| self.query_refs(q))
            .collect();
        Ok(combine(
            groups,
            self.doc.asset_prefix.as_deref(),
            opts.reverse,
        ))
    }

    /// Assets of a tile of the mosaic's TMS.
    pub fn assets_for_tile(&self, x: u64, y: u64, z: u8) -> Result<Vec<String>> {
        self.lookup(&Lookup::Tile(Tile::new(x, y, z)), &LookupOptions::default())
    }

    /// Assets at a point of the mosaic TMS's geographic CRS.
    pub fn assets_for_point(&self, lon: f64, lat: f64) -> Result<Vec<String>> {
        self.lookup(&Lookup::Point { lon, lat }, &LookupOptions::default())
    }

    /// Assets intersecting a bbox of the mosaic TMS's geographic CRS.
    pub fn assets_for_bbox(&self, bbox: [f64; 4]) -> Result<Vec<String>> {
        self.lookup(&Lookup::Bbox(bbox), &LookupOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> MosaicJson {
        let mut d = MosaicJson::new(1, 4);
        d.quadkey_zoom = Some(3);
        for (k, v) in [
            ("000", vec!["a", "b"]),
            ("001", vec!["b", "c"]),
            ("012", vec!["d"]),
            ("300", vec!["e"]),
        ] {
            d.tiles
                .insert(k.into(), v.into_iter().map(String::from).collect());
        }
        d
    }

    #[test]
    fn below_at_and_above_quadkey_zoom() {
        let idx = MemoryIndex::new(doc()).unwrap();
        assert_eq!(
            idx.assets_for_tile(0, 0, 0).unwrap(),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(idx.assets_for_tile(0, 0, 1).unwrap(), ["a", "b", "c", "d"]);
        assert_eq!(idx.assets_for_tile(0, 0, 2).unwrap(), ["a", "b", "c"]);
        assert_eq!(idx.assets_for_tile(1, 0, 3).unwrap(), ["b", "c"]);
        assert_eq!(idx.assets_for_tile(5, 1, 5).unwrap(), ["b", "c"]);
        assert!(idx.assets_for_tile(7, 0, 3).unwrap().is_empty());
        let rev = idx
            .lookup(
                &Lookup::Tile(Tile::new(0, 0, 1)),
                &LookupOptions {
                    reverse: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(rev, ["d", "c", "b", "a"]);
    }

    #[test]
    fn prefix_is_applied_on_read() {
        let mut d = doc();
        d.asset_prefix = Some("s3://b/".into());
        let idx = MemoryIndex::new(d).unwrap();
        assert_eq!(
            idx.assets_for_tile(0, 0, 3).unwrap(),
            ["s3://b/a", "s3://b/b"]
        );
    }

    #[test]
    fn inverted_bbox_is_empty() {
        let idx = MemoryIndex::new(doc()).unwrap();
        assert!(
            idx.assets_for_bbox([10.0, 0.0, -10.0, 5.0])
                .unwrap()
                .is_empty()
        );
        assert!(idx.assets_for_bbox([f64::NAN, 0.0, 1.0, 1.0]).is_err());
        assert!(
            idx.assets_for_bbox([f64::NEG_INFINITY, 0.0, 1.0, 1.0])
                .is_err()
        );
    }

    #[test]
    fn tiles_outside_the_grid_are_refused_not_aliased() {
        let idx = MemoryIndex::new(doc()).unwrap();
        // 3-8-0 would read the quadkey of 3-0-0 ("000").
        assert!(!idx.assets_for_tile(0, 0, 3).unwrap().is_empty());
        for (x, y, z) in [(8, 0, 3), (0, 8, 3), (u64::MAX, 0, 3), (0, 0, 31)] {
            assert!(
                matches!(idx.assets_for_tile(x, y, z), Err(Error::InvalidInput(_))),
                "{z}-{x}-{y}"
            );
        }
    }
}
