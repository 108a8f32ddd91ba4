//! The DynamoDB backend against a DynamoDB-compatible server on loopback (moto, started by
//! `infra/services.sh`): reference look-ups round-tripped, the per-quadkey edit suite shared
//! with SQLite ([`mosaic_integration_tests::conformance`]), missing tables, orphans and
//! listing, pagination past 1 MB, request counts (injected clients included), bad inputs,
//! regions, the item size limit, the write lease, CLI.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use mosaic::backend::dynamodb::{
    self, CountRequests, DynamoDbClients, DynamoDbWriter, RequestStats,
};
use mosaic::backend::{self, MosaicRead, MosaicWrite, Position, TileIndex, WriteMode};
use mosaic::create::{CreateOptions, Footprint};
use mosaic::index::LookupOptions;
use mosaic::{Error, MosaicJson, Tile};
use mosaic_integration_tests::conformance::{Database, Subject};
use mosaic_integration_tests::{
    assert_cli_assets, assert_lookup_cases, case_mosaics, lookup_cases, mosaic_name, read_bytes,
    require_services, run_cli, run_cli_status, run_id,
};

/// A table name unique to this run (tables are shared by the tests of this file otherwise).
fn table(label: &str) -> String {
    format!("{label}-{}", run_id())
}

fn uri(table: &str, mosaic: &str) -> String {
    format!("dynamodb:///{table}:{mosaic}")
}

/// A writer with clients of its own, so its request counts are its own.
fn mosaic_at(table: &str, name: &str) -> DynamoDbWriter {
    DynamoDbWriter::new(
        &uri(table, name),
        None,
        table,
        name,
        DynamoDbClients::from_env(),
    )
}

/// Puts an item as-is (through the SDK, bypassing the backend): corrupt or orphan data.
async fn put_raw_item(table: &str, item: &[(&str, AttributeValue)]) {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let mut req = aws_sdk_dynamodb::Client::new(&conf)
        .put_item()
        .table_name(table);
    for (k, v) in item {
        req = req.item(*k, v.clone());
    }
    req.send().await.unwrap();
}

fn doc_of(assets: &[(&str, [f64; 4])], minzoom: u8, maxzoom: u8) -> MosaicJson {
    let fps: Vec<Footprint> = assets
        .iter()
        .map(|(a, b)| Footprint::from_bbox(*a, *b))
        .collect();
    MosaicJson::from_footprints(&fps, &CreateOptions::new(minzoom, maxzoom)).unwrap()
}

