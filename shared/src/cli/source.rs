//! Where read commands get their mosaic: a stored one by URI, or a STAC search
//! (`stac+http(s)://…/search`) described by the `--stac-*` options and the zooms.

use std::sync::Arc;

use clap::Args;
use serde_json::Value;

use crate::backend::{self, Backends, MosaicRead, StacMosaicOptions, StacSearch};
use crate::input::read_bytes;
use crate::stac::{ItemAccessor, SearchOptions};
use crate::tms::TileMatrixSet;
use crate::{Error, Result};

/// The options of a `stac+` mosaic URI (cogeo-mosaic's `STACBackend` arguments).
#[derive(Debug, Args, Clone, Default)]
pub(super) struct StacReadArgs {
    /// For a stac+ URI: the search body (JSON text, `@file.json`, or `-` for stdin).
    #[arg(long, value_name = "JSON")]
    stac_query: Option<String>,
    /// For a stac+ URI: the mosaic's minimum zoom (required with one).
    #[arg(long)]
    minzoom: Option<u8>,
    /// For a stac+ URI: the mosaic's maximum zoom (required with one).
    #[arg(long)]
    maxzoom: Option<u8>,
    /// For a stac+ URI: items per page (default 500, unless the query sets `limit`).
    #[arg(long)]
    stac_limit: Option<u64>,
    /// For a stac+ URI: stop after this many items.
    #[arg(long)]
    stac_max_items: Option<usize>,
    /// For a stac+ URI: the item asset whose `href` is the mosaic's asset (default: the
    /// item's own URL, as cogeo-mosaic's `default_stac_accessor`).
    #[arg(long, value_name = "KEY")]
    stac_asset: Option<String>,
    /// For a stac+ URI: cogeo-mosaic's `mosaic_options` as JSON (`quadkey_zoom`,
    /// `tilematrixset` id, `minimum_tile_cover`, `tile_cover_sort`,
    /// `maximum_items_per_tile`, `asset_prefix`, and `minzoom`/`maxzoom` for a mosaic TMS
    /// other than the reading one).
    #[arg(long, value_name = "JSON")]
    stac_mosaic_options: Option<String>,
}

impl StacReadArgs {
    /// Refuses these options given with `input`, which is not a STAC search.
    pub(super) fn refuse_with(&self, input: &str) -> Result<()> {
        if self.any() {
            return Err(Error::InvalidInput(format!(
                "--stac-query, --minzoom, --maxzoom and the other --stac-* options go with a stac+http(s):// search, not `{input}`"
            )));
        }
        Ok(())
    }

    fn any(&self) -> bool {
        self.stac_query.is_some()
            || self.minzoom.is_some()
            || self.maxzoom.is_some()
            || self.stac_limit.is_some()
            || self.stac_max_items.is_some()
            || self.stac_asset.is_some()
            || self.stac_mosaic_options.is_some()
    }

    /// The search these options describe at `url`, read in `tms` (default WebMercatorQuad).
    fn search(&self, url: &str, tms: Option<TileMatrixSet>) -> Result<StacSearch> {
        let (Some(minzoom), Some(maxzoom)) = (self.minzoom, self.maxzoom) else {
            return Err(Error::InvalidInput(format!(
                "`{url}` is a STAC search: give --minzoom and --maxzoom (and --stac-query)"
            )));
        };
        let query = read_query(self.stac_query.as_deref().unwrap_or("{}"), "--stac-query")?;
        let mut search = StacSearch::new(url, query, minzoom, maxzoom)?;
        if let Some(tms) = tms {
            search.tms = tms;
        }
        search.api = SearchOptions {
            limit: self.stac_limit,
            max_items: self.stac_max_items,
            max_page_bytes: None,
            item_budget: None,
        };
        if let Some(text) = &self.stac_mosaic_options {
            search.mosaic = StacMosaicOptions::from_json(text)?;
        }
        if let Some(key) = &self.stac_asset {
            search.mosaic.accessor = ItemAccessor::Asset(key.clone());
        }
        Ok(search)
    }
}

/// Opens `input` for reading: a `stac+` URI as the search `stac` describes (read in `tms`),
/// anything else through the dispatcher. `--stac-*` options with another URI are refused,
/// so a typo in the URI is not silently read as a stored mosaic.
pub(super) async fn open_source(
    input: &str,
    stac: &StacReadArgs,
    tms: Option<TileMatrixSet>,
) -> Result<Arc<dyn MosaicRead>> {
    if input.starts_with("stac+") {
        let search = stac.search(input, tms)?;
        let mosaic = Backends::from_env().open_stac(&search).await?;
        return Ok(mosaic);
    }
    stac.refuse_with(input)?;
    backend::open(input).await
}

/// A search body given as JSON text, `@file`, or `-` for stdin; `flag` names the option in
/// errors.
pub(super) fn read_query(arg: &str, flag: &str) -> Result<Value> {
    let text = match arg {
        "-" => read_bytes("-")?,
        q => match q.strip_prefix('@') {
            Some(path) => read_bytes(path)?,
            None => q.as_bytes().to_vec(),
        },
    };
    serde_json::from_slice(&text)
        .map_err(|e| Error::InvalidInput(format!("{flag} is not JSON: {e}")))
}
