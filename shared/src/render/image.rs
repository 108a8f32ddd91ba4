//! Masked multi-band images: what a COG read returns and what pixel selection produces.
//!
//! Values are kept as `f64` (exact for every integer type up to 32 bits and for float32)
//! beside the source data type, so pixel selection is written once; encoders cast back.

use serde::Serialize;

/// Pixel data type, with numpy's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// `uint8`
    Uint8,
    /// `int8`
    Int8,
    /// `uint16`
    Uint16,
    /// `int16`
    Int16,
    /// `uint32`
    Uint32,
    /// `int32`
    Int32,
    /// `float32`
    Float32,
    /// `float64`
    Float64,
}

impl DataType {
    /// numpy's name (`uint8`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DataType::Uint8 => "uint8",
            DataType::Int8 => "int8",
            DataType::Uint16 => "uint16",
            DataType::Int16 => "int16",
            DataType::Uint32 => "uint32",
            DataType::Int32 => "int32",
            DataType::Float32 => "float32",
            DataType::Float64 => "float64",
        }
    }

    /// True for float types.
    pub fn is_float(self) -> bool {
        matches!(self, DataType::Float32 | DataType::Float64)
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            DataType::Uint8 | DataType::Int8 => 1,
            DataType::Uint16 | DataType::Int16 => 2,
            DataType::Uint32 | DataType::Int32 | DataType::Float32 => 4,
            DataType::Float64 => 8,
        }
    }

    /// `(min, max)` of the type (rasterio's `dtype_ranges`).
    pub fn range(self) -> (f64, f64) {
        match self {
            DataType::Uint8 => (0.0, 255.0),
            DataType::Int8 => (-128.0, 127.0),
            DataType::Uint16 => (0.0, 65535.0),
            DataType::Int16 => (-32768.0, 32767.0),
            DataType::Uint32 => (0.0, 4294967295.0),
            DataType::Int32 => (-2147483648.0, 2147483647.0),
            DataType::Float32 => (f64::from(f32::MIN), f64::from(f32::MAX)),
            DataType::Float64 => (f64::MIN, f64::MAX),
        }
    }

    /// numpy's `astype` of a float value into this type: truncation toward zero for
    /// integers (wrapping as C casts do for in-range values), rounding to f32 for float32.
    pub fn cast(self, v: f64) -> f64 {
        match self {
            DataType::Float64 => v,
            DataType::Float32 => f64::from(v as f32),
            _ if v.is_nan() => 0.0,
            DataType::Uint8 => f64::from(v as i64 as u8),
            DataType::Int8 => f64::from(v as i64 as i8),
            DataType::Uint16 => f64::from(v as i64 as u16),
            DataType::Int16 => f64::from(v as i64 as i16),
            DataType::Uint32 => f64::from(v as i64 as u32),
            DataType::Int32 => f64::from(v as i64 as i32),
        }
    }
}

/// A `bands × height × width` image with a per-value mask (`true` = masked / no data).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageData {
    /// Number of bands.
    pub bands: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values, band-major (`band * h * w + row * w + col`).
    pub data: Vec<f64>,
    /// Mask of each value, same layout.
    pub mask: Vec<bool>,
    /// Data type the values belong to.
    pub dtype: DataType,
    /// Band names (`b1`, `b2`, ...).
    pub band_names: Vec<String>,
}

impl ImageData {
    /// An image of `bands × height × width`, every value masked.
    pub fn masked(bands: usize, height: usize, width: usize, dtype: DataType) -> ImageData {
        let n = bands * height * width;
        ImageData {
            bands,
            height,
            width,
            data: vec![0.0; n],
            mask: vec![true; n],
            dtype,
            band_names: (1..=bands).map(|b| format!("b{b}")).collect(),
        }
    }

    /// Values per band.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }

    /// True when every value is masked.
    pub fn is_empty(&self) -> bool {
        self.mask.iter().all(|m| *m)
    }

    /// True when some value is masked.
    pub fn has_masked(&self) -> bool {
        self.mask.iter().any(|m| *m)
    }

    /// rio-tiler's 2-D mask: 255 where any band is valid, 0 elsewhere.
    pub fn valid_mask(&self) -> Vec<u8> {
        let plane = self.plane();
        (0..plane)
            .map(|i| {
                if (0..self.bands).any(|b| !self.mask[b * plane + i]) {
                    255
                } else {
                    0
                }
            })
            .collect()
    }

    /// Keeps the given bands (0-based), in that order.
    pub fn select_bands(&self, bands: &[usize]) -> ImageData {
        let plane = self.plane();
        let mut out = ImageData::masked(bands.len(), self.height, self.width, self.dtype);
        for (o, &b) in bands.iter().enumerate() {
            out.data[o * plane..(o + 1) * plane]
                .copy_from_slice(&self.data[b * plane..(b + 1) * plane]);
            out.mask[o * plane..(o + 1) * plane]
                .copy_from_slice(&self.mask[b * plane..(b + 1) * plane]);
            out.band_names[o] = self
                .band_names
                .get(b)
                .cloned()
                .unwrap_or_else(|| format!("b{}", b + 1));
        }
        out
    }

    /// Nearest-neighbour resize (rio-tiler resizes images of a different size to the first one).
    pub fn resized(&self, height: usize, width: usize) -> ImageData {
        let mut out = ImageData::masked(self.bands, height, width, self.dtype);
        out.band_names = self.band_names.clone();
        for b in 0..self.bands {
            for r in 0..height {
                let sr = (r * self.height / height).min(self.height - 1);
                for c in 0..width {
                    let sc = (c * self.width / width).min(self.width - 1);
                    let (si, di) = (
                        b * self.plane() + sr * self.width + sc,
                        b * height * width + r * width + c,
                    );
                    out.data[di] = self.data[si];
                    out.mask[di] = self.mask[si];
                }
            }
        }
        out
    }
}
