//! Low-zoom look-up benchmark: a mosaic indexed at quadkey_zoom 12, queried by tiles from
//! zoom 0 to 12. Below quadkey_zoom the answer is a prefix range over the sorted quadkeys,
//! so the cost follows the number of keys matched, not the 4^(12−z) children cogeo-mosaic
//! enumerates (cogeo-mosaic#236). Prints a table; run with `cargo bench -p mosaic --bench lookup`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mosaic::create::{CreateOptions, read_footprints};
use mosaic::{MemoryIndex, MosaicJson, TileMatrixSet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let set = std::env::var_os("MOSAIC_REFDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/refdata/public")
        });
    let fps = read_footprints(
        &std::fs::read(set.join("footprints/fp_10k.geojson"))?,
        "path",
    )?;
    let qz = 12u8;
    let mut opts = CreateOptions::new(4, 14);
    opts.quadkey_zoom = Some(qz);
    let started = Instant::now();
    let doc = MosaicJson::from_footprints(&fps, &opts)?;
    println!(
        "mosaic of {} footprints at quadkey_zoom {qz}: {} quadkeys, built in {:.2?}\n",
        fps.len(),
        doc.tiles.len(),
        started.elapsed()
    );
    let index = MemoryIndex::new(doc)?;
    let tms = TileMatrixSet::web_mercator();
    println!(
        "| zoom | levels below qz | children a naive walk visits | assets returned | µs per look-up |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for z in 0..=qz {
        let t = tms.tile(-100.0, 40.0, z);
        let tiles = [
            t,
            mosaic::Tile::new(t.x.saturating_sub(1), t.y, z),
            mosaic::Tile::new(t.x, t.y.saturating_sub(1), z),
        ];
        let mut n = 0u64;
        let mut assets = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(100) {
            for t in &tiles {
                assets = assets.max(index.assets_for_tile(t.x, t.y, t.z)?.len());
                n += 1;
            }
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        let below = qz - z;
        println!(
            "| {z} | {below} | {} | {assets} | {per:.1} |",
            4u64.pow(u32::from(below))
        );
    }
    let z = 2u8;
    println!(
        "\nzoom {z} is {} levels below quadkey_zoom {qz}: a naive enumeration of its quadkey \
         children would visit 4^{} = {} keys",
        qz - z,
        qz - z,
        4u64.pow(u32::from(qz - z))
    );
    Ok(())
}
