//! COG access through GDAL: URL → GDAL path mapping (the one place it is done), and the
//! footprint of a dataset as cogeo-mosaic's `get_footprints` computes it (geographic bounds
//! with densified edges, rio-tiler's min/max zoom, band-1 data type). Datasets are opened in
//! parallel on blocking threads; failures are reported per URL, never dropped silently.

use std::ffi::CString;
use std::sync::Mutex;

use gdal::Dataset;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use serde_json::{Value, json};

use crate::create::Footprint;
use crate::crs::Crs;
use crate::tms::TileMatrixSet;
use crate::{Error, Result};

/// Maps an asset URL to the path GDAL opens: `http(s)://` → `/vsicurl/`, `s3://` → `/vsis3/`,
/// `gs://` → `/vsigs/`, `az://{account}.blob.core.windows.net/{container}/{key}` → `/vsiaz/`,
/// `file://` → the local path; anything else is used as is.
///
/// ```
/// use mosaic::dataset::gdal_path;
/// assert_eq!(gdal_path("https://h/a.tif"), "/vsicurl/https://h/a.tif");
/// assert_eq!(gdal_path("s3://b/k/a.tif"), "/vsis3/b/k/a.tif");
/// assert_eq!(gdal_path("az://acc.blob.core.windows.net/c/a.tif"), "/vsiaz/c/a.tif");
/// assert_eq!(gdal_path("cogs/a.tif"), "cogs/a.tif");
/// ```
pub fn gdal_path(url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        format!("/vsicurl/{url}")
    } else if let Some(rest) = url.strip_prefix("s3://") {
        format!("/vsis3/{rest}")
    } else if let Some(rest) = url.strip_prefix("gs://") {
        format!("/vsigs/{rest}")
    } else if let Some(rest) = url.strip_prefix("az://") {
        // the account is GDAL's AZURE_STORAGE_ACCOUNT setting, not part of the path
        let path = rest.split_once('/').map(|(_, p)| p).unwrap_or(rest);
        format!("/vsiaz/{path}")
    } else if let Some(rest) = url.strip_prefix("file://") {
        // `file://localhost/p` is `/p`; other hosts are refused by the gate first.
        rest.strip_prefix("localhost").unwrap_or(rest).to_string()
    } else {
        url.to_string()
    }
}

/// The GDAL drivers an asset may be opened with: COGs are GeoTIFFs. No VRT, MEM or any
/// other driver is reachable from a string in a mosaic, a request or an event.
pub const ASSET_DRIVERS: &[&str] = &["GTiff"];

/// Opens an asset for reading, the one way the library hands an asset string to GDAL:
/// GDAL syntaxes are refused first ([`crate::gate::check_gdal_input`]), the URL is mapped
/// by [`gdal_path`], and only [`ASSET_DRIVERS`] may open it (`open_options`: GDAL open
/// options such as `OVERVIEW_LEVEL=1`).
///
/// A relative path resolves against the process's working directory, as in cogeo-mosaic
/// (whose documents rely on it), not against the mosaic document's folder: it is opened as
/// that absolute path, and an error names the working directory and the path tried.
pub fn open_raster(path: &str, open_options: Option<&[&str]>) -> Result<Dataset> {
    crate::gate::check_gdal_input(path)?;
    configure_gdal_defaults();
    crate::gdal_log::clear_last_error();
    let local = gdal_path(path);
    // `None`: not a relative local path, or no working directory to resolve it against
    // (then GDAL resolves it, or fails to, as given).
    let cwd = (!local.is_empty() && std::path::Path::new(&local).is_relative())
        .then(std::env::current_dir)
        .and_then(std::result::Result::ok);
    let target = match &cwd {
        Some(dir) => dir.join(&local),
        None => std::path::PathBuf::from(local),
    };
    Dataset::open_ex(
        &target,
        gdal::DatasetOptions {
            open_flags: gdal::GdalOpenFlags::GDAL_OF_RASTER
                | gdal::GdalOpenFlags::GDAL_OF_READONLY
                | gdal::GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
            allowed_drivers: Some(ASSET_DRIVERS),
            open_options,
            sibling_files: None,
        },
    )
    .map_err(|e| Error::Dataset {
        retryable: crate::gdal_log::retryable_open_failure(crate::gdal_log::last_error_code()),
        path: path.to_string(),
        // GDAL's own message ("No such file or directory", "HTTP response code: 404",
        // "not recognized as being in a supported file format") rather than the binding's
        // "returned a NULL pointer".
        reason: {
            let gdal = crate::gdal_log::last_error()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("{}: {e}", target.display()));
            match &cwd {
                Some(dir) => format!(
                    "relative asset paths resolve against the working directory {} (as in cogeo-mosaic): {gdal}",
                    dir.display()
                ),
                None => gdal,
            }
        },
    })
}

