//! Mosaics on other quadtree TMSs (built-in and custom TMS 2.0 JSON): creation, document
//! round trip with the embedded TMS, and look-ups that find every footprint at its centre.

use mosaic::create::{CreateOptions, Footprint, read_footprints};
use mosaic::index::{Lookup, LookupOptions};
use mosaic::{MemoryIndex, MosaicJson, TileMatrixSet};
use mosaic_integration_tests::read_bytes;

fn centre(fp: &Footprint) -> (f64, f64) {
    let ring = &fp.polygons[0][0];
    let n = (ring.len() - 1) as f64;
    let (sx, sy) = ring[..ring.len() - 1]
        .iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p[0], a.1 + p[1]));
    (sx / n, sy / n)
}

fn check(tms: TileMatrixSet, fps: &[Footprint], minzoom: u8) {
    let mut o = CreateOptions::new(minzoom, minzoom + 4);
    o.tilematrixset = Some(tms.clone());
    let doc = MosaicJson::from_footprints(fps, &o).unwrap();
    assert!(!doc.tiles.is_empty(), "{}", tms.id());
    // The TMS travels inside the document and comes back equal.
    let back = MosaicJson::from_slice(&doc.to_json_vec()).unwrap();
    assert_eq!(back.tilematrixset.as_ref(), Some(&tms));
    assert_eq!(back, doc);
    let index = MemoryIndex::new(back).unwrap();
    for fp in fps {
        let (lon, lat) = centre(fp);
        let got = index
            .lookup(&Lookup::Point { lon, lat }, &LookupOptions::default())
            .unwrap();
        assert!(
            got.contains(&fp.asset),
            "{}: {} not found at its centre ({lon}, {lat})",
            tms.id(),
            fp.asset
        );
        // The same point from the tile of a deeper zoom (parent walk) and a shallow one (prefix range).
        let deep = tms.tile(lon, lat, minzoom + 3);
        assert!(
            index
                .assets_for_tile(deep.x, deep.y, deep.z)
                .unwrap()
                .contains(&fp.asset)
        );
        let shallow = tms.tile(lon, lat, minzoom.saturating_sub(2));
        assert!(
            index
                .assets_for_tile(shallow.x, shallow.y, shallow.z)
                .unwrap()
                .contains(&fp.asset)
        );
    }
}

fn footprints() -> Vec<Footprint> {
    read_footprints(&read_bytes("footprints/fp_100.geojson"), "path").unwrap()
}

#[test]
fn world_mercator_and_web_mercator() {
    let fps: Vec<Footprint> = footprints()
        .into_iter()
        .filter(|f| centre(f).1.abs() < 80.0)
        .collect();
    check(TileMatrixSet::web_mercator(), &fps, 6);
    check(
        TileMatrixSet::builtin("WorldMercatorWGS84Quad").unwrap(),
        &fps,
        6,
    );
}

#[test]
fn polar_stereographic() {
    let all = footprints();
    let north: Vec<Footprint> = all.iter().filter(|f| centre(f).1 > 60.0).cloned().collect();
    let south: Vec<Footprint> = all
        .iter()
        .filter(|f| centre(f).1 < -60.0)
        .cloned()
        .collect();
    assert!(!north.is_empty() && !south.is_empty());
    check(
        TileMatrixSet::builtin("UPSArcticWGS84Quad").unwrap(),
        &north,
        5,
    );
    check(
        TileMatrixSet::builtin("UPSAntarcticWGS84Quad").unwrap(),
        &south,
        5,
    );
}

#[test]
fn custom_tms_document() {
    // World Equidistant Cylindrical (EPSG:4087) on a square quadtree grid.
    let half = 20037508.3427892;
    let matrices: Vec<serde_json::Value> = (0..=14)
        .map(|z| {
            let cell = 2.0 * half / 256.0 / f64::from(1u32 << z);
            serde_json::json!({"id": z.to_string(), "scaleDenominator": cell / 0.00028, "cellSize": cell,
                "cornerOfOrigin": "topLeft", "pointOfOrigin": [-half, half], "tileWidth": 256, "tileHeight": 256,
                "matrixWidth": 1u64 << z, "matrixHeight": 1u64 << z})
        })
        .collect();
    let doc = serde_json::json!({"id": "EquidistantCylindricalQuad", "title": "test", "crs": "http://www.opengis.net/def/crs/EPSG/0/4087",
        "orderedAxes": ["X", "Y"], "tileMatrices": matrices});
    let tms = TileMatrixSet::from_json(&doc.to_string()).unwrap();
    assert!(tms.is_quadtree());
    let fps: Vec<Footprint> = footprints()
        .into_iter()
        .filter(|f| centre(f).1.abs() < 80.0)
        .collect();
    check(tms, &fps, 6);
}

#[test]
fn read_tms_differs_from_mosaic_tms() {
    // A WebMercatorQuad mosaic read by WGS1984Quad tiles goes through the tile bounds.
    let fps = footprints();
    let doc = MosaicJson::from_footprints(&fps, &CreateOptions::new(7, 12)).unwrap();
    let index = MemoryIndex::new(doc).unwrap();
    let wgs = TileMatrixSet::builtin("WGS1984Quad").unwrap();
    let (lon, lat) = centre(&fps[0]);
    let t = wgs.tile(lon, lat, 9);
    let opts = LookupOptions {
        tms: Some(wgs),
        ..Default::default()
    };
    let got = index.lookup(&Lookup::Tile(t), &opts).unwrap();
    assert!(got.contains(&fps[0].asset));
}
