//! The MosaicJSON document (spec 0.0.1–0.0.3): parsing with typed, field-naming errors,
//! and writing byte-for-byte as cogeo-mosaic writes it (field order, compact separators,
//! Python float layout, absent fields omitted). Unknown top-level keys are kept and written
//! back after the known ones.

use std::fmt;
use std::io::Write;

use indexmap::IndexMap;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha224};

use crate::tms::TileMatrixSet;
use crate::{Error, Result, pyjson};

/// The MosaicJSON version this crate writes.
pub const MOSAICJSON_VERSION: &str = "0.0.3";

/// The data types the 0.0.3 specification lists for `data_type`.
pub const DATA_TYPES: [&str; 16] = [
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
    "float64", "cint16", "cint32", "cfloat32", "cfloat64", "other",
];

/// `[longitude, latitude, zoom]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Center {
    /// Longitude (TMS geographic CRS).
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Zoom.
    pub zoom: u8,
}

impl Serialize for Center {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (self.lon, self.lat, self.zoom).serialize(s)
    }
}

/// A MosaicJSON document.
///
/// ```
/// let doc = mosaic::MosaicJson::from_slice(br#"{"mosaicjson":"0.0.2","minzoom":7,"maxzoom":9,
///   "bounds":[-75,45,-73,46],"tiles":{"0302300":["cog1.tif"]}}"#).unwrap();
/// assert_eq!(doc.center.unwrap().zoom, 7);
/// assert_eq!(doc.to_json_string(),
///   r#"{"mosaicjson":"0.0.2","version":"1.0.0","minzoom":7,"maxzoom":9,"bounds":[-75.0,45.0,-73.0,46.0],"center":[-74.0,45.5,7],"tiles":{"0302300":["cog1.tif"]}}"#);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MosaicJson {
    /// Specification version implemented by the document (`0.0.1`, `0.0.2`, `0.0.3`).
    pub mosaicjson: String,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Version of the document (semver, bumped on update).
    pub version: String,
    /// Attribution (may be HTML).
    pub attribution: Option<String>,
    /// Minimum zoom.
    pub minzoom: u8,
    /// Maximum zoom.
    pub maxzoom: u8,
    /// Zoom of the quadkeys in `tiles` (defaults to `minzoom`).
    pub quadkey_zoom: Option<u8>,
    /// `[west, south, east, north]` in the TMS geographic CRS.
    pub bounds: [f64; 4],
    /// `[lon, lat, zoom]`; computed from bounds and minzoom when absent.
    pub center: Option<Center>,
    /// Quadkey → assets, in document order.
    pub tiles: IndexMap<String, Vec<String>>,
    /// The quadtree TMS of the quadkeys (WebMercatorQuad when absent).
    pub tilematrixset: Option<TileMatrixSet>,
    /// Informative asset type (`COG`, `STAC`, ...).
    pub asset_type: Option<String>,
    /// Prefix prepended to every asset on read.
    pub asset_prefix: Option<String>,
    /// Data type of the assets.
    pub data_type: Option<String>,
    /// GDAL-style colormap `{value: [r, g, b, a]}`.
    pub colormap: Option<IndexMap<i64, [i64; 4]>>,
    /// Named render configurations.
    pub layers: Option<Map<String, Value>>,
    /// Unknown top-level keys, preserved for round trips.
    pub extra: Map<String, Value>,
}

impl MosaicJson {
    /// An empty document with the given zooms and no tiles.
    pub fn new(minzoom: u8, maxzoom: u8) -> MosaicJson {
        MosaicJson {
            mosaicjson: MOSAICJSON_VERSION.into(),
            name: None,
            description: None,
            version: "1.0.0".into(),
            attribution: None,
            minzoom,
            maxzoom,
            quadkey_zoom: None,
            bounds: [-180.0, -90.0, 180.0, 90.0],
            center: None,
            tiles: IndexMap::new(),
            tilematrixset: None,
            asset_type: None,
            asset_prefix: None,
            data_type: None,
            colormap: None,
            layers: None,
            extra: Map::new(),
        }
    }

    /// Parses a document from JSON bytes, gunzipping first when they start with the gzip magic.
    pub fn from_slice(bytes: &[u8]) -> Result<MosaicJson> {
        Self::from_slice_limited(bytes, u64::MAX)
    }

