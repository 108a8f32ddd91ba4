//! Rendering behaviour beyond parity: `first` stops before opening assets it does not need,
//! typed errors for mixed band counts, corrupt or unreachable assets, NaN nodata, uint16
//! rescaled to an 8-bit PNG, and the CLI's `tile`/`point` commands.

use std::sync::Arc;

use mosaic::backend::memory::MemoryBackend;
use mosaic::index::LookupOptions;
use mosaic::render::encode::{ImageFormat, RenderOptions, render_image};
use mosaic::render::{PixelSelection, TileOptions, render_tile};
use mosaic::{Error, MosaicJson, Tile, TileMatrixSet};
use mosaic_integration_tests::{mosaic_bin, read_json, refdata};
use serde_json::Value;

fn abs(rel: &str) -> String {
    refdata().join(rel).to_string_lossy().to_string()
}

/// A one-quadkey mosaic (quadkey_zoom 0) holding `assets` in that order.
fn mosaic_of(assets: &[String]) -> Arc<MemoryBackend> {
    let mut doc = MosaicJson::new(0, 22);
    doc.quadkey_zoom = Some(0);
    doc.tiles.insert(String::new(), assets.to_vec());
    Arc::new(MemoryBackend::new(doc).unwrap())
}

fn tile_of(rec: &Value) -> Tile {
    let t = &rec["tile"];
    Tile::new(
        t["x"].as_u64().unwrap(),
        t["y"].as_u64().unwrap(),
        t["z"].as_u64().unwrap() as u8,
    )
}

fn renders() -> Vec<Value> {
    read_json("renders/manifest.json")["renders"]
        .as_array()
        .unwrap()
        .clone()
}

