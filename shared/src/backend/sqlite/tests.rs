//! Unit tests of the SQLite backend: layout, listing, legacy and corrupt databases, names.
//! Per-quadkey edits, updates and the write/overwrite/delete lifecycle are checked by the
//! conformance suite shared with DynamoDB (`tests/src/conformance.rs`, run by
//! `tests/tests/sqlite.rs`).

use std::path::Path;

use rusqlite::Connection;
use serde_json::Value;

use super::read::prefix_upper_bound;
use super::*;
use crate::MemoryIndex;
use crate::backend::{MosaicRead, MosaicWrite, Position, TileIndex, WriteMode};
use crate::create::CreateOptions;
use crate::create::{Footprint, UpdateOptions};
use crate::index::{self, Lookup, LookupOptions, QuadkeyQuery};
use crate::mosaicjson::MosaicJson;
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

async fn open(path: &str, mosaic: &str) -> Result<SqliteReader> {
    SqliteReader::open(&uri(path, mosaic), path, mosaic).await
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

async fn assert_same_answers(backend: &SqliteReader, expected: &MosaicJson) {
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
        // The writer keeps its refusal and answers it, shared, to every operation.
        let w = writer(&db.path, name);
        let kind = |r: Result<()>| r.map_err(|e| e.kind());
        assert_eq!(
            kind(w.write(&sample(None), WriteMode::Overwrite).await),
            Err("InvalidUri")
        );
        assert_eq!(kind(w.delete().await), Err("InvalidUri"));
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

/// A table dropped after it was checked (by another writer) is a missing mosaic, told by
/// looking for the table, for readers and writers alike.
#[tokio::test]
async fn tables_dropped_under_an_open_mosaic_are_not_found() {
    let db = db();
    let w = writer(&db.path, "m");
    w.write(&sample(None), WriteMode::Create).await.unwrap();
    let read = open(&db.path, "m").await.unwrap();
    let qk = sample(None).tiles.keys().next().unwrap().clone();
    assert!(
        !read
            .query(&QuadkeyQuery::Exact(qk.clone()))
            .await
            .unwrap()
            .is_empty()
    );
    // `w` knows its index exists, so its next edit does not look for the table first.
    writer(&db.path, "m").delete().await.unwrap();
    let not_found = |r: Result<Vec<String>>| matches!(r, Err(Error::NotFound { .. }));
    assert!(not_found(
        read.query(&QuadkeyQuery::Exact(qk.clone())).await
    ));
    assert!(not_found(read.quadkeys().await));
    assert!(not_found(
        read.lookup(
            &Lookup::Bbox([-1.0, -2.0, 4.0, 3.0]),
            &LookupOptions::default()
        )
        .await
    ));
    assert!(matches!(
        MosaicRead::tiles(&read).await,
        Err(Error::NotFound { .. })
    ));
    assert!(not_found(
        w.add_assets(&qk, &["x".to_string()], Position::Last).await
    ));
    // Other SQL failures stay storage errors.
    let conn = Connection::open(&db.path).unwrap();
    conn.execute_batch("CREATE TABLE m (quadkey TEXT NOT NULL)")
        .unwrap();
    drop(conn);
    let e = read
        .query(&QuadkeyQuery::Exact(qk.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Storage { .. }), "{e:?}");
}
