//! Pixel selection: how the images of a mosaic's assets combine into one, with rio-tiler's
//! semantics (`rio_tiler.mosaic.methods.defaults`). Images are fed in asset order.

use std::str::FromStr;

use super::image::{DataType, ImageData};
use crate::Error;

/// A pixel-selection method, named as titiler's `pixel_selection` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelSelection {
    /// First valid value in asset order; stops reading once every pixel is filled.
    #[default]
    First,
    /// Highest value, per band.
    Highest,
    /// Lowest value, per band.
    Lowest,
    /// Mean of valid values, cast to the input type.
    Mean,
    /// Median of valid values, cast to the input type.
    Median,
    /// Population standard deviation, float64.
    Stdev,
    /// Number of valid observations of band 1, uint8, one band.
    Count,
    /// Values of the asset whose last band is highest; the last band is dropped.
    LastBandHigh,
    /// Values of the asset whose last band is lowest; the last band is dropped.
    LastBandLow,
}

impl FromStr for PixelSelection {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "first" => PixelSelection::First,
            "highest" => PixelSelection::Highest,
            "lowest" => PixelSelection::Lowest,
            "mean" => PixelSelection::Mean,
            "median" => PixelSelection::Median,
            "stdev" => PixelSelection::Stdev,
            "count" => PixelSelection::Count,
            "lastbandhigh" | "lastbandhight" => PixelSelection::LastBandHigh,
            "lastbandlow" => PixelSelection::LastBandLow,
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown pixel_selection `{other}` (first, highest, lowest, mean, median, stdev, count, lastbandhigh, lastbandlow)"
                )));
            }
        })
    }
}

impl PixelSelection {
    /// rio-tiler's class name (`FirstMethod`, ...).
    pub fn class_name(self) -> &'static str {
        match self {
            PixelSelection::First => "FirstMethod",
            PixelSelection::Highest => "HighestMethod",
            PixelSelection::Lowest => "LowestMethod",
            PixelSelection::Mean => "MeanMethod",
            PixelSelection::Median => "MedianMethod",
            PixelSelection::Stdev => "StdevMethod",
            PixelSelection::Count => "CountMethod",
            PixelSelection::LastBandHigh => "LastBandHighMethod",
            PixelSelection::LastBandLow => "LastBandLowMethod",
        }
    }
}

/// Accumulates images in asset order.
#[derive(Debug)]
pub struct Mosaicker {
    method: PixelSelection,
    mosaic: Option<ImageData>,
    stack: Vec<ImageData>,
}

impl Mosaicker {
    /// An empty mosaicker.
    pub fn new(method: PixelSelection) -> Mosaicker {
        Mosaicker {
            method,
            mosaic: None,
            stack: Vec::new(),
        }
    }

    fn stacks(&self) -> bool {
        matches!(
            self.method,
            PixelSelection::Mean
                | PixelSelection::Median
                | PixelSelection::Stdev
                | PixelSelection::Count
        )
    }

    /// Feeds the next asset's image (same band count and size as the first).
    pub fn feed(&mut self, img: ImageData) {
        if self.stacks() {
            self.stack.push(img);
            return;
        }
        let Some(cur) = self.mosaic.as_mut() else {
            self.mosaic = Some(img);
            return;
        };
        let plane = cur.plane();
        let bands = cur.bands;
        for b in 0..bands {
            for i in 0..plane {
                let k = b * plane + i;
                let (nv, nm, cv, cm) = (img.data[k], img.mask[k], cur.data[k], cur.mask[k]);
                let take = match self.method {
                    PixelSelection::First => cm && !nm,
                    PixelSelection::Highest => (nv > cv && !nm) || cm,
                    PixelSelection::Lowest => (nv < cv && !nm) || cm,
                    PixelSelection::LastBandHigh | PixelSelection::LastBandLow => {
                        let last = (bands - 1) * plane + i;
                        let better = if self.method == PixelSelection::LastBandHigh {
                            img.data[last] > cur.data[last]
                        } else {
                            img.data[last] < cur.data[last]
                        };
                        (better && !nm) || cm
                    }
                    _ => false,
                };
                if take {
                    cur.data[k] = nv;
                    cur.mask[k] = nm;
                }
            }
        }
    }

    /// True when `first` has filled every pixel (rio-tiler's `is_done`).
    pub fn is_done(&self) -> bool {
        self.method == PixelSelection::First
            && self.mosaic.as_ref().is_some_and(|m| !m.has_masked())
    }

