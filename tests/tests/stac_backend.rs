//! `stac+http://…/search` mosaics against a real STAC API (stac-fastapi-pgstac on
//! PostgreSQL/PostGIS, started by `infra/services.sh`): the reference footprints loaded as
//! items in file order must answer every reference look-up as cogeo-mosaic's own documents
//! do, from the CLI and the tile API, through many pages; paging limits, failures, the cache
//! and registered searches are checked with a proxy that counts (and fails) requests.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use mosaic::MosaicJson;
use mosaic::backend::{self, Backends, StacMosaicOptions, StacSearch};
use mosaic::cache::{CacheSettings, MosaicCache};
use mosaic::create::read_footprints;
use mosaic::stac::ItemAccessor;
use mosaic_integration_tests::proxy::FaultProxy as StacProxy;
use mosaic_integration_tests::stac_api::{api, load_collection, reference_calls};
use mosaic_integration_tests::{
    LookupCase, create_options, lookup_cases, read_bytes, refdata, require_services, run_cli,
    run_cli_status, run_id, serve_dir,
};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Items per page in these tests: small, so a search of the reference footprints pages.
const PAGE: u64 = 9;

/// A tile API allowed to read `allowed`, with registered searches stored by `template`.
fn router(allowed: &str, template: Option<String>) -> axum::Router {
    let mut config = tiler::Config::new(tiler::AllowList::parse(allowed));
    config.url_template = template;
    // Some reference bbox cases span more quadkeys than the public default allows.
    config.limits.max_lookup_quadkeys = u64::MAX;
    tiler::app(tiler::AppState::new(config))
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    send(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

fn encode(pairs: &[(&str, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// cogeo-mosaic's `mosaic_options` of a creation call: its keyword arguments but the zooms;
/// `None` when the call uses an option a STAC mosaic does not take.
fn mosaic_options(kwargs: &Value) -> Option<Value> {
    let known = [
        "minzoom",
        "maxzoom",
        "quadkey_zoom",
        "minimum_tile_cover",
        "tile_cover_sort",
        "maximum_items_per_tile",
        "asset_prefix",
    ];
    let map = kwargs.as_object()?;
    if map.keys().any(|k| !known.contains(&k.as_str())) {
        return None;
    }
    let rest: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(k, _)| *k != "minzoom" && *k != "maxzoom")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(Value::Object(rest))
}

/// The tile API path (with its look-up query keys) answering one reference case.
fn case_path(case: &LookupCase) -> (String, Vec<(&'static str, String)>) {
    let i = &case.input;
    let n = |k: &str| i[k].as_f64().unwrap();
    let mut extra = Vec::new();
    if i.get("reverse").and_then(Value::as_bool) == Some(true) {
        extra.push(("reverse", "true".to_string()));
    }
    if let Some(c) = i.get("coord_crs").and_then(Value::as_str) {
        extra.push(("coord_crs", c.to_string()));
    }
    let path = match case.function.as_str() {
        "assets_for_tile" => format!(
            "/mosaicjson/tiles/{}/{}/{}/{}/assets",
            case.tms,
            n("z"),
            n("x"),
            n("y")
        ),
        "assets_for_point" => format!("/mosaicjson/point/{},{}/assets", n("lng"), n("lat")),
        _ => format!(
            "/mosaicjson/bbox/{},{},{},{}/assets",
            n("xmin"),
            n("ymin"),
            n("xmax"),
            n("ymax")
        ),
    };
    (path, extra)
}

/// The CLI's `--stac-*` arguments of a search.
fn cli_search_args(url: &str, query: &Value, kwargs: &Value) -> Vec<String> {
    vec![
        url.to_string(),
        "--stac-query".into(),
        query.to_string(),
        "--minzoom".into(),
        kwargs["minzoom"].to_string(),
        "--maxzoom".into(),
        kwargs["maxzoom"].to_string(),
        "--stac-asset".into(),
        "data".into(),
        "--stac-limit".into(),
        PAGE.to_string(),
    ]
}

fn cli(args: &[String]) -> String {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cli(&refs)
}

fn cli_status(args: &[String]) -> std::process::Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cli_status(&refs)
}

/// Every reference look-up case of every mosaic cogeo-mosaic made from the footprints, asked
/// of the tile API with the search in the query; the tile cases of the plainest call also of
/// the CLI, counting its pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_answer_every_reference_lookup() {
    require_services();
    let (source, prop, calls) = reference_calls();
    let (query, n) = load_collection(&source, &prop, "").await;
    let proxy = StacProxy::start(&api());
    let url = format!("stac+{}/search", proxy.base);
    let tiler = router(&format!("{}/", proxy.base), None);
    let cases = lookup_cases();
    let mut asked = 0;
    let mut failures = Vec::new();
    let mut plain = None;
    for call in &calls {
        let Some(options) = mosaic_options(&call["kwargs"]) else {
            continue;
        };
        let mosaic_file = call["mosaic"].as_str().unwrap();
        let mine: Vec<&LookupCase> = cases.iter().filter(|c| c.mosaic == mosaic_file).collect();
        if options.as_object().is_some_and(|o| o.is_empty()) && plain.is_none() && !mine.is_empty()
        {
            plain = Some((call.clone(), mine.clone()));
        }
        let mut params = vec![
            ("url", url.clone()),
            ("stac_query", query.to_string()),
            ("minzoom", call["kwargs"]["minzoom"].to_string()),
            ("maxzoom", call["kwargs"]["maxzoom"].to_string()),
            ("stac_asset", "data".to_string()),
            ("stac_limit", PAGE.to_string()),
        ];
        if options.as_object().is_some_and(|o| !o.is_empty()) {
            params.push(("stac_mosaic_options", options.to_string()));
        }
        for case in mine {
            let (path, extra) = case_path(case);
            let mut all = params.clone();
            all.extend(extra);
            let (status, _, body) = get(&tiler, &format!("{path}?{}", encode(&all))).await;
            asked += 1;
            let got = if status == StatusCode::OK {
                Ok(serde_json::from_slice::<Vec<String>>(&body).unwrap())
            } else {
                Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
            };
            failures.extend(case.mismatch(got));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(asked > 100, "only {asked} cases asked");
    eprintln!("{asked} reference look-ups answered by the tile API from STAC searches");

    // The CLI, one process per case; every search pages through the whole collection.
    let (call, mine) = plain.expect("a call with only minzoom/maxzoom and look-up cases");
    let pages = (n as u64).div_ceil(PAGE) as usize;
    for case in mine.iter().filter(|c| c.function == "assets_for_tile") {
        let before = proxy.hits();
        let mut args = vec!["assets".to_string()];
        args.extend(cli_search_args(&url, &query, &call["kwargs"]));
        args.push("--tile".into());
        for k in ["z", "x", "y"] {
            args.push(case.input[k].to_string());
        }
        if case.input.get("reverse").and_then(Value::as_bool) == Some(true) {
            args.push("--reverse".into());
        }
        if case.tms != "WebMercatorQuad" {
            args.extend(["--tms".to_string(), case.tms.clone()]);
        }
        let got: Vec<String> = serde_json::from_str(&cli(&args)).unwrap();
        assert_eq!(Some(&got), case.expected.as_ref(), "{}", case.input);
        let requests = proxy.hits() - before;
        assert!(
            (pages..=pages + 1).contains(&requests),
            "{requests} requests for {n} items in pages of {PAGE}"
        );
    }
}

/// A search of the reference footprints through `proxy`, as the plainest reference call.
async fn plain_search(
    proxy: &StacProxy,
) -> (
    StacSearch,
    MosaicJson,
    Vec<mosaic::create::Footprint>,
    usize,
) {
    let (source, prop, calls) = reference_calls();
    let (query, n) = load_collection(&source, &prop, "").await;
    let call = calls
        .iter()
        .find(|c| {
            mosaic_options(&c["kwargs"])
                .is_some_and(|o| o.as_object().is_some_and(|o| o.is_empty()))
        })
        .expect("a call with only minzoom/maxzoom");
    let reference = MosaicJson::from_slice(&read_bytes(call["mosaic"].as_str().unwrap())).unwrap();
    let mut search = StacSearch::new(
        &format!("stac+{}/search", proxy.base),
        query,
        reference.minzoom,
        reference.maxzoom,
    )
    .unwrap();
    search.api.limit = Some(PAGE);
    search.mosaic = StacMosaicOptions {
        accessor: ItemAccessor::Asset("data".into()),
        ..Default::default()
    };
    let fps = read_footprints(&read_bytes(&source), &prop).unwrap();
    assert_eq!(fps.len(), n);
    (search, reference, fps, n)
}

fn cache() -> MosaicCache {
    MosaicCache::new(CacheSettings::from_lookup(|_| None)).with_backends(Backends::default())
}

/// `max_items` stops paging; a 500 on page 3 is a typed, retryable error and caches nothing;
/// a second open (and concurrent ones) make no request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_failures_and_the_cache() {
    require_services();
    let proxy = StacProxy::start(&api());
    let (search, reference, fps, n) = plain_search(&proxy).await;
    let pages = (n as u64).div_ceil(PAGE) as usize;

    // --stac-max-items: 20 items in pages of 9 are 3 requests; the mosaic is theirs.
    let mut first20 = search.clone();
    first20.api.max_items = Some(20);
    let before = proxy.hits();
    let m = Backends::default().open_stac(&first20).await.unwrap();
    assert_eq!(proxy.hits() - before, 3);
    let expected =
        MosaicJson::from_footprints(&fps[..20], &first20.create_options().unwrap()).unwrap();
    assert_eq!(m.document().tiles, expected.tiles);
    let before = proxy.hits();
    let mut args = vec!["info".to_string(), "--json".to_string()];
    args.extend(cli_search_args(
        &search.url,
        &search.query,
        &json!({"minzoom": search.minzoom, "maxzoom": search.maxzoom}),
    ));
    args.extend(["--stac-max-items".to_string(), "20".to_string()]);
    let info: Value = serde_json::from_str(&cli(&args)).unwrap();
    assert_eq!(proxy.hits() - before, 3);
    assert_eq!(info["Backend"], "STAC");
    assert_eq!(info["TILES"]["Nb Tiles"], expected.tiles.len());

    // A 500 on page 3: typed, retryable, nothing cached.
    let cache = cache();
    proxy.fail_request(3);
    let before = proxy.hits();
    let err = cache.open_stac(&search).await.unwrap_err();
    assert_eq!(proxy.hits() - before, 3, "paging stops at the failed page");
    assert!(
        matches!(err.root(), mosaic::Error::Storage { .. }),
        "{err:?}"
    );
    assert!(err.retryable(), "{err}");
    assert!(err.to_string().contains("500"), "{err}");
    let before = proxy.hits();
    let m = cache.open_stac(&search).await.unwrap();
    assert!(proxy.hits() - before >= pages, "the failure was cached");
    assert_eq!(m.document().tiles, reference.tiles);

    // The cache serves a second open, and the same query spelled otherwise, with no request.
    let before = proxy.hits();
    let again = cache.open_stac(&search).await.unwrap();
    let mut respelled = search.clone();
    let reordered: serde_json::Map<String, Value> = search
        .query
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    respelled.query = Value::Object(reordered);
    cache.open_stac(&respelled).await.unwrap();
    assert_eq!(proxy.hits() - before, 0);
    assert!(std::sync::Arc::ptr_eq(&m, &again));

    // Concurrent opens of one search share one search.
    let fresh = self::cache();
    let before = proxy.hits();
    let opens = (0..4).map(|_| fresh.open_stac(&search));
    for r in futures::future::join_all(opens).await {
        assert_eq!(r.unwrap().document().tiles, reference.tiles);
    }
    let requests = proxy.hits() - before;
    assert!(
        (pages..=pages + 1).contains(&requests),
        "{requests} requests for 4 concurrent opens"
    );

    // The CLI and the tile API report the failure: exit 75 in one line, 424 with a detail.
    proxy.fail_request(3);
    let mut args = vec!["assets".to_string()];
    args.extend(cli_search_args(
        &search.url,
        &search.query,
        &json!({"minzoom": search.minzoom, "maxzoom": search.maxzoom}),
    ));
    args.extend(["--point".to_string(), "0".into(), "0".into()]);
    let out = cli_status(&args);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("500"), "{stderr}");
    proxy.fail_request(3);
    let tiler = router(&format!("{}/", proxy.base), None);
    let q = encode(&[
        ("url", search.url.clone()),
        ("stac_query", search.query.to_string()),
        ("minzoom", search.minzoom.to_string()),
        ("maxzoom", search.maxzoom.to_string()),
        ("stac_limit", PAGE.to_string()),
    ]);
    let (status, _, body) = get(&tiler, &format!("/mosaicjson/info?{q}")).await;
    assert_eq!(status, StatusCode::FAILED_DEPENDENCY);
    let detail: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        detail["detail"].as_str().unwrap().contains("500"),
        "{detail}"
    );
}

/// An empty search: 204 for tiles, a clear message and exit 3 in the CLI. Writing through a
/// `stac+` URI: exit 69 before anything is read or searched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_searches_and_read_only() {
    require_services();
    let proxy = StacProxy::start(&api());
    let url = format!("stac+{}/search", proxy.base);
    let empty = json!({"collections": [format!("absent-{}", run_id())]});
    let tiler = router(&format!("{}/", proxy.base), None);
    let q = encode(&[
        ("url", url.clone()),
        ("stac_query", empty.to_string()),
        ("minzoom", "7".into()),
        ("maxzoom", "12".into()),
    ]);
    let (status, _, _) = get(
        &tiler,
        &format!("/mosaicjson/tiles/WebMercatorQuad/7/64/42?{q}"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut args = vec!["assets".to_string()];
    args.extend(cli_search_args(
        &url,
        &empty,
        &json!({"minzoom": 7, "maxzoom": 12}),
    ));
    args.extend(["--tile".to_string(), "7".into(), "64".into(), "42".into()]);
    let out = cli_status(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("found no items"), "{stderr}");
    // Zooms are required.
    let out = run_cli_status(&["info", &url, "--stac-query", "{}"]);
    assert_eq!(out.status.code(), Some(64));

    let before = proxy.hits();
    for args in [
        vec![
            "update",
            "/no/such/list.txt",
            &url,
            "--stac-query",
            "{}",
            "--add-last",
        ],
        vec!["upload", "/no/such/mosaic.json", "--url", &url],
        vec!["delete", &url],
    ] {
        let out = run_cli_status(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(69), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("read-only"), "{stderr}");
    }
    assert_eq!(proxy.hits(), before, "a write to a stac+ URI searched");
}

/// `upload` saves a search as a document and into DynamoDB: cogeo-mosaic's tiles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_is_uploaded() {
    require_services();
    let proxy = StacProxy::start(&api());
    let (search, reference, _, _) = plain_search(&proxy).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("saved.json.gz").display().to_string();
    let table = format!("dynamodb:///stac-{}:saved", run_id().replace('-', ""));
    let kwargs = json!({"minzoom": search.minzoom, "maxzoom": search.maxzoom});
    for target in [&file, &table] {
        let mut args = vec!["upload".to_string()];
        args.extend(cli_search_args(&search.url, &search.query, &kwargs));
        args.extend(["--url".to_string(), target.clone()]);
        cli(&args);
        let stored = backend::open(target).await.unwrap();
        let tiles: std::collections::HashMap<String, Vec<String>> =
            stored.tiles().await.unwrap().into_iter().collect();
        let expected: std::collections::HashMap<String, Vec<String>> =
            reference.tiles.clone().into_iter().collect();
        assert_eq!(tiles, expected, "{target}");
    }
}

/// A registered search serves rendered tiles, also from a tiler started afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_search_serves_tiles_after_a_restart() {
    require_services();
    // COG footprints of the set (`cli/footprint_*.geojson`), their COGs over loopback HTTP.
    let mut sources: Vec<String> = std::fs::read_dir(refdata().join("cli"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.starts_with("footprint_") && f.ends_with(".geojson"))
        .map(|f| format!("cli/{f}"))
        .collect();
    sources.sort();
    let source = sources.first().expect("a cli/footprint_*.geojson");
    let cogs = serve_dir(refdata());
    let (query, _) = load_collection(source, "path", &format!("{cogs}/")).await;
    let fc: Value = serde_json::from_slice(&read_bytes(source)).unwrap();
    let first = &fc["features"][0]["properties"];
    let (minzoom, maxzoom) = (
        first["minzoom"].as_u64().unwrap(),
        first["maxzoom"].as_u64().unwrap(),
    );

    let dir = tempfile::tempdir().unwrap();
    let template = format!("{}/{{id}}.json", dir.path().display());
    let allowed = format!("{}/,{cogs}/,{}", api(), dir.path().display());
    let tiler = router(&allowed, Some(template.clone()));
    let body = json!({"url": format!("stac+{}/search", api()), "stac_query": query,
                      "minzoom": minzoom, "maxzoom": maxzoom, "stac_asset": "data"});
    let req = Request::post("/mosaicjson/stac/register")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, answer) = send(&tiler, req).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let id = answer["id"].as_str().unwrap();
    let tilejson_url = answer["tilejson"].as_str().unwrap();
    let path_of = |u: &str| u.trim_start_matches("http://localhost").to_string();
    let (status, _, tj) = get(&tiler, &path_of(tilejson_url)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&tj));
    let tj: Value = serde_json::from_slice(&tj).unwrap();
    let center = tj["center"].as_array().unwrap();
    let z = maxzoom as u8;
    let tile = mosaic::TileMatrixSet::web_mercator().tile(
        center[0].as_f64().unwrap(),
        center[1].as_f64().unwrap(),
        z,
    );
    let tile_path = format!(
        "/mosaics/{id}/tiles/WebMercatorQuad/{z}/{}/{}.png",
        tile.x, tile.y
    );
    let (status, headers, png) = get(&tiler, &tile_path).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&png));
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["x-assets"].to_str().unwrap().starts_with(&cogs),
        "{headers:?}"
    );
    // Stored where MOSAIC_URL_TEMPLATE points.
    assert!(dir.path().join(format!("{id}.json")).exists());

    // A new process: nothing in memory but the template.
    let restarted = router(&allowed, Some(template));
    let (status, _, again) = get(&restarted, &tile_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, png);
    // Registering the same search again gives the same id.
    let req = Request::post("/mosaicjson/stac/register")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (_, _, same) = send(&restarted, req).await;
    assert_eq!(serde_json::from_slice::<Value>(&same).unwrap()["id"], id);
    // A template whose backend would drop the search is refused, not stored empty.
    let db = format!("sqlite:///{}/r.db:{{id}}", dir.path().display());
    let sqlite = router(&allowed, Some(db));
    let req = Request::post("/mosaicjson/stac/register")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, detail) = send(&sqlite, req).await;
    assert_eq!(
        status,
        StatusCode::NOT_IMPLEMENTED,
        "{}",
        String::from_utf8_lossy(&detail)
    );
    // A search outside the allowlist is refused at registration.
    let req = Request::post("/mosaicjson/stac/register")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"url": "stac+http://169.254.169.254/search", "minzoom": 1, "maxzoom": 2})
                .to_string(),
        ))
        .unwrap();
    let (status, _, _) = send(&restarted, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Keeps `create_options` in use for the calls above (the kwargs → options mapping is the
/// library's, checked against the tile API's here).
#[test]
fn mosaic_options_map_to_creation_options() {
    let kwargs = json!({"minzoom": 7, "maxzoom": 12, "quadkey_zoom": 8, "tile_cover_sort": true});
    let options = mosaic_options(&kwargs).unwrap();
    let mut search = StacSearch::new("stac+http://h/search", json!({}), 7, 12).unwrap();
    search.mosaic = StacMosaicOptions::from_json(&options.to_string()).unwrap();
    let ours = search.create_options().unwrap();
    let theirs = create_options(&kwargs);
    assert_eq!(
        (
            ours.minzoom,
            ours.maxzoom,
            ours.quadkey_zoom,
            ours.tile_cover_sort
        ),
        (
            theirs.minzoom,
            theirs.maxzoom,
            theirs.quadkey_zoom,
            theirs.tile_cover_sort
        )
    );
    assert!(mosaic_options(&json!({"minzoom": 1, "maxzoom": 2, "accessor": "x"})).is_none());
}
