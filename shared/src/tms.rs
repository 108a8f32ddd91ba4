//! OGC TileMatrixSets (TMS 2.0 JSON), tiles and quadkeys.
//!
//! The built-in registry holds WebMercatorQuad, WorldMercatorWGS84Quad, UPSArcticWGS84Quad,
//! UPSAntarcticWGS84Quad (quadtrees) and WGS1984Quad / WorldCRS84Quad (2×1 at level 0: usable
//! to *read* a mosaic by tile, refused as a mosaic's quadkey grid). Any other TMS comes as a
//! TMS 2.0 JSON document. Tile arithmetic follows morecantile so look-ups give its answers.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crs::{self, Crs};
use crate::{Error, Result};

/// A tile of a TileMatrixSet: column `x`, row `y`, matrix (zoom) `z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Column.
    pub x: u64,
    /// Row.
    pub y: u64,
    /// Zoom level (tile matrix identifier).
    pub z: u8,
}

impl Tile {
    /// A tile.
    pub const fn new(x: u64, y: u64, z: u8) -> Self {
        Tile { x, y, z }
    }

    /// The ancestor of this tile at zoom `z` (`z <= self.z`).
    pub fn ancestor(self, z: u8) -> Tile {
        let d = self.z.saturating_sub(z);
        Tile::new(self.x >> d, self.y >> d, self.z - d)
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.z, self.x, self.y)
    }
}

/// One tile matrix (zoom level) of a TMS, with TMS 2.0 field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TileMatrix {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub keywords: Option<Vec<String>>,
    /// Identifier: the zoom level as a string.
    pub id: String,
    /// Scale denominator (0.28 mm pixels).
    pub scale_denominator: f64,
    /// Pixel size in CRS units.
    pub cell_size: f64,
    /// `topLeft` (default) or `bottomLeft`.
    #[serde(default = "top_left")]
    pub corner_of_origin: String,
    /// Origin in the CRS's axis order.
    pub point_of_origin: [f64; 2],
    /// Tile width in pixels.
    pub tile_width: u32,
    /// Tile height in pixels.
    pub tile_height: u32,
    /// Number of tile columns.
    pub matrix_width: u64,
    /// Number of tile rows.
    pub matrix_height: u64,
    /// Variable-width rows (not quadtree-compatible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_matrix_widths: Option<Value>,
}

fn top_left() -> String {
    "topLeft".into()
}

/// The serialized form of a TMS (TMS 2.0 JSON, morecantile's field order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TmsDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keywords: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ordered_axes: Option<Vec<String>>,
    crs: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    well_known_scale_set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bounding_box: Option<Value>,
    tile_matrices: Vec<TileMatrix>,
}

/// A TileMatrixSet with its CRS resolved.
///
/// ```
/// use mosaic::{TileMatrixSet, Tile};
/// let tms = TileMatrixSet::web_mercator();
/// assert_eq!(tms.quadkey(Tile::new(3, 5, 3)), "213");
/// assert_eq!(tms.quadkey_to_tile("213").unwrap(), Tile::new(3, 5, 3));
/// assert_eq!(tms.tile(-73.0, 45.0, 7), Tile::new(38, 46, 7));
/// ```
#[derive(Debug, Clone)]
pub struct TileMatrixSet {
    doc: Arc<TmsDocument>,
    crs: Crs,
    geographic: Crs,
    invert_axis: bool,
    geo_bbox: Arc<OnceLock<[f64; 4]>>,
}

impl PartialEq for TileMatrixSet {
    fn eq(&self, other: &Self) -> bool {
        self.doc == other.doc
    }
}

impl Serialize for TileMatrixSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.doc.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TileMatrixSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        TileMatrixSet::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// Identifiers of the built-in TMSs.
pub const BUILTIN_IDS: [&str; 6] = [
    "WebMercatorQuad",
    "WorldMercatorWGS84Quad",
    "UPSArcticWGS84Quad",
    "UPSAntarcticWGS84Quad",
    "WGS1984Quad",
    "WorldCRS84Quad",
];