/// GDAL settings for cloud reads, applied unless the environment already sets them
/// (GDAL reads the same names from the environment, so users override them there).
pub fn configure_gdal_defaults() {
    crate::gdal_log::install();
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(configure_gdal_defaults_now);
}

fn configure_gdal_defaults_now() {
    for (key, value) in [
        ("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR"),
        ("GDAL_HTTP_MERGE_CONSECUTIVE_RANGES", "YES"),
        ("GDAL_HTTP_MULTIPLEX", "YES"),
        ("GDAL_HTTP_VERSION", "2"),
        ("VSI_CACHE", "TRUE"),
        // Only GeoTIFF names are fetched over HTTP (no `.vrt`, no sidecar probing).
        ("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".tif,.TIF,.tiff,.TIFF"),
        // A host that accepts the connection and never answers fails the read, not the
        // request forever: 5 s to connect, 20 s per request, and a transfer slower than
        // 1 KB/s for 10 s is abandoned.
        ("GDAL_HTTP_CONNECTTIMEOUT", "5"),
        ("GDAL_HTTP_TIMEOUT", "20"),
        ("GDAL_HTTP_LOW_SPEED_TIME", "10"),
        ("GDAL_HTTP_LOW_SPEED_LIMIT", "1024"),
        ("GDAL_HTTP_MAX_RETRY", "2"),
        ("GDAL_HTTP_RETRY_DELAY", "0.5"),
    ] {
        // GDAL's own look-up: its configuration, then the process environment (where an
        // operator's GDAL_* setting wins over ours).
        if gdal::config::get_config_option(key, "")
            .unwrap_or_default()
            .is_empty()
        {
            let _ = gdal::config::set_config_option(key, value);
        }
    }
}

/// What `get_footprints` reports for one dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    /// The URL as given.
    pub path: String,
    /// `[west, south, east, north]` in the TMS geographic CRS.
    pub bounds: [f64; 4],
    /// rio-tiler's minzoom in the TMS.
    pub minzoom: u8,
    /// rio-tiler's maxzoom in the TMS.
    pub maxzoom: u8,
    /// numpy name of band 1's data type (`uint8`, `float32`, ...).
    pub datatype: String,
}

impl DatasetInfo {
    /// The footprint used for mosaic creation (the bounds rectangle).
    pub fn footprint(&self) -> Footprint {
        Footprint::from_bbox(self.path.clone(), self.bounds)
    }

    /// The GeoJSON Feature cogeo-mosaic's `footprint` command prints.
    pub fn to_feature(&self) -> Value {
        let [w, s, e, n] = self.bounds;
        json!({
            "geometry": {"type": "Polygon", "coordinates": [[[w, n], [w, s], [e, s], [e, n], [w, n]]]},
            "properties": {"path": self.path, "bounds": self.bounds, "minzoom": self.minzoom,
                           "maxzoom": self.maxzoom, "datatype": self.datatype},
            "type": "Feature"
        })
    }
}

fn numpy_dtype(t: gdal::raster::GdalDataType) -> String {
    use gdal::raster::GdalDataType as T;
    match t {
        T::UInt8 => "uint8",
        T::UInt16 => "uint16",
        T::Int16 => "int16",
        T::UInt32 => "uint32",
        T::Int32 => "int32",
        T::UInt64 => "uint64",
        T::Int64 => "int64",
        T::Float32 => "float32",
        T::Float64 => "float64",
        _ => "other",
    }
    .to_string()
}

/// morecantile's `zoom_for_res` with the "auto" strategy (GDAL's COG driver rule).
pub fn zoom_for_res(tms: &TileMatrixSet, res: f64) -> u8 {
    let (min_z, max_z) = (tms.minzoom(), tms.maxzoom());
    let mut zoom = min_z;
    let mut matrix_res = tms.matrix(min_z).cell_size;
    for z in min_z..=max_z {
        zoom = z;
        matrix_res = tms.matrix(z).cell_size;
        if res > matrix_res || (res - matrix_res).abs() / matrix_res <= 1e-8 {
            break;
        }
    }
    if zoom > 0 && (res - matrix_res).abs() / matrix_res > 1e-8 {
        let lower = zoom.saturating_sub(1).max(min_z);
        if tms.matrix(lower).cell_size / res < res / matrix_res {
            zoom = lower;
        }
    }
    zoom
}

