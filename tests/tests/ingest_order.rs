//! The ingest function in S3's real order and under faults, against real local services
//! (COGs in moto's S3 read by GDAL, DynamoDB on moto, SQLite): events older than the newest
//! applied to a key are ignored, shuffled and repeated deliveries across concurrent
//! processes converge on cogeo-mosaic's mosaic, a DynamoDB that stops in the middle of an
//! SQS batch fails exactly the messages it cut, throttling is retried, and `MOSAIC_CREATE`
//! starts an index from an empty bucket.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use ingest::{Config, CreateSpec, Ingest};
use mosaic::backend::Backends;
use mosaic::backend::dynamodb::DynamoDbClients;
use mosaic_integration_tests::ingest_fixture::*;
use mosaic_integration_tests::proxy::{Failure, FaultProxy};
use mosaic_integration_tests::{require_services, run_id, workspace_bin};
use serde_json::{Value, json};

/// Whether any quadkey of `uri` lists `asset`.
async fn listed(uri: &str, asset: &str) -> bool {
    stored_tiles(uri)
        .await
        .values()
        .any(|assets| assets.iter().any(|a| a == asset))
}

/// Applies an EventBridge event (`detail_type`) on `key` with `sequencer`.
async fn send(ingest: &Ingest, detail_type: &str, key: &str, sequencer: &str) -> Value {
    ingest
        .handle(eventbridge_at(detail_type, key, sequencer))
        .await
        .unwrap()
}

/// The answer of an event acknowledged as older than the key's newest.
fn assert_ignored(answer: &Value) {
    let skipped = answer["outcomes"][0]["skipped"].as_str().unwrap_or("");
    assert!(skipped.contains("older"), "{answer}");
}

/// create(3) then remove(2): present; remove(5) then create(4): absent; on SQLite and
/// DynamoDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_events_are_acknowledged_and_ignored() {
    require_services();
    let prefix = upload_cogs().await;
    let dir = tempfile::tempdir().unwrap();
    for uri in [
        format!("sqlite:///{}:rgb", dir.path().join("order.db").display()),
        format!("dynamodb:///ingest-order-{}:rgb", run_id()),
    ] {
        start_mosaic(&uri, &prefix).await;
        let ingest = Ingest::new(Config::new(&uri), &Backends::from_env()).unwrap();
        let (one, two) = (&cogs()[1], &cogs()[2]);

        send(&ingest, "Object Created", &key(&prefix, one), "03").await;
        let late = send(&ingest, "Object Deleted", &key(&prefix, one), "02").await;
        assert!(
            listed(&uri, &asset(&prefix, one)).await,
            "{uri}: a late removal deleted a live COG"
        );
        assert_ignored(&late);

        send(&ingest, "Object Deleted", &key(&prefix, two), "05").await;
        let late = send(&ingest, "Object Created", &key(&prefix, two), "04").await;
        assert!(
            !listed(&uri, &asset(&prefix, two)).await,
            "{uri}: a late creation re-added a removed COG"
        );
        assert_ignored(&late);

        // Sequencers compare as hex left-padded to equal length: "0F" < "010".
        send(&ingest, "Object Created", &key(&prefix, two), "010").await;
        assert!(listed(&uri, &asset(&prefix, two)).await, "{uri}");
        send(&ingest, "Object Deleted", &key(&prefix, two), "0F").await;
        assert!(listed(&uri, &asset(&prefix, two)).await, "{uri}");
        // The same event again (at-least-once delivery) applies again, changing nothing.
        send(&ingest, "Object Created", &key(&prefix, two), "010").await;
        let tiles = stored_tiles(&uri).await;
        assert_eq!(
            sorted_lists(tiles.clone()),
            sorted_lists(reference_tiles(&prefix, &cogs()[..3])),
            "{uri}"
        );
        for (qk, assets) in &tiles {
            let mut unique = assets.clone();
            unique.dedup();
            assert_eq!(unique.len(), assets.len(), "{uri} {qk}: duplicates");
        }
    }
}

/// A deterministic shuffle (the test must fail the same way twice).
fn shuffled<T>(mut v: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed;
    for i in (1..v.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (state >> 33) as usize % (i + 1));
    }
    v
}

/// Creations of every COG, each delivered twice, shuffled, split over 4 `ingest` processes
/// running at once: the index equals cogeo-mosaic's mosaic of the COGs, without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_repeated_deliveries_over_four_processes_converge() {
    require_services();
    let prefix = upload_cogs().await;
    let uri = format!("dynamodb:///ingest-shuffle-{}:rgb", run_id());
    start_mosaic(&uri, &prefix).await;
    let records: Vec<Value> = cogs()
        .iter()
        .enumerate()
        .flat_map(|(i, cog)| {
            let mut n = s3_notification("ObjectCreated:Put", &key(&prefix, cog));
            n["Records"][0]["s3"]["object"]["sequencer"] = json!(format!("{:02X}", 16 + i));
            let record = n["Records"][0].clone();
            [record.clone(), record]
        })
        .collect();
    let records = shuffled(records, 7);
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|p| {
            let mine: Vec<&Value> = records.iter().skip(p).step_by(4).collect();
            let file = dir.path().join(format!("events-{p}.json"));
            std::fs::write(&file, json!({"Records": mine}).to_string()).unwrap();
            std::process::Command::new(workspace_bin("ingest"))
                .arg(&file)
                .env("MOSAIC_URI", &uri)
                .env("MOSAIC_LOG_FORMAT", "json")
                .env_remove("AWS_LAMBDA_RUNTIME_API")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the ingest binary is built (cargo build --workspace --bins)")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // One JSON line per event: key, mosaic, quadkeys, requests, ms.
        let log = String::from_utf8_lossy(&out.stderr);
        let applied: Vec<Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"] == "applied")
            .collect();
        assert!(!applied.is_empty(), "{log}");
        for line in applied {
            for field in ["key", "mosaic", "quadkeys", "requests", "ms"] {
                assert!(line.get(field).is_some(), "{field} missing: {line}");
            }
            assert!(line["requests"].as_u64().unwrap() >= line["quadkeys"].as_u64().unwrap());
        }
    }
    let tiles = stored_tiles(&uri).await;
    for (qk, assets) in &tiles {
        let mut unique = assets.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), assets.len(), "{qk}: duplicates {assets:?}");
    }
    assert_eq!(
        sorted_lists(tiles),
        sorted_lists(reference_tiles(&prefix, cogs()))
    );
}

