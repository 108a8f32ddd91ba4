//! The metadata table: one row per mosaic, read through the columns it has (legacy
//! databases included), written as cogeo-mosaic binds it; and the list of a file's mosaics.

use std::collections::HashSet;

use rusqlite::Connection;
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::{Map, Value};

use super::connection::{Ctx, open_read_only, table_columns, table_exists};
use super::{METADATA_COLUMNS, METADATA_TABLE, Target, py_dumps, quote};
use crate::error::run_blocking;
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

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
pub(super) fn read_metadata(conn: &Connection, t: &Target) -> Result<MosaicJson> {
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
pub(super) fn metadata_values(doc: &MosaicJson, mosaic: &str) -> Vec<SqlValue> {
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

/// Reads the metadata row, records an update ([`MosaicJson::record_update`] with `added`, or
/// the current bounds) and writes every metadata column back; inside the caller's transaction.
pub(super) fn commit_metadata_in(
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
