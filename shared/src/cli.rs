//! The `mosaic` CLI (commands and options named as cogeo-mosaic's), as a library so it can
//! be tested in-process. `src/bin/mosaic.rs` only parses arguments and maps errors to exit codes.

use std::io::Write;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::backend::{self, MosaicRead, MosaicUri, WriteMode, backend_name};
use crate::create::{CreateOptions, Footprint, Progress, UpdateOptions, read_footprints_from};
use crate::crs::Crs;
use crate::dataset::{DatasetInfo, get_footprints, mosaic_zooms};
use crate::error::run_blocking;
use crate::index::{Lookup, LookupOptions};
use crate::input::{open_file, read_bytes};
use crate::mosaicjson::MosaicJson;
use crate::pyjson::{dumps, py_float};
use crate::render::parse_nodata;
use crate::stac;
use crate::tms::{Tile, TileMatrixSet};
use crate::{Error, Result};

/// MosaicJSON mosaics of Cloud-Optimized GeoTIFFs.
#[derive(Debug, Parser)]
#[command(name = "mosaic", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// True when the command asked for quiet output.
    pub fn quiet(&self) -> bool {
        match &self.command {
            Command::Create(a) => a.common.quiet,
            Command::CreateFromFeatures(a) => a.common.quiet,
            Command::CreateFromStac(a) => a.common.quiet,
            Command::Update(a) => a.quiet,
            Command::Footprint(a) => a.quiet,
            _ => false,
        }
    }
}

#[derive(Debug, Args)]
struct CommonCreate {
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
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a mosaic from a list of COG URLs (file or stdin, one per line).
    Create(CreateArgs),
    /// Create a mosaic from GeoJSON footprints.
    CreateFromFeatures(FeaturesArgs),
    /// Create a mosaic from the items of a STAC API search.
    CreateFromStac(StacArgs),
    /// Add COGs to an existing mosaic (written back in place).
    Update(UpdateArgs),
    /// Store a MosaicJSON document (file or stdin) at a URI.
    Upload(UploadArgs),
    /// Print the footprints of COGs as a GeoJSON FeatureCollection.
    Footprint(FootprintArgs),
    /// Describe a mosaic.
    Info(InfoArgs),
    /// Print the mosaic's quadkey tiles as GeoJSON.
    ToGeojson(ToGeojsonArgs),
    /// Print the assets of a tile, a point or a bbox as a JSON array.
    Assets(AssetsArgs),
    /// Render a mosaic tile (PNG, JPEG, WebP, GeoTIFF or NPY).
    Tile(TileArgs),
    /// Print every asset's values at a point as JSON (titiler's /point).
    Point(PointArgs),
    /// List the mosaics of a DynamoDB table (`dynamodb://[region]/table`) or an SQLite
    /// file (`sqlite:///path.db`), one per line.
    List(ListArgs),
    /// Delete a mosaic (every writable backend).
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// `dynamodb://[{region}]/{table}` or `sqlite:///{path}`.
    location: String,
}

#[derive(Debug, Args)]
struct DeleteArgs {
    /// Mosaic URI.
    input: String,
}

#[derive(Debug, Args)]
struct TileArgs {
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
}

#[derive(Debug, Args)]
struct PointArgs {
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
}

#[derive(Debug, Args)]
struct CreateArgs {
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
    common: CommonCreate,
}

#[derive(Debug, Args)]
struct FeaturesArgs {
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
    common: CommonCreate,
}

#[derive(Debug, Args)]
struct StacArgs {
    /// The search endpoint (`https://host/search`; a `stac+` prefix is accepted).
    url: String,
    /// The search body: JSON text, `@file.json`, or `-` for stdin.
    #[arg(long, default_value = "{}")]
    query: String,
    /// Minimum zoom.
    #[arg(long, required = true)]
    minzoom: u8,
    /// Maximum zoom.
    #[arg(long, required = true)]
    maxzoom: u8,
    /// The item asset whose `href` becomes the mosaic's asset (default: the item's URL,
    /// as cogeo-mosaic's `default_stac_accessor`).
    #[arg(long)]
    asset: Option<String>,
    /// Items per page (default 500, unless the query sets `limit`).
    #[arg(long)]
    limit: Option<u64>,
    /// Stop after this many items.
    #[arg(long)]
    max_items: Option<usize>,
    #[command(flatten)]
    common: CommonCreate,
}