/// Items a whole-document write puts: the tiles, one record per asset, the "tracked" marker.
fn written_items(doc: &MosaicJson) -> usize {
    doc.tiles.len() + mosaic::backend::assets::invert(&doc.tiles).len() + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_lookups_round_trip() {
    require_services();
    // One table per mosaic: moto walks a whole table for each Query (AWS does not).
    let t = table("parity");
    let table_of = |rel: &str| format!("{t}-{}", mosaic_name(rel));
    let cases = lookup_cases();
    for rel in case_mosaics(&cases) {
        let doc = MosaicJson::from_slice(&read_bytes(&rel)).unwrap();
        let m = mosaic_at(&table_of(&rel), &mosaic_name(&rel));
        m.write(&doc, WriteMode::Create).await.unwrap();
        // The N tile items go in ⌈N/25⌉ BatchWriteItem calls (moto leaves none unprocessed).
        assert_eq!(
            m.stats().count("BatchWriteItem") as usize,
            written_items(&doc).div_ceil(25),
            "{rel}"
        );
        let back = m.read_metadata().await.unwrap();
        assert_eq!(back.bounds, doc.bounds, "{rel}");
        assert_eq!(
            (back.minzoom, back.maxzoom, back.quadkey_zoom),
            (doc.minzoom, doc.maxzoom, doc.quadkey_zoom)
        );
        assert_eq!(back.tms(), doc.tms());
    }
    assert_lookup_cases("from DynamoDB", &cases, |rel| {
        let m = mosaic_at(&table_of(&rel), &mosaic_name(&rel));
        async move { Arc::new(m.open().await.unwrap()) as Arc<dyn MosaicRead> }
    })
    .await;
}

/// One request per tile look-up at any zoom: a `GetItem` at or above quadkey_zoom, one
/// `Query` below it; a bbox reads its keys in one `BatchGetItem`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_per_tile_lookup() {
    require_services();
    let t = table("requests");
    let doc = MosaicJson::from_slice(&read_bytes("mosaics/fp_100__z5_12_qk8.json")).unwrap();
    let qz = doc.effective_quadkey_zoom();
    mosaic_at(&t, "m")
        .write(&doc, WriteMode::Create)
        .await
        .unwrap();
    let backend = mosaic_at(&t, "m").open().await.unwrap();
    let tms = doc.tms();
    let (first_qk, _) = doc.tiles.get_index(0).unwrap();
    let base = tms.quadkey_to_tile(first_qk).unwrap();
    let opts = LookupOptions::default();
    for z in 0..=doc.maxzoom + 2 {
        let tile = if z <= qz {
            base.ancestor(z)
        } else {
            let shift = z - qz;
            Tile::new(base.x << shift, base.y << shift, z)
        };
        backend.stats().reset();
        let assets = backend.assets_for_tile(tile, &opts).await.unwrap();
        let stats = backend.stats().snapshot();
        assert_eq!(backend.stats().total(), 1, "z{z}: {stats:?}");
        let op = if z >= qz { "GetItem" } else { "Query" };
        assert_eq!(stats.get(op), Some(&1), "z{z}: {stats:?}");
        assert!(!assets.is_empty(), "z{z}");
        // Same answer as the whole document in memory.
        let expected = mosaic::MemoryIndex::new(doc.clone())
            .unwrap()
            .assets_for_tile(tile.x, tile.y, tile.z)
            .unwrap();
        assert_eq!(assets, expected, "z{z}");
    }
    // A bbox: its quadkey-zoom keys in BatchGetItems of 100.
    let (qk, _) = doc.tiles.get_index(doc.tiles.len() / 2).unwrap();
    let b = tms.bounds(tms.quadkey_to_tile(qk).unwrap().ancestor(qz - 2));
    let bbox = mosaic::index::Lookup::Bbox(b);
    let keys: std::collections::HashSet<_> = mosaic::index::plan(&doc, &bbox, &opts)
        .unwrap()
        .into_iter()
        .collect();
    assert!(keys.len() > 1);
    backend.stats().reset();
    let assets = backend.lookup(&bbox, &opts).await.unwrap();
    assert!(!assets.is_empty());
    assert_eq!(
        backend.stats().snapshot(),
        [("BatchGetItem".to_string(), keys.len().div_ceil(100) as u64)].into()
    );
    assert_eq!(
        assets,
        mosaic::MemoryIndex::new(doc.clone())
            .unwrap()
            .lookup(&bbox, &opts)
            .unwrap()
    );
    // A bbox of thousands of keys: a few prefix Queries of the stored items instead.
    let world = mosaic::index::Lookup::Bbox(doc.bounds);
    let planned = mosaic::index::plan(&doc, &world, &opts).unwrap().len();
    assert!(planned > 1000, "{planned}");
    backend.stats().reset();
    let assets = backend.lookup(&world, &opts).await.unwrap();
    let stats = backend.stats().snapshot();
    assert_eq!(stats.keys().collect::<Vec<_>>(), ["Query"], "{stats:?}");
    assert!(stats["Query"] <= 16, "{stats:?}");
    assert_eq!(
        assets,
        mosaic::MemoryIndex::new(doc.clone())
            .unwrap()
            .lookup(&world, &opts)
            .unwrap()
    );
}

/// A table of its own for each conformance property.
struct Table(String);

impl Subject for Table {
    fn uri(&self, mosaic: &str) -> String {
        uri(&self.0, mosaic)
    }

    fn writer(&self, mosaic: &str) -> Arc<dyn Database> {
        Arc::new(mosaic_at(&self.0, mosaic))
    }
}

fn subject() -> Arc<dyn Subject> {
    require_services();
    Arc::new(Table(table("conformance")))
}

mosaic_integration_tests::tile_index_conformance!(subject());

