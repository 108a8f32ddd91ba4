//! Per-quadkey edits ([`TileIndex`]): each one `BEGIN IMMEDIATE` transaction reading the
//! quadkey's first row and writing its new list back (or deleting the row when emptied).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::assets;
use super::connection::{Ctx, on_table, require_schema, table_exists};
use super::metadata::{commit_metadata_in, read_metadata};
use super::read::{parse_assets, tiles_blocking};
use super::write::SqliteWriter;
use super::{Target, py_dumps};
use crate::backend::{
    AssetEvent, AssetRecord, Claim, Edit, Edited, Position, Sequencer, TileIndex,
};
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

/// Creates the quadkey index of a mosaic written without one (by cogeo-mosaic); a missing
/// table is [`Error::NotFound`].
pub(super) fn ensure_index(conn: &Connection, t: &Target, indexed: &AtomicBool) -> Result<()> {
    if indexed.load(Ordering::Acquire) {
        return Ok(());
    }
    if !table_exists(conn, &t.uri, &t.mosaic)? {
        return Err(t.not_found());
    }
    conn.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} (quadkey)",
        t.index, t.table
    ))
    .ctx(&t.uri)
}

/// The first row of `quadkey`: its rowid and assets.
fn current_row(conn: &Connection, t: &Target, quadkey: &str) -> Result<Option<(i64, Vec<String>)>> {
    let sql = format!(
        "SELECT rowid, assets FROM {} WHERE quadkey = ?1 ORDER BY rowid LIMIT 1",
        t.table
    );
    let mut stmt = conn.prepare_cached(&sql).ctx(&t.uri)?;
    let row = stmt
        .query_row([quadkey], |r| {
            let rowid: i64 = r.get(0)?;
            let assets = parse_assets(t, quadkey, r.get_ref(1)?);
            Ok((rowid, assets))
        })
        .optional()
        .ctx(&t.uri)?;
    match row {
        Some((rowid, assets)) => Ok(Some((rowid, assets?))),
        None => Ok(None),
    }
}

fn check_quadkey(quadkey: &str) -> Result<()> {
    if quadkey.len() > 30 || !quadkey.bytes().all(|b| (b'0'..=b'3').contains(&b)) {
        return Err(Error::InvalidInput(format!(
            "`{quadkey}` is not a quadkey ([0-3]{{0,30}})"
        )));
    }
    Ok(())
}

/// One per-quadkey edit transaction: schema checked, index ensured, [`apply_edit`].
fn edit_blocking<R>(
    conn: &mut Connection,
    t: &Target,
    indexed: &AtomicBool,
    quadkey: &str,
    edit: impl FnOnce(Option<&[String]>) -> (Option<Vec<String>>, R),
) -> Result<R> {
    let uri = t.uri.as_str();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(uri)?;
    require_schema(&tx, t)?;
    ensure_index(&tx, t, indexed)?;
    let result = apply_edit(&tx, t, quadkey, edit)?;
    // Committed even when nothing changed: the index may have been created.
    tx.commit().ctx(uri)?;
    indexed.store(true, Ordering::Release);
    Ok(result)
}

/// Applies `edit` to the current list of `quadkey` (`None`: no row), giving the new list
/// (`None`: delete the row) and the result; inside the caller's transaction.
pub(super) fn apply_edit<R>(
    conn: &Connection,
    t: &Target,
    quadkey: &str,
    edit: impl FnOnce(Option<&[String]>) -> (Option<Vec<String>>, R),
) -> Result<R> {
    on_table(conn, t, edit_row(conn, t, quadkey, edit))
}

