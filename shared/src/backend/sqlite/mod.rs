//! SQLite (`sqlite:///{path}:{mosaic}`): cogeo-mosaic's storage layout, looked up with
//! indexed range queries, written in one transaction, edited per quadkey atomically.
//!
//! # Layout (identical to cogeo-mosaic, so either side reads the other's mosaics)
//!
//! One database file holds many mosaics.
//!
//! - `PRAGMA user_version = 3` (cogeo-mosaic's schema version; databases written before it
//!   have `0`).
//! - `mosaicjson_metadata`: one row per mosaic, the 16 MosaicJSON fields other than `tiles`
//!   as columns, with cogeo-mosaic's declared types ([`METADATA_COLUMNS`]). `bounds`,
//!   `center`, `tilematrixset`, `colormap` and `layers` are declared `JSON` and hold the
//!   text Python's `json.dumps` prints (`", "` / `": "` separators, Python float layout,
//!   non-ASCII escaped), so Python's `sqlite3` with `detect_types=PARSE_DECLTYPES` decodes
//!   them as cogeo-mosaic does. The `name` column is the mosaic name of the URI: as
//!   cogeo-mosaic does, a document's own `name` is replaced by it. Unknown top-level keys of
//!   a document ([`MosaicJson::extra`]) are **not stored**: the table has no column for them.
//! - one table per mosaic, named after it: `"<name>"(quadkey TEXT NOT NULL, assets JSON NOT
//!   NULL)`, `assets` a `json.dumps` list of strings.
//!
//! Rows are byte-identical to cogeo-mosaic's for the same document, but for `tilematrixset`:
//! cogeo-mosaic's dump also lists the TMS's absent members as `null` (`"description": null`,
//! ...); ours omits them. Both decode to the same TileMatrixSet.
//!
//! Legacy databases (`user_version` 0, only the first 10 metadata columns) are read through
//! the columns they have (`PRAGMA table_info`). A quadkey stored in several rows (never by
//! this backend) reads as its first row, by `rowid`, as cogeo-mosaic's `fetchone` reads it.
//!
//! # Errors
//!
//! A missing file, metadata row or mosaic table is [`Error::NotFound`]; a file that is not a
//! SQLite database, a metadata row that does not decode (bad JSON, `NULL` in a `NOT NULL`
//! column) or an `assets` cell that is not a JSON list of strings is
//! [`Error::InvalidMosaic`]; a lock still held after [`BUSY_TIMEOUT`] and other SQLite
//! failures are [`Error::Storage`]; editing a database whose schema is not 3 is
//! [`Error::InvalidInput`].
//!
//! # Beyond cogeo-mosaic
//!
//! - Each mosaic table gets an index on `quadkey`, named `"<name>:quadkey"`: mosaic names
//!   are `[A-Za-z0-9_.-]`, so that name can never be another mosaic's table. It is created
//!   by [`SqliteWriter::write`](MosaicWrite::write), and on the first edit of a mosaic written by cogeo-mosaic
//!   (which creates none). cogeo-mosaic ignores it; `DROP TABLE` drops it with the table.
//! - A tile below `quadkey_zoom` is one range query over the index
//!   (`quadkey >= prefix AND quadkey < upper bound`), not 4^(qz−z) point queries.
//! - Writable connections switch the database to WAL journal mode (persistent: the file
//!   stays in WAL mode, and `-wal`/`-shm` files appear beside it while it is open), so
//!   readers never wait for a writer. WAL needs a local file system.
//! - Every connection has a 10 s `busy_timeout` ([`BUSY_TIMEOUT`]): concurrent writers, in
//!   this process or others, queue instead of failing with "database is locked".
//! - Writes, per-quadkey edits and metadata commits each run in one `BEGIN IMMEDIATE`
//!   transaction: all or nothing, and safe with any number of concurrent writers.
//! - `update` inserts quadkeys the mosaic did not have (cogeo-mosaic's only updates
//!   existing rows), never adds an asset a quadkey already lists, and upgrades `mosaicjson`
//!   to 0.0.3 as the other backends do.
//! - Writing into a legacy database adds the 6 missing metadata columns (`ALTER TABLE`) and
//!   sets `user_version` 3, instead of failing on the missing columns; its mosaics stay
//!   readable by both sides. Updating requires schema 3, as in cogeo-mosaic.
//!
//! # Connections
//!
//! A [`SqliteReader`] keeps one read-only connection and the metadata read when it was
//! opened (reopen it to see a later update's metadata; tiles are always read live). A
//! [`SqliteWriter`] opens one read-write connection on first use (creating the file only for
//! [`SqliteWriter::write`](MosaicWrite::write)). Each connection sits behind a mutex (calls through one backend
//! are serialised) and every SQLite call runs on tokio's blocking pool. Writers in other
//! processes, cogeo-mosaic included, are coordinated by SQLite's own locks.
//!
//! # Modules
//!
//! `connection` opens connections and maps SQLite failures; `metadata` reads and writes the
//! metadata table; `read` holds [`SqliteReader`]; `write` holds [`SqliteWriter`] and its
//! whole-document writes; `edits` its per-quadkey edits ([`TileIndex`](super::TileIndex)).

