//! Mosaic creation parity with cogeo-mosaic 9.2.0 over every document of the reference set.

use mosaic::create::{Footprint, read_footprints};
use mosaic::{MosaicJson, TileMatrixSet};
use mosaic_integration_tests::{accessor_property, create_options, read_bytes, read_json, refdata};
use serde_json::Value;

#[test]
fn from_features_matches_reference_documents() {
    let calls = read_json("mosaics/calls_footprints.json");
    let entries = calls["mosaics"].as_array().expect("mosaics list");
    assert!(!entries.is_empty());
    let mut compared = 0;
    let mut sources: std::collections::HashMap<(String, String), Vec<Footprint>> =
        Default::default();
    for entry in entries {
        let source = entry["source"].as_str().unwrap();
        let prop = accessor_property(entry["accessor"].as_str());
        let fps = sources
            .entry((source.to_string(), prop.clone()))
            .or_insert_with(|| read_footprints(&read_bytes(source), &prop).unwrap());
        let opts = create_options(&entry["kwargs"]);
        let ours = MosaicJson::from_footprints(fps, &opts);
        let Some(mosaic_path) = entry["mosaic"].as_str() else {
            // The reference raised (e.g. minimum_tile_cover + tile_cover_sort, an upstream
            // bug documented in docs/compatibility.md): we must produce a valid document.
            let doc = ours.unwrap_or_else(|e| panic!("{}: {e}", entry["call"]));
            let cover = opts.minimum_tile_cover.unwrap_or(0.0);
            assert!(!doc.tiles.is_empty() || cover > 0.0);
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{mosaic_path}: {e}"));
        let expected_bytes = read_bytes(mosaic_path);
        let expected = MosaicJson::from_slice(&expected_bytes).unwrap();
        let ok: Vec<_> = ours.tiles.keys().collect();
        let ek: Vec<_> = expected.tiles.keys().collect();
        if ok != ek {
            let missing: Vec<_> = ek
                .iter()
                .filter(|k| !ours.tiles.contains_key(k.as_str()))
                .take(10)
                .collect();
            let extra: Vec<_> = ok
                .iter()
                .filter(|k| !expected.tiles.contains_key(k.as_str()))
                .take(10)
                .collect();
            panic!(
                "{mosaic_path}: key order differs ({} vs {} keys); missing {missing:?}, extra {extra:?}",
                ok.len(),
                ek.len()
            );
        }
        for (k, v) in &expected.tiles {
            assert_eq!(&ours.tiles[k], v, "{mosaic_path}: assets of {k}");
        }
        assert_eq!(
            ours.to_json_vec(),
            expected_bytes,
            "{mosaic_path}: bytes differ"
        );
        compared += 1;
    }
    eprintln!("compared {compared} documents from {}", refdata().display());
    assert!(compared > 0);
}

#[test]
fn from_urls_matches_reference_documents() {
    use mosaic::dataset::{get_footprints, mosaic_zooms};
    let calls = read_json("mosaics/calls_cogs.json");
    let mut compared = 0;
    for entry in calls["mosaics"].as_array().expect("mosaics list") {
        let source = entry["source"].as_str().unwrap();
        let list = String::from_utf8(read_bytes(source)).unwrap();
        // URLs are relative to the set directory.
        let urls: Vec<String> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| refdata().join(l).to_string_lossy().to_string())
            .collect();
        let tms = TileMatrixSet::web_mercator();
        let infos: Vec<_> = get_footprints(&urls, &tms, 4, None)
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let kwargs = &entry["kwargs"];
        let z = |k: &str| kwargs.get(k).and_then(Value::as_u64).map(|v| v as u8);
        let mut warnings = Vec::new();
        let result = mosaic_zooms(&infos, z("minzoom"), z("maxzoom"), &mut warnings);
        let Some(mosaic_path) = entry["mosaic"].as_str() else {
            assert!(result.is_err(), "{}: the reference raised", entry["call"]);
            continue;
        };
        let (minzoom, maxzoom) = result.unwrap();
        let expected_warnings: Vec<String> = entry["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| {
                w.as_str()
                    .unwrap()
                    .trim_start_matches("UserWarning: ")
                    .to_string()
            })
            .collect();
        let mut w_sorted = warnings.clone();
        w_sorted.sort();
        let mut e_sorted = expected_warnings.clone();
        e_sorted.sort();
        assert_eq!(w_sorted, e_sorted, "{mosaic_path}: warnings");
        let mut o = create_options(kwargs);
        (o.minzoom, o.maxzoom) = (minzoom, maxzoom);
        let fps: Vec<Footprint> = infos
            .iter()
            .map(|i| {
                // The document stores the URL as listed (relative to the set).
                let mut fp = i.footprint();
                fp.asset = i
                    .path
                    .strip_prefix(&format!("{}/", refdata().display()))
                    .unwrap_or(&i.path)
                    .to_string();
                fp
            })
            .collect();
        let ours = MosaicJson::from_footprints(&fps, &o).unwrap();
        let expected = MosaicJson::from_slice(&read_bytes(mosaic_path)).unwrap();
        assert_eq!(
            ours.tiles.keys().collect::<Vec<_>>(),
            expected.tiles.keys().collect::<Vec<_>>(),
            "{mosaic_path}: keys"
        );
        assert_eq!(ours.tiles, expected.tiles, "{mosaic_path}: assets");
        for (a, b) in ours.bounds.iter().zip(expected.bounds.iter()) {
            assert!(
                (a - b).abs() < 1e-9,
                "{mosaic_path}: bounds {:?} vs {:?}",
                ours.bounds,
                expected.bounds
            );
        }
        assert_eq!(
            (ours.minzoom, ours.maxzoom, ours.quadkey_zoom),
            (expected.minzoom, expected.maxzoom, expected.quadkey_zoom)
        );
        compared += 1;
    }
    assert!(compared > 0);
}

#[test]
fn dataset_zooms_match_rio_tiler() {
    let manifest = read_json("cogs/manifest.json");
    let tms = TileMatrixSet::web_mercator();
    let files = manifest["files"].as_array().expect("files");
    for f in files {
        let path = refdata().join(f["path"].as_str().unwrap());
        let info = mosaic::dataset::dataset_info(path.to_str().unwrap(), &tms).unwrap();
        assert_eq!(
            u64::from(info.minzoom),
            f["rio_tiler_minzoom"].as_u64().unwrap(),
            "{path:?} minzoom"
        );
        assert_eq!(
            u64::from(info.maxzoom),
            f["rio_tiler_maxzoom"].as_u64().unwrap(),
            "{path:?} maxzoom"
        );
        assert_eq!(info.datatype, f["dtype"].as_str().unwrap());
        let gb: Vec<f64> = serde_json::from_value(f["geographic_bounds"].clone()).unwrap();
        for (a, b) in info.bounds.iter().zip(gb.iter()) {
            assert!(
                (a - b).abs() < 1e-9,
                "{path:?} bounds {:?} vs {gb:?}",
                info.bounds
            );
        }
    }
    assert!(!files.is_empty());
}
