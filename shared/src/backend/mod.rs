//! Storage backends behind one trait family and a URI dispatcher.
//!
//! [`MosaicRead`] loads a mosaic's metadata and answers look-ups; [`MosaicWrite`] stores,
//! updates and deletes. Read-only schemes (`http(s)://`, `stac+http(s)://`) have no
//! [`MosaicWrite`] implementation: [`open_writer`] refuses them with [`Error::ReadOnly`].
//! Database backends also implement [`TileIndex`]: atomic per-quadkey edits for concurrent
//! writers (the ingest function, `update`).
//!
//! | scheme | read | write |
//! |---|---|---|
//! | `:memory:` | [`memory::MemoryBackend`] | same |
//! | path, `file://` (`.json`, `.json.gz`) | [`file::open`] → [`DocumentBackend`] | same (atomic temp file + rename) |
//! | `s3://`, `gs://`, `az://` | [`store::open`] → [`DocumentBackend`] (object_store) | [`store::StoreWriter`]: conditional create, If-Match update |
//! | `http(s)://` | [`store::open`] → [`DocumentBackend`] | [`Error::ReadOnly`] |
//! | `dynamodb://[{region}]/{table}:{mosaic}` | [`dynamodb::DynamoDbReader`] (one request per look-up) | [`dynamodb::DynamoDbWriter`]: batch writes, conditional per-quadkey edits |
//! | `sqlite:///{path}:{mosaic}` | [`sqlite::SqliteReader`] | [`sqlite::SqliteWriter`]: one transaction per write or edit |
//! | `stac+http(s)://…/search` | [`stac::StacBackend`] through [`Backends::open_stac`] (a search with its query and zooms) | [`Error::ReadOnly`] |

pub mod assets;
#[cfg(any(feature = "s3", feature = "dynamodb"))]
mod aws_credentials;
mod dispatch;
mod document;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod file;
pub mod memory;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "stac")]
pub mod stac;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
pub mod store;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
pub mod stores;
mod uri;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::create::{Footprint, UpdateOptions};
use crate::index::{self, Lookup, LookupOptions, QuadkeyQuery};
use crate::mosaicjson::MosaicJson;
use crate::tms::Tile;
use crate::{Error, Result};

pub use assets::{AssetEvent, AssetRecord, Claim, Edit, Edited, Sequencer};
pub use dispatch::{
    Backends, OpenOptions, list_mosaics, open, open_index, open_with, open_writer, required_feature,
};
pub use document::DocumentBackend;
#[cfg(feature = "stac")]
pub use stac::{StacBackend, StacMosaicOptions, StacSearch};
pub use uri::{Location, MosaicUri, parse_location};

/// Whether a write may replace an existing mosaic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail with [`Error::AlreadyExists`] when the mosaic exists.
    Create,
    /// Replace an existing mosaic.
    Overwrite,
}

/// cogeo-mosaic's `info()`, fields in its order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Info {
    /// Bounds in the mosaic TMS's geographic CRS.
    pub bounds: [f64; 4],
    /// URI of that CRS.
    pub crs: String,
    /// The mosaic's name, or `"mosaic"`.
    pub name: String,
    /// Quadkeys, when asked for.
    pub quadkeys: Vec<String>,
    /// morecantile repr of the mosaic TMS.
    pub mosaic_tilematrixset: String,
    /// The document's minzoom.
    pub mosaic_minzoom: u8,
    /// The document's maxzoom.
    pub mosaic_maxzoom: u8,
}

/// Reading side of a backend: metadata, quadkeys and asset look-ups.
#[async_trait]
pub trait MosaicRead: Send + Sync + std::fmt::Debug {
    /// The URI the mosaic was opened from.
    fn uri(&self) -> &str;

    /// The backend's display name (`File`, `MEM`, ... as cogeo-mosaic names them).
    fn backend_name(&self) -> &'static str;

    /// The document. Database backends return the metadata with empty `tiles`.
    fn document(&self) -> Arc<MosaicJson>;

