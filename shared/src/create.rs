//! Mosaic creation from footprints, and update, with cogeo-mosaic 9.2.0's exact output.
//!
//! 1. Candidate tiles at `quadkey_zoom` are the cells that the footprints, projected to the
//!    TMS CRS on a grid of one cell per tile, overlap with positive area — the cells GDAL's
//!    all-touched rasterisation burns in supermorecado, computed here without GDAL so that
//!    creating a mosaic needs no native library.
//! 2. Candidates are visited row-major (y, then x): that is the key order of `tiles`.
//! 3. For each candidate, footprints whose exterior ring intersects the tile's geographic
//!    bounds (boundary contact counts) are found through an R-tree, kept in input order,
//!    then filtered/sorted by tile coverage and truncated.

use std::collections::HashSet;
use std::sync::Arc;

use geo::{Coord, Intersects, LineString, Polygon, Rect};
use indexmap::IndexMap;
use rstar::{AABB, RTree, RTreeObject};
use serde_json::{Map, Value};

use crate::mosaicjson::{Center, MOSAICJSON_VERSION, MosaicJson};
use crate::tms::{Tile, TileMatrixSet};
use crate::{Error, Result};

/// Where a long operation reports how far it is. The library draws nothing: the CLI shows
/// a bar, the functions pass `None`.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// The number of steps, once known.
    fn set_length(&self, len: u64);
    /// `n` more steps done.
    fn inc(&self, n: u64);
    /// The operation is over.
    fn finish(&self);
}

/// A polygon as rings of `[x, y]` positions, the first ring being the exterior.
pub type Rings = Vec<Vec<[f64; 2]>>;

/// An asset and its footprint (one or more polygons, in the TMS geographic CRS).
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    /// The asset identifier written into `tiles`.
    pub asset: String,
    /// Polygons (a Polygon has one; a MultiPolygon, e.g. split at the antimeridian, several).
    pub polygons: Vec<Rings>,
}

impl Footprint {
    /// A rectangular footprint `[west, south, east, north]`, ring ordered as cogeo-mosaic's
    /// `get_footprints` writes it.
    pub fn from_bbox(asset: impl Into<String>, b: [f64; 4]) -> Footprint {
        let ring = vec![
            [b[0], b[3]],
            [b[0], b[1]],
            [b[2], b[1]],
            [b[2], b[3]],
            [b[0], b[3]],
        ];
        Footprint {
            asset: asset.into(),
            polygons: vec![vec![ring]],
        }
    }

    /// A footprint from a GeoJSON Feature, the asset read from `properties[property]`.
    pub fn from_feature(feature: &Value, property: &str) -> Result<Footprint> {
        let id = feature
            .get("id")
            .map(|v| v.to_string())
            .unwrap_or_else(|| "(no id)".into());
        let asset = feature
            .get("properties")
            .and_then(|p| p.get(property))
            .ok_or_else(|| {
                Error::InvalidData(format!("feature {id} has no property `{property}`"))
            })?;
        let asset = asset_string(asset.clone(), &id, property)?;
        let geometry = feature
            .get("geometry")
            .filter(|g| !g.is_null())
            .ok_or_else(|| Error::InvalidData(format!("feature {id} has no geometry")))?;
        let polygons = parse_geometry(geometry)
            .map_err(|e| Error::InvalidData(format!("feature {id}: {e}")))?;
        Ok(Footprint { asset, polygons })
    }

    fn exteriors(&self) -> impl Iterator<Item = &Vec<[f64; 2]>> {
        self.polygons.iter().filter_map(|p| p.first())
    }
}

pub(crate) fn asset_string(v: Value, id: &str, property: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(Error::InvalidData(format!(
            "feature {id}: property `{property}` is {other}, not a string"
        ))),
    }
}

pub use crate::geojson::{parse_geometry, read_footprints, read_footprints_from};

