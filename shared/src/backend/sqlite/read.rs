//! Reading: [`SqliteReader`], one read-only connection answering look-ups with indexed
//! range queries, one read transaction per look-up.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::connection::{Ctx, lock, on_table, open_read_only};
use super::metadata::read_metadata;
use super::{Target, check_name};
use crate::backend::MosaicRead;
use crate::error::run_blocking;
use crate::index::{self, Lookup, LookupOptions, QuadkeyQuery};
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

/// Parses a stored asset list.
pub(super) fn parse_assets(t: &Target, quadkey: &str, v: ValueRef<'_>) -> Result<Vec<String>> {
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
pub(super) fn prefix_upper_bound(prefix: &str) -> Option<String> {
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
pub(super) fn query_blocking(
    conn: &Connection,
    t: &Target,
    qz: usize,
    q: &QuadkeyQuery,
) -> Result<Vec<String>> {
    on_table(conn, t, query_rows(conn, t, qz, q))
}

/// Raw assets of one query ([`query_blocking`] without the missing-table check). Exact: the first row of the quadkey; prefix: every key of the
/// mosaic's quadkey zoom `qz` in the range, in key order (first row of each key).
fn query_rows(conn: &Connection, t: &Target, qz: usize, q: &QuadkeyQuery) -> Result<Vec<String>> {
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

/// Every row of the mosaic's table, in `rowid` order.
pub(super) fn tiles_blocking(conn: &Connection, t: &Target) -> Result<Vec<(String, Vec<String>)>> {
    on_table(conn, t, tile_rows(conn, t))
}

fn tile_rows(conn: &Connection, t: &Target) -> Result<Vec<(String, Vec<String>)>> {
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

/// Every quadkey of the mosaic's table, in `rowid` order.
fn quadkeys_blocking(conn: &Connection, t: &Target) -> Result<Vec<String>> {
    on_table(conn, t, quadkey_rows(conn, t))
}

fn quadkey_rows(conn: &Connection, t: &Target) -> Result<Vec<String>> {
    let sql = format!("SELECT quadkey FROM {} ORDER BY rowid", t.table);
    let mut stmt = conn.prepare_cached(&sql).ctx(&t.uri)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).ctx(&t.uri)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx(&t.uri)
}

/// A mosaic of a SQLite database, opened for reading: metadata read once, tiles looked up
/// per request through one read-only connection.
#[derive(Debug)]
pub struct SqliteReader {
    target: Arc<Target>,
    doc: Arc<MosaicJson>,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteReader {
    /// Opens mosaic `mosaic` of database file `path` (`uri` names it in errors).
    ///
    /// Errors: [`Error::NotFound`] when the file, the metadata row or the mosaic table is
    /// missing (`:memory:` is always empty); [`Error::InvalidMosaic`] for a file that is not
    /// a SQLite database or a corrupt metadata row; [`Error::InvalidUri`] for a reserved or
    /// malformed name.
    pub async fn open(uri: &str, path: &str, mosaic: &str) -> Result<SqliteReader> {
        check_name(uri, mosaic)?;
        let target = Arc::new(Target::new(uri, path, mosaic));
        let t = target.clone();
        let (conn, doc) = run_blocking("sqlite open", move || {
            let conn = open_read_only(&t.uri, &t.path)?;
            let doc = read_metadata(&conn, &t)?;
            Ok((conn, doc))
        })
        .await?;
        Ok(SqliteReader {
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
impl MosaicRead for SqliteReader {
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
