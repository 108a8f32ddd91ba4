//! Post-processing (rescale, colormaps) and encodings: PNG (alpha from the mask), JPEG,
//! WebP (lossless), GeoTIFF (GDAL's own driver) and NPY as rio-tiler writes it.

use std::io::Cursor;
use std::str::FromStr;

use image::{ImageBuffer, ImageEncoder, Luma, LumaA, Rgb, Rgba};
use indexmap::IndexMap;

use super::image::{DataType, ImageData};
use crate::{Error, Result};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG, 8 or 16 bit, alpha from the mask.
    Png,
    /// JPEG (no mask).
    Jpeg,
    /// WebP, lossless, alpha from the mask.
    Webp,
    /// GeoTIFF: data bands and an alpha band, georeferenced.
    Tif,
    /// NumPy `.npy`: data bands then one mask plane (255 valid, 0 masked), in the data's type.
    Npy,
}

impl FromStr for ImageFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "png" => ImageFormat::Png,
            "jpeg" | "jpg" => ImageFormat::Jpeg,
            "webp" => ImageFormat::Webp,
            "tif" | "tiff" => ImageFormat::Tif,
            "npy" => ImageFormat::Npy,
            other => {
                return Err(Error::InvalidInput(format!(
                    "unsupported format `{other}` (png, jpeg, jpg, webp, tif, tiff, npy)"
                )));
            }
        })
    }
}

impl ImageFormat {
    /// MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Tif => "image/tiff; application=geotiff",
            ImageFormat::Npy => "application/x-binary",
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Webp => "webp",
            ImageFormat::Tif => "tif",
            ImageFormat::Npy => "npy",
        }
    }

    /// titiler's automatic choice: PNG when any pixel is masked, else JPEG.
    pub fn auto(img: &ImageData) -> ImageFormat {
        if img.valid_mask().contains(&0) {
            ImageFormat::Png
        } else {
            ImageFormat::Jpeg
        }
    }
}

/// A colormap: value → RGBA.
#[derive(Debug, Clone, PartialEq)]
pub struct Colormap(pub Vec<[u8; 4]>, pub IndexMap<i64, [u8; 4]>);

impl Colormap {
    /// A named colormap: `viridis`, `magma`, `gray`/`greys`, `rdylgn`, `plasma`, `inferno`, `cividis`
    /// (256 entries; sequential schemes from d3-scale-chromatic via the `colorous` crate).
    pub fn named(name: &str) -> Result<Colormap> {
        let g = match name.to_ascii_lowercase().as_str() {
            "gray" | "grey" | "greys_r" => {
                return Ok(Colormap(
                    (0..=255u8).map(|i| [i, i, i, 255]).collect(),
                    IndexMap::new(),
                ));
            }
            "viridis" => colorous::VIRIDIS,
            "magma" => colorous::MAGMA,
            "plasma" => colorous::PLASMA,
            "inferno" => colorous::INFERNO,
            "cividis" => colorous::CIVIDIS,
            "rdylgn" => colorous::RED_YELLOW_GREEN,
            "greys" => colorous::GREYS,
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown colormap_name `{other}` (viridis, magma, plasma, inferno, cividis, gray, greys, rdylgn)"
                )));
            }
        };
        Ok(Colormap(
            (0..256)
                .map(|i| {
                    let c = g.eval_rational(i, 256);
                    [c.r, c.g, c.b, 255]
                })
                .collect(),
            IndexMap::new(),
        ))
    }

    /// A colormap from titiler's `colormap` JSON: `{"1": [r, g, b, a], ...}`.
    pub fn from_json(text: &str) -> Result<Colormap> {
        let map: IndexMap<String, Vec<f64>> = serde_json::from_str(text)
            .map_err(|e| Error::InvalidInput(format!("colormap: {e}")))?;
        let mut out = IndexMap::new();
        for (k, v) in map {
            let key: i64 = k.trim().parse().map_err(|_| {
                Error::InvalidInput(format!("colormap key `{k}` is not an integer"))
            })?;
            if v.len() != 3 && v.len() != 4 {
                return Err(Error::InvalidInput(format!(
                    "colormap value of `{k}` needs 3 or 4 numbers"
                )));
            }
            let c = |i: usize| v.get(i).copied().unwrap_or(255.0).clamp(0.0, 255.0) as u8;
            out.insert(key, [c(0), c(1), c(2), c(3)]);
        }
        Ok(Colormap(Vec::new(), out))
    }

    fn lookup(&self, v: f64) -> [u8; 4] {
        if self.1.is_empty() {
            let i = (v.clamp(0.0, 255.0)) as usize;
            return self.0.get(i).copied().unwrap_or([0, 0, 0, 0]);
        }
        self.1.get(&(v as i64)).copied().unwrap_or([0, 0, 0, 0])
    }
}

