//! Ingest benchmark: S3 events applied to a DynamoDB (a local moto server) and an SQLite tile
//! index (1,000 quadkeys by default), as the ingest function applies them (`apply_created` /
//! `apply_removed` with sequencers; the COG footprints are given, not read, so this measures
//! the index, not GDAL). Events run 4 at a time, as concurrent invocations would. For assets
//! covering Q = 1, 4 and 16 quadkeys: events/s and requests per event.
//! `bash bench/ingest.sh` runs it next to cogeo-mosaic 9.2.0's `update` and prints the table.
//!
//! Environment: `MOSAIC_BENCH_EVENTS` (events per Q, default 24), `MOSAIC_BENCH_QUADKEYS`
//! (the index's size, default 1,000), `MOSAIC_BENCH_CONCURRENCY` (default 4), `MOSAIC_BENCH_DIR` (where
//! `base.json` and `events.json` go for the peer; default: a temporary directory).
//!
//! Output: one JSON object per line on stdout; progress on stderr.

use std::time::Instant;

use futures::StreamExt;
use mosaic::backend::{self, Applied, Backends, Position, Sequencer, TileIndex, WriteMode};
use mosaic::create::{CreateOptions, Footprint};
use mosaic::{MosaicJson, Tile, TileMatrixSet};
use serde_json::json;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Zoom of the index's quadkeys.
const Z: u8 = 10;
/// Block sides: Q = side².
const SIDES: [u64; 3] = [1, 2, 4];

/// A bbox inside the `w`×`w` block of tiles whose top-left tile is (x, y).
fn block(x: u64, y: u64, w: u64) -> [f64; 4] {
    let tms = TileMatrixSet::web_mercator();
    let [west, _, _, north] = tms.bounds(Tile::new(x, y, Z));
    let [_, south, east, _] = tms.bounds(Tile::new(x + w - 1, y + w - 1, Z));
    let (dx, dy) = ((east - west) * 1e-3, (north - south) * 1e-3);
    [west + dx, south + dy, east - dx, north - dy]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn base_mosaic(quadkeys: u64) -> BoxResult<MosaicJson> {
    let fps: Vec<Footprint> = (0..quadkeys)
        .map(|i| {
            Footprint::from_bbox(
                format!("s3://b/base-{i}.tif"),
                block(i % 100, 400 + i / 100, 1),
            )
        })
        .collect();
    Ok(MosaicJson::from_footprints(
        &fps,
        &CreateOptions::new(Z, Z),
    )?)
}

/// `n` assets of Q = side² quadkeys each, on distinct blocks.
fn events(side: u64, n: usize) -> Vec<(String, Vec<String>, [f64; 4])> {
    let tms = TileMatrixSet::web_mercator();
    (0..n as u64)
        .map(|i| {
            let (x, y) = (600 + (i % 40) * side, 100 + (i / 40) * side);
            let quadkeys = (x..x + side)
                .flat_map(|tx| (y..y + side).map(move |ty| (tx, ty)))
                .map(|(tx, ty)| tms.quadkey(Tile::new(tx, ty, Z)))
                .collect();
            (
                format!("s3://b/q{}-{i}.tif", side * side),
                quadkeys,
                block(x, y, side),
            )
        })
        .collect()
}

async fn run(
    backends: &Backends,
    uri: &str,
    name: &str,
    base: &MosaicJson,
    n: usize,
) -> BoxResult<()> {
    backends
        .open_writer(uri)?
        .write(base, WriteMode::Overwrite)
        .await?;
    let index = backends.open_index(uri)?;
    let stats = backends.dynamodb_stats();
    for side in SIDES {
        let q = side * side;
        let evs = events(side, n);
        for op in ["created", "removed"] {
            stats.reset();
            let started = Instant::now();
            let index: &dyn TileIndex = index.as_ref();
            let results: Vec<mosaic::Result<Applied>> =
                futures::stream::iter(evs.iter().enumerate())
                    .map(|(i, (asset, quadkeys, bbox))| async move {
                        let seq = Sequencer::parse(&format!(
                            "{:X}",
                            if op == "created" { 16 + i } else { 1 << 20 }
                        ))?;
                        let meta = index.metadata().await?;
                        if op == "created" {
                            backend::apply_created(
                                index,
                                &meta,
                                asset,
                                quadkeys,
                                Position::First,
                                Some(*bbox),
                                Some(&seq),
                            )
                            .await
                        } else {
                            backend::apply_removed(index, &meta, asset, Some(&seq)).await
                        }
                    })
                    .buffer_unordered(env_or("MOSAIC_BENCH_CONCURRENCY", 4))
                    .collect()
                    .await;
            let secs = started.elapsed().as_secs_f64();
            for r in results {
                r?;
            }
            let requests = stats.total() as f64 / n as f64;
            eprintln!(
                "[ingest] ours {name} {op} Q={q}: {:.1} events/s",
                n as f64 / secs
            );
            println!(
                "{}",
                json!({"impl": "ours", "backend": name, "op": op, "q": q, "events": n,
                       "secs": secs, "requests": if name == "dynamodb" { Some(requests) } else { None }})
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let n = env_or("MOSAIC_BENCH_EVENTS", 24);
    let tmp = tempfile::tempdir()?;
    let dir = std::env::var("MOSAIC_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    let base = base_mosaic(env_or("MOSAIC_BENCH_QUADKEYS", 1_000) as u64)?;
    std::fs::write(dir.join("base.json"), base.to_json_vec())?;
    let all: Vec<_> = SIDES
        .iter()
        .map(|s| {
            json!({"q": s * s, "events": events(*s, n).into_iter()
            .map(|(a, _, b)| json!({"asset": a, "bbox": b})).collect::<Vec<_>>()})
        })
        .collect();
    std::fs::write(dir.join("events.json"), serde_json::to_vec(&all)?)?;
    eprintln!("[ingest] base mosaic: {} quadkeys", base.tiles.len());
    let backends = Backends::from_env();
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
        let uri = format!("dynamodb:///bench-ingest-{}:m", std::process::id());
        run(&backends, &uri, "dynamodb", &base, n).await?;
    }
    let uri = format!("sqlite:///{}:m", dir.join("ingest.db").display());
    run(&backends, &uri, "sqlite", &base, n).await?;
    Ok(())
}
