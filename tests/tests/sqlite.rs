//! SQLite backend: every mosaic of the reference look-up cases round-trips through one
//! database file and answers every case as cogeo-mosaic did; the per-quadkey edit suite
//! shared with DynamoDB ([`mosaic_integration_tests::conformance`]) runs on a file of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use mosaic::backend::sqlite::{SqliteReader, SqliteWriter, list_mosaics};
use mosaic::backend::{MosaicRead, MosaicWrite, WriteMode};
use mosaic::{Error, MosaicJson};
use mosaic_integration_tests::conformance::{Database, Subject};
use mosaic_integration_tests::{
    assert_cli_assets, assert_lookup_cases, case_mosaics, lookup_cases, mosaic_name, read_bytes,
    run_cli, run_cli_status,
};

fn uri(path: &str, mosaic: &str) -> String {
    format!("sqlite:///{path}:{mosaic}")
}

/// A database file of its own for each conformance property.
#[derive(Debug)]
struct SqliteFile {
    _dir: tempfile::TempDir,
    path: String,
}

impl Subject for SqliteFile {
    fn uri(&self, mosaic: &str) -> String {
        uri(&self.path, mosaic)
    }

    fn writer(&self, mosaic: &str) -> Arc<dyn Database> {
        Arc::new(SqliteWriter::new(
            &uri(&self.path, mosaic),
            &self.path,
            mosaic,
        ))
    }
}

fn subject() -> Arc<dyn Subject> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("conformance.db")
        .to_string_lossy()
        .into_owned();
    Arc::new(SqliteFile { _dir: dir, path })
}

mosaic_integration_tests::tile_index_conformance!(subject());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_lookup_case_matches_through_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mosaics.db").to_string_lossy().into_owned();

    let cases = lookup_cases();

    // Every referenced mosaic, written once, under its file stem.
    let mut docs: BTreeMap<String, MosaicJson> = BTreeMap::new();
    let mut order = Vec::new();
    for rel in case_mosaics(&cases) {
        let name = mosaic_name(&rel);
        let doc = MosaicJson::from_slice(&read_bytes(&rel)).unwrap();
        SqliteWriter::new(&uri(&db, &name), &db, &name)
            .write(&doc, WriteMode::Create)
            .await
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        order.push(name.clone());
        docs.insert(name, doc);
    }
    assert_eq!(list_mosaics(&db).await.unwrap(), order);

    let mut backends: BTreeMap<String, Arc<dyn MosaicRead>> = BTreeMap::new();
    for (name, doc) in &docs {
        let backend = SqliteReader::open(&uri(&db, name), &db, name)
            .await
            .unwrap();
        // metadata as written (the name is the table's), tiles left in the database
        let mut meta = doc.clone();
        meta.tiles.clear();
        meta.name = Some(name.clone());
        meta.extra.clear();
        assert_eq!(*backend.document(), meta, "{name}");
        assert_eq!(
            backend.quadkeys().await.unwrap(),
            doc.tiles.keys().cloned().collect::<Vec<_>>(),
            "{name}"
        );
        backends.insert(name.clone(), Arc::new(backend));
    }

    assert_lookup_cases("through SQLite", &cases, |rel| {
        let backend = backends[&mosaic_name(&rel)].clone();
        async move { backend }
    })
    .await;
}