/// rio-tiler's `linear_rescale` of each band into 0..=255, cast to uint8 (truncation).
/// One range applies to every band; several ranges apply band by band.
pub fn rescale(img: &ImageData, ranges: &[(f64, f64)]) -> Result<ImageData> {
    if ranges.is_empty() {
        return Ok(img.clone());
    }
    let mut out = img.clone();
    out.dtype = DataType::Uint8;
    let plane = img.plane();
    for b in 0..img.bands {
        let (lo, hi) = if ranges.len() > 1 {
            *ranges.get(b).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "rescale has {} ranges for {} bands",
                    ranges.len(),
                    img.bands
                ))
            })?
        } else {
            ranges[0]
        };
        if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::InvalidInput(format!(
                "rescale range {lo},{hi} is empty"
            )));
        }
        for i in 0..plane {
            let k = b * plane + i;
            // numpy clips and subtracts in the array's type: float32 data in float32.
            let shifted = if img.dtype == DataType::Float32 {
                f64::from((img.data[k] as f32).clamp(lo as f32, hi as f32) - lo as f32)
            } else {
                img.data[k].clamp(lo, hi) - lo
            };
            let v = shifted / (hi - lo) * 255.0;
            // Masked values become 0, as numpy's masked rescale leaves them.
            out.data[k] = if v.is_nan() || img.mask[k] {
                0.0
            } else {
                DataType::Uint8.cast(v)
            };
        }
    }
    Ok(out)
}

/// Applies a colormap to a one-band image: RGB bands, alpha = colormap alpha where valid.
pub fn apply_colormap(img: &ImageData, cmap: &Colormap) -> Result<ImageData> {
    if img.bands != 1 {
        return Err(Error::InvalidInput(format!(
            "a colormap needs a one-band image, got {} bands",
            img.bands
        )));
    }
    let plane = img.plane();
    let mut out = ImageData::masked(3, img.height, img.width, DataType::Uint8);
    for i in 0..plane {
        let c = cmap.lookup(img.data[i]);
        let masked = img.mask[i] || c[3] == 0;
        for (b, v) in c.iter().take(3).enumerate() {
            out.data[b * plane + i] = f64::from(*v);
            out.mask[b * plane + i] = masked;
        }
    }
    Ok(out)
}

fn cast_u8(img: &ImageData, format: &str) -> Vec<u8> {
    if img.dtype != DataType::Uint8 {
        tracing::warn!(
            "{} data cast to uint8 for {format}: rescale it for meaningful colors",
            img.dtype.name()
        );
    }
    img.data
        .iter()
        .map(|v| DataType::Uint8.cast(*v) as u8)
        .collect()
}

/// Interleaves `bands` planes of `values` plus an optional alpha plane.
fn interleave<T: Copy>(values: &[T], bands: usize, plane: usize, alpha: Option<&[T]>) -> Vec<T> {
    let channels = bands + usize::from(alpha.is_some());
    let mut out = Vec::with_capacity(plane * channels);
    for i in 0..plane {
        for b in 0..bands {
            out.push(values[b * plane + i]);
        }
        if let Some(a) = alpha {
            out.push(a[i]);
        }
    }
    out
}

fn image_err(e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("encoding failed: {e}"))
}