/// Options of [`MosaicJson::from_footprints`], named as cogeo-mosaic names them.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Minimum zoom.
    pub minzoom: u8,
    /// Maximum zoom.
    pub maxzoom: u8,
    /// Zoom of the quadkey index (default and 0: `minzoom`).
    pub quadkey_zoom: Option<u8>,
    /// Keep only footprints covering more than this fraction of a tile (0..=1).
    pub minimum_tile_cover: Option<f64>,
    /// Sort assets by tile coverage, descending (ties: later input first).
    pub tile_cover_sort: bool,
    /// Keep at most this many assets per tile.
    pub maximum_items_per_tile: Option<usize>,
    /// With both `minimum_tile_cover` and `tile_cover_sort`, sort each kept asset by its own
    /// coverage. `false` (default) reproduces cogeo-mosaic, which pairs coverages and assets
    /// out of step once the filter removed something.
    pub cover_sort_aligned: bool,
    /// The quadtree TMS of the quadkeys (embedded in the document only when set).
    pub tilematrixset: Option<TileMatrixSet>,
    /// Prefix stripped from assets (literally) and stored in the document.
    pub asset_prefix: Option<String>,
    /// `asset_type`.
    pub asset_type: Option<String>,
    /// `data_type`.
    pub data_type: Option<String>,
    /// `colormap`.
    pub colormap: Option<IndexMap<i64, [i64; 4]>>,
    /// `layers`.
    pub layers: Option<Map<String, Value>>,
    /// `name`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `attribution`.
    pub attribution: Option<String>,
    /// Progress over candidate tiles (hidden when `None`).
    pub progress: Option<Arc<dyn Progress>>,
}

impl CreateOptions {
    /// Options with the two required zooms and nothing else.
    pub fn new(minzoom: u8, maxzoom: u8) -> CreateOptions {
        CreateOptions {
            minzoom,
            maxzoom,
            quadkey_zoom: None,
            minimum_tile_cover: None,
            tile_cover_sort: false,
            maximum_items_per_tile: None,
            cover_sort_aligned: false,
            tilematrixset: None,
            asset_prefix: None,
            asset_type: None,
            data_type: None,
            colormap: None,
            layers: None,
            name: None,
            description: None,
            attribution: None,
            progress: None,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.minzoom > 30 || self.maxzoom > 30 || self.quadkey_zoom.is_some_and(|z| z > 30) {
            return Err(Error::InvalidInput(
                "zoom levels must be within 0..=30".into(),
            ));
        }
        if let Some(c) = self.minimum_tile_cover
            && !(0.0..=1.0).contains(&c)
        {
            return Err(Error::InvalidInput(
                "`minimum_tile_cover` HAS TO be between 0 and 1.".into(),
            ));
        }
        Ok(())
    }
}

/// One polygon of a footprint in the R-tree: feature index, polygon index, exterior bbox.
struct Part {
    feature: usize,
    polygon: usize,
    bbox: [f64; 4],
}

impl RTreeObject for Part {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners([self.bbox[0], self.bbox[1]], [self.bbox[2], self.bbox[3]])
    }
}

fn ring_bbox(ring: &[[f64; 2]]) -> [f64; 4] {
    ring.iter().fold(
        [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ],
        |b, p| {
            [
                b[0].min(p[0]),
                b[1].min(p[1]),
                b[2].max(p[0]),
                b[3].max(p[1]),
            ]
        },
    )
}

fn to_geo_polygon(ring: &[[f64; 2]]) -> Polygon<f64> {
    Polygon::new(
        LineString::from(
            ring.iter()
                .map(|p| Coord { x: p[0], y: p[1] })
                .collect::<Vec<_>>(),
        ),
        vec![],
    )
}