#[derive(Debug, Args)]
struct UpdateArgs {
    /// URL list file.
    input_files: String,
    /// The mosaic to update.
    input_mosaic: String,
    /// Keep assets covering more than this fraction of a tile.
    #[arg(long)]
    min_tile_cover: Option<f64>,
    /// New assets go before existing ones (default).
    #[arg(long, overrides_with = "add_last")]
    add_first: bool,
    /// New assets go after existing ones.
    #[arg(long)]
    add_last: bool,
    /// TileMatrixSet used to read the COGs (default: the mosaic's).
    #[arg(long)]
    tms: Option<String>,
    /// Datasets opened concurrently.
    #[arg(long, env = "MAX_THREADS")]
    threads: Option<usize>,
    /// Fail when a URL cannot be read.
    #[arg(long)]
    strict: bool,
    /// No progress output.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct UploadArgs {
    /// MosaicJSON file (`-` for stdin).
    #[arg(default_value = "-")]
    file: String,
    /// Destination URI.
    #[arg(long, required = true)]
    url: String,
    /// Accepted for compatibility; the document's own TMS is kept.
    #[arg(long)]
    tms: Option<String>,
}

#[derive(Debug, Args)]
struct FootprintArgs {
    /// URL list file (`-` for stdin).
    #[arg(default_value = "-")]
    input_files: String,
    /// Output file (stdout when absent).
    #[arg(short, long)]
    output: Option<String>,
    /// Datasets opened concurrently.
    #[arg(long, env = "MAX_THREADS")]
    threads: Option<usize>,
    /// TileMatrixSet for the zooms.
    #[arg(long)]
    tms: Option<String>,
    /// No progress output.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct InfoArgs {
    /// Mosaic URI.
    input: String,
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Reading TileMatrixSet (reported as `TileMatrixSet`).
    #[arg(long)]
    tms: Option<String>,
}

#[derive(Debug, Args)]
struct ToGeojsonArgs {
    /// Mosaic URI.
    input: String,
    /// One FeatureCollection instead of newline-delimited Features.
    #[arg(long, overrides_with = "features")]
    collect: bool,
    /// Newline-delimited Features (default).
    #[arg(long)]
    features: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["tile", "point", "bbox"])))]
struct AssetsArgs {
    /// Mosaic URI.
    input: String,
    /// Tile `Z X Y` of the reading TMS.
    #[arg(long, num_args = 3, value_names = ["Z", "X", "Y"])]
    tile: Option<Vec<u64>>,
    /// Point `LON LAT`.
    // Hyphen values, not `allow_negative_numbers`: clap's negative-number test takes an
    // exponent form such as `-7.1e-14` for a flag. `num_args` bounds what is taken.
    #[arg(long, num_args = 2, value_names = ["LON", "LAT"], allow_hyphen_values = true)]
    point: Option<Vec<f64>>,
    /// Bbox `W S E N`.
    #[arg(long, num_args = 4, value_names = ["W", "S", "E", "N"], allow_hyphen_values = true)]
    bbox: Option<Vec<f64>>,
    /// Reverse the asset order.
    #[arg(long)]
    reverse: bool,
    /// Reading TileMatrixSet for --tile (default: the mosaic's).
    #[arg(long)]
    tms: Option<String>,
    /// CRS of --point/--bbox coordinates (default: the TMS geographic CRS), e.g. EPSG:3857.
    #[arg(long)]
    coord_crs: Option<String>,
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 5)
        .unwrap_or(10)
}

fn read_url_list(path: &str) -> Result<Vec<String>> {
    let text = String::from_utf8(read_bytes(path)?)
        .map_err(|_| Error::InvalidData(format!("{path}: the URL list is not UTF-8 text")))?;
    let urls: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if urls.is_empty() {
        return Err(Error::InvalidData(format!("{path}: no URL in the list")));
    }
    Ok(urls)
}