/// Encodes an image. `bounds`/`crs_wkt` georeference GeoTIFFs; `return_mask` adds alpha.
pub fn encode(
    img: &ImageData,
    format: ImageFormat,
    return_mask: bool,
    bounds: [f64; 4],
    crs_wkt: &str,
) -> Result<Vec<u8>> {
    let (w, h, plane) = (img.width as u32, img.height as u32, img.plane());
    let mask = img.valid_mask();
    match format {
        ImageFormat::Npy => Ok(npy(img)),
        ImageFormat::Tif => geotiff(img, &mask, bounds, crs_wkt),
        ImageFormat::Png | ImageFormat::Webp => {
            let sixteen = format == ImageFormat::Png && img.dtype == DataType::Uint16;
            let (max, values): (f64, Vec<f64>) = if sixteen {
                (65535.0, img.data.clone())
            } else {
                (
                    255.0,
                    cast_u8(img, "PNG/WebP")
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                )
            };
            let planes = png_planes(img.bands, return_mask);
            let mut px = Vec::with_capacity(plane * planes.len());
            for i in 0..plane {
                for p in &planes {
                    px.push(match p {
                        Some(b) => values[b * plane + i],
                        None if mask[i] == 255 => max,
                        None => 0.0,
                    });
                }
            }
            let mut out = Vec::new();
            if sixteen {
                use image::ExtendedColorType::*;
                let color = [L16, La16, Rgb16, Rgba16][planes.len() - 1];
                let bytes: Vec<u8> = px.iter().flat_map(|v| (*v as u16).to_ne_bytes()).collect();
                image::codecs::png::PngEncoder::new(Cursor::new(&mut out))
                    .write_image(&bytes, w, h, color)
                    .map_err(image_err)?;
                return Ok(out);
            }
            let px: Vec<u8> = px.into_iter().map(|v| v as u8).collect();
            let fmt = if format == ImageFormat::Png {
                image::ImageFormat::Png
            } else {
                image::ImageFormat::WebP
            };
            macro_rules! write {
                ($pix:ty) => {{
                    let buf: ImageBuffer<$pix, Vec<u8>> =
                        ImageBuffer::from_raw(w, h, px).ok_or_else(|| image_err("bad buffer"))?;
                    buf.write_to(&mut Cursor::new(&mut out), fmt)
                        .map_err(image_err)?;
                }};
            }
            match planes.len() {
                1 => write!(Luma<u8>),
                2 => write!(LumaA<u8>),
                3 => write!(Rgb<u8>),
                _ => write!(Rgba<u8>),
            }
            Ok(out)
        }
        ImageFormat::Jpeg => {
            let values = cast_u8(img, "JPEG");
            let bands = if img.bands >= 3 { 3 } else { 1 };
            let px = interleave(&values, bands, plane, None);
            let mut out = Vec::new();
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut out), 85);
            let color = if bands == 3 {
                image::ExtendedColorType::Rgb8
            } else {
                image::ExtendedColorType::L8
            };
            enc.write_image(&px, w, h, color).map_err(image_err)?;
            Ok(out)
        }
    }
}

/// The planes written to PNG/WebP, as GDAL's PNG driver receives rio-tiler's arrays: the
/// data bands followed by the mask (`None`), four at most (gray, gray+alpha, RGB, RGBA).
/// Two bands with a mask thus become RGB = (b1, b2, mask), as rio-tiler renders them.
fn png_planes(bands: usize, with_mask: bool) -> Vec<Option<usize>> {
    let mut planes: Vec<Option<usize>> = (0..bands).map(Some).collect();
    if with_mask {
        planes.truncate(3);
        planes.push(None);
    }
    planes.truncate(4);
    planes
}

fn npy_descr(dtype: DataType) -> &'static str {
    match dtype {
        DataType::Uint8 => "|u1",
        DataType::Int8 => "|i1",
        DataType::Uint16 => "<u2",
        DataType::Int16 => "<i2",
        DataType::Uint32 => "<u4",
        DataType::Int32 => "<i4",
        DataType::Float32 => "<f4",
        DataType::Float64 => "<f8",
    }
}

