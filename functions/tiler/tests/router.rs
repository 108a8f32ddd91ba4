//! Every endpoint and status code of the router, in process (`tower::ServiceExt::oneshot`),
//! and the images it returns compared with the rendering engine's own output.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{fixture, get, q, send};
use mosaic::index::LookupOptions;
use mosaic::render::encode::{ImageFormat, RenderOptions, render_image};
use mosaic::render::{TileOptions, render_tile};
use mosaic::{Tile, TileMatrixSet};
use serde_json::Value;
use tiler::{AllowList, AppState, Config, app};

fn tile_path(f: &common::Fixture) -> (Tile, String) {
    let t = &f.render["tile"];
    let tile = Tile::new(
        t["x"].as_u64().unwrap(),
        t["y"].as_u64().unwrap(),
        t["z"].as_u64().unwrap() as u8,
    );
    (
        tile,
        format!(
            "/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}",
            tile.z, tile.x, tile.y
        ),
    )
}

async fn engine(
    f: &common::Fixture,
    tile: Tile,
    format: ImageFormat,
) -> (mosaic::render::ImageData, Vec<u8>) {
    let backend = mosaic::backend::open(&f.mosaic).await.unwrap();
    let out = render_tile(
        backend.as_ref(),
        &TileMatrixSet::web_mercator(),
        tile,
        &LookupOptions::default(),
        &TileOptions::default(),
    )
    .await
    .unwrap();
    let (bytes, _) = render_image(
        &out.image,
        &RenderOptions {
            format: Some(format),
            ..Default::default()
        },
        out.bounds,
        "",
    )
    .unwrap();
    (out.image, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_match_the_engine_in_every_format() {
    let f = fixture("uint8");
    let (tile, path) = tile_path(&f);
    let url = q(&f.mosaic);

    let (resp, png) = get(&f.router, &format!("{path}.png?url={url}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["cache-control"], "public, max-age=3600");
    assert_eq!(
        h["content-crs"],
        "<http://www.opengis.net/def/crs/EPSG/0/3857>"
    );
    assert_eq!(h["content-bbox"].to_str().unwrap().split(',').count(), 4);
    assert!(
        h["server-timing"]
            .to_str()
            .unwrap()
            .contains("mosaicking;dur=")
    );
    let used: Vec<&str> = h["x-assets"].to_str().unwrap().split(',').collect();
    assert!(!used.is_empty() && used.iter().all(|a| a.ends_with(".tif")));
    let etag = h["etag"].to_str().unwrap().to_string();
    let (_, engine_png) = engine(&f, tile, ImageFormat::Png).await;
    let (ours, theirs) = (
        image::load_from_memory(&png).unwrap().to_rgba8(),
        image::load_from_memory(&engine_png).unwrap().to_rgba8(),
    );
    assert_eq!(
        ours.as_raw(),
        theirs.as_raw(),
        "PNG pixels equal the engine's"
    );

    // Conditional request.
    let req = Request::get(format!("{path}.png?url={url}"))
        .header("if-none-match", &etag)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&f.router, req).await.0.status(),
        StatusCode::NOT_MODIFIED
    );

    // NPY: data bands then the mask plane, equal to the engine's image.
    let (resp, npy) = get(&f.router, &format!("{path}.npy?url={url}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (img, _) = engine(&f, tile, ImageFormat::Npy).await;
    let hlen = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let body = &npy[10 + hlen..];
    assert_eq!(body.len(), (img.bands + 1) * img.plane());
    for (k, v) in img.data.iter().enumerate() {
        assert_eq!(f64::from(body[k]), *v);
    }
    assert_eq!(
        &body[img.bands * img.plane()..],
        img.valid_mask().as_slice()
    );

    // JPEG, WebP and GeoTIFF decode; @2x doubles the size.
    for (ext, ctype) in [("jpg", "image/jpeg"), ("webp", "image/webp")] {
        let (resp, bytes) = get(&f.router, &format!("{path}.{ext}?url={url}")).await;
        assert_eq!(resp.headers()["content-type"], ctype);
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 256));
    }
    let (resp, tif) = get(&f.router, &format!("{path}.tif?url={url}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(tif.starts_with(b"II*\0") || tif.starts_with(b"MM\0*"));
    let (_, big) = get(&f.router, &format!("{path}@2x.png?url={url}")).await;
    assert_eq!(image::load_from_memory(&big).unwrap().width(), 512);
    // Without a format: PNG when a pixel is masked, JPEG otherwise.
    let (resp, _) = get(&f.router, &format!("{path}?url={url}")).await;
    let expected = if img.valid_mask().contains(&0) {
        "image/png"
    } else {
        "image/jpeg"
    };
    assert_eq!(resp.headers()["content-type"], expected);
    // Post-processing parameters.
    let (resp, bytes) = get(
        &f.router,
        &format!(
            "{path}.png?url={url}&bidx=1&rescale=0,200&colormap_name=viridis&return_mask=false"
        ),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        image::load_from_memory(&bytes).unwrap().color(),
        image::ColorType::Rgb8
    );
    let (resp, _) = get(&f.router, &format!("{path}.png?url={url}&pixel_selection=highest&reverse=true&resampling=bilinear&buffer=2&padding=1&nodata=0")).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes() {
    let f = fixture("uint8");
    let (_, path) = tile_path(&f);
    let url = q(&f.mosaic);
    let status = |resp: &axum::http::Response<Body>| resp.status();
    // 204: no asset for the tile, and candidates without data (reference error records).
    let (resp, body) = get(
        &f.router,
        &format!("/mosaicjson/tiles/WebMercatorQuad/12/0/0.png?url={url}"),
    )
    .await;
    assert_eq!((status(&resp), body.len()), (StatusCode::NO_CONTENT, 0));
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(common::refdata().join("renders/manifest.json")).unwrap(),
    )
    .unwrap();
    let empty = manifest["renders"].as_array().unwrap().iter().find(|r| {
        r["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("EmptyMosaicError"))
            && r["mosaic"] == f.render["mosaic"]
    });
    if let Some(e) = empty {
        let t = &e["tile"];
        let (resp, _) = get(
            &f.router,
            &format!(
                "/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={url}",
                t["z"], t["x"], t["y"]
            ),
        )
        .await;
        assert_eq!(status(&resp), StatusCode::NO_CONTENT);
    }
    // 404: missing mosaic, unknown route.
    let missing = q(&f.dir.path().join("missing.json").to_string_lossy());
    let (resp, body) = get(&f.router, &format!("{path}.png?url={missing}")).await;
    assert_eq!(status(&resp), StatusCode::NOT_FOUND);
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["detail"].is_string());
    assert_eq!(
        status(&get(&f.router, "/nope").await.0),
        StatusCode::NOT_FOUND
    );
    // 400: bad parameters, never a 500.
    for bad in [
        format!("{path}.png?url={url}&pixel_selection=prettiest"),
        format!("{path}.png?url={url}&tilesize=abc"),
        format!("{path}.png?url={url}&bidx=0"),
        format!("{path}.png?url={url}&rescale=1"),
        format!("{path}.png?url={url}&colormap_name=rainbowish"),
        format!("{path}.png?url={url}&buffer=0.3"),
        format!("{path}.bmp?url={url}"),
        format!("/mosaicjson/tiles/WebMercatorQuad/3/0/x.png?url={url}"),
        format!("/mosaicjson/tiles/WebMercatorQuad/3/99/0.png?url={url}"),
        format!("/mosaicjson/point/1;2?url={url}"),
        format!("/mosaicjson/bbox/1,2,3/assets?url={url}"),
        "/mosaics/..%2Fetc/info".to_string(),
    ] {
        let (resp, body) = get(&f.router, &bad).await;
        assert_eq!(
            status(&resp),
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(serde_json::from_slice::<Value>(&body).unwrap()["detail"].is_string());
    }
    // 422: missing url, unknown TMS, invalid document.
    assert_eq!(
        status(&get(&f.router, &format!("{path}.png")).await.0),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        status(
            &get(
                &f.router,
                &format!("/mosaicjson/tiles/NoSuchTMS/1/0/0.png?url={url}")
            )
            .await
            .0
        ),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // 424: an allowed asset that GDAL cannot read.
    let bad_asset = f.dir.path().join("broken.tif");
    std::fs::write(&bad_asset, b"not a tiff").unwrap();
    let mut doc = mosaic::MosaicJson::new(0, 20);
    doc.quadkey_zoom = Some(0);
    doc.tiles.insert(
        String::new(),
        vec![bad_asset.to_string_lossy().into_owned()],
    );
    let broken = f.dir.path().join("broken.json");
    std::fs::write(&broken, doc.to_json_vec()).unwrap();
    let (resp, _) = get(
        &f.router,
        &format!("{path}.png?url={}", q(&broken.to_string_lossy())),
    )
    .await;
    assert_eq!(status(&resp), StatusCode::FAILED_DEPENDENCY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_refuses_with_403() {
    let f = fixture("uint8");
    let (_, path) = tile_path(&f);
    let dir = f.dir.path().to_string_lossy().into_owned();
    for uri in [
        "/etc/passwd".to_string(),
        format!("{dir}/../../../../etc/passwd"),
        format!("file://{dir}/../outside.json"),
        "http://169.254.169.254/latest/meta-data/mosaic.json".to_string(),
        "s3://somebody-else/mosaic.json".to_string(),
        "https://example.com/mosaic.json".to_string(),
    ] {
        let (resp, body) = get(&f.router, &format!("{path}.png?url={}", q(&uri))).await;
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    // An allowed mosaic pointing at an asset outside the allowlist.
    let mut doc = mosaic::MosaicJson::new(0, 20);
    doc.quadkey_zoom = Some(0);
    doc.tiles
        .insert(String::new(), vec!["/etc/hostname".into()]);
    let sneaky = f.dir.path().join("sneaky.json");
    std::fs::write(&sneaky, doc.to_json_vec()).unwrap();
    let (resp, _) = get(
        &f.router,
        &format!("{path}.png?url={}", q(&sneaky.to_string_lossy())),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (resp, _) = get(
        &f.router,
        &format!("/mosaicjson/point/0,0?url={}", q(&sneaky.to_string_lossy())),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_and_lookups() {
    let f = fixture("uint8");
    let (tile, path) = tile_path(&f);
    let url = q(&f.mosaic);
    let json = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();

    let (resp, body) = get(
        &f.router,
        &format!("/mosaicjson/WebMercatorQuad/tilejson.json?url={url}"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tj = json(&body);
    let template = tj["tiles"][0].as_str().unwrap();
    assert!(
        template.starts_with("http://tiler.test/mosaicjson/tiles/WebMercatorQuad/{z}/{x}/{y}@1x?"),
        "{template}"
    );
    assert!(template.contains("tilesize=512"));
    let doc = mosaic::MosaicJson::from_slice(&std::fs::read(&f.mosaic).unwrap()).unwrap();
    assert_eq!(
        (tj["minzoom"].as_u64(), tj["maxzoom"].as_u64()),
        (Some(u64::from(doc.minzoom)), Some(u64::from(doc.maxzoom)))
    );
    let (_, body) = get(
        &f.router,
        &format!("/mosaicjson/WebMercatorQuad/tilejson.json?url={url}&minzoom=3&tile_format=png"),
    )
    .await;
    let tj = json(&body);
    assert_eq!(tj["minzoom"], 3);
    assert!(tj["tiles"][0].as_str().unwrap().contains("@1x.png?"));

    let (resp, body) = get(
        &f.router,
        &format!("/mosaicjson/WebMercatorQuad/map.html?url={url}"),
    )
    .await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&body).contains("tilejson.json"));

    let (_, body) = get(&f.router, &format!("/mosaicjson/info?url={url}")).await;
    let info = json(&body);
    assert_eq!(info["mosaic_minzoom"], doc.minzoom);
    assert_eq!(info["crs"], "http://www.opengis.net/def/crs/EPSG/0/4326");
    let (resp, body) = get(&f.router, &format!("/mosaicjson/info.geojson?url={url}")).await;
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    assert_eq!(json(&body)["geometry"]["type"], "Polygon");

    let (_, body) = get(&f.router, &format!("/mosaicjson/?url={url}")).await;
    assert_eq!(mosaic::MosaicJson::from_slice(&body).unwrap(), doc);

    let (_, body) = get(&f.router, &format!("/mosaicjson/tiles?url={url}")).await;
    assert!(json(&body)["tilesets"].as_array().unwrap().len() >= 4);
    let (_, body) = get(
        &f.router,
        &format!("/mosaicjson/tiles/WebMercatorQuad?url={url}"),
    )
    .await;
    let ts = json(&body);
    assert_eq!(
        ts["tileMatrixSetLimits"].as_array().unwrap().len(),
        usize::from(doc.maxzoom - doc.minzoom) + 1
    );
    assert!(
        ts["links"][0]["href"]
            .as_str()
            .unwrap()
            .starts_with("http://tiler.test/mosaicjson/tiles/WebMercatorQuad")
    );
    let (resp, body) = get(
        &f.router,
        &format!("/mosaicjson/WMTSCapabilities.xml?url={url}"),
    )
    .await;
    assert_eq!(resp.headers()["content-type"], "application/xml");
    let xml = String::from_utf8(body).unwrap();
    assert!(
        xml.contains("<Capabilities")
            && xml.contains("WebMercatorQuad")
            && xml.contains("/mosaicjson/tiles/WebMercatorQuad/{TileMatrix}")
    );
    // titiler's current path: one TMS, the same tile URLs, and they serve tiles.
    let (resp, body) = get(
        &f.router,
        &format!("/mosaicjson/WebMercatorQuad/WMTSCapabilities.xml?url={url}"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let one = String::from_utf8(body).unwrap();
    let template = one
        .split("template=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        template.starts_with("http://tiler.test/mosaicjson/tiles/WebMercatorQuad/"),
        "{template}"
    );
    let tile_url = template
        .trim_start_matches("http://tiler.test")
        .replace("{TileMatrix}", &tile.z.to_string())
        .replace("{TileCol}", &tile.x.to_string())
        .replace("{TileRow}", &tile.y.to_string());
    let (resp, _) = get(&f.router, &tile_url).await;
    assert_eq!(resp.status(), 200, "{tile_url}");
    let (resp, _) = get(
        &f.router,
        &format!("/mosaicjson/NoSuchTms/WMTSCapabilities.xml?url={url}"),
    )
    .await;
    assert!(resp.status().is_client_error());

    // Look-ups agree with the library.
    let index = mosaic::MemoryIndex::new(doc.clone()).unwrap();
    let (_, body) = get(&f.router, &format!("{path}/assets?url={url}")).await;
    assert_eq!(
        json(&body),
        serde_json::json!(index.assets_for_tile(tile.x, tile.y, tile.z).unwrap())
    );
    let b = TileMatrixSet::web_mercator().bounds(tile);
    let (lon, lat) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    let (_, body) = get(
        &f.router,
        &format!("/mosaicjson/point/{lon},{lat}/assets?url={url}"),
    )
    .await;
    assert_eq!(
        json(&body),
        serde_json::json!(index.assets_for_point(lon, lat).unwrap())
    );
    let (_, body) = get(
        &f.router,
        &format!(
            "/mosaicjson/bbox/{},{},{},{}/assets?url={url}",
            b[0], b[1], b[2], b[3]
        ),
    )
    .await;
    assert_eq!(
        json(&body),
        serde_json::json!(index.assets_for_bbox(b).unwrap())
    );
    let (resp, body) = get(
        &f.router,
        &format!("/mosaicjson/point/{lon},{lat}?url={url}"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let pv = json(&body);
    assert_eq!(pv["coordinates"], serde_json::json!([lon, lat]));
    assert!(!pv["assets"].as_array().unwrap().is_empty());

    // Validation.
    let req = Request::post("/mosaicjson/validate")
        .body(Body::from(doc.to_json_vec()))
        .unwrap();
    let (resp, body) = send(&f.router, req).await;
    assert_eq!(
        (resp.status(), json(&body)),
        (StatusCode::OK, Value::Bool(true))
    );
    let req = Request::post("/mosaicjson/validate")
        .body(Body::from(r#"{"mosaicjson":"0.0.3"}"#))
        .unwrap();
    assert_eq!(
        send(&f.router, req).await.0.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (resp, body) = get(&f.router, "/healthz").await;
    assert_eq!(
        (resp.status(), json(&body)["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}

/// TileJSON, OGC tilesets and WMTS put only known tile formats and scales in their tile URLs,
/// and percent-encode what comes from the document (a custom TMS id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_validate_and_encode_what_goes_into_urls() {
    let f = fixture("uint8");
    let url = q(&f.mosaic);
    let json = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
    let template = |tj: &Value| tj["tiles"][0].as_str().unwrap().to_string();
    let tilejson = |extra: String| {
        let router = f.router.clone();
        let url = url.clone();
        async move {
            let (resp, body) = get(
                &router,
                &format!("/mosaicjson/WebMercatorQuad/tilejson.json?url={url}&{extra}"),
            )
            .await;
            assert_eq!(resp.status(), StatusCode::OK, "{extra}");
            json(&body)
        }
    };
    // Known formats (as `mosaic::render::encode` parses them), lower-cased.
    for (given, ext) in [
        ("png", "png"),
        ("JPG", "jpg"),
        ("jpeg", "jpeg"),
        ("webp", "webp"),
        ("tif", "tif"),
        ("npy", "npy"),
    ] {
        let t = template(&tilejson(format!("tile_format={given}")).await);
        assert!(t.contains(&format!("/{{y}}@1x.{ext}?")), "{given}: {t}");
    }
    // Anything else is left out, never copied into the URL.
    for bad in [
        "png/../../../evil?x=",
        "png#frag",
        "png\"><script>",
        "gif",
        "png.exe",
        "",
    ] {
        let t = template(&tilejson(format!("tile_format={}", q(bad))).await);
        assert!(t.contains("/{y}@1x?"), "{bad:?}: {t}");
        assert!(
            !t.contains("evil") && !t.contains('#') && !t.contains('<') && !t.contains("gif"),
            "{bad:?}: {t}"
        );
    }
    for (scale, want) in [
        ("2", "@2x"),
        ("4", "@4x"),
        ("1x/../../evil", "@1x"),
        ("-1", "@1x"),
    ] {
        let t = template(&tilejson(format!("tile_scale={}", q(scale))).await);
        assert!(t.contains(&format!("/{{y}}{want}")), "{scale:?}: {t}");
        assert!(!t.contains("evil"), "{scale:?}: {t}");
    }
    let (_, body) = get(
        &f.router,
        &format!(
            "/mosaicjson/tiles/WebMercatorQuad?url={url}&tile_format={}",
            q("png/../evil")
        ),
    )
    .await;
    let item = json(&body)["links"][1]["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        item.contains("/{y}@1x?") && !item.contains("evil"),
        "{item}"
    );

    // A custom TMS whose id (letters, digits, `_` and `-`, any script) is not URL-safe.
    let id = "Évora_Quad-日本";
    let mut tms = serde_json::to_value(TileMatrixSet::web_mercator()).unwrap();
    tms["id"] = Value::from(id);
    let mut doc = mosaic::MosaicJson::from_slice(&std::fs::read(&f.mosaic).unwrap()).unwrap();
    doc.tilematrixset = Some(TileMatrixSet::from_value(tms).unwrap());
    let custom = f.dir.path().join("custom-tms.json");
    std::fs::write(&custom, doc.to_json_vec()).unwrap();
    let curl = q(&custom.to_string_lossy());
    let encoded = "%C3%89vora_Quad-%E6%97%A5%E6%9C%AC";
    let (resp, body) = get(&f.router, &format!("/mosaicjson/tiles?url={curl}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let list = json(&body);
    let hrefs: Vec<String> = list["tilesets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|ts| ts["links"].as_array().unwrap().clone())
        .map(|l| l["href"].as_str().unwrap().to_string())
        .collect();
    assert!(
        hrefs
            .iter()
            .any(|h| h.contains(&format!("/mosaicjson/tiles/{encoded}?"))),
        "{hrefs:?}"
    );
    assert!(hrefs.iter().all(|h| !h.contains(id)), "{hrefs:?}");
    // The encoded id routes back to the TMS.
    let (resp, body) = get(
        &f.router,
        &format!("/mosaicjson/{encoded}/tilejson.json?url={curl}"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let t = template(&json(&body));
    assert!(
        t.contains(&format!(
            "/mosaicjson/tiles/{encoded}/{{z}}/{{x}}/{{y}}@1x?"
        )),
        "{t}"
    );
    let (resp, body) = get(
        &f.router,
        &format!("/mosaicjson/tiles/{encoded}?url={curl}"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ts = json(&body);
    for link in ts["links"].as_array().unwrap() {
        let href = link["href"].as_str().unwrap();
        assert!(href.contains(&format!("/tiles/{encoded}")), "{href}");
    }
    let (resp, body) = get(
        &f.router,
        &format!("/mosaicjson/WMTSCapabilities.xml?url={curl}"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let xml = String::from_utf8(body).unwrap();
    assert!(
        xml.contains(&format!("<TileMatrixSet>{id}</TileMatrixSet>")),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("/mosaicjson/tiles/{encoded}/{{TileMatrix}}")),
        "{xml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosaic_ids_strict_zoom_and_asset_cap() {
    let f = fixture("uint8");
    let (tile, _) = tile_path(&f);
    // /mosaics/{id}/... through MOSAIC_URL_TEMPLATE (the fixture's is `<dir>/{id}.json`).
    let (resp, _) = get(
        &f.router,
        &format!(
            "/mosaics/mosaic/tiles/WebMercatorQuad/{}/{}/{}.png",
            tile.z, tile.x, tile.y
        ),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        get(&f.router, "/mosaics/nope/info").await.0.status(),
        StatusCode::NOT_FOUND
    );

    let doc = mosaic::MosaicJson::from_slice(&std::fs::read(&f.mosaic).unwrap()).unwrap();
    let allowed = AllowList::of(&[
        f.dir.path().to_string_lossy().into_owned(),
        common::refdata().to_string_lossy().into_owned(),
    ]);
    let mut config = Config::new(allowed.clone());
    config.strict_zoom = true;
    let strict = app(AppState::new(config));
    let z = doc.maxzoom + 1;
    let (resp, body) = get(
        &strict,
        &format!(
            "/mosaicjson/tiles/WebMercatorQuad/{z}/0/0.png?url={}",
            q(&f.mosaic)
        ),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("Invalid ZOOM level"));

    let mut config = Config::new(allowed);
    config.max_assets_per_tile = 1;
    let capped = app(AppState::new(config));
    let url = q(&f.mosaic);
    let (resp, _) = get(
        &capped,
        &format!(
            "/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={url}&pixel_selection=highest",
            tile.z, tile.x, tile.y
        ),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    if f.render["assets_for_tile"].as_array().unwrap().len() > 1 {
        assert!(resp.headers().contains_key("x-assets-truncated"));
        assert_eq!(
            resp.headers()["x-assets"]
                .to_str()
                .unwrap()
                .split(',')
                .count(),
            1
        );
    }
}

/// Stores the fixture's document at `uri` and returns a router allowed to read `entry` (the
/// database), the fixture and the COGs, with the tile path; asserts that the stored mosaic
/// renders the same PNG as the document.
async fn router_serving_a_copy(
    f: &common::Fixture,
    uri: &str,
    entry: &str,
) -> (axum::Router, Tile, String) {
    use mosaic::backend::{WriteMode, open_writer};
    let (tile, path) = tile_path(f);
    let doc = mosaic::MosaicJson::from_slice(&std::fs::read(&f.mosaic).unwrap()).unwrap();
    open_writer(uri)
        .unwrap()
        .write(&doc, WriteMode::Overwrite)
        .await
        .unwrap();
    let cogs = std::fs::canonicalize(common::refdata())
        .unwrap()
        .join("cogs");
    let allowed = AllowList::of(&[
        entry.to_string(),
        f.dir.path().to_string_lossy().into_owned(),
        cogs.to_string_lossy().into_owned(),
    ]);
    let router = app(AppState::new(Config::new(allowed)));
    let (json_resp, json_png) = get(&router, &format!("{path}.png?url={}", q(&f.mosaic))).await;
    let (db_resp, db_png) = get(&router, &format!("{path}.png?url={}", q(uri))).await;
    assert_eq!(json_resp.status(), StatusCode::OK);
    assert_eq!(db_resp.status(), StatusCode::OK, "{uri}");
    assert_eq!(db_png, json_png, "{uri}");
    (router, tile, path)
}

/// A mosaic in an SQLite database serves the same tiles and assets as its JSON document;
/// the allow-list entry of the database file allows its mosaics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_mosaics_serve_the_same_tiles() {
    let f = fixture("uint8");
    let db = f.dir.path().join("mosaics.db");
    let sqlite = format!("sqlite:///{}:demo", db.display());
    let (router, tile, path) =
        router_serving_a_copy(&f, &sqlite, &format!("sqlite:///{}", db.display())).await;
    let (_, body) = get(&router, &format!("{path}/assets?url={}", q(&sqlite))).await;
    let doc = mosaic::MosaicJson::from_slice(&std::fs::read(&f.mosaic).unwrap()).unwrap();
    let expected = mosaic::MemoryIndex::new(doc)
        .unwrap()
        .assets_for_tile(tile.x, tile.y, tile.z)
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        serde_json::json!(expected)
    );
    // Another mosaic name of the same database: allowed, but absent.
    let missing = format!("sqlite:///{}:nope", db.display());
    let (resp, body) = get(&router, &format!("{path}.png?url={}", q(&missing))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(serde_json::from_slice::<Value>(&body).is_ok());
}

/// A mosaic in DynamoDB (the local moto server `scripts/test.sh` starts) serves the same
/// tiles as its JSON document; the allow-list entry of the table allows only its mosaics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_mosaics_serve_the_same_tiles() {
    assert!(
        std::env::var_os("MOSAIC_TEST_SERVICES").is_some(),
        "local services are not running (scripts/test.sh starts them)"
    );
    let f = fixture("uint8");
    let table = format!("tiler-{}", std::process::id());
    let uri = format!("dynamodb:///{table}:demo");
    let (router, _, path) = router_serving_a_copy(&f, &uri, &format!("dynamodb:///{table}")).await;
    let other = format!("dynamodb:///{table}-other:demo");
    let (resp, _) = get(&router, &format!("{path}.png?url={}", q(&other))).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

/// TileJSON's first tile URL for `mosaic`, asked with `headers`.
async fn tilejson_tile_url(
    router: &axum::Router,
    mosaic: &str,
    headers: &[(&str, &str)],
) -> String {
    let mut req = Request::get(format!(
        "/mosaicjson/WebMercatorQuad/tilejson.json?url={}",
        q(mosaic)
    ));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (_, body) = send(router, req.body(Body::empty()).unwrap()).await;
    serde_json::from_slice::<Value>(&body).unwrap()["tiles"][0]
        .as_str()
        .unwrap()
        .to_string()
}

/// Behind a reverse proxy that forwards a path prefix and the public host, TileJSON's tile
/// URL is the public one, and the proxy's request for it (prefix removed) serves the tile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_prefix_and_host_make_the_tile_urls() {
    let f = fixture("uint8");
    let forwarded = [
        ("host", "10.0.0.5:8080"),
        ("x-forwarded-host", "maps.example.com"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-prefix", "/tiler/"),
    ];
    let tile_url = tilejson_tile_url(&f.router, &f.mosaic, &forwarded).await;
    let public = "https://maps.example.com/tiler/mosaicjson/tiles/WebMercatorQuad/";
    assert!(tile_url.starts_with(public), "{tile_url}");
    let t = &f.render["tile"];
    let path = tile_url
        .trim_start_matches("https://maps.example.com/tiler")
        .replace("{z}", &t["z"].to_string())
        .replace("{x}", &t["x"].to_string())
        .replace("{y}", &t["y"].to_string());
    let (resp, _) = get(&f.router, &path).await;
    assert_eq!(resp.status(), 200, "{path}");
    // Local: the URL the client used (`Host`), nothing forwarded.
    let tile_url = tilejson_tile_url(&f.router, &f.mosaic, &[("host", "127.0.0.1:8080")]).await;
    let local = "http://127.0.0.1:8080";
    assert!(
        tile_url.starts_with(&format!("{local}/mosaicjson/tiles/WebMercatorQuad/")),
        "{tile_url}"
    );
    let path = tile_url[local.len()..]
        .replace("{z}", &t["z"].to_string())
        .replace("{x}", &t["x"].to_string())
        .replace("{y}", &t["y"].to_string());
    let (resp, _) = get(&f.router, &path).await;
    assert_eq!(resp.status(), 200, "{path}");
    // A prefix that is not a plain path is ignored, never reflected.
    let evil = [
        ("host", "tiler.test"),
        ("x-forwarded-prefix", "//evil.example/x"),
    ];
    let tile_url = tilejson_tile_url(&f.router, &f.mosaic, &evil).await;
    assert!(
        tile_url.starts_with("http://tiler.test/mosaicjson/"),
        "{tile_url}"
    );
}

/// The viewer page loads its map library from links relative to the page, which the router
/// serves; the page carries no configuration a request can inject into.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_page_and_its_map_library() {
    let f = fixture("uint8");
    let page_path = format!(
        "/mosaicjson/WebMercatorQuad/map.html?url={}",
        common::q(&f.mosaic)
    );
    let (resp, body) = get(&f.router, &page_path).await;
    assert_eq!(resp.status(), 200);
    let page = String::from_utf8(body).unwrap();
    for asset in ["maplibre-gl.js", "maplibre-gl.css"] {
        let link = format!("../../static/{asset}?v=");
        assert!(page.contains(&link), "{link} missing from the viewer");
        let (resp, body) = get(&f.router, &format!("/static/{asset}")).await;
        assert_eq!(resp.status(), 200, "{asset}");
        assert!(body.len() > 10_000, "{asset}: {} bytes", body.len());
    }
    assert!(
        page.contains(r#"{"basemap":null}"#),
        "no basemap by default"
    );
    // An operator's basemap reaches the page as data, its `<` escaped inside the script.
    let mut config = Config::new(AllowList::parse(&format!("{}/", f.dir.path().display())));
    config.basemap = tiler::viewer::Basemap::from_lookup(|k| match k {
        "MOSAIC_BASEMAP_URL" => Some("https://tiles.example/{z}/{x}/{y}.png".into()),
        "MOSAIC_BASEMAP_ATTRIBUTION" => Some("<b>Example</b>".into()),
        _ => None,
    });
    let (_, body) = get(&app(AppState::new(config)), &page_path).await;
    let with_basemap = String::from_utf8(body).unwrap();
    assert!(with_basemap.contains(r#""url":"https://tiles.example/{z}/{x}/{y}.png""#));
    assert!(
        with_basemap.contains(r#"\u003cb>Example\u003c/b>"#),
        "{with_basemap}"
    );
    assert!(!page.contains("{{"), "a placeholder left in the page");
    let (resp, _) = get(&f.router, "/static/../Cargo.toml").await;
    assert_eq!(resp.status(), 404);
    let (resp, _) = get(&f.router, "/static/secrets.txt").await;
    assert_eq!(resp.status(), 404);
    let (resp, _) = get(
        &f.router,
        &page_path.replace("WebMercatorQuad", "WorldCRS84Quad"),
    )
    .await;
    assert_eq!(resp.status(), 400);
}

/// `/` says what the server is and links to the demo's viewer (which answers), `/docs` and
/// `/openapi.json`; every path the OpenAPI document lists is a route of the router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_and_openapi_describe_the_routes() {
    let f = fixture("uint8");
    let mut config = Config::new(AllowList::parse(&format!(
        "{}/,{}",
        f.dir.path().display(),
        common::refdata().display()
    )));
    config.demo_mosaic = Some(f.mosaic.clone());
    let router = app(AppState::new(config));
    let (resp, body) = get(&router, "/").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = String::from_utf8(body).unwrap();
    for link in [
        "/docs",
        "/openapi.json",
        "/mosaicjson/WebMercatorQuad/tilejson.json",
    ] {
        assert!(page.contains(link), "{link} missing from the landing page");
    }
    let viewer = page
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("map.html"))
        .expect("a viewer link")
        .replace("&amp;", "&");
    let (resp, _) = get(&router, viewer.trim_start_matches("http://localhost")).await;
    assert_eq!(resp.status(), 200, "{viewer}");
    let (resp, body) = get(&router, "/docs").await;
    assert_eq!(resp.status(), 200);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("/mosaicjson/tiles/")
    );

    let (_, body) = get(&router, "/openapi.json").await;
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let t = &f.render["tile"];
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 10);
    for (path, ops) in paths {
        let concrete = path
            .replace("{tileMatrixSetId}", "WebMercatorQuad")
            .replace("{file}", "maplibre-gl.js")
            .replace("{z}", &t["z"].to_string())
            .replace("{x}", &t["x"].to_string())
            .replace("{y}", &t["y"].to_string())
            .replace("{lon},{lat}", "14.7,45.2")
            .replace("{minx},{miny},{maxx},{maxy}", "14,45,15,46")
            .replace("{id}", "demo");
        let uri = format!("{concrete}?url={}", q(&f.mosaic));
        let method = if ops.get("get").is_some() {
            "GET"
        } else {
            "POST"
        };
        let req = Request::builder()
            .method(method)
            .uri(&uri)
            .body(Body::from("{}"))
            .unwrap();
        let (_, body) = send(&router, req).await;
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("no route for"),
            "{method} {path} is not routed: {text}"
        );
    }
}
