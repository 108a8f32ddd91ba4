//! Streaming GeoJSON footprint reader: FeatureCollections, Features or sequences of them
//! (newline-delimited, concatenated, RFC 8142 record separators), gzip detected, parsed
//! feature by feature without building JSON trees, keeping only each feature's geometry
//! and the one property that names its asset. 100k footprints cost little more than the
//! footprints themselves.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::create::{Footprint, Rings, asset_string};
use crate::{Error, Result};

/// Nested coordinate arrays, typed after the geometry's `type` is known.
enum Nest {
    Num(f64),
    List(Vec<Nest>),
}

impl<'de> Deserialize<'de> for Nest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("coordinates")
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Nest, E> {
                Ok(Nest::Num(v))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Nest, E> {
                Ok(Nest::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Nest, E> {
                Ok(Nest::Num(v as f64))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Nest, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Nest::List(items))
            }
        }
        d.deserialize_any(V)
    }
}

fn list(n: Nest, what: &str) -> std::result::Result<Vec<Nest>, String> {
    match n {
        Nest::List(v) => Ok(v),
        Nest::Num(_) => Err(format!("{what}: expected an array, found a number")),
    }
}

fn position(n: Nest) -> std::result::Result<[f64; 2], String> {
    let v = list(n, "position")?;
    match (v.first(), v.get(1)) {
        // GeoJSON positions are WGS 84 longitude, latitude (RFC 7946).
        (Some(Nest::Num(x)), Some(Nest::Num(y)))
            if (-180.0 - 1e-9..=180.0 + 1e-9).contains(x)
                && (-90.0 - 1e-9..=90.0 + 1e-9).contains(y) =>
        {
            Ok([*x, *y])
        }
        (Some(Nest::Num(x)), Some(Nest::Num(y))) => Err(format!(
            "position [{x}, {y}] is outside longitude -180..180, latitude -90..90"
        )),
        _ => Err("a position needs 2 finite numbers".into()),
    }
}

fn polygon(n: Nest) -> std::result::Result<Rings, String> {
    let rings = list(n, "polygon")?;
    if rings.is_empty() {
        return Err("polygon has no ring".into());
    }
    // Fresh, exact-size vectors: collecting in place would keep the (larger) buffers of
    // the parse tree alive inside every footprint.
    let mut out = Vec::with_capacity(rings.len());
    for r in rings {
        let pts = list(r, "ring")?;
        if pts.len() < 4 {
            return Err(format!(
                "a polygon ring needs at least 4 positions, got {}",
                pts.len()
            ));
        }
        let mut ring = Vec::with_capacity(pts.len());
        for p in pts {
            ring.push(position(p)?);
        }
        out.push(ring);
    }
    Ok(out)
}

fn polygons(kind: &str, coordinates: Nest) -> std::result::Result<Vec<Rings>, String> {
    match kind {
        "Polygon" => Ok(vec![polygon(coordinates)?]),
        "MultiPolygon" => {
            let parts = list(coordinates, "MultiPolygon")?;
            if parts.is_empty() {
                return Err("MultiPolygon has no polygon".into());
            }
            parts.into_iter().map(polygon).collect()
        }
        other => Err(format!(
            "geometry type `{other}` is not supported (Polygon or MultiPolygon)"
        )),
    }
}

#[derive(Deserialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: String,
    coordinates: Option<Nest>,
}

impl Geometry {
    fn polygons(self) -> std::result::Result<Vec<Rings>, String> {
        polygons(
            &self.kind,
            self.coordinates.ok_or("geometry has no coordinates")?,
        )
    }
}

/// Parses a GeoJSON Polygon or MultiPolygon geometry.
pub fn parse_geometry(g: &Value) -> std::result::Result<Vec<Rings>, String> {
    Geometry::deserialize(g)
        .map_err(|e| e.to_string())?
        .polygons()
}