/// rasterio's `get_maximum_overview_level`.
fn maximum_overview_level(width: i64, height: i64, minsize: i64) -> u32 {
    let (mut level, mut factor) = (0u32, 1i64);
    while (width / factor).min(height / factor) > minsize {
        factor *= 2;
        level += 1;
    }
    level
}

/// GDAL's suggested warp output of `ds` into `dst` (rasterio `calculate_default_transform`):
/// (pixel size x, pixel size y, width, height).
pub(crate) fn suggested_warp(ds: &Dataset, dst: &Crs) -> Option<(f64, f64, i64, i64)> {
    let srs = SpatialRef::from_definition(&dst.uri()).ok()?;
    let wkt = CString::new(format!("DST_SRS={}", srs.to_wkt().ok()?)).ok()?;
    let mut opts = [wkt.as_ptr() as *mut std::ffi::c_char, std::ptr::null_mut()];
    let mut gt = [0f64; 6];
    let (mut w, mut h) = (0i32, 0i32);
    let mut extent = [0f64; 4];
    // SAFETY: valid dataset handle; options is a NULL-terminated list that outlives the call;
    // the transformer is destroyed before returning.
    unsafe {
        let arg = gdal_sys::GDALCreateGenImgProjTransformer2(
            ds.c_dataset(),
            std::ptr::null_mut(),
            opts.as_mut_ptr(),
        );
        if arg.is_null() {
            return None;
        }
        let err = gdal_sys::GDALSuggestedWarpOutput2(
            ds.c_dataset(),
            Some(gdal_sys::GDALGenImgProjTransform),
            arg,
            gt.as_mut_ptr(),
            &mut w,
            &mut h,
            extent.as_mut_ptr(),
            0,
        );
        gdal_sys::GDALDestroyGenImgProjTransformer(arg);
        if err != gdal_sys::CPLErr::CE_None {
            return None;
        }
    }
    Some((gt[1], gt[5], i64::from(w), i64::from(h)))
}

/// The dataset's bounds in the geographic CRS `geo`, edges densified with 21 points
/// (rio-tiler's `get_geographic_bounds`; the whole world when they cannot be computed).
pub(crate) fn geographic_bounds(url: &str, ds: &Dataset, geo: &Crs) -> Result<[f64; 4]> {
    let err = |reason: String| Error::Dataset {
        retryable: true,
        path: url.to_string(),
        reason,
    };
    let (width, height) = ds.raster_size();
    let gt = ds.geo_transform().map_err(|e| err(e.to_string()))?;
    let mut src = ds.spatial_ref().map_err(|_| {
        err("dataset has no CRS (GCP-only datasets need create-from-features)".into())
    })?;
    // Native bounds from the geotransform (north-up or not, take the extremes).
    let xs = [gt[0], gt[0] + gt[1] * width as f64 + gt[2] * height as f64];
    let ys = [gt[3], gt[3] + gt[4] * width as f64 + gt[5] * height as f64];
    let native = [
        xs[0].min(xs[1]),
        ys[0].min(ys[1]),
        xs[0].max(xs[1]),
        ys[0].max(ys[1]),
    ];
    src.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut dst = SpatialRef::from_definition(&geo.uri()).map_err(|e| err(e.to_string()))?;
    dst.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    if src.auth_code().is_ok()
        && src.auth_code().ok() == dst.auth_code().ok()
        && src.is_geographic()
    {
        return Ok(native);
    }
    match CoordTransform::new(&src, &dst).and_then(|t| t.transform_bounds(&native, 21)) {
        Ok(b) if b.iter().all(|v| v.is_finite()) => Ok(b),
        _ => {
            tracing::warn!("{url}: cannot compute geographic bounds, using the whole world");
            Ok([-180.0, -90.0, 180.0, 90.0])
        }
    }
}

