//! Connections and the schema: opening read-only or writable (WAL, busy timeout), SQLite
//! failures as the crate's errors, and the schema look-ups (tables, columns, version).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{BUSY_TIMEOUT, SCHEMA_VERSION, Target};
use crate::error::Context;
use crate::{Error, Result};

/// `.ctx(uri)`: a rusqlite result as a crate result.
pub(super) trait Ctx<T> {
    fn ctx(self, uri: &str) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, uri: &str) -> Result<T> {
        self.map_err(|e| sql_error(uri, e))
    }
}

/// Maps a SQLite failure to the crate's error by its result code: a file that is not a
/// database (or is corrupt) is an invalid mosaic, a lock held past [`BUSY_TIMEOUT`] a
/// retryable storage error, the rest (I/O, permissions, SQL failures) a storage error. A
/// missing mosaic table is told by looking for it ([`on_table`]), never by message text.
fn sql_error(uri: &str, e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return Error::InvalidMosaic {
                    field: None,
                    reason: format!("{uri} is not a valid SQLite database: {e}"),
                };
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return Error::transient(
                    uri,
                    Context::new(format!("database still locked after {BUSY_TIMEOUT:?}"), e),
                );
            }
            _ => {}
        }
    }
    Error::storage(uri, e)
}

/// The outcome of statements on the mosaic's table: a storage failure while the table is
/// not there (dropped since it was checked, by this process or another) is
/// [`Error::NotFound`]. Looked up only after a failure, so reads cost nothing more.
pub(super) fn on_table<T>(conn: &Connection, t: &Target, outcome: Result<T>) -> Result<T> {
    match outcome {
        Err(Error::Storage { .. })
            if matches!(table_exists(conn, &t.uri, &t.mosaic), Ok(false)) =>
        {
            Err(t.not_found())
        }
        other => other,
    }
}

pub(super) fn memory_path(path: &str) -> bool {
    path == ":memory:"
}

/// Opens the database read-only; a missing file (or `:memory:`, which is always empty) is
/// [`Error::NotFound`].
pub(super) fn open_read_only(uri: &str, path: &str) -> Result<Connection> {
    if memory_path(path) || !Path::new(path).exists() {
        return Err(Error::NotFound {
            uri: uri.to_string(),
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).ctx(uri)?;
    conn.busy_timeout(BUSY_TIMEOUT).ctx(uri)?;
    // A WAL database on read-only media (a Lambda layer, a read-only image) cannot create
    // its `-shm` file: open it as immutable then (no locks; nobody can write there anyway).
    let probe = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    });
    match probe {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, ErrorCode::CannotOpen | ErrorCode::ReadOnly) =>
        {
            let encoded = path
                .replace('%', "%25")
                .replace('?', "%3f")
                .replace('#', "%23");
            let immutable = Connection::open_with_flags(
                format!("file:{encoded}?immutable=1"),
                flags | OpenFlags::SQLITE_OPEN_URI,
            )
            .ctx(uri)?;
            Ok(immutable)
        }
        _ => Ok(conn),
    }
}

/// Opens the database read-write (created when `create`, else a missing file is
/// [`Error::NotFound`]), with [`BUSY_TIMEOUT`] and WAL journal mode.
pub(super) fn open_writable(t: &Target, create: bool) -> Result<Connection> {
    let memory = memory_path(&t.path);
    if !memory && !create && !Path::new(&t.path).exists() {
        return Err(t.not_found());
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(&t.path, flags).ctx(&t.uri)?;
    conn.busy_timeout(BUSY_TIMEOUT).ctx(&t.uri)?;
    if !memory {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .ctx(&t.uri)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("{}: journal mode stays `{mode}` (WAL refused)", t.path);
        }
    }
    Ok(conn)
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Column names of `table` (empty when it does not exist).
pub(super) fn table_columns(conn: &Connection, uri: &str, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare_cached("SELECT name FROM pragma_table_info(?1)")
        .ctx(uri)?;
    let rows = stmt
        .query_map([table], |r| r.get::<_, String>(0))
        .ctx(uri)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx(uri)
}

pub(super) fn table_exists(conn: &Connection, uri: &str, table: &str) -> Result<bool> {
    conn.prepare_cached("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1")
        .ctx(uri)?
        .query_row([table], |r| r.get::<_, i64>(0))
        .map(|n| n > 0)
        .ctx(uri)
}

pub(super) fn user_version(conn: &Connection, uri: &str) -> Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx(uri)
}

/// Refuses edits of a database whose schema is not [`SCHEMA_VERSION`] (as cogeo-mosaic does).
pub(super) fn require_schema(conn: &Connection, t: &Target) -> Result<()> {
    match user_version(conn, &t.uri)? {
        SCHEMA_VERSION => Ok(()),
        v if v < SCHEMA_VERSION => Err(Error::InvalidInput(format!(
            "{}: the database has schema version {v}, which predates schema {SCHEMA_VERSION}: \
             its mosaics can be read but not updated (write the mosaic again to upgrade it)",
            t.path
        ))),
        v => Err(Error::InvalidInput(format!(
            "{}: the database has schema version {v}, newer than the schema {SCHEMA_VERSION} \
             this backend knows",
            t.path
        ))),
    }
}