/// NPY 1.0 of the data bands followed by the mask plane (255 valid, 0 masked) in the data
/// type: what rio-tiler's `render(..., img_format="npy")` writes. (The header is six fixed
/// fields; no crate is needed to write it.)
pub fn npy(img: &ImageData) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({}, {}, {}), }}",
        npy_descr(img.dtype),
        img.bands + 1,
        img.height,
        img.width
    );
    // magic (6) + version (2) + length (2) + header + '\n' padded to a multiple of 64
    let total = 10 + header.len() + 1;
    header.extend(std::iter::repeat_n(' ', (64 - total % 64) % 64));
    header.push('\n');
    let mut out =
        Vec::with_capacity(10 + header.len() + (img.bands + 1) * img.plane() * img.dtype.size());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    let mask = img.valid_mask();
    let values = img
        .data
        .iter()
        .copied()
        .chain(mask.iter().map(|m| f64::from(*m)));
    for v in values {
        match img.dtype {
            DataType::Uint8 => out.push(v as u8),
            DataType::Int8 => out.push(v as i8 as u8),
            DataType::Uint16 => out.extend((v as u16).to_le_bytes()),
            DataType::Int16 => out.extend((v as i16).to_le_bytes()),
            DataType::Uint32 => out.extend((v as u32).to_le_bytes()),
            DataType::Int32 => out.extend((v as i32).to_le_bytes()),
            DataType::Float32 => out.extend((v as f32).to_le_bytes()),
            DataType::Float64 => out.extend(v.to_le_bytes()),
        }
    }
    out
}

fn geotiff(img: &ImageData, mask: &[u8], bounds: [f64; 4], crs_wkt: &str) -> Result<Vec<u8>> {
    use gdal::DriverManager;
    let gerr =
        |e: gdal::errors::GdalError| Error::InvalidInput(format!("GeoTIFF encoding failed: {e}"));
    let name = format!(
        "/vsimem/mosaic-{}-{:?}.tif",
        std::process::id(),
        std::thread::current().id()
    );
    let driver = DriverManager::get_driver_by_name("GTiff").map_err(gerr)?;
    let plane = img.plane();
    let mut options = gdal::cpl::CslStringList::new();
    options
        .set_name_value("COMPRESS", "DEFLATE")
        .map_err(gerr)?;
    {
        macro_rules! write_bands {
            ($t:ty) => {{
                let mut ds = driver
                    .create_with_band_type_with_options::<$t, _>(
                        &name,
                        img.width,
                        img.height,
                        img.bands + 1,
                        &options,
                    )
                    .map_err(gerr)?;
                let [w, s, e, n] = bounds;
                ds.set_geo_transform(&[
                    w,
                    (e - w) / img.width as f64,
                    0.0,
                    n,
                    0.0,
                    (s - n) / img.height as f64,
                ])
                .map_err(gerr)?;
                if !crs_wkt.is_empty() {
                    ds.set_projection(crs_wkt).map_err(gerr)?;
                }
                for b in 0..=img.bands {
                    let data: Vec<$t> = if b < img.bands {
                        img.data[b * plane..(b + 1) * plane]
                            .iter()
                            .map(|v| *v as $t)
                            .collect()
                    } else {
                        mask.iter().map(|m| *m as $t).collect()
                    };
                    let mut band = ds.rasterband(b + 1).map_err(gerr)?;
                    let mut buf = gdal::raster::Buffer::new((img.width, img.height), data);
                    band.write((0, 0), (img.width, img.height), &mut buf)
                        .map_err(gerr)?;
                    if b == img.bands {
                        band.set_color_interpretation(gdal::raster::ColorInterpretation::AlphaBand)
                            .map_err(gerr)?;
                    }
                }
            }};
        }
        match img.dtype {
            DataType::Uint8 | DataType::Int8 => write_bands!(u8),
            DataType::Uint16 => write_bands!(u16),
            DataType::Int16 => write_bands!(i16),
            DataType::Uint32 => write_bands!(u32),
            DataType::Int32 => write_bands!(i32),
            DataType::Float32 => write_bands!(f32),
            DataType::Float64 => write_bands!(f64),
        }
    }
    let bytes = gdal::vsi::get_vsi_mem_file_bytes_owned(&name).map_err(gerr)?;
    Ok(bytes)
}

/// Post-processing and encoding options of a rendered image.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Output format; `None`: PNG when any pixel is masked, else JPEG.
    pub format: Option<ImageFormat>,
    /// Linear rescale ranges (one for all bands, or one per band).
    pub rescale: Vec<(f64, f64)>,
    /// Colormap for one-band images.
    pub colormap: Option<Colormap>,
    /// Add the mask as alpha (PNG, WebP). Default true.
    pub no_mask: bool,
}

