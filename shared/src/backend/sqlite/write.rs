//! Writing: [`SqliteWriter`], its connection, and whole-document writes, updates and
//! deletion ([`MosaicWrite`]), each in one `BEGIN IMMEDIATE` transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior};

use super::connection::{
    Ctx, lock, open_writable, require_schema, table_columns, table_exists, user_version,
};
use super::edits::{add_edit, apply_edit, ensure_index};
use super::metadata::{commit_metadata_in, metadata_values, read_metadata};
use super::{METADATA_COLUMNS, METADATA_TABLE, SCHEMA_VERSION, Target, check_name, py_dumps};
#[cfg(doc)]
use crate::backend::TileIndex;
use crate::backend::{MosaicWrite, Position, WriteMode};
use crate::create::{Footprint, UpdateOptions};
use crate::error::run_blocking;
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

/// The writing side of a SQLite mosaic: whole writes, updates, deletion, and atomic
/// per-quadkey edits ([`TileIndex`]). The connection is opened on first use.
#[derive(Debug)]
pub struct SqliteWriter {
    pub(super) target: Arc<Target>,
    /// Why the name was refused, returned by every operation.
    pub(super) refused: Option<Arc<Error>>,
    pub(super) conn: Arc<Mutex<Option<Connection>>>,
    /// The quadkey index is known to exist.
    pub(super) indexed: Arc<AtomicBool>,
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
    pub(super) async fn with_conn<T, F>(&self, what: &'static str, create: bool, f: F) -> Result<T>
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
        super::assets::write_all(&tx, t, doc)?;
    }
    // Built once over the sorted keys, after the rows.
    tx.execute_batch(&format!(
        "CREATE INDEX {} ON {} (quadkey)",
        t.index, t.table
    ))
    .ctx(uri)?;
    tx.commit().ctx(uri)
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
            for (asset, quadkeys) in crate::backend::assets::invert(&additions.tiles) {
                super::assets::add_quadkeys(&tx, t, &asset, &quadkeys)?;
            }
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
            super::assets::drop_all(&tx, t)?;
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