/// indicatif's bar as the library's [`Progress`].
#[derive(Debug)]
struct Bar(ProgressBar);

impl Progress for Bar {
    fn set_length(&self, len: u64) {
        self.0.set_length(len);
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn progress(len: u64, label: &str, quiet: bool) -> Option<Arc<dyn Progress>> {
    if quiet {
        return None;
    }
    let pb = ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:22} [{bar:30}] {pos}/{len} {percent}%") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(label.to_string());
    Some(Arc::new(Bar(pb)))
}

fn warn(msg: &str) {
    eprintln!("Warning: {msg}");
}

/// Reads footprints of COGs off the async runtime, reporting unreadable URLs.
async fn footprints_of(
    urls: Vec<String>,
    tms: TileMatrixSet,
    threads: Option<usize>,
    strict: bool,
    quiet: bool,
) -> Result<Vec<DatasetInfo>> {
    let threads = threads.unwrap_or_else(default_threads);
    let pb = progress(urls.len() as u64, "Get footprints", quiet);
    let results = run_blocking("footprint", move || {
        let r = get_footprints(&urls, &tms, threads, pb.as_deref());
        if let Some(pb) = pb {
            pb.finish();
        }
        Ok(r)
    })
    .await?;
    let mut infos = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(info) => infos.push(info),
            Err(e) if strict => return Err(e),
            Err(e) => warn(&format!("{e} (left out of the mosaic)")),
        }
    }
    Ok(infos)
}

fn apply_common(opts: &mut CreateOptions, c: &CommonCreate) -> Result<()> {
    opts.quadkey_zoom = c.quadkey_zoom;
    opts.minimum_tile_cover = c.min_tile_cover;
    opts.tile_cover_sort = c.tile_cover_sort;
    opts.maximum_items_per_tile = c.maximum_items_per_tile;
    opts.asset_prefix = c.asset_prefix.clone();
    opts.name = c.name.clone();
    opts.description = c.description.clone();
    opts.attribution = c.attribution.clone();
    if let Some(t) = &c.tms {
        opts.tilematrixset = Some(TileMatrixSet::from_arg(t)?);
    }
    Ok(())
}

async fn emit_document(doc: &MosaicJson, output: Option<&str>) -> Result<()> {
    match output {
        Some(uri) => {
            backend::open_writer(uri)?
                .write(doc, WriteMode::Overwrite)
                .await
        }
        None => {
            let mut out = std::io::stdout().lock();
            doc.write_json(&mut out)
                .and_then(|_| out.write_all(b"\n"))
                .map_err(|e| Error::io("<stdout>", e))
        }
    }
}

async fn create_from_features_blocking(
    fps: Vec<Footprint>,
    opts: CreateOptions,
) -> Result<MosaicJson> {
    run_blocking("create", move || MosaicJson::from_footprints(&fps, &opts)).await
}

