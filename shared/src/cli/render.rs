//! Pixels of a mosaic: `tile` (a rendered image) and `point` (every asset's values).

use clap::Args;

use super::output::{print_json, write_bytes};
use super::source::{StacReadArgs, open_source};
use crate::crs::Crs;
use crate::index::LookupOptions;
use crate::render::encode::{self, Colormap, RenderOptions};
use crate::render::point::{PointOptions, point_values};
use crate::render::{TileOptions, parse_nodata, render_tile};
use crate::tms::{Tile, TileMatrixSet};
use crate::{Error, Result};

#[derive(Debug, Args)]
pub(super) struct TileArgs {
    /// Mosaic URI.
    input: String,
    /// Zoom.
    z: u8,
    /// Column.
    x: u64,
    /// Row.
    y: u64,
    /// TileMatrixSet of Z/X/Y (id or TMS JSON file).
    #[arg(long, default_value = "WebMercatorQuad")]
    tms: String,
    /// png, jpeg, webp, tif or npy (default: PNG when any pixel is masked, else JPEG).
    #[arg(long)]
    format: Option<String>,
    /// first, highest, lowest, mean, median, stdev, count, lastbandhigh, lastbandlow.
    #[arg(long, default_value = "first")]
    pixel_selection: String,
    /// Band indexes (1-based), repeated or comma-separated.
    #[arg(long, value_delimiter = ',')]
    bidx: Vec<usize>,
    /// `min,max` per band (or one for all), repeated.
    #[arg(long, allow_hyphen_values = true)]
    rescale: Vec<String>,
    /// Named colormap (viridis, magma, gray, rdylgn, ...).
    #[arg(long)]
    colormap_name: Option<String>,
    /// Colormap JSON (`{"1": [r, g, b, a]}`).
    #[arg(long)]
    colormap: Option<String>,
    /// Output size in pixels.
    #[arg(long, default_value_t = 256)]
    tilesize: usize,
    /// Pixels added around the tile (multiple of 0.5).
    #[arg(long, default_value_t = 0.0)]
    buffer: f64,
    /// Pixels read around the tile and cut away.
    #[arg(long, default_value_t = 0)]
    padding: usize,
    /// Nodata override (number or nan).
    #[arg(long, allow_hyphen_values = true)]
    nodata: Option<String>,
    /// RasterIO resampling.
    #[arg(long, default_value = "nearest")]
    resampling: String,
    /// Warp resampling.
    #[arg(long, default_value = "nearest")]
    reproject: String,
    /// Reverse the asset order.
    #[arg(long)]
    reverse: bool,
    /// Leave the mask out of PNG/WebP.
    #[arg(long)]
    no_mask: bool,
    /// Concurrent asset reads (default MOSAIC_CONCURRENCY or 10).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Output file (stdout when absent).
    #[arg(short, long)]
    output: Option<String>,
    #[command(flatten)]
    stac: StacReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct PointArgs {
    /// Mosaic URI.
    input: String,
    /// Longitude (or x in --coord-crs).
    #[arg(allow_hyphen_values = true)]
    lon: f64,
    /// Latitude (or y).
    #[arg(allow_hyphen_values = true)]
    lat: f64,
    /// CRS of the coordinates (default EPSG:4326).
    #[arg(long)]
    coord_crs: Option<String>,
    /// Band indexes, repeated or comma-separated.
    #[arg(long, value_delimiter = ',')]
    bidx: Vec<usize>,
    /// Nodata override.
    #[arg(long, allow_hyphen_values = true)]
    nodata: Option<String>,
    #[command(flatten)]
    stac: StacReadArgs,
}

/// `mosaic tile`: renders one tile and writes the image to the output file or stdout.
pub(super) async fn tile(a: TileArgs) -> Result<()> {
    let tms = TileMatrixSet::from_arg(&a.tms)?;
    let mosaic = open_source(&a.input, &a.stac, Some(tms.clone())).await?;
    let opts = tile_options(&a)?;
    let render = render_options(&a)?;
    let search = LookupOptions {
        reverse: a.reverse,
        ..Default::default()
    };
    let tile = Tile::new(a.x, a.y, a.z);
    let tile = render_tile(mosaic.as_ref(), &tms, tile, &search, &opts).await?;
    // GeoTIFF output carries the TMS's CRS; the other formats ignore it.
    let wkt = gdal::spatial_ref::SpatialRef::from_definition(&tms.crs().uri())
        .and_then(|s| s.to_wkt())
        .unwrap_or_default();
    let (bytes, format) = encode::render_image(&tile.image, &render, tile.bounds, &wkt)?;
    tracing::info!(
        "{format:?}, {} assets used of {}",
        tile.assets_used.len(),
        tile.assets.len()
    );
    write_bytes(&bytes, a.output)
}

/// What `tile` reads and how the assets combine.
fn tile_options(a: &TileArgs) -> Result<TileOptions> {
    let mut opts = TileOptions {
        pixel_selection: a.pixel_selection.parse()?,
        ..Default::default()
    };
    opts.read.tilesize = a.tilesize;
    opts.read.indexes = (!a.bidx.is_empty()).then(|| a.bidx.clone());
    opts.read.nodata = a.nodata.as_deref().map(parse_nodata).transpose()?;
    opts.read.resampling = a.resampling.parse()?;
    opts.read.reproject = a.reproject.parse()?;
    opts.read.buffer = a.buffer;
    opts.read.padding = a.padding;
    if let Some(c) = a.concurrency {
        opts.concurrency = c.max(1);
    }
    Ok(opts)
}

/// How `tile` encodes the image.
fn render_options(a: &TileArgs) -> Result<RenderOptions> {
    Ok(RenderOptions {
        format: a.format.as_deref().map(str::parse).transpose()?,
        rescale: encode::parse_rescale(&a.rescale)?,
        colormap: match (&a.colormap_name, &a.colormap) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidInput(
                    "give --colormap-name or --colormap, not both".into(),
                ));
            }
            (Some(n), None) => Some(Colormap::named(n)?),
            (None, Some(j)) => Some(Colormap::from_json(j)?),
            (None, None) => None,
        },
        no_mask: a.no_mask,
    })
}

/// `mosaic point`: every asset's values at a point, as JSON.
pub(super) async fn point(a: PointArgs) -> Result<()> {
    let mosaic = open_source(&a.input, &a.stac, None).await?;
    let opts = PointOptions {
        coord_crs: a.coord_crs.as_deref().map(Crs::parse).transpose()?,
        nodata: a.nodata.as_deref().map(parse_nodata).transpose()?,
        indexes: (!a.bidx.is_empty()).then(|| a.bidx.clone()),
        concurrency: crate::settings::Settings::from_env().concurrency(),
    };
    let values = point_values(
        mosaic.as_ref(),
        a.lon,
        a.lat,
        &opts,
        &LookupOptions::default(),
    )
    .await?;
    print_json(&values)
}
