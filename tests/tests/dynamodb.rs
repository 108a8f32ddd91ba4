//! The DynamoDB backend against a DynamoDB-compatible server on loopback (moto, started by
//! `infra/services.sh`): reference look-ups round-tripped, create/overwrite/delete/list,
//! pagination past 1 MB, concurrent per-quadkey updates, request counts, bad inputs, CLI.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use mosaic::backend::dynamodb::{self, DynamoDbClients, DynamoDbWriter};
use mosaic::backend::{self, MosaicRead, MosaicWrite, Position, TileIndex, WriteMode};
use mosaic::create::{CreateOptions, Footprint, UpdateOptions};
use mosaic::index::LookupOptions;
use mosaic::{Error, MosaicJson, Tile};
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
            doc.tiles.len().div_ceil(25),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_overwrite_delete_list() {
    require_services();
    let t = table("lifecycle");
    let a = doc_of(&[("a.tif", [0.0, 0.0, 12.0, 12.0])], 6, 8);
    let b = doc_of(&[("b.tif", [0.0, 0.0, 0.5, 0.5])], 6, 8);
    assert!(b.tiles.len() < a.tiles.len());
    let m = mosaic_at(&t, "m");
    // Reading before anything exists: the table is missing.
    assert!(matches!(
        backend::open(&uri(&t, "m")).await,
        Err(Error::NotFound { .. })
    ));
    m.write(&a, WriteMode::Create).await.unwrap();
    assert!(matches!(
        m.write(&b, WriteMode::Create).await,
        Err(Error::AlreadyExists { .. })
    ));
    // The refused write left the first mosaic intact.
    assert_eq!(m.list_quadkeys().await.unwrap().len(), a.tiles.len());
    m.write(&b, WriteMode::Overwrite).await.unwrap();
    let keys: BTreeSet<String> = m.list_quadkeys().await.unwrap().into_iter().collect();
    assert_eq!(keys, b.tiles.keys().cloned().collect::<BTreeSet<_>>());
    let read = backend::open(&uri(&t, "m")).await.unwrap();
    assert_eq!(
        read.assets_for_point(0.25, 0.25, &Default::default())
            .await
            .unwrap(),
        ["b.tif"]
    );
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
    assert_eq!(
        dynamodb::list_mosaics(&DynamoDbClients::from_env(), None, &t)
            .await
            .unwrap(),
        ["m", "other"]
    );
    m.delete().await.unwrap();
    assert!(matches!(
        backend::open(&uri(&t, "m")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(m.list_quadkeys().await.unwrap().is_empty());
    assert!(matches!(m.delete().await, Err(Error::NotFound { .. })));
    assert_eq!(
        dynamodb::list_mosaics(&DynamoDbClients::from_env(), None, &t)
            .await
            .unwrap(),
        ["other"]
    );
    // Another mosaic of the same table is untouched.
    assert_eq!(
        mosaic_at(&t, "other").list_quadkeys().await.unwrap().len(),
        a.tiles.len()
    );
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

/// 50 writers add distinct and shared assets to overlapping quadkeys at once: every asset
/// ends up exactly once where it was added, and every commit bumps the version once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updaters_add_each_asset_once() {
    require_services();
    let t = table("concurrent");
    let base = doc_of(&[("seed.tif", [0.0, 0.0, 1.0, 1.0])], 6, 9);
    mosaic_at(&t, "m")
        .write(&base, WriteMode::Create)
        .await
        .unwrap();
    let quadkeys: Vec<String> = ["0", "1", "2", "3"]
        .iter()
        .flat_map(|a| ["0", "1"].iter().map(move |b| format!("12020{a}{b}")))
        .collect();
    let mut expected: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut plans = Vec::new();
    for i in 0..50usize {
        let targets: Vec<String> = [0, 1, 3]
            .iter()
            .map(|k| quadkeys[(i + k) % quadkeys.len()].clone())
            .collect();
        let assets = vec![format!("distinct-{i}.tif"), format!("shared-{}.tif", i % 5)];
        for qk in &targets {
            expected
                .entry(qk.clone())
                .or_default()
                .extend(assets.iter().cloned());
        }
        plans.push((targets, assets));
    }
    let mut tasks = Vec::new();
    for (i, (targets, assets)) in plans.into_iter().enumerate() {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let m = mosaic_at(&t, "m");
            let at = if i % 2 == 0 {
                Position::First
            } else {
                Position::Last
            };
            for qk in &targets {
                m.add_assets(qk, &assets, at).await.unwrap();
                // A repeat is a no-op.
                assert!(m.add_assets(qk, &assets, at).await.unwrap().is_empty());
            }
            m.commit_metadata(Some([0.0, 0.0, 2.0, 2.0])).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let m = mosaic_at(&t, "m");
    let backend = m.clone().open().await.unwrap();
    for (qk, want) in &expected {
        let got = backend
            .query(&mosaic::index::QuadkeyQuery::Exact(qk.clone()))
            .await
            .unwrap();
        let unique: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(unique.len(), got.len(), "{qk} has duplicates: {got:?}");
        assert_eq!(&unique, want, "{qk}");
    }
    let meta = m.read_metadata().await.unwrap();
    assert_eq!(meta.version, "1.0.50");
    assert_eq!(meta.bounds[2], 2.0);
    // Removal is per asset and idempotent; an emptied quadkey disappears.
    let qk = &quadkeys[0];
    let all: Vec<String> = expected[qk].iter().cloned().collect();
    assert_eq!(m.remove_assets(qk, &all[..1]).await.unwrap(), &all[..1]);
    assert!(m.remove_assets(qk, &all[..1]).await.unwrap().is_empty());
    m.remove_assets(qk, &all).await.unwrap();
    assert!(!m.list_quadkeys().await.unwrap().contains(qk));
}

/// `update` through the CLI-facing writer: new quadkeys inserted, assets not duplicated on a
/// repeat, metadata bumped; same look-ups as the file backend's update for new assets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_adds_footprints_idempotently() {
    require_services();
    let t = table("update");
    let base = doc_of(&[("a.tif", [0.0, 0.0, 1.0, 1.0])], 6, 8);
    let m = mosaic_at(&t, "m");
    m.write(&base, WriteMode::Create).await.unwrap();
    let more = [Footprint::from_bbox("b.tif", [0.5, 0.5, 5.0, 5.0])];
    let after = m.update(&more, &UpdateOptions::default()).await.unwrap();
    assert_eq!(after.version, "1.0.1");
    assert_eq!(after.bounds, [0.0, 0.0, 5.0, 5.0]);
    let mut reference = base.clone();
    reference.update(&more, &UpdateOptions::default()).unwrap();
    let keys: BTreeSet<String> = m.list_quadkeys().await.unwrap().into_iter().collect();
    assert_eq!(keys, reference.tiles.keys().cloned().collect());
    let read = m.clone().open().await.unwrap();
    for (qk, assets) in &reference.tiles {
        let tile = reference.tms().quadkey_to_tile(qk).unwrap();
        assert_eq!(
            &read
                .assets_for_tile(tile, &Default::default())
                .await
                .unwrap(),
            assets,
            "{qk}"
        );
    }
    // Again: nothing is duplicated (cogeo-mosaic would list b.tif twice), the version moves.
    let again = m.update(&more, &UpdateOptions::default()).await.unwrap();
    assert_eq!(again.version, "1.0.2");
    let read = m.clone().open().await.unwrap();
    assert_eq!(
        read.assets_for_point(0.75, 0.75, &Default::default())
            .await
            .unwrap(),
        ["b.tif", "a.tif"]
    );
    // Updating a mosaic that does not exist.
    assert!(matches!(
        mosaic_at(&t, "absent")
            .update(&more, &UpdateOptions::default())
            .await,
        Err(Error::NotFound { .. })
    ));
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
    // Editing something that is not a quadkey (the metadata key included).
    assert!(matches!(
        mosaic_at(&t, "m")
            .add_assets("-1", &["x".into()], Position::First)
            .await,
        Err(Error::InvalidInput(_))
    ));
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

/// The ingest primitive refuses what it would store unreadably: a quadkey of another zoom,
/// a mosaic that does not exist, bounds that are not finite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_asset_checks_before_editing() {
    require_services();
    let t = table("ingest");
    let doc = doc_of(&[("a.tif", [0.0, 0.0, 1.0, 1.0])], 6, 8);
    let m = mosaic_at(&t, "m");
    m.write(&doc, WriteMode::Create).await.unwrap();
    let qk = doc.tiles.keys().next().unwrap().clone();
    assert!(matches!(
        backend::add_asset(&m, "b.tif", &[format!("{qk}0")], Position::First, None).await,
        Err(Error::InvalidInput(_))
    ));
    let absent = mosaic_at(&t, "absent");
    assert!(matches!(
        backend::add_asset(
            &absent,
            "b.tif",
            std::slice::from_ref(&qk),
            Position::First,
            None
        )
        .await,
        Err(Error::NotFound { .. })
    ));
    assert!(absent.list_quadkeys().await.unwrap().is_empty());
    assert!(matches!(
        m.commit_metadata(Some([f64::NEG_INFINITY, 0.0, 1.0, 1.0]))
            .await,
        Err(Error::InvalidInput(_))
    ));
    // And the happy path: once, then a no-op.
    assert_eq!(
        backend::add_asset(
            &m,
            "b.tif",
            std::slice::from_ref(&qk),
            Position::First,
            Some([0.0, 0.0, 1.0, 1.0])
        )
        .await
        .unwrap(),
        1
    );
    assert_eq!(
        backend::add_asset(
            &m,
            "b.tif",
            std::slice::from_ref(&qk),
            Position::First,
            None
        )
        .await
        .unwrap(),
        0
    );
    let read = m.clone().open().await.unwrap();
    assert_eq!(
        read.query(&mosaic::index::QuadkeyQuery::Exact(qk.clone()))
            .await
            .unwrap(),
        ["b.tif", "a.tif"]
    );
    assert_eq!(read.document().version, "1.0.2");
    assert_eq!(backend::remove_asset(&m, "b.tif", &[qk]).await.unwrap(), 1);
}