    /// The result, or `None` when nothing was fed.
    pub fn finish(self) -> Option<ImageData> {
        match self.method {
            PixelSelection::Mean | PixelSelection::Median | PixelSelection::Stdev => {
                let first = self.stack.first()?;
                let (plane, bands) = (first.plane(), first.bands);
                let mut out = ImageData::masked(bands, first.height, first.width, first.dtype);
                out.band_names = first.band_names.clone();
                if self.method == PixelSelection::Stdev {
                    out.dtype = DataType::Float64;
                }
                let mut values = Vec::with_capacity(self.stack.len());
                for k in 0..bands * plane {
                    values.clear();
                    values.extend(
                        self.stack
                            .iter()
                            .filter(|img| !img.mask[k])
                            .map(|img| img.data[k]),
                    );
                    if values.is_empty() {
                        continue;
                    }
                    let n = values.len() as f64;
                    let v = match self.method {
                        // numpy sums float32 stacks in float32, then divides in float64.
                        PixelSelection::Mean if first.dtype == DataType::Float32 => {
                            first.dtype.cast(
                                f64::from(values.iter().fold(0f32, |acc, v| acc + *v as f32)) / n,
                            )
                        }
                        PixelSelection::Mean => first.dtype.cast(values.iter().sum::<f64>() / n),
                        PixelSelection::Median => {
                            values.sort_by(f64::total_cmp);
                            let m = values.len() / 2;
                            let med = if values.len() % 2 == 1 {
                                values[m]
                            } else {
                                (values[m - 1] + values[m]) / 2.0
                            };
                            first.dtype.cast(med)
                        }
                        _ => {
                            let mean = values.iter().sum::<f64>() / n;
                            (values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
                        }
                    };
                    out.data[k] = v;
                    out.mask[k] = false;
                }
                Some(out)
            }
            PixelSelection::Count => {
                let first = self.stack.first()?;
                let plane = first.plane();
                let mut out = ImageData::masked(1, first.height, first.width, DataType::Uint8);
                for i in 0..plane {
                    out.data[i] = self.stack.iter().filter(|img| !img.mask[i]).count() as f64;
                    out.mask[i] = false;
                }
                if self.stack.len() >= 256 {
                    out.dtype = DataType::Int32;
                }
                Some(out)
            }
            PixelSelection::LastBandHigh | PixelSelection::LastBandLow => {
                let m = self.mosaic?;
                let keep: Vec<usize> = (0..m.bands.saturating_sub(1)).collect();
                Some(m.select_bands(&keep))
            }
            _ => self.mosaic,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(values: &[f64], mask: &[bool], bands: usize) -> ImageData {
        let n = values.len() / bands;
        ImageData {
            bands,
            height: 1,
            width: n,
            data: values.to_vec(),
            mask: mask.to_vec(),
            dtype: DataType::Uint8,
            band_names: (1..=bands).map(|b| format!("b{b}")).collect(),
        }
    }

    fn run(method: PixelSelection, imgs: Vec<ImageData>) -> ImageData {
        let mut m = Mosaicker::new(method);
        for i in imgs {
            m.feed(i);
        }
        m.finish().unwrap()
    }

    #[test]
    fn first_highest_lowest() {
        let a = img(&[1.0, 5.0, 0.0], &[false, false, true], 1);
        let b = img(&[3.0, 2.0, 7.0], &[false, false, false], 1);
        assert_eq!(
            run(PixelSelection::First, vec![a.clone(), b.clone()]).data,
            [1.0, 5.0, 7.0]
        );
        assert_eq!(
            run(PixelSelection::Highest, vec![a.clone(), b.clone()]).data,
            [3.0, 5.0, 7.0]
        );
        assert_eq!(
            run(PixelSelection::Lowest, vec![a, b]).data,
            [1.0, 2.0, 7.0]
        );
    }

    #[test]
    fn first_is_done_when_filled() {
        let mut m = Mosaicker::new(PixelSelection::First);
        m.feed(img(&[1.0, 0.0], &[false, true], 1));
        assert!(!m.is_done());
        m.feed(img(&[2.0, 2.0], &[false, false], 1));
        assert!(m.is_done());
    }

    #[test]
    fn stack_methods() {
        let a = img(&[1.0, 4.0, 0.0], &[false, false, true], 1);
        let b = img(&[2.0, 7.0, 0.0], &[false, false, true], 1);
        let mean = run(PixelSelection::Mean, vec![a.clone(), b.clone()]);
        assert_eq!(mean.data[..2], [1.0, 5.0]); // 1.5 and 5.5 truncated
        assert!(mean.mask[2]);
        assert_eq!(
            run(PixelSelection::Median, vec![a.clone(), b.clone()]).data[..2],
            [1.0, 5.0]
        );
        let sd = run(PixelSelection::Stdev, vec![a.clone(), b.clone()]);
        assert_eq!(sd.dtype, DataType::Float64);
        assert_eq!(sd.data[..2], [0.5, 1.5]);
        let count = run(PixelSelection::Count, vec![a, b]);
        assert_eq!(
            (count.bands, count.data.clone(), count.mask.clone()),
            (1, vec![2.0, 2.0, 0.0], vec![false; 3])
        );
    }

    #[test]
    fn last_band_methods_drop_last_band() {
        // two bands, one pixel: the last band decides
        let a = img(&[10.0, 1.0], &[false, false], 2);
        let b = img(&[20.0, 5.0], &[false, false], 2);
        let high = run(PixelSelection::LastBandHigh, vec![a.clone(), b.clone()]);
        assert_eq!((high.bands, high.data[0]), (1, 20.0));
        let low = run(PixelSelection::LastBandLow, vec![a, b]);
        assert_eq!(low.data[0], 10.0);
        assert!("nope".parse::<PixelSelection>().is_err());
    }
}