/// Parses titiler's `rescale` values (`"min,max"`).
pub fn parse_rescale(values: &[String]) -> Result<Vec<(f64, f64)>> {
    values
        .iter()
        .map(|v| {
            let (a, b) = v
                .split_once(',')
                .ok_or_else(|| Error::InvalidInput(format!("rescale `{v}` must be `min,max`")))?;
            let p = |t: &str| {
                t.trim()
                    .parse::<f64>()
                    .map_err(|_| Error::InvalidInput(format!("rescale `{v}` must be numbers")))
            };
            Ok((p(a)?, p(b)?))
        })
        .collect()
}

/// Rescales, applies the colormap and encodes; returns the bytes and the format used.
pub fn render_image(
    img: &ImageData,
    opts: &RenderOptions,
    bounds: [f64; 4],
    crs_wkt: &str,
) -> Result<(Vec<u8>, ImageFormat)> {
    let mut out = rescale(img, &opts.rescale)?;
    if let Some(cmap) = &opts.colormap {
        out = apply_colormap(&out, cmap)?;
    }
    let format = opts.format.unwrap_or_else(|| ImageFormat::auto(&out));
    Ok((
        encode(&out, format, !opts.no_mask, bounds, crs_wkt)?,
        format,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(bands: usize, dtype: DataType) -> ImageData {
        let mut i = ImageData::masked(bands, 2, 2, dtype);
        for (k, v) in i.data.iter_mut().enumerate() {
            *v = (k * 10) as f64;
        }
        for (k, m) in i.mask.iter_mut().enumerate() {
            *m = k % 4 == 3;
        }
        i
    }

    #[test]
    fn npy_layout_matches_numpy() {
        let bytes = npy(&img(3, DataType::Uint8));
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (4, 2, 2)") && header.contains("'descr': '|u1'"));
        let body = &bytes[10 + hlen..];
        assert_eq!(body.len(), 16);
        assert_eq!(&body[12..], &[255, 255, 255, 0]);
    }

    #[test]
    fn every_format_encodes() {
        for (bands, dtype) in [
            (1, DataType::Uint8),
            (3, DataType::Uint8),
            (1, DataType::Uint16),
            (3, DataType::Float32),
        ] {
            let i = img(bands, dtype);
            for f in [
                ImageFormat::Png,
                ImageFormat::Jpeg,
                ImageFormat::Webp,
                ImageFormat::Tif,
                ImageFormat::Npy,
            ] {
                let out = encode(&i, f, true, [0.0, 0.0, 1.0, 1.0], "").unwrap();
                assert!(out.len() > 8, "{f:?} {bands} {dtype:?}");
            }
        }
        let png = encode(
            &img(1, DataType::Uint16),
            ImageFormat::Png,
            true,
            [0.0; 4],
            "",
        )
        .unwrap();
        let decoded = image::load_from_memory(&png).unwrap();
        assert_eq!(decoded.color(), image::ColorType::La16);
    }

    #[test]
    fn rescale_and_colormaps() {
        let mut i = ImageData::masked(1, 1, 3, DataType::Uint16);
        i.data = vec![1000.0, 2000.0, 4000.0];
        i.mask = vec![false; 3];
        let r = rescale(&i, &[(1000.0, 3000.0)]).unwrap();
        assert_eq!(r.data, vec![0.0, 127.0, 255.0]);
        assert_eq!(r.dtype, DataType::Uint8);
        assert!(rescale(&i, &[(5.0, 5.0)]).is_err());
        let c = apply_colormap(&r, &Colormap::named("viridis").unwrap()).unwrap();
        assert_eq!(c.bands, 3);
        assert!(Colormap::named("nope").is_err());
        let cm = Colormap::from_json(r#"{"0": [255, 0, 0, 255], "127": [0, 0, 255, 0]}"#).unwrap();
        let c = apply_colormap(&r, &cm).unwrap();
        assert_eq!((c.data[0], c.mask[1], c.mask[2]), (255.0, true, true));
        assert!(Colormap::from_json("{\"x\": [1,2,3]}").is_err());
        assert_eq!(ImageFormat::auto(&r), ImageFormat::Jpeg);
    }
}
