//! Coordinate reference systems and point transforms.
//!
//! EPSG:4326/CRS84 ↔ EPSG:3857 run in closed form, written to give the same doubles as
//! PROJ's `webmerc` (what morecantile/pyproj use), because quadkey parity at exact tile
//! corners depends on the last bit. Every other CRS pair goes through GDAL's OSR (PROJ):
//! with the `gdal` feature off, such CRSs answer [`Error::Unsupported`].

#[cfg(feature = "gdal")]
mod osr;

use std::f64::consts::{FRAC_PI_2, PI};

use crate::{Error, Result};

/// Without GDAL only the closed-form CRSs are available.
#[cfg(not(feature = "gdal"))]
mod osr {
    use super::Crs;
    use crate::{Error, Result};

    fn unsupported(def: &str) -> Error {
        Error::Unsupported {
            what: format!("the CRS `{def}`"),
            feature: Some("gdal"),
        }
    }

    pub(super) fn check(def: &str) -> Result<()> {
        Err(unsupported(def))
    }

    pub(super) fn geographic(def: &str) -> Result<Crs> {
        Err(unsupported(def))
    }

    pub(super) fn transform(src: &str, _dst: &str, _xs: &mut [f64], _ys: &mut [f64]) -> Result<()> {
        Err(unsupported(src))
    }
}

/// A coordinate reference system, as named in a TMS document or a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Crs {
    /// WGS 84 longitude/latitude (EPSG:4326 or OGC CRS84; x = longitude).
    Wgs84,
    /// WGS 84 / Pseudo-Mercator (EPSG:3857).
    WebMercator,
    /// Any other CRS, kept as a definition GDAL understands (EPSG code, OGC URI or WKT).
    Other(String),
}

impl Crs {
    /// Parses `EPSG:n`, `urn:ogc:def:crs:EPSG::n`, OGC URIs (`http://www.opengis.net/def/crs/EPSG/0/n`,
    /// `.../OGC/1.3/CRS84`) or WKT.
    ///
    /// ```
    /// use mosaic::crs::Crs;
    /// assert_eq!(Crs::parse("EPSG:3857").unwrap(), Crs::WebMercator);
    /// assert_eq!(Crs::parse("http://www.opengis.net/def/crs/OGC/1.3/CRS84").unwrap(), Crs::Wgs84);
    /// ```
    pub fn parse(definition: &str) -> Result<Crs> {
        let def = definition.trim();
        if def.is_empty() {
            return Err(Error::InvalidInput("empty CRS definition".into()));
        }
        let upper = def.to_ascii_uppercase();
        if upper.ends_with("CRS84") || upper.ends_with("OGC::CRS84") {
            return Ok(Crs::Wgs84);
        }
        match epsg_code(&upper) {
            Some(4326) => Ok(Crs::Wgs84),
            Some(3857) | Some(900913) | Some(3785) => Ok(Crs::WebMercator),
            Some(code) => Ok(Crs::Other(format!("EPSG:{code}"))),
            None => {
                // Only WKT, PROJJSON and authority codes reach GDAL: a URL or a path would
                // make OSRSetFromUserInput fetch or open it.
                crate::tms::check_crs_definition(def)?;
                // Let GDAL decide whether it understands the text.
                osr::check(def)?;
                Ok(Crs::Other(def.to_string()))
            }
        }
    }

    /// The OGC URI of the CRS (`http://www.opengis.net/def/crs/EPSG/0/4326`), or the definition itself.
    pub fn uri(&self) -> String {
        match self {
            Crs::Wgs84 => "http://www.opengis.net/def/crs/EPSG/0/4326".into(),
            Crs::WebMercator => "http://www.opengis.net/def/crs/EPSG/0/3857".into(),
            Crs::Other(def) => match epsg_code(&def.to_ascii_uppercase()) {
                Some(code) => format!("http://www.opengis.net/def/crs/EPSG/0/{code}"),
                None => def.clone(),
            },
        }
    }

    fn gdal_definition(&self) -> String {
        match self {
            Crs::Wgs84 => "EPSG:4326".into(),
            Crs::WebMercator => "EPSG:3857".into(),
            Crs::Other(def) => def.clone(),
        }
    }

    /// The geographic (lon/lat) CRS of this CRS's datum: WGS 84 for every Earth CRS
    /// based on WGS 84, the body's own geographic CRS otherwise.
    pub fn geographic(&self) -> Result<Crs> {
        match self {
            Crs::Wgs84 | Crs::WebMercator => Ok(Crs::Wgs84),
            Crs::Other(def) => osr::geographic(def),
        }
    }
}

/// The EPSG code of `EPSG:n`, `urn:ogc:def:crs:EPSG:[version]:n` or an OGC EPSG URI (upper-cased input).
fn epsg_code(upper: &str) -> Option<u32> {
    let rest = upper
        .strip_prefix("EPSG:")
        .or_else(|| {
            upper
                .strip_prefix("URN:OGC:DEF:CRS:EPSG:")
                .map(|r| r.rsplit(':').next().unwrap_or(r))
        })
        .or_else(|| {
            upper
                .strip_prefix("HTTP://WWW.OPENGIS.NET/DEF/CRS/EPSG/")
                .or_else(|| upper.strip_prefix("HTTPS://WWW.OPENGIS.NET/DEF/CRS/EPSG/"))
                .and_then(|r| r.rsplit('/').next())
        })?;
    rest.trim_start_matches(':').parse().ok()
}

const EARTH_RADIUS: f64 = 6_378_137.0;

unsafe extern "C" {
    // libm's asinh, which PROJ calls; std's f64::asinh uses a different formula and can
    // differ in the last bit.
    safe fn asinh(x: f64) -> f64;
}

