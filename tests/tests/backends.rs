//! One conformance suite over every storage backend — file, S3 (moto), GCS (emulator),
//! Azure Blob (Azurite) and HTTP (read paths) — plus bad inputs and a tile rendered from a
//! mosaic on one service whose COGs live on another.
//!
//! Needs the local services of `infra/services.sh` (their endpoints in the standard
//! variables it exports); without them these tests fail, they never skip.

use mosaic::backend::{self, MosaicUri, WriteMode, stores::Stores};
use mosaic::create::{CreateOptions, Footprint, UpdateOptions};
use mosaic::{Error, MosaicJson};
use mosaic_integration_tests::{
    mosaic_bin, read_bytes, refdata, require_services, run_cli, run_id,
};
use object_store::ObjectStoreExt;

/// Base URIs (a fresh prefix each) of the writable object stores.
fn stores() -> Vec<(&'static str, String)> {
    let id = run_id();
    vec![
        ("s3", format!("s3://mosaic-test/{id}")),
        ("gs", format!("gs://mosaic-test/{id}")),
        (
            "az",
            format!("az://devstoreaccount1.blob.core.windows.net/mosaic-test/{id}"),
        ),
    ]
}

fn doc(asset: &str) -> MosaicJson {
    MosaicJson::from_footprints(
        &[Footprint::from_bbox(asset, [10.0, 45.0, 10.5, 45.5])],
        &CreateOptions::new(6, 9),
    )
    .unwrap()
}

async fn put_raw(uri: &str, bytes: Vec<u8>) {
    let parsed = MosaicUri::parse(uri).unwrap();
    let (store, path) = Stores::new(mosaic::settings::Settings::from_env())
        .resolve(uri, &parsed)
        .unwrap();
    store.put(&path, bytes.into()).await.unwrap();
}

