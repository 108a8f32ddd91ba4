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
//!   by [`SqliteWriter::write`], and on the first edit of a mosaic written by cogeo-mosaic
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
//! A [`SqliteBackend`] keeps one read-only connection and the metadata read when it was
//! opened (reopen it to see a later update's metadata; tiles are always read live). A
//! [`SqliteWriter`] opens one read-write connection on first use (creating the file only for
//! [`SqliteWriter::write`]). Each connection sits behind a mutex (calls through one backend
//! are serialised) and every SQLite call runs on tokio's blocking pool. Writers in other
//! processes, cogeo-mosaic included, are coordinated by SQLite's own locks.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{MosaicRead, MosaicWrite, Position, TileIndex, WriteMode};
use crate::create::{Footprint, UpdateOptions};
use crate::error::{Context, run_blocking};
use crate::index::{self, Lookup, LookupOptions, QuadkeyQuery};
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result, pyjson};

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
}

impl Target {
    fn new(uri: &str, path: &str, mosaic: &str) -> Target {
        Target {
            uri: uri.to_string(),
            path: path.to_string(),
            mosaic: mosaic.to_string(),
            table: quote(mosaic),
            index: quote(&format!("{mosaic}:quadkey")),
        }
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

/// Maps a SQLite failure to the crate's error: a file that is not a database (or is
/// corrupt) is an invalid mosaic, a vanished table is a missing mosaic, the rest (locks held
/// past [`BUSY_TIMEOUT`], I/O, permissions) a storage error.
fn sql_error(uri: &str, e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
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
            _ if msg
                .as_deref()
                .is_some_and(|m| m.starts_with("no such table")) =>
            {
                return Error::NotFound {
                    uri: uri.to_string(),
                };
            }
            _ => {}
        }
    }
    Error::storage(uri, e)
}

/// `.ctx(uri)`: a rusqlite result as a crate result.
trait Ctx<T> {
    fn ctx(self, uri: &str) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, uri: &str) -> Result<T> {
        self.map_err(|e| sql_error(uri, e))
    }
}

/// Python's `json.dumps(value)` text.
fn py_dumps<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing JSON values and string lists cannot fail.
    pyjson::dumps(value).unwrap_or_default()
}

fn memory_path(path: &str) -> bool {
    path == ":memory:"
}

/// Opens the database read-only; a missing file (or `:memory:`, which is always empty) is
/// [`Error::NotFound`].
fn open_read_only(uri: &str, path: &str) -> Result<Connection> {
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
fn open_writable(t: &Target, create: bool) -> Result<Connection> {
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Column names of `table` (empty when it does not exist).
fn table_columns(conn: &Connection, uri: &str, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare_cached("SELECT name FROM pragma_table_info(?1)")
        .ctx(uri)?;
    let rows = stmt
        .query_map([table], |r| r.get::<_, String>(0))
        .ctx(uri)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx(uri)
}

fn table_exists(conn: &Connection, uri: &str, table: &str) -> Result<bool> {
    conn.prepare_cached("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1")
        .ctx(uri)?
        .query_row([table], |r| r.get::<_, i64>(0))
        .map(|n| n > 0)
        .ctx(uri)
}

fn user_version(conn: &Connection, uri: &str) -> Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx(uri)
}

/// Refuses edits of a database whose schema is not [`SCHEMA_VERSION`] (as cogeo-mosaic does).
fn require_schema(conn: &Connection, t: &Target) -> Result<()> {
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

/// A metadata cell as JSON: `JSON` columns parsed, others as their SQLite value.
fn cell_value(t: &Target, column: &str, json: bool, v: ValueRef<'_>) -> Result<Value> {
    let bad = |reason: String| Error::invalid_field(column, format!("{}: {reason}", t.uri));
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| bad(format!("{f} is not a finite number")))?,
        ValueRef::Text(bytes) => {
            let text = std::str::from_utf8(bytes)
                .map_err(|e| bad(format!("stored text is not UTF-8: {e}")))?;
            if json {
                serde_json::from_str(text)
                    .map_err(|e| bad(format!("stored value is not JSON ({e}): {text}")))?
            } else {
                Value::String(text.to_string())
            }
        }
        ValueRef::Blob(_) => return Err(bad("stored value is a BLOB".into())),
    })
}

/// Reads the mosaic's metadata row (through the columns the table has) and checks its
/// tile table exists. Either missing is [`Error::NotFound`].
fn read_metadata(conn: &Connection, t: &Target) -> Result<MosaicJson> {
    let present = table_columns(conn, &t.uri, METADATA_TABLE)?;
    if present.is_empty() {
        return Err(t.not_found());
    }
    if !present.iter().any(|c| c == "name") {
        return Err(Error::InvalidMosaic {
            field: None,
            reason: format!("{}: `{METADATA_TABLE}` has no `name` column", t.uri),
        });
    }
    let columns: Vec<(&str, &str, bool)> = METADATA_COLUMNS
        .into_iter()
        .filter(|(c, _, _)| present.iter().any(|p| p == c))
        .collect();
    let sql = format!(
        "SELECT {} FROM {METADATA_TABLE} WHERE name = ?1 LIMIT 1",
        columns
            .iter()
            .map(|(c, _, _)| quote(c))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut stmt = conn.prepare(&sql).ctx(&t.uri)?;
    let mut rows = stmt.query([&t.mosaic]).ctx(&t.uri)?;
    let Some(row) = rows.next().ctx(&t.uri)? else {
        return Err(t.not_found());
    };
    let mut meta = Map::new();
    for (i, (column, decl, not_null)) in columns.iter().enumerate() {
        let v = cell_value(t, column, *decl == "JSON", row.get_ref(i).ctx(&t.uri)?)?;
        if *not_null && v.is_null() {
            return Err(Error::invalid_field(
                column,
                format!("{}: NULL in a NOT NULL column", t.uri),
            ));
        }
        meta.insert((*column).to_string(), v);
    }
    drop(rows);
    if !table_exists(conn, &t.uri, &t.mosaic)? {
        tracing::warn!(
            "{}: `{}` is in {METADATA_TABLE} but has no table",
            t.path,
            t.mosaic
        );
        return Err(t.not_found());
    }
    MosaicJson::from_metadata(meta)
}

/// The 16 metadata column values of `doc`, named `mosaic`, as cogeo-mosaic binds them.
fn metadata_values(doc: &MosaicJson, mosaic: &str) -> Vec<SqlValue> {
    let mut meta = doc.metadata();
    meta.insert("name".into(), Value::String(mosaic.to_string()));
    METADATA_COLUMNS
        .iter()
        .map(
            |(column, decl, _)| match meta.get(*column).unwrap_or(&Value::Null) {
                Value::Null => SqlValue::Null,
                v if *decl == "JSON" => SqlValue::Text(py_dumps(v)),
                Value::String(s) => SqlValue::Text(s.clone()),
                Value::Number(n) => n
                    .as_i64()
                    .map(SqlValue::Integer)
                    .or_else(|| n.as_f64().map(SqlValue::Real))
                    .unwrap_or(SqlValue::Null),
                Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
                other => SqlValue::Text(py_dumps(other)),
            },
        )
        .collect()
}

/// Parses a stored asset list.
fn parse_assets(t: &Target, quadkey: &str, v: ValueRef<'_>) -> Result<Vec<String>> {
    let parsed = match v {
        ValueRef::Text(bytes) => serde_json::from_slice::<Vec<String>>(bytes).ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        Error::invalid_field(
            "tiles",
            format!(
                "{}: the assets of quadkey `{quadkey}` are not a JSON list of strings",
                t.uri
            ),
        )
    })
}