struct Builtin {
    id: &'static str,
    title: &'static str,
    uri: Option<&'static str>,
    crs: &'static str,
    axes: [&'static str; 2],
    wkss: Option<&'static str>,
    origin: [f64; 2],
    cell_size: f64,
    scale: f64,
    width0: u64,
    levels: u8,
    corner: bool,
}

fn builtin(id: &str) -> Option<Builtin> {
    let b = match id {
        "WebMercatorQuad" => Builtin {
            id: "WebMercatorQuad",
            title: "Google Maps Compatible for the World",
            uri: Some("WebMercatorQuad"),
            crs: "http://www.opengis.net/def/crs/EPSG/0/3857",
            axes: ["X", "Y"],
            wkss: Some("http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible"),
            origin: [-20037508.342789244, 20037508.342789244],
            cell_size: 156543.03392804097,
            scale: 559082264.0287178,
            width0: 1,
            levels: 25,
            corner: true,
        },
        "WorldMercatorWGS84Quad" => Builtin {
            id: "WorldMercatorWGS84Quad",
            title: "World Mercator WGS84 (ellipsoid)",
            uri: Some("WorldMercatorWGS84Quad"),
            crs: "http://www.opengis.net/def/crs/EPSG/0/3395",
            axes: ["E", "N"],
            wkss: Some("http://www.opengis.net/def/wkss/OGC/1.0/WorldMercatorWGS84"),
            origin: [-20037508.3427892, 20037508.3427892],
            cell_size: 156543.033928041,
            scale: 559082264.028717,
            width0: 1,
            levels: 25,
            corner: false,
        },
        "UPSArcticWGS84Quad" | "UPSAntarcticWGS84Quad" => {
            let arctic = id == "UPSArcticWGS84Quad";
            Builtin {
                id: if arctic {
                    "UPSArcticWGS84Quad"
                } else {
                    "UPSAntarcticWGS84Quad"
                },
                title: if arctic {
                    "Universal Polar Stereographic WGS 84 Quad for Arctic"
                } else {
                    "Universal Polar Stereographic WGS 84 Quad for Antarctic"
                },
                uri: Some(if arctic {
                    "UPSArcticWGS84Quad"
                } else {
                    "UPSAntarcticWGS84Quad"
                }),
                crs: if arctic {
                    "http://www.opengis.net/def/crs/EPSG/0/5041"
                } else {
                    "http://www.opengis.net/def/crs/EPSG/0/5042"
                },
                axes: ["E", "N"],
                wkss: None,
                origin: [-14440759.350252, 18440759.350252],
                cell_size: 128443.4324,
                scale: 458726544.4,
                width0: 1,
                levels: 25,
                corner: false,
            }
        }
        "WGS1984Quad" => Builtin {
            id: "WGS1984Quad",
            title: "EPSG:4326 for the World",
            uri: None,
            crs: "http://www.opengis.net/def/crs/EPSG/0/4326",
            axes: ["Lat", "Lon"],
            wkss: Some("http://www.opengis.net/def/wkss/OGC/1.0/GoogleCRS84Quad"),
            origin: [90.0, -180.0],
            cell_size: 0.703125,
            scale: 279541132.014358,
            width0: 2,
            levels: 24,
            corner: false,
        },
        "WorldCRS84Quad" => Builtin {
            id: "WorldCRS84Quad",
            title: "CRS84 for the World",
            uri: Some("WorldCRS84Quad"),
            crs: "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            axes: ["Lon", "Lat"],
            wkss: Some("http://www.opengis.net/def/wkss/OGC/1.0/GoogleCRS84Quad"),
            origin: [-180.0, 90.0],
            cell_size: 0.703125,
            scale: 279541132.014358,
            width0: 2,
            levels: 24,
            corner: false,
        },
        _ => return None,
    };
    Some(b)
}

impl Builtin {
    fn document(&self) -> TmsDocument {
        let tile_matrices = (0..self.levels)
            .map(|z| {
                let f = f64::from(1u32 << z);
                let w = self.width0 << z;
                TileMatrix {
                    title: None,
                    description: None,
                    keywords: None,
                    id: z.to_string(),
                    scale_denominator: self.scale / f,
                    cell_size: self.cell_size / f,
                    corner_of_origin: top_left(),
                    point_of_origin: self.origin,
                    tile_width: 256,
                    tile_height: 256,
                    matrix_width: w,
                    matrix_height: if self.width0 == 2 { w / 2 } else { w },
                    variable_matrix_widths: None,
                }
            })
            .collect();
        let _ = self.corner;
        TmsDocument {
            title: Some(self.title.into()),
            description: None,
            keywords: None,
            id: Some(self.id.into()),
            uri: self
                .uri
                .map(|u| format!("http://www.opengis.net/def/tilematrixset/OGC/1.0/{u}")),
            ordered_axes: Some(self.axes.iter().map(|s| s.to_string()).collect()),
            crs: Value::String(self.crs.into()),
            well_known_scale_set: self.wkss.map(Into::into),
            bounding_box: None,
            tile_matrices,
        }
    }
}

/// Most tiles a side of a tile matrix: 2^32, beyond any zoom <= 30 of a registered TMS and
/// far from `u64` overflow in the tile arithmetic.
pub const MAX_MATRIX_SIZE: u64 = 1 << 32;

/// `v << by`, saturating at `u64::MAX`.
fn shl_saturating(v: u64, by: u8) -> u64 {
    if v == 0 {
        0
    } else if u32::from(by) > v.leading_zeros() {
        u64::MAX
    } else {
        v << by
    }
}

/// Refuses CRS definitions that would make GDAL read something before parsing: URLs other
/// than OGC's CRS URIs (GDAL fetches them) and file paths (GDAL opens them). Authority
/// codes (`EPSG:3857`), OGC URIs and URNs, WKT, PROJJSON and PROJ strings pass. Applied to
/// every CRS that comes from a document or a request, before [`Crs::parse`].
///
/// ```
/// use mosaic::tms::check_crs_definition;
/// assert!(check_crs_definition("EPSG:3857").is_ok());
/// assert!(check_crs_definition("http://www.opengis.net/def/crs/EPSG/0/3857").is_ok());
/// assert!(check_crs_definition("GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\"]]").is_ok());
/// assert!(check_crs_definition("+proj=longlat +datum=WGS84").is_ok());
/// assert!(check_crs_definition("http://169.254.169.254/latest/meta-data/").is_err());
/// assert!(check_crs_definition("/etc/passwd").is_err());
/// ```
pub fn check_crs_definition(definition: &str) -> Result<()> {
    const WKT_KEYWORDS: [&str; 24] = [
        "GEOGCS",
        "PROJCS",
        "GEOCCS",
        "COMPD_CS",
        "VERT_CS",
        "VERTCS",
        "LOCAL_CS",
        "FITTED_CS",
        "GEOGCRS",
        "GEOGRAPHICCRS",
        "GEODCRS",
        "GEODETICCRS",
        "BASEGEOGCRS",
        "PROJCRS",
        "PROJECTEDCRS",
        "VERTCRS",
        "VERTICALCRS",
        "COMPOUNDCRS",
        "ENGCRS",
        "ENGINEERINGCRS",
        "BOUNDCRS",
        "DERIVEDPROJCRS",
        "TIMECRS",
        "PARAMETRICCRS",
    ];
    let text = definition.trim();
    // WKT (`KEYWORD[...]`) and PROJJSON are parsed as they are, never fetched.
    let keyword = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let wkt = WKT_KEYWORDS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(&text[..keyword]))
        && text[keyword..].trim_start().starts_with('[');
    if wkt || text.starts_with('{') {
        return Ok(());
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("://") {
        let ogc = [
            "http://www.opengis.net/def/crs/",
            "https://www.opengis.net/def/crs/",
            "http://opengis.net/def/crs/",
            "https://opengis.net/def/crs/",
        ];
        if ogc.iter().any(|p| lower.starts_with(p)) {
            return Ok(());
        }
        return Err(Error::InvalidInput(format!(
            "CRS `{definition}`: only OGC CRS URIs (http://www.opengis.net/def/crs/...) are accepted as URLs"
        )));
    }
    if text.contains(['/', '\\']) || text.starts_with(['.', '~']) {
        return Err(Error::InvalidInput(format!(
            "CRS `{definition}`: file paths are not CRS definitions"
        )));
    }
    Ok(())
}

fn axis_inverted(first_axis: &str) -> bool {
    matches!(
        first_axis.to_ascii_uppercase().as_str(),
        "Y" | "LAT" | "LATITUDE" | "N" | "NORTH" | "NORTHING"
    )
}

impl TileMatrixSet {
    /// The built-in WebMercatorQuad (EPSG:3857), the default of every mosaic.
    pub fn web_mercator() -> TileMatrixSet {
        static WMQ: OnceLock<TileMatrixSet> = OnceLock::new();
        WMQ.get_or_init(|| {
            // The built-in definition is static and valid.
            Self::from_document(
                builtin("WebMercatorQuad")
                    .map(|b| b.document())
                    .unwrap_or_else(|| unreachable!()),
            )
            .unwrap_or_else(|e| unreachable!("{e}"))
        })
        .clone()
    }