    /// Size in bytes of the stored document as read (compressed size for `.gz`), when known.
    fn stored_size(&self) -> Option<u64> {
        None
    }

    /// Raw assets of one quadkey query (no prefix, no de-duplication).
    async fn query(&self, q: &QuadkeyQuery) -> Result<Vec<String>>;

    /// Every quadkey of the mosaic (possibly expensive: cogeo-mosaic#126).
    async fn quadkeys(&self) -> Result<Vec<String>>;

    /// Every quadkey with its raw assets (no prefix), in the store's order. The default
    /// asks per quadkey; backends override it with one pass over their data.
    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>> {
        let mut out = Vec::new();
        for qk in self.quadkeys().await? {
            let assets = self.query(&QuadkeyQuery::Exact(qk.clone())).await?;
            out.push((qk, assets));
        }
        Ok(out)
    }

    /// Answers a look-up: planned into quadkey queries, combined as cogeo-mosaic combines them.
    async fn lookup(&self, lookup: &Lookup, opts: &LookupOptions) -> Result<Vec<String>> {
        let doc = self.document();
        let plan = index::plan(&doc, lookup, opts)?;
        let mut groups = Vec::with_capacity(plan.len());
        for q in &plan {
            groups.push(self.query(q).await?);
        }
        Ok(index::combine(
            groups,
            doc.asset_prefix.as_deref(),
            opts.reverse,
        ))
    }

    /// Assets of a tile.
    async fn assets_for_tile(&self, tile: Tile, opts: &LookupOptions) -> Result<Vec<String>> {
        self.lookup(&Lookup::Tile(tile), opts).await
    }

    /// Assets at a point.
    async fn assets_for_point(
        &self,
        lon: f64,
        lat: f64,
        opts: &LookupOptions,
    ) -> Result<Vec<String>> {
        self.lookup(&Lookup::Point { lon, lat }, opts).await
    }

    /// Assets intersecting a bbox.
    async fn assets_for_bbox(&self, bbox: [f64; 4], opts: &LookupOptions) -> Result<Vec<String>> {
        self.lookup(&Lookup::Bbox(bbox), opts).await
    }

    /// cogeo-mosaic's `info()`.
    async fn info(&self, with_quadkeys: bool) -> Result<Info> {
        let doc = self.document();
        let tms = doc.tms();
        Ok(Info {
            bounds: doc.bounds,
            crs: tms.geographic_crs().uri(),
            name: doc.name.clone().unwrap_or_else(|| "mosaic".into()),
            quadkeys: if with_quadkeys {
                self.quadkeys().await?
            } else {
                Vec::new()
            },
            mosaic_tilematrixset: tms.python_repr(),
            mosaic_minzoom: doc.minzoom,
            mosaic_maxzoom: doc.maxzoom,
        })
    }
}

/// Writing side of a backend.
#[async_trait]
pub trait MosaicWrite: Send + Sync + std::fmt::Debug {
    /// The URI written to.
    fn uri(&self) -> &str;

    /// Stores a whole document.
    async fn write(&self, doc: &MosaicJson, mode: WriteMode) -> Result<()>;

    /// Adds footprints to the stored mosaic and stores the result. Returns the document as
    /// stored: whole for document backends, its metadata (`tiles` empty) for databases.
    async fn update(&self, footprints: &[Footprint], opts: &UpdateOptions) -> Result<MosaicJson>;

    /// Removes the mosaic.
    async fn delete(&self) -> Result<()>;
}

/// Where added assets go in a quadkey's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Before the existing assets (cogeo-mosaic's `add_first=True`, the default).
    First,
    /// After the existing assets.
    Last,
}

/// Per-quadkey edits of a stored tile index, each atomic on its own and idempotent: the
/// primitive behind the database backends' `update` and the ingest function. Safe for many
/// concurrent writers (DynamoDB: conditional `UpdateItem`; SQLite: one transaction each).
///
/// Edits do not touch the metadata: call [`TileIndex::commit_metadata`] once after a batch,
/// so the version moves only when the tiles have changed.
#[async_trait]
pub trait TileIndex: Send + Sync + std::fmt::Debug {
    /// The stored metadata (`tiles` empty); [`Error::NotFound`] when the mosaic is absent.
    async fn metadata(&self) -> Result<MosaicJson>;