    /// [`MosaicJson::from_slice`] refusing documents larger than `max_bytes` once
    /// decompressed ([`Error::LimitExceeded`]): a gzip bomb stops at the limit.
    pub fn from_slice_limited(bytes: &[u8], max_bytes: u64) -> Result<MosaicJson> {
        if is_gzip(bytes) {
            let text = crate::limits::read_bounded(
                flate2::read::MultiGzDecoder::new(bytes),
                max_bytes,
                "gzip-compressed MosaicJSON",
                |e| Error::InvalidMosaic {
                    field: None,
                    reason: format!("gzip: {e}"),
                },
            )?;
            return Self::from_json_bytes(&text);
        }
        crate::limits::check(
            || format!("MosaicJSON document of {} bytes", bytes.len()),
            bytes.len() as u64,
            max_bytes,
            "MOSAIC_MAX_DOCUMENT_BYTES",
        )?;
        Self::from_json_bytes(bytes)
    }

    fn from_json_bytes(bytes: &[u8]) -> Result<MosaicJson> {
        let mut doc: MosaicJson = serde_json::from_slice(bytes).map_err(field_error)?;
        doc.finish()?;
        Ok(doc)
    }

    /// Builds a document from a JSON value (same rules as [`MosaicJson::from_slice`]).
    pub fn from_value(value: Value) -> Result<MosaicJson> {
        let mut doc: MosaicJson = serde_json::from_value(value).map_err(field_error)?;
        doc.finish()?;
        Ok(doc)
    }

    /// Post-parse checks and defaults (pydantic's after-validators).
    fn finish(&mut self) -> Result<()> {
        if !self.bounds.iter().all(|v| v.is_finite()) {
            return Err(Error::invalid_field(
                "bounds",
                "values must be finite numbers",
            ));
        }
        // Numeric strings are taken for numbers ("NaN", "inf" among them); a non-finite
        // center would be written as `NaN`, which no JSON parser reads back.
        if let Some(c) = &self.center
            && !(c.lon.is_finite() && c.lat.is_finite())
        {
            return Err(Error::invalid_field(
                "center",
                "values must be finite numbers",
            ));
        }
        if let Some(tms) = &self.tilematrixset {
            tms.ensure_quadtree()
                .map_err(|e| Error::invalid_field("tilematrixset", e.to_string()))?;
        }
        for key in self.tiles.keys() {
            if key.len() > 30 || !key.bytes().all(|b| (b'0'..=b'3').contains(&b)) {
                return Err(Error::invalid_field(
                    "tiles",
                    format!("`{key}` is not a quadkey ([0-3]{{0,30}})"),
                ));
            }
        }
        if self.center.is_none() {
            // Finite bounds can still have an infinite midpoint ([1e308, .., 1.7e308, ..]).
            let c = self.default_center();
            if !(c.lon.is_finite() && c.lat.is_finite()) {
                return Err(Error::invalid_field(
                    "bounds",
                    "the midpoint of the bounds (the default center) is not a finite number",
                ));
            }
            self.center = Some(c);
        }
        Ok(())
    }

    /// The center cogeo-mosaic computes: bounds midpoint at minzoom.
    pub fn default_center(&self) -> Center {
        let b = self.bounds;
        Center {
            lon: (b[0] + b[2]) / 2.0,
            lat: (b[1] + b[3]) / 2.0,
            zoom: self.minzoom,
        }
    }

    /// The zoom of the quadkeys (`quadkey_zoom`, or `minzoom` when absent or 0, as cogeo-mosaic reads it).
    pub fn effective_quadkey_zoom(&self) -> u8 {
        match self.quadkey_zoom {
            Some(z) if z > 0 => z,
            _ => self.minzoom,
        }
    }

    /// The TMS of the quadkeys.
    pub fn tms(&self) -> TileMatrixSet {
        self.tilematrixset
            .clone()
            .unwrap_or_else(TileMatrixSet::web_mercator)
    }

    /// Compact JSON bytes exactly as cogeo-mosaic writes them (`model_dump_json(exclude_none=True)`).
    pub fn to_json_vec(&self) -> Vec<u8> {
        // Serializing our own types to a Vec cannot fail: every key is a string and floats are finite.
        pyjson::to_vec(self).unwrap_or_default()
    }

