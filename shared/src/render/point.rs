//! Point values: for a coordinate, the value of every band of every asset there (null where
//! masked), as titiler's `/point` answers. Assets that do not contain the point are skipped.

use std::sync::Arc;

use gdal::Metadata;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use serde::Serialize;
use serde_json::Value;

use super::image::DataType;
use crate::backend::MosaicRead;
use crate::crs::Crs;
use crate::index::LookupOptions;
use crate::{Error, Result};

/// Values of one asset at the point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetValues {
    /// The asset.
    pub name: String,
    /// One value per band; `null` where masked.
    pub values: Vec<Value>,
    /// `b1`, `b2`, ...
    pub band_names: Vec<String>,
    /// Band descriptions (or names).
    pub band_descriptions: Vec<String>,
}

/// The `/point` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointValues {
    /// `[lon, lat]` as asked.
    pub coordinates: [f64; 2],
    /// Assets containing the point, in asset order.
    pub assets: Vec<AssetValues>,
}

fn json_number(v: f64, dtype: DataType) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    if dtype.is_float() {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    } else {
        Value::from(v as i64)
    }
}

/// Reads the values of one asset at (x, y) given in `crs`; `None` when outside the dataset.
pub fn read_point(
    path: &str,
    x: f64,
    y: f64,
    crs: &Crs,
    indexes: Option<&[usize]>,
    nodata: Option<f64>,
) -> Result<Option<AssetValues>> {
    let err = |reason: String| Error::Dataset {
        retryable: true,
        path: path.to_string(),
        reason,
    };
    let ds = crate::dataset::open_raster(path, None)?;
    let mut srs = ds
        .spatial_ref()
        .map_err(|_| err("dataset has no CRS".into()))?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut src = SpatialRef::from_definition(&crs.uri()).map_err(|e| err(e.to_string()))?;
    src.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let (mut xs, mut ys, mut zs) = ([x], [y], [0.0]);
    CoordTransform::new(&src, &srs)
        .and_then(|t| t.transform_coords(&mut xs, &mut ys, &mut zs))
        .map_err(|e| err(format!("cannot transform the point: {e}")))?;
    let gt = ds.geo_transform().map_err(|e| err(e.to_string()))?;
    let (width, height) = ds.raster_size();
    // North-up datasets: invert the affine (rasterio `rowcol` with floor).
    let det = gt[1] * gt[5] - gt[2] * gt[4];
    if det == 0.0 {
        return Err(err("degenerate geotransform".into()));
    }
    let (dx, dy) = (xs[0] - gt[0], ys[0] - gt[3]);
    let col = ((gt[5] * dx - gt[2] * dy) / det).floor();
    let row = ((-gt[4] * dx + gt[1] * dy) / det).floor();
    if !(col >= 0.0 && row >= 0.0 && col < width as f64 && row < height as f64) {
        return Ok(None);
    }
    let count = ds.raster_count();
    let bands: Vec<usize> = match indexes {
        Some(ix) => {
            if let Some(bad) = ix.iter().find(|&&b| b == 0 || b > count) {
                return Err(Error::InvalidInput(format!("band {bad} does not exist in {path} ({count} bands)")));
            }
            ix.to_vec()
        }
        None => (1..=count)
            .filter(|&b| {
                ds.rasterband(b)
                    // SAFETY: valid band handle.
                    .map(|bd| unsafe { gdal_sys::GDALGetRasterColorInterpretation(bd.c_rasterband()) } != gdal_sys::GDALColorInterp::GCI_AlphaBand)
                    .unwrap_or(true)
            })
            .collect(),
    };
    let mut values = Vec::with_capacity(bands.len());
    let mut descriptions = Vec::with_capacity(bands.len());
    for &b in &bands {
        let band = ds.rasterband(b).map_err(|e| err(e.to_string()))?;
        let buf = band
            .read_as::<f64>((col as isize, row as isize), (1, 1), (1, 1), None)
            .map_err(|e| err(e.to_string()))?;
        let v = buf.data()[0];
        let nd = nodata.or(band.no_data_value());
        // The mask band covers internal masks and alpha bands too.
        let masked_by_flag = band
            .open_mask_band()
            .ok()
            .and_then(|m| {
                m.read_as::<u8>((col as isize, row as isize), (1, 1), (1, 1), None)
                    .ok()
            })
            .map(|m| m.data()[0] == 0)
            .unwrap_or(false);
        let masked = v.is_nan()
            || nd.is_some_and(|n| if n.is_nan() { v.is_nan() } else { v == n })
            || (nd.is_none() && masked_by_flag);
        // SAFETY: valid band handle.
        let gdal_type = unsafe { gdal_sys::GDALGetRasterDataType(band.c_rasterband()) };
        let dtype = if gdal_type == gdal_sys::GDALDataType::GDT_Float32
            || gdal_type == gdal_sys::GDALDataType::GDT_Float64
        {
            DataType::Float64
        } else {
            DataType::Int32
        };
        values.push(if masked {
            Value::Null
        } else {
            json_number(v, dtype)
        });
        let d = band.description().unwrap_or_default();
        descriptions.push(if d.is_empty() { format!("b{b}") } else { d });
    }
    Ok(Some(AssetValues {
        name: path.to_string(),
        values,
        band_names: bands.iter().map(|b| format!("b{b}")).collect(),
        band_descriptions: descriptions,
    }))
}

/// Options of [`point_values`].
#[derive(Debug, Clone, Default)]
pub struct PointOptions {
    /// CRS of the coordinates (default WGS 84).
    pub coord_crs: Option<Crs>,
    /// Band indexes (1-based); default: every non-alpha band.
    pub indexes: Option<Vec<usize>>,
    /// Nodata override.
    pub nodata: Option<f64>,
    /// Concurrent asset reads.
    pub concurrency: usize,
}

/// Values of every asset of the mosaic at a point.
pub async fn point_values(
    mosaic: &dyn MosaicRead,
    lon: f64,
    lat: f64,
    popts: &PointOptions,
    search: &LookupOptions,
) -> Result<PointValues> {
    let opts = LookupOptions {
        coord_crs: Some(popts.coord_crs.clone().unwrap_or(Crs::Wgs84)),
        ..search.clone()
    };
    let assets = mosaic.assets_for_point(lon, lat, &opts).await?;
    point_values_of(&assets, lon, lat, popts).await
}

/// Values of the given assets (in order) at a point; assets that do not cover it are left out.
pub async fn point_values_of(
    assets: &[String],
    lon: f64,
    lat: f64,
    popts: &PointOptions,
) -> Result<PointValues> {
    let (indexes, nodata, concurrency) = (popts.indexes.clone(), popts.nodata, popts.concurrency);
    let crs = popts.coord_crs.clone().unwrap_or(Crs::Wgs84);
    if assets.is_empty() {
        return Err(Error::NoAssets(format!("point ({lon},{lat})")));
    }
    let indexes: Option<Arc<Vec<usize>>> = indexes.map(Arc::new);
    let mut out = Vec::new();
    for chunk in assets.chunks(concurrency.max(1)) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|a| {
                let (a, crs, ix) = (a.clone(), crs.clone(), indexes.clone());
                tokio::task::spawn_blocking(move || {
                    read_point(
                        &a,
                        lon,
                        lat,
                        &crs,
                        ix.as_deref().map(|v| v.as_slice()),
                        nodata,
                    )
                })
            })
            .collect();
        for t in tasks {
            if let Some(v) = t.await.map_err(|e| Error::task_failed("point", e))?? {
                out.push(v);
            }
        }
    }
    Ok(PointValues {
        coordinates: [lon, lat],
        assets: out,
    })
}
