//! Mosaic tile rendering with GDAL: read each asset of a tile ([`reader`]), combine them
//! with a pixel-selection method ([`pixel_selection`]), post-process and encode ([`encode`]).
//!
//! Reads run on blocking threads, at most `concurrency` at a time, and are fed to the
//! pixel selection **in asset order**, so the output is deterministic. With `first`, once
//! every pixel is filled no further asset is opened (reads already in flight are dropped).

pub mod encode;
pub mod image;
pub mod pixel_selection;
pub mod point;
pub mod reader;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use image::{DataType, ImageData};
pub use pixel_selection::{Mosaicker, PixelSelection};
pub use reader::{ReadOptions, Resampling};

use crate::backend::MosaicRead;
use crate::index::LookupOptions;
use crate::tms::{Tile, TileMatrixSet};
use crate::{Error, Result};

/// Concurrent asset reads per tile unless set ([`crate::settings::Settings::concurrency`]
/// reads `MOSAIC_CONCURRENCY` at the edges).
pub const DEFAULT_CONCURRENCY: usize = 10;

/// Parses a nodata value (`nan`, `inf`, `-inf` or a number), as the CLI's `--nodata` and
/// the tiler's `nodata` parameter give it.
pub fn parse_nodata(text: &str) -> Result<f64> {
    match text.trim().to_ascii_lowercase().as_str() {
        "nan" => Ok(f64::NAN),
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        t => t
            .parse()
            .map_err(|_| Error::InvalidInput(format!("nodata `{text}` is not a number"))),
    }
}

/// Options of a mosaic tile.
#[derive(Debug, Clone)]
pub struct TileOptions {
    /// Per-asset read options.
    pub read: ReadOptions,
    /// How assets combine.
    pub pixel_selection: PixelSelection,
    /// Concurrent asset reads (≥ 1).
    pub concurrency: usize,
    /// Use at most this many assets (the first ones); `None`: all.
    pub max_assets: Option<usize>,
    /// Read slots shared by every request of the process: each asset read holds one, so
    /// the reads (and their buffers) in flight across requests stay bounded; `None`: only
    /// `concurrency` bounds them.
    pub read_slots: Option<Arc<tokio::sync::Semaphore>>,
}

impl Default for TileOptions {
    fn default() -> Self {
        TileOptions {
            read: ReadOptions::default(),
            pixel_selection: PixelSelection::First,
            concurrency: DEFAULT_CONCURRENCY,
            max_assets: None,
            read_slots: None,
        }
    }
}

/// A rendered mosaic tile.
#[derive(Debug, Clone)]
pub struct MosaicTile {
    /// The combined image.
    pub image: ImageData,
    /// Assets actually read, in feed order.
    pub assets_used: Vec<String>,
    /// Candidate assets (after `max_assets`).
    pub assets: Vec<String>,
    /// Candidates left out by `max_assets`.
    pub truncated: usize,
    /// Time spent finding assets.
    pub search: Duration,
    /// Time spent reading and combining.
    pub mosaicking: Duration,
    /// Bounds of the tile in the TMS CRS.
    pub bounds: [f64; 4],
}

/// Reads one asset's tile on a blocking thread.
type Reader = Arc<dyn Fn(&str) -> Result<Option<ImageData>> + Send + Sync>;