/// The smallest string greater than every string starting with `prefix` (`None`: no bound).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Raw assets of one query. Exact: the first row of the quadkey; prefix: every key of the
/// mosaic's quadkey zoom `qz` in the range, in key order (first row of each key).
fn query_blocking(
    conn: &Connection,
    t: &Target,
    qz: usize,
    q: &QuadkeyQuery,
) -> Result<Vec<String>> {
    match q {
        QuadkeyQuery::Exact(qk) => {
            let sql = format!(
                "SELECT assets FROM {} WHERE quadkey = ?1 ORDER BY rowid LIMIT 1",
                t.table
            );
            let mut stmt = conn.prepare_cached(&sql).ctx(&t.uri)?;
            let mut rows = stmt.query([qk]).ctx(&t.uri)?;
            match rows.next().ctx(&t.uri)? {
                Some(row) => parse_assets(t, qk, row.get_ref(0).ctx(&t.uri)?),
                None => Ok(Vec::new()),
            }
        }
        QuadkeyQuery::Prefix(prefix) => {
            let upper = prefix_upper_bound(prefix);
            let mut params: Vec<&str> = Vec::new();
            let filter = match (prefix.is_empty(), &upper) {
                (true, _) => "",
                (false, Some(upper)) => {
                    params.extend([prefix.as_str(), upper.as_str()]);
                    "WHERE quadkey >= ?1 AND quadkey < ?2"
                }
                (false, None) => {
                    params.push(prefix);
                    "WHERE quadkey >= ?1"
                }
            };
            let sql = format!(
                "SELECT quadkey, assets FROM {} {filter} ORDER BY quadkey, rowid",
                t.table
            );
            let mut stmt = conn.prepare_cached(&sql).ctx(&t.uri)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(params)).ctx(&t.uri)?;
            let mut out = Vec::new();
            let mut previous: Option<String> = None;
            while let Some(row) = rows.next().ctx(&t.uri)? {
                let key = match row.get_ref(0).ctx(&t.uri)? {
                    ValueRef::Text(k) => std::str::from_utf8(k).unwrap_or(""),
                    _ => "",
                };
                // Keys of another length are not quadkeys of this mosaic's level.
                if key.len() != qz || !key.starts_with(prefix.as_str()) {
                    continue;
                }
                if previous.as_deref() == Some(key) {
                    continue;
                }
                let key = key.to_string();
                out.extend(parse_assets(t, &key, row.get_ref(1).ctx(&t.uri)?)?);
                previous = Some(key);
            }
            Ok(out)
        }
    }
}

fn tiles_blocking(conn: &Connection, t: &Target) -> Result<Vec<(String, Vec<String>)>> {
    let sql = format!("SELECT quadkey, assets FROM {} ORDER BY rowid", t.table);
    let mut stmt = conn.prepare_cached(&sql).ctx(&t.uri)?;
    let mut rows = stmt.query([]).ctx(&t.uri)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx(&t.uri)? {
        let key: String = row.get(0).ctx(&t.uri)?;
        let assets = parse_assets(t, &key, row.get_ref(1).ctx(&t.uri)?)?;
        out.push((key, assets));
    }
    Ok(out)
}

fn quadkeys_blocking(conn: &Connection, t: &Target) -> Result<Vec<String>> {
    let sql = format!("SELECT quadkey FROM {} ORDER BY rowid", t.table);
    let mut stmt = conn.prepare_cached(&sql).ctx(&t.uri)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).ctx(&t.uri)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx(&t.uri)
}