    /// [`MosaicJson::to_json_vec`] as a `String`.
    pub fn to_json_string(&self) -> String {
        String::from_utf8(self.to_json_vec()).unwrap_or_default()
    }

    /// Streams the compact JSON (as [`MosaicJson::to_json_vec`]) into `w`.
    pub fn write_json<W: Write>(&self, w: W) -> std::io::Result<()> {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
        let mut ser = serde_json::Serializer::with_formatter(&mut w, pyjson::PyFormatter);
        self.serialize(&mut ser).map_err(std::io::Error::other)?;
        w.flush()
    }

    /// Serialized bytes for a destination name: gzip (level 9, mtime 0) when it ends with `.gz`.
    pub fn to_bytes_for(&self, name: &str) -> Vec<u8> {
        let json = self.to_json_vec();
        if name.ends_with(".gz") {
            gzip(&json)
        } else {
            json
        }
    }

    /// The metadata fields as pydantic's `model_dump(exclude={"tiles"})` gives them to the
    /// database backends: every spec field, absent ones as `null`, plus unknown keys.
    ///
    /// ```
    /// let meta = mosaic::MosaicJson::new(7, 9).metadata();
    /// assert!(meta["name"].is_null() && !meta.contains_key("tiles"));
    /// assert_eq!(meta["minzoom"], 7);
    /// ```
    pub fn metadata(&self) -> Map<String, Value> {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut out = Map::new();
        if let Some(map) = value.as_object_mut() {
            map.remove("tiles");
            for key in METADATA_FIELDS {
                out.insert(key.to_string(), map.remove(key).unwrap_or(Value::Null));
            }
            out.extend(std::mem::take(map));
        }
        out
    }

    /// Rebuilds a document (with empty `tiles`) from [`MosaicJson::metadata`] as a database
    /// stored it; `null` fields are absent fields.
    pub fn from_metadata(mut meta: Map<String, Value>) -> Result<MosaicJson> {
        meta.retain(|_, v| !v.is_null());
        meta.insert("tiles".into(), Value::Object(Map::new()));
        MosaicJson::from_value(Value::Object(meta))
    }

    /// SHA-224 of the serialized document: a cache key that changes whenever the document does.
    pub fn mosaicid(&self) -> String {
        let digest = Sha224::digest(self.to_json_vec());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Bumps the last numeric part of `version` ("1.0.0" → "1.0.1").
    pub fn increase_version(&mut self) -> Result<()> {
        let mut parts: Vec<u64> = self
            .version
            .split('.')
            .map(|p| p.parse::<u64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                Error::invalid_field("version", format!("`{}` is not numeric", self.version))
            })?;
        if let Some(last) = parts.last_mut() {
            *last += 1;
        }
        self.version = parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".");
        Ok(())
    }
}

/// True when `bytes` start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Gzip with zlib level 9, mtime 0 and OS "unix", as Python's `gzip.compress(..., mtime=0)` frames it.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new().mtime(0).operating_system(3).write(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::best(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Turns serde's message (`field \`x\`: reason at line..`) into a typed error naming the field.
fn field_error(e: serde_json::Error) -> Error {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix("field `")
        && let Some((field, reason)) = rest.split_once("`: ")
    {
        return Error::InvalidMosaic {
            field: Some(field.to_string()),
            reason: reason.to_string(),
        };
    }
    if let Some(rest) = msg.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return Error::InvalidMosaic {
            field: Some(field.to_string()),
            reason: "required field is missing".into(),
        };
    }
    Error::InvalidMosaic {
        field: None,
        reason: msg,
    }
}

/// The spec fields other than `tiles`, in pydantic's order.
pub const METADATA_FIELDS: [&str; 16] = [
    "mosaicjson",
    "name",
    "description",
    "version",
    "attribution",
    "minzoom",
    "maxzoom",
    "quadkey_zoom",
    "bounds",
    "center",
    "tilematrixset",
    "asset_type",
    "asset_prefix",
    "data_type",
    "colormap",
    "layers",
];