/// `ring ∩ rect` by Sutherland–Hodgman against the (convex) rect; infinite bounds allowed.
fn clip_to_rect(ring: &[[f64; 2]], r: [f64; 4]) -> Vec<[f64; 2]> {
    let mut pts: Vec<[f64; 2]> = ring.to_vec();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    // (axis, bound, keep-if-greater)
    for (axis, bound, greater) in [
        (0, r[0], true),
        (0, r[2], false),
        (1, r[1], true),
        (1, r[3], false),
    ] {
        if pts.is_empty() || bound.is_infinite() {
            continue;
        }
        let inside = |p: &[f64; 2]| {
            if greater {
                p[axis] >= bound
            } else {
                p[axis] <= bound
            }
        };
        let mut out = Vec::with_capacity(pts.len() + 4);
        for i in 0..pts.len() {
            let cur = pts[i];
            let prev = pts[(i + pts.len() - 1) % pts.len()];
            let (ci, pi) = (inside(&cur), inside(&prev));
            if ci != pi {
                let t = (bound - prev[axis]) / (cur[axis] - prev[axis]);
                let mut p = [
                    prev[0] + t * (cur[0] - prev[0]),
                    prev[1] + t * (cur[1] - prev[1]),
                ];
                p[axis] = bound;
                out.push(p);
            }
            if ci {
                out.push(cur);
            }
        }
        pts = out;
    }
    pts
}

/// Unsigned shoelace area of an open ring.
fn polygon_area(pts: &[[f64; 2]]) -> f64 {
    let n = pts.len();
    if n < 3 {
        return 0.0;
    }
    let mut sum = 0.0;
    for i in 0..n {
        let (a, b) = (pts[i], pts[(i + 1) % n]);
        sum += a[0] * b[1] - b[0] * a[1];
    }
    (sum / 2.0).abs()
}

/// Area of `ring ∩ rect`.
fn clipped_area(ring: &[[f64; 2]], r: [f64; 4]) -> f64 {
    polygon_area(&clip_to_rect(ring, r))
}

fn point_in_ring(p: [f64; 2], ring: &[[f64; 2]]) -> bool {
    use geo::{Contains, Point};
    let poly = to_geo_polygon(ring);
    poly.contains(&Point::new(p[0], p[1])) || poly.exterior().intersects(&Point::new(p[0], p[1]))
}

/// Fraction of the tile rect covered by the footprint's exterior rings (planar, in degrees).
/// A tile inside the footprint is exactly 1.0, so full covers tie as they do upstream.
fn coverage(fp: &Footprint, r: [f64; 4]) -> f64 {
    let tile_area = (r[2] - r[0]) * (r[3] - r[1]);
    if tile_area <= 0.0 {
        return 0.0;
    }
    let corners = [[r[0], r[1]], [r[2], r[1]], [r[2], r[3]], [r[0], r[3]]];
    let mut area = 0.0;
    for ring in fp.exteriors() {
        let contains_tile = corners.iter().all(|c| point_in_ring(*c, ring))
            && !ring
                .iter()
                .any(|p| p[0] > r[0] && p[0] < r[2] && p[1] > r[1] && p[1] < r[3]);
        if contains_tile {
            return 1.0;
        }
        area += clipped_area(ring, r);
    }
    area / tile_area
}

