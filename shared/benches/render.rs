//! Tile rendering benchmark over the reference set's render tiles (`renders/manifest.json`):
//! our engine with its default concurrency and with one read at a time, and a bare GDAL warp
//! (`GDALWarp` to a 256×256 in-memory raster) of the same assets and windows, sequential.
//! Prints `key value` lines that `bench/render.sh` turns into a table beside rio-tiler.

use std::ffi::{CString, c_char, c_int};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mosaic::backend::memory::MemoryBackend;
use mosaic::dataset::gdal_path;
use mosaic::index::LookupOptions;
use mosaic::render::{TileOptions, render_tile};
use mosaic::{MosaicJson, Tile, TileMatrixSet};

fn bare_warp(path: &str, bounds: [f64; 4], size: usize) -> bool {
    let ds = match gdal::Dataset::open(gdal_path(path)) {
        Ok(d) => d,
        Err(_) => return false,
    };
    let args: Vec<String> = [
        "-of",
        "MEM",
        "-t_srs",
        "EPSG:3857",
        "-r",
        "near",
        "-te",
        &bounds[0].to_string(),
        &bounds[1].to_string(),
        &bounds[2].to_string(),
        &bounds[3].to_string(),
        "-ts",
        &size.to_string(),
        &size.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cargs: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap_or_default())
        .collect();
    let mut argv: Vec<*mut c_char> = cargs.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    argv.push(std::ptr::null_mut());
    let empty = CString::new("").unwrap_or_default();
    // SAFETY: NULL-terminated argv outliving the calls; the output dataset and options are freed.
    unsafe {
        let opts = gdal_sys::GDALWarpAppOptionsNew(argv.as_mut_ptr(), std::ptr::null_mut());
        let mut src = [ds.c_dataset()];
        let mut usage: c_int = 0;
        let out = gdal_sys::GDALWarp(
            empty.as_ptr(),
            std::ptr::null_mut(),
            1,
            src.as_mut_ptr(),
            opts,
            &mut usage,
        );
        gdal_sys::GDALWarpAppOptionsFree(opts);
        if out.is_null() {
            return false;
        }
        gdal_sys::GDALClose(out);
    }
    true
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let set = std::env::var_os("MOSAIC_REFDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/refdata/public")
        });
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(set.join("renders/manifest.json"))?)?;
    // Distinct (mosaic, tile) pairs that render.
    let mut jobs: Vec<(String, Tile)> = Vec::new();
    for r in manifest["renders"].as_array().into_iter().flatten() {
        if r.get("error").is_some() {
            continue;
        }
        let t = &r["tile"];
        let tile = Tile::new(
            t["x"].as_u64().unwrap_or(0),
            t["y"].as_u64().unwrap_or(0),
            t["z"].as_u64().unwrap_or(0) as u8,
        );
        let m = r["mosaic"].as_str().unwrap_or_default().to_string();
        if !jobs.contains(&(m.clone(), tile)) {
            jobs.push((m, tile));
        }
    }
    let tms = TileMatrixSet::web_mercator();
    let mut backends = Vec::new();
    for (m, _) in &jobs {
        let mut doc = MosaicJson::from_slice(&std::fs::read(set.join(m))?)?;
        doc.asset_prefix = Some(format!("{}/", set.display()));
        backends.push(Arc::new(MemoryBackend::new(doc)?));
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let search = LookupOptions::default();
    let mut results = Vec::new();
    for (label, concurrency) in [
        ("ours", mosaic::settings::Settings::from_env().concurrency()),
        ("ours_sequential", 1),
    ] {
        let opts = TileOptions {
            concurrency,
            ..Default::default()
        };
        // warm-up (dataset metadata cache, GDAL block cache) then timed rounds
        for (b, (_, t)) in backends.iter().zip(&jobs) {
            let _ = render_tile(b.as_ref(), &tms, *t, &search, &opts).await;
        }
        let started = Instant::now();
        let mut n = 0;
        for _ in 0..rounds {
            for (b, (_, t)) in backends.iter().zip(&jobs) {
                render_tile(b.as_ref(), &tms, *t, &search, &opts).await?;
                n += 1;
            }
        }
        results.push((label, n as f64 / started.elapsed().as_secs_f64()));
    }
    // Bare GDAL warp of every candidate asset of each tile, one after the other.
    let mut windows = Vec::new();
    for (b, (_, t)) in backends.iter().zip(&jobs) {
        use mosaic::backend::MosaicRead;
        let assets = b.assets_for_tile(*t, &search).await?;
        windows.push((assets, tms.xy_bounds(*t)));
    }
    let run_bare = |windows: &[(Vec<String>, [f64; 4])]| {
        for (assets, bounds) in windows {
            for a in assets {
                bare_warp(a, *bounds, 256);
            }
        }
    };
    run_bare(&windows);
    let started = Instant::now();
    for _ in 0..rounds {
        run_bare(&windows);
    }
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    results.push((
        "bare_gdal_warp",
        (rounds * windows.len()) as f64 / elapsed.as_secs_f64(),
    ));
    println!("tiles {}", jobs.len());
    for (k, v) in results {
        println!("{k}_tiles_per_s {v:.2}");
    }
    Ok(())
}
