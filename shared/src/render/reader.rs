//! Reading one COG for one tile through GDAL, the way rio-tiler's `Reader.tile` does it:
//! skip datasets outside the tile (`TileOutsideBounds`), compute the VRT grid at the
//! dataset's native resolution over the tile bounds (`get_vrt_transform`), warp through a
//! GDAL warped VRT with rasterio's warp options, read it into the output size (so GDAL picks
//! the COG overview), and mask nodata / NaN / alpha.

use std::ffi::{CStr, CString, c_int, c_void};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use gdal::Dataset;
use gdal::spatial_ref::SpatialRef;
use gdal_sys::{GDALDataType, GDALRIOResampleAlg, GDALResampleAlg};

use super::image::{DataType, ImageData};
use crate::dataset::open_raster;
use crate::tms::{Tile, TileMatrixSet};
use crate::{Error, Result};

/// Resampling methods (rasterio names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub enum Resampling {
    #[default]
    Nearest,
    Bilinear,
    Cubic,
    CubicSpline,
    Lanczos,
    Average,
    Mode,
    Gauss,
    Rms,
    Max,
    Min,
    Med,
    Q1,
    Q3,
    Sum,
}

impl FromStr for Resampling {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        use Resampling::*;
        Ok(match s.to_ascii_lowercase().as_str() {
            "nearest" => Nearest,
            "bilinear" => Bilinear,
            "cubic" => Cubic,
            "cubic_spline" | "cubicspline" => CubicSpline,
            "lanczos" => Lanczos,
            "average" => Average,
            "mode" => Mode,
            "gauss" => Gauss,
            "rms" => Rms,
            "max" => Max,
            "min" => Min,
            "med" => Med,
            "q1" => Q1,
            "q3" => Q3,
            "sum" => Sum,
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown resampling method `{other}`"
                )));
            }
        })
    }
}

impl Resampling {
    fn warp(self) -> GDALResampleAlg::Type {
        use GDALResampleAlg::*;
        use Resampling::*;
        match self {
            Nearest => GRA_NearestNeighbour,
            Bilinear => GRA_Bilinear,
            Cubic => GRA_Cubic,
            CubicSpline => GRA_CubicSpline,
            Lanczos => GRA_Lanczos,
            Average => GRA_Average,
            Mode => GRA_Mode,
            Gauss => GRA_NearestNeighbour,
            Rms => GRA_RMS,
            Max => GRA_Max,
            Min => GRA_Min,
            Med => GRA_Med,
            Q1 => GRA_Q1,
            Q3 => GRA_Q3,
            Sum => GRA_Sum,
        }
    }

    /// The RasterIO algorithm; methods only the warper knows are refused for reads.
    fn rasterio(self) -> Result<GDALRIOResampleAlg::Type> {
        use GDALRIOResampleAlg::*;
        use Resampling::*;
        Ok(match self {
            Nearest => GRIORA_NearestNeighbour,
            Bilinear => GRIORA_Bilinear,
            Cubic => GRIORA_Cubic,
            CubicSpline => GRIORA_CubicSpline,
            Lanczos => GRIORA_Lanczos,
            Average => GRIORA_Average,
            Mode => GRIORA_Mode,
            Gauss => GRIORA_Gauss,
            Rms => GRIORA_RMS,
            other => {
                return Err(Error::InvalidInput(format!(
                    "resampling `{other:?}` is only valid for `reproject`"
                )));
            }
        })
    }
}

/// Options of one asset read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// Output tile size in pixels (square).
    pub tilesize: usize,
    /// Band indexes (1-based); default: every non-alpha band.
    pub indexes: Option<Vec<usize>>,
    /// Nodata override.
    pub nodata: Option<f64>,
    /// RasterIO resampling (overview / decimation).
    pub resampling: Resampling,
    /// Warp resampling.
    pub reproject: Resampling,
    /// Pixels added around the tile (multiple of 0.5); the output grows by 2×buffer.
    pub buffer: f64,
    /// Pixels read around the tile and cut away (avoids edge effects of resampling).
    pub padding: usize,
    /// Most bytes the read may decode (output pixels × bands × (type size + 16));
    /// `None`: no bound. More is [`Error::LimitExceeded`] before GDAL reads anything.
    pub max_bytes: Option<u64>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            tilesize: 256,
            indexes: None,
            nodata: None,
            resampling: Resampling::Nearest,
            reproject: Resampling::Nearest,
            buffer: 0.0,
            padding: 0,
            max_bytes: None,
        }
    }
}