/// [`apply_edit`] without the missing-table check.
fn edit_row<R>(
    conn: &Connection,
    t: &Target,
    quadkey: &str,
    edit: impl FnOnce(Option<&[String]>) -> (Option<Vec<String>>, R),
) -> Result<R> {
    let uri = t.uri.as_str();
    let current = current_row(conn, t, quadkey)?;
    let before = current.as_ref().map(|(_, a)| a.as_slice());
    let (after, result) = edit(before);
    if after.as_deref() == before {
        return Ok(result);
    }
    match (&current, after) {
        (Some((rowid, _)), Some(list)) => {
            conn.execute(
                &format!("UPDATE {} SET assets = ?1 WHERE rowid = ?2", t.table),
                (py_dumps(&list), rowid),
            )
            .ctx(uri)?;
        }
        (Some((rowid, _)), None) => {
            conn.execute(
                &format!("DELETE FROM {} WHERE rowid = ?1", t.table),
                [rowid],
            )
            .ctx(uri)?;
        }
        (None, Some(list)) => {
            conn.execute(
                &format!("INSERT INTO {} (quadkey, assets) VALUES (?1, ?2)", t.table),
                (quadkey, py_dumps(&list)),
            )
            .ctx(uri)?;
        }
        (None, None) => {}
    }
    Ok(result)
}

/// The edit adding `assets` not yet listed at `at`: the new list and the assets added.
pub(super) fn add_edit(
    current: Option<&[String]>,
    assets: &[String],
    at: Position,
) -> (Option<Vec<String>>, Vec<String>) {
    let existing: HashSet<&str> = current
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let mut seen = HashSet::new();
    let added: Vec<String> = assets
        .iter()
        .filter(|a| !existing.contains(a.as_str()) && seen.insert(a.as_str()))
        .cloned()
        .collect();
    if added.is_empty() {
        return (current.map(<[String]>::to_vec), added);
    }
    let old = current.unwrap_or_default().iter().cloned();
    let list: Vec<String> = match at {
        Position::First => added.iter().cloned().chain(old).collect(),
        Position::Last => old.chain(added.iter().cloned()).collect(),
    };
    (Some(list), added)
}

#[async_trait]
impl TileIndex for SqliteWriter {
    async fn metadata(&self) -> Result<MosaicJson> {
        self.with_conn("sqlite read", false, |t, conn| read_metadata(conn, t))
            .await
    }

    /// One `BEGIN IMMEDIATE` transaction: reads the quadkey's list (a missing quadkey gets a
    /// row), adds the assets it does not hold yet at `at`, writes it back.
    async fn add_assets(
        &self,
        quadkey: &str,
        assets: &[String],
        at: Position,
    ) -> Result<Vec<String>> {
        check_quadkey(quadkey)?;
        let (qk, assets, indexed) = (quadkey.to_string(), assets.to_vec(), self.indexed.clone());
        self.with_conn("sqlite add_assets", false, move |t, conn| {
            edit_blocking(conn, t, &indexed, &qk, |current| {
                add_edit(current, &assets, at)
            })
        })
        .await
    }

    /// One `BEGIN IMMEDIATE` transaction: removes the listed assets (every occurrence);
    /// a quadkey left empty loses its row.
    async fn remove_assets(&self, quadkey: &str, assets: &[String]) -> Result<Vec<String>> {
        check_quadkey(quadkey)?;
        let (qk, assets, indexed) = (quadkey.to_string(), assets.to_vec(), self.indexed.clone());
        self.with_conn("sqlite remove_assets", false, move |t, conn| {
            edit_blocking(conn, t, &indexed, &qk, |current| {
                let Some(current) = current else {
                    return (None, Vec::new());
                };
                let present: HashSet<&str> = current.iter().map(String::as_str).collect();
                let mut seen = HashSet::new();
                let removed: Vec<String> = assets
                    .iter()
                    .filter(|a| present.contains(a.as_str()) && seen.insert(a.as_str()))
                    .cloned()
                    .collect();
                let drop: HashSet<&str> = removed.iter().map(String::as_str).collect();
                let kept: Vec<String> = current
                    .iter()
                    .filter(|a| !drop.contains(a.as_str()))
                    .cloned()
                    .collect();
                ((!kept.is_empty()).then_some(kept), removed)
            })
        })
        .await
    }