/// Backends whose DynamoDB requests go through `proxy`.
async fn through(proxy: &FaultProxy) -> Backends {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&proxy.base)
        .load()
        .await;
    Backends::from_env().with_dynamodb(DynamoDbClients::with_client(Client::new(&sdk)))
}

fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("moto from infra/services.sh")
}

/// DynamoDB stops in the middle of an SQS batch: exactly the messages it cut are reported;
/// their redelivery converges. A throttling answer is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_fails_exactly_the_cut_messages() {
    require_services();
    let prefix = upload_cogs().await;
    let proxy = FaultProxy::start(&dynamodb_endpoint());
    let backends = through(&proxy).await;
    let table = format!("ingest-fault-{}", run_id());
    let (twin, real) = (
        format!("dynamodb:///{table}:twin"),
        format!("dynamodb:///{table}:real"),
    );
    start_mosaic(&twin, &prefix).await;
    start_mosaic(&real, &prefix).await;
    let body = |e: Value| e.to_string();
    let m1 = message(
        "m1",
        body(eventbridge_at(
            "Object Created",
            &key(&prefix, &cogs()[1]),
            "10",
        )),
    );
    let m2 = message(
        "m2",
        body(eventbridge_at(
            "Object Created",
            &key(&prefix, &cogs()[2]),
            "10",
        )),
    );
    let m3 = message(
        "m3",
        body(eventbridge_at(
            "Object Deleted",
            &key(&prefix, &cogs()[0]),
            "10",
        )),
    );

    // What the first message costs, on a twin of the mosaic.
    let on_twin = Ingest::new(Config::new(&twin), &backends).unwrap();
    let before = proxy.hits();
    let answer = on_twin
        .handle(json!({"Records": [m1.clone()]}))
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let first = proxy.hits() - before;

    // The service stops right after the first message.
    let ingest = Ingest::new(Config::new(&real), &backends).unwrap();
    proxy.stop_after(first);
    let answer = ingest
        .handle(json!({"Records": [m1.clone(), m2.clone(), m3.clone()]}))
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]})
    );
    proxy.restart();
    let answer = ingest.handle(json!({"Records": [m2, m3]})).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(
        sorted_lists(stored_tiles(&real).await),
        sorted_lists(reference_tiles(&prefix, &cogs()[1..3]))
    );

    // Throttling: the first request of an event is refused once and retried.
    let throttled = format!("dynamodb:///{table}:throttled");
    start_mosaic(&throttled, &prefix).await;
    let ingest = Ingest::new(Config::new(&throttled), &backends).unwrap();
    proxy.fail_request_with(1, Failure::dynamodb_throttling());
    let before = proxy.hits();
    let answer = ingest.handle(json!({"Records": [m1]})).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(
        proxy.hits() - before,
        first + 1,
        "the throttled request was retried once"
    );
    assert!(listed(&throttled, &asset(&prefix, &cogs()[1])).await);
}

/// `MOSAIC_CREATE`: the first event of an empty bucket creates the mosaic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_event_creates_the_mosaic() {
    require_services();
    let prefix = upload_cogs().await;
    let reference = &case().reference;
    let uri = format!("dynamodb:///ingest-create-{}:rgb", run_id());
    let spec = json!({"minzoom": reference.minzoom, "maxzoom": reference.maxzoom,
                      "quadkey_zoom": reference.quadkey_zoom});
    let mut config = Config::new(&uri);
    config.create = Some(CreateSpec::parse(&spec.to_string()).unwrap());
    let ingest = Ingest::new(config, &Backends::from_env()).unwrap();
    for (i, cog) in cogs().iter().enumerate() {
        send(
            &ingest,
            "Object Created",
            &key(&prefix, cog),
            &format!("{:02X}", i + 1),
        )
        .await;
    }
    let stored: BTreeMap<String, Vec<String>> = stored_tiles(&uri).await;
    assert_eq!(
        sorted_lists(stored),
        sorted_lists(reference_tiles(&prefix, cogs()))
    );
    assert!(CreateSpec::parse(r#"{"minzoom": 9, "maxzoom": 3}"#).is_err());
    assert!(
        CreateSpec::parse(r#"{"minzoom": 1, "maxzoom": 3, "tilematrixset": "/etc/tms.json"}"#)
            .is_err()
    );
}