impl Serialize for MosaicJson {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("mosaicjson", &self.mosaicjson)?;
        if let Some(v) = &self.name {
            m.serialize_entry("name", v)?;
        }
        if let Some(v) = &self.description {
            m.serialize_entry("description", v)?;
        }
        m.serialize_entry("version", &self.version)?;
        if let Some(v) = &self.attribution {
            m.serialize_entry("attribution", v)?;
        }
        m.serialize_entry("minzoom", &self.minzoom)?;
        m.serialize_entry("maxzoom", &self.maxzoom)?;
        if let Some(v) = &self.quadkey_zoom {
            m.serialize_entry("quadkey_zoom", v)?;
        }
        m.serialize_entry("bounds", &self.bounds)?;
        if let Some(v) = &self.center {
            m.serialize_entry("center", v)?;
        }
        m.serialize_entry("tiles", &self.tiles)?;
        if let Some(v) = &self.tilematrixset {
            m.serialize_entry("tilematrixset", v)?;
        }
        if let Some(v) = &self.asset_type {
            m.serialize_entry("asset_type", v)?;
        }
        if let Some(v) = &self.asset_prefix {
            m.serialize_entry("asset_prefix", v)?;
        }
        if let Some(v) = &self.data_type {
            m.serialize_entry("data_type", v)?;
        }
        if let Some(v) = &self.colormap {
            m.serialize_entry("colormap", v)?;
        }
        if let Some(v) = &self.layers {
            m.serialize_entry("layers", v)?;
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

fn number(field: &str, v: &Value) -> std::result::Result<f64, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| format!("field `{field}`: not a number")),
        // pydantic's lax mode accepts numeric strings
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("field `{field}`: `{s}` is not a number")),
        other => Err(format!("field `{field}`: expected a number, got {other}")),
    }
}

fn zoom(field: &str, v: &Value) -> std::result::Result<u8, String> {
    let f = number(field, v)?;
    if f.fract() != 0.0 {
        return Err(format!("field `{field}`: zoom {f} is not an integer"));
    }
    if !(0.0..=30.0).contains(&f) {
        return Err(format!("field `{field}`: zoom {f} is outside 0..=30"));
    }
    Ok(f as u8)
}

fn opt_string(field: &str, v: Value) -> std::result::Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(format!("field `{field}`: expected a string, got {other}")),
    }
}