/// Reads one dataset's footprint and zooms for `tms`.
pub fn dataset_info(url: &str, tms: &TileMatrixSet) -> Result<DatasetInfo> {
    let err = |e: gdal::errors::GdalError| Error::Dataset {
        retryable: true,
        path: url.to_string(),
        reason: e.to_string(),
    };
    let ds = open_raster(url, None)?;
    let band = ds.rasterband(1).map_err(err)?;
    let datatype = numpy_dtype(band.band_type());
    let bounds = geographic_bounds(url, &ds, tms.geographic_crs())?;

    let (minzoom, maxzoom) = match suggested_warp(&ds, tms.crs()) {
        Some((px, py, w, h)) => {
            let res = px.abs().max(py.abs());
            let tile = i64::from(tms.tile_matrices()[0].tile_width);
            let level = maximum_overview_level(w, h, tile);
            (
                zoom_for_res(tms, res * 2f64.powi(level as i32)),
                zoom_for_res(tms, res),
            )
        }
        None => {
            tracing::warn!("{url}: cannot determine zooms, using the TMS limits");
            (tms.minzoom(), tms.maxzoom())
        }
    };
    Ok(DatasetInfo {
        path: url.to_string(),
        bounds,
        minzoom,
        maxzoom,
        datatype,
    })
}

/// Footprints of many datasets, in input order, read by `threads` workers.
/// Each entry is the dataset's info or the error that prevented reading it.
pub fn get_footprints(
    urls: &[String],
    tms: &TileMatrixSet,
    threads: usize,
    progress: Option<&dyn crate::create::Progress>,
) -> Vec<Result<DatasetInfo>> {
    configure_gdal_defaults();
    let next = Mutex::new(0usize);
    let results: Vec<Mutex<Option<Result<DatasetInfo>>>> =
        urls.iter().map(|_| Mutex::new(None)).collect();
    let workers = threads.clamp(1, urls.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    if i >= urls.len() {
                        break;
                    }
                    let r = dataset_info(&urls[i], tms);
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    if let Some(pb) = progress {
                        pb.inc(1);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(Error::InvalidInput("footprint worker did not run".into())))
        })
        .collect()
}

