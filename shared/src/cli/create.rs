//! New mosaics: `create` (from COGs), `create-from-features` (from GeoJSON footprints)
//! and `create-from-stac` (from a STAC API search).

use clap::Args;

use super::footprints::{footprints_of, read_url_list};
use super::output::{emit_document, progress, warn};
use super::source::read_query;
use crate::Result;
use crate::create::{CreateOptions, read_footprints_from};
use crate::dataset::{DatasetInfo, mosaic_zooms};
use crate::error::run_blocking;
use crate::input::open_file;
use crate::mosaicjson::MosaicJson;
use crate::stac;
use crate::tms::TileMatrixSet;

// The options every create command shares.
#[derive(Debug, Args)]
pub(super) struct CommonCreate {
    /// Where to write the mosaic (any writable URI); stdout when absent.
    #[arg(short, long)]
    output: Option<String>,
    /// Quadkey zoom (default: minzoom).
    #[arg(long)]
    quadkey_zoom: Option<u8>,
    /// Keep assets covering more than this fraction of a tile (0..1).
    #[arg(long)]
    min_tile_cover: Option<f64>,
    /// Sort assets by tile coverage.
    #[arg(long)]
    tile_cover_sort: bool,
    /// Keep at most N assets per tile.
    #[arg(long)]
    maximum_items_per_tile: Option<usize>,
    /// Prefix stripped from assets and stored as `asset_prefix`.
    #[arg(long)]
    asset_prefix: Option<String>,
    /// TileMatrixSet id or path to a TMS JSON file (embedded in the document).
    #[arg(long)]
    tms: Option<String>,
    /// Mosaic name.
    #[arg(long)]
    name: Option<String>,
    /// Mosaic description.
    #[arg(long)]
    description: Option<String>,
    /// Mosaic attribution.
    #[arg(long)]
    attribution: Option<String>,
    /// No progress output.
    #[arg(short, long)]
    pub(super) quiet: bool,
}

impl CommonCreate {
    /// Creation options for `minzoom..=maxzoom` with these settings (no progress bar).
    fn options(&self, minzoom: u8, maxzoom: u8) -> Result<CreateOptions> {
        let mut opts = CreateOptions::new(minzoom, maxzoom);
        opts.quadkey_zoom = self.quadkey_zoom;
        opts.minimum_tile_cover = self.min_tile_cover;
        opts.tile_cover_sort = self.tile_cover_sort;
        opts.maximum_items_per_tile = self.maximum_items_per_tile;
        opts.asset_prefix = self.asset_prefix.clone();
        opts.name = self.name.clone();
        opts.description = self.description.clone();
        opts.attribution = self.attribution.clone();
        if let Some(t) = &self.tms {
            opts.tilematrixset = Some(TileMatrixSet::from_arg(t)?);
        }
        Ok(opts)
    }
}

#[derive(Debug, Args)]
pub(super) struct CreateArgs {
    /// URL list file (`-` for stdin).
    #[arg(default_value = "-")]
    input_files: String,
    /// Minimum zoom (default: from the COGs).
    #[arg(long)]
    minzoom: Option<u8>,
    /// Maximum zoom (default: from the COGs).
    #[arg(long)]
    maxzoom: Option<u8>,
    /// Datasets opened concurrently.
    #[arg(long, env = "MAX_THREADS")]
    threads: Option<usize>,
    /// Fail when a URL cannot be read (default: warn and leave it out).
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    pub(super) common: CommonCreate,
}

#[derive(Debug, Args)]
pub(super) struct FeaturesArgs {
    /// GeoJSON files (FeatureCollection, Feature or sequences; `-` for stdin; `.gz` ok).
    #[arg(default_value = "-")]
    features: Vec<String>,
    /// Minimum zoom.
    #[arg(long, required = true)]
    minzoom: u8,
    /// Maximum zoom.
    #[arg(long, required = true)]
    maxzoom: u8,
    /// Feature property holding the asset identifier.
    #[arg(long, required = true)]
    property: String,
    #[command(flatten)]
    pub(super) common: CommonCreate,
}