/// The candidate tiles: the cells of the projected footprints, in row-major order
/// (supermorecado's `burn`).
fn burn(footprints: &[Footprint], tms: &TileMatrixSet, zoom: u8) -> Result<Vec<Tile>> {
    const EPS: f64 = 1e-10;
    let (mut minx, mut miny, mut maxx, mut maxy) = (
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    );
    for fp in footprints {
        for p in fp.polygons.iter().flatten().flatten() {
            minx = minx.min(p[0]);
            miny = miny.min(p[1]);
            maxx = maxx.max(p[0]);
            maxy = maxy.max(p[1]);
        }
    }
    let tb = tms.bbox();
    let (minx, miny, maxx, maxy) = (
        (minx + EPS).max(tb[0]),
        (miny + EPS).max(tb[1]),
        (maxx - EPS).min(tb[2]),
        (maxy - EPS).min(tb[3]),
    );
    // Footprints wholly outside the grid (e.g. longitudes 190–200 in a 0–360 convention,
    // or no vertex at all) cover no tile.
    if !(minx <= maxx && miny <= maxy) {
        return Ok(Vec::new());
    }
    let ul = tms.tile(minx, maxy, zoom);
    let lr = tms.tile(maxx, miny, zoom);
    let (mut x0, mut x1) = (ul.x.min(lr.x), ul.x.max(lr.x) + 1);
    let (mut y0, mut y1) = (ul.y.min(lr.y), ul.y.max(lr.y) + 1);
    // supermorecado takes the range from the lon/lat extrema's corners, which is right for
    // Web Mercator (monotonic) but misses footprints in e.g. polar stereographic grids:
    // widen it to the tiles of every projected vertex, held inside the same shrunk extrema
    // (so that for monotonic projections the range is unchanged).
    for fp in footprints {
        for p in fp.polygons.iter().flatten().flatten() {
            let (x, y) = tms.xy(p[0].clamp(minx, maxx), p[1].clamp(miny, maxy));
            if x.is_finite() && y.is_finite() {
                let t = tms.tile_xy(x, y, zoom);
                (x0, x1, y0, y1) = (x0.min(t.x), x1.max(t.x + 1), y0.min(t.y), y1.max(t.y + 1));
            }
        }
    }
    let (nx, ny) = ((x1 - x0) as usize, (y1 - y0) as usize);
    if nx.saturating_mul(ny) > 1usize << 31 {
        return Err(Error::InvalidInput(format!(
            "footprints span {nx}x{ny} tiles at zoom {zoom}: lower quadkey_zoom"
        )));
    }
    // Grid corners go through geographic coordinates and back, as supermorecado computes them.
    let (ulx, uly) = {
        let (lon, lat) = tms.ul(Tile::new(x0, y0, zoom));
        tms.xy(lon, lat)
    };
    let (lrx, lry) = {
        let (lon, lat) = tms.ul(Tile::new(x1, y1, zoom));
        tms.xy(lon, lat)
    };
    let xcell = (lrx - ulx) / nx as f64;
    let ycell = (uly - lry) / ny as f64;

    // Every cell a projected footprint overlaps with positive area: what GDAL's all-touched
    // rasterisation burns (supermorecado's `burn`) for footprints with an area. Cells that
    // only share an edge or a corner with a footprint are not candidates, as in GDAL >= 3.8;
    // the parity tests hold this against cogeo-mosaic's own documents.
    let mut data = vec![0u8; nx * ny];
    let to_px = |x: f64, y: f64| [(x - ulx) / xcell, (uly - y) / ycell];
    for fp in footprints {
        for ring in fp.exteriors() {
            let px: Vec<[f64; 2]> = ring
                .iter()
                .map(|p| {
                    let (lon, lat) = tms.truncate_lnglat(p[0], p[1]);
                    let (x, y) = tms.xy(lon, lat);
                    to_px(x, y)
                })
                .collect();
            mark_overlapped_cells(&px, nx, ny, &mut data);
        }
    }
    let mut tiles = Vec::new();
    for row in 0..ny {
        for col in 0..nx {
            if data[row * nx + col] != 0 {
                tiles.push(Tile::new(x0 + col as u64, y0 + row as u64, zoom));
            }
        }
    }
    Ok(tiles)
}

/// Marks (255) the cells of an `nx`×`ny` grid that `ring` (pixel coordinates) overlaps
/// with positive area: per row band, the ring is clipped to the band and the columns its
/// clipped extent spans (strictly) are marked. Over-marking in concave parts is harmless:
/// candidates are checked against the footprints afterwards.
fn mark_overlapped_cells(ring: &[[f64; 2]], nx: usize, ny: usize, data: &mut [u8]) {
    let (ymin, ymax) = ring
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p[1]), b.max(p[1]))
        });
    if !ymin.is_finite() || !ymax.is_finite() {
        return;
    }
    let r0 = ymin.floor().max(0.0) as usize;
    let r1 = (ymax.ceil().min(ny as f64)).max(0.0) as usize;
    for row in r0..r1 {
        let band = [
            f64::NEG_INFINITY,
            row as f64,
            f64::INFINITY,
            row as f64 + 1.0,
        ];
        let clipped = clip_to_rect(ring, band);
        if clipped.len() < 3 || polygon_area(&clipped) <= 0.0 {
            continue;
        }
        let (xmin, xmax) = clipped
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p[0]), b.max(p[0]))
            });
        let c0 = xmin.floor().max(0.0) as usize;
        let c1 = (xmax.ceil().min(nx as f64)).max(0.0) as usize;
        for col in c0..c1 {
            data[row * nx + col] = 255;
        }
    }
}