/// Beyond the lifecycle the conformance suite checks: a missing table, orphan items of an
/// interrupted write cleared by the next write, listing, and a delete touching only its
/// own mosaic of a shared table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tables_orphans_and_listing() {
    require_services();
    let t = table("lifecycle");
    let a = doc_of(&[("a.tif", [0.0, 0.0, 12.0, 12.0])], 6, 8);
    // Reading before anything exists: the table is missing.
    assert!(matches!(
        backend::open(&uri(&t, "m")).await,
        Err(Error::NotFound { .. })
    ));
    let m = mosaic_at(&t, "m");
    m.write(&a, WriteMode::Create).await.unwrap();
    // Orphans of a write that stopped before its metadata item are cleared by the next write.
    put_raw_item(
        &t,
        &[
            ("mosaicId", AttributeValue::S("other".into())),
            ("quadkey", AttributeValue::S("3333333".into())),
            (
                "assets",
                AttributeValue::L(vec![AttributeValue::S("orphan.tif".into())]),
            ),
        ],
    )
    .await;
    mosaic_at(&t, "other")
        .write(&a, WriteMode::Create)
        .await
        .unwrap();
    assert!(
        !mosaic_at(&t, "other")
            .list_quadkeys()
            .await
            .unwrap()
            .contains(&"3333333".to_string())
    );
    let list = || async { dynamodb::list_mosaics(&DynamoDbClients::from_env(), None, &t).await };
    assert_eq!(list().await.unwrap(), ["m", "other"]);
    m.delete().await.unwrap();
    assert!(m.list_quadkeys().await.unwrap().is_empty());
    assert_eq!(list().await.unwrap(), ["other"]);
    // Another mosaic of the same table is untouched.
    assert_eq!(
        mosaic_at(&t, "other").list_quadkeys().await.unwrap().len(),
        a.tiles.len()
    );
}

/// Clients injected with `DynamoDbClients::with_client`: every request of a writer, a
/// reader and a listing goes through the given client (its own interceptor counts them,
/// and so does the handle's), and a tile look-up at the quadkey zoom is exactly one `GetItem`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_client_carries_every_request() {
    require_services();
    let t = table("injected");
    let counted = Arc::new(RequestStats::default());
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(CountRequests::new(counted.clone()))
        .build();
    let clients = DynamoDbClients::with_client(aws_sdk_dynamodb::Client::from_conf(conf));
    let handle = clients.stats();
    let reset = || {
        counted.reset();
        handle.reset();
    };
    let doc = doc_of(&[("a.tif", [0.0, 0.0, 1.0, 1.0])], 6, 8);
    let writer = || DynamoDbWriter::new(&uri(&t, "m"), None, &t, "m", clients.clone());

    writer().write(&doc, WriteMode::Create).await.unwrap();
    assert!(counted.total() > 0);
    assert_eq!(
        counted.count("BatchWriteItem") as usize,
        written_items(&doc).div_ceil(25)
    );
    assert_eq!(handle.snapshot(), counted.snapshot());

    reset();
    let reader = writer().open().await.unwrap();
    let one_get: std::collections::BTreeMap<String, u64> = [("GetItem".to_string(), 1)].into();
    assert_eq!(counted.snapshot(), one_get);
    reset();
    let (qk, assets) = doc.tiles.get_index(0).unwrap();
    let tile = doc.tms().quadkey_to_tile(qk).unwrap();
    let got = reader
        .assets_for_tile(tile, &LookupOptions::default())
        .await
        .unwrap();
    assert_eq!(&got, assets);
    assert_eq!(counted.snapshot(), one_get);
    assert_eq!(handle.snapshot(), one_get);

    reset();
    assert_eq!(
        dynamodb::list_mosaics(&clients, None, &t).await.unwrap(),
        ["m"]
    );
    assert_eq!(counted.snapshot(), [("Scan".to_string(), 1)].into());
}