#[derive(Debug, Args)]
pub(super) struct StacArgs {
    /// The search endpoint (`https://host/search`; a `stac+` prefix is accepted).
    url: String,
    /// The search body: JSON text, `@file.json`, or `-` for stdin.
    #[arg(long, visible_alias = "stac-query", default_value = "{}")]
    query: String,
    /// Minimum zoom.
    #[arg(long, required = true)]
    minzoom: u8,
    /// Maximum zoom.
    #[arg(long, required = true)]
    maxzoom: u8,
    /// The item asset whose `href` becomes the mosaic's asset (default: the item's URL,
    /// as cogeo-mosaic's `default_stac_accessor`).
    #[arg(long, visible_alias = "stac-asset")]
    asset: Option<String>,
    /// Items per page (default 500, unless the query sets `limit`).
    #[arg(long, visible_alias = "stac-limit")]
    limit: Option<u64>,
    /// Stop after this many items.
    #[arg(long, visible_alias = "stac-max-items")]
    max_items: Option<usize>,
    #[command(flatten)]
    pub(super) common: CommonCreate,
}

/// `mosaic create`: reads the COGs of a URL list, then builds the mosaic of their
/// footprints (zooms from the COGs unless given).
pub(super) async fn create(a: CreateArgs) -> Result<()> {
    let urls = read_url_list(&a.input_files)?;
    let read_tms = match &a.common.tms {
        Some(t) => TileMatrixSet::from_arg(t)?,
        None => TileMatrixSet::web_mercator(),
    };
    let infos = footprints_of(urls, read_tms, a.threads, a.strict, a.common.quiet).await?;
    let mut warnings = Vec::new();
    let (minzoom, maxzoom) = mosaic_zooms(&infos, a.minzoom, a.maxzoom, &mut warnings)?;
    for w in warnings {
        warn(&w);
    }
    let mut opts = a.common.options(minzoom, maxzoom)?;
    opts.progress = progress(0, "Iterate over quadkeys", a.common.quiet);
    let fps: Vec<_> = infos.iter().map(DatasetInfo::footprint).collect();
    let doc = run_blocking("create", move || MosaicJson::from_footprints(&fps, &opts)).await?;
    emit_document(&doc, a.common.output.as_deref()).await
}

/// `mosaic create-from-features`: the mosaic of the footprints in GeoJSON files.
pub(super) async fn create_from_features(a: FeaturesArgs) -> Result<()> {
    let mut opts = a.common.options(a.minzoom, a.maxzoom)?;
    opts.progress = progress(0, "Iterate over quadkeys", a.common.quiet);
    let (files, property) = (a.features, a.property);
    // Parsing and creation share one blocking thread, so the memory the parser frees
    // is what creation reuses.
    let doc = run_blocking("create", move || -> Result<MosaicJson> {
        let mut fps = Vec::new();
        for f in &files {
            fps.extend(if f == "-" {
                read_footprints_from(std::io::stdin().lock(), &property)?
            } else {
                read_footprints_from(open_file(f)?, &property)?
            });
        }
        MosaicJson::from_footprints_owned(fps, &opts)
    })
    .await?;
    emit_document(&doc, a.common.output.as_deref()).await
}

/// `mosaic create-from-stac`: the mosaic of the items a STAC API search returns.
pub(super) async fn create_from_stac(a: StacArgs) -> Result<()> {
    let query = read_query(&a.query, "--query")?;
    let opts = a.common.options(a.minzoom, a.maxzoom)?;
    let search = stac::SearchOptions {
        limit: a.limit,
        max_items: a.max_items,
        max_page_bytes: None,
        item_budget: None,
    };
    let accessor = match &a.asset {
        Some(key) => stac::ItemAccessor::Asset(key.clone()),
        None => stac::ItemAccessor::ItemUrl,
    };
    let made =
        stac::mosaic_from_search(&stac::client()?, &a.url, &query, &search, &accessor, &opts)
            .await?;
    if !made.unplaced.is_empty() && !a.common.quiet {
        warn(&format!(
            "{} items without a geometry left out: {}",
            made.unplaced.len(),
            made.unplaced.join(", ")
        ));
    }
    emit_document(&made.doc, a.common.output.as_deref()).await
}