async fn render(
    assets: &[String],
    tile: Tile,
    method: PixelSelection,
    concurrency: usize,
) -> mosaic::Result<mosaic::render::MosaicTile> {
    let backend = mosaic_of(assets);
    let opts = TileOptions {
        pixel_selection: method,
        concurrency,
        ..Default::default()
    };
    render_tile(
        backend.as_ref(),
        &TileMatrixSet::web_mercator(),
        tile,
        &LookupOptions::default(),
        &opts,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_never_opens_assets_after_full_coverage() {
    // A reference render where `first` stopped early: its first asset fills the tile.
    let rec = renders()
        .into_iter()
        .find(|r| {
            r["pixel_selection"] == "first"
                && r["indexes"].is_null()
                && r["assets_used"].as_array().is_some_and(|u| u.len() == 1)
                && r["assets_for_tile"].as_array().is_some_and(|a| a.len() > 1)
        })
        .expect("a render that stopped after one asset");
    let filler = abs(rec["assets_used"][0].as_str().unwrap());
    let tile = tile_of(&rec);
    let poison = "/nonexistent/never-opened.tif".to_string();
    // Opened, the poison fails the request...
    let opened = render(
        &[poison.clone(), filler.clone()],
        tile,
        PixelSelection::First,
        1,
    )
    .await;
    assert!(
        matches!(opened, Err(Error::Dataset { ref path, .. }) if path == &poison),
        "{:?}",
        opened.map(|t| t.assets_used)
    );
    // ...placed after the filler it is never opened, whatever the concurrency window.
    for concurrency in [1, 2] {
        let list = vec![
            filler.clone(),
            filler.clone(),
            filler.clone(),
            poison.clone(),
        ];
        let out = render(&list, tile, PixelSelection::First, concurrency)
            .await
            .unwrap();
        assert_eq!(out.assets_used, vec![filler.clone()]);
        assert!(!out.image.has_masked());
    }
    // Methods that need every asset do read the poison.
    assert!(
        render(
            &[filler.clone(), poison.clone()],
            tile,
            PixelSelection::Highest,
            1
        )
        .await
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_band_counts_are_a_typed_error() {
    let all = renders();
    // A tile rendered for two groups with different band counts.
    let (a, b) = all
        .iter()
        .filter(|r| r["shape"].is_array())
        .flat_map(|r| all.iter().map(move |s| (r, s)))
        .find(|(r, s)| {
            r["tile"] == s["tile"]
                && r["mosaic"] != s["mosaic"]
                && r["shape"][0] != s["shape"][0]
                && r["pixel_selection"] == "first"
                && s["pixel_selection"] == "first"
        })
        .expect("a tile rendered with two band counts");
    let assets = vec![
        abs(a["assets_used"][0].as_str().unwrap()),
        abs(b["assets_used"][0].as_str().unwrap()),
    ];
    match render(&assets, tile_of(a), PixelSelection::Highest, 2).await {
        Err(Error::Dataset { path, reason, .. }) => {
            assert_eq!(path, assets[1]);
            assert!(reason.contains("bands"), "{reason}");
        }
        other => panic!(
            "expected a band-count error, got {:?}",
            other.map(|t| t.assets_used)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_unreachable_assets_name_the_asset() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("not-a-tiff.tif");
    std::fs::write(&bad, b"this is not a TIFF").unwrap();
    let bad = bad.to_string_lossy().to_string();
    let tile = tile_of(&renders()[0]);
    for asset in [
        bad.clone(),
        "http://127.0.0.1:9/unreachable.tif".to_string(),
    ] {
        match render(std::slice::from_ref(&asset), tile, PixelSelection::First, 1).await {
            Err(Error::Dataset { path, .. }) => assert_eq!(path, asset),
            other => panic!(
                "{asset}: expected a dataset error, got {:?}",
                other.map(|t| t.assets_used)
            ),
        }
    }
    // No candidate at all: a typed NoAssets (HTTP 204).
    let out = render(&[], tile, PixelSelection::First, 1).await;
    match out {
        Err(e @ Error::NoAssets(_)) => assert_eq!(e.http_status(), 204),
        other => panic!("expected NoAssets, got {:?}", other.map(|t| t.assets_used)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_nodata_is_masked_and_uint16_rescales_to_png() {
    let all = renders();
    let f32_rec = all
        .iter()
        .find(|r| r["dtype"] == "float32" && r["pixel_selection"] == "first")
        .unwrap();
    let assets: Vec<String> = f32_rec["assets_for_tile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| abs(a.as_str().unwrap()))
        .collect();
    let out = render(&assets, tile_of(f32_rec), PixelSelection::First, 4)
        .await
        .unwrap();
    let img = &out.image;
    assert!(
        img.data
            .iter()
            .zip(&img.mask)
            .all(|(v, m)| !v.is_nan() || *m),
        "every NaN is masked"
    );
    assert!(img.mask.iter().any(|m| !m));

    let u16_rec = all
        .iter()
        .find(|r| r["dtype"] == "uint16" && r["pixel_selection"] == "first")
        .unwrap();
    let assets: Vec<String> = u16_rec["assets_for_tile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| abs(a.as_str().unwrap()))
        .collect();
    let out = render(&assets, tile_of(u16_rec), PixelSelection::First, 4)
        .await
        .unwrap();
    let (lo, hi) = (
        u16_rec["valid_min"].as_f64().unwrap(),
        u16_rec["valid_max"].as_f64().unwrap(),
    );
    let opts = RenderOptions {
        format: Some(ImageFormat::Png),
        rescale: vec![(lo, hi)],
        ..Default::default()
    };
    let (png, _) = render_image(&out.image, &opts, out.bounds, "").unwrap();
    let decoded = image::load_from_memory(&png).unwrap();
    assert_eq!(decoded.color(), image::ColorType::La8);
    let la = decoded.to_luma_alpha8();
    // The valid minimum maps to 0 and the maximum to 255.
    let values: Vec<u8> = la.pixels().filter(|p| p[1] == 255).map(|p| p[0]).collect();
    assert_eq!(values.iter().min(), Some(&0));
    assert_eq!(values.iter().max(), Some(&255));
    // Without rescale the same image is a 16-bit PNG.
    let (png16, _) = render_image(
        &out.image,
        &RenderOptions {
            format: Some(ImageFormat::Png),
            ..Default::default()
        },
        out.bounds,
        "",
    )
    .unwrap();
    assert_eq!(
        image::load_from_memory(&png16).unwrap().color(),
        image::ColorType::La16
    );
}

#[test]
fn cli_tile_and_point() {
    let rec = renders()
        .into_iter()
        .find(|r| r["pixel_selection"] == "first" && r["dtype"] == "uint8")
        .unwrap();
    let t = &rec["tile"];
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tile.npy");
    let run = |args: &[&str]| {
        std::process::Command::new(mosaic_bin())
            .args(args)
            .current_dir(refdata())
            .output()
            .unwrap()
    };
    let (z, x, y) = (t["z"].to_string(), t["x"].to_string(), t["y"].to_string());
    let o = run(&[
        "tile",
        rec["mosaic"].as_str().unwrap(),
        &z,
        &x,
        &y,
        "--format",
        "npy",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let npy = mosaic_integration_tests::parse_npy(&std::fs::read(&out).unwrap());
    assert_eq!(
        npy.shape,
        vec![4, 256, 256],
        "3 data bands + the mask plane"
    );
    assert!(
        npy.values[3 * 65536..]
            .iter()
            .all(|v| *v == 0.0 || *v == 255.0)
    );
    // No asset: nothing written, non-zero exit, one line.
    let none = tmp.path().join("none.png");
    let o = run(&[
        "tile",
        rec["mosaic"].as_str().unwrap(),
        "3",
        "0",
        "0",
        "-o",
        none.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(!none.exists());
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
    // Point values: one entry per asset containing the point, values per band.
    let o = run(&["point", rec["mosaic"].as_str().unwrap(), "14.7", "45.2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["coordinates"], serde_json::json!([14.7, 45.2]));
    for a in v["assets"].as_array().unwrap() {
        assert_eq!(
            a["values"].as_array().unwrap().len(),
            a["band_names"].as_array().unwrap().len()
        );
    }
    let bad = run(&[
        "tile",
        rec["mosaic"].as_str().unwrap(),
        &z,
        &x,
        &y,
        "--pixel-selection",
        "prettiest",
    ]);
    assert!(!bad.status.success());
}