    /// A built-in TMS by identifier (see [`BUILTIN_IDS`]).
    pub fn builtin(id: &str) -> Result<TileMatrixSet> {
        if id == "WebMercatorQuad" {
            return Ok(Self::web_mercator());
        }
        let b = builtin(id).ok_or_else(|| {
            Error::Tms(format!(
                "unknown TileMatrixSet `{id}` (known: {})",
                BUILTIN_IDS.join(", ")
            ))
        })?;
        Self::from_document(b.document())
    }

    /// Parses a TMS 2.0 JSON document.
    pub fn from_json(text: &str) -> Result<TileMatrixSet> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::Tms(format!("TileMatrixSet JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Builds a TMS from a JSON value (a TMS 2.0 object; a bare identifier string is refused,
    /// as cogeo-mosaic's model refuses it inside a MosaicJSON document).
    pub fn from_value(value: Value) -> Result<TileMatrixSet> {
        if let Value::Object(map) = &value {
            if map.contains_key("supportedCRS") || map.contains_key("topLeftCorner") {
                return Err(Error::Tms(
                    "TileMatrixSet must follow TMS 2.0 (found TMS 1.0 keys)".into(),
                ));
            }
        } else {
            return Err(Error::Tms(format!(
                "a TileMatrixSet must be a TMS 2.0 JSON object, got {value}"
            )));
        }
        let doc: TmsDocument = serde_json::from_value(value)
            .map_err(|e| Error::Tms(format!("TileMatrixSet JSON: {e}")))?;
        Self::from_document(doc)
    }

    /// Resolves a `--tms` style argument: a built-in id, or a path to a TMS JSON file.
    pub fn from_arg(arg: &str) -> Result<TileMatrixSet> {
        if arg.ends_with(".json") {
            let text = std::fs::read_to_string(arg).map_err(|e| Error::io(arg, e))?;
            return Self::from_json(&text);
        }
        Self::builtin(arg)
    }

    fn from_document(mut doc: TmsDocument) -> Result<TileMatrixSet> {
        if doc.tile_matrices.is_empty() {
            return Err(Error::Tms("TileMatrixSet has no tileMatrices".into()));
        }
        for m in &doc.tile_matrices {
            m.id.parse::<u8>().map_err(|_| {
                Error::Tms(format!("tile matrix id `{}` is not a zoom level", m.id))
            })?;
            let positive = |v: f64| v.is_finite() && v > 0.0;
            if !positive(m.cell_size)
                || !positive(m.scale_denominator)
                || m.tile_width == 0
                || m.tile_height == 0
            {
                return Err(Error::Tms(format!(
                    "tile matrix {} has a non-positive size",
                    m.id
                )));
            }
            if !(1..=MAX_MATRIX_SIZE).contains(&m.matrix_width)
                || !(1..=MAX_MATRIX_SIZE).contains(&m.matrix_height)
            {
                return Err(Error::Tms(format!(
                    "tile matrix {} of {}x{} tiles: a matrix has 1 to 2^32 tiles a side",
                    m.id, m.matrix_width, m.matrix_height
                )));
            }
            // The whole matrix must lie within finite coordinates, or tile bounds are NaN.
            let span = |tile: u32, tiles: u64| m.cell_size * f64::from(tile) * tiles as f64;
            let (w, h) = (
                span(m.tile_width, m.matrix_width),
                span(m.tile_height, m.matrix_height),
            );
            // (Either axis order: the origin may be given y first.)
            let [a, b] = m.point_of_origin;
            let e = w.max(h);
            if ![w, h, a - e, a + e, b - e, b + e]
                .iter()
                .all(|v| v.is_finite())
            {
                return Err(Error::Tms(format!(
                    "tile matrix {}: pointOfOrigin and the matrix extent must be finite",
                    m.id
                )));
            }
            if m.corner_of_origin != "topLeft" && m.corner_of_origin != "bottomLeft" {
                return Err(Error::Tms(format!(
                    "tile matrix {}: cornerOfOrigin must be topLeft or bottomLeft",
                    m.id
                )));
            }
        }
        doc.tile_matrices
            .sort_by_key(|m| m.id.parse::<u8>().unwrap_or(u8::MAX));
        if let Some(id) = &doc.id
            && (id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(Error::Tms(format!("TileMatrixSet id `{id}` is invalid")));
        }
        let crs_text = match &doc.crs {
            Value::String(s) => s.clone(),
            Value::Object(o) => match (o.get("uri"), o.get("wkt")) {
                (Some(Value::String(u)), _) => u.clone(),
                (_, Some(w)) => match w {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                _ => {
                    return Err(Error::Tms(
                        "TileMatrixSet crs must have `uri` or `wkt`".into(),
                    ));
                }
            },
            other => {
                return Err(Error::Tms(format!(
                    "TileMatrixSet crs `{other}` is not a CRS"
                )));
            }
        };
        check_crs_definition(&crs_text)?;
        let crs = Crs::parse(&crs_text).map_err(|e| Error::Tms(e.to_string()))?;
        let geographic = crs.geographic().map_err(|e| Error::Tms(e.to_string()))?;
        let invert_axis = match &doc.ordered_axes {
            Some(axes) if !axes.is_empty() => axis_inverted(&axes[0]),
            // Without orderedAxes only EPSG:4326 is known here to be lat/lon ordered.
            _ => crs_text.contains("EPSG/0/4326") || crs_text.eq_ignore_ascii_case("EPSG:4326"),
        };
        Ok(TileMatrixSet {
            doc: Arc::new(doc),
            crs,
            geographic,
            invert_axis,
            geo_bbox: Arc::new(OnceLock::new()),
        })
    }

    /// The identifier (`WebMercatorQuad`, ...), or `"custom"` when the document has none.
    pub fn id(&self) -> &str {
        self.doc.id.as_deref().unwrap_or("custom")
    }

    /// The title.
    pub fn title(&self) -> Option<&str> {
        self.doc.title.as_deref()
    }

    /// The TMS CRS.
    pub fn crs(&self) -> &Crs {
        &self.crs
    }

    /// The geographic CRS in which footprints, bounds and look-up coordinates are given.
    pub fn geographic_crs(&self) -> &Crs {
        &self.geographic
    }

    /// morecantile's `repr()` of the TMS, as cogeo-mosaic's `info()` reports it (quirk included).
    pub fn python_repr(&self) -> String {
        format!(
            "<TileMatrixSet title='{}' id='{}' crs='{}>",
            self.title().unwrap_or("None"),
            self.doc.id.as_deref().unwrap_or("None"),
            self.crs.uri()
        )
    }

    /// The lowest tile matrix identifier.
    pub fn minzoom(&self) -> u8 {
        self.doc.tile_matrices[0].id.parse().unwrap_or(0)
    }

    /// The highest tile matrix identifier.
    pub fn maxzoom(&self) -> u8 {
        self.doc.tile_matrices[self.doc.tile_matrices.len() - 1]
            .id
            .parse()
            .unwrap_or(0)
    }

    /// The tile matrices, sorted by zoom.
    pub fn tile_matrices(&self) -> &[TileMatrix] {
        &self.doc.tile_matrices
    }

    /// True when the levels are consecutive zooms, every level is square, a power of two
    /// wide, and twice as wide as the previous.
    pub fn is_quadtree(&self) -> bool {
        let m = &self.doc.tile_matrices;
        let zoom = |m: &TileMatrix| m.id.parse::<u8>().ok();
        m.windows(2).all(|w| {
            w[0].matrix_width == w[0].matrix_height
                && w[0].matrix_width.is_power_of_two()
                && w[0].matrix_width.checked_mul(2) == Some(w[1].matrix_width)
                && zoom(&w[0])
                    .and_then(|z| z.checked_add(1))
                    .is_some_and(|next| Some(next) == zoom(&w[1]))
        })
    }

    /// Errors with a clear message unless the TMS can index quadkeys.
    pub fn ensure_quadtree(&self) -> Result<()> {
        if self.is_quadtree() {
            Ok(())
        } else {
            let m = &self.doc.tile_matrices[0];
            Err(Error::Tms(format!(
                "{} TMS does not support quadkeys: level {} is {}x{} tiles; a MosaicJSON needs a quadtree TMS \
                 (square levels whose width doubles every zoom)",
                self.id(),
                m.id,
                m.matrix_width,
                m.matrix_height
            )))
        }
    }

    /// The matrix of zoom `z`; beyond the last defined level, extrapolated by halving (as
    /// morecantile does). A level missing between two defined ones is extrapolated from the
    /// closest one below; below the first level, the first is halved. Sizes saturate at
    /// `u64::MAX` tiles and never drop below one tile.
    pub fn matrix(&self, z: u8) -> TileMatrix {
        let mats = &self.doc.tile_matrices;
        let zoom = |m: &TileMatrix| m.id.parse::<u8>().unwrap_or(0);
        if let Some(m) = mats.iter().find(|m| m.id.parse::<u8>().ok() == Some(z)) {
            return m.clone();
        }
        let mut m;
        if let Some(below) = mats.iter().rev().find(|m| zoom(m) < z) {
            m = below.clone();
            let d = z - zoom(below);
            let f = 2f64.powi(i32::from(d));
            m.cell_size /= f;
            m.scale_denominator /= f;
            m.matrix_width = shl_saturating(m.matrix_width, d);
            m.matrix_height = shl_saturating(m.matrix_height, d);
        } else {
            let first = &mats[0];
            m = first.clone();
            let d = zoom(first).saturating_sub(z);
            m.cell_size *= 2f64.powi(i32::from(d));
            m.scale_denominator *= 2f64.powi(i32::from(d));
            m.matrix_width = m.matrix_width.checked_shr(u32::from(d)).unwrap_or(0).max(1);
            m.matrix_height = m
                .matrix_height
                .checked_shr(u32::from(d))
                .unwrap_or(0)
                .max(1);
        }
        m.id = z.to_string();
        m
    }

    fn origin(&self, m: &TileMatrix) -> (f64, f64) {
        if self.invert_axis {
            (m.point_of_origin[1], m.point_of_origin[0])
        } else {
            (m.point_of_origin[0], m.point_of_origin[1])
        }
    }

    /// Geographic (lon, lat) → TMS CRS.
    pub fn xy(&self, lon: f64, lat: f64) -> (f64, f64) {
        crs::transform_point(&self.geographic, &self.crs, lon, lat)
            .unwrap_or((f64::INFINITY, f64::INFINITY))
    }

    /// TMS CRS → geographic (lon, lat).
    pub fn lnglat(&self, x: f64, y: f64) -> (f64, f64) {
        crs::transform_point(&self.crs, &self.geographic, x, y)
            .unwrap_or((f64::INFINITY, f64::INFINITY))
    }

    /// The tile containing a point given in TMS CRS coordinates (clamped to the matrix).
    pub fn tile_xy(&self, x: f64, y: f64, z: u8) -> Tile {
        let m = self.matrix(z);
        let (ox, oy) = self.origin(&m);
        let span_x = m.cell_size * f64::from(m.tile_width);
        let span_y = m.cell_size * f64::from(m.tile_height);
        let tx = if x.is_infinite() {
            0.0
        } else {
            ((x - ox) / span_x).floor()
        };
        let dy = if m.corner_of_origin == "topLeft" {
            oy - y
        } else {
            y - oy
        };
        let ty = if y.is_infinite() {
            0.0
        } else {
            (dy / span_y).floor()
        };
        let clamp = |v: f64, n: u64| -> u64 {
            if v.is_nan() || v < 0.0 {
                0
            } else if v >= n as f64 {
                n.saturating_sub(1)
            } else {
                v as u64
            }
        };
        Tile::new(clamp(tx, m.matrix_width), clamp(ty, m.matrix_height), z)
    }

    /// The tile containing a geographic point (morecantile `tile()`: no truncation, clamped to the matrix).
    pub fn tile(&self, lon: f64, lat: f64, z: u8) -> Tile {
        let (x, y) = self.xy(lon, lat);
        self.tile_xy(x, y, z)
    }

    /// Tile bounds in the TMS CRS: `[left, bottom, right, top]`.
    pub fn xy_bounds(&self, t: Tile) -> [f64; 4] {
        let m = self.matrix(t.z);
        let (ox, oy) = self.origin(&m);
        let sx = m.cell_size * f64::from(m.tile_width);
        let sy = m.cell_size * f64::from(m.tile_height);
        // `x + 1` in u64 as long as it cannot overflow (exact below 2^53 either way).
        let next = |v: u64| v.checked_add(1).map_or(v as f64 + 1.0, |n| n as f64);
        let left = ox + t.x as f64 * sx;
        let right = ox + next(t.x) * sx;
        if m.corner_of_origin == "topLeft" {
            [left, oy - next(t.y) * sy, right, oy - t.y as f64 * sy]
        } else {
            [left, oy + t.y as f64 * sy, right, oy + next(t.y) * sy]
        }
    }

    /// Upper-left corner of a tile in the TMS CRS.
    pub fn ul_xy(&self, t: Tile) -> (f64, f64) {
        let b = self.xy_bounds(t);
        (b[0], b[3])
    }

    /// Upper-left corner of a tile, geographic.
    pub fn ul(&self, t: Tile) -> (f64, f64) {
        let (x, y) = self.ul_xy(t);
        self.lnglat(x, y)
    }

    /// Tile bounds, geographic, from the two corners (morecantile `bounds()`).
    pub fn bounds(&self, t: Tile) -> [f64; 4] {
        let [l, b, r, tp] = self.xy_bounds(t);
        let (left, top) = self.lnglat(l, tp);
        let (right, bottom) = self.lnglat(r, b);
        [left, bottom, right, top]
    }

    /// Tile bounds in `crs`, with densified edges (morecantile `feature()`'s polygon).
    pub fn feature_bounds(&self, t: Tile, crs: &Crs) -> [f64; 4] {
        let xyb = self.xy_bounds(t);
        if self.crs == Crs::WebMercator && crs == &Crs::Wgs84 {
            // Monotonic projection: the corners are the extremes.
            return self.bounds(t);
        }
        crs::transform_bounds(&self.crs, crs, xyb, 21).unwrap_or([f64::NAN; 4])
    }

    /// Extent of the TMS in its CRS.
    pub fn xy_bbox(&self) -> [f64; 4] {
        let z = self.minzoom();
        let m = self.matrix(z);
        let ul = self.xy_bounds(Tile::new(0, 0, z));
        let lr = self.xy_bounds(Tile::new(
            m.matrix_width.saturating_sub(1),
            m.matrix_height.saturating_sub(1),
            z,
        ));
        [ul[0], lr[1], lr[2], ul[3]]
    }

    /// Extent of the TMS in its geographic CRS (densified edges).
    pub fn bbox(&self) -> [f64; 4] {
        *self.geo_bbox.get_or_init(|| {
            let xyb = self.xy_bbox();
            if self.crs == Crs::WebMercator {
                let (l, t) = self.lnglat(xyb[0], xyb[3]);
                let (r, b) = self.lnglat(xyb[2], xyb[1]);
                return [l, b, r, t];
            }
            crs::transform_bounds(&self.crs, &self.geographic, xyb, 21)
                .unwrap_or([-180.0, -90.0, 180.0, 90.0])
        })
    }

    /// Clamps a geographic point into the TMS geographic bbox (morecantile `truncate_coordinates`).
    pub fn truncate_lnglat(&self, lon: f64, lat: f64) -> (f64, f64) {
        let b = self.bbox();
        (
            lon.clamp(b[0].min(b[2]), b[2].max(b[0])),
            lat.clamp(b[1].min(b[3]), b[3].max(b[1])),
        )
    }

    /// The quadkey of a tile (one digit per level below the TMS's first level).
    pub fn quadkey(&self, t: Tile) -> String {
        let min = self.minzoom();
        let mut qk = String::with_capacity(t.z as usize);
        let mut z = t.z;
        while z > min {
            let mask = 1u64.checked_shl(u32::from(z - 1)).unwrap_or(0);
            let mut digit = b'0';
            if t.x & mask != 0 {
                digit += 1;
            }
            if t.y & mask != 0 {
                digit += 2;
            }
            qk.push(digit as char);
            z -= 1;
        }
        qk
    }

    /// The tile of a quadkey.
    pub fn quadkey_to_tile(&self, qk: &str) -> Result<Tile> {
        quadkey_to_tile(qk)
    }
}

/// Parses a quadkey (`[0-3]*`, at most 30 digits) into its tile.
pub fn quadkey_to_tile(qk: &str) -> Result<Tile> {
    if qk.len() > 30 {
        return Err(Error::InvalidInput(format!(
            "quadkey `{qk}` is longer than 30 digits"
        )));
    }
    let (mut x, mut y) = (0u64, 0u64);
    for (i, c) in qk.bytes().rev().enumerate() {
        let mask = 1u64 << i;
        match c {
            b'0' => {}
            b'1' => x |= mask,
            b'2' => y |= mask,
            b'3' => {
                x |= mask;
                y |= mask
            }
            _ => {
                return Err(Error::InvalidInput(format!(
                    "unexpected quadkey digit in `{qk}`"
                )));
            }
        }
    }
    Ok(Tile::new(x, y, qk.len() as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "gdal"))]
    #[test]
    fn without_gdal_other_crss_name_the_feature() {
        // The loader reports it as a TMS error, with the feature to turn on.
        let e = TileMatrixSet::builtin("UPSArcticWGS84Quad").unwrap_err();
        assert!(e.to_string().contains("cargo feature `gdal`"), "{e}");
        assert!(TileMatrixSet::builtin("WebMercatorQuad").is_ok());
        assert!(TileMatrixSet::builtin("WorldCRS84Quad").is_ok());
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn builtins_load_and_quadtree_flags() {
        for id in BUILTIN_IDS {
            let tms = TileMatrixSet::builtin(id).unwrap();
            assert_eq!(tms.id(), id);
            let quad = !matches!(id, "WGS1984Quad" | "WorldCRS84Quad");
            assert_eq!(tms.is_quadtree(), quad, "{id}");
            assert_eq!(tms.ensure_quadtree().is_ok(), quad);
        }
        assert!(matches!(TileMatrixSet::builtin("Nope"), Err(Error::Tms(_))));
    }

    #[test]
    fn web_mercator_numbers_match_ogc() {
        let tms = TileMatrixSet::web_mercator();
        assert_eq!(tms.matrix(1).cell_size, 78271.51696402048);
        assert_eq!(tms.matrix(1).scale_denominator, 279541132.0143589);
        let b = tms.bbox();
        assert_eq!(b[0], -180.0);
        assert_eq!(b[2], 180.0);
        assert!((b[3] - 85.0511287798066).abs() < 1e-12);
        assert_eq!(tms.tile(0.0, 0.0, 1), Tile::new(1, 1, 1));
        assert_eq!(tms.tile(-180.0, 90.0, 3), Tile::new(0, 0, 3));
        assert_eq!(tms.tile(180.0, -85.0, 3), Tile::new(7, 7, 3));
        // beyond the poles PROJ fails and morecantile falls back to 0
        assert_eq!(tms.tile(10.0, -90.0, 3), Tile::new(0, 0, 3));
    }

    #[test]
    fn wgs84_axis_order_and_read_tiles() {
        let tms = TileMatrixSet::builtin("WGS1984Quad").unwrap();
        assert_eq!(tms.tile(-179.9, 89.9, 0), Tile::new(0, 0, 0));
        assert_eq!(tms.tile(10.0, -10.0, 0), Tile::new(1, 0, 0));
        assert_eq!(tms.bounds(Tile::new(1, 0, 0)), [0.0, -90.0, 180.0, 90.0]);
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn ups_projects_through_gdal() {
        let tms = TileMatrixSet::builtin("UPSArcticWGS84Quad").unwrap();
        let (x, y) = tms.xy(0.0, 90.0);
        assert!(
            (x - 2_000_000.0).abs() < 1e-3 && (y - 2_000_000.0).abs() < 1e-3,
            "{x} {y}"
        );
        let t = tms.tile(0.0, 90.0, 1);
        assert_eq!(t.z, 1);
    }

    #[test]
    fn custom_tms_json_and_refusals() {
        let wmq = TileMatrixSet::web_mercator();
        let text = serde_json::to_string(&wmq).unwrap();
        let back = TileMatrixSet::from_json(&text).unwrap();
        assert_eq!(back, wmq);
        assert!(TileMatrixSet::from_value(Value::String("WebMercatorQuad".into())).is_err());
        assert!(TileMatrixSet::from_json(r#"{"supportedCRS":"x","tileMatrix":[]}"#).is_err());
        let crs84 =
            serde_json::to_string(&TileMatrixSet::builtin("WorldCRS84Quad").unwrap()).unwrap();
        assert!(
            TileMatrixSet::from_json(&crs84)
                .unwrap()
                .ensure_quadtree()
                .is_err()
        );
    }

    #[test]
    fn quadkeys_round_trip() {
        let tms = TileMatrixSet::web_mercator();
        for t in [
            Tile::new(0, 0, 0),
            Tile::new(5, 9, 4),
            Tile::new(1023, 511, 10),
        ] {
            assert_eq!(tms.quadkey_to_tile(&tms.quadkey(t)).unwrap(), t);
        }
        assert!(quadkey_to_tile("0124").is_err());
    }
}