/// Zooms and checks for a mosaic built from dataset infos (cogeo-mosaic `from_urls`):
/// defaults are the **max** of the datasets' min and max zooms (with a warning when they
/// differ); mixed data types are an error.
pub fn mosaic_zooms(
    infos: &[DatasetInfo],
    minzoom: Option<u8>,
    maxzoom: Option<u8>,
    warnings: &mut Vec<String>,
) -> Result<(u8, u8)> {
    if infos.is_empty() {
        // Every input failed to open: an upstream problem (75), not a usage error.
        return Err(Error::Dataset {
            retryable: true,
            path: "every input".into(),
            reason: "no dataset could be read to create a mosaic from".into(),
        });
    }
    let mut types: Vec<String> = infos.iter().map(|i| i.datatype.clone()).collect();
    types.sort();
    types.dedup();
    if types.len() > 1 {
        return Err(Error::MultipleDataTypes(types));
    }
    let minzoom = minzoom.unwrap_or_else(|| {
        let zs: std::collections::BTreeSet<u8> = infos.iter().map(|i| i.minzoom).collect();
        if zs.len() > 1 {
            warnings.push("Multiple MinZoom, Assets different minzoom values".into());
        }
        *zs.iter().next_back().unwrap_or(&0)
    });
    let maxzoom = maxzoom.unwrap_or_else(|| {
        let zs: std::collections::BTreeSet<u8> = infos.iter().map(|i| i.maxzoom).collect();
        if zs.len() > 1 {
            warnings.push("Multiple MaxZoom, Assets have multiple resolution values".into());
        }
        *zs.iter().next_back().unwrap_or(&0)
    });
    Ok((minzoom, maxzoom))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overview_levels() {
        assert_eq!(maximum_overview_level(1024, 1024, 256), 2);
        assert_eq!(maximum_overview_level(256, 4000, 256), 0);
        assert_eq!(maximum_overview_level(513, 600, 256), 1);
    }

    #[test]
    fn zoom_for_resolution() {
        let tms = TileMatrixSet::web_mercator();
        assert_eq!(zoom_for_res(&tms, tms.matrix(10).cell_size), 10);
        assert_eq!(zoom_for_res(&tms, tms.matrix(10).cell_size * 1.2), 10);
        assert_eq!(zoom_for_res(&tms, tms.matrix(10).cell_size * 1.9), 9);
        assert_eq!(zoom_for_res(&tms, 1e-9), 24);
    }

    /// A missing object or one that is not a GeoTIFF cannot be read later either; a host
    /// that does not answer may.
    #[test]
    fn open_failures_are_classified_by_gdal_error_number() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.tif");
        std::fs::write(&text, "not an image").unwrap();
        for path in ["/nonexistent/x.tif", text.to_str().unwrap()] {
            match open_raster(path, None) {
                Err(e @ Error::Dataset { .. }) => assert!(!e.retryable(), "{path}: {e}"),
                other => panic!("{path}: {other:?}"),
            }
        }
        match open_raster("http://127.0.0.1:9/x.tif", None) {
            Err(e @ Error::Dataset { .. }) => assert!(e.retryable(), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    /// A relative asset path is the working directory's, as in cogeo-mosaic; a failure
    /// says so and names the absolute path tried.
    #[test]
    fn a_relative_asset_names_the_working_directory_and_the_path_tried() {
        let cwd = std::env::current_dir().unwrap();
        let rel = "no/such/relative_asset.tif";
        match open_raster(rel, None) {
            Err(e @ Error::Dataset { .. }) => {
                let text = e.to_string();
                assert!(!e.retryable(), "{text}");
                assert_eq!(e.exit_code(), 66, "{text}");
                assert!(
                    text.contains(&format!("working directory {}", cwd.display())),
                    "{text}"
                );
                assert!(
                    text.contains(&cwd.join(rel).display().to_string()),
                    "{text}"
                );
                assert!(text.contains("No such file"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        // An absolute path is reported as GDAL names it, without the note.
        match open_raster("/nonexistent/x.tif", None) {
            Err(e @ Error::Dataset { .. }) => {
                let text = e.to_string();
                assert!(!text.contains("working directory"), "{text}");
                assert!(text.contains("/nonexistent/x.tif: No such file"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unreadable_and_mixed() {
        let tms = TileMatrixSet::web_mercator();
        let r = dataset_info("/nonexistent/x.tif", &tms);
        assert!(matches!(r, Err(Error::Dataset { .. })));
        let a = DatasetInfo {
            path: "a".into(),
            bounds: [0.0; 4],
            minzoom: 1,
            maxzoom: 2,
            datatype: "uint8".into(),
        };
        let b = DatasetInfo {
            datatype: "uint16".into(),
            ..a.clone()
        };
        assert!(matches!(
            mosaic_zooms(&[a.clone(), b], None, None, &mut vec![]),
            Err(Error::MultipleDataTypes(_))
        ));
        let c = DatasetInfo {
            minzoom: 3,
            maxzoom: 5,
            ..a.clone()
        };
        let mut w = vec![];
        assert_eq!(mosaic_zooms(&[a, c], None, None, &mut w).unwrap(), (3, 5));
        assert_eq!(w.len(), 2);
    }

    /// Network reads are bounded in time and fetch GeoTIFF names only; GDAL syntax and
    /// non-GTiff drivers never open an asset.
    #[test]
    fn gdal_defaults_and_the_asset_gate() {
        configure_gdal_defaults();
        let opt = |k: &str| gdal::config::get_config_option(k, "").unwrap_or_default();
        if std::env::var_os("GDAL_HTTP_TIMEOUT").is_none() {
            assert_eq!(opt("GDAL_HTTP_TIMEOUT"), "20");
        }
        if std::env::var_os("GDAL_HTTP_CONNECTTIMEOUT").is_none() {
            assert_eq!(opt("GDAL_HTTP_CONNECTTIMEOUT"), "5");
        }
        if std::env::var_os("CPL_VSIL_CURL_ALLOWED_EXTENSIONS").is_none() {
            assert!(!opt("CPL_VSIL_CURL_ALLOWED_EXTENSIONS").contains("vrt"));
        }
        assert!(matches!(
            open_raster(
                "MEM:::DATAPOINTER=0x10,PIXELS=1,LINES=1,BANDS=1,DATATYPE=Byte",
                None
            ),
            Err(Error::Forbidden { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let vrt = dir.path().join("x.tif");
        std::fs::write(&vrt, r#"<VRTDataset rasterXSize="1" rasterYSize="1"><VRTRasterBand dataType="Byte" band="1"/></VRTDataset>"#).unwrap();
        assert!(
            gdal::Dataset::open(&vrt).is_ok(),
            "GDAL itself reads it as a VRT"
        );
        assert!(matches!(
            open_raster(&vrt.to_string_lossy(), None),
            Err(Error::Dataset { .. })
        ));
    }
}