/// The conformance suite for one writable location prefix.
async fn conformance(label: &str, base: &str, concurrent: bool) {
    // Round trip (plain and gzip), create vs overwrite.
    for name in ["m.json", "m.json.gz"] {
        let uri = format!("{base}/{name}");
        let w = backend::open_writer(&uri).unwrap();
        w.write(&doc("a.tif"), WriteMode::Create)
            .await
            .unwrap_or_else(|e| panic!("{label} {uri}: {e}"));
        let r = backend::open(&uri).await.unwrap();
        assert_eq!(*r.document(), doc("a.tif"), "{label}: round trip");
        let stored = r.stored_size().unwrap();
        let json_len = doc("a.tif").to_json_vec().len() as u64;
        assert_eq!(
            stored < json_len,
            name.ends_with(".gz"),
            "{label} {name}: stored {stored} vs json {json_len}"
        );
        assert!(
            matches!(
                w.write(&doc("b.tif"), WriteMode::Create).await,
                Err(Error::AlreadyExists { .. })
            ),
            "{label}: create refuses"
        );
        assert_eq!(
            *backend::open(&uri).await.unwrap().document(),
            doc("a.tif"),
            "{label}: refused create left it alone"
        );
        w.write(&doc("b.tif"), WriteMode::Overwrite).await.unwrap();
        assert_eq!(
            *backend::open(&uri).await.unwrap().document(),
            doc("b.tif"),
            "{label}: overwrite"
        );
        if label == "gs" {
            // gcp-storage-emulator answers DELETE with 501 Not Implemented.
            eprintln!("gs: delete check skipped: the GCS emulator does not implement DELETE");
            continue;
        }
        w.delete().await.unwrap();
        assert!(
            matches!(backend::open(&uri).await, Err(Error::NotFound { .. })),
            "{label}: deleted"
        );
        assert!(
            matches!(w.delete().await, Err(Error::NotFound { .. })),
            "{label}: delete twice"
        );
    }
    // Concurrent updates: every writer's asset survives.
    if concurrent {
        let uri = format!("{base}/concurrent.json");
        backend::open_writer(&uri)
            .unwrap()
            .write(&doc("base.tif"), WriteMode::Create)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let uri = uri.clone();
                tokio::spawn(async move {
                    let w = backend::open_writer(&uri).unwrap();
                    w.update(
                        &[Footprint::from_bbox(
                            format!("add{i}.tif"),
                            [10.0, 45.0, 10.5, 45.5],
                        )],
                        &UpdateOptions::default(),
                    )
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{label}: concurrent update: {e}"));
        }
        let d = backend::open(&uri).await.unwrap().document();
        let assets: std::collections::HashSet<&String> = d.tiles.values().flatten().collect();
        for i in 0..4 {
            assert!(
                assets.contains(&format!("add{i}.tif")),
                "{label}: update {i} lost"
            );
        }
        assert_eq!(d.version, "1.0.4", "{label}: four version bumps");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_every_backend() {
    require_services();
    let tmp = tempfile::tempdir().unwrap();
    // Local files: a single writer per file (no conditional update on a local file system).
    conformance("file", tmp.path().to_str().unwrap(), false).await;
    for (label, base) in stores() {
        // gcp-storage-emulator ignores generation preconditions (x-goog-if-generation-match),
        // so concurrent updates cannot be arbitrated there; real GCS honours them
        // (docs/compatibility.md). Every other check runs against it.
        let concurrent = label != "gs";
        if !concurrent {
            eprintln!(
                "{label}: concurrent-update check skipped: the GCS emulator ignores generation preconditions"
            );
        }
        conformance(label, &base, concurrent).await;
    }
    // HTTP: read paths over a Range-capable file server, and read-only refusal.
    let dir = std::env::var("MOSAIC_TEST_HTTP_DIR").unwrap();
    let url = std::env::var("MOSAIC_TEST_HTTP_URL").unwrap();
    let id = run_id();
    std::fs::write(format!("{dir}/{id}.json"), doc("h.tif").to_json_vec()).unwrap();
    std::fs::write(
        format!("{dir}/{id}.json.gz"),
        mosaic::mosaicjson::gzip(&doc("h.tif").to_json_vec()),
    )
    .unwrap();
    // gzip detected by magic bytes even without the suffix
    std::fs::write(
        format!("{dir}/{id}-nosuffix.json"),
        mosaic::mosaicjson::gzip(&doc("h.tif").to_json_vec()),
    )
    .unwrap();
    for name in [
        format!("{id}.json"),
        format!("{id}.json.gz"),
        format!("{id}-nosuffix.json"),
    ] {
        let r = backend::open(&format!("{url}/{name}"))
            .await
            .unwrap_or_else(|e| panic!("http {name}: {e}"));
        assert_eq!(*r.document(), doc("h.tif"));
        assert_eq!(
            r.assets_for_point(10.2, 45.2, &Default::default())
                .await
                .unwrap(),
            vec!["h.tif".to_string()]
        );
    }
    assert!(matches!(
        backend::open(&format!("{url}/{id}-missing.json")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        backend::open_writer(&format!("{url}/{id}.json")),
        Err(Error::ReadOnly { .. })
    ));
    // Memory: same contract through the writer interface.
    let mem = backend::memory::MemoryBackend::empty();
    use mosaic::backend::{MosaicRead, MosaicWrite};
    mem.write(&doc("m.tif"), WriteMode::Create).await.unwrap();
    assert!(matches!(
        mem.write(&doc("m.tif"), WriteMode::Create).await,
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(*mem.document(), doc("m.tif"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_by_magic_truncated_gzip_and_large_garbage() {
    require_services();
    for (label, base) in stores() {
        let json = doc("g.tif").to_json_vec();
        // gzip bytes under a name without `.gz`
        put_raw(
            &format!("{base}/magic.json"),
            mosaic::mosaicjson::gzip(&json),
        )
        .await;
        assert_eq!(
            *backend::open(&format!("{base}/magic.json"))
                .await
                .unwrap()
                .document(),
            doc("g.tif"),
            "{label}"
        );
        // truncated gzip
        let gz = mosaic::mosaicjson::gzip(&json);
        put_raw(
            &format!("{base}/truncated.json.gz"),
            gz[..gz.len() / 2].to_vec(),
        )
        .await;
        assert!(
            matches!(
                backend::open(&format!("{base}/truncated.json.gz")).await,
                Err(Error::InvalidMosaic { .. })
            ),
            "{label}"
        );
        // 5 MB that are not JSON
        let garbage: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        put_raw(&format!("{base}/garbage.json"), garbage).await;
        assert!(
            matches!(
                backend::open(&format!("{base}/garbage.json")).await,
                Err(Error::InvalidMosaic { .. })
            ),
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_uris_missing_buckets_and_wrong_credentials() {
    require_services();
    for bad in [
        "s3://",
        "s3://bucket",
        "gs://",
        "gs://bucket/",
        "az://devstoreaccount1.blob.core.windows.net/container",
        "az:///c/k.json",
        "https://",
    ] {
        assert!(
            matches!(backend::open(bad).await, Err(Error::InvalidUri { .. })),
            "{bad}"
        );
    }
    for missing in [
        "s3://no-such-bucket-mosaic/m.json",
        "gs://no-such-bucket-mosaic/m.json",
        "az://devstoreaccount1.blob.core.windows.net/no-such-container/m.json",
    ] {
        match backend::open(missing).await {
            Err(Error::NotFound { uri }) | Err(Error::Storage { uri, .. }) => {
                assert_eq!(uri, missing)
            }
            other => panic!("{missing}: {:?}", other.map(|b| b.uri().to_string())),
        }
    }
    // Wrong credentials: Azurite checks SharedKey signatures (moto and the GCS emulator accept any).
    let (_, base) = stores().pop().unwrap();
    let uri = format!("{base}/creds.json");
    backend::open_writer(&uri)
        .unwrap()
        .write(&doc("c.tif"), WriteMode::Create)
        .await
        .unwrap();
    let endpoint = std::env::var("AZURITE_BLOB_STORAGE_URL").unwrap();
    let wrong = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={};BlobEndpoint={endpoint}/devstoreaccount1;",
        "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk="
    );
    let out = std::process::Command::new(mosaic_bin())
        .args(["info", &uri])
        .env_remove("AZURE_STORAGE_USE_EMULATOR")
        .env("AZURE_STORAGE_CONNECTION_STRING", wrong)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(77),
        "auth exit code: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not authorized"));
}

/// Copies the COGs of the reference rgb mosaic under `prefix` (an S3 URI ending in `/`);
/// returns the reference document and the asset names, sorted.
async fn put_reference_cogs(prefix: &str) -> (MosaicJson, Vec<String>) {
    let reference = MosaicJson::from_slice(&read_bytes("mosaics/cog_rgb__default.json")).unwrap();
    let mut names: Vec<String> = reference.tiles.values().flatten().cloned().collect();
    names.sort();
    names.dedup();
    for n in &names {
        put_raw(
            &format!("{prefix}{n}"),
            std::fs::read(refdata().join(n.as_str())).unwrap(),
        )
        .await;
    }
    (reference, names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tile_of_a_mosaic_on_azure_with_cogs_on_s3() {
    require_services();
    let id = run_id();
    // COGs of the reference rgb group on S3.
    let (reference, _) = put_reference_cogs(&format!("s3://mosaic-test/{id}/")).await;
    // The document, with S3 asset URLs, on Azure.
    let mut doc = reference.clone();
    doc.asset_prefix = Some(format!("s3://mosaic-test/{id}/"));
    let az = format!("az://devstoreaccount1.blob.core.windows.net/mosaic-test/{id}/rgb.json.gz");
    backend::open_writer(&az)
        .unwrap()
        .write(&doc, WriteMode::Create)
        .await
        .unwrap();

    let manifest: serde_json::Value =
        serde_json::from_slice(&read_bytes("renders/manifest.json")).unwrap();
    let rec = manifest["renders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["mosaic"] == "mosaics/cog_rgb__default.json"
                && r["pixel_selection"] == "first"
                && r["indexes"].is_null()
        })
        .unwrap();
    let t = &rec["tile"];
    let tile = mosaic::Tile::new(
        t["x"].as_u64().unwrap(),
        t["y"].as_u64().unwrap(),
        t["z"].as_u64().unwrap() as u8,
    );
    let tms = mosaic::TileMatrixSet::web_mercator();
    let opts = mosaic::render::TileOptions::default();
    let remote = backend::open(&az).await.unwrap();
    let out = mosaic::render::render_tile(remote.as_ref(), &tms, tile, &Default::default(), &opts)
        .await
        .unwrap();
    assert!(out.assets_used.iter().all(|a| a.starts_with("s3://")));
    // Same pixels as the reference render.
    let data =
        mosaic_integration_tests::parse_npy(&read_bytes(rec["files"]["data"].as_str().unwrap()));
    let mask =
        mosaic_integration_tests::parse_npy(&read_bytes(rec["files"]["mask"].as_str().unwrap()));
    let img = &out.image;
    for k in 0..img.data.len() {
        assert_eq!(img.mask[k], mask.values[k] != 0.0);
        if !img.mask[k] {
            assert_eq!(img.data[k], data.values[k]);
        }
    }
}

/// The CLI contract of the issue: `create -o s3://…`, `upload --url az://…`, `info gs://…`,
/// `assets http(s)://…`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_create_upload_info_assets_on_object_stores() {
    require_services();
    let id = run_id();
    // create -o s3://…, reading the COGs from S3 through GDAL's /vsis3/.
    let prefix = format!("s3://mosaic-test/{id}/");
    let (reference, names) = put_reference_cogs(&prefix).await;
    let list: String = names.iter().map(|n| format!("{prefix}{n}\n")).collect();
    let list_file = std::env::temp_dir().join(format!("{id}.txt"));
    std::fs::write(&list_file, list).unwrap();
    let s3 = format!("{prefix}cli.json");
    run_cli(&[
        "create",
        "-q",
        "--strict",
        "-o",
        &s3,
        list_file.to_str().unwrap(),
    ]);
    std::fs::remove_file(&list_file).unwrap();
    let created = backend::open(&s3).await.unwrap().document().clone();
    let sorted = |doc: &MosaicJson, strip: &str| {
        doc.tiles
            .iter()
            .map(|(k, v)| {
                let mut v: Vec<String> = v
                    .iter()
                    .map(|a| a.trim_start_matches(strip).to_string())
                    .collect();
                v.sort();
                (k.clone(), v)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(sorted(&created, &prefix), sorted(&reference, ""));
    assert_eq!(created.bounds, reference.bounds);

    // upload --url az://… then info of it, and info gs://… of an uploaded copy.
    let local = refdata().join("mosaics/cog_rgb__default.json");
    let local = local.to_str().unwrap();
    let az = format!("az://devstoreaccount1.blob.core.windows.net/mosaic-test/{id}/up.json");
    run_cli(&["upload", "--url", &az, local]);
    assert_eq!(*backend::open(&az).await.unwrap().document(), reference);
    let gs = format!("gs://mosaic-test/{id}/up.json.gz");
    run_cli(&["upload", "--url", &gs, local]);
    let info_gs: serde_json::Value =
        serde_json::from_str(&run_cli(&["info", "--json", &gs])).unwrap();
    let info_local: serde_json::Value =
        serde_json::from_str(&run_cli(&["info", "--json", local])).unwrap();
    assert_eq!(info_gs["GEO"], info_local["GEO"]);
    assert_eq!(info_gs["TILES"], info_local["TILES"]);
    assert_eq!(info_gs["Compressed"], true);

    // assets over HTTP (read-only HttpBackend).
    let dir = std::env::var("MOSAIC_TEST_HTTP_DIR").unwrap();
    let url = std::env::var("MOSAIC_TEST_HTTP_URL").unwrap();
    std::fs::copy(local, std::path::Path::new(&dir).join(format!("{id}.json"))).unwrap();
    let remote = format!("{url}/{id}.json");
    let args = ["--point", "14.7", "45.2"];
    let over_http = run_cli(&[&["assets", remote.as_str()][..], &args[..]].concat());
    let from_file = run_cli(&[&["assets", local][..], &args[..]].concat());
    assert!(!from_file.trim().is_empty() && from_file.trim() != "[]");
    assert_eq!(over_http, from_file);
}