impl<'de> Deserialize<'de> for MosaicJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = MosaicJson;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a MosaicJSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<MosaicJson, A::Error> {
        let mut doc = MosaicJson::new(0, 30);
        let mut seen_mosaicjson = false;
        let mut seen_tiles = false;
        let err = |m: String| de::Error::custom(m);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "tiles" => {
                    // Deserialized straight into the map: the hot path for large documents.
                    doc.tiles = map
                        .next_value::<IndexMap<String, Vec<String>>>()
                        .map_err(|e| err(format!("field `tiles`: {e}")))?;
                    seen_tiles = true;
                }
                _ => {
                    let v: Value = map.next_value()?;
                    match key.as_str() {
                        "mosaicjson" => {
                            doc.mosaicjson =
                                opt_string("mosaicjson", v).map_err(err)?.ok_or_else(|| {
                                    err("field `mosaicjson`: must be a string".into())
                                })?;
                            seen_mosaicjson = true;
                        }
                        "name" => doc.name = opt_string("name", v).map_err(err)?,
                        "description" => {
                            doc.description = opt_string("description", v).map_err(err)?
                        }
                        "attribution" => {
                            doc.attribution = opt_string("attribution", v).map_err(err)?
                        }
                        "version" => {
                            if let Some(s) = opt_string("version", v).map_err(err)? {
                                doc.version = s;
                            }
                        }
                        "minzoom" => doc.minzoom = zoom("minzoom", &v).map_err(err)?,
                        "maxzoom" => doc.maxzoom = zoom("maxzoom", &v).map_err(err)?,
                        "quadkey_zoom" => {
                            doc.quadkey_zoom = if v.is_null() {
                                None
                            } else {
                                Some(zoom("quadkey_zoom", &v).map_err(err)?)
                            }
                        }
                        "bounds" => {
                            let arr = v.as_array().filter(|a| a.len() == 4).ok_or_else(|| {
                                err(format!("field `bounds`: expected 4 numbers [west, south, east, north], got {v}"))
                            })?;
                            for (i, item) in arr.iter().enumerate() {
                                doc.bounds[i] = number("bounds", item).map_err(err)?;
                            }
                        }
                        "center" => {
                            if !v.is_null() {
                                let arr =
                                    v.as_array().filter(|a| a.len() == 3).ok_or_else(|| {
                                        err(format!(
                                            "field `center`: expected [lon, lat, zoom], got {v}"
                                        ))
                                    })?;
                                doc.center = Some(Center {
                                    lon: number("center", &arr[0]).map_err(err)?,
                                    lat: number("center", &arr[1]).map_err(err)?,
                                    zoom: zoom("center", &arr[2]).map_err(err)?,
                                });
                            }
                        }
                        "tilematrixset" => {
                            if !v.is_null() {
                                doc.tilematrixset = Some(
                                    TileMatrixSet::from_value(v)
                                        .map_err(|e| err(format!("field `tilematrixset`: {e}")))?,
                                );
                            }
                        }
                        "asset_type" => {
                            doc.asset_type = opt_string("asset_type", v).map_err(err)?
                        }
                        "asset_prefix" => {
                            doc.asset_prefix = opt_string("asset_prefix", v).map_err(err)?
                        }
                        "data_type" => doc.data_type = opt_string("data_type", v).map_err(err)?,
                        "colormap" => {
                            if !v.is_null() {
                                doc.colormap = Some(parse_colormap(v).map_err(err)?);
                            }
                        }
                        "layers" => {
                            doc.layers = match v {
                                Value::Null => None,
                                Value::Object(o) => Some(o),
                                other => {
                                    return Err(err(format!(
                                        "field `layers`: expected an object, got {other}"
                                    )));
                                }
                            }
                        }
                        _ => {
                            doc.extra.insert(key, v);
                        }
                    }
                }
            }
        }
        if !seen_mosaicjson {
            return Err(de::Error::missing_field("mosaicjson"));
        }
        if !seen_tiles {
            return Err(de::Error::missing_field("tiles"));
        }
        Ok(doc)
    }
}