impl MosaicJson {
    /// Creates a mosaic from footprints (cogeo-mosaic `MosaicJSON.from_features`).
    pub fn from_footprints(footprints: &[Footprint], opts: &CreateOptions) -> Result<MosaicJson> {
        let mut doc = Self::index_footprints(footprints, opts)?;
        doc.fill_assets(
            |i| footprints[i].asset.as_str(),
            opts.asset_prefix.as_deref(),
        );
        Ok(doc.doc)
    }

    /// As [`MosaicJson::from_footprints`], taking the footprints: their geometries are freed
    /// before the asset lists are built, which lowers the peak memory of large creations.
    pub fn from_footprints_owned(
        footprints: Vec<Footprint>,
        opts: &CreateOptions,
    ) -> Result<MosaicJson> {
        let mut doc = Self::index_footprints(&footprints, opts)?;
        let assets: Vec<String> = footprints.into_iter().map(|f| f.asset).collect();
        doc.fill_assets(|i| assets[i].as_str(), opts.asset_prefix.as_deref());
        Ok(doc.doc)
    }

    /// The document with, per quadkey, the indexes of its footprints (assets filled later).
    fn index_footprints(footprints: &[Footprint], opts: &CreateOptions) -> Result<Indexed> {
        opts.validate()?;
        if footprints.is_empty() {
            return Err(Error::InvalidData(
                "no footprints to create a mosaic from".into(),
            ));
        }
        let tms = opts
            .tilematrixset
            .clone()
            .unwrap_or_else(TileMatrixSet::web_mercator);
        tms.ensure_quadtree()?;
        let qz = opts.quadkey_zoom.filter(|z| *z > 0).unwrap_or(opts.minzoom);

        let mut bounds = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut parts = Vec::with_capacity(footprints.len());
        for (feature, fp) in footprints.iter().enumerate() {
            for (polygon, rings) in fp.polygons.iter().enumerate() {
                let Some(ring) = rings.first() else { continue };
                let b = ring_bbox(ring);
                bounds = [
                    bounds[0].min(b[0]),
                    bounds[1].min(b[1]),
                    bounds[2].max(b[2]),
                    bounds[3].max(b[3]),
                ];
                parts.push(Part {
                    feature,
                    polygon,
                    bbox: b,
                });
            }
        }
        let tree = RTree::bulk_load(parts);

        let candidates = burn(footprints, &tms, qz)?;
        if let Some(pb) = &opts.progress {
            pb.set_length(candidates.len() as u64);
        }
        let geo = tms.geographic_crs().clone();
        let mut tiles = IndexMap::new();
        let mut hits: Vec<usize> = Vec::new();
        for tile in candidates {
            if let Some(pb) = &opts.progress {
                pb.inc(1);
            }
            let r = tms.feature_bounds(tile, &geo);
            let rect = Rect::new(Coord { x: r[0], y: r[1] }, Coord { x: r[2], y: r[3] });
            let env = AABB::from_corners([r[0], r[1]], [r[2], r[3]]);
            hits.clear();
            for part in tree.locate_in_envelope_intersecting(&env) {
                // Built per test rather than kept for every footprint: memory over speed.
                let shape = to_geo_polygon(&footprints[part.feature].polygons[part.polygon][0]);
                if shape.intersects(&rect) {
                    hits.push(part.feature);
                }
            }
            if hits.is_empty() {
                continue;
            }
            hits.sort_unstable();
            hits.dedup();
            let selected = filter_assets(footprints, &hits, r, opts);
            if selected.is_empty() {
                continue;
            }
            let indexes: Vec<u32> = selected.into_iter().map(|i| i as u32).collect();
            tiles.insert(tms.quadkey(tile), indexes);
        }
        if let Some(pb) = &opts.progress {
            pb.finish();
        }

        let mut doc = MosaicJson::new(opts.minzoom, opts.maxzoom);
        doc.mosaicjson = MOSAICJSON_VERSION.into();
        doc.quadkey_zoom = Some(qz);
        doc.bounds = bounds;
        doc.center = Some(doc.default_center());
        doc.tilematrixset = opts.tilematrixset.clone();
        doc.asset_type = opts.asset_type.clone();
        doc.asset_prefix = opts.asset_prefix.clone();
        doc.data_type = opts.data_type.clone();
        doc.colormap = opts.colormap.clone();
        doc.layers = opts.layers.clone();
        doc.name = opts.name.clone();
        doc.description = opts.description.clone();
        doc.attribution = opts.attribution.clone();
        Ok(Indexed { doc, tiles })
    }