impl ReadOptions {
    /// Checks the options (sizes, buffer step).
    pub fn validate(&self) -> Result<()> {
        if self.tilesize == 0 || self.tilesize > 4096 {
            return Err(Error::InvalidInput(format!(
                "tilesize {} must be within 1..=4096",
                self.tilesize
            )));
        }
        if self.buffer < 0.0 || (self.buffer * 2.0).fract() != 0.0 || self.buffer > 256.0 {
            return Err(Error::InvalidInput(
                "`buffer` must be a positive multiple of 0.5 (at most 256)".into(),
            ));
        }
        if self.padding > 256 {
            return Err(Error::InvalidInput("`padding` must be at most 256".into()));
        }
        if self
            .indexes
            .as_ref()
            .is_some_and(|i| i.is_empty() || i.contains(&0))
        {
            return Err(Error::InvalidInput("band indexes start at 1".into()));
        }
        self.resampling.rasterio()?;
        Ok(())
    }
}

/// What is needed of a dataset to read tiles of one TMS, cached per (path, TMS CRS).
#[derive(Debug, Clone)]
struct DatasetMeta {
    wkt: String,
    gt: [f64; 6],
    count: usize,
    dtype: DataType,
    gdal_type: GDALDataType::Type,
    nodata: Option<f64>,
    alpha: Option<usize>,
    geo_bounds: [f64; 4],
    /// Raster size.
    size: (usize, usize),
    /// Overview sizes of band 1.
    overviews: Vec<(usize, usize)>,
    /// Native resolution warped to the TMS CRS (`calculate_default_transform`): (x, y).
    dst_res: (f64, f64),
}

fn meta_cache() -> &'static moka::sync::Cache<(String, String), DatasetMeta> {
    static CACHE: OnceLock<moka::sync::Cache<(String, String), DatasetMeta>> = OnceLock::new();
    CACHE.get_or_init(|| {
        moka::sync::Cache::builder()
            .max_capacity(4096)
            .time_to_live(Duration::from_secs(300))
            .build()
    })
}

fn last_gdal_error() -> String {
    // SAFETY: CPLGetLastErrorMsg returns a pointer to a thread-local, NUL-terminated string.
    unsafe {
        CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg())
            .to_string_lossy()
            .into_owned()
    }
}

#[allow(non_upper_case_globals)]
fn data_type(t: GDALDataType::Type) -> Option<DataType> {
    use GDALDataType::*;
    Some(match t {
        GDT_Byte => DataType::Uint8,
        GDT_UInt16 => DataType::Uint16,
        GDT_Int16 => DataType::Int16,
        GDT_UInt32 => DataType::Uint32,
        GDT_Int32 => DataType::Int32,
        GDT_Float32 => DataType::Float32,
        GDT_Float64 => DataType::Float64,
        _ => return None,
    })
}

fn dataset_meta(path: &str, ds: &Dataset, tms: &TileMatrixSet) -> Result<DatasetMeta> {
    let key = (path.to_string(), tms.crs().uri());
    if let Some(m) = meta_cache().get(&key) {
        return Ok(m);
    }
    let err = |reason: String| Error::Dataset {
        retryable: true,
        path: path.to_string(),
        reason,
    };
    let srs = ds
        .spatial_ref()
        .map_err(|_| err("dataset has no CRS".into()))?;
    let wkt = srs.to_wkt().map_err(|e| err(e.to_string()))?;
    let gt = ds.geo_transform().map_err(|e| err(e.to_string()))?;
    let (width, height) = ds.raster_size();
    let count = ds.raster_count();
    if count == 0 {
        return Err(err("dataset has no band".into()));
    }
    let band = ds.rasterband(1).map_err(|e| err(e.to_string()))?;
    // SAFETY: valid band handle.
    let gdal_type = unsafe { gdal_sys::GDALGetRasterDataType(band.c_rasterband()) };
    let dtype =
        data_type(gdal_type).ok_or_else(|| err(format!("unsupported data type {gdal_type}")))?;
    let nodata = band.no_data_value();
    let alpha = (1..=count).find(|&b| {
        ds.rasterband(b)
            // SAFETY: valid band handle.
            .map(|bd| unsafe { gdal_sys::GDALGetRasterColorInterpretation(bd.c_rasterband()) } == gdal_sys::GDALColorInterp::GCI_AlphaBand)
            .unwrap_or(false)
    });
    let geo_bounds = crate::dataset::geographic_bounds(path, ds, tms.geographic_crs())?;
    let dst_res = crate::dataset::suggested_warp(ds, tms.crs())
        .map(|(px, py, _, _)| (px, py))
        .ok_or_else(|| {
            err(format!(
                "cannot warp to {}: {}",
                tms.crs().uri(),
                last_gdal_error()
            ))
        })?;
    let overviews = (0..band.overview_count().unwrap_or(0).max(0) as usize)
        .filter_map(|i| band.overview(i).ok().map(|o| o.size()))
        .collect();
    let meta = DatasetMeta {
        wkt,
        gt,
        count,
        dtype,
        gdal_type,
        nodata,
        alpha,
        geo_bounds,
        size: (width, height),
        overviews,
        dst_res,
    };
    meta_cache().insert(key, meta.clone());
    Ok(meta)
}

