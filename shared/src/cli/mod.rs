//! The `mosaic` CLI (commands and options named as cogeo-mosaic's), as a library so it can
//! be tested in-process. `src/bin/mosaic.rs` only parses arguments and maps errors to exit codes.
//!
//! One module per command group: `create` (new mosaics), `store` (changing a stored
//! mosaic), `footprints` (reading COGs), `inspect` (reading mosaics) and `render`
//! (pixels); `output` holds what they share for writing results.

mod create;
mod footprints;
mod inspect;
mod output;
mod render;
mod source;
mod store;

use clap::{Parser, Subcommand};

use crate::{Error, Result};

pub use inspect::{info_report, info_text, tile_features};

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a mosaic from a list of COG URLs (file or stdin, one per line).
    Create(create::CreateArgs),
    /// Create a mosaic from GeoJSON footprints.
    CreateFromFeatures(create::FeaturesArgs),
    /// Create a mosaic from the items of a STAC API search.
    CreateFromStac(create::StacArgs),
    /// Add COGs to an existing mosaic (written back in place).
    Update(store::UpdateArgs),
    /// Store a MosaicJSON document (file or stdin) at a URI.
    Upload(store::UploadArgs),
    /// Print the footprints of COGs as a GeoJSON FeatureCollection.
    Footprint(footprints::FootprintArgs),
    /// Describe a mosaic.
    Info(inspect::InfoArgs),
    /// Print the mosaic's quadkey tiles as GeoJSON.
    ToGeojson(inspect::ToGeojsonArgs),
    /// Print the assets of a tile, a point or a bbox as a JSON array.
    Assets(inspect::AssetsArgs),
    /// Render a mosaic tile (PNG, JPEG, WebP, GeoTIFF or NPY).
    Tile(render::TileArgs),
    /// Print every asset's values at a point as JSON (titiler's /point).
    Point(render::PointArgs),
    /// List the mosaics of a DynamoDB table (`dynamodb://[region]/table`) or an SQLite
    /// file (`sqlite:///path.db`), one per line.
    List(inspect::ListArgs),
    /// Delete a mosaic (every writable backend).
    Delete(store::DeleteArgs),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Create(a) => create::create(a).await,
        Command::CreateFromFeatures(a) => create::create_from_features(a).await,
        Command::CreateFromStac(a) => create::create_from_stac(a).await,
        Command::Update(a) => store::update(a).await,
        Command::Upload(a) => store::upload(a).await,
        Command::Footprint(a) => footprints::footprint(a).await,
        Command::Info(a) => inspect::info(a).await,
        Command::ToGeojson(a) => inspect::to_geojson(a).await,
        Command::Assets(a) => inspect::assets(a).await,
        Command::Tile(a) => render::tile(a).await,
        Command::Point(a) => render::point(a).await,
        Command::List(a) => inspect::list(a).await,
        Command::Delete(a) => store::delete(a).await,
    }
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