/// PROJ's `adjlon`: wrap a longitude in radians into [-π, π], letting it overshoot by 1e-12.
fn adjlon(lam: f64) -> f64 {
    if lam.abs() < PI + 1e-12 {
        return lam;
    }
    let mut l = lam + PI;
    l -= 2.0 * PI * (l / (2.0 * PI)).floor();
    l - PI
}

/// Longitude/latitude (degrees) to Web Mercator metres, as PROJ's `webmerc` computes it.
/// Latitudes beyond ±90° give infinities (PROJ reports an error there).
pub fn lonlat_to_webmercator(lon: f64, lat: f64) -> (f64, f64) {
    let lam = adjlon(lon * (PI / 180.0));
    let phi = lat * (PI / 180.0);
    if phi.abs() > FRAC_PI_2 + 1e-12 || (phi.abs() - FRAC_PI_2).abs() <= 1e-10 {
        return (f64::INFINITY, f64::INFINITY);
    }
    (EARTH_RADIUS * lam, EARTH_RADIUS * asinh(phi.tan()))
}

/// Web Mercator metres to longitude/latitude (degrees), as PROJ's `webmerc` inverse computes it.
pub fn webmercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let ra = 1.0 / EARTH_RADIUS;
    let (xn, yn) = (x * ra, y * ra);
    let phi = yn.sinh().atan();
    let lam = adjlon(xn);
    (lam * (180.0 / PI), phi * (180.0 / PI))
}

/// Transforms points in place from `src` to `dst` (x/y in traditional GIS order).
/// Points that cannot be transformed become infinities.
pub fn transform(src: &Crs, dst: &Crs, xs: &mut [f64], ys: &mut [f64]) -> Result<()> {
    match (src, dst) {
        (a, b) if a == b => Ok(()),
        (Crs::Wgs84, Crs::WebMercator) => {
            for (x, y) in xs.iter_mut().zip(ys.iter_mut()) {
                (*x, *y) = lonlat_to_webmercator(*x, *y);
            }
            Ok(())
        }
        (Crs::WebMercator, Crs::Wgs84) => {
            for (x, y) in xs.iter_mut().zip(ys.iter_mut()) {
                (*x, *y) = webmercator_to_lonlat(*x, *y);
            }
            Ok(())
        }
        _ => osr::transform(&src.gdal_definition(), &dst.gdal_definition(), xs, ys),
    }
}

/// Transforms one point.
pub fn transform_point(src: &Crs, dst: &Crs, x: f64, y: f64) -> Result<(f64, f64)> {
    let (mut xs, mut ys) = ([x], [y]);
    transform(src, dst, &mut xs, &mut ys)?;
    Ok((xs[0], ys[0]))
}

/// Transforms a bbox, densifying each edge with `densify` extra points (as
/// `pyproj.Transformer.transform_bounds(..., densify_pts=21)`), and returns the
/// min/max of the finite results.
pub fn transform_bounds(src: &Crs, dst: &Crs, bbox: [f64; 4], densify: usize) -> Result<[f64; 4]> {
    if src == dst {
        return Ok(bbox);
    }
    let [l, b, r, t] = bbox;
    let n = densify + 1;
    let mut xs = Vec::with_capacity(4 * n);
    let mut ys = Vec::with_capacity(4 * n);
    for i in 0..n {
        let f = i as f64 / n as f64;
        // bottom, right, top, left edges, walking around the box
        xs.extend([l + (r - l) * f, r, r - (r - l) * f, l]);
        ys.extend([b, b + (t - b) * f, t, t - (t - b) * f]);
    }
    transform(src, dst, &mut xs, &mut ys)?;
    let mut out = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for (x, y) in xs.iter().zip(ys.iter()) {
        if x.is_finite() && y.is_finite() {
            out = [
                out[0].min(*x),
                out[1].min(*y),
                out[2].max(*x),
                out[3].max(*y),
            ];
        }
    }
    if !out.iter().all(|v| v.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "bbox {bbox:?} cannot be transformed from {} to {}",
            src.uri(),
            dst.uri()
        )));
    }
    // A pole inside the source box is not on any densified edge: as PROJ's
    // proj_trans_bounds does, extend to it and to every longitude.
    if *dst == Crs::Wgs84 {
        for pole in [90.0, -90.0] {
            if let Ok((px, py)) = transform_point(dst, src, 0.0, pole)
                && px.is_finite()
                && py.is_finite()
                && px >= l
                && px <= r
                && py >= b
                && py <= t
            {
                out[0] = -180.0;
                out[2] = 180.0;
                if pole > 0.0 {
                    out[3] = 90.0;
                } else {
                    out[1] = -90.0;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webmercator_round_trip_and_extent() {
        let (x, y) = lonlat_to_webmercator(180.0, 85.0511287798066);
        assert!((x - 20037508.342789244).abs() < 1e-6);
        assert!((y - 20037508.342789244).abs() < 1e-3);
        let (lon, lat) = webmercator_to_lonlat(-20037508.342789244, 20037508.342789244);
        assert_eq!(lon, -180.0);
        assert!((lat - 85.0511287798066).abs() < 1e-12);
        // wraps like PROJ
        let (x, _) = lonlat_to_webmercator(180.5, 0.0);
        assert!(x < 0.0);
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn gdal_path_matches_closed_form() {
        let other = Crs::Other("EPSG:3395".into());
        let (x, y) = transform_point(&Crs::Wgs84, &other, 10.0, 45.0).unwrap();
        assert!((x - 1113194.9079327357).abs() < 1e-3, "{x}");
        assert!(y > 5_000_000.0 && y < 6_000_000.0);
        assert_eq!(
            Crs::parse("urn:ogc:def:crs:EPSG::3857").unwrap(),
            Crs::WebMercator
        );
        assert!(Crs::parse("not a crs").is_err());
    }
}
