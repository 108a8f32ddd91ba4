//! Look-up parity: every case file of the reference set (tiles, points, bboxes, reverse,
//! projected inputs, another read TMS) gives exactly the reference answer.

use mosaic::crs::Crs;
use mosaic::index::{Lookup, LookupOptions};
use mosaic::{MosaicJson, Tile, TileIndex, TileMatrixSet};
use mosaic_integration_tests::{read_bytes, read_json, refdata};
use serde_json::Value;

#[test]
fn every_lookup_case_matches() {
    let dir = refdata().join("cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut total = 0;
    let mut failures = Vec::new();
    for file in files {
        let rel = format!("cases/{file}");
        let spec = read_json(&rel);
        let doc = MosaicJson::from_slice(&read_bytes(spec["mosaic"].as_str().unwrap())).unwrap();
        let index = TileIndex::new(doc).unwrap();
        let tms_id = spec["tms"].as_str().unwrap_or("WebMercatorQuad");
        let read_tms = TileMatrixSet::builtin(tms_id).unwrap();
        let function = spec["function"].as_str().unwrap();
        for case in spec["cases"].as_array().unwrap() {
            let input = &case["input"];
            let f = |k: &str| input[k].as_f64().unwrap();
            let opts = LookupOptions {
                reverse: input
                    .get("reverse")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                tms: Some(read_tms.clone()),
                coord_crs: input
                    .get("coord_crs")
                    .and_then(Value::as_str)
                    .map(|c| Crs::parse(c).unwrap()),
            };
            let lookup = match function {
                "assets_for_tile" => {
                    Lookup::Tile(Tile::new(f("x") as u64, f("y") as u64, f("z") as u8))
                }
                "assets_for_point" => Lookup::Point {
                    lon: f("lng"),
                    lat: f("lat"),
                },
                "assets_for_bbox" => Lookup::Bbox([f("xmin"), f("ymin"), f("xmax"), f("ymax")]),
                other => panic!("unknown function {other}"),
            };
            let got = index.lookup(&lookup, &opts);
            total += 1;
            match (case.get("expected"), got) {
                (Some(expected), Ok(got)) => {
                    let expected: Vec<String> = serde_json::from_value(expected.clone()).unwrap();
                    if got != expected {
                        failures.push(format!(
                            "{rel} {input} ({}): got {} assets, expected {}",
                            case["note"],
                            got.len(),
                            expected.len()
                        ));
                    }
                }
                (None, Err(_)) => {}
                (e, g) => failures.push(format!("{rel} {input}: expected {e:?}, got {g:?}")),
            }
        }
    }
    eprintln!("{total} look-up cases, {} failures", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(total > 100);
}
