//! Asset records ([`crate::backend::assets`]) in SQLite: the table `"<name>:assets"` (no
//! mosaic takes the name: `:` is not allowed in mosaic names, and cogeo-mosaic lists only the
//! names of its metadata table), `asset TEXT PRIMARY KEY, quadkeys JSON, sequencer TEXT,
//! present INTEGER`. The row with `asset = ''` marks a mosaic whose assets all have records.
//! Claims and claimed edits run inside the caller's `BEGIN IMMEDIATE` transaction with the
//! tile edit, so the check and the edit cannot race.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension};

use super::connection::{Ctx, table_exists};
use super::{Target, py_dumps};
use crate::Result;
use crate::backend::assets::{AssetEvent, AssetRecord, Claim, Sequencer, applies, invert};
use crate::mosaicjson::MosaicJson;

/// Creates the records table when missing.
pub(super) fn ensure_table(conn: &Connection, t: &Target) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {} (asset TEXT PRIMARY KEY, quadkeys JSON NOT NULL, sequencer TEXT, present INTEGER NOT NULL DEFAULT 1)",
        t.assets
    ))
    .ctx(&t.uri)
}

/// The record of `asset`; `None` without one (or without the table).
pub(super) fn read_record(
    conn: &Connection,
    t: &Target,
    asset: &str,
) -> Result<Option<AssetRecord>> {
    if !table_exists(conn, &t.uri, &t.assets_name())? {
        return Ok(None);
    }
    let row: Option<(String, Option<String>, i64)> = conn
        .prepare_cached(&format!(
            "SELECT quadkeys, sequencer, present FROM {} WHERE asset = ?1",
            t.assets
        ))
        .ctx(&t.uri)?
        .query_row([asset], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .ctx(&t.uri)?;
    Ok(row.map(|(quadkeys, sequencer, present)| {
        let mut quadkeys: Vec<String> = serde_json::from_str(&quadkeys).unwrap_or_default();
        quadkeys.sort();
        AssetRecord {
            quadkeys,
            sequencer: sequencer.and_then(|s| Sequencer::parse(&s).ok()),
            present: present != 0,
        }
    }))
}

/// Whether the marker of a fully recorded mosaic is there.
pub(super) fn tracked(conn: &Connection, t: &Target) -> Result<bool> {
    Ok(read_record(conn, t, "")?.is_some())
}

/// Stores `record` for `asset`.
fn store(conn: &Connection, t: &Target, asset: &str, record: &AssetRecord) -> Result<()> {
    ensure_table(conn, t)?;
    conn.execute(
        &format!(
            "INSERT INTO {} (asset, quadkeys, sequencer, present) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(asset) DO UPDATE SET quadkeys = ?2, sequencer = ?3, present = ?4",
            t.assets
        ),
        (
            asset,
            py_dumps(&record.quadkeys),
            record.sequencer.as_ref().map(|s| s.as_str().to_string()),
            i64::from(record.present),
        ),
    )
    .ctx(&t.uri)?;
    Ok(())
}

/// `quadkeys` added to the record of `asset` (created, present, when missing).
pub(super) fn add_quadkeys(
    conn: &Connection,
    t: &Target,
    asset: &str,
    quadkeys: &[String],
) -> Result<()> {
    let mut record = read_record(conn, t, asset)?.unwrap_or_default();
    let all: BTreeSet<String> = record
        .quadkeys
        .drain(..)
        .chain(quadkeys.iter().cloned())
        .collect();
    record.quadkeys = all.into_iter().collect();
    record.present = true;
    store(conn, t, asset, &record)
}

/// [`crate::backend::TileIndex::claim_asset`] inside the caller's transaction.
pub(super) fn claim(conn: &Connection, t: &Target, event: &AssetEvent) -> Result<Claim> {
    let previous = read_record(conn, t, &event.asset)?;
    let stored = previous.as_ref().and_then(|r| r.sequencer.as_ref());
    if !applies(stored, event.sequencer.as_ref()) {
        return Ok(Claim::Stale(previous.unwrap_or_default()));
    }
    let mut record = previous.clone().unwrap_or_default();
    let all: BTreeSet<String> = record
        .quadkeys
        .drain(..)
        .chain(event.quadkeys.iter().cloned())
        .collect();
    record.quadkeys = all.into_iter().collect();
    record.present = event.present;
    if event.sequencer.is_some() {
        record.sequencer = event.sequencer.clone();
    }
    store(conn, t, &event.asset, &record)?;
    Ok(Claim::Applied(previous))
}

/// Whether `asset`'s record still holds `seq`.
pub(super) fn still_claimed(
    conn: &Connection,
    t: &Target,
    asset: &str,
    seq: &Sequencer,
) -> Result<bool> {
    Ok(read_record(conn, t, asset)?
        .and_then(|r| r.sequencer)
        .as_ref()
        == Some(seq))
}

/// Replaces every record with those of `doc`'s assets, and marks the mosaic tracked.
pub(super) fn write_all(conn: &Connection, t: &Target, doc: &MosaicJson) -> Result<()> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", t.assets))
        .ctx(&t.uri)?;
    ensure_table(conn, t)?;
    let mut insert = conn
        .prepare(&format!(
            "INSERT INTO {} (asset, quadkeys, present) VALUES (?1, ?2, 1)",
            t.assets
        ))
        .ctx(&t.uri)?;
    for (asset, quadkeys) in invert(&doc.tiles) {
        insert.execute((asset, py_dumps(&quadkeys))).ctx(&t.uri)?;
    }
    insert.execute(("", "[]")).ctx(&t.uri)?;
    Ok(())
}

/// Drops the records table.
pub(super) fn drop_all(conn: &Connection, t: &Target) -> Result<()> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", t.assets))
        .ctx(&t.uri)
}