/// A mosaic of a SQLite database, opened for reading: metadata read once, tiles looked up
/// per request through one read-only connection.
#[derive(Debug)]
pub struct SqliteBackend {
    target: Arc<Target>,
    doc: Arc<MosaicJson>,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteBackend {
    /// Opens mosaic `mosaic` of database file `path` (`uri` names it in errors).
    ///
    /// Errors: [`Error::NotFound`] when the file, the metadata row or the mosaic table is
    /// missing (`:memory:` is always empty); [`Error::InvalidMosaic`] for a file that is not
    /// a SQLite database or a corrupt metadata row; [`Error::InvalidUri`] for a reserved or
    /// malformed name.
    pub async fn open(uri: &str, path: &str, mosaic: &str) -> Result<SqliteBackend> {
        check_name(uri, mosaic)?;
        let target = Arc::new(Target::new(uri, path, mosaic));
        let t = target.clone();
        let (conn, doc) = run_blocking("sqlite open", move || {
            let conn = open_read_only(&t.uri, &t.path)?;
            let doc = read_metadata(&conn, &t)?;
            Ok((conn, doc))
        })
        .await?;
        Ok(SqliteBackend {
            target,
            doc: Arc::new(doc),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &str {
        &self.target.path
    }

    /// The mosaic (table) name.
    pub fn mosaic_name(&self) -> &str {
        &self.target.mosaic
    }
}

#[async_trait]
impl MosaicRead for SqliteBackend {
    fn uri(&self) -> &str {
        &self.target.uri
    }

    fn backend_name(&self) -> &'static str {
        "SQLite"
    }

    fn document(&self) -> Arc<MosaicJson> {
        self.doc.clone()
    }

    async fn query(&self, q: &QuadkeyQuery) -> Result<Vec<String>> {
        let (conn, t, q) = (self.conn.clone(), self.target.clone(), q.clone());
        let qz = usize::from(self.doc.effective_quadkey_zoom());
        run_blocking("sqlite query", move || {
            query_blocking(&lock(&conn), &t, qz, &q)
        })
        .await
    }

    async fn quadkeys(&self) -> Result<Vec<String>> {
        let (conn, t) = (self.conn.clone(), self.target.clone());
        run_blocking("sqlite quadkeys", move || {
            quadkeys_blocking(&lock(&conn), &t)
        })
        .await
    }

    /// One `SELECT` over the mosaic's table.
    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>> {
        let (conn, t) = (self.conn.clone(), self.target.clone());
        run_blocking("sqlite tiles", move || tiles_blocking(&lock(&conn), &t)).await
    }

    /// All queries of the look-up in one blocking call and one read transaction (one
    /// consistent snapshot), then combined as cogeo-mosaic combines them.
    async fn lookup(&self, lookup: &Lookup, opts: &LookupOptions) -> Result<Vec<String>> {
        let doc = self.document();
        let plan = index::plan(&doc, lookup, opts)?;
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        let (conn, t) = (self.conn.clone(), self.target.clone());
        let qz = usize::from(doc.effective_quadkey_zoom());
        let groups = run_blocking("sqlite lookup", move || {
            let mut conn = lock(&conn);
            let tx = conn.transaction().ctx(&t.uri)?;
            let groups = plan
                .iter()
                .map(|q| query_blocking(&tx, &t, qz, q))
                .collect::<Result<Vec<_>>>()?;
            tx.commit().ctx(&t.uri)?;
            Ok(groups)
        })
        .await?;
        Ok(index::combine(
            groups,
            doc.asset_prefix.as_deref(),
            opts.reverse,
        ))
    }
}

/// The writing side of a SQLite mosaic: whole writes, updates, deletion, and atomic
/// per-quadkey edits ([`TileIndex`]). The connection is opened on first use.
#[derive(Debug)]
pub struct SqliteWriter {
    target: Arc<Target>,
    /// Why the name was refused, returned by every operation.
    refused: Option<Arc<Error>>,
    conn: Arc<Mutex<Option<Connection>>>,
    /// The quadkey index is known to exist.
    indexed: Arc<AtomicBool>,
}

impl SqliteWriter {
    /// A writer of mosaic `mosaic` in database file `path` (`uri` names it in errors).
    /// Nothing is opened yet; a reserved or malformed name makes every operation fail with
    /// [`Error::InvalidUri`].
    pub fn new(uri: &str, path: &str, mosaic: &str) -> SqliteWriter {
        SqliteWriter {
            target: Arc::new(Target::new(uri, path, mosaic)),
            refused: check_name(uri, mosaic).err().map(Arc::new),
            conn: Arc::new(Mutex::new(None)),
            indexed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs `f` on the writer's connection (opened, and the file created when `create`, on
    /// first use) on the blocking pool.
    async fn with_conn<T, F>(&self, what: &'static str, create: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Target, &mut Connection) -> Result<T> + Send + 'static,
    {
        if let Some(e) = &self.refused {
            return Err(Error::Shared(e.clone()));
        }
        let (slot, t) = (self.conn.clone(), self.target.clone());
        run_blocking(what, move || {
            let mut guard = lock(&slot);
            let conn = match guard.take() {
                Some(conn) => conn,
                None => open_writable(&t, create)?,
            };
            f(&t, guard.insert(conn))
        })
        .await
    }
}

/// The whole write, in one `BEGIN IMMEDIATE` transaction.
fn write_blocking(
    conn: &mut Connection,
    t: &Target,
    doc: &MosaicJson,
    mode: WriteMode,
) -> Result<()> {
    let uri = t.uri.as_str();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(uri)?;
    let version = user_version(&tx, uri)?;
    if version > SCHEMA_VERSION {
        require_schema(&tx, t)?;
    }
    let present = table_columns(&tx, uri, METADATA_TABLE)?;
    if table_exists(&tx, uri, &t.mosaic)? {
        if mode == WriteMode::Create {
            return Err(Error::AlreadyExists { uri: t.uri.clone() });
        }
        tx.execute_batch(&format!("DROP TABLE {}", t.table))
            .ctx(uri)?;
    }
    if present.is_empty() {
        let columns = METADATA_COLUMNS
            .iter()
            .map(|(c, decl, not_null)| {
                format!("{c} {decl}{}", if *not_null { " NOT NULL" } else { "" })
            })
            .collect::<Vec<_>>()
            .join(", ");
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {METADATA_TABLE} ({columns})"
        ))
        .ctx(uri)?;
    } else {
        // Overwritten, or a row left without its table: either way it goes.
        tx.execute(
            &format!("DELETE FROM {METADATA_TABLE} WHERE name = ?1"),
            [&t.mosaic],
        )
        .ctx(uri)?;
        // A legacy table gets the columns of schema 3.
        for (column, decl, _) in METADATA_COLUMNS {
            if !present.iter().any(|p| p == column) {
                tx.execute_batch(&format!(
                    "ALTER TABLE {METADATA_TABLE} ADD COLUMN {column} {decl}"
                ))
                .ctx(uri)?;
            }
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .ctx(uri)?;
    tx.execute_batch(&format!(
        "CREATE TABLE {} (quadkey TEXT NOT NULL, assets JSON NOT NULL)",
        t.table
    ))
    .ctx(uri)?;
    let names = METADATA_COLUMNS.map(|(c, _, _)| c).join(", ");
    let slots = (1..=METADATA_COLUMNS.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    tx.execute(
        &format!("INSERT INTO {METADATA_TABLE} ({names}) VALUES ({slots})"),
        rusqlite::params_from_iter(metadata_values(doc, &t.mosaic)),
    )
    .ctx(uri)?;
    {
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO {} (quadkey, assets) VALUES (?1, ?2)",
                t.table
            ))
            .ctx(uri)?;
        for (qk, assets) in &doc.tiles {
            insert.execute((qk, py_dumps(assets))).ctx(uri)?;
        }
    }
    // Built once over the sorted keys, after the rows.
    tx.execute_batch(&format!(
        "CREATE INDEX {} ON {} (quadkey)",
        t.index, t.table
    ))
    .ctx(uri)?;
    tx.commit().ctx(uri)
}

/// Creates the quadkey index of a mosaic written without one (by cogeo-mosaic); a missing
/// table is [`Error::NotFound`].
fn ensure_index(conn: &Connection, t: &Target, indexed: &AtomicBool) -> Result<()> {
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
fn apply_edit<R>(
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
fn add_edit(
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

/// Reads the metadata row, records an update ([`MosaicJson::record_update`] with `added`, or
/// the current bounds) and writes every metadata column back; inside the caller's transaction.
fn commit_metadata_in(
    conn: &Connection,
    t: &Target,
    added: Option<[f64; 4]>,
) -> Result<MosaicJson> {
    let mut doc = read_metadata(conn, t)?;
    doc.name = Some(t.mosaic.clone());
    let bounds = added.unwrap_or(doc.bounds);
    doc.record_update(bounds)?;
    let sets = METADATA_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (c, _, _))| format!("{c} = ?{}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut values = metadata_values(&doc, &t.mosaic);
    values.push(SqlValue::Text(t.mosaic.clone()));
    conn.execute(
        &format!(
            "UPDATE {METADATA_TABLE} SET {sets} WHERE name = ?{}",
            METADATA_COLUMNS.len() + 1
        ),
        rusqlite::params_from_iter(values),
    )
    .ctx(&t.uri)?;
    Ok(doc)
}

#[async_trait]
impl MosaicWrite for SqliteWriter {
    fn uri(&self) -> &str {
        &self.target.uri
    }

    /// Stores `doc` (its `name` replaced by the mosaic name) in one transaction: tables
    /// created as needed, an existing mosaic refused ([`WriteMode::Create`], nothing
    /// changed) or replaced ([`WriteMode::Overwrite`]). The file is created when missing.
    async fn write(&self, doc: &MosaicJson, mode: WriteMode) -> Result<()> {
        if doc.name.as_deref().is_some_and(|n| n != self.target.mosaic) {
            tracing::warn!(
                "mosaic name `{}` replaced by the table name `{}`",
                doc.name.as_deref().unwrap_or_default(),
                self.target.mosaic
            );
        }
        let doc = doc.clone();
        let indexed = self.indexed.clone();
        self.with_conn("sqlite write", true, move |t, conn| {
            write_blocking(conn, t, &doc, mode)?;
            indexed.store(true, Ordering::Release);
            Ok(())
        })
        .await
    }

    /// Adds footprints in one `BEGIN IMMEDIATE` transaction, all or nothing: every quadkey
    /// of [`MosaicJson::additions`] edited as [`TileIndex::add_assets`] edits it (new
    /// quadkeys inserted, assets already listed skipped), then the metadata committed. The
    /// database must have schema 3 ([`Error::InvalidInput`] otherwise, as cogeo-mosaic
    /// refuses it).
    async fn update(&self, footprints: &[Footprint], opts: &UpdateOptions) -> Result<MosaicJson> {
        let doc = self
            .with_conn("sqlite update", false, |t, conn| {
                require_schema(conn, t)?;
                read_metadata(conn, t)
            })
            .await?;
        let (footprints, create_opts) = (footprints.to_vec(), opts.clone());
        let additions = run_blocking("sqlite update additions", move || {
            doc.additions(&footprints, &create_opts)
        })
        .await?;
        let at = if opts.add_first {
            Position::First
        } else {
            Position::Last
        };
        let indexed = self.indexed.clone();
        self.with_conn("sqlite update", false, move |t, conn| {
            let uri = t.uri.as_str();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(uri)?;
            require_schema(&tx, t)?;
            ensure_index(&tx, t, &indexed)?;
            for (qk, assets) in &additions.tiles {
                apply_edit(&tx, t, qk, |current| add_edit(current, assets, at))?;
            }
            let doc = commit_metadata_in(&tx, t, Some(additions.bounds))?;
            tx.commit().ctx(uri)?;
            indexed.store(true, Ordering::Release);
            Ok(doc)
        })
        .await
    }

    /// Deletes the metadata row and drops the table, in one transaction;
    /// [`Error::NotFound`] when neither existed.
    async fn delete(&self) -> Result<()> {
        let indexed = self.indexed.clone();
        self.with_conn("sqlite delete", false, move |t, conn| {
            let uri = t.uri.as_str();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(uri)?;
            let rows = if table_columns(&tx, uri, METADATA_TABLE)?.is_empty() {
                0
            } else {
                tx.execute(
                    &format!("DELETE FROM {METADATA_TABLE} WHERE name = ?1"),
                    [&t.mosaic],
                )
                .ctx(uri)?
            };
            let table = table_exists(&tx, uri, &t.mosaic)?;
            if table {
                tx.execute_batch(&format!("DROP TABLE {}", t.table))
                    .ctx(uri)?;
            }
            if rows == 0 && !table {
                return Err(t.not_found());
            }
            tx.commit().ctx(uri)?;
            indexed.store(false, Ordering::Release);
            Ok(())
        })
        .await
    }
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

/// The mosaics of a database (cogeo-mosaic's `list_mosaics_in_db`): names present in
/// [`METADATA_TABLE`] **and** as tables, in metadata order. `path` is a file path or a
/// `sqlite:///{path}` URI. A missing file is [`Error::NotFound`]; a database without a
/// metadata table has no mosaics.
pub async fn list_mosaics(path: &str) -> Result<Vec<String>> {
    let uri = path.to_string();
    let path = path.strip_prefix("sqlite:///").unwrap_or(path).to_string();
    run_blocking("sqlite list", move || {
        let conn = open_read_only(&uri, &path)?;
        if table_columns(&conn, &uri, METADATA_TABLE)?.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<Option<String>> = {
            let mut stmt = conn
                .prepare(&format!("SELECT name FROM {METADATA_TABLE}"))
                .ctx(&uri)?;
            let rows = stmt.query_map([], |r| r.get(0)).ctx(&uri)?;
            rows.collect::<rusqlite::Result<_>>().ctx(&uri)?
        };
        let tables: HashSet<String> = {
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                .ctx(&uri)?;
            let rows = stmt.query_map([], |r| r.get(0)).ctx(&uri)?;
            rows.collect::<rusqlite::Result<_>>().ctx(&uri)?
        };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for name in names.into_iter().flatten() {
            if !tables.contains(&name) {
                tracing::warn!("{path}: `{name}` found in metadata, but table does not exist");
            } else if seen.insert(name.clone()) {
                out.push(name);
            }
        }
        Ok(out)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryIndex;
    use crate::create::CreateOptions;
    use crate::tms::Tile;

    fn footprints() -> Vec<Footprint> {
        vec![
            Footprint::from_bbox("a.tif", [0.0, 0.0, 2.0, 2.0]),
            Footprint::from_bbox("b.tif", [1.0, 1.0, 3.0, 3.0]),
            Footprint::from_bbox("c.tif", [-1.0, -2.0, 0.5, 0.5]),
            Footprint::from_bbox("d.tif", [2.5, -1.0, 4.0, 1.5]),
        ]
    }

    fn sample(prefix: Option<&str>) -> MosaicJson {
        let mut opts = CreateOptions::new(5, 9);
        opts.quadkey_zoom = Some(7);
        opts.asset_prefix = prefix.map(String::from);
        let fps: Vec<Footprint> = footprints()
            .into_iter()
            .map(|mut f| {
                if let Some(p) = prefix {
                    f.asset = format!("{p}{}", f.asset);
                }
                f
            })
            .collect();
        let mut doc = MosaicJson::from_footprints(&fps, &opts).unwrap();
        doc.name = Some("m".into());
        doc.description = Some("é ünïcode \u{1F600}".into());
        doc
    }

    struct Db {
        _dir: tempfile::TempDir,
        path: String,
    }

    fn db() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mosaics.db").to_string_lossy().into_owned();
        Db { _dir: dir, path }
    }

    fn uri(path: &str, mosaic: &str) -> String {
        format!("sqlite:///{path}:{mosaic}")
    }

    fn writer(path: &str, mosaic: &str) -> SqliteWriter {
        SqliteWriter::new(&uri(path, mosaic), path, mosaic)
    }

    async fn open(path: &str, mosaic: &str) -> Result<SqliteBackend> {
        SqliteBackend::open(&uri(path, mosaic), path, mosaic).await
    }

    fn lookups() -> Vec<Lookup> {
        let mut out = Vec::new();
        for z in 3..=10u8 {
            let n = 1u64 << z;
            // tiles around (0..4°E, -2..3°N)
            let x0 = (n as f64 * (180.0 - 2.0) / 360.0) as u64;
            let x1 = (n as f64 * (180.0 + 5.0) / 360.0) as u64;
            for x in x0..=x1.min(n - 1) {
                for y in (n / 2).saturating_sub(n / 64 + 1)..=(n / 2 + n / 64 + 1).min(n - 1) {
                    out.push(Lookup::Tile(Tile::new(x, y, z)));
                }
            }
        }
        for (lon, lat) in [
            (0.1, 0.1),
            (1.5, 1.5),
            (2.9, 2.9),
            (-0.5, -1.5),
            (10.0, 10.0),
        ] {
            out.push(Lookup::Point { lon, lat });
        }
        for b in [
            [0.0, 0.0, 1.0, 1.0],
            [-1.0, -2.0, 4.0, 3.0],
            [3.0, 2.0, 1.0, 3.0],
            [20.0, 20.0, 21.0, 21.0],
        ] {
            out.push(Lookup::Bbox(b));
        }
        out
    }

    async fn assert_same_answers(backend: &SqliteBackend, expected: &MosaicJson) {
        let mem = MemoryIndex::new(expected.clone()).unwrap();
        let mut nonempty = 0;
        for lookup in lookups() {
            for reverse in [false, true] {
                let opts = LookupOptions {
                    reverse,
                    ..Default::default()
                };
                let want = mem.lookup(&lookup, &opts).unwrap();
                let got = backend.lookup(&lookup, &opts).await.unwrap();
                assert_eq!(got, want, "{lookup:?} reverse={reverse}");
                nonempty += usize::from(!want.is_empty());
                // the trait's default path (one query at a time) agrees too
                let plan = index::plan(expected, &lookup, &opts).unwrap();
                let mut groups = Vec::new();
                for q in &plan {
                    groups.push(backend.query(q).await.unwrap());
                }
                let one_by_one = index::combine(groups, expected.asset_prefix.as_deref(), reverse);
                assert_eq!(one_by_one, want, "{lookup:?}");
            }
        }
        assert!(nonempty > 20, "{nonempty}");
    }

    fn metadata_of(doc: &MosaicJson, name: &str) -> MosaicJson {
        let mut d = doc.clone();
        d.tiles.clear();
        d.name = Some(name.into());
        d.extra.clear();
        d
    }

    #[test]
    fn columns_follow_the_model() {
        assert_eq!(
            METADATA_COLUMNS.map(|(c, _, _)| c),
            crate::mosaicjson::METADATA_FIELDS
        );
        assert_eq!(prefix_upper_bound("012").as_deref(), Some("013"));
        assert_eq!(prefix_upper_bound("3").as_deref(), Some("4"));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(py_dumps(&["é", "a\u{7f}"]), r#"["\u00e9", "a\u007f"]"#);
        assert_eq!(py_dumps(&["\u{1F600}"]), r#"["\ud83d\ude00"]"#);
    }

    #[tokio::test]
    async fn written_mosaics_answer_as_the_memory_index() {
        for prefix in [None, Some("s3://bucket/")] {
            let db = db();
            let mut doc = sample(prefix);
            doc.extra.insert("x_custom".into(), Value::from(1));
            doc.name = Some("another name".into());
            writer(&db.path, "m")
                .write(&doc, WriteMode::Create)
                .await
                .unwrap();
            let backend = open(&db.path, "m").await.unwrap();
            assert_eq!(backend.backend_name(), "SQLite");
            assert_eq!(*backend.document(), metadata_of(&doc, "m"));
            assert_eq!(
                backend.quadkeys().await.unwrap(),
                doc.tiles.keys().cloned().collect::<Vec<_>>()
            );
            assert_same_answers(&backend, &doc).await;
            let info = backend.info(true).await.unwrap();
            assert_eq!(info.name, "m");
            assert_eq!(info.quadkeys.len(), doc.tiles.len());
        }
    }

    #[tokio::test]
    async fn stored_layout_is_cogeo_mosaics() {
        let db = db();
        let mut doc = sample(None);
        doc.tiles.insert("0000000".into(), vec!["é.tif".into()]);
        writer(&db.path, "m.1")
            .write(&doc, WriteMode::Create)
            .await
            .unwrap();
        let conn = Connection::open(&db.path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 3);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let mut stmt = conn
            .prepare("SELECT name, type, \"notnull\" FROM pragma_table_info('mosaicjson_metadata')")
            .unwrap();
        let cols: Vec<(String, String, bool)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let want: Vec<(String, String, bool)> = METADATA_COLUMNS
            .iter()
            .map(|(c, t, n)| (c.to_string(), t.to_string(), *n))
            .collect();
        assert_eq!(cols, want);
        let mut stmt = conn
            .prepare("SELECT name, type FROM pragma_table_info('m.1')")
            .unwrap();
        let cols: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            cols,
            [
                ("quadkey".into(), "TEXT".into()),
                ("assets".into(), "JSON".into())
            ]
        );
        let (name, bounds, center, description): (String, String, String, String) = conn
            .query_row(
                "SELECT name, bounds, center, description FROM mosaicjson_metadata",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(name, "m.1");
        assert_eq!(bounds, pyjson::dumps(&doc.bounds).unwrap());
        assert!(bounds.contains(", ") && bounds.starts_with('['));
        let c = doc.center.unwrap();
        assert_eq!(
            center,
            format!(
                "[{}, {}, {}]",
                pyjson::py_float(c.lon),
                pyjson::py_float(c.lat),
                c.zoom
            )
        );
        assert_eq!(description, doc.description.clone().unwrap());
        let assets: String = conn
            .query_row(
                "SELECT assets FROM \"m.1\" WHERE quadkey = '0000000'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(assets, r#"["\u00e9.tif"]"#);
        let index: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'm.1:quadkey' AND tbl_name = 'm.1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 1);
        let backend = open(&db.path, "m.1").await.unwrap();
        let got = backend
            .query(&QuadkeyQuery::Exact("0000000".into()))
            .await
            .unwrap();
        assert_eq!(got, ["é.tif"]);
    }

    #[tokio::test]
    async fn create_refuses_overwrite_replaces_delete_removes() {
        let db = db();
        let first = sample(None);
        let w = writer(&db.path, "m");
        w.write(&first, WriteMode::Create).await.unwrap();
        let mut second = MosaicJson::from_footprints(
            &[Footprint::from_bbox("z.tif", [10.0, 10.0, 11.0, 11.0])],
            &CreateOptions::new(6, 8),
        )
        .unwrap();
        second.version = "2.0.0".into();
        // a second writer, its own connection
        let e = writer(&db.path, "m")
            .write(&second, WriteMode::Create)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::AlreadyExists { .. }), "{e:?}");
        let backend = open(&db.path, "m").await.unwrap();
        assert_eq!(*backend.document(), metadata_of(&first, "m"));
        assert_same_answers(&backend, &first).await;
        drop(backend);

        w.write(&second, WriteMode::Overwrite).await.unwrap();
        let backend = open(&db.path, "m").await.unwrap();
        assert_eq!(*backend.document(), metadata_of(&second, "m"));
        assert_eq!(
            backend.quadkeys().await.unwrap(),
            second.tiles.keys().cloned().collect::<Vec<_>>()
        );
        assert_eq!(list_mosaics(&db.path).await.unwrap(), ["m"]);

        w.delete().await.unwrap();
        assert!(matches!(
            open(&db.path, "m").await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(w.delete().await, Err(Error::NotFound { .. })));
        assert!(list_mosaics(&db.path).await.unwrap().is_empty());
        // and written again after its deletion
        w.write(&first, WriteMode::Create).await.unwrap();
        assert_same_answers(&open(&db.path, "m").await.unwrap(), &first).await;
    }

    #[tokio::test]
    async fn list_keeps_mosaics_with_a_table() {
        let db = db();
        for name in ["b", "a", "c"] {
            writer(&db.path, name)
                .write(&sample(None), WriteMode::Create)
                .await
                .unwrap();
        }
        {
            let conn = Connection::open(&db.path).unwrap();
            conn.execute_batch(
                "INSERT INTO mosaicjson_metadata (mosaicjson, name, version, minzoom, maxzoom, bounds) \
                 VALUES ('0.0.3', 'ghost', '1.0.0', 1, 2, '[0, 0, 1, 1]'); DROP TABLE \"c\";",
            )
            .unwrap();
        }
        assert_eq!(list_mosaics(&db.path).await.unwrap(), ["b", "a"]);
        assert_eq!(
            list_mosaics(&format!("sqlite:///{}", db.path))
                .await
                .unwrap(),
            ["b", "a"]
        );
        for missing in ["ghost", "c"] {
            assert!(matches!(
                open(&db.path, missing).await,
                Err(Error::NotFound { .. })
            ));
        }
        // a metadata row without table does not block a new write
        writer(&db.path, "ghost")
            .write(&sample(None), WriteMode::Create)
            .await
            .unwrap();
        assert_eq!(list_mosaics(&db.path).await.unwrap(), ["b", "a", "ghost"]);
        assert!(matches!(
            list_mosaics("/definitely/not/here.db").await,
            Err(Error::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn update_inserts_new_quadkeys_and_is_idempotent() {
        for add_first in [true, false] {
            let db = db();
            let mut doc = sample(None);
            doc.mosaicjson = "0.0.2".into();
            let w = writer(&db.path, "m");
            w.write(&doc, WriteMode::Create).await.unwrap();
            let new = [
                Footprint::from_bbox("e.tif", [1.5, 0.5, 6.0, 2.5]),
                Footprint::from_bbox("a.tif", [0.0, 0.0, 2.0, 2.0]),
            ];
            let opts = UpdateOptions {
                add_first,
                ..UpdateOptions::default()
            };
            let meta = w.update(&new, &opts).await.unwrap();
            assert_eq!(meta.version, "1.0.1");
            assert_eq!(meta.mosaicjson, "0.0.3");
            assert!(meta.tiles.is_empty());

            // the memory model, without duplicates
            let mut expected = doc.clone();
            let additions = doc.additions(&new, &opts).unwrap();
            for (qk, assets) in &additions.tiles {
                let list = expected.tiles.entry(qk.clone()).or_default();
                let fresh: Vec<String> = assets
                    .iter()
                    .filter(|a| !list.contains(a))
                    .cloned()
                    .collect();
                if add_first {
                    list.splice(0..0, fresh);
                } else {
                    list.extend(fresh);
                }
            }
            expected.record_update(additions.bounds).unwrap();
            assert!(additions.tiles.keys().any(|k| !doc.tiles.contains_key(k)));

            let backend = open(&db.path, "m").await.unwrap();
            assert_eq!(*backend.document(), metadata_of(&expected, "m"));
            assert_same_answers(&backend, &expected).await;
            let mut keys = backend.quadkeys().await.unwrap();
            keys.sort();
            let mut want: Vec<String> = expected.tiles.keys().cloned().collect();
            want.sort();
            assert_eq!(keys, want);

            // the same footprints again: nothing added, version bumped
            let meta = w.update(&new, &opts).await.unwrap();
            assert_eq!(meta.version, "1.0.2");
            let backend = open(&db.path, "m").await.unwrap();
            expected.increase_version().unwrap();
            assert_eq!(*backend.document(), metadata_of(&expected, "m"));
            assert_same_answers(&backend, &expected).await;
        }
    }

    #[tokio::test]
    async fn per_quadkey_edits() {
        let db = db();
        let w = writer(&db.path, "m");
        w.write(&sample(None), WriteMode::Create).await.unwrap();
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let read = |qk: &str| {
            let (path, qk) = (db.path.clone(), qk.to_string());
            async move {
                open(&path, "m")
                    .await
                    .unwrap()
                    .query(&QuadkeyQuery::Exact(qk))
                    .await
                    .unwrap()
            }
        };
        let qk = "3333333";
        assert!(read(qk).await.is_empty());
        assert_eq!(
            w.add_assets(qk, &s(&["x", "y", "x"]), Position::First)
                .await
                .unwrap(),
            ["x", "y"]
        );
        assert_eq!(read(qk).await, ["x", "y"]);
        assert!(
            w.add_assets(qk, &s(&["y", "x"]), Position::First)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            w.add_assets(qk, &s(&["z", "x"]), Position::First)
                .await
                .unwrap(),
            ["z"]
        );
        assert_eq!(
            w.add_assets(qk, &s(&["w"]), Position::Last).await.unwrap(),
            ["w"]
        );
        assert_eq!(read(qk).await, ["z", "x", "y", "w"]);
        assert_eq!(
            w.remove_assets(qk, &s(&["x", "nope", "x"])).await.unwrap(),
            ["x"]
        );
        assert_eq!(read(qk).await, ["z", "y", "w"]);
        assert_eq!(
            w.remove_assets(qk, &s(&["z", "y", "w"])).await.unwrap(),
            ["z", "y", "w"]
        );
        let backend = open(&db.path, "m").await.unwrap();
        assert!(!backend.quadkeys().await.unwrap().contains(&qk.to_string()));
        assert!(w.remove_assets(qk, &s(&["z"])).await.unwrap().is_empty());
        assert!(matches!(
            w.add_assets("04", &s(&["a"]), Position::First).await,
            Err(Error::InvalidInput(_))
        ));

        let before = backend.document();
        let meta = w.commit_metadata(None).await.unwrap();
        assert_eq!(meta.version, "1.0.1");
        assert_eq!(meta.bounds, before.bounds);
        let meta = w
            .commit_metadata(Some([-50.0, -1.0, 1.0, 60.0]))
            .await
            .unwrap();
        assert_eq!(meta.version, "1.0.2");
        assert_eq!(
            meta.bounds,
            [-50.0, before.bounds[1], before.bounds[2], 60.0]
        );
        assert_eq!(*open(&db.path, "m").await.unwrap().document(), meta);
        // a writer of a mosaic that does not exist
        let ghost = writer(&db.path, "ghost");
        assert!(matches!(
            ghost.add_assets(qk, &s(&["a"]), Position::First).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            ghost.commit_metadata(None).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            ghost.update(&footprints(), &UpdateOptions::default()).await,
            Err(Error::NotFound { .. })
        ));
    }

    /// cogeo-mosaic's schema 0: the first 10 metadata columns, `user_version` 0, no index.
    fn legacy_db(path: &str) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            r#"
            CREATE TABLE mosaicjson_metadata
            (
                mosaicjson TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT,
                version TEXT NOT NULL,
                attribution TEXT,
                minzoom INTEGER NOT NULL,
                maxzoom INTEGER NOT NULL,
                quadkey_zoom INTEGER,
                bounds JSON NOT NULL,
                center JSON
            );
            CREATE TABLE test (quadkey TEXT NOT NULL, assets JSON NOT NULL);
            INSERT INTO mosaicjson_metadata VALUES ('0.0.2', 'test', NULL, '1.0.0', NULL, 7, 9, 7,
                '[-75.98703377413767, 44.93504283293786, -71.337604723999, 47.09685599202324]',
                '[-73.66231924906833, 46.01594941248055, 7]');
            INSERT INTO test VALUES ('0302300', '["cog1.tif"]');
            INSERT INTO test VALUES ('0302301', '["cog1.tif", "cog2.tif"]');
            INSERT INTO test VALUES ('0302310', '["cog1.tif", "cog2.tif"]');
            "#,
        )
        .unwrap();
    }

    #[tokio::test]
    async fn legacy_databases_are_readable_not_updatable() {
        let db = db();
        legacy_db(&db.path);
        let backend = open(&db.path, "test").await.unwrap();
        let doc = backend.document();
        assert_eq!(doc.mosaicjson, "0.0.2");
        assert_eq!(
            (doc.minzoom, doc.maxzoom, doc.quadkey_zoom),
            (7, 9, Some(7))
        );
        assert_eq!(doc.center.unwrap().lon, -73.66231924906833);
        assert_eq!(
            backend
                .assets_for_tile(Tile::new(37, 44, 7), &Default::default())
                .await
                .unwrap(),
            ["cog1.tif", "cog2.tif"]
        );
        assert_eq!(
            backend
                .assets_for_tile(Tile::new(9, 11, 5), &Default::default())
                .await
                .unwrap(),
            ["cog1.tif", "cog2.tif"]
        );
        assert_eq!(list_mosaics(&db.path).await.unwrap(), ["test"]);
        drop(backend);

        let w = writer(&db.path, "test");
        let e = w
            .update(&footprints(), &UpdateOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidInput(m) if m.contains("predates schema 3")),
            "{e:?}"
        );
        assert!(matches!(
            w.add_assets("0302300", &["x".into()], Position::First)
                .await,
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            w.commit_metadata(None).await,
            Err(Error::InvalidInput(_))
        ));

        // writing another mosaic upgrades the database; the legacy mosaic stays readable
        writer(&db.path, "new")
            .write(&sample(None), WriteMode::Create)
            .await
            .unwrap();
        assert_eq!(list_mosaics(&db.path).await.unwrap(), ["test", "new"]);
        let backend = open(&db.path, "test").await.unwrap();
        assert_eq!(backend.document().mosaicjson, "0.0.2");
        assert_eq!(
            w.add_assets("0302300", &["x".into()], Position::First)
                .await
                .unwrap(),
            ["x"]
        );
        assert_eq!(
            backend
                .query(&QuadkeyQuery::Exact("0302300".into()))
                .await
                .unwrap(),
            ["x", "cog1.tif"]
        );
        assert_eq!(w.commit_metadata(None).await.unwrap().version, "1.0.1");
    }

    #[tokio::test]
    async fn corrupt_contents_are_typed_errors() {
        let db = db();
        writer(&db.path, "m")
            .write(&sample(None), WriteMode::Create)
            .await
            .unwrap();
        let conn = Connection::open(&db.path).unwrap();
        // a tile list that is not a list of strings
        conn.execute_batch(
            "INSERT INTO m VALUES ('1111111', '{\"a\": 1}'); INSERT INTO m VALUES ('1111112', 'nope');",
        )
        .unwrap();
        let backend = open(&db.path, "m").await.unwrap();
        for qk in ["1111111", "1111112"] {
            match backend.query(&QuadkeyQuery::Exact(qk.into())).await {
                Err(Error::InvalidMosaic { reason, .. }) => {
                    assert!(reason.contains(qk), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            backend.query(&QuadkeyQuery::Prefix("1".into())).await,
            Err(Error::InvalidMosaic { .. })
        ));
        // bad JSON in the metadata
        conn.execute_batch("UPDATE mosaicjson_metadata SET bounds = '[1, 2'")
            .unwrap();
        match open(&db.path, "m").await {
            Err(Error::InvalidMosaic { field, .. }) => assert_eq!(field.as_deref(), Some("bounds")),
            other => panic!("{other:?}"),
        }
        conn.execute_batch("UPDATE mosaicjson_metadata SET bounds = '[1, 2, 3]'")
            .unwrap();
        assert!(matches!(
            open(&db.path, "m").await,
            Err(Error::InvalidMosaic { .. })
        ));
        drop(conn);
        // NULL in a NOT NULL column (a hand-made table without the constraints)
        let other = self::db();
        let conn = Connection::open(&other.path).unwrap();
        conn.execute_batch(
            "CREATE TABLE mosaicjson_metadata (mosaicjson TEXT, name TEXT, version TEXT, \
             minzoom INTEGER, maxzoom INTEGER, bounds JSON); \
             INSERT INTO mosaicjson_metadata VALUES ('0.0.3', 't', '1.0.0', NULL, 3, '[0, 0, 1, 1]'); \
             CREATE TABLE t (quadkey TEXT NOT NULL, assets JSON NOT NULL);",
        )
        .unwrap();
        match open(&other.path, "t").await {
            Err(Error::InvalidMosaic { field, .. }) => {
                assert_eq!(field.as_deref(), Some("minzoom"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn garbage_and_missing_files_are_typed_errors() {
        let db = db();
        std::fs::write(&db.path, vec![b'x'; 4096]).unwrap();
        let e = open(&db.path, "m").await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidMosaic { .. } | Error::Storage { .. }),
            "{e:?}"
        );
        let e = writer(&db.path, "m")
            .write(&sample(None), WriteMode::Create)
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidMosaic { .. } | Error::Storage { .. }),
            "{e:?}"
        );
        assert!(list_mosaics(&db.path).await.is_err());
        // untouched
        assert_eq!(std::fs::read(&db.path).unwrap(), vec![b'x'; 4096]);

        let missing = self::db();
        assert!(matches!(
            open(&missing.path, "m").await,
            Err(Error::NotFound { .. })
        ));
        let w = writer(&missing.path, "m");
        assert!(matches!(w.delete().await, Err(Error::NotFound { .. })));
        assert!(matches!(
            w.update(&footprints(), &UpdateOptions::default()).await,
            Err(Error::NotFound { .. })
        ));
        assert!(
            !Path::new(&missing.path).exists(),
            "created by a failed edit"
        );
        assert!(matches!(
            open(":memory:", "m").await,
            Err(Error::NotFound { .. })
        ));
        // an existing database without that mosaic
        writer(&missing.path, "m")
            .write(&sample(None), WriteMode::Create)
            .await
            .unwrap();
        assert!(matches!(
            open(&missing.path, "other").await,
            Err(Error::NotFound { .. })
        ));
        // an empty file is an empty database
        let empty = self::db();
        std::fs::write(&empty.path, b"").unwrap();
        assert!(matches!(
            open(&empty.path, "m").await,
            Err(Error::NotFound { .. })
        ));
        assert!(list_mosaics(&empty.path).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn reserved_and_bad_names_are_refused() {
        let db = db();
        for name in ["mosaicjson_metadata", "a\"b", "", "x:quadkey"] {
            assert!(matches!(
                open(&db.path, name).await,
                Err(Error::InvalidUri { .. })
            ));
            let w = writer(&db.path, name);
            assert!(matches!(
                w.write(&sample(None), WriteMode::Overwrite).await,
                Err(Error::InvalidUri { .. })
            ));
            assert!(matches!(w.delete().await, Err(Error::InvalidUri { .. })));
        }
        assert!(!Path::new(&db.path).exists());
    }

    #[tokio::test]
    async fn in_memory_writer_keeps_its_database() {
        let w = SqliteWriter::new("sqlite:///:memory::m", ":memory:", "m");
        let doc = sample(None);
        w.write(&doc, WriteMode::Create).await.unwrap();
        assert!(matches!(
            w.write(&doc, WriteMode::Create).await,
            Err(Error::AlreadyExists { .. })
        ));
        assert_eq!(w.metadata().await.unwrap(), metadata_of(&doc, "m"));
        let meta = w
            .update(
                &[Footprint::from_bbox("n.tif", [0.0, 0.0, 1.0, 1.0])],
                &UpdateOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(meta.version, "1.0.1");
        w.delete().await.unwrap();
    }
}
