//! CRSs beyond the closed forms, through GDAL's OSR (PROJ).

use std::cell::RefCell;
use std::collections::HashMap;

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};

use super::Crs;
use crate::{Error, Result};

thread_local! {
    // OGR transforms are neither Send nor Sync and cost ~1 ms to build: keep one per CRS
    // pair per thread (bounded by the number of CRSs a process meets).
    static TRANSFORMS: RefCell<HashMap<(String, String), CoordTransform>> = RefCell::new(HashMap::new());
}

fn spatial_ref(def: &str) -> Result<SpatialRef> {
    let mut srs = SpatialRef::from_definition(def)
        .map_err(|e| Error::InvalidInput(format!("unknown CRS `{def}`: {e}")))?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(srs)
}

/// Whether GDAL understands the definition.
pub(super) fn check(def: &str) -> Result<()> {
    spatial_ref(def).map(|_| ())
}

/// The geographic CRS of `def`'s datum.
pub(super) fn geographic(def: &str) -> Result<Crs> {
    let srs = spatial_ref(def)?;
    let geog = srs
        .geog_cs()
        .map_err(|e| Error::InvalidInput(format!("CRS {def}: {e}")))?;
    let wkt = geog
        .to_wkt()
        .map_err(|e| Error::InvalidInput(format!("CRS {def}: {e}")))?;
    let code = geog.auth_code().ok();
    let name = geog.auth_name().unwrap_or_default();
    if name.eq_ignore_ascii_case("EPSG") && code == Some(4326) {
        return Ok(Crs::Wgs84);
    }
    Ok(Crs::Other(wkt))
}

/// Transforms points in place between two GDAL definitions; points that cannot be
/// transformed become infinities.
pub(super) fn transform(src: &str, dst: &str, xs: &mut [f64], ys: &mut [f64]) -> Result<()> {
    let key = (src.to_string(), dst.to_string());
    TRANSFORMS.with(|cell| {
        let mut map = cell.borrow_mut();
        if !map.contains_key(&key) {
            let s = spatial_ref(&key.0)?;
            let d = spatial_ref(&key.1)?;
            let t = CoordTransform::new(&s, &d).map_err(|e| {
                Error::InvalidInput(format!("cannot transform {} to {}: {e}", key.0, key.1))
            })?;
            map.insert(key.clone(), t);
        }
        let t = &map[&key];
        let mut zs = vec![0.0; xs.len()];
        // Failed points: GDAL leaves them as HUGE_VAL / reports an error; mark them infinite.
        if t.transform_coords(xs, ys, &mut zs).is_err() {
            for (x, y) in xs.iter_mut().zip(ys.iter_mut()) {
                let (mut px, mut py, mut pz) = ([*x], [*y], [0.0]);
                if t.transform_coords(&mut px, &mut py, &mut pz).is_ok() {
                    (*x, *y) = (px[0], py[0]);
                } else {
                    (*x, *y) = (f64::INFINITY, f64::INFINITY);
                }
            }
        }
        Ok(())
    })
}