/// More than 1 MB of items: Query pages (LastEvaluatedKey) for listing, look-ups and delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_past_one_megabyte() {
    require_services();
    let t = table("pages");
    let mut doc = MosaicJson::new(8, 10);
    let long = "x".repeat(1000);
    let mut bytes = 0;
    // 300 quadkeys of zoom 8 under one zoom-2 tile, 4 KB of assets each: 1.2 MB.
    for i in 0..300u32 {
        let qk = format!(
            "00{}",
            (0..6)
                .map(|k| char::from(b'0' + ((i >> (2 * (5 - k))) & 3) as u8))
                .collect::<String>()
        );
        let assets: Vec<String> = (0..4).map(|j| format!("{qk}/{j}/{long}")).collect();
        bytes += assets.iter().map(String::len).sum::<usize>();
        doc.tiles.insert(qk, assets);
    }
    assert!(bytes > 1 << 20);
    doc.bounds = [-180.0, -85.0, 180.0, 85.0];
    let m = mosaic_at(&t, "big");
    m.write(&doc, WriteMode::Create).await.unwrap();
    assert_eq!(m.list_quadkeys().await.unwrap().len(), 300);
    let backend = m.clone().open().await.unwrap();
    backend.stats().reset();
    let all = backend
        .assets_for_tile(Tile::new(0, 0, 2), &LookupOptions::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1200);
    let queries = backend.stats().count("Query");
    assert!(
        queries >= 2,
        "a 1.2 MB prefix needs several pages, got {queries}"
    );
    // The info listing pages too.
    assert_eq!(backend.info(true).await.unwrap().quadkeys.len(), 300);
    m.delete().await.unwrap();
    assert!(m.list_quadkeys().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_typed_errors() {
    require_services();
    for bad in [
        "dynamodb:///table",
        "dynamodb://nowhere/table:m",
        "dynamodb:///:m",
        "dynamodb:///table:",
        "dynamodb://us-east-1/t:m/extra",
    ] {
        assert!(
            matches!(backend::open(bad).await, Err(Error::InvalidUri { .. })),
            "{bad}"
        );
        let out = run_cli_status(&["info", bad]);
        assert_eq!(out.status.code(), Some(64), "{bad}");
    }
    let t = table("bad");
    // Missing table, then missing mosaic in an existing table.
    assert!(matches!(
        backend::open(&uri(&t, "m")).await,
        Err(Error::NotFound { .. })
    ));
    mosaic_at(&t, "m")
        .write(
            &doc_of(&[("a.tif", [0.0, 0.0, 1.0, 1.0])], 6, 8),
            WriteMode::Create,
        )
        .await
        .unwrap();
    assert!(matches!(
        backend::open(&uri(&t, "nope")).await,
        Err(Error::NotFound { .. })
    ));
    let out = run_cli_status(&["info", &uri(&t, "nope")]);
    assert_eq!(out.status.code(), Some(66));
    // A corrupted metadata item: minzoom is text, bounds are missing.
    put_raw_item(
        &t,
        &[
            ("mosaicId", AttributeValue::S("broken".into())),
            ("quadkey", AttributeValue::S("-1".into())),
            ("minzoom", AttributeValue::S("seven".into())),
            ("maxzoom", AttributeValue::N("9".into())),
        ],
    )
    .await;
    assert!(matches!(
        backend::open(&uri(&t, "broken")).await,
        Err(Error::InvalidMosaic { .. })
    ));
    // A tile item whose assets are not a list of strings.
    put_raw_item(
        &t,
        &[
            ("mosaicId", AttributeValue::S("m".into())),
            ("quadkey", AttributeValue::S("1202022".into())),
            ("assets", AttributeValue::N("3".into())),
        ],
    )
    .await;
    let read = backend::open(&uri(&t, "m")).await.unwrap();
    assert!(matches!(
        read.query(&mosaic::index::QuadkeyQuery::Exact("1202022".into()))
            .await,
        Err(Error::InvalidMosaic { .. })
    ));
    // A quadkey over DynamoDB's 400 KB item limit is refused before anything is written.
    let mut huge = doc_of(&[("a.tif", [0.0, 0.0, 1.0, 1.0])], 6, 8);
    let big: Vec<String> = (0..500)
        .map(|i| format!("{i}-{}", "y".repeat(1000)))
        .collect();
    let qk = huge.tiles.keys().next().unwrap().clone();
    huge.tiles.insert(qk.clone(), big);
    match mosaic_at(&t, "huge").write(&huge, WriteMode::Create).await {
        Err(Error::ItemTooLarge { quadkey, .. }) => assert_eq!(quadkey, qk),
        other => panic!("{other:?}"),
    }
    assert!(
        mosaic_at(&t, "huge")
            .list_quadkeys()
            .await
            .unwrap()
            .is_empty()
    );
}

/// The region of the URI is the one used: a table written in us-gov-west-1 is not in us-east-1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_of_the_uri_is_honoured() {
    require_services();
    let t = table("regional");
    let doc = doc_of(&[("a.tif", [0.0, 0.0, 1.0, 1.0])], 6, 8);
    for region in ["us-gov-west-1", "ap-southeast-3"] {
        let u = format!("dynamodb://{region}/{t}:m");
        backend::open_writer(&u)
            .unwrap()
            .write(&doc, WriteMode::Create)
            .await
            .unwrap();
        assert_eq!(
            backend::open(&u)
                .await
                .unwrap()
                .assets_for_point(0.5, 0.5, &Default::default())
                .await
                .unwrap(),
            ["a.tif"]
        );
    }
    assert!(matches!(
        backend::open(&format!("dynamodb://eu-west-1/{t}:m")).await,
        Err(Error::NotFound { .. })
    ));
}