/// The CLI contract on SQLite: `create -o sqlite:///…`, `info`, `assets`, `update`, `list`,
/// `delete`, and typed exits for bad input.
#[test]
fn cli_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db").to_string_lossy().into_owned();
    let u = uri(&db, "fp");
    let args = [
        "create-from-features",
        "--minzoom",
        "7",
        "--maxzoom",
        "12",
        "--property",
        "path",
        "--quiet",
        "footprints/fp_100.geojson",
    ];
    run_cli(&[&args[..], &["-o", &u]].concat());
    let local = MosaicJson::from_slice(run_cli(&args).as_bytes()).unwrap();
    let info: serde_json::Value = serde_json::from_str(&run_cli(&["info", &u, "--json"])).unwrap();
    assert_eq!(info["Backend"], "SQLite", "{info}");
    assert_eq!(info["GEO"]["Min Zoom"], 7);
    assert_cli_assets(&u, &local, 20);
    // `create -o` onto an existing mosaic overwrites it (cogeo-mosaic's CLI does too).
    run_cli(&[&args[..], &["-o", &u]].concat());
    assert_eq!(run_cli(&["list", &format!("sqlite:///{db}")]).trim(), "fp");
    // update with COGs: a new mosaic of one COG, then the others added.
    let cogs = MosaicJson::from_slice(&read_bytes("mosaics/cog_u16__default.json")).unwrap();
    let names: std::collections::BTreeSet<String> =
        cogs.tiles.values().flatten().cloned().collect();
    let names: Vec<String> = names.into_iter().collect();
    let list = dir.path().join("urls.txt");
    std::fs::write(&list, format!("{}\n", names[0])).unwrap();
    let u2 = uri(&db, "cogs");
    run_cli(&["create", list.to_str().unwrap(), "-o", &u2, "--quiet"]);
    std::fs::write(&list, names[1..].join("\n")).unwrap();
    run_cli(&["update", list.to_str().unwrap(), &u2, "--quiet"]);
    let info: serde_json::Value = serde_json::from_str(&run_cli(&["info", &u2, "--json"])).unwrap();
    assert_eq!(info["Profile"]["Version"], "1.0.1");
    // The same steps on a file give the same tiles.
    let file = dir.path().join("cogs.json").to_string_lossy().into_owned();
    std::fs::write(&list, format!("{}\n", names[0])).unwrap();
    run_cli(&["create", list.to_str().unwrap(), "-o", &file, "--quiet"]);
    std::fs::write(&list, names[1..].join("\n")).unwrap();
    run_cli(&["update", list.to_str().unwrap(), &file, "--quiet"]);
    let reference = MosaicJson::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stored = rt.block_on(async {
        let read = mosaic::backend::open(&u2).await.unwrap();
        read.tiles().await.unwrap()
    });
    let stored: BTreeMap<String, Vec<String>> = stored.into_iter().collect();
    let expected: BTreeMap<String, Vec<String>> = reference.tiles.into_iter().collect();
    assert_eq!(stored, expected);
    run_cli(&["delete", &u]);
    assert_eq!(run_cli_status(&["info", &u]).status.code(), Some(66));
    assert_eq!(
        run_cli(&["list", &format!("sqlite:///{db}")]).trim(),
        "cogs"
    );
    // Bad inputs: no mosaic name, reserved name, missing file, not a database.
    for bad in [
        format!("sqlite:///{db}"),
        format!("sqlite:///{db}:mosaicjson_metadata"),
    ] {
        assert_eq!(
            run_cli_status(&["info", &bad]).status.code(),
            Some(64),
            "{bad}"
        );
    }
    let missing = uri(&dir.path().join("absent.db").to_string_lossy(), "m");
    assert_eq!(run_cli_status(&["info", &missing]).status.code(), Some(66));
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
    let out = run_cli_status(&["info", &uri(&garbage.to_string_lossy(), "m")]);
    assert!(matches!(out.status.code(), Some(65 | 75)), "{out:?}");
}

#[tokio::test]
async fn dispatcher_opens_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db").to_string_lossy().into_owned();
    let doc = MosaicJson::from_slice(&read_bytes("mosaics/fp_100__z7_12.json")).unwrap();
    let u = uri(&db, "m");
    mosaic::backend::open_writer(&u)
        .unwrap()
        .write(&doc, WriteMode::Create)
        .await
        .unwrap();
    let read = mosaic::backend::open(&u).await.unwrap();
    assert_eq!(read.backend_name(), "SQLite");
    assert!(matches!(
        mosaic::backend::open(&uri(&db, "other")).await,
        Err(Error::NotFound { .. })
    ));
}

/// A database written by us (WAL mode) and shipped on read-only media (a Lambda layer)
/// still opens: without its `-shm` file it is read as immutable.
#[tokio::test]
async fn wal_database_on_read_only_media_opens() {
    struct Immutable(std::path::PathBuf);
    impl Drop for Immutable {
        fn drop(&mut self) {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        }
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let db = dir.path().join("layer.db").to_string_lossy().into_owned();
    let doc = MosaicJson::from_slice(&read_bytes("mosaics/fp_100__z7_12.json")).unwrap();
    SqliteWriter::new(&uri(&db, "m"), &db, "m")
        .write(&doc, WriteMode::Create)
        .await
        .unwrap();
    // The writer is gone: SQLite removed -wal/-shm; now nothing can be created beside it.
    assert!(!std::path::Path::new(&format!("{db}-shm")).exists());
    let status = std::process::Command::new("chattr")
        .arg("+i")
        .arg(dir.path())
        .status()
        .expect("chattr (e2fsprogs) makes the directory read-only for this test");
    assert!(
        status.success(),
        "chattr +i failed: the test needs root on ext4"
    );
    let _guard = Immutable(dir.path().to_path_buf());
    assert!(std::fs::write(dir.path().join("probe"), b"x").is_err());
    let read = SqliteReader::open(&uri(&db, "m"), &db, "m").await.unwrap();
    let mut all = read.tiles().await.unwrap();
    all.sort();
    let mut expected: Vec<(String, Vec<String>)> = doc.tiles.into_iter().collect();
    expected.sort();
    assert_eq!(all, expected);
}
