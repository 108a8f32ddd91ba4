//! Where each asset is listed, and the newest event applied to it: what lets a removal edit
//! only the Q quadkeys that list an asset (never the whole index) and lets events delivered
//! out of order (S3's at-least-once, unordered notifications) be told apart by their
//! `sequencer`.
//!
//! Every writer of ours keeps, beside the tile items, one *asset record* per asset
//! ([`AssetRecord`]): the quadkeys it was added to (a superset: written **before** the tile
//! edits, never shrunk, so a crash between the two leaves a record that names more quadkeys
//! than hold the asset, which a removal handles as no-ops), the newest event sequencer
//! applied and whether that event left the asset present. A mosaic written whole by us is
//! marked *tracked*: an asset without a record is then in no quadkey. Mosaics written by other
//! tools have no records; a removal there falls back to one scan of the index (logged).
//!
//! Ordering: [`TileIndex::claim_asset`] stores an event's sequencer only when it is not older
//! than the stored one (a conditional write), and each tile edit of that event is made only
//! while the record still holds its sequencer ([`TileIndex::edit_claimed`], one transaction
//! with the edit); an event that lost the record to a newer one stops, and its edits so far
//! are undone by the newer event's own.

use std::cmp::Ordering;

use crate::{Error, Result};

/// An S3 event sequencer (`s3.object.sequencer`, EventBridge `detail.sequencer`): hex digits
/// that order the events of one object key. Compared as AWS documents it: left-padded with
/// zeros to equal length, then as strings. Stored in this padded, upper-case form, so that a
/// database can compare two of them as strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sequencer(String);

/// The stored width of a sequencer (S3's are 16 to 20 hex digits today).
const SEQUENCER_WIDTH: usize = 64;

impl Sequencer {
    /// Parses a sequencer: 1 to 64 hex digits.
    pub fn parse(text: &str) -> Result<Sequencer> {
        let t = text.trim();
        if t.is_empty() || t.len() > SEQUENCER_WIDTH || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidInput(format!(
                "event sequencer `{text}` is not 1 to {SEQUENCER_WIDTH} hex digits"
            )));
        }
        Ok(Sequencer(format!(
            "{:0>width$}",
            t.to_ascii_uppercase(),
            width = SEQUENCER_WIDTH
        )))
    }

    /// The padded form, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialOrd for Sequencer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sequencer {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// What the index knows of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssetRecord {
    /// Every quadkey the asset was added to (a superset of those listing it), sorted.
    pub quadkeys: Vec<String>,
    /// The newest event applied to the asset, when events carried one.
    pub sequencer: Option<Sequencer>,
    /// Whether that event left the asset in the mosaic.
    pub present: bool,
}

/// An event on one asset, as [`TileIndex::claim_asset`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetEvent {
    /// The asset as stored (no `asset_prefix`).
    pub asset: String,
    /// The event's sequencer; `None` (edits of the CLI) always applies.
    pub sequencer: Option<Sequencer>,
    /// Created (`true`) or removed.
    pub present: bool,
    /// Quadkeys the asset goes to (created; added to the record), or none (removed).
    pub quadkeys: Vec<String>,
}

/// The answer of [`TileIndex::claim_asset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The event is the newest: it was recorded. Holds the record as it was before (`None`:
    /// there was none).
    Applied(Option<AssetRecord>),
    /// A newer event was applied already (its record is held): this one changes nothing.
    Stale(AssetRecord),
}

/// One edit of [`TileIndex::edit_claimed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Add the asset (at this end of the list) when it is not listed.
    Add(super::Position),
    /// Remove the asset when it is listed.
    Remove,
}

/// The answer of [`TileIndex::edit_claimed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edited {
    /// The quadkey changed.
    Changed,
    /// Nothing to do (already listed / not listed).
    Unchanged,
    /// A newer event holds the asset's record: nothing was written, and the event stops.
    Superseded,
}

/// Asset → quadkeys of a tile map (each asset's quadkeys in the map's order).
pub fn invert(tiles: &indexmap::IndexMap<String, Vec<String>>) -> Vec<(String, Vec<String>)> {
    let mut by_asset: indexmap::IndexMap<&str, Vec<String>> = indexmap::IndexMap::new();
    for (qk, assets) in tiles {
        for a in assets {
            by_asset.entry(a.as_str()).or_default().push(qk.clone());
        }
    }
    by_asset
        .into_iter()
        .map(|(a, qks)| (a.to_string(), qks))
        .collect()
}

/// Whether an event with `sequencer` may be applied over `stored`: not older (an equal one is
/// the same event delivered again, and must be able to finish what a failed delivery began).
pub fn applies(stored: Option<&Sequencer>, sequencer: Option<&Sequencer>) -> bool {
    match (stored, sequencer) {
        (Some(s), Some(new)) => new >= s,
        _ => true,
    }
}

#[cfg(doc)]
use super::TileIndex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencers_compare_as_aws_documents() {
        let a = Sequencer::parse("0055AED6DCD90281E5").unwrap();
        let b = Sequencer::parse("0055AED6DCD90281E6").unwrap();
        assert!(a < b);
        // Left-padded to equal length: a shorter one is smaller, whatever its digits.
        assert!(Sequencer::parse("FF").unwrap() < Sequencer::parse("100").unwrap());
        assert_eq!(
            Sequencer::parse("ab").unwrap(),
            Sequencer::parse("00AB").unwrap()
        );
        assert!(Sequencer::parse("xyz").is_err());
        assert!(Sequencer::parse("").is_err());
        assert!(applies(Some(&a), Some(&b)));
        assert!(
            applies(Some(&a), Some(&a)),
            "a redelivery finishes its work"
        );
        assert!(!applies(Some(&b), Some(&a)));
        assert!(applies(None, Some(&a)) && applies(Some(&a), None));
    }
}