    /// Adds to `quadkey` (created when missing) each of `assets` not listed there yet, in
    /// their order, at `at`. Returns the assets actually added. The quadkey is not checked
    /// against the mosaic's quadkey zoom: [`add_asset`] does that.
    async fn add_assets(
        &self,
        quadkey: &str,
        assets: &[String],
        at: Position,
    ) -> Result<Vec<String>>;

    /// Removes `assets` from `quadkey`; a quadkey left empty is deleted. Returns the assets
    /// actually removed.
    async fn remove_assets(&self, quadkey: &str, assets: &[String]) -> Result<Vec<String>>;

    /// Every quadkey with its assets, in storage order (a deleted object's footprint can no
    /// longer be read, so this is how [`withdraw_asset`] finds where an asset is listed).
    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>>;

    /// Records a change: bounds grown to cover `added` (when given), `mosaicjson` upgraded,
    /// version patch +1, center recomputed. Returns the new metadata (`tiles` empty).
    async fn commit_metadata(&self, added: Option<[f64; 4]>) -> Result<MosaicJson>;

    /// [`TileIndex::commit_metadata`] starting from `read`, the metadata as read at the start
    /// of the change: a backend that commits under a version condition tries that version
    /// first and saves a read (re-reading only when another writer committed meanwhile).
    async fn commit_metadata_from(
        &self,
        read: &MosaicJson,
        added: Option<[f64; 4]>,
    ) -> Result<MosaicJson> {
        let _ = read;
        self.commit_metadata(added).await
    }

    /// The record of `asset` (as stored, without `asset_prefix`), when there is one
    /// ([`assets`]).
    async fn asset_record(&self, asset: &str) -> Result<Option<AssetRecord>>;

    /// True when every asset of the mosaic has a record (the mosaic was written whole by us):
    /// an asset without one is then listed nowhere.
    async fn tracks_assets(&self) -> Result<bool>;

    /// Adds quadkeys to the records of assets (created, present, when missing): called
    /// before the tile edits that list them there.
    async fn record_assets(&self, records: &[(String, Vec<String>)]) -> Result<()>;

    /// Records `event` when it is not older than the newest event applied to its asset (one
    /// conditional write): created events add their quadkeys to the record.
    async fn claim_asset(&self, event: &AssetEvent) -> Result<Claim>;

    /// One edit of `quadkey` for `asset`, made only while the asset's record holds
    /// `sequencer` (in one transaction with the check); `None` edits unconditionally.
    async fn edit_claimed(
        &self,
        quadkey: &str,
        asset: &str,
        edit: Edit,
        sequencer: Option<&Sequencer>,
    ) -> Result<Edited>;
}

/// How many per-quadkey edits run at once.
const EDIT_CONCURRENCY: usize = 16;

/// One pending per-quadkey edit.
type PendingEdit<'a> = futures::future::BoxFuture<'a, Result<Vec<String>>>;

/// What an event did to a tile index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied: this many quadkeys changed.
    Edited(usize),
    /// Older than the newest event applied to the asset: acknowledged, nothing changed.
    Stale,
    /// A newer event on the asset arrived while this one was applied: it stopped, and the
    /// newer one decides.
    Superseded,
}

/// The asset as a mosaic stores it: without the mosaic's `asset_prefix`.
fn stored_asset<'a>(meta: &MosaicJson, asset: &'a str) -> &'a str {
    meta.asset_prefix
        .as_deref()
        .and_then(|p| asset.strip_prefix(p))
        .unwrap_or(asset)
}