/// True when `e` is a write to stdout whose reader went away (`mosaic … | head`): the
/// command then ends quietly and successfully, as a pipeline expects.
pub fn is_closed_stdout(e: &Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    let Error::Io { path, source } = e else {
        return false;
    };
    if path.as_os_str() != "<stdout>" {
        return false;
    }
    // The serializers wrap the OS error (`io::Error::other(serde_json::Error)`).
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(source);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == BrokenPipe {
                return true;
            }
            if let Some(inner) = io.get_ref() {
                next = Some(inner);
                continue;
            }
        }
        if let Some(j) = err.downcast_ref::<serde_json::Error>()
            && j.io_error_kind() == Some(BrokenPipe)
        {
            return true;
        }
        next = err.source();
    }
    false
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| Error::io("<stdout>", e))
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Create(a) => {
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
            let mut opts = CreateOptions::new(minzoom, maxzoom);
            apply_common(&mut opts, &a.common)?;
            opts.progress = progress(0, "Iterate over quadkeys", a.common.quiet);
            let fps = infos.iter().map(DatasetInfo::footprint).collect();
            let doc = create_from_features_blocking(fps, opts).await?;
            emit_document(&doc, a.common.output.as_deref()).await
        }
        Command::CreateFromFeatures(a) => {
            let mut opts = CreateOptions::new(a.minzoom, a.maxzoom);
            apply_common(&mut opts, &a.common)?;
            opts.progress = progress(0, "Iterate over quadkeys", a.common.quiet);
            let (files, property) = (a.features.clone(), a.property.clone());
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
        Command::CreateFromStac(a) => {
            let text = match a.query.as_str() {
                "-" => read_bytes("-")?,
                q => match q.strip_prefix('@') {
                    Some(path) => read_bytes(path)?,
                    None => q.as_bytes().to_vec(),
                },
            };
            let query: Value = serde_json::from_slice(&text)
                .map_err(|e| Error::InvalidInput(format!("--query is not JSON: {e}")))?;
            let mut opts = CreateOptions::new(a.minzoom, a.maxzoom);
            apply_common(&mut opts, &a.common)?;
            let search = stac::SearchOptions {
                limit: a.limit,
                max_items: a.max_items,
            };
            let accessor = match &a.asset {
                Some(key) => stac::ItemAccessor::Asset(key.clone()),
                None => stac::ItemAccessor::ItemUrl,
            };
            let made = stac::mosaic_from_search(&a.url, &query, &search, &accessor, &opts).await?;
            if !made.unplaced.is_empty() && !a.common.quiet {
                warn(&format!(
                    "{} items without a geometry left out: {}",
                    made.unplaced.len(),
                    made.unplaced.join(", ")
                ));
            }
            emit_document(&made.doc, a.common.output.as_deref()).await
        }
        Command::Update(a) => {
            let urls = read_url_list(&a.input_files)?;
            let writer = backend::open_writer(&a.input_mosaic)?;
            let current = backend::open(&a.input_mosaic).await?.document();
            let tms = match &a.tms {
                Some(t) => TileMatrixSet::from_arg(t)?,
                None => current.tms(),
            };
            let infos = footprints_of(urls, tms, a.threads, a.strict, a.quiet).await?;
            if infos.is_empty() {
                return Err(Error::InvalidInput("no readable dataset to add".into()));
            }
            let fps: Vec<Footprint> = infos.iter().map(DatasetInfo::footprint).collect();
            let opts = UpdateOptions {
                add_first: !a.add_last,
                minimum_tile_cover: a.min_tile_cover,
                progress: progress(0, "Iterate over quadkeys", a.quiet),
                ..UpdateOptions::default()
            };
            writer.update(&fps, &opts).await.map(|_| ())
        }
        Command::Upload(a) => {
            let doc = MosaicJson::from_slice(&read_bytes(&a.file)?)?;
            if let Some(t) = &a.tms {
                TileMatrixSet::from_arg(t)?;
            }
            backend::open_writer(&a.url)?
                .write(&doc, WriteMode::Overwrite)
                .await
        }
        Command::Footprint(a) => {
            let urls = read_url_list(&a.input_files)?;
            let tms = match &a.tms {
                Some(t) => TileMatrixSet::from_arg(t)?,
                None => TileMatrixSet::web_mercator(),
            };
            let infos = footprints_of(urls, tms, a.threads, false, a.quiet).await?;
            let fc = json!({"features": infos.iter().map(DatasetInfo::to_feature).collect::<Vec<_>>(), "type": "FeatureCollection"});
            let text = dumps(&fc).map_err(|e| Error::InvalidInput(e.to_string()))?;
            match a.output {
                Some(path) => {
                    std::fs::write(&path, text.as_bytes()).map_err(|e| Error::io(path, e))
                }
                None => print(&text),
            }
        }
        Command::Info(a) => {
            let mosaic = backend::open(&a.input).await?;
            let read_tms_id = match &a.tms {
                Some(t) => TileMatrixSet::from_arg(t)?.id().to_string(),
                None => "WebMercatorQuad".to_string(),
            };
            let report = info_report(&a.input, mosaic.as_ref(), &read_tms_id);
            if a.json {
                print(&dumps(&report).map_err(|e| Error::InvalidInput(e.to_string()))?)
            } else {
                print(&info_text(&report))
            }
        }
        Command::ToGeojson(a) => {
            let mosaic = backend::open(&a.input).await?;
            let features = tile_features(mosaic.as_ref()).await?;
            if a.collect {
                if features.is_empty() {
                    return Ok(());
                }
                let fc = json!({"type": "FeatureCollection", "features": features});
                print(&dumps(&fc).map_err(|e| Error::InvalidInput(e.to_string()))?)
            } else {
                for f in features {
                    print(&dumps(&f).map_err(|e| Error::InvalidInput(e.to_string()))?)?;
                }
                Ok(())
            }
        }
        Command::Tile(a) => {
            let mosaic = backend::open(&a.input).await?;
            let tms = TileMatrixSet::from_arg(&a.tms)?;
            let mut opts = crate::render::TileOptions {
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
            let render = crate::render::encode::RenderOptions {
                format: a.format.as_deref().map(str::parse).transpose()?,
                rescale: crate::render::encode::parse_rescale(&a.rescale)?,
                colormap: match (&a.colormap_name, &a.colormap) {
                    (Some(_), Some(_)) => {
                        return Err(Error::InvalidInput(
                            "give --colormap-name or --colormap, not both".into(),
                        ));
                    }
                    (Some(n), None) => Some(crate::render::encode::Colormap::named(n)?),
                    (None, Some(j)) => Some(crate::render::encode::Colormap::from_json(j)?),
                    (None, None) => None,
                },
                no_mask: a.no_mask,
            };
            let search = LookupOptions {
                reverse: a.reverse,
                ..Default::default()
            };
            let tile = crate::render::render_tile(
                mosaic.as_ref(),
                &tms,
                Tile::new(a.x, a.y, a.z),
                &search,
                &opts,
            )
            .await?;
            let wkt = gdal::spatial_ref::SpatialRef::from_definition(&tms.crs().uri())
                .and_then(|s| s.to_wkt())
                .unwrap_or_default();
            let (bytes, format) =
                crate::render::encode::render_image(&tile.image, &render, tile.bounds, &wkt)?;
            tracing::info!(
                "{format:?}, {} assets used of {}",
                tile.assets_used.len(),
                tile.assets.len()
            );
            match a.output {
                Some(path) => std::fs::write(&path, &bytes).map_err(|e| Error::io(path, e)),
                None => std::io::stdout()
                    .lock()
                    .write_all(&bytes)
                    .map_err(|e| Error::io("<stdout>", e)),
            }
        }
        Command::Point(a) => {
            let mosaic = backend::open(&a.input).await?;
            let crs = a.coord_crs.as_deref().map(Crs::parse).transpose()?;
            let nodata = a.nodata.as_deref().map(parse_nodata).transpose()?;
            let indexes = (!a.bidx.is_empty()).then(|| a.bidx.clone());
            let opts = crate::render::point::PointOptions {
                coord_crs: crs,
                indexes,
                nodata,
                concurrency: crate::render::default_concurrency(),
            };
            let values = crate::render::point::point_values(
                mosaic.as_ref(),
                a.lon,
                a.lat,
                &opts,
                &LookupOptions::default(),
            )
            .await?;
            print(&serde_json::to_string(&values).map_err(|e| Error::InvalidInput(e.to_string()))?)
        }
        Command::List(a) => {
            for name in backend::list_mosaics(&a.location).await? {
                print(&name)?;
            }
            Ok(())
        }
        Command::Delete(a) => backend::open_writer(&a.input)?.delete().await,
        Command::Assets(a) => {
            let mosaic = backend::open(&a.input).await?;
            let opts = LookupOptions {
                reverse: a.reverse,
                tms: a.tms.as_deref().map(TileMatrixSet::from_arg).transpose()?,
                coord_crs: a.coord_crs.as_deref().map(Crs::parse).transpose()?,
                ..Default::default()
            };
            let lookup = if let Some(t) = a.tile {
                let z = u8::try_from(t[0])
                    .ok()
                    .filter(|z| *z <= 30)
                    .ok_or_else(|| {
                        Error::InvalidInput(format!("zoom {} is outside 0..=30", t[0]))
                    })?;
                Lookup::Tile(Tile::new(t[1], t[2], z))
            } else if let Some(p) = a.point {
                Lookup::Point {
                    lon: p[0],
                    lat: p[1],
                }
            } else if let Some(b) = a.bbox {
                Lookup::Bbox([b[0], b[1], b[2], b[3]])
            } else {
                return Err(Error::InvalidInput("give --tile, --point or --bbox".into()));
            };
            let assets = mosaic.lookup(&lookup, &opts).await?;
            print(&serde_json::to_string(&assets).map_err(|e| Error::InvalidInput(e.to_string()))?)
        }
    }
}

