//! Mosaics from a real STAC API (stac-fastapi-pgstac on PostgreSQL/PostGIS, started by
//! `infra/services.sh`): the reference footprints loaded as items, searched page by page,
//! must give cogeo-mosaic's own documents for every creation call of the reference set.

use mosaic::MosaicJson;
use mosaic::backend::{self, Backends};
use mosaic::stac::{
    ItemAccessor, SearchOptions, footprints_from_items, mosaic_from_search, search,
};
use mosaic::{Error, create::read_footprints};
use mosaic_integration_tests::stac_api::{api, load_collection, reference_calls};
use mosaic_integration_tests::{
    create_options, read_bytes, require_services, run_cli, run_cli_status, run_id,
};
use serde_json::{Value, json};

/// Loads `source` (see [`load_collection`]) with a page size a dozenth of the items (at
/// least 7), so paging always runs.
async fn load_paged(source: &str, prop: &str) -> Value {
    let (mut query, n) = load_collection(source, prop, "").await;
    query["limit"] = json!((n / 12).max(7));
    query
}

/// The HTTP client of the searches (one per test, as one per process in the functions).
fn client() -> reqwest::Client {
    mosaic::stac::client().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_give_cogeo_mosaics_documents() {
    require_services();
    let (source, prop, calls) = reference_calls();
    assert!(!calls.is_empty());
    let query = load_paged(&source, &prop).await;
    let url = format!("{}/search", api());
    let accessor = ItemAccessor::Asset("data".into());

    // Every page, by next links.
    let items = search(&client(), &url, &query, &SearchOptions::default())
        .await
        .unwrap();
    let expected_fps = read_footprints(&read_bytes(&source), &prop).unwrap();
    assert_eq!(items.len(), expected_fps.len());
    let (fps, unplaced) = footprints_from_items(&items, &accessor).unwrap();
    assert!(unplaced.is_empty());
    let assets: Vec<&String> = fps.iter().map(|f| &f.asset).collect();
    let expected_assets: Vec<&String> = expected_fps.iter().map(|f| &f.asset).collect();
    assert_eq!(assets, expected_assets, "items come back in file order");

    for (i, call) in calls.iter().enumerate() {
        let reference =
            MosaicJson::from_slice(&read_bytes(call["mosaic"].as_str().unwrap())).unwrap();
        let opts = create_options(&call["kwargs"]);
        let doc = if i == 0 {
            // The whole path once: search, pages, placement, creation.
            search_and_create(&url, &query, &accessor, &opts).await
        } else {
            MosaicJson::from_footprints(&fps, &opts).unwrap()
        };
        assert_eq!(doc.tiles, reference.tiles, "{}", call["call"]);
        assert_eq!(doc.bounds, reference.bounds, "{}", call["call"]);
    }

    // max_items stops early.
    let first8 = search(
        &client(),
        &url,
        &query,
        &SearchOptions {
            max_items: Some(8),
            ..SearchOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(first8.len(), 8);
    assert_eq!(first8[..], items[..8]);
}

async fn search_and_create(
    url: &str,
    query: &Value,
    accessor: &ItemAccessor,
    opts: &mosaic::create::CreateOptions,
) -> MosaicJson {
    mosaic_from_search(
        &client(),
        &format!("stac+{url}"),
        query,
        &SearchOptions::default(),
        accessor,
        opts,
    )
    .await
    .unwrap()
    .doc
}

/// The stac-mosaic function and the CLI write the same document as the library builds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_and_cli_store_the_mosaic() {
    require_services();
    let (source, prop, calls) = reference_calls();
    let query = load_paged(&source, &prop).await;
    let call = &calls[0];
    let reference = MosaicJson::from_slice(&read_bytes(call["mosaic"].as_str().unwrap())).unwrap();
    let (minzoom, maxzoom) = (reference.minzoom, reference.maxzoom);
    let dir = tempfile::tempdir().unwrap();

    let output = format!("sqlite:///{}:m", dir.path().join("m.db").display());
    let mut request = json!({"url": format!("{}/search", api()), "query": query.clone(),
                             "minzoom": minzoom, "maxzoom": maxzoom, "asset": "data",
                             "quadkey_zoom": reference.quadkey_zoom, "output": output});
    let answer = stac_mosaic::handle(&Backends::from_env(), request.clone())
        .await
        .unwrap();
    assert_eq!(answer["quadkeys"], reference.tiles.len(), "{answer}");
    let read = read_footprints(&read_bytes(&source), &prop).unwrap();
    assert_eq!(answer["items"], read.len(), "{answer}");
    let stored = backend::open(&output).await.unwrap();
    let stored: std::collections::HashMap<String, Vec<String>> =
        stored.tiles().await.unwrap().into_iter().collect();
    let expected: std::collections::HashMap<String, Vec<String>> =
        reference.tiles.clone().into_iter().collect();
    assert_eq!(stored, expected);
    // An existing mosaic is kept unless asked to overwrite.
    assert!(matches!(
        stac_mosaic::handle(&Backends::from_env(), request.clone()).await,
        Err(Error::AlreadyExists { .. })
    ));
    request["overwrite"] = json!(true);
    stac_mosaic::handle(&Backends::from_env(), request)
        .await
        .unwrap();

    let file = dir.path().join("cli.json");
    let q = dir.path().join("q.json");
    std::fs::write(&q, query.to_string()).unwrap();
    let (minzoom, maxzoom) = (minzoom.to_string(), maxzoom.to_string());
    let mut args = vec![
        "create-from-stac".to_string(),
        format!("stac+{}/search", api()),
        "--query".into(),
        format!("@{}", q.display()),
        "--minzoom".into(),
        minzoom,
        "--maxzoom".into(),
        maxzoom,
        "--asset".into(),
        "data".into(),
        "-o".into(),
        file.display().to_string(),
        "--quiet".into(),
    ];
    if let Some(qz) = reference.quadkey_zoom {
        args.extend(["--quadkey-zoom".into(), qz.to_string()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cli(&refs);
    let written = MosaicJson::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written.tiles, reference.tiles);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_searches_are_typed_errors() {
    require_services();
    let opts = mosaic::create::CreateOptions::new(7, 12);
    let accessor = ItemAccessor::ItemUrl;
    let run = |url: String, q: Value| {
        let (opts, accessor) = (opts.clone(), accessor.clone());
        async move {
            mosaic_from_search(
                &client(),
                &url,
                &q,
                &SearchOptions::default(),
                &accessor,
                &opts,
            )
            .await
        }
    };
    // Nothing found.
    let none = run(
        format!("{}/search", api()),
        json!({"collections": [format!("absent-{}", run_id())]}),
    )
    .await;
    assert!(matches!(none, Err(Error::EmptyMosaic(_))), "{none:?}");
    // Not a search endpoint.
    let missing = run(format!("{}/no-such-endpoint", api()), json!({})).await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
    // An invalid query (the API answers 400).
    let bad = run(format!("{}/search", api()), json!({"bbox": "not a bbox"})).await;
    assert!(matches!(bad, Err(Error::Storage { .. })), "{bad:?}");
    // Nothing listening.
    let down = run("http://127.0.0.1:9/search".into(), json!({})).await;
    assert!(matches!(down, Err(Error::Storage { .. })), "{down:?}");
    // A query that is not an object; the CLI's exit code for it.
    let not_object = run(format!("{}/search", api()), json!([1])).await;
    assert!(
        matches!(not_object, Err(Error::InvalidInput(_))),
        "{not_object:?}"
    );
    let out = run_cli_status(&[
        "create-from-stac",
        &format!("{}/search", api()),
        "--query",
        "{not json",
        "--minzoom",
        "7",
        "--maxzoom",
        "12",
    ]);
    assert_eq!(out.status.code(), Some(64));
}