    async fn asset_record(&self, asset: &str) -> Result<Option<AssetRecord>> {
        let asset = asset.to_string();
        self.with_conn("sqlite asset record", false, move |t, conn| {
            assets::read_record(conn, t, &asset)
        })
        .await
    }

    async fn tracks_assets(&self) -> Result<bool> {
        self.with_conn("sqlite tracked", false, |t, conn| assets::tracked(conn, t))
            .await
    }

    /// One transaction for all the records.
    async fn record_assets(&self, records: &[(String, Vec<String>)]) -> Result<()> {
        let records = records.to_vec();
        self.with_conn("sqlite record assets", false, move |t, conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(&t.uri)?;
            require_schema(&tx, t)?;
            for (asset, quadkeys) in &records {
                assets::add_quadkeys(&tx, t, asset, quadkeys)?;
            }
            tx.commit().ctx(&t.uri)
        })
        .await
    }

    /// One `BEGIN IMMEDIATE` transaction: the record read, compared, written.
    async fn claim_asset(&self, event: &AssetEvent) -> Result<Claim> {
        let event = event.clone();
        self.with_conn("sqlite claim", false, move |t, conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(&t.uri)?;
            require_schema(&tx, t)?;
            let claim = assets::claim(&tx, t, &event)?;
            tx.commit().ctx(&t.uri)?;
            Ok(claim)
        })
        .await
    }

    /// One `BEGIN IMMEDIATE` transaction: the record checked, then the quadkey edited.
    async fn edit_claimed(
        &self,
        quadkey: &str,
        asset: &str,
        edit: Edit,
        sequencer: Option<&Sequencer>,
    ) -> Result<Edited> {
        check_quadkey(quadkey)?;
        let (qk, asset, seq, indexed) = (
            quadkey.to_string(),
            asset.to_string(),
            sequencer.cloned(),
            self.indexed.clone(),
        );
        self.with_conn("sqlite claimed edit", false, move |t, conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(&t.uri)?;
            require_schema(&tx, t)?;
            ensure_index(&tx, t, &indexed)?;
            if let Some(seq) = &seq
                && !assets::still_claimed(&tx, t, &asset, seq)?
            {
                return Ok(Edited::Superseded);
            }
            let one = [asset.clone()];
            let changed = apply_edit(&tx, t, &qk, |current| match edit {
                Edit::Add(at) => {
                    let (list, added) = add_edit(current, &one, at);
                    (list, !added.is_empty())
                }
                Edit::Remove => match current {
                    Some(c) if c.contains(&asset) => {
                        let kept: Vec<String> =
                            c.iter().filter(|a| **a != asset).cloned().collect();
                        ((!kept.is_empty()).then_some(kept), true)
                    }
                    other => (other.map(<[String]>::to_vec), false),
                },
            })?;
            tx.commit().ctx(&t.uri)?;
            indexed.store(true, Ordering::Release);
            Ok(if changed {
                Edited::Changed
            } else {
                Edited::Unchanged
            })
        })
        .await
    }

    /// One `SELECT` over the mosaic's table.
    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>> {
        self.with_conn("sqlite tiles", false, |t, conn| tiles_blocking(conn, t))
            .await
    }

    /// One `BEGIN IMMEDIATE` transaction: reads the metadata row, records the update
    /// ([`MosaicJson::record_update`] with `added`, or the current bounds), writes every
    /// metadata column back.
    async fn commit_metadata(&self, added: Option<[f64; 4]>) -> Result<MosaicJson> {
        self.with_conn("sqlite commit_metadata", false, move |t, conn| {
            let uri = t.uri.as_str();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(uri)?;
            require_schema(&tx, t)?;
            let doc = commit_metadata_in(&tx, t, added)?;
            tx.commit().ctx(uri)?;
            Ok(doc)
        })
        .await
    }
}