    /// Adds footprints to the document (cogeo-mosaic `update`): new assets go before
    /// (`add_first`) or after the existing ones of each quadkey, new quadkeys are appended,
    /// bounds are unioned, `mosaicjson` becomes 0.0.3 and `version` gets a patch bump.
    /// Unlike upstream, existing assets are not re-prefixed and new ones are stripped of the
    /// mosaic's own `asset_prefix`.
    pub fn update(&mut self, footprints: &[Footprint], opts: &UpdateOptions) -> Result<()> {
        let new = self.additions(footprints, opts)?;
        for (qk, mut assets) in new.tiles {
            match self.tiles.get_mut(&qk) {
                Some(existing) => {
                    if opts.add_first {
                        assets.append(existing);
                        *existing = assets;
                    } else {
                        existing.extend(assets);
                    }
                }
                None => {
                    self.tiles.insert(qk, assets);
                }
            }
        }
        self.record_update(new.bounds)
    }

    /// The tiles `footprints` add to this mosaic: a document on this mosaic's grid (zooms,
    /// quadkey zoom, TMS, asset prefix) holding only the new footprints. Database backends
    /// apply it quadkey by quadkey.
    pub fn additions(&self, footprints: &[Footprint], opts: &UpdateOptions) -> Result<MosaicJson> {
        let mut create = CreateOptions::new(self.minzoom, self.maxzoom);
        create.quadkey_zoom = Some(self.effective_quadkey_zoom());
        create.tilematrixset = self.tilematrixset.clone();
        create.minimum_tile_cover = opts.minimum_tile_cover;
        create.tile_cover_sort = opts.tile_cover_sort;
        create.maximum_items_per_tile = opts.maximum_items_per_tile;
        create.asset_prefix = self.asset_prefix.clone();
        create.progress = opts.progress.clone();
        MosaicJson::from_footprints(footprints, &create)
    }

    /// The metadata side of an update: bounds grown to cover `added`, `mosaicjson` upgraded
    /// to the current spec, version patch +1, center recomputed at minzoom.
    pub fn record_update(&mut self, added: [f64; 4]) -> Result<()> {
        if !added.iter().all(|v| v.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "added bounds {added:?} are not finite"
            )));
        }
        let b = added;
        self.bounds = [
            self.bounds[0].min(b[0]),
            self.bounds[1].min(b[1]),
            self.bounds[2].max(b[2]),
            self.bounds[3].max(b[3]),
        ];
        if self.mosaicjson != MOSAICJSON_VERSION {
            tracing::warn!(
                "updating mosaicjson {} to {MOSAICJSON_VERSION}",
                self.mosaicjson
            );
            self.mosaicjson = MOSAICJSON_VERSION.into();
        }
        self.increase_version()?;
        self.center = Some(Center {
            zoom: self.minzoom,
            ..self.default_center()
        });
        Ok(())
    }
}

/// A created document whose `tiles` still hold footprint indexes.
struct Indexed {
    doc: MosaicJson,
    tiles: IndexMap<String, Vec<u32>>,
}

impl Indexed {
    /// Replaces footprint indexes with their assets, stripped of `prefix`.
    fn fill_assets<'a>(&mut self, asset: impl Fn(usize) -> &'a str, prefix: Option<&str>) {
        self.doc.tiles = std::mem::take(&mut self.tiles)
            .into_iter()
            .map(|(qk, idx)| {
                (
                    qk,
                    idx.into_iter()
                        .map(|i| strip_prefix(asset(i as usize), prefix))
                        .collect(),
                )
            })
            .collect();
    }
}