/// Python's `round()` (half to even), as rio-tiler's sizes use it.
fn py_round(v: f64) -> f64 {
    v.round_ties_even()
}

/// rio-tiler's `get_vrt_transform` without alignment: VRT geotransform and size over `bounds`.
fn vrt_grid(
    dst_res: (f64, f64),
    bounds: [f64; 4],
    height: usize,
    width: usize,
) -> ([f64; 6], usize, usize) {
    let [w, s, e, n] = bounds;
    let (mut w_res, mut h_res) = dst_res;
    let out_a = (e - w) / width as f64;
    let out_e = (s - n) / height as f64;
    if w_res.abs() > out_a.abs() {
        w_res = out_a;
    }
    if h_res.abs() > out_e.abs() {
        h_res = out_e;
    }
    let vw = py_round((e - w) / w_res).max(1.0) as usize;
    let vh = py_round((s - n) / h_res).max(1.0) as usize;
    (
        [w, (e - w) / vw as f64, 0.0, n, 0.0, (s - n) / vh as f64],
        vw,
        vh,
    )
}

/// Reads the tile of one asset, or `None` when the dataset does not reach the tile.
pub fn read_tile(
    path: &str,
    tms: &TileMatrixSet,
    tile: Tile,
    opts: &ReadOptions,
) -> Result<Option<ImageData>> {
    let err = |reason: String| Error::Dataset {
        retryable: true,
        path: path.to_string(),
        reason,
    };
    let ds = open_raster(path, None)?;
    let meta = dataset_meta(path, &ds, tms)?;

    // rio-tiler `tile_exists`: the tile's geographic bounds must overlap the dataset's.
    let tb = tms.bounds(tile);
    let g = meta.geo_bounds;
    if !(tb[0] < g[2] && tb[2] > g[0] && tb[3] > g[1] && tb[1] < g[3]) {
        return Ok(None);
    }

    let mut bounds = tms.xy_bounds(tile);
    let (mut height, mut width) = (opts.tilesize, opts.tilesize);
    let (mut gt, mut vw, mut vh) = vrt_grid(meta.dst_res, bounds, height, width);
    bounds = [
        gt[0],
        gt[3] + gt[5] * vh as f64,
        gt[0] + gt[1] * vw as f64,
        gt[3],
    ];
    if opts.buffer > 0.0 {
        let xr = (bounds[2] - bounds[0]) / width as f64;
        let yr = (bounds[3] - bounds[1]) / height as f64;
        bounds = [
            bounds[0] - xr * opts.buffer,
            bounds[1] - yr * opts.buffer,
            bounds[2] + xr * opts.buffer,
            bounds[3] + yr * opts.buffer,
        ];
        height += (opts.buffer * 2.0) as usize;
        width += (opts.buffer * 2.0) as usize;
        (gt, vw, vh) = vrt_grid(meta.dst_res, bounds, height, width);
    }
    let mut window = (0usize, 0usize, vw, vh);
    if opts.padding > 0 {
        let p = opts.padding as f64;
        gt[0] -= p * gt[1];
        gt[3] -= p * gt[5];
        window = (opts.padding, opts.padding, vw, vh);
        vw += 2 * opts.padding;
        vh += 2 * opts.padding;
    }

    let nodata = opts.nodata.or(meta.nodata);
    let indexes: Vec<usize> = match &opts.indexes {
        Some(ix) => {
            if let Some(bad) = ix.iter().find(|&&b| b > meta.count) {
                return Err(Error::InvalidInput(format!(
                    "band {bad} does not exist in {path} ({} bands)",
                    meta.count
                )));
            }
            ix.clone()
        }
        None => (1..=meta.count)
            .filter(|b| Some(*b) != meta.alpha)
            .collect(),
    };
    let add_alpha = nodata.is_none() && meta.alpha.is_none();
    // GDAL ≥ 3.8 answers a down-sampling read of *every* band of a warped VRT by warping
    // straight to the output grid (VRTWarpedDataset::IRasterIO) unless an overview serves
    // the request; older GDAL (Debian's 3.6) decimates the native-resolution warp instead.
    // Warp to the output grid ourselves so every GDAL version gives rio-tiler's pixels.
    // With an overview that serves the request (GDAL's choice: the most reduced level whose
    // resolution stays under the requested one × 1.2 for nearest), GDAL ≥ 3.8 warps from
    // that overview to the output grid.
    let vrt_bands = meta.count + usize::from(add_alpha);
    let read_bands =
        indexes.len() + usize::from(add_alpha || (nodata.is_none() && meta.alpha.is_some()));
    let mut source_overview = None;
    if read_bands >= vrt_bands && window == (0, 0, vw, vh) && (vw > width || vh > height) {
        let (rx, ry) = (vw as f64 / width as f64, vh as f64 / height as f64);
        let desired = if rx < ry { rx } else { ry };
        let threshold = if opts.resampling == Resampling::Nearest {
            1.2
        } else {
            1.0
        };
        let mut best: Option<(usize, f64)> = None;
        for (i, &(ow, oh)) in meta.overviews.iter().enumerate() {
            // Size of the warped VRT's implicit overview built on this source overview.
            let vow = (vw as f64 * ow as f64 / meta.size.0 as f64 + 0.5) as usize;
            let voh = (vh as f64 * oh as f64 / meta.size.1 as f64 + 0.5) as usize;
            if vow == 0 || voh == 0 {
                continue;
            }
            let res = (vw as f64 / vow as f64).min(vh as f64 / voh as f64);
            if res < desired * threshold && res > best.map_or(0.0, |b| b.1) {
                best = Some((i, res));
            }
        }
        source_overview = best.map(|b| b.0);
        gt[1] *= vw as f64 / width as f64;
        gt[5] *= vh as f64 / height as f64;
        vw = width;
        vh = height;
        window = (0, 0, vw, vh);
    }
    let ovr_ds;
    let (src_ds, src_gt) = match source_overview {
        Some(level) => {
            let opt = format!("OVERVIEW_LEVEL={level}");
            let open_options = [opt.as_str()];
            ovr_ds = open_raster(path, Some(&open_options))?;
            let g = ovr_ds.geo_transform().map_err(|e| err(e.to_string()))?;
            (&ovr_ds, g)
        }
        None => (&ds, meta.gt),
    };
    let dst_wkt = SpatialRef::from_definition(&tms.crs().uri())
        .and_then(|s| s.to_wkt())
        .map_err(|e| err(e.to_string()))?;
    let vrt = warped_vrt(
        src_ds,
        src_gt,
        &meta,
        &dst_wkt,
        gt,
        vw,
        vh,
        nodata,
        add_alpha,
        opts.reproject,
    )
    .map_err(err)?;

    // Bands to read: the data bands, plus the alpha band when the mask comes from one.
    let alpha_band = if add_alpha {
        Some(meta.count + 1)
    } else if nodata.is_none() {
        meta.alpha
    } else {
        None
    };
    let mut bands: Vec<c_int> = indexes.iter().map(|b| *b as c_int).collect();
    if let Some(a) = alpha_band {
        bands.push(a as c_int);
    }
    let plane = width * height;
    let size = meta.dtype.size();
    if let Some(max) = opts.max_bytes {
        // The GDAL buffer, the decoded values and the image's copy of them.
        let need = (plane as u64)
            .saturating_mul(bands.len() as u64)
            .saturating_mul(size as u64 + 16);
        crate::limits::check(
            || {
                format!(
                    "reading {} bands of {width}×{height} pixels from {path} ({need} bytes)",
                    bands.len()
                )
            },
            need,
            max,
            "MOSAIC_MAX_READ_BYTES",
        )?;
    }
    let mut buf = vec![0u8; bands.len() * plane * size];
    // Version 1 of the struct (what GDAL's INIT_RASTERIO_EXTRA_ARG fills in, minus later
    // fields): GDAL 3.12 added members that 3.6 lacks, so it is built from zeroes rather
    // than named field by field, for both the system and the bundled GDAL.
    // SAFETY: a plain C struct of numbers, a nullable pointer and an optional function
    // pointer; all-zero bytes are a valid value of each.
    let mut extra: gdal_sys::GDALRasterIOExtraArg = unsafe { std::mem::zeroed() };
    extra.nVersion = 1;
    extra.eResampleAlg = opts.resampling.rasterio()?;
    // SAFETY: the buffer holds bands × width × height values of the requested type.
    let rc = unsafe {
        gdal_sys::GDALDatasetRasterIOEx(
            vrt.c_dataset(),
            gdal_sys::GDALRWFlag::GF_Read,
            window.0 as c_int,
            window.1 as c_int,
            window.2 as c_int,
            window.3 as c_int,
            buf.as_mut_ptr() as *mut c_void,
            width as c_int,
            height as c_int,
            meta.gdal_type,
            bands.len() as c_int,
            bands.as_mut_ptr(),
            0,
            0,
            0,
            &mut extra,
        )
    };
    if rc != gdal_sys::CPLErr::CE_None {
        return Err(err(format!("read failed: {}", last_gdal_error())));
    }
    let values = decode(&buf, meta.dtype);
    let nb = indexes.len();
    let mut img = ImageData::masked(nb, height, width, meta.dtype);
    img.band_names = indexes.iter().map(|b| format!("b{b}")).collect();
    img.data.copy_from_slice(&values[..nb * plane]);
    match (nodata, alpha_band) {
        (Some(nd), _) => {
            for (m, v) in img.mask.iter_mut().zip(&img.data) {
                *m = if nd.is_nan() { v.is_nan() } else { *v == nd };
            }
        }
        (None, Some(_)) => {
            let alpha = &values[nb * plane..];
            // GDAL's internal masks become 0/255 alphas whatever the data type (rio-tiler's rule).
            let (_, mut opaque) = meta.dtype.range();
            if meta.alpha.is_none() && alpha.iter().cloned().fold(f64::MIN, f64::max) == 255.0 {
                opaque = 255.0;
            }
            for band in img.mask.chunks_mut(plane) {
                for (m, a) in band.iter_mut().zip(alpha) {
                    *m = *a != opaque;
                }
            }
        }
        (None, None) => img.mask.iter_mut().for_each(|m| *m = false),
    }
    if meta.dtype.is_float() {
        // NaN is never valid data.
        for (m, v) in img.mask.iter_mut().zip(&img.data) {
            *m |= v.is_nan();
        }
    }
    Ok(Some(img))
}

