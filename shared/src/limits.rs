//! Budgets that bound what one request may cost: document size after decompression,
//! quadkeys visited by a look-up, pixels and bytes of a tile. Exceeding one is
//! [`Error::LimitExceeded`] (HTTP 413, CLI exit 65), never an allocation that kills the
//! process. Defaults are sized for a 1,024 MB Lambda serving one request at a time with
//! `MOSAIC_CONCURRENCY` = 10 reads in flight.

use crate::{Error, Result};

/// The budgets; see the module documentation. Read at the edges with [`Limits::from_lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest MosaicJSON document accepted, in bytes after gunzip
    /// (`MOSAIC_MAX_DOCUMENT_BYTES`, default 64 MiB).
    pub max_document_bytes: u64,
    /// Most quadkeys one look-up may visit (a bbox's tiles at the quadkey zoom, or the
    /// 4^(quadkey_zoom − z) children a low-zoom tile spans) (`MOSAIC_MAX_LOOKUP_QUADKEYS`,
    /// default 65,536).
    pub max_lookup_quadkeys: u64,
    /// Most pixels of one tile read grid: (tilesize + 2 × buffer + 2 × padding)²
    /// (`MOSAIC_MAX_TILE_PIXELS`, default 1,048,576 = 1024²).
    pub max_tile_pixels: u64,
    /// Most bytes one asset read may decode: output pixels × bands × (type size + 16): the
    /// GDAL buffer, the decoded `f64` values and the image's copy (`MOSAIC_MAX_READ_BYTES`,
    /// default 64 MiB: a 1024² RGBA byte tile is 68 MB, a 512² one 17 MB).
    pub max_read_bytes: u64,
    /// Most GDAL reads in flight across all requests of a process
    /// (`MOSAIC_MAX_CONCURRENT_READS`, default 8): with `max_read_bytes`, what bounds the
    /// decoded pixels in memory at once (8 × 64 MiB).
    pub max_concurrent_reads: u64,
    /// Most items one STAC search may return (`MOSAIC_MAX_STAC_ITEMS`, default 10,000): a
    /// search that finds more is refused, unless its `max_items` stops it first.
    pub max_stac_items: u64,
    /// Most (item, quadkey) pairs a STAC search's mosaic may hold, estimated from each
    /// item's bbox at the quadkey zoom before any is placed (`MOSAIC_MAX_STAC_TILES`,
    /// default 1,048,576).
    pub max_stac_tiles: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 64 << 20,
            max_lookup_quadkeys: 1 << 16,
            max_tile_pixels: 1 << 20,
            max_read_bytes: 64 << 20,
            max_concurrent_reads: 8,
            max_stac_items: 10_000,
            max_stac_tiles: 1 << 20,
        }
    }
}

impl Limits {
    /// No budget at all (the CLI's default: its user is the operator).
    pub fn unlimited() -> Limits {
        Limits {
            max_document_bytes: u64::MAX,
            max_lookup_quadkeys: u64::MAX,
            max_tile_pixels: u64::MAX,
            max_read_bytes: u64::MAX,
            max_concurrent_reads: u64::MAX,
            max_stac_items: u64::MAX,
            max_stac_tiles: u64::MAX,
        }
    }

    /// Reads `MOSAIC_MAX_DOCUMENT_BYTES`, `MOSAIC_MAX_LOOKUP_QUADKEYS`,
    /// `MOSAIC_MAX_TILE_PIXELS` and `MOSAIC_MAX_READ_BYTES` through `get`; unset or
    /// unparsable values keep the defaults (with a warning for the latter).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Limits {
        let mut l = Limits::default();
        for (key, slot) in [
            ("MOSAIC_MAX_DOCUMENT_BYTES", &mut l.max_document_bytes),
            ("MOSAIC_MAX_LOOKUP_QUADKEYS", &mut l.max_lookup_quadkeys),
            ("MOSAIC_MAX_TILE_PIXELS", &mut l.max_tile_pixels),
            ("MOSAIC_MAX_READ_BYTES", &mut l.max_read_bytes),
            ("MOSAIC_MAX_CONCURRENT_READS", &mut l.max_concurrent_reads),
            ("MOSAIC_MAX_STAC_ITEMS", &mut l.max_stac_items),
            ("MOSAIC_MAX_STAC_TILES", &mut l.max_stac_tiles),
        ] {
            if let Some(v) = get(key) {
                match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => *slot = n,
                    _ => tracing::warn!("{key}={v:?} is not a positive number; using {slot}"),
                }
            }
        }
        l
    }
}

/// [`Error::LimitExceeded`] when `value` > `limit`.
pub fn check(
    what: impl FnOnce() -> String,
    value: u64,
    limit: u64,
    setting: &'static str,
) -> Result<()> {
    if value > limit {
        return Err(Error::LimitExceeded {
            what: what(),
            limit,
            setting,
            detail: None,
        });
    }
    Ok(())
}

/// Reads at most `limit` bytes from `reader`; more is [`Error::LimitExceeded`] for `what`.
/// A read failure becomes what `on_error` makes of it (a data error for a gzip stream, an
/// I/O error for a file).
pub fn read_bounded(
    mut reader: impl std::io::Read,
    limit: u64,
    what: &str,
    on_error: impl FnOnce(std::io::Error) -> Error,
) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    reader
        .by_ref()
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(on_error)?;
    if out.len() as u64 > limit {
        return Err(Error::LimitExceeded {
            what: format!("{what} (more than {limit} bytes)"),
            limit,
            setting: "MOSAIC_MAX_DOCUMENT_BYTES",
            detail: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_bounded_reads() {
        let l = Limits::from_lookup(|k| (k == "MOSAIC_MAX_TILE_PIXELS").then(|| "10".into()));
        assert_eq!(l.max_tile_pixels, 10);
        assert_eq!(l.max_document_bytes, Limits::default().max_document_bytes);
        let bad = Limits::from_lookup(|_| Some("-1".into()));
        assert_eq!(bad, Limits::default());
        let io = |e| Error::io("doc", e);
        assert_eq!(read_bounded(&b"abc"[..], 3, "doc", io).unwrap(), b"abc");
        let e = read_bounded(std::io::repeat(0), 1000, "doc", io).unwrap_err();
        assert_eq!(e.http_status(), 413);
        assert!(check(|| "x".into(), 5, 4, "S").is_err());
        assert!(check(|| "x".into(), 4, 4, "S").is_ok());
    }
}
