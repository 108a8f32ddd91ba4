//! Reading COGs named in a URL list: the `footprint` command, and the footprints that
//! `create` and `update` build mosaics from.

use clap::Args;
use serde_json::json;

use super::output::{print, progress, py_json, warn};
use crate::dataset::{DatasetInfo, get_footprints};
use crate::error::run_blocking;
use crate::input::read_bytes;
use crate::tms::TileMatrixSet;
use crate::{Error, Result};

#[derive(Debug, Args)]
pub(super) struct FootprintArgs {
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
    pub(super) quiet: bool,
}

/// `mosaic footprint`: the COGs' footprints as one GeoJSON FeatureCollection.
pub(super) async fn footprint(a: FootprintArgs) -> Result<()> {
    let urls = read_url_list(&a.input_files)?;
    let tms = match &a.tms {
        Some(t) => TileMatrixSet::from_arg(t)?,
        None => TileMatrixSet::web_mercator(),
    };
    let infos = footprints_of(urls, tms, a.threads, false, a.quiet).await?;
    let features: Vec<_> = infos.iter().map(DatasetInfo::to_feature).collect();
    let fc = json!({"features": features, "type": "FeatureCollection"});
    let text = py_json(&fc)?;
    match a.output {
        // The file gets the document alone; stdout gets it as a line.
        Some(path) => std::fs::write(&path, text.as_bytes()).map_err(|e| Error::io(path, e)),
        None => print(&text),
    }
}

/// The non-empty, trimmed lines of a URL list file (`-` for stdin).
pub(super) fn read_url_list(path: &str) -> Result<Vec<String>> {
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

/// Reads footprints of COGs off the async runtime, reporting unreadable URLs: with
/// `strict` the first one fails the command, else each is a warning and left out.
pub(super) async fn footprints_of(
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

/// Datasets opened at once without `--threads`: opening is mostly waiting on I/O, so
/// several per core.
fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 5)
        .unwrap_or(10)
}
