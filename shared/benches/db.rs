//! Database look-up benchmark: a reference mosaic written to DynamoDB and SQLite, then tiles
//! from quadkey_zoom−3 to quadkey_zoom+1 looked up through each backend (opened once).
//! `bash bench/db.sh` runs it next to cogeo-mosaic 9.2.0 against a local moto server and
//! prints the comparison table; run alone (`cargo bench -p mosaic --bench db`) it measures
//! SQLite only unless `AWS_ENDPOINT_URL_DYNAMODB` names a DynamoDB endpoint.
//!
//! Environment:
//! - `MOSAIC_BENCH_MOSAIC`: the mosaic file (default
//!   `$MOSAIC_REFDATA/mosaics/fp_10k__z5_12_qk8.json.gz`).
//! - `MOSAIC_BENCH_DIR`: where `bench.db` and `tiles.json` (the tile list and expected
//!   answers, for the peer) go (default: a temporary directory, removed at the end).
//! - `MOSAIC_BENCH_TILES` (20), `MOSAIC_BENCH_ROUNDS` (5): tiles per zoom, passes over them.
//!
//! Output: one JSON object per line on stdout (`op` = `write` or `lookup`); progress on stderr.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mosaic::backend::dynamodb::{DynamoDbClients, DynamoDbWriter, RequestStats};
use mosaic::backend::sqlite::SqliteWriter;
use mosaic::backend::{MosaicRead, MosaicWrite, WriteMode};
use mosaic::index::LookupOptions;
use mosaic::{MemoryIndex, MosaicJson, Tile};
use serde_json::{Value, json};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Zooms measured, relative to quadkey_zoom.
const ZOOM_OFFSETS: [i8; 5] = [-3, -2, -1, 0, 1];

