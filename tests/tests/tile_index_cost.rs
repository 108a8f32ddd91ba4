//! What an S3 event costs a DynamoDB tile index (moto), counted by the SDK interceptor:
//! removing an asset listed in Q quadkeys reads at most 4Q + 10 items in at most 2Q + 5
//! requests, the same from a mosaic of 2,500 quadkeys as from one a hundred times smaller;
//! adding one costs at most Q + 3 requests. A mosaic without asset records (written by
//! another tool) falls back to one read of the whole index, and still ends right.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use mosaic::backend::dynamodb::RequestStats;
use mosaic::backend::{self, Applied, Backends, Position, Sequencer, WriteMode};
use mosaic::create::{CreateOptions, Footprint};
use mosaic::{MosaicJson, TileMatrixSet};
use mosaic_integration_tests::{require_services, run_id};

/// Zoom of these mosaics' quadkeys.
const Z: u8 = 10;
/// Quadkeys the asset under test is listed in (a 2 × 3 block of tiles).
const Q: usize = 6;

/// A point inside tile (x, y) of zoom [`Z`].
fn inside(x: u64, y: u64) -> [f64; 4] {
    let [w, s, e, n] = TileMatrixSet::web_mercator().bounds(mosaic::Tile::new(x, y, Z));
    let (cx, cy) = ((w + e) / 2.0, (s + n) / 2.0);
    [cx - 1e-4, cy - 1e-4, cx + 1e-4, cy + 1e-4]
}

/// `n` one-tile assets on distinct tiles, plus `target` over the 2 × 3 block at (500, 300).
fn mosaic_of(n: u64, target: &str) -> (MosaicJson, Vec<String>) {
    let mut fps: Vec<Footprint> = (0..n)
        .map(|i| {
            Footprint::from_bbox(
                format!("s3://b/one-{i}.tif"),
                inside(i % 100, 400 + i / 100),
            )
        })
        .collect();
    let [w, _, _, n_] = inside(500, 300);
    let [_, s, e, _] = inside(501, 302);
    fps.push(Footprint::from_bbox(target, [w, s, e, n_]));
    let doc = MosaicJson::from_footprints(&fps, &CreateOptions::new(Z, Z)).unwrap();
    let tms = TileMatrixSet::web_mercator();
    let block: Vec<String> = (500..=501)
        .flat_map(|x| (300..=302).map(move |y| (x, y)))
        .map(|(x, y)| tms.quadkey(mosaic::Tile::new(x, y, Z)))
        .collect();
    (doc, block)
}

/// Backends of this process, `doc` written at `uri` through them.
async fn written(uri: &str, doc: &MosaicJson) -> Backends {
    let backends = Backends::from_env();
    backends
        .open_writer(uri)
        .unwrap()
        .write(doc, WriteMode::Create)
        .await
        .unwrap();
    backends
}

struct Counted {
    requests: u64,
    items: u64,
}

fn counted(stats: &Arc<RequestStats>) -> Counted {
    Counted {
        requests: stats.total(),
        items: stats.items_read(),
    }
}

/// The cost of removing `target` from a mosaic of `n + 1` assets, and of adding a new asset
/// over the same block afterwards.
async fn costs(n: u64) -> (usize, Counted, Counted) {
    let target = "s3://b/target.tif";
    let (doc, block) = mosaic_of(n, target);
    let uri = format!("dynamodb:///cost-{}:m", run_id());
    let backends = written(&uri, &doc).await;
    let index = backends.open_index(&uri).unwrap();
    let stats = backends.dynamodb_stats();

    stats.reset();
    let meta = index.metadata().await.unwrap();
    let seq = Sequencer::parse("0A").unwrap();
    let removed = backend::apply_removed(index.as_ref(), &meta, target, Some(&seq))
        .await
        .unwrap();
    let removal = counted(&stats);
    assert_eq!(removed, Applied::Edited(Q));
    let tiles = index.tiles().await.unwrap();
    assert!(tiles.iter().all(|(_, a)| !a.iter().any(|a| a == target)));
    assert_eq!(
        tiles.len(),
        doc.tiles.len() - Q,
        "the block held only the target"
    );

    stats.reset();
    let meta = index.metadata().await.unwrap();
    let added = backend::apply_created(
        index.as_ref(),
        &meta,
        "s3://b/new.tif",
        &block,
        Position::First,
        None,
        Some(&seq),
    )
    .await
    .unwrap();
    let creation = counted(&stats);
    assert_eq!(added, Applied::Edited(Q));
    (doc.tiles.len(), removal, creation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_costs_follow_q_not_the_mosaic() {
    require_services();
    let (big_n, big_removal, big_creation) = costs(2_500).await;
    let (small_n, small_removal, small_creation) = costs(19).await;
    assert!(
        big_n >= 2_000 && big_n >= 100 * small_n,
        "{big_n} vs {small_n} quadkeys"
    );
    let q = Q as u64;
    for (n, r, c) in [
        (big_n, &big_removal, &big_creation),
        (small_n, &small_removal, &small_creation),
    ] {
        eprintln!(
            "{n} quadkeys, Q = {Q}: removal {} requests / {} items read, creation {} requests",
            r.requests, r.items, c.requests
        );
        assert!(
            r.requests <= 2 * q + 5,
            "{n}: removal took {} requests",
            r.requests
        );
        assert!(r.items <= 4 * q + 10, "{n}: removal read {} items", r.items);
        assert!(
            c.requests <= q + 3,
            "{n}: creation took {} requests",
            c.requests
        );
    }
    assert_eq!(big_removal.requests, small_removal.requests);
    assert_eq!(big_removal.items, small_removal.items);
    assert_eq!(big_creation.requests, small_creation.requests);
}

/// Without records (a table written by cogeo-mosaic), a removal reads the index once and
/// still removes the asset everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_records_removal_scans_once() {
    require_services();
    let target = "s3://b/target.tif";
    let (doc, _) = mosaic_of(50, target);
    let table = format!("cost-scan-{}", run_id());
    let uri = format!("dynamodb:///{table}:m");
    let backends = written(&uri, &doc).await;
    // What another tool leaves: no records partition.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let raw = aws_sdk_dynamodb::Client::new(&sdk);
    let records = raw
        .query()
        .table_name(&table)
        .key_condition_expression("mosaicId = :m")
        .expression_attribute_values(":m", AttributeValue::S("m:assets".into()))
        .send()
        .await
        .unwrap();
    let keys = records.items.unwrap_or_default();
    assert!(keys.len() > 50, "records were written: {}", keys.len());
    for item in keys {
        let key = item
            .into_iter()
            .filter(|(k, _)| k == "mosaicId" || k == "quadkey")
            .collect();
        raw.delete_item()
            .table_name(&table)
            .set_key(Some(key))
            .send()
            .await
            .unwrap();
    }
    let index = backends.open_index(&uri).unwrap();
    assert!(!index.tracks_assets().await.unwrap());
    let stats = backends.dynamodb_stats();
    stats.reset();
    assert_eq!(
        backend::withdraw_asset(index.as_ref(), target)
            .await
            .unwrap(),
        Q
    );
    assert!(stats.count("Query") >= 1, "{:?}", stats.snapshot());
    let tiles = index.tiles().await.unwrap();
    assert!(tiles.iter().all(|(_, a)| !a.iter().any(|a| a == target)));
}