/// Adds `asset` to every quadkey of `quadkeys` (an S3 `ObjectCreated` event with
/// `sequencer`) and commits the metadata once (with `bounds`, the asset's footprint, when
/// known). `meta` is the metadata as read for the event. Costs, on DynamoDB, one conditional
/// write for the record, one transaction per quadkey and one metadata update: Q + 2 requests.
///
/// An event older than the newest applied to the asset changes nothing ([`Applied::Stale`]).
pub async fn apply_created(
    index: &dyn TileIndex,
    meta: &MosaicJson,
    asset: &str,
    quadkeys: &[String],
    at: Position,
    bounds: Option<[f64; 4]>,
    sequencer: Option<&Sequencer>,
) -> Result<Applied> {
    check_quadkeys(meta, quadkeys)?;
    let stored = stored_asset(meta, asset);
    let event = AssetEvent {
        asset: stored.to_string(),
        sequencer: sequencer.cloned(),
        present: true,
        quadkeys: quadkeys.to_vec(),
    };
    if let Claim::Stale(_) = index.claim_asset(&event).await? {
        return Ok(Applied::Stale);
    }
    let edits = quadkeys
        .iter()
        .map(|qk| index.edit_claimed(qk, stored, Edit::Add(at), sequencer))
        .collect();
    let Some(changed) = run_claimed_edits(edits).await? else {
        return Ok(Applied::Superseded);
    };
    index.commit_metadata_from(meta, bounds).await?;
    Ok(Applied::Edited(changed))
}

/// Removes `asset` from every quadkey that lists it (an S3 `ObjectRemoved` event with
/// `sequencer`) and commits the metadata when something changed. The quadkeys come from the
/// asset's record; a mosaic written by another tool has none, and its index is then read
/// whole once (logged). Costs, on DynamoDB with a record, one conditional write, two
/// requests per quadkey (read, transaction) and one metadata update: 2Q + 2 requests.
pub async fn apply_removed(
    index: &dyn TileIndex,
    meta: &MosaicJson,
    asset: &str,
    sequencer: Option<&Sequencer>,
) -> Result<Applied> {
    let stored = stored_asset(meta, asset);
    let event = AssetEvent {
        asset: stored.to_string(),
        sequencer: sequencer.cloned(),
        present: false,
        quadkeys: Vec::new(),
    };
    let previous = match index.claim_asset(&event).await? {
        Claim::Stale(_) => return Ok(Applied::Stale),
        Claim::Applied(previous) => previous,
    };
    let quadkeys = match previous {
        Some(record) => record.quadkeys,
        None if index.tracks_assets().await? => Vec::new(),
        None => {
            tracing::warn!(
                asset = stored,
                "no asset record (a mosaic written by another tool): reading the whole index to find it"
            );
            index
                .tiles()
                .await?
                .into_iter()
                .filter(|(_, assets)| assets.iter().any(|a| a == stored))
                .map(|(qk, _)| qk)
                .collect()
        }
    };
    let edits = quadkeys
        .iter()
        .map(|qk| index.edit_claimed(qk, stored, Edit::Remove, sequencer))
        .collect();
    let Some(changed) = run_claimed_edits(edits).await? else {
        return Ok(Applied::Superseded);
    };
    if changed > 0 {
        index.commit_metadata_from(meta, None).await?;
    }
    Ok(Applied::Edited(changed))
}

/// Adds `asset` to every quadkey of `quadkeys` and commits the metadata once (with
/// `bounds`, the asset's footprint, when known): [`apply_created`] without a sequencer.
/// Returns how many quadkeys changed.
pub async fn add_asset(
    index: &dyn TileIndex,
    asset: &str,
    quadkeys: &[String],
    at: Position,
    bounds: Option<[f64; 4]>,
) -> Result<usize> {
    let meta = index.metadata().await?;
    match apply_created(index, &meta, asset, quadkeys, at, bounds, None).await? {
        Applied::Edited(n) => Ok(n),
        Applied::Stale | Applied::Superseded => Ok(0),
    }
}