fn parse_colormap(v: Value) -> std::result::Result<IndexMap<i64, [i64; 4]>, String> {
    let obj = match v {
        Value::Object(o) => o,
        other => return Err(format!("field `colormap`: expected an object, got {other}")),
    };
    let mut out = IndexMap::with_capacity(obj.len());
    for (k, val) in obj {
        let key: i64 = k
            .trim()
            .parse()
            .map_err(|_| format!("field `colormap`: key `{k}` is not an integer"))?;
        let arr = val.as_array().filter(|a| a.len() == 4).ok_or_else(|| {
            format!("field `colormap`: value of `{k}` must be 4 integers [r, g, b, a]")
        })?;
        let mut rgba = [0i64; 4];
        for (i, c) in arr.iter().enumerate() {
            rgba[i] = c
                .as_i64()
                .or_else(|| c.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .ok_or_else(|| format!("field `colormap`: value of `{k}` must be 4 integers"))?;
        }
        out.insert(key, rgba);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: Error) -> Option<String> {
        match e {
            Error::InvalidMosaic { field, .. } => field,
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn missing_required_fields() {
        let e = MosaicJson::from_slice(br#"{"mosaicjson":"0.0.2","minzoom":1}"#).unwrap_err();
        assert_eq!(field_of(e).as_deref(), Some("tiles"));
        let e = MosaicJson::from_slice(br#"{"tiles":{}}"#).unwrap_err();
        assert_eq!(field_of(e).as_deref(), Some("mosaicjson"));
        assert!(MosaicJson::from_slice(b"[1,2]").is_err());
        assert!(MosaicJson::from_slice(b"{not json").is_err());
    }

    #[test]
    fn defaults_for_optional_fields() {
        let doc = MosaicJson::from_slice(br#"{"mosaicjson":"0.0.1","tiles":{}}"#).unwrap();
        assert_eq!((doc.minzoom, doc.maxzoom), (0, 30));
        assert_eq!(doc.bounds, [-180.0, -90.0, 180.0, 90.0]);
        assert_eq!(
            doc.center,
            Some(Center {
                lon: 0.0,
                lat: 0.0,
                zoom: 0
            })
        );
        assert_eq!(doc.version, "1.0.0");
    }

    #[test]
    fn bad_zooms_bounds_center() {
        for (text, field) in [
            (
                r#"{"mosaicjson":"0.0.3","minzoom":31,"tiles":{}}"#,
                "minzoom",
            ),
            (
                r#"{"mosaicjson":"0.0.3","maxzoom":-1,"tiles":{}}"#,
                "maxzoom",
            ),
            (
                r#"{"mosaicjson":"0.0.3","minzoom":2.5,"tiles":{}}"#,
                "minzoom",
            ),
            (
                r#"{"mosaicjson":"0.0.3","quadkey_zoom":40,"tiles":{}}"#,
                "quadkey_zoom",
            ),
            (
                r#"{"mosaicjson":"0.0.3","bounds":[1,2,3],"tiles":{}}"#,
                "bounds",
            ),
            (
                r#"{"mosaicjson":"0.0.3","bounds":[1,2,3,"x"],"tiles":{}}"#,
                "bounds",
            ),
            (
                r#"{"mosaicjson":"0.0.3","center":[1,2,3.5],"tiles":{}}"#,
                "center",
            ),
            (r#"{"mosaicjson":"0.0.3","tiles":{"0x1":["a"]}}"#, "tiles"),
            (r#"{"mosaicjson":"0.0.3","tiles":{"01":"a"}}"#, "tiles"),
            (
                r#"{"mosaicjson":"0.0.3","tiles":{},"colormap":{"a":[1,2,3,4]}}"#,
                "colormap",
            ),
            (
                r#"{"mosaicjson":"0.0.3","tiles":{},"colormap":{"1":[1,2,3]}}"#,
                "colormap",
            ),
            (
                r#"{"mosaicjson":"0.0.3","tiles":{},"tilematrixset":"WebMercatorQuad"}"#,
                "tilematrixset",
            ),
            (r#"{"mosaicjson":3,"tiles":{}}"#, "mosaicjson"),
            (
                r#"{"mosaicjson":"0.0.3","bounds":[1e308,0,1.7e308,1],"tiles":{}}"#,
                "bounds",
            ),
        ] {
            let e = MosaicJson::from_slice(text.as_bytes()).unwrap_err();
            assert_eq!(field_of(e).as_deref(), Some(field), "{text}");
        }
    }

    #[test]
    fn non_quadtree_tms_is_refused() {
        let tms = TileMatrixSet::builtin("WorldCRS84Quad").unwrap();
        let text = format!(
            r#"{{"mosaicjson":"0.0.3","tiles":{{}},"tilematrixset":{}}}"#,
            serde_json::to_string(&tms).unwrap()
        );
        let e = MosaicJson::from_slice(text.as_bytes()).unwrap_err();
        assert_eq!(field_of(e).as_deref(), Some("tilematrixset"));
    }

    #[test]
    fn unknown_keys_round_trip_and_order() {
        let text = r#"{"mosaicjson":"0.0.3","x_custom":{"a":1},"tiles":{"1":["b"],"0":["a"]},"minzoom":1,"maxzoom":2,"colormap":{"1":[1,2,3,255]}}"#;
        let doc = MosaicJson::from_slice(text.as_bytes()).unwrap();
        let out = doc.to_json_string();
        assert_eq!(
            out,
            r#"{"mosaicjson":"0.0.3","version":"1.0.0","minzoom":1,"maxzoom":2,"bounds":[-180.0,-90.0,180.0,90.0],"center":[0.0,0.0,1],"tiles":{"1":["b"],"0":["a"]},"colormap":{"1":[1,2,3,255]},"x_custom":{"a":1}}"#
        );
        let again = MosaicJson::from_slice(&gzip(out.as_bytes())).unwrap();
        assert_eq!(again, doc);
    }

    #[test]
    fn version_bump() {
        let mut doc = MosaicJson::new(0, 1);
        doc.increase_version().unwrap();
        assert_eq!(doc.version, "1.0.1");
        doc.version = "2.3".into();
        doc.increase_version().unwrap();
        assert_eq!(doc.version, "2.4");
        doc.version = "1.0.beta".into();
        assert!(doc.increase_version().is_err());
    }
}