/// Options of [`MosaicJson::update`].
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// Put new assets before the existing ones (default) or after.
    pub add_first: bool,
    /// As [`CreateOptions::minimum_tile_cover`].
    pub minimum_tile_cover: Option<f64>,
    /// As [`CreateOptions::tile_cover_sort`].
    pub tile_cover_sort: bool,
    /// As [`CreateOptions::maximum_items_per_tile`].
    pub maximum_items_per_tile: Option<usize>,
    /// Progress bar.
    pub progress: Option<Arc<dyn Progress>>,
}

impl Default for UpdateOptions {
    fn default() -> Self {
        UpdateOptions {
            add_first: true,
            minimum_tile_cover: None,
            tile_cover_sort: false,
            maximum_items_per_tile: None,
            progress: None,
        }
    }
}

/// cogeo-mosaic's `default_filter`, with the coverage computed on the mosaic TMS's tile.
fn filter_assets(
    footprints: &[Footprint],
    hits: &[usize],
    tile: [f64; 4],
    opts: &CreateOptions,
) -> Vec<usize> {
    let min_cover = opts.minimum_tile_cover.filter(|c| *c > 0.0);
    let mut selected: Vec<usize> = if min_cover.is_some() || opts.tile_cover_sort {
        let covers: Vec<f64> = hits
            .iter()
            .map(|&i| coverage(&footprints[i], tile))
            .collect();
        // Positions (into `hits`) that pass the coverage filter, strictly above it.
        let kept: Vec<usize> = (0..hits.len())
            .filter(|&k| min_cover.is_none_or(|c| covers[k] > c))
            .collect();
        let mut ranked: Vec<(f64, usize)> = if opts.cover_sort_aligned {
            kept.iter().map(|&k| (covers[k], k)).collect()
        } else {
            // cogeo-mosaic pairs the coverage list of *all* hits with the *filtered*
            // positions (zip truncates); reproduced for parity, see docs/compatibility.md.
            covers.iter().copied().zip(kept.iter().copied()).collect()
        };
        if opts.tile_cover_sort {
            // Descending coverage; ties: later input first (Python's reverse tuple sort).
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        }
        ranked.into_iter().map(|(_, k)| hits[k]).collect()
    } else {
        hits.to_vec()
    };
    if let Some(n) = opts.maximum_items_per_tile.filter(|n| *n > 0) {
        selected.truncate(n);
    }
    selected
}

/// Removes `prefix` from the start of `asset`, literally (upstream builds a regex from it).
fn strip_prefix(asset: &str, prefix: Option<&str>) -> String {
    match prefix.filter(|p| !p.is_empty()) {
        Some(p) => asset.strip_prefix(p).unwrap_or(asset).to_string(),
        None => asset.to_string(),
    }
}