/// The report of `mosaic info --json`, with cogeo-mosaic's keys and order.
pub fn info_report(input: &str, mosaic: &dyn MosaicRead, read_tms_id: &str) -> Value {
    let doc = mosaic.document();
    let counts: Vec<usize> = doc.tiles.values().map(Vec::len).collect();
    let tiles = if counts.is_empty() {
        json!({})
    } else {
        let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
        json!({
            "Nb Tiles": counts.len(),
            "Min Files": counts.iter().min(),
            "Max Files": counts.iter().max(),
            "Mean Files": (mean * 100.0).round() / 100.0,
        })
    };
    let center = doc.center.unwrap_or_else(|| doc.default_center());
    let name = MosaicUri::parse(input)
        .map(|u| backend_name(&u))
        .unwrap_or("File");
    json!({
        "Path": input,
        "Backend": name,
        "File Size": mosaic.stored_size().unwrap_or(0),
        "Compressed": input.ends_with(".gz"),
        "Profile": {
            "MosaicJSON": doc.mosaicjson,
            "Version": doc.version,
            "Name": doc.name,
            "Description": doc.description,
            "Attribution": doc.attribution,
        },
        "GEO": {
            "TileMatrixSet": read_tms_id,
            "BoundingBox": doc.bounds,
            "Center": [center.lon, center.lat, center.zoom],
            "Min Zoom": doc.minzoom,
            "Max Zoom": doc.maxzoom,
            "QuadKey Zoom": doc.effective_quadkey_zoom(),
        },
        "TILES": tiles,
    })
}