/// One zoom's tiles and the assets the in-memory index answers for them.
struct ZoomCase {
    dz: i8,
    z: u8,
    tiles: Vec<Tile>,
    expected: Vec<Vec<String>>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// `n` indices spread evenly over `0..len` (all of them when `len <= n`).
fn spread(len: usize, n: usize) -> Vec<usize> {
    if len <= n {
        return (0..len).collect();
    }
    (0..n).map(|i| i * len / n).collect()
}

/// Tiles of zoom `z` that have assets: ancestors of the document's quadkeys below
/// quadkey_zoom, the quadkeys themselves at it, one child of each above it.
fn pick_tiles(doc: &MosaicJson, z: u8, n: usize) -> BoxResult<Vec<Tile>> {
    let qz = doc.effective_quadkey_zoom();
    let tms = doc.tms();
    let keys: BTreeSet<&str> = doc.tiles.keys().map(String::as_str).collect();
    let quadkeys: Vec<String> = if z <= qz {
        let cut = usize::from(qz - z);
        keys.iter()
            .filter(|k| k.len() >= cut)
            .map(|k| k[..k.len() - cut].to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    } else {
        let extra = usize::from(z - qz);
        keys.iter()
            .zip([b'0', b'1', b'2', b'3'].into_iter().cycle())
            .map(|(k, digit)| {
                let mut child = format!("{k}{}", char::from(digit));
                child.push_str(&"0".repeat(extra - 1));
                child
            })
            .collect()
    };
    let picked = spread(quadkeys.len(), n);
    picked
        .into_iter()
        .map(|i| tms.quadkey_to_tile(&quadkeys[i]).map_err(Into::into))
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn median(sorted: &[Duration]) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let n = sorted.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    if n % 2 == 1 {
        ms(sorted[n / 2])
    } else {
        (ms(sorted[n / 2 - 1]) + ms(sorted[n / 2])) / 2.0
    }
}

/// Checks every answer against the in-memory index (this pass also warms the connection),
/// then times `rounds` passes over the tiles. Prints one `lookup` line.
async fn measure(
    backend_name: &str,
    backend: &dyn MosaicRead,
    stats: Option<&RequestStats>,
    case: &ZoomCase,
    rounds: usize,
) -> BoxResult<()> {
    let opts = LookupOptions::default();
    for (t, want) in case.tiles.iter().zip(&case.expected) {
        let got = backend.assets_for_tile(*t, &opts).await?;
        if &got != want {
            return Err(format!(
                "{backend_name}: tile {t} answered {} assets, the in-memory index {}",
                got.len(),
                want.len()
            )
            .into());
        }
    }
    if let Some(s) = stats {
        s.reset();
    }
    let mut samples = Vec::with_capacity(rounds * case.tiles.len());
    let mut assets = 0usize;
    for _ in 0..rounds {
        for t in &case.tiles {
            let started = Instant::now();
            let got = backend.assets_for_tile(*t, &opts).await?;
            samples.push(started.elapsed());
            assets += black_box(got).len();
        }
    }
    let n = samples.len();
    samples.sort_unstable();
    let requests = stats.map(|s| s.total() as f64 / n as f64);
    let line = json!({
        "impl": "ours", "op": "lookup", "backend": backend_name,
        "dz": case.dz, "z": case.z, "tiles": case.tiles.len(), "n": n,
        "median_ms": median(&samples), "p90_ms": percentile(&samples, 0.9),
        "requests": requests, "assets": assets as f64 / n as f64,
    });
    println!("{line}");
    eprintln!("[db] ours {backend_name} z{} ({:+}): done", case.z, case.dz);
    Ok(())
}

fn write_line(backend_name: &str, elapsed: Duration, items: usize, requests: Option<u64>) {
    let line = json!({
        "impl": "ours", "op": "write", "backend": backend_name,
        "ms": elapsed.as_secs_f64() * 1e3, "items": items, "requests": requests,
    });
    println!("{line}");
}

async fn bench_dynamodb(doc: &MosaicJson, cases: &[ZoomCase], rounds: usize) -> BoxResult<()> {
    let table = format!("bench-{}", std::process::id());
    let uri = format!("dynamodb:///{table}:m");
    eprintln!("[db] ours: writing {uri}");
    let writer = DynamoDbWriter::new(&uri, None, &table, "m", DynamoDbClients::from_env());
    let started = Instant::now();
    writer.write(doc, WriteMode::Create).await?;
    let elapsed = started.elapsed();
    write_line(
        "dynamodb",
        elapsed,
        doc.tiles.len() + 1,
        Some(writer.stats().total()),
    );
    eprintln!(
        "[db] ours dynamodb write requests: {:?}",
        writer.stats().snapshot()
    );

    // Its own clients: the reader's requests are counted apart from the writer's.
    let backend = DynamoDbWriter::new(&uri, None, &table, "m", DynamoDbClients::from_env())
        .open()
        .await?;
    let stats = backend.stats();
    for case in cases {
        measure("dynamodb", &backend, Some(&stats), case, rounds).await?;
    }
    Ok(())
}

async fn bench_sqlite(
    doc: &MosaicJson,
    cases: &[ZoomCase],
    rounds: usize,
    dir: &Path,
) -> BoxResult<()> {
    let path = dir.join("bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    let path = path
        .to_str()
        .ok_or("non-UTF-8 bench directory")?
        .to_string();
    let uri = format!("sqlite:///{path}:m");
    eprintln!("[db] ours: writing {uri}");
    let writer = SqliteWriter::new(&uri, &path, "m");
    let started = Instant::now();
    writer.write(doc, WriteMode::Create).await?;
    write_line("sqlite", started.elapsed(), doc.tiles.len(), None);
    drop(writer);

    let backend = mosaic::backend::open(&uri).await?;
    for case in cases {
        measure("sqlite", backend.as_ref(), None, case, rounds).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let refdata = std::env::var_os("MOSAIC_REFDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/refdata/public")
        });
    let mosaic_path = std::env::var_os("MOSAIC_BENCH_MOSAIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| refdata.join("mosaics/fp_10k__z5_12_qk8.json.gz"));
    let per_zoom = env_usize("MOSAIC_BENCH_TILES", 20);
    let rounds = env_usize("MOSAIC_BENCH_ROUNDS", 5);
    let tmp;
    let dir = match std::env::var_os("MOSAIC_BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir)?;

    let doc = MosaicJson::from_slice(&std::fs::read(&mosaic_path)?)?;
    let qz = doc.effective_quadkey_zoom();
    let index = MemoryIndex::new(doc.clone())?;
    let mut cases = Vec::new();
    for dz in ZOOM_OFFSETS {
        let Some(z) = qz.checked_add_signed(dz) else {
            continue;
        };
        let tiles = pick_tiles(&doc, z, per_zoom)?;
        let expected = tiles
            .iter()
            .map(|t| index.assets_for_tile(t.x, t.y, t.z))
            .collect::<mosaic::Result<Vec<_>>>()?;
        cases.push(ZoomCase {
            dz,
            z,
            tiles,
            expected,
        });
    }
    let tiles_doc = json!({
        "mosaic": mosaic_path,
        "quadkey_zoom": qz,
        "quadkeys": doc.tiles.len(),
        "rounds": rounds,
        "zooms": cases.iter().map(|c| json!({
            "dz": c.dz, "z": c.z,
            "tiles": c.tiles.iter().map(|t| [t.x, t.y, u64::from(t.z)]).collect::<Vec<_>>(),
            "expected": c.expected,
        })).collect::<Vec<Value>>(),
    });
    std::fs::write(dir.join("tiles.json"), serde_json::to_vec(&tiles_doc)?)?;
    eprintln!(
        "[db] {}: {} quadkeys at quadkey_zoom {qz}; {} tiles per zoom, {rounds} rounds",
        mosaic_path.display(),
        doc.tiles.len(),
        per_zoom
    );

    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some_and(|v| !v.is_empty()) {
        bench_dynamodb(&doc, &cases, rounds).await?;
    } else {
        eprintln!(
            "[db] DynamoDB skipped: AWS_ENDPOINT_URL_DYNAMODB is not set (bash bench/db.sh \
             starts a local moto server)"
        );
    }
    bench_sqlite(&doc, &cases, rounds, &dir).await?;
    Ok(())
}