/// Unique assets in first-seen order (used by callers that merge lists).
pub fn unique(assets: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    assets
        .into_iter()
        .filter(|a| seen.insert(a.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipped_area_of_half_covered_tile() {
        let ring = vec![[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]];
        assert!((clipped_area(&ring, [1.0, 0.0, 3.0, 2.0]) - 2.0).abs() < 1e-12);
        let fp = Footprint {
            asset: "a".into(),
            polygons: vec![vec![ring]],
        };
        assert_eq!(coverage(&fp, [0.5, 0.5, 1.5, 1.5]), 1.0);
        assert!((coverage(&fp, [1.0, 0.0, 3.0, 2.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn prefix_is_stripped_literally() {
        assert_eq!(
            strip_prefix("s3://b+c/(x)/a.tif", Some("s3://b+c/(x)/")),
            "a.tif"
        );
        assert_eq!(strip_prefix("other/a.tif", Some("s3://b/")), "other/a.tif");
    }

    #[test]
    fn bad_options_are_refused() {
        let fp = [Footprint::from_bbox("a", [0.0, 0.0, 1.0, 1.0])];
        let mut o = CreateOptions::new(3, 5);
        o.minimum_tile_cover = Some(1.5);
        assert!(matches!(
            MosaicJson::from_footprints(&fp, &o),
            Err(Error::InvalidInput(_))
        ));
        assert!(MosaicJson::from_footprints(&[], &CreateOptions::new(3, 5)).is_err());
        let mut o = CreateOptions::new(3, 5);
        o.tilematrixset = Some(TileMatrixSet::builtin("WorldCRS84Quad").unwrap());
        assert!(matches!(
            MosaicJson::from_footprints(&fp, &o),
            Err(Error::Tms(_))
        ));
    }

    #[test]
    fn footprints_on_tile_edges_list_only_the_tiles_they_cover() {
        let tms = TileMatrixSet::web_mercator();
        let geo = tms.geographic_crs().clone();
        for (x, y) in [(5, 9), (0, 0), (15, 15), (7, 8)] {
            let b = tms.feature_bounds(Tile::new(x, y, 4), &geo);
            let doc = MosaicJson::from_footprints(
                &[Footprint::from_bbox("a.tif", b)],
                &CreateOptions::new(4, 6),
            )
            .unwrap();
            let keys: Vec<_> = doc.tiles.keys().cloned().collect();
            assert_eq!(keys, vec![tms.quadkey(Tile::new(x, y, 4))], "{x} {y}");
        }
    }

    #[test]
    fn features_and_geometry_errors() {
        let f = serde_json::json!({"type":"Feature","properties":{"path":"a"},"geometry":{"type":"Point","coordinates":[0,0]}});
        assert!(Footprint::from_feature(&f, "path").is_err());
        let f = serde_json::json!({"type":"Feature","properties":{},"geometry":null});
        assert!(Footprint::from_feature(&f, "path").is_err());
        let text = br#"{"type":"Feature","properties":{"p":"x"},"geometry":{"type":"MultiPolygon","coordinates":[[[[179,0],[180,0],[180,1],[179,1],[179,0]]],[[[-180,0],[-179,0],[-179,1],[-180,1],[-180,0]]]]}}
{"type":"FeatureCollection","features":[]}"#;
        let fps = read_footprints(text, "p").unwrap();
        assert_eq!(fps.len(), 1);
        let fp = fps.into_iter().next().unwrap();
        assert!(read_footprints(text, "missing").is_err());
        assert!(read_footprints(br#"{"type":"Point","coordinates":[0,0]}"#, "p").is_err());
        let with_z = br#"{"type":"Feature","id":"z","properties":{"p":7},"geometry":{"type":"Polygon","coordinates":[[[0,0,1],[1,0,1],[1,1,1],[0,0,1]]]}}"#;
        assert_eq!(read_footprints(with_z, "p").unwrap()[0].asset, "7");
        assert_eq!(fp.polygons.len(), 2);
        let doc = MosaicJson::from_footprints(&[fp], &CreateOptions::new(2, 4)).unwrap();
        // Both sides of the antimeridian, nothing in between.
        let keys: Vec<_> = doc.tiles.keys().cloned().collect();
        assert_eq!(keys, vec!["02".to_string(), "13".to_string()]);
    }

    #[test]
    fn update_merges_orders_and_bumps() {
        let mut doc = MosaicJson::from_footprints(
            &[Footprint::from_bbox("a", [0.0, 0.0, 1.0, 1.0])],
            &CreateOptions::new(5, 8),
        )
        .unwrap();
        doc.mosaicjson = "0.0.2".into();
        doc.update(
            &[Footprint::from_bbox("b", [0.5, 0.5, 2.0, 2.0])],
            &UpdateOptions::default(),
        )
        .unwrap();
        let first = doc.tiles.values().next().unwrap();
        assert_eq!(first, &vec!["b".to_string(), "a".to_string()]);
        assert_eq!(doc.version, "1.0.1");
        assert_eq!(doc.mosaicjson, "0.0.3");
        assert_eq!(doc.bounds, [0.0, 0.0, 2.0, 2.0]);
        doc.update(
            &[Footprint::from_bbox("c", [0.0, 0.0, 1.0, 1.0])],
            &UpdateOptions {
                add_first: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(doc.tiles.values().next().unwrap().last().unwrap(), "c");
    }
}