fn py_value(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => py_float(n.as_f64().unwrap_or(0.0)),
        Value::Array(items) => format!(
            "({})",
            items.iter().map(py_value).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// The text form of `mosaic info`, as cogeo-mosaic prints it (without terminal styling).
pub fn info_text(report: &Value) -> String {
    let mut out = String::new();
    for key in ["Path", "Backend", "File Size", "Compressed"] {
        let label = if key == "Path" { "File" } else { key };
        out.push_str(&format!("{label}: {}\n", py_value(&report[key])));
    }
    for (section, title) in [("Profile", "Profile"), ("GEO", "Geo"), ("TILES", "Tiles")] {
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        if let Some(map) = report[section].as_object() {
            for (k, v) in map {
                out.push_str(&format!("    {:<18}{}\n", format!("{k}:"), py_value(v)));
            }
        }
    }
    out.pop();
    out
}

/// One GeoJSON Feature per quadkey (in the mosaic's own TMS), as `to-geojson` prints them.
pub async fn tile_features(mosaic: &dyn MosaicRead) -> Result<Vec<Value>> {
    let doc = mosaic.document();
    let tms = doc.tms();
    let prefix = doc.asset_prefix.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (qk, assets) in mosaic.tiles().await? {
        let tile = tms.quadkey_to_tile(&qk)?;
        let [w, s, e, n] = tms.bounds(tile);
        let assets: Vec<String> = assets.into_iter().map(|a| format!("{prefix}{a}")).collect();
        out.push(json!({
            "type": "Feature",
            "id": format!("Tile(x={}, y={}, z={})", tile.x, tile.y, tile.z),
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [w, n], [e, n], [e, s], [w, s]]]},
            "properties": {"nb_assets": assets.len(), "assets": assets},
        }));
    }
    Ok(out)
}