/// Keeps only `properties[property]`.
struct PropertySeed<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for PropertySeed<'_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for PropertySeed<'_> {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("feature properties")
    }
    fn visit_none<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.0 {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// One GeoJSON object (FeatureCollection or Feature); footprints are pushed to `out` as
/// they are parsed. `nested` objects (members of `features`) must be Features.
struct ItemSeed<'a> {
    property: &'a str,
    out: &'a mut Vec<Footprint>,
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

struct FeaturesSeed<'a> {
    property: &'a str,
    out: &'a mut Vec<Footprint>,
}

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of Features")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            self.out.reserve(n);
        }
        while seq
            .next_element_seed(ItemSeed {
                property: self.property,
                out: &mut *self.out,
                nested: true,
            })?
            .is_some()
        {}
        Ok(())
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection or Feature")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let (mut kind, mut id, mut geometry, mut asset, mut had_features) =
            (None::<String>, None::<Value>, None, None, false);
        let mut geometry_null = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => kind = Some(map.next_value()?),
                "id" => id = Some(map.next_value()?),
                "geometry" => {
                    geometry = map.next_value::<Option<Geometry>>()?;
                    geometry_null = geometry.is_none();
                }
                "properties" => asset = map.next_value_seed(PropertySeed(self.property))?,
                "features" if !self.nested => {
                    map.next_value_seed(FeaturesSeed {
                        property: self.property,
                        out: &mut *self.out,
                    })?;
                    had_features = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let n = self.out.len();
        let id = id.map(|v| v.to_string()).unwrap_or_else(|| format!("#{n}"));
        match kind.as_deref() {
            Some("FeatureCollection") if !self.nested => {
                if !had_features {
                    return Err(de::Error::custom(
                        "FeatureCollection has no `features` array",
                    ));
                }
                Ok(())
            }
            Some("Feature") => {
                let value = asset.ok_or_else(|| {
                    de::Error::custom(format!("feature {id} has no property `{}`", self.property))
                })?;
                let asset = asset_string(value, &id, self.property).map_err(de::Error::custom)?;
                let geometry = match geometry {
                    Some(g) if !geometry_null => g,
                    _ => return Err(de::Error::custom(format!("feature {id} has no geometry"))),
                };
                let polygons = geometry
                    .polygons()
                    .map_err(|e| de::Error::custom(format!("feature {id}: {e}")))?;
                self.out.push(Footprint { asset, polygons });
                Ok(())
            }
            other => Err(de::Error::custom(format!(
                "expected GeoJSON Features, found type {other:?}"
            ))),
        }
    }
}

/// Reads footprints from GeoJSON bytes (see [`read_footprints_from`]).
pub fn read_footprints(bytes: &[u8], property: &str) -> Result<Vec<Footprint>> {
    read_footprints_from(bytes, property)
}

/// Reads footprints from a GeoJSON stream, the asset of each taken from `properties[property]`.
pub fn read_footprints_from<R: Read>(reader: R, property: &str) -> Result<Vec<Footprint>> {
    read_stream(Box::new(reader), property)
}

fn read_stream(reader: Box<dyn Read + '_>, property: &str) -> Result<Vec<Footprint>> {
    let io = |e: std::io::Error| Error::InvalidData(format!("reading GeoJSON: {e}"));
    let mut buf = BufReader::with_capacity(1 << 16, reader);
    if buf.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]) {
        return read_stream(Box::new(flate2::read::MultiGzDecoder::new(buf)), property);
    }
    let mut out = Vec::new();
    loop {
        // Between top-level values: whitespace and record separators, or the end.
        loop {
            let chunk = buf.fill_buf().map_err(io)?;
            if chunk.is_empty() {
                return Ok(out);
            }
            let skip = chunk
                .iter()
                .take_while(|c| c.is_ascii_whitespace() || **c == 0x1e)
                .count();
            if skip == 0 {
                break;
            }
            buf.consume(skip);
        }
        // A map ends at its closing brace, so the deserializer reads nothing past a value.
        let mut de = serde_json::Deserializer::from_reader(&mut buf);
        ItemSeed {
            property,
            out: &mut out,
            nested: false,
        }
        .deserialize(&mut de)
        .map_err(|e| Error::InvalidData(format!("GeoJSON: {e}")))?;
    }
}
