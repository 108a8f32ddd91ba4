//! The STAC API of the tests (stac-fastapi-pgstac, started by `infra/services.sh`): loading
//! the reference footprints as items. [`crate::proxy::FaultProxy`] goes in front of it to
//! count and fail requests.

use serde_json::{Value, json};

use crate::{accessor_property, read_bytes, read_json, run_id};

/// The STAC API's base URL (`STAC_API_URL`).
pub fn api() -> String {
    std::env::var("STAC_API_URL").expect("STAC_API_URL from infra/services.sh")
}

/// POSTs `body` to `url`: status and text.
pub async fn post(url: &str, body: &Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// The reference set's footprint calls of one source (the smallest): the source, the
/// feature property holding the asset, and the calls that made a mosaic.
pub fn reference_calls() -> (String, String, Vec<Value>) {
    let calls = read_json("mosaics/calls_footprints.json");
    let entries = calls["mosaics"].as_array().expect("mosaics");
    let source = entries
        .iter()
        .filter_map(|e| e["source"].as_str())
        .min_by_key(|s| read_bytes(s).len())
        .expect("a source")
        .to_string();
    let prop = accessor_property(
        entries
            .iter()
            .find(|e| e["source"] == source.as_str())
            .and_then(|e| e["accessor"].as_str()),
    );
    let used: Vec<Value> = entries
        .iter()
        .filter(|e| e["source"] == source.as_str() && e["mosaic"].is_string())
        .cloned()
        .collect();
    (source, prop, used)
}

/// Loads the features of the GeoJSON file `source` into a fresh collection, one item each,
/// in file order (`datetime` increasing, so sorting on it gives the file order back); each
/// item's asset `data` is `href_prefix` + the feature's `prop`. Returns the collection's
/// search query (sorted by `datetime`, no `limit`) and the number of items.
pub async fn load_collection(source: &str, prop: &str, href_prefix: &str) -> (Value, usize) {
    let collection = format!("fp-{}", run_id());
    let (status, text) = post(
        &format!("{}/collections", api()),
        &json!({"type": "Collection", "stac_version": "1.0.0", "id": collection,
                "description": "reference footprints", "license": "proprietary",
                "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                           "temporal": {"interval": [["2000-01-01T00:00:00Z", null]]}},
                "links": []}),
    )
    .await;
    assert!(status < 300, "create collection: {status} {text}");
    let fc: Value = serde_json::from_slice(&read_bytes(source)).expect("GeoJSON");
    let features = fc["features"].as_array().expect("features");
    let items: Vec<Value> = features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ring = f["geometry"]["coordinates"][0].as_array().expect("ring");
            let (xs, ys): (Vec<f64>, Vec<f64>) = ring
                .iter()
                .map(|p| (p[0].as_f64().expect("x"), p[1].as_f64().expect("y")))
                .unzip();
            let fold = |v: &[f64], f: fn(f64, f64) -> f64| v.iter().copied().reduce(f).expect("coords");
            let href = format!("{href_prefix}{}", f["properties"][prop].as_str().expect("asset property"));
            json!({"type": "Feature", "stac_version": "1.0.0",
                   "id": format!("{i:05}-{}", f["id"].as_str().unwrap_or("item")),
                   "collection": collection, "geometry": f["geometry"],
                   "bbox": [fold(&xs, f64::min), fold(&ys, f64::min), fold(&xs, f64::max), fold(&ys, f64::max)],
                   "properties": {"datetime": format!("2024-01-01T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60)},
                   "assets": {"data": {"href": href}},
                   "links": []})
        })
        .collect();
    let (status, text) = post(
        &format!("{}/collections/{collection}/items", api()),
        &json!({"type": "FeatureCollection", "features": items}),
    )
    .await;
    assert!(status < 300, "load items: {status} {text}");
    (
        json!({"collections": [collection],
               "sortby": [{"field": "properties.datetime", "direction": "asc"}]}),
        features.len(),
    )
}