/// Combines the images of `assets` read by `read`, in asset order, with bounded concurrency
/// and `first`'s early stop. Returns the image and the assets used, or [`Error::EmptyMosaic`].
pub async fn mosaic_assets(
    assets: &[String],
    read: Reader,
    method: PixelSelection,
    concurrency: usize,
    slots: Option<&Arc<tokio::sync::Semaphore>>,
) -> Result<(ImageData, Vec<String>)> {
    let mut mosaicker = Mosaicker::new(method);
    let mut used = Vec::new();
    let mut first: Option<(usize, usize, usize)> = None;
    let mut in_flight = VecDeque::new();
    let mut next = 0;
    let concurrency = concurrency.max(1);
    while next < assets.len() || !in_flight.is_empty() {
        while in_flight.len() < concurrency && next < assets.len() {
            let (asset, read) = (assets[next].clone(), read.clone());
            let slot = match slots {
                Some(s) => Some(
                    s.clone()
                        .acquire_owned()
                        .await
                        .map_err(|e| Error::Internal(format!("read slots closed: {e}")))?,
                ),
                None => None,
            };
            in_flight.push_back((
                next,
                tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    read(&asset)
                }),
            ));
            next += 1;
        }
        let Some((i, task)) = in_flight.pop_front() else {
            break;
        };
        let result = task.await.map_err(|e| Error::Dataset {
            retryable: true,
            path: assets[i].clone(),
            reason: format!("read task failed: {e}"),
        })?;
        let Some(mut img) = result? else { continue };
        match first {
            None => first = Some((img.bands, img.height, img.width)),
            Some((bands, h, w)) => {
                if img.bands != bands {
                    return Err(Error::Dataset {
                        retryable: true,
                        path: assets[i].clone(),
                        reason: format!(
                            "has {} bands where the first asset has {bands}: assets HAVE TO have the same number of bands",
                            img.bands
                        ),
                    });
                }
                if img.height != h || img.width != w {
                    tracing::warn!(
                        "{}: {}x{} image resized to {w}x{h}",
                        assets[i],
                        img.width,
                        img.height
                    );
                    img = img.resized(h, w);
                }
            }
        }
        mosaicker.feed(img);
        used.push(assets[i].clone());
        if mosaicker.is_done() {
            // Reads still in flight are dropped; nothing more is opened.
            break;
        }
    }
    match mosaicker.finish() {
        Some(img) if !img.is_empty() => Ok((img, used)),
        _ => Err(Error::EmptyMosaic(
            "no asset has data for this request".into(),
        )),
    }
}

/// Renders tile `tile` of `tms` from a mosaic.
pub async fn render_tile(
    mosaic: &dyn MosaicRead,
    tms: &TileMatrixSet,
    tile: Tile,
    search: &LookupOptions,
    opts: &TileOptions,
) -> Result<MosaicTile> {
    opts.read.validate()?;
    check_tile(tms, tile)?;
    let started = Instant::now();
    let search_opts = LookupOptions {
        tms: Some(tms.clone()),
        ..search.clone()
    };
    let assets = mosaic.assets_for_tile(tile, &search_opts).await?;
    let mut out = render_assets(assets, tms, tile, opts).await?;
    out.search = started.elapsed().saturating_sub(out.mosaicking);
    Ok(out)
}

/// Errors unless `tile` exists in `tms`.
pub fn check_tile(tms: &TileMatrixSet, tile: Tile) -> Result<()> {
    let max = tms.matrix(tile.z);
    if tile.z > 30 || tile.x >= max.matrix_width || tile.y >= max.matrix_height {
        return Err(Error::InvalidInput(format!(
            "tile {tile} is outside the {} grid",
            tms.id()
        )));
    }
    Ok(())
}

/// Renders a tile from an already looked-up asset list (in mosaic order).
pub async fn render_assets(
    mut assets: Vec<String>,
    tms: &TileMatrixSet,
    tile: Tile,
    opts: &TileOptions,
) -> Result<MosaicTile> {
    opts.read.validate()?;
    if assets.is_empty() {
        return Err(Error::NoAssets(format!("tile {tile}")));
    }
    let mut truncated = 0;
    if let Some(n) = opts.max_assets.filter(|n| *n < assets.len()) {
        truncated = assets.len() - n;
        assets.truncate(n);
    }
    let started = Instant::now();
    let (t, ro) = (tms.clone(), opts.read.clone());
    let read: Reader = Arc::new(move |asset: &str| reader::read_tile(asset, &t, tile, &ro));
    let (image, assets_used) = mosaic_assets(
        &assets,
        read,
        opts.pixel_selection,
        opts.concurrency,
        opts.read_slots.as_ref(),
    )
    .await
    .map_err(|e| match e {
        Error::EmptyMosaic(_) => Error::EmptyMosaic(format!("no asset has data for tile {tile}")),
        other => other,
    })?;
    Ok(MosaicTile {
        image,
        assets_used,
        assets,
        truncated,
        search: Duration::ZERO,
        mosaicking: started.elapsed(),
        bounds: tms.xy_bounds(tile),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodata_parses_numbers_and_the_special_values() {
        assert_eq!(parse_nodata(" -9999 ").unwrap(), -9999.0);
        assert!(parse_nodata("NaN").unwrap().is_nan());
        assert_eq!(parse_nodata("inf").unwrap(), f64::INFINITY);
        assert_eq!(parse_nodata("-Inf").unwrap(), f64::NEG_INFINITY);
        assert!(matches!(parse_nodata("none"), Err(Error::InvalidInput(_))));
    }
}
