//! Changing what a mosaic URI holds: `update` (add COGs), `upload` (store a document)
//! and `delete`.

use clap::Args;

use super::footprints::{footprints_of, read_url_list};
use super::output::progress;
use super::source::{StacReadArgs, open_source};
use crate::backend::{self, WriteMode};
use crate::create::{Footprint, UpdateOptions};
use crate::dataset::DatasetInfo;
use crate::input::read_bytes;
use crate::mosaicjson::MosaicJson;
use crate::tms::TileMatrixSet;
use crate::{Error, Result};

#[derive(Debug, Args)]
pub(super) struct UpdateArgs {
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
    pub(super) quiet: bool,
    /// Accepted so that a stac+ mosaic gets its read-only answer whatever is given.
    #[command(flatten)]
    stac: StacReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct UploadArgs {
    /// MosaicJSON file (`-` for stdin), or a stac+http(s):// search (with --stac-query,
    /// --minzoom, --maxzoom …) whose mosaic is stored.
    #[arg(default_value = "-")]
    file: String,
    /// Destination URI.
    #[arg(long, required = true)]
    url: String,
    /// Accepted for compatibility; the document's own TMS is kept.
    #[arg(long)]
    tms: Option<String>,
    #[command(flatten)]
    stac: StacReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct DeleteArgs {
    /// Mosaic URI.
    input: String,
}

/// `mosaic update`: reads the COGs of a URL list and adds them to the stored mosaic.
pub(super) async fn update(a: UpdateArgs) -> Result<()> {
    // The writer first: a URI that cannot be written (a stac+ search) fails before any
    // list, COG or search is read, whatever else was given.
    let writer = backend::open_writer(&a.input_mosaic)?;
    let _ = &a.stac;
    let urls = read_url_list(&a.input_files)?;
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

/// `mosaic upload`: stores a MosaicJSON document (checked first) at a URI.
pub(super) async fn upload(a: UploadArgs) -> Result<()> {
    // The destination first: a read-only one fails before anything is read or searched.
    let writer = backend::open_writer(&a.url)?;
    // Only validated: the document keeps its own TMS.
    if let Some(t) = &a.tms {
        TileMatrixSet::from_arg(t)?;
    }
    let doc = if a.file.starts_with("stac+") {
        // A search saved: its whole document (tiles included) as the search built it.
        MosaicJson::clone(&open_source(&a.file, &a.stac, None).await?.document())
    } else {
        a.stac.refuse_with(&a.file)?;
        MosaicJson::from_slice(&read_bytes(&a.file)?)?
    };
    writer.write(&doc, WriteMode::Overwrite).await
}

/// `mosaic delete`: removes a stored mosaic.
pub(super) async fn delete(a: DeleteArgs) -> Result<()> {
    backend::open_writer(&a.input)?.delete().await
}