/// The CLI contract: `create -o dynamodb:///t:m`, `info`, `assets`, `update`, `list`, `delete`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_on_dynamodb() {
    require_services();
    let t = table("cli");
    let u = uri(&t, "fp");
    run_cli(&[
        "create-from-features",
        "--minzoom",
        "7",
        "--maxzoom",
        "12",
        "--property",
        "path",
        "-o",
        &u,
        "--quiet",
        "footprints/fp_100.geojson",
    ]);
    let local = run_cli(&[
        "create-from-features",
        "--minzoom",
        "7",
        "--maxzoom",
        "12",
        "--property",
        "path",
        "--quiet",
        "footprints/fp_100.geojson",
    ]);
    let local = MosaicJson::from_slice(local.as_bytes()).unwrap();
    let info: serde_json::Value = serde_json::from_str(&run_cli(&["info", &u, "--json"])).unwrap();
    assert_eq!(info["Backend"], "AWS DynamoDB", "{info}");
    assert_cli_assets(&u, &local, 20);
    let listed = run_cli(&["list", &format!("dynamodb:///{t}")]);
    assert_eq!(listed.trim(), "fp");
    run_cli(&["delete", &u]);
    assert_eq!(run_cli_status(&["info", &u]).status.code(), Some(66));
    // `update` adds COGs to a DynamoDB mosaic.
    let cogs = MosaicJson::from_slice(&read_bytes("mosaics/cog_u16__default.json")).unwrap();
    let u2 = uri(&t, "cogs");
    let names: BTreeSet<String> = cogs.tiles.values().flatten().cloned().collect();
    let names: Vec<String> = names.into_iter().collect();
    let (first, rest) = names.split_first().unwrap();
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(list.path(), format!("{first}\n")).unwrap();
    run_cli(&[
        "create",
        list.path().to_str().unwrap(),
        "-o",
        &u2,
        "--quiet",
    ]);
    std::fs::write(list.path(), rest.join("\n")).unwrap();
    run_cli(&["update", list.path().to_str().unwrap(), &u2, "--quiet"]);
    let m = mosaic_at(&t, "cogs");
    let stored: BTreeSet<String> = {
        let read = m.clone().open().await.unwrap();
        let mut all = BTreeSet::new();
        for qk in read.quadkeys().await.unwrap() {
            all.extend(
                read.query(&mosaic::index::QuadkeyQuery::Exact(qk))
                    .await
                    .unwrap(),
            );
        }
        all
    };
    assert_eq!(stored, names.iter().cloned().collect());
    assert_eq!(m.read_metadata().await.unwrap().version, "1.0.1");
}

/// Growing a quadkey past the 400 KB item limit through an edit is a typed error naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_past_the_item_limit_are_typed_errors() {
    require_services();
    let t = table("limit");
    let m = mosaic_at(&t, "m");
    m.write(
        &doc_of(&[("a.tif", [0.0, 0.0, 1.0, 1.0])], 6, 8),
        WriteMode::Create,
    )
    .await
    .unwrap();
    let qk = m.list_quadkeys().await.unwrap().remove(0);
    let mut outcome = Ok(Vec::new());
    for round in 0..10 {
        let batch: Vec<String> = (0..100)
            .map(|i| format!("{round}-{i}-{}", "z".repeat(1000)))
            .collect();
        outcome = m.add_assets(&qk, &batch, Position::Last).await;
        if outcome.is_err() {
            break;
        }
    }
    match outcome {
        Err(Error::ItemTooLarge { quadkey, .. }) => assert_eq!(quadkey, qk),
        other => panic!("{other:?}"),
    }
}

/// Concurrent creators of one mosaic id: one wins, the others get `AlreadyExists`, and the
/// stored mosaic is exactly the winner's (the write lease keeps their items apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creators_do_not_mix_items() {
    require_services();
    let t = table("creators");
    mosaic_at(&t, "seed")
        .write(
            &doc_of(&[("s.tif", [0.0, 0.0, 1.0, 1.0])], 6, 8),
            WriteMode::Create,
        )
        .await
        .unwrap();
    let docs: Vec<MosaicJson> = (0..4)
        .map(|i| {
            let x = f64::from(i) * 20.0;
            doc_of(&[(&format!("w{i}.tif"), [x, 0.0, x + 15.0, 15.0])], 6, 8)
        })
        .collect();
    let mut tasks = Vec::new();
    for d in docs.clone() {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            mosaic_at(&t, "m").write(&d, WriteMode::Create).await
        }));
    }
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) => winners.push(i),
            Err(Error::AlreadyExists { .. }) => {}
            Err(e) => panic!("writer {i}: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let read = mosaic_at(&t, "m").open().await.unwrap();
    let mut stored = read.tiles().await.unwrap();
    stored.sort();
    let mut expected: Vec<(String, Vec<String>)> =
        docs[winners[0]].tiles.clone().into_iter().collect();
    expected.sort();
    assert_eq!(stored, expected);
}