fn decode(buf: &[u8], dtype: DataType) -> Vec<f64> {
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            buf.chunks_exact($n)
                .map(|c| <$t>::from_ne_bytes(c.try_into().unwrap_or([0; $n])) as f64)
                .collect()
        };
    }
    match dtype {
        DataType::Uint8 => buf.iter().map(|v| f64::from(*v)).collect(),
        DataType::Int8 => buf.iter().map(|v| f64::from(*v as i8)).collect(),
        DataType::Uint16 => conv!(u16, 2),
        DataType::Int16 => conv!(i16, 2),
        DataType::Uint32 => conv!(u32, 4),
        DataType::Int32 => conv!(i32, 4),
        DataType::Float32 => conv!(f32, 4),
        DataType::Float64 => conv!(f64, 8),
    }
}

/// A warped VRT of `ds` on the grid `gt`/`width`/`height` of `dst_wkt`, with the warp options
/// rasterio's `WarpedVRT` sets (UNIFIED_SRC_NODATA, INIT_DEST=NO_DATA, approximate transformer
/// with a 0.125 px tolerance, working type = band 1's type).
#[allow(clippy::too_many_arguments)]
fn warped_vrt(
    ds: &Dataset,
    src_gt: [f64; 6],
    meta: &DatasetMeta,
    dst_wkt: &str,
    mut gt: [f64; 6],
    width: usize,
    height: usize,
    nodata: Option<f64>,
    add_alpha: bool,
    reproject: Resampling,
) -> std::result::Result<Dataset, String> {
    let src_wkt = CString::new(meta.wkt.as_str()).map_err(|e| e.to_string())?;
    let dst = CString::new(dst_wkt).map_err(|e| e.to_string())?;
    let count = meta.count;
    // SAFETY: every pointer handed to GDAL is either allocated with CPLMalloc (owned and freed
    // by the warp options) or outlives the calls; the warped VRT clones the options and takes
    // ownership of the transformer, which is why it is detached before the options are freed.
    unsafe {
        let wo = gdal_sys::GDALCreateWarpOptions();
        let mut extras = (*wo).papszWarpOptions;
        for (k, v) in [
            ("UNIFIED_SRC_NODATA", "YES"),
            ("INIT_DEST", if nodata.is_some() { "NO_DATA" } else { "0" }),
        ] {
            let (k, v) = (
                CString::new(k).unwrap_or_default(),
                CString::new(v).unwrap_or_default(),
            );
            extras = gdal_sys::CSLSetNameValue(extras, k.as_ptr(), v.as_ptr());
        }
        (*wo).papszWarpOptions = extras;
        (*wo).eWorkingDataType = meta.gdal_type;
        (*wo).eResampleAlg = reproject.warp();
        (*wo).hSrcDS = ds.c_dataset();
        (*wo).nBandCount = count as c_int;
        (*wo).panSrcBands = gdal_sys::CPLMalloc(count * std::mem::size_of::<c_int>()) as *mut c_int;
        (*wo).panDstBands = gdal_sys::CPLMalloc(count * std::mem::size_of::<c_int>()) as *mut c_int;
        for i in 0..count {
            *(*wo).panSrcBands.add(i) = (i + 1) as c_int;
            *(*wo).panDstBands.add(i) = (i + 1) as c_int;
        }
        if let Some(a) = meta.alpha {
            (*wo).nSrcAlphaBand = a as c_int;
            (*wo).nDstAlphaBand = a as c_int;
        }
        if add_alpha {
            (*wo).nDstAlphaBand = (count + 1) as c_int;
        }
        if let Some(nd) = nodata {
            for field in [&mut (*wo).padfSrcNoDataReal, &mut (*wo).padfDstNoDataReal] {
                *field = gdal_sys::CPLMalloc(count * 8) as *mut f64;
                for i in 0..count {
                    *field.add(i) = nd;
                }
            }
            for field in [&mut (*wo).padfSrcNoDataImag, &mut (*wo).padfDstNoDataImag] {
                *field = gdal_sys::CPLMalloc(count * 8) as *mut f64;
                for i in 0..count {
                    *field.add(i) = 0.0;
                }
            }
        }
        let mut src_gt = src_gt;
        let exact = gdal_sys::GDALCreateGenImgProjTransformer3(
            src_wkt.as_ptr(),
            src_gt.as_mut_ptr(),
            dst.as_ptr(),
            gt.as_ptr(),
        );
        if exact.is_null() {
            gdal_sys::GDALDestroyWarpOptions(wo);
            return Err(format!(
                "cannot build the transformer: {}",
                last_gdal_error()
            ));
        }
        let approx = gdal_sys::GDALCreateApproxTransformer(
            Some(gdal_sys::GDALGenImgProjTransform),
            exact,
            0.125,
        );
        gdal_sys::GDALApproxTransformerOwnsSubtransformer(approx, 1);
        (*wo).pfnTransformer = Some(gdal_sys::GDALApproxTransform);
        (*wo).pTransformerArg = approx;
        let vrt = gdal_sys::GDALCreateWarpedVRT(
            ds.c_dataset(),
            width as c_int,
            height as c_int,
            gt.as_mut_ptr(),
            wo,
        );
        (*wo).pTransformerArg = std::ptr::null_mut();
        gdal_sys::GDALDestroyWarpOptions(wo);
        if vrt.is_null() {
            gdal_sys::GDALDestroyTransformer(approx);
            return Err(format!(
                "cannot create the warped VRT: {}",
                last_gdal_error()
            ));
        }
        gdal_sys::GDALSetProjection(vrt, dst.as_ptr());
        Ok(Dataset::from_c_dataset(vrt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrt_grid_native_and_overzoom() {
        // dataset coarser than the output: VRT at output size
        let (gt, w, h) = vrt_grid((100.0, -100.0), [0.0, 0.0, 2560.0, 2560.0], 256, 256);
        assert_eq!((w, h), (256, 256));
        assert_eq!(gt[1], 10.0);
        // dataset finer: VRT at native resolution (rounded half to even)
        let (_, w, h) = vrt_grid((1.0, -1.0), [0.0, 0.0, 2560.5, 2560.0], 256, 256);
        assert_eq!((w, h), (2560, 2560));
    }

    #[test]
    fn options_are_checked() {
        assert!(
            ReadOptions {
                buffer: 0.3,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            ReadOptions {
                tilesize: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            ReadOptions {
                indexes: Some(vec![0]),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            ReadOptions {
                resampling: Resampling::Max,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(ReadOptions::default().validate().is_ok());
        assert!("cubic_spline".parse::<Resampling>().is_ok());
        assert!("blurry".parse::<Resampling>().is_err());
    }
}
