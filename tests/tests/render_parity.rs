//! Rendering parity with rio-tiler: every render of the reference set's `renders/manifest.json`
//! is rendered with our GDAL engine and compared with the reference arrays. Masks must agree
//! on ≥ 99.5 % of the values and data on ≥ 99 % of the values valid in both.

use std::sync::Arc;

use mosaic::backend::memory::MemoryBackend;
use mosaic::index::LookupOptions;
use mosaic::render::encode::{ImageFormat, RenderOptions, render_image};
use mosaic::render::{PixelSelection, TileOptions, render_tile};
use mosaic::{MosaicJson, Tile, TileMatrixSet};
use mosaic_integration_tests::{agreement, parse_npy, read_bytes, read_json, refdata};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_match_rio_tiler() {
    let manifest = read_json("renders/manifest.json");
    let records = manifest["renders"].as_array().expect("renders");
    let tms = TileMatrixSet::web_mercator();
    let mut worst_mask: f64 = 1.0;
    let mut worst_values: f64 = 1.0;
    let mut png_worst: f64 = 1.0;
    let mut failures = Vec::new();
    let mut compared = 0;
    for rec in records {
        let mut doc = MosaicJson::from_slice(&read_bytes(rec["mosaic"].as_str().unwrap())).unwrap();
        // Asset paths in the documents are relative to the set directory.
        doc.asset_prefix = Some(format!("{}/", refdata().display()));
        let backend = Arc::new(MemoryBackend::new(doc).unwrap());
        let t = &rec["tile"];
        let tile = Tile::new(
            t["x"].as_u64().unwrap(),
            t["y"].as_u64().unwrap(),
            t["z"].as_u64().unwrap() as u8,
        );
        let mut opts = TileOptions {
            pixel_selection: rec["pixel_selection"].as_str().unwrap().parse().unwrap(),
            ..Default::default()
        };
        opts.read.tilesize = rec["tilesize"].as_u64().unwrap_or(256) as usize;
        opts.read.indexes = rec["indexes"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect());
        let label = format!(
            "{} {}",
            rec["call"].as_str().unwrap_or(""),
            rec["pixel_selection"]
        );
        let result = render_tile(
            backend.as_ref(),
            &tms,
            tile,
            &LookupOptions::default(),
            &opts,
        )
        .await;
        if let Some(err) = rec["error"].as_str() {
            let ok = matches!(
                (&result, err.split(':').next().unwrap()),
                (Err(mosaic::Error::EmptyMosaic(_)), "EmptyMosaicError")
                    | (Err(mosaic::Error::NoAssets(_)), "NoAssetFoundError")
            );
            if !ok {
                failures.push(format!(
                    "{label}: expected {err}, got {:?}",
                    result.as_ref().err()
                ));
            }
            continue;
        }
        let out = match result {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        let data = parse_npy(&read_bytes(rec["files"]["data"].as_str().unwrap()));
        let mask = parse_npy(&read_bytes(rec["files"]["mask"].as_str().unwrap()));
        let img = &out.image;
        assert_eq!(
            data.shape,
            vec![img.bands, img.height, img.width],
            "{label}: shape"
        );
        assert_eq!(
            img.dtype.name(),
            rec["dtype"].as_str().unwrap(),
            "{label}: dtype"
        );
        let (mask_ratio, value_ratio, both_valid) =
            agreement(&data, &mask, &img.data, &img.mask, img.dtype.is_float());
        worst_mask = worst_mask.min(mask_ratio);
        worst_values = worst_values.min(value_ratio);
        eprintln!(
            "{label}: mask {:.3}% values {:.3}% ({} valid)",
            mask_ratio * 100.0,
            value_ratio * 100.0,
            both_valid
        );
        if mask_ratio < 0.995 || value_ratio < 0.99 {
            failures.push(format!(
                "{label}: mask {mask_ratio:.4}, values {value_ratio:.4}"
            ));
        }
        // The PNG as rio-tiler renders it (floats rescaled with the manifest's in_range first).
        if let Some(png_path) = rec["files"]["png"].as_str() {
            let ranges: Vec<(f64, f64)> = rec["png"]["rescale"]["in_range"]
                .as_array()
                .map(|r| {
                    r.chunks(2)
                        .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
                        .collect()
                })
                .unwrap_or_default();
            let ropts = RenderOptions {
                format: Some(ImageFormat::Png),
                rescale: ranges,
                ..Default::default()
            };
            let (ours, _) = render_image(img, &ropts, out.bounds, "").unwrap();
            let ours = image::load_from_memory(&ours).unwrap();
            let theirs = image::load_from_memory(&read_bytes(png_path)).unwrap();
            let (a, b) = (ours.to_rgba16(), theirs.to_rgba16());
            let same = a.pixels().zip(b.pixels()).filter(|(p, q)| p == q).count();
            let ratio = same as f64 / a.pixels().len() as f64;
            png_worst = png_worst.min(ratio);
            if ratio < 0.99 {
                failures.push(format!("{label}: PNG pixels equal {ratio:.4}"));
            }
        }
        if opts.pixel_selection == PixelSelection::First {
            let expected: Vec<String> = rec["assets_used"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| format!("{}/{}", refdata().display(), v.as_str().unwrap()))
                .collect();
            if out.assets_used != expected {
                failures.push(format!(
                    "{label}: assets used {:?} vs {:?}",
                    out.assets_used, expected
                ));
            }
        }
        compared += 1;
    }
    eprintln!(
        "{compared} renders compared; worst mask agreement {:.3}%, worst value agreement {:.3}%",
        worst_mask * 100.0,
        worst_values * 100.0
    );
    assert!(compared > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