/// Removes `asset` from every quadkey of `quadkeys` and commits the metadata once (its
/// record keeps naming them: records only grow). Returns how many quadkeys changed.
pub async fn remove_asset(
    index: &dyn TileIndex,
    asset: &str,
    quadkeys: &[String],
) -> Result<usize> {
    check_quadkeys(&index.metadata().await?, quadkeys)?;
    let one = [asset.to_string()];
    let edits = quadkeys
        .iter()
        .map(|qk| index.remove_assets(qk, &one))
        .collect();
    let changed = run_edits(edits).await?;
    index.commit_metadata(None).await?;
    Ok(changed)
}

/// Removes `asset` from every quadkey that lists it: [`apply_removed`] without a sequencer.
/// Returns how many quadkeys changed (0, and no commit, when it was listed nowhere).
pub async fn withdraw_asset(index: &dyn TileIndex, asset: &str) -> Result<usize> {
    let meta = index.metadata().await?;
    match apply_removed(index, &meta, asset, None).await? {
        Applied::Edited(n) => Ok(n),
        Applied::Stale | Applied::Superseded => Ok(0),
    }
}

/// Applies an update computed by [`MosaicJson::additions`] through a [`TileIndex`]: the
/// assets' records first, then every quadkey of `additions` gets its new assets (those
/// already present are skipped), then the metadata is committed. Returns the new metadata.
pub async fn apply_additions(
    index: &dyn TileIndex,
    additions: &MosaicJson,
    at: Position,
) -> Result<MosaicJson> {
    index
        .record_assets(&assets::invert(&additions.tiles))
        .await?;
    let edits = additions
        .tiles
        .iter()
        .map(|(qk, assets)| index.add_assets(qk, assets, at))
        .collect();
    run_edits(edits).await?;
    index.commit_metadata(Some(additions.bounds)).await
}

/// Refuses quadkeys that are not of the mosaic's quadkey zoom: stored, they would never be
/// looked up.
fn check_quadkeys(meta: &MosaicJson, quadkeys: &[String]) -> Result<()> {
    let qz = usize::from(meta.effective_quadkey_zoom());
    match quadkeys.iter().find(|qk| qk.len() != qz) {
        Some(qk) => Err(Error::InvalidInput(format!(
            "quadkey `{qk}` is not of the mosaic's quadkey zoom {qz}"
        ))),
        None => Ok(()),
    }
}

/// Runs claimed edits [`EDIT_CONCURRENCY`] at a time; stops at the first error. Returns how
/// many changed something, or `None` when one found its event superseded.
async fn run_claimed_edits(
    edits: Vec<futures::future::BoxFuture<'_, Result<Edited>>>,
) -> Result<Option<usize>> {
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(edits)
        .buffer_unordered(EDIT_CONCURRENCY)
        .try_fold(Some(0), |n, edited| {
            futures::future::ready(Ok(match (n, edited) {
                (None, _) | (_, Edited::Superseded) => None,
                (Some(n), Edited::Changed) => Some(n + 1),
                (Some(n), Edited::Unchanged) => Some(n),
            }))
        })
        .await
}

/// Runs edits [`EDIT_CONCURRENCY`] at a time; stops at the first error. Returns how many
/// changed something.
async fn run_edits(edits: Vec<PendingEdit<'_>>) -> Result<usize> {
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(edits)
        .buffer_unordered(EDIT_CONCURRENCY)
        .try_fold(0, |n, changed| {
            futures::future::ready(Ok(n + usize::from(!changed.is_empty())))
        })
        .await
}

/// Display name of a scheme's backend, as cogeo-mosaic's `_backend_name`.
pub fn backend_name(uri: &MosaicUri) -> &'static str {
    match uri {
        MosaicUri::Memory => "MEM",
        MosaicUri::File(_) => "File",
        MosaicUri::S3 { .. } => "AWS S3",
        MosaicUri::Gcs { .. } => "Google Cloud Storage",
        MosaicUri::Azure { .. } => "Azure Blob Storage",
        MosaicUri::DynamoDb { .. } => "AWS DynamoDB",
        MosaicUri::Sqlite { .. } => "SQLite",
        MosaicUri::Http(_) => "HTTP",
        MosaicUri::Stac(_) => "STAC",
    }
}