mod assets;
mod connection;
mod edits;
mod metadata;
mod read;
mod write;

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::Serialize;

#[cfg(doc)]
use super::MosaicWrite;
#[cfg(doc)]
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result, pyjson};

pub use metadata::list_mosaics;
pub use read::SqliteReader;
pub use write::SqliteWriter;

/// The schema version (`PRAGMA user_version`) this backend writes and updates.
pub const SCHEMA_VERSION: i64 = 3;

/// The metadata table (a reserved mosaic name).
pub const METADATA_TABLE: &str = "mosaicjson_metadata";

/// How long a connection waits for another writer's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The columns of [`METADATA_TABLE`] as cogeo-mosaic declares them: name, declared type,
/// `NOT NULL`. The first 10 are the legacy (schema 0) table.
pub const METADATA_COLUMNS: [(&str, &str, bool); 16] = [
    ("mosaicjson", "TEXT", true),
    ("name", "TEXT", true),
    ("description", "TEXT", false),
    ("version", "TEXT", true),
    ("attribution", "TEXT", false),
    ("minzoom", "INTEGER", true),
    ("maxzoom", "INTEGER", true),
    ("quadkey_zoom", "INTEGER", false),
    ("bounds", "JSON", true),
    ("center", "JSON", false),
    ("tilematrixset", "JSON", false),
    ("asset_type", "TEXT", false),
    ("asset_prefix", "TEXT", false),
    ("data_type", "TEXT", false),
    ("colormap", "JSON", false),
    ("layers", "JSON", false),
];

/// Where a mosaic lives, with its SQL identifiers quoted once.
#[derive(Debug)]
struct Target {
    uri: String,
    path: String,
    mosaic: String,
    /// `"<name>"`.
    table: String,
    /// `"<name>:quadkey"`.
    index: String,
    /// `"<name>:assets"`: the asset records.
    assets: String,
}

impl Target {
    fn new(uri: &str, path: &str, mosaic: &str) -> Target {
        Target {
            uri: uri.to_string(),
            path: path.to_string(),
            mosaic: mosaic.to_string(),
            table: quote(mosaic),
            index: quote(&format!("{mosaic}:quadkey")),
            assets: quote(&format!("{mosaic}:assets")),
        }
    }

    /// The records table's name, unquoted.
    fn assets_name(&self) -> String {
        format!("{}:assets", self.mosaic)
    }

    fn not_found(&self) -> Error {
        Error::NotFound {
            uri: self.uri.clone(),
        }
    }
}

/// A quoted SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Refuses what the URI parser refuses: reserved or malformed mosaic names.
fn check_name(uri: &str, mosaic: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidUri {
        uri: uri.to_string(),
        reason: reason.to_string(),
    };
    if mosaic.eq_ignore_ascii_case(METADATA_TABLE) {
        return Err(bad("`mosaicjson_metadata` is a reserved name"));
    }
    if mosaic.is_empty()
        || !mosaic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(bad("a SQLite mosaic name uses [A-Za-z0-9_.-]"));
    }
    Ok(())
}

/// Python's `json.dumps(value)` text.
fn py_dumps<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing JSON values and string lists cannot fail.
    pyjson::dumps(value).unwrap_or_default()
}
